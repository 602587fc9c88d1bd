"""Where the teacher's own virtual environment lives, and making it: venv, pip, then npm for model files.

The teacher (MediaPipe) pins numpy and protobuf versions that must not touch tvstream's environment, so it
gets a venv of its own: ``$TVSTREAM_TEACHER_HOME`` or ``~/.cache/tvstream/teacher`` (an existing venv can be
named instead, ``--venv``). Only PyPI (``pip``) and npm (``npm pack``) are used.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tvstream.errors import TeacherError
from tvstream.teacher.specs import NPM_PACKAGE, PIP_REQUIREMENTS, TEACHERS, teacher_spec

log = logging.getLogger(__name__)
WORKER = Path(__file__).with_name("worker.py")
HOME_ENV = "TVSTREAM_TEACHER_HOME"


def teacher_home() -> Path:
    """The default teacher venv: ``$TVSTREAM_TEACHER_HOME`` or ``~/.cache/tvstream/teacher``."""
    env = os.environ.get(HOME_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tvstream" / "teacher"


def venv_python(venv: Path) -> Path:
    return Path(venv) / "bin" / "python"


def find_teacher_python(venv: str | os.PathLike | None = None) -> Path:
    """The python of ``venv`` (default :func:`teacher_home`); TeacherError saying how to install otherwise."""
    where = Path(venv) if venv is not None else teacher_home()
    python = venv_python(where)
    if not python.is_file():
        hint = "" if venv is not None else f" (or set {HOME_ENV}, or pass --venv)"
        raise TeacherError(f"no teacher venv at {where}: run `tvstream teacher install`{hint}")
    return python


def _run(cmd: Sequence[str | os.PathLike], what: str, cwd: Path | None = None) -> str:
    """stdout of ``cmd``; TeacherError naming ``what`` failed and its last error line otherwise."""
    try:
        out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd)
    except FileNotFoundError as exc:
        raise TeacherError(f"{what}: {exc.filename} is not installed") from None
    if out.returncode != 0:
        lines = [ln for ln in (out.stderr or out.stdout).strip().splitlines() if ln.strip()]
        raise TeacherError(f"{what} failed (exit {out.returncode}): {lines[-1] if lines else 'no output'}")
    return out.stdout


def ensure_venv(venv: Path, base_python: str | os.PathLike = sys.executable) -> Path:
    """The venv's python, after creating it and pip-installing MediaPipe when it cannot import it."""
    python = venv_python(venv)
    if python.is_file() and subprocess.run([python, "-c", "import mediapipe, av"], capture_output=True).returncode == 0:
        return python
    if not python.is_file():
        log.info("creating the teacher venv at %s", venv)
        _run([base_python, "-m", "venv", venv], f"creating a venv at {venv} (python -m venv; on Debian: apt install "
             "python3-venv)")
    log.info("installing %s into %s", " ".join(PIP_REQUIREMENTS), venv)
    _run([python, "-m", "pip", "install", "-q", *PIP_REQUIREMENTS],
         f"pip install {' '.join(PIP_REQUIREMENTS)} into {venv} (needs PyPI and a python MediaPipe has wheels for)")
    return python


def model_folder(python: Path) -> Path:
    """MediaPipe's pose landmark model folder inside the venv of ``python``."""
    where = "import mediapipe, os; print(os.path.dirname(mediapipe.__file__))"
    return Path(_run([python, "-c", where], f"importing mediapipe with {python}").strip()) / "modules" / "pose_landmark"


def install_model(python: Path, model_file: str) -> Path:
    """Copy ``model_file`` from the npm package :data:`NPM_PACKAGE` into the venv's MediaPipe; its path."""
    folder = model_folder(python)
    target = folder / model_file
    if target.is_file():
        return target
    if shutil.which("npm") is None:
        raise TeacherError(f"{model_file} is missing from {folder} and npm is not installed to fetch it from "
                           f"{NPM_PACKAGE} (install Node.js and npm, or use --teacher mediapipe-full)")
    log.info("fetching %s from npm %s", model_file, NPM_PACKAGE)
    with tempfile.TemporaryDirectory() as tmp:
        name = _run(["npm", "pack", NPM_PACKAGE], f"npm pack {NPM_PACKAGE}", cwd=Path(tmp)).strip().splitlines()[-1]
        try:
            with tarfile.open(Path(tmp) / name) as tar:
                tar.extract(f"package/{model_file}", tmp, filter="data")
        except (KeyError, tarfile.TarError) as exc:
            raise TeacherError(f"{NPM_PACKAGE} has no usable {model_file} ({exc})") from None
        shutil.copy(Path(tmp) / "package" / model_file, target)
    return target


def install_teacher(venv: str | os.PathLike | None = None, teachers: Sequence[str] = tuple(TEACHERS),
                    base_python: str | os.PathLike = sys.executable) -> Path:
    """Make the teacher venv (default :func:`teacher_home`) with every model ``teachers`` need; its python.

    Idempotent: what is already there is kept. Raises TeacherError naming what is missing (npm, pip, venv).
    """
    specs = [teacher_spec(t) for t in teachers]
    where = Path(venv) if venv is not None else teacher_home()
    # a fresh install fails before the long pip step when npm will be needed and is missing
    if not venv_python(where).is_file() and any(not s.in_wheel for s in specs) and shutil.which("npm") is None:
        missing = ", ".join(s.name for s in specs if not s.in_wheel)
        raise TeacherError(f"npm is not installed: {missing} need model files from the npm package {NPM_PACKAGE} "
                           "(install Node.js and npm, or install only --teacher mediapipe-full)")
    python = ensure_venv(where, base_python)
    for spec in specs:
        install_model(python, spec.model_file)
    return python
