"""Does each reconstruction term pull the detector's box towards the athlete? A check on a trained run.

For a batch of labeled items, the sign of ``-d loss / d centre`` (what one descent step does to the box
centre) is compared with the direction from the predicted to the labeled box centre, per loss term.
Agreement above 50% means the term teaches the detector where the athlete is; below, it pushes away.

Run: ``python -m benchmarks.detector_gradient RUN_DIR [--items 24]``; writes
``benchmarks/results/detector_gradient.json`` (and prints it).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from train.data import SamplingConfig, VideoDataset
from train.losses.reconstruction import PerceptualNet
from train.pose.features import load_ssl_model
from train.ssl.objective import LossWeights, ssl_loss
from train.ssl.variants import VARIANTS

RESULTS = Path(__file__).parent / "results"
TERMS = {"pixel": LossWeights(perceptual=0, temporal=0, box_prior=0),
         "perceptual": LossWeights(pixel=0, temporal=0, box_prior=0)}


def centre_agreement(run: Path, items: int = 24, split: str = "labeled") -> dict:
    model, state = load_ssl_model(run / "last.pt")
    model.train()
    cfg = state["config"]
    ds = VideoDataset(cfg["data"], size=model.cfg.frame_size, sampling=SamplingConfig(near=cfg["near"], far=cfg["far"]),
                      split=(split,), cache_dir=cfg.get("cache_dir") or run / "cache", background=cfg["background"])
    picked = [ds[i * 37 % len(ds)] for i in range(items)]
    keys = ("frames", "distance", "background", "box")
    batch = {k: torch.as_tensor(np.stack([it[k] for it in picked])) for k in keys}
    captured = {}
    detect = model.detect

    def detect_and_keep(x):  # the centre as the loss sees it (before any reshaping)
        scale, centre, target = detect(x)
        centre.retain_grad()
        captured["centre"] = centre
        return scale, centre, target

    model.detect = detect_and_keep
    perceptual = PerceptualNet(cfg.get("perceptual_weights"), seed=cfg["seed"])
    h, w = model.cfg.frame_size
    box = batch["box"][:, 0].numpy()
    truth = ((box[:, :2] + box[:, 2:]) / 2 + 0.5) / np.array([w / 2, h / 2]) - 1  # normalised centre
    result = {"run": str(run), "step": int(state["step"]), "variant": cfg["variant"], "items": items, "terms": {}}
    for name, weights in TERMS.items():
        out = model(batch["frames"], batch["background"], torch.Generator().manual_seed(0))
        loss, _ = ssl_loss(out, batch["distance"], VARIANTS[cfg["variant"]], weights, perceptual, float(cfg["far"]),
                           perceptual_size=model.cfg.perceptual_size)
        loss.backward()
        b, s = batch["frames"].shape[:2]
        grad = captured["centre"].grad.view(b, s, 2)[:, 0].numpy()
        centre = captured["centre"].view(b, s, 2)[:, 0].detach().numpy()
        agree = np.sign(-grad) == np.sign(truth - centre)
        result["terms"][name] = {"agreement_x": float(agree[:, 0].mean()), "agreement_y": float(agree[:, 1].mean()),
                                 "mean_abs_grad": float(np.abs(grad).mean())}
        result["mean_abs_offset"] = np.abs(truth - centre).mean(0).round(3).tolist()
        model.zero_grad()
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--items", type=int, default=24)
    ap.add_argument("--out", type=Path, default=RESULTS / "detector_gradient.json")
    args = ap.parse_args(argv)
    result = centre_agreement(args.run_dir, args.items)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
