"""The ws:// output serving many WebSocket clients at once, one of them stalled: lines lost, sink write time.

A ``ws://127.0.0.1:0`` sink is fed full-size pose lines (17 joints, ~750 bytes each) at ``--rate`` lines/s
for ``--seconds``, paced on the wall clock like a live camera. ``--clients`` clients of the ``websockets``
library (sync API, one thread each) read it from a separate process, so their work does not share the
writer's interpreter; one more client reads for ``--slow-after`` seconds, then stops reading (its receive
buffer pinned to 4 KB, as a stalled graphics box's would fill). Reported: per client lines received and
lost (header + poses + end expected), the sink's write time per line (JSON encoding plus the sends to every
client) before the stall, while the stalled client's backlog fills, and after it was dropped, and when it was.

Run: ``python -m benchmarks.ws_fanout [--seconds 60] [--clients 10]``; writes
``benchmarks/results/ws_fanout.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import websockets
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from benchmarks.provenance import machine, save
from tvstream.sinks import JsonlSink, pose_line
from tvstream.sources import Pacer
from tvstream.tcp_outputs import BACKLOG_BYTES

RESULTS = Path(__file__).parent / "results"


# ---------------------------------------------------------------------------------------------- clients


def _read_all(ws, types: list[str], poses: list[int]) -> None:
    """Receive until the connection closes: every line's type into ``types``, pose frame numbers into ``poses``."""
    try:
        for message in ws:
            line = json.loads(message)
            types.append(line["type"])
            if line["type"] == "pose":
                poses.append(line["frame"])
    except ConnectionClosed:
        pass


def client_worker(url: str, clients: int, slow_after: float) -> dict:
    """Connect ``clients`` readers and one that stalls after ``slow_after`` s; report what each received."""
    readers = []
    for _ in range(clients):
        ws = connect(url, open_timeout=10, close_timeout=5, legacy=True)
        types, poses = [], []
        readers.append((ws, types, poses, threading.Thread(target=_read_all, args=(ws, types, poses), daemon=True)))
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    host, port = url.removeprefix("ws://").rsplit(":", 1)
    raw.connect((host, int(port)))
    # max_queue 1: the library stops reading too; no keepalive pings, which fail loudly once it is dropped
    slow = connect(url, sock=raw, open_timeout=10, max_queue=1, ping_interval=None, legacy=True)
    for *_, thread in readers:
        thread.start()
    slow_got, deadline = 0, time.monotonic() + slow_after
    try:
        while (left := deadline - time.monotonic()) > 0:
            slow.recv(timeout=left)
            slow_got += 1
    except TimeoutError:
        pass
    for *_, thread in readers:
        thread.join()
    slow.close_socket()
    return {"clients": [{"types": types, "poses": poses, "close_code": ws.close_code}
                        for ws, types, poses, _ in readers], "slow_received": slow_got}


# ---------------------------------------------------------------------------------------------- writer


def _pose_args(i: int, rate: float, rng: np.random.Generator) -> dict:
    """A detected frame with realistic numbers (17 joints in mm and 1080p pixels, per-joint confidence)."""
    return {"frame": i, "t": i / rate, "detected": True, "score": 0.93, "box": np.array([812.4, 233.1, 1104.9, 901.6]),
            "pose3d": rng.normal(0, 400, (17, 3)), "pose2d": rng.uniform(0, 1920, (17, 2)), "latency_ms": 6.4,
            "conf": rng.uniform(0.5, 1.0, 17)}


def _ms_stats(seconds: list[float]) -> dict:
    ms = 1000 * np.asarray(seconds) if seconds else np.zeros(1)
    return {"lines": len(seconds), "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "max_ms": float(ms.max())}


def measure(seconds: float, rate: float, clients: int, slow_after: float) -> dict:
    n = int(seconds * rate)
    rng = np.random.default_rng(0)
    poses = [_pose_args(i, rate, rng) for i in range(n)]  # made up front: the timed part is the sink's own work
    line_bytes = float(np.mean([len(json.dumps(pose_line(**p), separators=(",", ":"))) + 1 for p in poses[:200]]))
    with JsonlSink("ws://127.0.0.1:0") as sink:
        worker = subprocess.Popen([sys.executable, "-m", "benchmarks.ws_fanout", "--worker", sink.address,
                                   "--clients", str(clients), "--slow-after", str(slow_after)], stdout=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while sink.clients < clients + 1:
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError(f"only {sink.clients} of {clients + 1} clients connected")
            time.sleep(0.01)
        sink.header({"name": "ws_fanout"}, "bench://ws_fanout", 1920, 1080, rate)
        pacer, start = Pacer(), time.monotonic()
        writes, late, dropped_at = [], [], None  # (seconds since start, write seconds)
        for i, pose in enumerate(poses):
            pacer.wait(i / rate)
            now = time.monotonic()
            late.append(now - start - i / rate)
            tic = time.perf_counter()
            sink.pose(**pose)
            writes.append((now - start, time.perf_counter() - tic))
            if dropped_at is None and sink.dropped_clients:
                dropped_at = now - start
        sink.end(frames=n)
        dropped = sink.dropped_clients
    out = json.loads(worker.communicate(timeout=120)[0])
    whole = ["header"] + ["pose"] * n + ["end"]
    rows = [{"received": len(c["types"]), "lost": n - len(set(c["poses"])) + len({"header", "end"} - set(c["types"])),
             "in_order": c["types"] == whole and c["poses"] == list(range(n)), "close_code": c["close_code"]}
            for c in out["clients"]]
    before = [w for t, w in writes if t < slow_after]
    filling = [w for t, w in writes if slow_after <= t < (dropped_at if dropped_at is not None else float("inf"))]
    after = [w for t, w in writes if dropped_at is not None and t >= dropped_at]
    return {"seconds": seconds, "rate": rate, "lines_expected": n + 2, "line_bytes": round(line_bytes, 1),
            "clients": rows, "slow": {"stopped_reading_after_s": slow_after, "received": out["slow_received"],
                                      "dropped": dropped == 1, "dropped_after_s": dropped_at},
            "write": {"all": _ms_stats([w for _, w in writes]), "before_stall": _ms_stats(before),
                      "while_backlog_fills": _ms_stats(filling), "after_drop": _ms_stats(after)},
            "max_late_ms": 1000 * max(late)}


def report(result: dict) -> str:
    r, slow = result["run"], result["run"]["slow"]
    good = r["clients"]
    lines = ["# WebSocket fan-out: 10 clients and a stalled one (loopback)", "",
             f"Machine: {result['machine_text']}; {result['date']}. A `ws://127.0.0.1:0` sink fed "
             f"{r['rate']:.0f} pose lines/s ({r['line_bytes']:.0f} bytes each) for {r['seconds']:.0f} s, paced on "
             f"the wall clock; {len(good)} `websockets` {result['websockets']} sync clients in another process, "
             f"plus one that stops reading after {slow['stopped_reading_after_s']:.0f} s (4 KB receive buffer).", "",
             "| client | lines received | lost | in order | close code |", "|---|---:|---:|---|---:|"]
    lines += [f"| {i + 1} | {c['received']} / {r['lines_expected']} | {c['lost']} | {c['in_order']} | "
              f"{c['close_code']} |" for i, c in enumerate(good)]
    lines += [f"| stalled | {slow['received']} (then stopped reading) | - | - | dropped: {slow['dropped']} |", "",
              "Sink write time per line (JSON encoding and the sends to every client):", "",
              "| phase | lines | p50 ms | p99 ms | max ms |", "|---|---:|---:|---:|---:|"]
    names = {"before_stall": "before the stall", "while_backlog_fills": "stalled client's backlog filling",
             "after_drop": "after it was dropped", "all": "whole run"}
    lines += [f"| {names[k]} | {w['lines']} | {w['p50_ms']:.3f} | {w['p99_ms']:.3f} | {w['max_ms']:.3f} |"
              for k, w in r["write"].items() if k != "all"] + [
              f"| **{names['all']}** | {r['write']['all']['lines']} | {r['write']['all']['p50_ms']:.3f} | "
              f"{r['write']['all']['p99_ms']:.3f} | {r['write']['all']['max_ms']:.3f} |"]
    lost = sum(c["lost"] for c in good)
    backlog = f"{result['backlog_kb']} KB backlog"
    dropped = (f"dropped {slow['dropped_after_s']:.1f} s into the run, its {backlog} full" if slow["dropped"] else
               f"**not dropped** (the run ended before its {backlog} filled)")
    lines += ["", f"Lines lost by the {len(good)} clients that keep up: **{lost}**. The stalled client was {dropped}; "
              f"the writer was at most {r['max_late_ms']:.1f} ms behind its schedule."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict | None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rate", type=float, default=50.0, help="pose lines per second")
    ap.add_argument("--clients", type=int, default=10, help="clients that keep up")
    ap.add_argument("--slow-after", type=float, default=2.0, help="seconds the stalled client reads first")
    ap.add_argument("--worker", metavar="URL", help=argparse.SUPPRESS)  # the client process
    ap.add_argument("--out", default=str(RESULTS / "ws_fanout"), help="results path without extension")
    args = ap.parse_args(argv)
    if args.worker:
        json.dump(client_worker(args.worker, args.clients, args.slow_after), sys.stdout)
        return None
    record, text = machine()
    result = {"machine": record, "machine_text": text, "date": time.strftime("%Y-%m-%d %H:%M"),
              "websockets": websockets.__version__, "backlog_kb": BACKLOG_BYTES // 1024,
              "run": measure(args.seconds, args.rate, args.clients, args.slow_after)}
    save(Path(args.out), result, report(result))
    return result


if __name__ == "__main__":
    main()
