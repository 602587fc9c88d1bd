"""A teacher ready to run: its venv's python, its worker script and the versions that key the label cache."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tvstream.errors import TeacherError
from tvstream.teacher.install import WORKER, find_teacher_python
from tvstream.teacher.specs import DEFAULT_TEACHER, MAPPING_VERSION, TeacherSpec, teacher_spec


@dataclass(frozen=True)
class Teacher:
    """A probed teacher. ``worker`` is the script speaking the protocol of :mod:`tvstream.teacher.worker`
    (tests put a fake one there)."""

    spec: TeacherSpec
    python: Path
    worker: Path
    mediapipe: str  # the worker's reported MediaPipe version
    model_sha256: str

    @property
    def version(self) -> str:
        """What the labels depend on: teacher, MediaPipe release, model bytes and the joint mapping."""
        return f"{self.spec.name}/mediapipe-{self.mediapipe}/{self.model_sha256[:16]}/map{MAPPING_VERSION}"

    def describe(self) -> dict:
        """The ``teacher`` object of a label file."""
        return {"name": self.spec.name, "version": self.version, "mediapipe": self.mediapipe,
                "model": self.spec.model_file, "model_sha256": self.model_sha256}

    def frames(self, clip: Path, start: int = 0, every: int = 1, max_frames: int | None = None) -> Iterator[dict]:
        """The worker's messages for ``clip`` as they arrive (header, frames, end).

        Raises TeacherError, after the frames that did arrive, when the worker dies or stops without its end
        line; its last stderr line is the reason given.
        """
        cmd = [str(self.python), str(self.worker), str(clip), "--complexity", str(self.spec.complexity),
               "--start", str(start), "--every", str(every), *(["--frames", str(max_frames)] if max_frames else [])]
        last, ended = None, False
        with tempfile.TemporaryFile("w+") as err:  # MediaPipe is chatty on stderr: a pipe could fill and block it
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
            try:
                for line in proc.stdout:
                    try:
                        msg = json.loads(line)
                    except json.JSONDecodeError:
                        break  # a torn last line: the worker died while writing
                    ended = msg.get("type") == "end"
                    last = msg.get("frame", last)
                    yield msg
            finally:
                if proc.poll() is None:
                    proc.kill()
                code = proc.wait()
                proc.stdout.close()
            if code != 0 or not ended:
                err.seek(0)
                lines = [ln.strip() for ln in err.read().splitlines() if ln.strip()]
                after = "before its first frame" if last is None else f"after frame {last}"
                raise TeacherError(f"{clip}: teacher {self.spec.name} stopped {after} (exit {code}): "
                                   f"{lines[-1] if lines else 'no message'}")


def open_teacher(name: str = DEFAULT_TEACHER, venv: str | os.PathLike | None = None,
                 worker: str | os.PathLike | None = None) -> Teacher:
    """Find the teacher ``name`` in ``venv`` (default: the teacher home) and probe its versions.

    Args:
        worker: a script to run instead of the shipped :mod:`tvstream.teacher.worker` (tests: a fake teacher).
    """
    spec = teacher_spec(name)
    python = find_teacher_python(venv)
    script = Path(worker) if worker is not None else WORKER
    out = subprocess.run([str(python), str(script), "--probe"], capture_output=True, text=True)
    if out.returncode != 0:
        lines = [ln for ln in out.stderr.strip().splitlines() if ln.strip()]
        raise TeacherError(f"the teacher at {python} does not start (run `tvstream teacher install`): "
                           f"{lines[-1] if lines else f'exit {out.returncode}'}")
    try:
        probe = json.loads(out.stdout.strip().splitlines()[-1])
        sha = probe["models"].get(spec.model_file)
        version = str(probe["mediapipe"])
    except (IndexError, json.JSONDecodeError, KeyError, AttributeError) as exc:
        raise TeacherError(f"{script} --probe did not print the expected JSON ({exc!r})") from None
    if not sha:
        raise TeacherError(f"{spec.model_file} is not installed in the teacher at {python}: run "
                           f"`tvstream teacher install --teacher {spec.name}`")
    return Teacher(spec=spec, python=python, worker=script, mediapipe=version, model_sha256=str(sha))
