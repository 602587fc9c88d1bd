"""DrNet's scene discriminator (Denton & Birodkar 2017), the adversary of the ``DrNet`` variant.

In DrNet a content encoder and a pose encoder split each frame; here they are the ``ti`` and ``tv`` heads
of the shared encoder. The discriminator sees pairs of pose vectors and tells whether they come from the
same video; the encoder is trained to make it answer 0.5, so pose carries no identity of its video.
It is a separate network with its own optimiser (:class:`SceneCritic`), trained on detached pose vectors.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.func import functional_call

from train.losses.adversarial import discriminator_accuracy, discriminator_loss

HIDDEN = 512  # DrNet's scene discriminator: two hidden layers of 512
BETAS = (0.5, 0.999)  # DrNet trains every network with Adam(β1 = 0.5)


class SceneDiscriminator(nn.Module):
    """Two pose vectors ``(N, D)`` each -> logit ``(N,)`` that they come from the same video."""

    def __init__(self, dim: int, hidden: int = HIDDEN) -> None:
        super().__init__()
        if dim < 1 or hidden < 1:
            raise ValueError(f"dim and hidden must be >= 1, got {dim}, {hidden}")
        self.net = nn.Sequential(nn.Linear(2 * dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, hidden),
                                 nn.ReLU(inplace=True), nn.Linear(hidden, 1))

    def forward(self, first: Tensor, second: Tensor) -> Tensor:
        return self.net(torch.cat([first, second], dim=1)).squeeze(1)  # (N, 2D) -> (N,)


def same_video_pairs(tv: Tensor) -> tuple[Tensor, Tensor]:
    """tv (B, S, D) of S frames of one video per item -> pairs ``(B*S, D)`` x 2: each frame and the one before.

    The partner is detached, as in DrNet's code: each pose vector is pushed once per step.
    """
    if tv.dim() != 3:
        raise ValueError(f"tv must be (B, S, D), got {tuple(tv.shape)}")
    return tv.flatten(0, 1), tv.roll(1, dims=1).flatten(0, 1).detach()  # (B, S, D) -> (B*S, D)


def scene_pairs(tv: Tensor, video: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """tv (B, S, D), video ids (B, S) -> ``first, second (2*B*S, D)`` and ``same (2*B*S,)`` labels.

    The first half pairs each frame with the frame before it in its item (same video); the second half
    with a frame of the next item, labelled by the true video ids (another item may show the same video).
    """
    if tv.dim() != 3 or video.shape != tv.shape[:2]:
        raise ValueError(f"tv must be (B, S, D) and video (B, S), got {tuple(tv.shape)} and {tuple(video.shape)}")
    mine, partner = tv.roll(1, dims=1), video.roll(1, dims=1)
    other, other_video = mine.roll(1, dims=0), partner.roll(1, dims=0)
    first = torch.cat([tv, tv]).flatten(0, 1)  # (2B, S, D) -> (2*B*S, D)
    second = torch.cat([mine, other]).flatten(0, 1)
    same = torch.cat([video == partner, video == other_video]).flatten()  # (2*B*S,)
    return first, second, same


class SceneCritic:
    """The scene discriminator with its own Adam, stepped after each training step on detached pose vectors.

    Args:
        dim: pose vector width (``tv_dim``).
        lr: learning rate (the run's).
        device: where the discriminator lives.
        distributed: wrap it in DistributedDataParallel, so every process keeps the same weights.
    """

    def __init__(self, dim: int, lr: float, device: torch.device | str = "cpu", distributed: bool = False,
                 hidden: int = HIDDEN) -> None:
        self.net = SceneDiscriminator(dim, hidden).to(device)
        self.network = nn.parallel.DistributedDataParallel(self.net) if distributed else self.net
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=lr, betas=BETAS)

    def judge(self, first: Tensor, second: Tensor) -> Tensor:
        """Logits ``(N,)`` through frozen weights: gradients reach the pose vectors only (the encoder's loss)."""
        frozen = {name: p.detach() for name, p in self.net.named_parameters()}
        return functional_call(self.net, frozen, (first, second))

    def step(self, tv: Tensor, video: Tensor) -> dict[str, float]:
        """One optimiser step on ``tv (B, S, D)`` (detached) with video ids ``(B, S)``; returns its stats."""
        first, second, same = scene_pairs(tv.detach().float(), video)
        with torch.autocast(device_type=first.device.type, enabled=False):  # a small MLP: fp32, no scaler
            logits = self.network(first, second)
            loss = discriminator_loss(logits, same)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"disc": loss.item(), "disc_acc": discriminator_accuracy(logits, same).item()}

    def state_dict(self) -> dict:
        return {"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
