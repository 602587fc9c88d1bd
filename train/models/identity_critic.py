"""An identity adversary on the pose feature: a classifier names the athlete from ``tv``, the encoder foils it.

The paper's split moves appearance into ``ti``; on the synthetic worlds ``tv`` still named the athlete in 84%
of held-out seconds (benchmarks/results/ablation_notes.md), so a regressor trained on a few labeled people
learned pose-with-this-person. This critic is a K-way subject classifier with its own Adam, trained on
detached ``tv``; the encoder's term (:func:`train.losses.adversarial.uniform_confusion_loss`) asks it to be
unsure. The subject of a clip is label-free in a venue's footage (who ran it), not a pose label.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

HIDDEN = 256


class SubjectClassifier(nn.Module):
    """Pose vectors ``(N, D)`` -> subject logits ``(N, K)``."""

    def __init__(self, dim: int, subjects: int, hidden: int = HIDDEN) -> None:
        super().__init__()
        if dim < 1 or subjects < 2 or hidden < 1:
            raise ValueError(f"need dim >= 1, subjects >= 2 and hidden >= 1, got {dim}, {subjects}, {hidden}")
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, subjects))

    def forward(self, tv: Tensor) -> Tensor:
        return self.net(tv)


class SubjectCritic:
    """The classifier with its own optimiser, stepped after each training step on detached pose vectors."""

    def __init__(self, dim: int, subjects: int, lr: float, device: torch.device | str = "cpu",
                 distributed: bool = False) -> None:
        self.net = SubjectClassifier(dim, subjects).to(device)
        self.network = nn.parallel.DistributedDataParallel(self.net) if distributed else self.net
        # a critic that lags behind the encoder is fooled without the identity leaving tv: it learns 10x faster
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=lr * 10)

    def judge(self, tv: Tensor) -> Tensor:
        """Logits ``(N, K)`` of ``tv (B, S, D)`` through frozen weights: gradients reach the pose vectors only."""
        frozen = {name: p.detach() for name, p in self.net.named_parameters()}
        return functional_call(self.net, frozen, (tv.flatten(0, 1).float(),))

    def step(self, tv: Tensor, subject: Tensor) -> dict[str, float]:
        """One optimiser step on ``tv (B, S, D)`` (detached) with subject ids ``(B, S)``; returns its stats."""
        with torch.autocast(device_type=tv.device.type, enabled=False):
            logits = self.network(tv.detach().flatten(0, 1).float())
            target = subject.flatten()
            loss = F.cross_entropy(logits, target)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"id_ce": loss.item(), "id_acc": (logits.detach().argmax(1) == target).float().mean().item()}

    def state_dict(self) -> dict:
        return {"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
