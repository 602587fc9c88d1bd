"""The regressor recipe's optimiser: fused Adam, the learning rate cut 10x for the last quarter (both pose fits)."""

from __future__ import annotations

import torch


def step_decay_adam(groups, steps: int, lr: float | None = None):
    """Adam over ``groups`` (parameters or parameter groups) and its schedule: x0.1 after 75% of ``steps``."""
    opt = torch.optim.Adam(groups, fused=True) if lr is None else torch.optim.Adam(groups, lr=lr, fused=True)
    return opt, torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[int(steps * 0.75)], gamma=0.1)


def descend(opt: torch.optim.Optimizer, sched, loss: torch.Tensor) -> float:
    """One step down ``loss``; returns its value."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    sched.step()
    return loss.item()
