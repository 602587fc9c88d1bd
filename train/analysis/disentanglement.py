"""Are pose and appearance apart? KMeans of ``ti`` vs ``tv`` by subject, and a pose/appearance swap grid.

A disentangled model groups held-out frames by subject from ``ti`` (appearance; paper: 95.9% on H36M)
but not from ``tv`` (pose; 52.3%). The swap grid decodes the pose of each row's frame with the
appearance of each column's frame: the body should follow the row, the clothes the column.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from train.analysis.clustering import cluster_accuracy, kmeans
from train.data import SamplingConfig, VideoDataset
from train.models.spatial import crop
from train.models.ssl_model import SSLModel, to_unit
from train.pose.features import load_ssl_model


@torch.no_grad()
def encode_frames(model: SSLModel, ds: VideoDataset, batch: int = 64) -> dict[str, np.ndarray]:
    """``tv``, ``ti`` (None-free only for split models), crops, subject and video ids of every item of ``ds``."""
    tv, ti, crops, subjects, videos = [], [], [], [], []
    for start in range(0, len(ds), batch):
        items = [ds[i] for i in range(start, min(start + batch, len(ds)))]
        x = to_unit(torch.as_tensor(np.concatenate([it["frames"] for it in items])))
        scale, centre, _ = model.detect(x)
        c = crop(x, scale, centre, model.cfg.crop_size)
        a, b = model.encoder(model._norm(c))
        tv.append(a.numpy())
        ti.append(None if b is None else b.numpy())
        crops.append(c.numpy())
        subjects.append(np.concatenate([it["subject"] for it in items]))
        videos.append(np.concatenate([it["video"] for it in items]))
    return {"tv": np.concatenate(tv), "ti": None if ti[0] is None else np.concatenate(ti),
            "crops": np.concatenate(crops), "subject": np.concatenate(subjects), "video": np.concatenate(videos)}


def _standardise(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(0)) / np.maximum(x.std(0), 1e-6)


def subject_clustering(enc: dict[str, np.ndarray], seed: int = 0) -> dict[str, float | int | None]:
    """KMeans with k = number of subjects on each feature; accuracy against the true subjects."""
    k = len(np.unique(enc["subject"]))
    acc = lambda x: cluster_accuracy(kmeans(_standardise(x), k, seed), enc["subject"])  # noqa: E731
    return {"subjects": k, "frames": int(len(enc["tv"])), "chance": round(1 / k, 3),
            "ti_accuracy": None if enc["ti"] is None else round(acc(enc["ti"]), 4),
            "tv_accuracy": round(acc(enc["tv"]), 4)}


def probe_accuracy(x: np.ndarray, subject: np.ndarray, video: np.ndarray) -> float | None:
    """Nearest-class-mean subject probe: each subject's mean feature from half of its videos (every other one),
    the other half's frames named by the nearest mean (standardised features, Euclidean). None when no subject
    has two videos. Unlike KMeans it is told which frames belong together, so it finds identity that is there
    but not the largest structure of the feature."""
    x = _standardise(x)
    fit = np.zeros(len(x), bool)
    for s in np.unique(subject):
        vids = np.unique(video[subject == s])
        fit |= np.isin(video, vids[::2]) & (subject == s)
    names = np.unique(subject[fit])
    score = ~fit & np.isin(subject, names)
    if not score.any():
        return None
    means = np.stack([x[fit & (subject == s)].mean(0) for s in names])
    nearest = names[((x[score, None] - means[None]) ** 2).sum(-1).argmin(1)]
    return float((nearest == subject[score]).mean())


def subject_probe(enc: dict[str, np.ndarray]) -> dict[str, float | None]:
    """:func:`probe_accuracy` of ``ti`` and ``tv``."""
    probe = lambda x: None if x is None else probe_accuracy(x, enc["subject"], enc["video"])  # noqa: E731
    rounded = lambda v: None if v is None else round(v, 4)  # noqa: E731
    return {"ti_probe": rounded(probe(enc["ti"])), "tv_probe": rounded(probe(enc["tv"]))}


@torch.no_grad()
@torch.no_grad()
def decode_swaps(model: SSLModel, enc: dict[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
    """``(R, R, 3, C, C)``: cell (i, j) decodes the pose ``tv`` of frame ``rows[i]`` with the appearance ``ti`` of
    ``rows[j]``, the decoded person composited on white."""
    if enc["ti"] is None or model.decoder is None:
        raise ValueError("swapping needs a split model with a decoder")
    cells = []
    for i in rows:
        rgb, logit = model.decoder(torch.as_tensor(enc["tv"][[i] * len(rows)]), torch.as_tensor(enc["ti"][rows]))
        mask = torch.sigmoid(logit)
        cells.append((rgb * mask + (1 - mask)).numpy())
    return np.stack(cells)


def ti_share(cells: np.ndarray) -> float:
    """How much of the decoded swap grid ``cells (R, R, ...)`` changes with ``ti`` (along a row) rather than with
    ``tv`` (down a column): var over j / (var over j + var over i), pixel-wise, averaged. About 0.5 when both
    halves shape the picture; near 0 when the decoder ignores ``ti`` (appearance then rides in ``tv``)."""
    along_ti = cells.var(axis=1).mean()
    along_tv = cells.var(axis=0).mean()
    return float(along_ti / max(along_ti + along_tv, 1e-12))


def swap_grid(model: SSLModel, enc: dict[str, np.ndarray], rows: np.ndarray, out_png: str | os.PathLike,
              cells: np.ndarray | None = None) -> Path:
    """Grid PNG of :func:`decode_swaps` (given, or decoded here): pose from the row, appearance from the column.

    The first row shows the appearance frames' crops, the first column the pose frames' crops.
    """
    from PIL import Image

    cells = decode_swaps(model, enc, rows) if cells is None else cells
    to_img = lambda t: (t.clip(0, 1).transpose(1, 2, 0) * 255).astype(np.uint8)  # noqa: E731
    c = model.cfg.crop_size
    blank = np.full((c, c, 3), 255, np.uint8)
    grid = [[blank] + [to_img(enc["crops"][j]) for j in rows]]
    for i, row in zip(rows, cells):
        grid.append([to_img(enc["crops"][i])] + [to_img(cell) for cell in row])
    img = np.concatenate([np.concatenate(r, axis=1) for r in grid], axis=0)
    out_png = Path(out_png)
    Image.fromarray(img).resize((img.shape[1] * 2, img.shape[0] * 2), Image.NEAREST).save(out_png)
    return out_png


def analyse_run(run_dir: str | os.PathLike, split: str = "test", data: str | None = None, stride: int = 5,
                seed: int = 0) -> dict:
    """Subject clustering of ``ti``/``tv`` on ``split`` videos and the swap grid; writes ``analysis_<split>.json``."""
    run_dir = Path(run_dir)
    ckpt = run_dir / "last.pt" if run_dir.is_dir() else run_dir
    model, state = load_ssl_model(ckpt)
    ds = VideoDataset(Path(data or state["config"]["data"]), size=model.cfg.frame_size,
                      sampling=SamplingConfig(mode="frame", stride=stride), split=split, with_labels=False)
    enc = encode_frames(model, ds)
    result = {"split": split, "step": int(state["step"]), "variant": state["config"].get("variant"),
              **subject_clustering(enc, seed), **subject_probe(enc)}
    folder = ckpt.parent
    if enc["ti"] is not None and model.decoder is not None:  # one frame of each subject, then others
        rng = np.random.default_rng(seed)
        firsts = [int(rng.choice(np.flatnonzero(enc["subject"] == s))) for s in np.unique(enc["subject"])]
        rows = np.array(firsts[:6] if len(firsts) >= 4 else rng.choice(len(enc["tv"]), 6, replace=False))
        cells = decode_swaps(model, enc, rows)
        result["ti_share"] = ti_share(cells)
        result["swap_grid"] = str(swap_grid(model, enc, rows, folder / f"swap_grid_{split}.png", cells))
    (folder / f"analysis_{split}.json").write_text(json.dumps(result, indent=1) + "\n")
    return result
