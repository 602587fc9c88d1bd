"""The on-disk cache of built TensorRT engines, keyed by what makes an engine valid.

An engine only runs on the TensorRT version and GPU it was built for, so engines are cached, never
shipped: the key is the ONNX bytes' sha256 + TensorRT version + GPU name + precision + max batch. Each
engine file has a JSON sidecar with the key fields (and whatever the build adds, e.g. its parity
report). A missing or mismatched sidecar, or an engine the runtime cannot deserialise, is deleted so the
caller rebuilds it: a bad cache never stops the runtime.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)

CACHE_ENV = "TVSTREAM_CACHE"
SIDECAR_SCHEMA = "tvstream.engine/1"
T = TypeVar("T")


@dataclass(frozen=True)
class EngineKey:
    """Everything a serialised engine depends on; any change means another engine file."""

    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    precision: str
    max_batch: int

    @staticmethod
    def from_onnx(onnx_bytes: bytes, tensorrt_version: str, gpu_name: str, precision: str,
                  max_batch: int) -> EngineKey:
        """Hash the ONNX bytes and bundle them with the build environment."""
        return EngineKey(hashlib.sha256(onnx_bytes).hexdigest(), str(tensorrt_version), str(gpu_name),
                         precision, int(max_batch))

    def digest(self) -> str:
        """sha256 over all fields (sorted JSON), so no two keys share a file."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()

    def file_stem(self) -> str:
        """``<onnx hash prefix>-<precision>-b<max batch>-<key digest prefix>``: readable in ``ls``, unique by digest."""
        return f"{self.onnx_sha256[:12]}-{self.precision}-b{self.max_batch}-{self.digest()[:16]}"


def default_cache_dir() -> Path:
    """``$TVSTREAM_CACHE`` when set, else ``~/.cache/tvstream/engines``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tvstream" / "engines"


class EngineCache:
    """A folder of ``<stem>.engine`` files with ``<stem>.json`` sidecars; writes are atomic."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()

    def paths(self, key: EngineKey) -> tuple[Path, Path]:
        """The engine file and its sidecar for ``key``."""
        stem = key.file_stem()
        return self.root / f"{stem}.engine", self.root / f"{stem}.json"

    def sidecar(self, key: EngineKey) -> dict[str, Any] | None:
        """The sidecar of ``key``, or None when it is missing, unreadable or describes another key."""
        _, side_path = self.paths(key)
        try:
            side = json.loads(side_path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(side, dict) or side.get("schema") != SIDECAR_SCHEMA or side.get("key") != asdict(key):
            return None
        return side

    def lookup(self, key: EngineKey) -> bytes | None:
        """The engine bytes for ``key``, or None on a miss; a stale entry (sidecar mismatch) is deleted."""
        engine_path, side_path = self.paths(key)
        if not engine_path.exists() and not side_path.exists():
            return None
        if self.sidecar(key) is None:
            log.warning("engine cache: %s has a missing or mismatched sidecar; deleting it to rebuild", engine_path)
            self.discard(key)
            return None
        try:
            return engine_path.read_bytes()
        except OSError as exc:
            log.warning("engine cache: cannot read %s (%s); deleting it to rebuild", engine_path, exc)
            self.discard(key)
            return None

    def store(self, key: EngineKey, engine: bytes, extra: dict[str, Any] | None = None) -> Path:
        """Write the engine, then its sidecar, each through a temp file + ``os.replace``.

        The sidecar goes last, so a crash in between leaves an engine without sidecar, which
        ``lookup`` treats as stale. Raises OSError when the folder is not writable.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        engine_path, side_path = self.paths(key)
        side = {"schema": SIDECAR_SCHEMA, "key": asdict(key), "engine_bytes": len(engine), **(extra or {})}
        _atomic_write(engine_path, engine)
        _atomic_write(side_path, json.dumps(side, indent=1, sort_keys=True).encode())
        log.info("engine cache: stored %s (%d bytes)", engine_path, len(engine))
        return engine_path

    def discard(self, key: EngineKey) -> None:
        """Delete the engine and sidecar of ``key`` if present."""
        for p in self.paths(key):
            try:
                p.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("engine cache: cannot delete %s (%s)", p, exc)

    def load(self, key: EngineKey, deserialize: Callable[[bytes], T | None]) -> tuple[T, dict[str, Any]] | None:
        """Deserialise the cached engine of ``key``: ``(engine, sidecar)``, or None when the caller must build.

        ``deserialize`` returning None or raising marks the file corrupt or foreign (another TensorRT
        build); it is deleted and logged, never raised.
        """
        data = self.lookup(key)
        if data is None:
            return None
        engine_path, _ = self.paths(key)
        try:
            engine = deserialize(data)
        except Exception as exc:  # whatever a foreign blob makes the runtime raise, the answer is "rebuild"
            log.warning("engine cache: deserialising %s raised %s: %s; rebuilding", engine_path,
                        type(exc).__name__, exc)
            engine = None
        else:
            if engine is None:
                log.warning("engine cache: %s is corrupt or from another TensorRT build; rebuilding", engine_path)
        if engine is None:
            self.discard(key)
            return None
        side = self.sidecar(key) or {}
        return engine, side


def _atomic_write(path: Path, data: bytes) -> None:
    # a temp file in the same folder, so os.replace is a rename on one filesystem: readers see
    # the old file or the new one, never half of one
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
