"""A fake teacher worker for the tests: speaks :mod:`tvstream.teacher.worker`'s protocol, stdlib only.

Landmark ``l`` of frame ``i``: x = 10 l + i px, y = 100 + l px, z = 0, visibility 0.9, except landmark 15
(left wrist) at 0.2; world landmark ``l``: (l / 100, -l / 100, 0.5) m. Frames with ``i % 3 == 2``: nobody.
The clip is not decoded: it has ``FAKE_TEACHER_FRAMES`` frames (12). ``FAKE_TEACHER_CRASH_AFTER=k``: dies
after printing k frames, the last one torn in half.
"""

import argparse
import json
import os
import sys


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("clip", nargs="?")
    ap.add_argument("--complexity", type=int, default=2)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--frames", type=int, default=None)
    ap.add_argument("--probe", action="store_true")
    args = ap.parse_args()
    if args.probe:
        names = ("pose_landmark_lite.tflite", "pose_landmark_full.tflite", "pose_landmark_heavy.tflite")
        emit({"mediapipe": "fake-1", "models": {n: "ab" * 32 for n in names}})
        return
    total = int(os.environ.get("FAKE_TEACHER_FRAMES", "12"))
    crash_after = int(os.environ.get("FAKE_TEACHER_CRASH_AFTER", "0"))
    emit({"type": "header", "width": 160, "height": 120, "num_frames": total})
    done = 0
    for i in range(args.start, total):
        if i % args.every:
            continue
        if crash_after and done == crash_after:
            sys.stdout.write('{"type": "frame", "fra')  # torn mid-line
            sys.stdout.flush()
            sys.exit("RuntimeError: fake teacher crashed on purpose")
        found = i % 3 != 2
        marks = [[10.0 * l + i, 100.0 + l, 0.0, 0.2 if l == 15 else 0.9] for l in range(33)]
        world = [[l / 100, -l / 100, 0.5, 0.9] for l in range(33)]
        emit({"type": "frame", "frame": i, "landmarks": marks if found else None, "world": world if found else None})
        done += 1
        if args.frames and done >= args.frames:
            break
    emit({"type": "end", "frames": done})


if __name__ == "__main__":
    main()
