"""The one-command benchmark runner: which commands it runs, and the report it assembles from result files."""

import sys

import benchmarks.all as bench_all


def test_report_sections_come_from_the_result_files(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_all, "RESULTS", tmp_path)
    (tmp_path / "runtime.md").write_text("# Runtime\n\n| a |\n|---|\n| 1 |\n")
    (tmp_path / "ssl_step_time_gpu.md").write_text("# GPU steps\n\n## detail\n")
    (tmp_path / "runtime_notes.md").write_text("Notes: decoding is the limit.\n")
    report = bench_all.write_report({"runtime": "ok", "peer_mediapipe": "failed (exit 1)"}, quick=False)
    text = report.read_text()
    assert report == tmp_path / "REPORT.md"
    assert "## Runtime" in text and "### detail" in text  # each file is a section, headings one level down
    assert text.index("## Runtime") < text.index("## GPU steps")  # the fixed order
    assert text.index("| 1 |") < text.index("Notes: decoding is the limit.") < text.index("## GPU steps")
    assert "| peer_mediapipe | failed (exit 1) |" in text
    assert "`pipeline_overhead`" in text.split("## Not measured yet")[1]


def test_quick_runs_pass_fewer_frames_and_the_gpu_row_needs_a_gpu(monkeypatch):
    assert bench_all._command("runtime_scaling", quick=True)[-4:] == ["--frames", "150", "--repeats", "1"]
    assert bench_all._command("ssl_step_time_gpu", quick=False)[1:] == ["-m", "benchmarks.ssl_step_time",
                                                                         "--device", "cuda"]
    monkeypatch.setattr(bench_all, "_has_gpu", lambda: False)
    calls = []
    monkeypatch.setattr(bench_all.subprocess, "call", lambda cmd, cwd: calls.append(cmd) or 0)
    status = bench_all.run_all(["ssl_step_time_gpu", "engines_latency"], quick=False)
    assert status["ssl_step_time_gpu"].startswith("skipped") and status["engines_latency"] == "ok"
    assert calls == [[sys.executable, "-m", "benchmarks.engines_latency"]]
