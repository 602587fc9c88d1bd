"""The SSL A/B benchmark's bookkeeping: which held-out numbers a run reports, and its table."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.ssl_labels import held_out, markdown, run_name


def test_a_run_reports_its_last_held_out_score_and_the_table_names_each_arm(tmp_path: Path):
    lines = [{"step": 25, "loss": 1.0}, {"step": 1500, "val_pck_crop": 0.2, "val_mpjpe_mm": 300.0},
             {"step": 1525, "loss": 0.9}, {"step": 3000, "val_pck_crop": 0.35, "val_mpjpe_mm": 250.5}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines) + "\n")
    assert held_out(tmp_path) == {"val_pck_crop": 0.35, "val_mpjpe_mm": 250.5}  # the last, not the first
    assert run_name(0.01, "ssl") == "labels0.01_ssl" and run_name(1.0, "random") == "labels1_random"
    meta = {"model": "lite", "machine": "cpu", "date": "today", "steps": 3000, "batch": 32, "lr": 1e-3,
            "ssl": "runs/ssl/last.pt", "ssl_step": 1800}
    rows = [{"fraction": 0.01, "rows": 406, "start": start, "bench": {"pck": pck, "mpjpe": 243.04, "p_mpjpe": 136.26},
             "val_pck_crop": 0.35, "val_mpjpe_mm": 250.5} for start, pck in (("random", 0.2404), ("ssl", 0.2361))]
    table = markdown(rows, meta)
    assert "| 0.01 | 406 | random | 0.240 | 243.0 | 136.3 | 0.350 | 250.5 |" in table
    assert "| 0.01 | 406 | ssl | 0.236 |" in table and "step 1800" in table
