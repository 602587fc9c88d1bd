"""Shared by the training tests: Adam steps on one fixed batch, and the check that the loss went down."""

from collections.abc import Callable

import torch


def train_on_fixed_batch(model: torch.nn.Module, step_loss: Callable[[int], tuple[torch.Tensor, dict]],
                         steps: int = 20, lr: float = 1e-3) -> list[float]:
    """``steps`` Adam steps of ``step_loss(step) -> (loss, terms)``; asserts every loss is finite and that the
    mean of the last three is below the mean of the first three. Returns the losses."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for step in range(steps):
        loss, terms = step_loss(step)
        assert torch.isfinite(loss), terms
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3, losses
    return losses
