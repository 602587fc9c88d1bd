"""The tuned network's pose flag, trained on its own features (session 45's LFT6P): the presence branch alone.

MediaPipe's pose flag (``trunk.presence``, a branch on the landmark network's stride-32 features) says whether a
person is in the crop; after fine-tuning the features it reads have moved. Each step shows it ``presence_batch``
people's crops (rendered and cut-outs, as cropped for the fine-tuning) labeled 1 and as many person-free squares
of the photo plates (``train.posenet.empty.photo_squares``) labeled 0; binary cross-entropy on its logit, Adam at
``presence_lr``, warmed up over ``presence_warmup`` steps, then a cosine to 0 (so the flag kept is a settled one).
Every other weight is frozen and comes out bit for bit as it went in.

Measured (``benchmarks/results/s45_rule.md``, LFT6P): with a flag that says nobody on person-free photos the run
stopped giving a street video's tail light a skeleton and kept the cyclist (dev videos 0.252 -> 0.630).

The flag starts as MediaPipe's; with ``head_init`` as that model's where it has one (a model made by this recipe:
already trained against person-free squares, so the stage only follows the features the tune moved; ``tvstream
adapt`` gives the venue's own plates as the negatives).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch
import torch.nn.functional as F

from train.landmark_tune.config import LandmarkTuneConfig
from train.landmark_tune.tune import FLAG, init_head_state, normalise, warm_cosine
from train.posenet.empty import load_photos, photo_squares
from train.posenet.model import LandmarkPoseHead
from tvstream.errors import CheckpointError
from tvstream.skeleton import NUM_JOINTS

log = logging.getLogger(__name__)


def flagged_head(cfg: LandmarkTuneConfig, tuned: dict[str, torch.Tensor]) -> LandmarkPoseHead:
    """The tuned network with a pose flag: the ``tuned`` state (a head without one, with its own 3D convolution
    or the world landmarks') and the flag of ``head_init`` where it has one, else MediaPipe's."""
    torch.manual_seed(cfg.seed)
    head = LandmarkPoseHead(cfg.trunk, NUM_JOINTS, presence=True, joints3d="joints3d.weight" in tuned)
    flag = {} if cfg.head_init is None else {k: v for k, v in init_head_state(cfg).items() if k.startswith(FLAG)}
    if not flag:
        head.load_pretrained()  # MediaPipe's flag; the rest is replaced by the tuned weights
    missing, unexpected = head.load_state_dict({**tuned, **flag}, strict=False)
    if unexpected or not all(k.startswith(FLAG) for k in missing):
        raise CheckpointError(f"the tuned state is not this network's without its pose flag (missing "
                              f"{[k for k in missing if not k.startswith(FLAG)]}, unexpected {unexpected})")
    return head


def people(render: dict[str, np.ndarray], real: dict[str, np.ndarray], n: int, g: torch.Generator) -> torch.Tensor:
    """(n, 3, S, S) [0, 1] random crops of people, drawn from the rendered and real crops together."""
    pick = torch.randint(len(render["x"]) + len(real["x"]), (n,), generator=g).numpy()
    rows = [render["x"][i] if i < len(render["x"]) else real["x"][i - len(render["x"])] for i in pick]
    return torch.from_numpy(np.stack(rows)).permute(0, 3, 1, 2).float() / 255  # (n, S, S, 3) -> (n, 3, S, S)


def train_presence(head: LandmarkPoseHead, render: dict[str, np.ndarray], real: dict[str, np.ndarray],
                   cfg: LandmarkTuneConfig) -> dict[str, float]:
    """Train ``head.trunk.presence`` alone (in place) for ``presence_steps``; returns the last step's stats (BCE,
    mean flag on the people and on the empty crops)."""
    if head.trunk.presence is None:
        raise ValueError("the head has no pose flag to train (build it with presence=True)")
    torch.set_num_threads(cfg.threads)
    head.to(cfg.device).eval().requires_grad_(False)
    branch = head.trunk.presence.requires_grad_(True)
    optimiser = torch.optim.Adam(branch.parameters(), lr=cfg.presence_lr)
    photos = load_photos(cfg.plates)
    g = torch.Generator().manual_seed(cfg.seed + 1)
    n = cfg.presence_batch
    target = torch.cat([torch.ones(n), torch.zeros(n)]).to(cfg.device)
    stats: dict[str, float] = {}
    tic = time.perf_counter()
    for step in range(1, cfg.presence_steps + 1):
        lr = warm_cosine(step - 1, cfg.presence_lr, cfg.presence_warmup, cfg.presence_steps)
        for group in optimiser.param_groups:
            group["lr"] = lr
        x = normalise(torch.cat([people(render, real, n, g), photo_squares(photos, n, cfg.crop, g)])).to(cfg.device)
        flag = head.trunk(x, features=True)[2][:, 0]  # (2n,) logits (the 3D, world or own, is not read)
        loss = F.binary_cross_entropy_with_logits(flag, target)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        p = torch.sigmoid(flag.detach())
        stats = {"step": step, "bce": float(loss.detach()), "people": float(p[:n].mean()),
                 "empty": float(p[n:].mean()), "lr": lr, "elapsed_s": time.perf_counter() - tic}
        if step % cfg.log_every == 0 or step == cfg.presence_steps:
            log.info("presence step %d/%d: bce %.3f, flag on people %.2f, on empty crops %.2f, %.0f s", step,
                     cfg.presence_steps, stats["bce"], stats["people"], stats["empty"], stats["elapsed_s"])
    head.requires_grad_(False)
    return stats

