"""The documented venue workflow (examples/venue_workflow.sh) end to end at tiny size: synthetic dive footage
-> train ssl -> train pose -> evaluate -> export -> run with an overlay; then run again, and nothing is redone."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema

from tvstream.output_schema import output_schema

SCRIPT = Path(__file__).parent.parent / "examples" / "venue_workflow.sh"


def _workflow(work: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "WORK": str(work), "SCENARIO": "dive", "CONFIG": "tiny", "STEPS": "12", "LABELS": "1.0",
           "POSE_STEPS": "30", "SUBJECTS": "4", "TAKE_SECONDS": "1.6", "SIZE": "320x180"}
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=900)


def test_the_dive_workflow_runs_end_to_end_and_resumes(tmp_path):
    done = _workflow(tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    from train.checkpoint import load_checkpoint

    ssl = load_checkpoint(tmp_path / "ssl" / "last.pt")
    assert ssl["step"] == 12 and ssl["config"]["variant"] == "Ours+gravity" and ssl["config"]["min_box"] == 0.02
    scored = json.loads((tmp_path / "pose" / "eval_test.json").read_text())
    assert scored["subjects"] == ["S04"] and scored["frames"] == 2 * 40 and scored["n_mpjpe"] > 0

    lines = [json.loads(line) for line in (tmp_path / "poses.jsonl").read_text().splitlines()]
    validator = jsonschema.Draft202012Validator(output_schema())
    for line in lines:
        validator.validate(line)
    assert lines[0]["source"]["width"] == 320 and lines[-1]["frames"] == 40 == len(lines) - 2
    from train.data.video_reader import probe_video

    assert probe_video(tmp_path / "overlay.mp4").num_frames == 40

    # a second run finds every step done: the same checkpoint, regressor and model are kept
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "ssl" / "last.pt", tmp_path / "pose" / "regressor.pt",
                                                 tmp_path / "model.onnx")}
    again = _workflow(tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert "render a synthetic" not in again.stdout
