"""The recipe of the model shipped inside the package (``tvstream/models/default.onnx``).

From a finished ``train ssl`` run on synthetic studio data (Ours, ``small``): train the embedded-size
regressor (``mlp_small``) on every labeled-pool frame, score it on the held-out test subjects, and
export it with those numbers in its metadata (``config["card"]``, shown by ``tvstream info``).

Run: ``python -m train.default_model RUN_DIR [--out tvstream/models/default.onnx]``. The data and the
SSL run are made with (about an hour on 2 CPU cores)::

    tvstream synth --scenario studio --subjects 8 --sequences 2 --seconds 4 --size 256x256 --seed 11 --out DATA
    tvstream train ssl --data DATA --out RUN_DIR --config small --steps 2400 --workers 1
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from tvstream.sysinfo import cpu_model

PACKAGE_MODEL = Path(__file__).parent.parent / "tvstream" / "models" / "default.onnx"
MAX_BYTES = 10 * 1024 * 1024


def build_default_model(run_dir: Path, out: Path, steps: int = 3000) -> dict:
    """Regressor + evaluation + export; returns the model card (also written beside the model as JSON)."""
    from engines.export import export_onnx
    from train.pose.evaluate import evaluate_pose
    from train.pose.fit import PoseConfig, fit_pose
    from train.checkpoint import load_checkpoint

    ckpt = run_dir / "last.pt"
    ssl = load_checkpoint(ckpt)
    pose_dir = run_dir / "pose_default"
    cfg = PoseConfig(features=str(ckpt), data=ssl["config"]["data"], fraction=1.0, regressor="mlp_small",
                     steps=steps)
    tic = time.perf_counter()
    fit_pose(cfg, pose_dir)
    result = evaluate_pose(pose_dir, "test")
    card = {"trained_on": "synthetic studio video (tvstream synth --scenario studio), held-out test subjects",
            "ssl": {"variant": ssl["config"]["variant"], "model": ssl["config"]["model"], "steps": ssl["step"]},
            "regressor": {"preset": cfg.regressor, "labeled_frames": result["train"]["frames"]},
            "test": {k: round(result[k], 1) for k in ("mpjpe", "n_mpjpe", "p_mpjpe")} | {
                "box_iou": round(result["box_iou"], 3), "frames": result["frames"], "subjects": result["subjects"]},
            "built": {"date": time.strftime("%Y-%m-%d"), "machine": f"{cpu_model()} ({os.cpu_count()} cores)",
                      "pose_minutes": round((time.perf_counter() - tic) / 60, 1)}}
    meta = export_onnx(ckpt, out, regressor=pose_dir / "regressor.pt", card=card)
    out.with_suffix(".pt").unlink(missing_ok=True)  # the package ships the ONNX graph only
    size = out.stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f"{out} is {size / 2**20:.1f} MB, over the 10 MB budget of the embedded model")
    card["file"] = {"bytes": size, "hash": meta.model_hash, "input_size": list(meta.input_size)}
    out.with_suffix(".json").write_text(json.dumps(card, indent=1) + "\n")
    return card


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path, help="a finished `train ssl` run (Ours, small, studio)")
    ap.add_argument("--out", type=Path, default=PACKAGE_MODEL)
    ap.add_argument("--steps", type=int, default=3000, help="regressor steps")
    args = ap.parse_args(argv)
    print(json.dumps(build_default_model(args.run_dir, args.out, args.steps), indent=1))


if __name__ == "__main__":
    main()
