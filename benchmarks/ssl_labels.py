"""Does the paper's self-supervision help the pose network with few labels? An A/B at 1%, 10% and 100% of the labels.

For every label fraction the same pose head (``--model``, a ``resnet`` size) is trained twice on the same labeled
frames (``FitConfig.label_fraction``, drawn by the seed): from random weights (A) and with its trunk started from
a self-supervised run's encoder (B, ``FitConfig.init_trunk``: ``tvstream train ssl`` on the unlabeled footage).
Equal budget: the same steps, batch and learning rate. Each is exported and scored on the bench set with every
labeled frame cropped around its labeled box (``pose_bench --labeled-box``: the head alone, which is what the
pretraining can change): PCK@0.2, MPJPE and P-MPJPE, and the held-out training videos' crop PCK.

Run: ``python -m benchmarks.ssl_labels --ssl runs/ssl --cache CACHE --bench data/bench --work runs/ssl_labels
--name ssl_labels``; each run resumes where it stopped; writes ``benchmarks/results/NAME.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from train.checkpoint import load_checkpoint
from tvstream.json_documents import write_text_atomic
from tvstream.sysinfo import cpu_model

RESULTS = Path(__file__).parent / "results"
STARTS = ("random", "ssl")


def run_name(fraction: float, start: str) -> str:
    return f"labels{fraction:g}_{start}"


def train_one(work: Path, fraction: float, start: str, args: argparse.Namespace) -> Path:
    """Train (or resume, or find done) one arm; returns its checkpoint."""
    from train.posenet.fit import FitConfig, fit

    run = work / run_name(fraction, start)
    ckpt = run / "last.pt"
    if ckpt.is_file() and load_checkpoint(ckpt)["step"] >= args.steps:
        return ckpt
    cfg = FitConfig(model=args.model, cache=str(args.cache), steps=args.steps, batch=args.batch, lr=args.lr,
                    part="head", threads=args.threads, seed=args.seed, label_fraction=fraction,
                    init_trunk=str(args.ssl) if start == "ssl" else None, eval_every=args.steps)
    fit(cfg, run, resume=ckpt.is_file())
    return ckpt


def held_out(run: Path) -> dict:
    """The run's last held-out stats (its cache's held-out videos, un-augmented, the labeled box)."""
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    last = [s for s in lines if "val_pck_crop" in s][-1]
    return {"val_pck_crop": last["val_pck_crop"], "val_mpjpe_mm": last["val_mpjpe_mm"]}


def markdown(rows: list[dict], meta: dict) -> str:
    lines = [f"# Self-supervised pretraining against random weights at few labels ({meta['model']} head)", "",
             f"Machine: {meta['machine']}; {meta['date']}. Each cell: the same head trained {meta['steps']} steps "
             f"(batch {meta['batch']}, lr {meta['lr']}, `--part head`) on the share of the labeled frames named, "
             "from random weights or with its trunk from the self-supervised encoder "
             f"(`{meta['ssl']}`, step {meta['ssl_step']}). Bench: every labeled frame cropped around its labeled "
             "box (the head alone); PCK@0.2 of the 12 core joints, MPJPE / P-MPJPE pelvis-relative in mm. "
             "Held-out: the training cache's held-out videos, crop PCK (0.1 of the crop's half-side).", "",
             "| labels | rows | start | bench PCK@0.2 | bench MPJPE | bench P-MPJPE | held-out crop PCK | "
             "held-out MPJPE |", "|---:|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        b = r["bench"]
        lines.append(f"| {r['fraction']:g} | {r['rows']} | {r['start']} | {b['pck']:.3f} | {b['mpjpe']:.1f} | "
                     f"{b['p_mpjpe']:.1f} | {r['val_pck_crop']:.3f} | {r['val_mpjpe_mm']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ssl", type=Path, required=True, help="the self-supervised run (tvstream train ssl --out)")
    ap.add_argument("--cache", type=Path, required=True, help="the labeled pose cache (cache/posenet/DATA)")
    ap.add_argument("--bench", type=Path, required=True, help="the bench world (python -m train.synth.world bench)")
    ap.add_argument("--work", type=Path, required=True, help="where the runs and their ONNX files go")
    ap.add_argument("--model", default="lite", help="a resnet size of train/posenet/config.py")
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.1, 1.0])
    ap.add_argument("--starts", nargs="+", choices=STARTS, default=list(STARTS))
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--train-only", action="store_true", help="train the arms, score nothing")
    ap.add_argument("--name", default="ssl_labels")
    args = ap.parse_args(argv)

    from engines.export import export_onnx
    from train.posenet.cache import load_cache
    from train.posenet.evaluate import bench_model, clip_groups
    from train.posenet.fit import FitConfig, labeled_share, split_rows

    ssl_ckpt = args.ssl / "last.pt" if args.ssl.is_dir() else args.ssl
    cache = load_cache(args.cache)
    train_rows, _ = split_rows(cache, FitConfig().val_every)  # the rows every arm trains on (fit holds out the same)
    groups = clip_groups(args.bench, False)
    rows = []
    for fraction in args.fractions:
        for start in args.starts:
            ckpt = train_one(args.work, fraction, start, args)
            print(f"trained {run_name(fraction, start)}", flush=True)
            if args.train_only:
                continue
            onnx = ckpt.with_name("model.onnx")
            if not onnx.is_file():
                export_onnx(ckpt, onnx)
            scored = bench_model(str(onnx), groups, mode="labeled-box")["groups"]
            rows.append({"fraction": fraction, "start": start, "bench": scored["bench (all)"], "groups": scored,
                         **held_out(ckpt.parent),
                         "rows": int(len(labeled_share(train_rows, fraction, args.seed)))})
            print(json.dumps(rows[-1]), flush=True)
    if args.train_only:
        return
    meta = {"machine": cpu_model(), "date": time.strftime("%Y-%m-%d %H:%M"), "model": args.model,
            "steps": args.steps, "batch": args.batch, "lr": args.lr, "seed": args.seed, "ssl": str(ssl_ckpt),
            "ssl_step": int(load_checkpoint(ssl_ckpt)["step"]), "cache": str(args.cache)}
    RESULTS.mkdir(exist_ok=True)
    write_text_atomic(RESULTS / f"{args.name}.json", json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    write_text_atomic(RESULTS / f"{args.name}.md", markdown(rows, meta))
    print(markdown(rows, meta))


if __name__ == "__main__":
    main()
