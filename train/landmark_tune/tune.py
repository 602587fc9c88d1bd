"""Fine-tuning MediaPipe's landmark network on rendered and real crops (session 45's LFT6), resumable exactly.

Each step reads ``batch_render`` rendered crops and ``batch_real`` real cut-out crops, each mirrored with
probability ``flip_p`` (joints swapped left for right, x negated) and given a random contrast and brightness
(and, with ``occlude_p``, an occluder: ``occluders.py``). The loss (``LandmarkPoseHead``'s reading of the joints:
each H36M joint its recipe of the 33 landmarks):

- L1 of the 2D (crop units), over the joints labeled and in view, on every row;
- L1 of the root-relative 3D (metres), on the rows labeled in 3D (the rendered ones), read from the world
  landmarks' recipes;
- ``distill`` x L1 to the frozen original network on the real rows: its landmarks' 2D (x 2/256, crop units) and
  its world landmarks, so that what MediaPipe learnt of real people is held while the renders pull.

With ``detach3d`` the world landmarks' convolution reads the features detached: the 3D terms train that
convolution alone and cannot pull the trunk (LFT6: the first run whose 2D matched the default's on the renders while
it kept real people; its 3D is then refitted in closed form, ``readout3d``). AdamW without weight decay, gradients
clipped to norm ``clip``, a linear warm-up times a cosine over the run (:func:`learning_rate`). ``last.pt`` is
written every ``checkpoint_every`` steps through a temp file; a run resumed from it draws the same batches and
reaches the same weights bit for bit.

With ``head_init`` the run starts from that model's head instead of MediaPipe's file (its pose flag left out, as
MediaPipe's is) and distils to that head, frozen: what a model already tuned this way (``tvstream adapt``'s start)
reads of real people is what is held. A head with its own 3D convolution (``joints3d``, the readout stage's) keeps
it: the 3D terms then read the joints' root-relative 3D from that convolution, on the features detached as the world
landmarks' are, and the distillation's 3D is the frozen head's joints instead of its world landmarks. Where the
start reads its 3D through the world landmarks, the run is the recipe's from another starting point.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from train.checkpoint import load_checkpoint, save_checkpoint
from train.landmark_tune.config import AFTER_TUNE, RUN_ONLY, LandmarkTuneConfig
from train.landmark_tune.crops import draw_weights
from train.landmark_tune.occluders import paste_plates
from train.posenet.empty import load_photos
from train.posenet.model import MEAN, MIRROR, STD, LandmarkPoseHead
from train.pretrained.tflite_graph import early_convs
from tvstream.errors import CheckpointError
from tvstream.skeleton import NUM_JOINTS

log = logging.getLogger(__name__)

KIND = "landmark_tune"
Progress = Callable[[int, dict], None]  # (step done, its stats)


def settings(cfg: LandmarkTuneConfig) -> dict:
    """What a checkpoint of ``cfg`` was made with (its RUN_ONLY settings left out: they may change on a resume)."""
    return {k: v for k, v in cfg.to_dict().items() if k not in RUN_ONLY}


def tune_settings(cfg: LandmarkTuneConfig) -> dict:
    """What a tune checkpoint (``tune/last.pt``) was made with: :func:`settings` less those read only after the
    loop (``AFTER_TUNE``)."""
    return {k: v for k, v in settings(cfg).items() if k not in AFTER_TUNE}


def blended(start: dict[str, torch.Tensor], tuned: dict[str, torch.Tensor], blend: float,
            layers: dict[str, float] | None = None) -> dict[str, torch.Tensor]:
    """The weight-space ensemble ``start + blend x (tuned - start)`` of two states of one network (integer
    buffers, such as batch norms' counts, are the tuned ones); ``blend`` 1 everywhere is ``tuned`` itself.
    ``layers`` gives some weights their own blend: ``{prefix: b}``, a key starting with ``prefix`` takes ``b``."""
    if start.keys() != tuned.keys():
        raise ValueError(f"blend needs one network's two states; keys differ: "
                         f"{sorted(start.keys() ^ tuned.keys())[:5]}")
    layers = layers or {}
    if blend == 1 and all(b == 1 for b in layers.values()):
        return tuned

    def weight(key: str) -> float:
        return next((b for prefix, b in layers.items() if key.startswith(prefix)), blend)

    return {k: start[k] + weight(k) * (v - start[k]) if v.is_floating_point() else v for k, v in tuned.items()}


def soup_checkpoint(path: str | Path) -> Path:
    """The tune checkpoint a ``soup`` entry names: the file, or a work folder's ``tune/last.pt``."""
    path = Path(path)
    return path / "tune" / "last.pt" if path.is_dir() else path


def souped(cfg: LandmarkTuneConfig, tuned: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``tuned`` averaged weight for weight with the finished tunes ``cfg.soup`` names (integer buffers ``tuned``'s),
    each refused unless made with this tune's settings but ``seed``; ``tuned`` itself without a soup."""
    if not cfg.soup:
        return tuned

    def seedless(config: dict) -> dict:  # a draw's settings, its seed left out
        config = upgrade_tune(config)
        return {**config, "tune": {k: v for k, v in config["tune"].items() if k != "seed"}}

    expect = seedless({"kind": KIND, "tune": tune_settings(cfg)})
    states = [tuned]
    for path in map(soup_checkpoint, cfg.soup):
        state = load_checkpoint(path, expect=expect, upgrade=seedless)
        if state["step"] < cfg.steps:
            raise CheckpointError(f"{path}: a soup takes finished tunes; this one stopped at step {state['step']} of "
                                  f"{cfg.steps}")
        if state["model"].keys() != tuned.keys():
            raise CheckpointError(f"{path}: not this tune's network (its weights' names differ)")
        states.append(state["model"])
    return {k: torch.stack([s[k] for s in states]).mean(0) if v.is_floating_point() else v for k, v in tuned.items()}


def kept_state(cfg: LandmarkTuneConfig, tuned: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The head the run keeps: ``tuned`` with its soup (:func:`souped`), blended with the network it started from,
    ``cfg.blend`` everywhere but the early layers (``early_convs``), which take ``cfg.early_blend`` where it is set;
    ``tuned`` itself with no soup and both blends 1."""
    tuned = souped(cfg, tuned)
    if cfg.blend == 1 and cfg.early_blend in (None, 1):
        return tuned
    start = start_head(cfg)
    early = ({} if cfg.early_blend is None else
             {f"trunk.graph.{key}.": cfg.early_blend for key in early_convs(start.trunk.graph.spec)})
    return blended(start.state_dict(), tuned, cfg.blend, early)


def upgrade(config: dict) -> dict:
    """A stored checkpoint's config with the settings added since it was written at their defaults (``head_init``
    None: MediaPipe's network, as every run before it), so that older runs still resume."""
    return {**config, "tune": {**settings(LandmarkTuneConfig()), **config.get("tune", {})}}


def upgrade_tune(config: dict) -> dict:
    """:func:`upgrade` for a tune checkpoint, whose settings leave out ``AFTER_TUNE`` (older ones stored them)."""
    config = upgrade(config)
    return {**config, "tune": {k: v for k, v in config["tune"].items() if k not in AFTER_TUNE}}


def warm_cosine(step: int, peak: float, warmup: int, steps: int) -> float:
    """A learning rate at ``step`` (0-based): a linear warm-up over ``warmup`` steps times a cosine from ``peak``
    at step 0 to 0 at ``steps``."""
    warm = min(1.0, (step + 1) / warmup) if warmup else 1.0
    return peak * warm * 0.5 * (1.0 + math.cos(math.pi * step / steps))


def learning_rate(step: int, cfg: LandmarkTuneConfig) -> float:
    """The tune's schedule at ``step`` (0-based): :func:`warm_cosine` of ``lr``, ``warmup``, ``steps``."""
    return warm_cosine(step, cfg.lr, cfg.warmup, cfg.steps)


def normalise(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, S, S) images in [0, 1] -> the network's input (``LandmarkPoseHead`` reads tvstream's normalisation)."""
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    return (x - mean.to(x.device)) / std.to(x.device)


def degraded(x: torch.Tensor, g: torch.Generator, cfg: LandmarkTuneConfig) -> torch.Tensor:
    """Images ``x (n, 3, S, S)`` in [0, 1], each with probability ``cfg.render_degrade_p`` blurred (a separable
    Gaussian, sigma U(render_blur) px, edges replicated) and given noise (std U(0, render_noise)); the rest as
    they are. Draws from ``g`` only when the probability is above 0 (runs without it keep their batches)."""
    if cfg.render_degrade_p == 0:
        return x
    n = x.shape[0]
    hit = torch.rand(n, generator=g) < cfg.render_degrade_p
    sigma = torch.empty(n).uniform_(*cfg.render_blur, generator=g)
    std = torch.empty(n, 1, 1, 1).uniform_(0, cfg.render_noise, generator=g)
    noise = torch.randn(x.shape, generator=g) * std
    radius = math.ceil(3 * cfg.render_blur[1])
    taps = torch.arange(-radius, radius + 1, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (taps[None] / sigma[:, None]) ** 2)
    kernel = kernel / kernel.sum(1, keepdim=True)  # (n, 2r + 1)
    out = x.clone()
    for i in torch.nonzero(hit).flatten().tolist():
        img = torch.nn.functional.pad(x[i:i + 1], (radius, radius, radius, radius), mode="replicate")
        k = kernel[i].view(1, 1, 1, -1).expand(3, 1, 1, -1)
        img = torch.nn.functional.conv2d(img, k, groups=3)  # along x
        img = torch.nn.functional.conv2d(img, k.transpose(-1, -2), groups=3)  # along y
        out[i] = (img[0] + noise[i]).clamp(0, 1)
    return out


def draw(crops: dict[str, np.ndarray], n: int, g: torch.Generator, cfg: LandmarkTuneConfig,
         weights: torch.Tensor | None = None, degrade: bool = False,
         photos: tuple[torch.Tensor, ...] | None = None) -> dict[str, torch.Tensor]:
    """``n`` random rows of ``crops`` (``crops.FIELDS``; each as likely, or by ``weights``), augmented (with
    ``degrade``, also :func:`degraded`: the rendered rows): ``x (n, 3, S, S)`` normalised, ``y2 (n, K, 2)``,
    ``vis (n, K)`` float, ``y3 (n, K, 3)`` (0 where unknown), ``has3d (n,)`` float. With ``photos`` (person-free
    plates), ``cfg.occlude_p`` of the rows get an occluder (``occluders.paste_plates``; the labels kept), and the
    batch also holds ``clean`` (the rows without it, normalised) and ``hit (n,)`` float (1: occluded)."""
    if weights is None:
        pick = torch.randint(len(crops["x"]), (n,), generator=g).numpy()
    else:
        pick = torch.multinomial(weights, n, replacement=True, generator=g).numpy()
    x = torch.from_numpy(crops["x"][pick]).permute(0, 3, 1, 2).float() / 255  # (n, S, S, 3) -> (n, 3, S, S)
    y2, vis = torch.from_numpy(crops["y2"][pick]), torch.from_numpy(crops["vis"][pick])
    y3 = torch.from_numpy(crops["y3"][pick])
    flip = torch.rand(n, generator=g) < cfg.flip_p
    x[flip] = x[flip].flip(-1)  # a mirrored crop: x -> -x in crop units (pixel centres are symmetric)
    y2[flip] = y2[flip][:, MIRROR] * torch.tensor([-1.0, 1.0])
    vis[flip] = vis[flip][:, MIRROR]
    y3[flip] = y3[flip][:, MIRROR] * torch.tensor([-1.0, 1.0, 1.0])
    contrast = torch.empty(n, 1, 1, 1).uniform_(*cfg.contrast, generator=g)
    brightness = torch.empty(n, 1, 1, 1).uniform_(-cfg.brightness, cfg.brightness, generator=g)
    x = ((x - 0.5) * contrast + 0.5 + brightness).clamp(0, 1)
    x = degraded(x, g, cfg) if degrade else x
    has3d = torch.isfinite(y3).all(-1).all(-1)  # (n,)
    batch = {"y2": y2, "vis": vis.float(), "y3": torch.nan_to_num(y3), "has3d": has3d.float()}
    if photos is None:
        return {"x": normalise(x), **batch}
    hidden, hit = paste_plates(x, photos, cfg.occlude_p, g)
    return {"x": normalise(hidden), "clean": normalise(x), "hit": hit.float(), **batch}


FLAG = "trunk.presence."  # the pose flag's state keys: left out of the tune, trained on its own (presence.py)


def read(head: LandmarkPoseHead, x: torch.Tensor, detach3d: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised crops ``x (N, 3, S, S)`` -> the landmarks ``(N, 39, 5)`` (input pixels) and the 3D the losses
    compare: the world landmarks ``(N, 33, 3)`` (m), or for a head with its own 3D convolution the joints' root-
    relative 3D ``(N, K, 3)`` (m); with ``detach3d`` the 3D is read from the features detached."""
    n, m = x.shape[0], head.landmarks
    points, features, _ = head.trunk(x, features=True)  # (N, 39, 5) input pixels, (N, C, 2, 2)
    features = features.detach() if detach3d else features
    if head.joints3d is None:
        return points, head.trunk.world(features).reshape(n, -1, 3)[:, :m]  # (N, 39*3, 1, 1) -> (N, 33, 3)
    xyz = head.joints3d(features).reshape(n, head.joints, 3)  # (N, K*3, 1, 1) -> (N, K, 3)
    return points, xyz - xyz[:, :1]


class EarlyMap:
    """The map a head's early layers hand on (what the first convolution after ``early_convs`` reads), kept from
    the head's last forward pass (a forward pre-hook on that convolution)."""

    def __init__(self, head: LandmarkPoseHead) -> None:
        spec = head.trunk.graph.spec
        convs = [n["key"] for n in spec["nodes"] if n["op"] == "conv"]
        self.key = convs[len(early_convs(spec))]  # early_convs: the convolutions before it, in the graph's order
        self.map: torch.Tensor | None = None
        getattr(head.trunk.graph, self.key).register_forward_pre_hook(self._keep)

    def _keep(self, module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        self.map = args[0]


def map_distance(tuned: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
    """``mean((tuned - start)^2) / mean(start^2)``: how far a map moved, as a share of its own power."""
    return (tuned - start).square().mean() / start.square().mean().clamp(min=1e-12)


def tune_losses(head: LandmarkPoseHead, frozen: LandmarkPoseHead, batch: dict[str, torch.Tensor], n_render: int,
                cfg: LandmarkTuneConfig, maps: tuple[EarlyMap, EarlyMap] | None = None) -> dict[str, torch.Tensor]:
    """The step's loss and its terms (``l2``, ``l3``, ``ld``) on ``batch``: rendered rows first, then ``n - n_render``
    real rows (distilled to ``frozen``, the network the run started from). ``maps`` (``head``'s and ``frozen``'s
    :class:`EarlyMap`): the early layers' map on the real rows held to ``frozen``'s too (``le``, x
    ``cfg.early_distill``). A batch with occluders (``draw``'s ``clean`` and ``hit``) is distilled to what
    ``frozen`` reads on the rows without them (the person whole, not folded into the part in view), and its early
    map is held on the real rows not occluded (0 where every one is)."""
    x = batch["x"]
    m = head.landmarks
    points, three = read(head, x, cfg.detach3d)
    xy = head.rows @ points[:, :m, :2] * (2.0 / x.shape[-1]) - 1.0  # (N, K, 2) crop units
    xyz = head.rows @ three if head.joints3d is None else three  # (N, K, 3)
    xyz = xyz - xyz[:, :1]
    vis, has3d = batch["vis"], batch["has3d"]
    l2 = ((xy - batch["y2"]).abs().sum(-1) * vis).sum() / vis.sum().clamp(min=1)
    l3 = ((xyz - batch["y3"]).abs().sum(-1).mean(-1) * has3d).sum() / has3d.sum().clamp(min=1)
    with torch.no_grad():
        ref_points, ref_three = read(frozen, batch.get("clean", x)[n_render:])
    ld = (points[n_render:, :m, :2] - ref_points[:, :m, :2]).abs().mean() * (2.0 / x.shape[-1]) + \
        (three[n_render:] - ref_three).abs().mean()
    terms = {"loss": l2 + l3 + cfg.distill * ld, "l2": l2, "l3": l3, "ld": ld}
    if maps is not None:
        tuned, start = maps[0].map[n_render:], maps[1].map
        if "hit" in batch:  # the real rows with an occluder left out (the start read them without it)
            seen = batch["hit"][n_render:] == 0
            tuned, start = tuned[seen], start[seen]
        terms["le"] = map_distance(tuned, start) if len(start) else x.new_zeros(())
        terms["loss"] = terms["loss"] + cfg.early_distill * terms["le"]
    return terms


def init_head_state(cfg: LandmarkTuneConfig) -> dict[str, torch.Tensor]:
    """``head_init``'s head weights (its ``head.*``, the prefix removed); refused where that head does not read
    ``trunk``'s landmarks."""
    from train.landmark_tune.export import start_model

    state, model = start_model(cfg.head_init)
    if model.head_read != "landmarks" or model.head_trunk != cfg.trunk:
        raise CheckpointError(f"head_init {cfg.head_init}: its head reads the {model.head_read} of "
                              f"{model.head_trunk}, not {cfg.trunk}'s landmarks")
    return {k.removeprefix("head."): v for k, v in state.items() if k.startswith("head.")}


def start_head(cfg: LandmarkTuneConfig) -> LandmarkPoseHead:
    """The network the run starts from, without its pose flag (trained later on its own, ``presence``):
    MediaPipe's landmark network (``load_pretrained``) read as joints, or ``head_init``'s head (with its own 3D
    convolution where it has one). Weights the file does not set come from ``seed``."""
    torch.manual_seed(cfg.seed)
    if cfg.head_init is None:
        head = LandmarkPoseHead(cfg.trunk, NUM_JOINTS, presence=False)
        head.load_pretrained()
        return head
    state = {k: v for k, v in init_head_state(cfg).items() if not k.startswith(FLAG)}
    head = LandmarkPoseHead(cfg.trunk, NUM_JOINTS, presence=False, joints3d="joints3d.weight" in state)
    head.load_state_dict(state)  # strict: every weight the start's
    return head


def tune_optimiser(head: LandmarkPoseHead, cfg: LandmarkTuneConfig
                   ) -> tuple[list[torch.nn.Parameter], torch.optim.Optimizer]:
    """The parameters the tune trains and its AdamW. ``freeze_early``: the early layers' gradients off and not
    given to it; ``early_lr`` < 1: the early layers a second group whose rate is that share of ``lr`` (its
    ``lr_share``); else one group of every parameter, in the order of the runs before these settings (so that
    their optimiser states load)."""
    early = early_convs(head.trunk.graph.spec)
    if cfg.freeze_early:
        for key in early:
            getattr(head.trunk.graph, key).requires_grad_(False)
    trained = [p for p in head.parameters() if p.requires_grad]
    if cfg.early_lr == 1:
        return trained, torch.optim.AdamW(trained, lr=cfg.lr, weight_decay=0.0)
    slow = {id(p) for key in early for p in getattr(head.trunk.graph, key).parameters()}
    groups = [{"params": [p for p in trained if id(p) not in slow], "lr_share": 1.0},
              {"params": [p for p in trained if id(p) in slow], "lr_share": cfg.early_lr}]
    return trained, torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=0.0)


def tune(cfg: LandmarkTuneConfig, render: dict[str, np.ndarray], real: dict[str, np.ndarray], run_dir: Path,
         progress: Progress | None = None) -> dict[str, torch.Tensor]:
    """Fine-tune (or resume, from ``run_dir/last.pt``) to ``cfg.steps``; returns the tuned head's state."""
    # ---- setup: the network, the frozen start it is distilled to, the optimiser, the batches' generator
    torch.set_num_threads(cfg.threads)
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = run_dir / "last.pt"
    head = start_head(cfg).to(cfg.device)
    frozen = copy.deepcopy(head).eval().requires_grad_(False)
    trained, optimiser = tune_optimiser(head, cfg)
    maps = (EarlyMap(head), EarlyMap(frozen)) if cfg.early_distill else None  # after the copy: hooks not copied
    g = torch.Generator().manual_seed(cfg.seed)
    weights = draw_weights(cfg, render["clip"])
    weights = None if weights is None else torch.from_numpy(weights)
    if cfg.occlude_p and not cfg.plates:
        raise ValueError(f"occlude_p {cfg.occlude_p} needs plates (the occluders' textures)")
    photos = load_photos(cfg.plates) if cfg.occlude_p else None
    render_photos = photos if cfg.occlude_rows == "all" else None  # "real": the rendered rows as they are
    step = 0
    # ---- resume
    if ckpt_path.is_file():
        state = load_checkpoint(ckpt_path, expect={"kind": KIND, "tune": tune_settings(cfg)}, upgrade=upgrade_tune)
        head.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimizer"])
        g.set_state(state["rng"]["batches"])
        step = state["step"]
        log.info("tune: resumed at step %d of %d", step, cfg.steps)
    # ---- the loop
    head.train()
    tic = time.perf_counter()
    with (run_dir / "metrics.jsonl").open("a") as metrics:
        while step < cfg.steps:
            lr = learning_rate(step, cfg)
            for group in optimiser.param_groups:
                group["lr"] = lr * group.get("lr_share", 1.0)
            parts = (draw(render, cfg.batch_render, g, cfg, weights, degrade=True, photos=render_photos),
                     draw(real, cfg.batch_real, g, cfg, photos=photos))
            batch = {k: torch.cat([p[k] for p in parts]).to(cfg.device) for k in parts[0]}
            terms = tune_losses(head, frozen, batch, cfg.batch_render, cfg, maps)
            loss = terms["loss"]
            if not math.isfinite(float(loss.detach())):
                raise FloatingPointError(f"tune: loss is {float(loss)} at step {step} (last good: {ckpt_path})")
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.clip:
                torch.nn.utils.clip_grad_norm_(trained, cfg.clip)
            optimiser.step()
            step += 1
            stats = {"step": step, **{k: float(v.detach()) for k, v in terms.items()}, "lr": lr,
                     "elapsed_s": time.perf_counter() - tic}
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                save_checkpoint(ckpt_path, config={"kind": KIND, "tune": tune_settings(cfg)}, step=step, model=head,
                                optimizer=optimiser, rng_state={"batches": g.get_state()})
            if step % cfg.log_every == 0 or step == cfg.steps:
                metrics.write(json.dumps({k: round(v, 6) if isinstance(v, float) else v for k, v in stats.items()})
                              + "\n")
                metrics.flush()
                log.info("tune step %d/%d: l2 %.4f l3 %.4f ld %.4f%s lr %.2e, %.0f s", step, cfg.steps, stats["l2"],
                         stats["l3"], stats["ld"], f" le {stats['le']:.4f}" if "le" in stats else "", lr,
                         stats["elapsed_s"])
            if progress is not None:
                progress(step, stats)
    return {k: v.cpu() for k, v in head.state_dict().items()}


def tuned_state(run_dir: Path, cfg: LandmarkTuneConfig) -> dict[str, torch.Tensor] | None:
    """The finished run's head state in ``run_dir``, or None while it has not reached ``cfg.steps``."""
    path = run_dir / "last.pt"
    if not path.is_file():
        return None
    state = load_checkpoint(path, expect={"kind": KIND, "tune": tune_settings(cfg)}, upgrade=upgrade_tune)
    return state["model"] if state["step"] >= cfg.steps else None
