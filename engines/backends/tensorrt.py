"""TensorRT 10 backend: build (or load from the cache) an engine from the exported ONNX and run it.

Name-based I/O (tensor addresses + ``execute_async_v3``), device memory and the stream via pycuda. FP32
builds a plain network; FP16 builds a strongly typed network from an FP16 ONNX, so the ONNX's own types
decide each layer's precision (the way TensorRT 11 keeps; the weakly typed ``BuilderFlag.FP16`` is not
used). INT8 comes later, through explicit Q/DQ quantisation in the ONNX. A fresh build is checked against
ONNX Runtime on sample frames (and track boxes, for models with a ``track`` input) and refused when its pose
error exceeds ``tolerance_mm``.

``tensorrt`` and ``pycuda`` are imported in the constructor only, so this module imports without them.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engines.backends.base import check_frames, check_track
from engines.engine_cache import EngineCache, EngineKey
from engines.metadata import INPUT_NAME, TRACK_INPUT, ModelMetadata
from engines.parity import compare_outputs, refuse_precision
from tvstream.errors import BackendError, CheckpointError

_log = logging.getLogger(__name__)

MISSING = ("TensorRT backend needs the `tensorrt` and `pycuda` packages (pip install 'tvstream[tensorrt]') "
           "and an NVIDIA GPU")
PRECISIONS = ("fp32", "fp16")  # int8 later: explicit Q/DQ nodes in the ONNX, built strongly typed like fp16
WORKSPACE_BYTES = 1 << 30  # scratch for the faster conv/GEMM tactics during the build; TensorRT uses less when it can
PARITY_SEED = 0
INPUT_DTYPES = {INPUT_NAME: (np.uint8,), TRACK_INPUT: (np.float32, np.float16)}  # an FP16 export may take a half track


def input_shape(name: str, n: int, meta: ModelMetadata) -> tuple[int, ...]:
    """The shape of input ``name`` for a batch of ``n``: frames ``(n, H, W, 3)``, track ``(n, 5)`` (6 for a model
    whose crop turns: ``ModelMetadata.track_columns``)."""
    return (n, *meta.input_size, 3) if name == INPUT_NAME else (n, meta.track_columns)


def parity_track(rng: np.random.RandomState, n: int, columns: int = 5) -> np.ndarray:
    """``(n, columns)`` track rows for the parity check: odd rows follow a random box (turned by a random angle
    when there is a 6th column), even rows use the detector."""
    track = np.zeros((n, columns), np.float32)
    track[1::2, 0] = 1.0
    track[1::2, 1:3] = rng.uniform(-0.5, 0.5, size=(n // 2, 2))  # centre
    track[1::2, 3:5] = rng.uniform(0.1, 0.4, size=(n // 2, 2))  # half-size
    track[1::2, 5:] = rng.uniform(-np.pi, np.pi, size=(n // 2, columns - 5))  # the crop's angle
    return track


@dataclass(frozen=True)
class OnnxModel:
    """The exported file as the builder needs it: raw bytes, tvstream metadata, float type."""

    data: bytes
    metadata: ModelMetadata
    fp16: bool


def read_onnx(path: str | os.PathLike) -> OnnxModel:
    """Read an exported ONNX and its metadata; raises CheckpointError for a missing or unreadable file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such ONNX file")
    try:
        import onnx
    except ImportError:
        raise BackendError("reading ONNX metadata needs the `onnx` package (pip install onnx)") from None
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises its own DecodeError (and others) for a truncated file
        raise CheckpointError(f"{path}: unreadable ONNX file ({type(exc).__name__}: {exc})") from None
    meta = ModelMetadata.from_props({p.key: p.value for p in model.metadata_props}, source=str(path))
    half = onnx.TensorProto.FLOAT16
    fp16 = (any(t.data_type == half for t in model.graph.initializer)
            or any(o.type.tensor_type.elem_type == half for o in model.graph.output))
    return OnnxModel(path.read_bytes(), meta, fp16)


def _import_modules(trt_module: Any, cuda_module: Any) -> tuple[Any, Any]:
    if trt_module is not None and cuda_module is not None:
        return trt_module, cuda_module
    try:
        import pycuda.driver as cuda
        import tensorrt as trt
    except ImportError:
        raise BackendError(MISSING) from None
    return trt_module or trt, cuda_module or cuda


def _make_logger(trt: Any) -> Any:
    class _Logger(trt.ILogger):
        """Forwards TensorRT's messages to ``logging`` and keeps the errors for exception messages."""

        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.errors: list[str] = []

        def log(self, severity: Any, msg: str) -> None:
            sev = trt.ILogger.Severity
            if severity in (sev.INTERNAL_ERROR, sev.ERROR):
                self.errors.append(msg)
                _log.error("TensorRT: %s", msg)
            elif severity == sev.WARNING:
                _log.warning("TensorRT: %s", msg)
            elif severity == sev.INFO:
                _log.debug("TensorRT: %s", msg)
            # VERBOSE is dropped here: thousands of lines per build

        def last_errors(self) -> str:
            return "; ".join(self.errors[-3:]) or "no error message from TensorRT"

    return _Logger()


def build_engine(trt: Any, logger: Any, model: OnnxModel, path: str | os.PathLike, max_batch: int) -> bytes:
    """Parse the ONNX and build a serialised engine with a batch profile 1..``max_batch``."""
    builder = trt.Builder(logger)
    # strongly typed: the FP16 ONNX's types are kept as they are; a plain network is FP32 (TF32 on Ampere+)
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if model.fp16 else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(model.data, str(path)):
        errors = "; ".join(str(parser.get_error(i).desc()) for i in range(parser.num_errors))
        raise BackendError(f"TensorRT cannot parse {path}: {errors or logger.last_errors()}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    profile = builder.create_optimization_profile()
    for name in model.metadata.inputs:
        # opt = max: the pipeline fills whole batches, a partial one only at the end of a stream
        full = input_shape(name, max_batch, model.metadata)
        profile.set_shape(name, input_shape(name, 1, model.metadata), full, full)
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BackendError(f"TensorRT could not build an engine from {path}: {logger.last_errors()}")
    return bytes(serialized)


@dataclass
class DeviceBuffer:
    """One I/O tensor's pinned host and device memory; ``capacity`` elements, ``shape`` of the last run."""

    name: str
    is_input: bool
    dtype: np.dtype
    capacity: int = 0
    shape: tuple[int, ...] = ()
    host: np.ndarray | None = None  # flat, page-locked
    device: Any = None  # pycuda DeviceAllocation

    @property
    def size(self) -> int:
        return math.prod(self.shape)


class TensorRTBackend:
    """A TensorRT engine for an exported model, built on first use and cached on disk.

    Args:
        path: the exported ``.onnx`` (FP16 export for ``precision="fp16"``).
        precision: ``"fp32"`` or ``"fp16"`` (strongly typed); INT8 is not supported yet.
        max_batch: the largest batch ``infer`` takes; buffers are sized for it once.
        cache_dir: engine cache folder (default ``$TVSTREAM_CACHE`` or ``~/.cache/tvstream/engines``).
        tolerance_mm: refuse the engine when its worst pose3d error against ONNX Runtime exceeds this.
        trt_module, cuda_module: stand-ins for ``tensorrt`` and ``pycuda.driver`` (tests).
        reference_onnx: the model ONNX Runtime runs for parity (default ``path``; pass the FP32 export
            when building FP16, so the check measures the precision loss itself).

    One thread at a time: the pinned buffers and the stream are shared by every ``infer`` call. Weights
    stored as ONNX external data are not part of the cache key (only the ``.onnx`` bytes are hashed).
    """

    name = "tensorrt"

    def __init__(self, path: str | os.PathLike, precision: str = "fp32", max_batch: int = 8,
                 cache_dir: str | os.PathLike | None = None, tolerance_mm: float = 5.0, trt_module: Any = None,
                 cuda_module: Any = None, reference_onnx: str | os.PathLike | None = None) -> None:
        if precision not in PRECISIONS:
            later = " (INT8 comes later, via Q/DQ quantisation in the ONNX)" if precision == "int8" else ""
            raise BackendError(f"precision {precision!r} is not supported{later}; choose one of {PRECISIONS}")
        if not isinstance(max_batch, int) or max_batch < 1:
            raise BackendError(f"max_batch must be an int >= 1, got {max_batch!r}")
        if not tolerance_mm > 0:
            raise BackendError(f"tolerance_mm must be > 0, got {tolerance_mm!r}")
        self.path, self.precision, self.max_batch, self.tolerance_mm = Path(path), precision, max_batch, tolerance_mm
        self.reference_onnx = Path(reference_onnx) if reference_onnx is not None else self.path
        self.cache = EngineCache(cache_dir)
        self.buffers: dict[str, DeviceBuffer] = {}  # bookkeeping, read-only for callers
        self.allocations = 0  # device allocations made so far (a steady state makes none)
        self.built = False  # True when this instance built the engine instead of loading it
        self.parity: dict[str, float] = {}
        self.gpu_name = ""
        self._ctx = self._engine = self._context = self._stream = self._runtime = self._logger = None

        self._trt, self._cuda = _import_modules(trt_module, cuda_module)
        model = read_onnx(self.path)
        self.metadata = model.metadata
        if model.fp16 != (precision == "fp16"):
            kind = "FP16" if model.fp16 else "FP32"
            raise BackendError(f"precision {precision!r} needs an {precision.upper()} ONNX, but {self.path} is {kind} "
                               "(FP16 engines are built strongly typed from an FP16 export)")
        self._ctx = self._open_device()
        try:
            with self._current():
                self._load_or_build(model)
        except BaseException:
            self.close()
            raise

    # ---- setup -------------------------------------------------------------------------------------

    def _open_device(self) -> Any:
        cuda = self._cuda
        try:
            cuda.init()
            if cuda.Device.count() < 1:
                raise BackendError(f"{MISSING}: no CUDA device found")
            device = cuda.Device(0)
            self.gpu_name = device.name()
            # the primary context is the one TensorRT's CUDA runtime calls use too
            return device.retain_primary_context()
        except cuda.Error as exc:
            raise BackendError(f"{MISSING}: CUDA init failed ({exc})") from None

    @contextlib.contextmanager
    def _current(self) -> Iterator[None]:
        # push/pop around every call, so infer works from whichever thread calls it
        self._ctx.push()
        try:
            yield
        finally:
            self._ctx.pop()

    def _load_or_build(self, model: OnnxModel) -> None:
        trt = self._trt
        # kept on self: TensorRT holds a raw pointer to the logger for the runtime's and engine's lifetime
        self._logger = logger = _make_logger(trt)
        self._runtime = trt.Runtime(logger)
        self._stream = self._cuda.Stream()
        key = EngineKey.from_onnx(model.data, trt.__version__, self.gpu_name, self.precision, self.max_batch)
        cached = self.cache.load(key, self._runtime.deserialize_cuda_engine)
        if cached is not None:
            engine, sidecar = cached
            _log.info("TensorRT: loaded cached engine %s", self.cache.paths(key)[0])
            self._activate(engine)
            self.parity = sidecar.get("parity", {})
        else:
            _log.info("TensorRT: building a %s engine for %s (max batch %d); this can take minutes",
                      self.precision, self.path, self.max_batch)
            data = build_engine(trt, logger, model, self.path, self.max_batch)
            engine = self._runtime.deserialize_cuda_engine(data)
            if engine is None:
                raise BackendError(f"TensorRT cannot load the engine it just built: {logger.last_errors()}")
            self.built = True
            self._activate(engine)
            self.parity = self._check_parity()
            try:  # stored even when refused below, so a larger tolerance later reuses it without a rebuild
                self.cache.store(key, data, {"parity": self.parity})
            except OSError as exc:
                _log.warning("engine cache: cannot store %s (%s); the engine is rebuilt next time", key, exc)
        reason = refuse_precision(self.parity, self.tolerance_mm, self.precision) if self.parity else None
        if reason is not None:
            raise BackendError(f"refusing the TensorRT engine for {self.path}: {reason}")

    def _activate(self, engine: Any) -> None:
        trt = self._trt
        self._engine = engine
        self._context = engine.create_execution_context()
        if self._context is None:
            raise BackendError("TensorRT cannot create an execution context (out of GPU memory?)")
        tensors = {}
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            tensors[name] = DeviceBuffer(name, is_input, np.dtype(trt.nptype(engine.get_tensor_dtype(name))))
        inputs = sorted(n for n, b in tensors.items() if b.is_input)
        if inputs != sorted(self.metadata.inputs) or any(tensors[n].dtype not in INPUT_DTYPES[n] for n in inputs):
            raise BackendError(f"engine inputs {inputs} are not the uint8 {INPUT_NAME!r} (+ float {TRACK_INPUT!r}) "
                               f"of this model, whose inputs are {list(self.metadata.inputs)}")
        missing = [o for o in self.metadata.outputs if o not in tensors]
        if missing:
            raise BackendError(f"engine lacks output(s) {missing} the model metadata promises")
        # size every buffer for max_batch once, so infer never allocates in steady state
        self._set_input_shapes(self.max_batch)
        for buf in tensors.values():
            self.buffers[buf.name] = buf
            self._reserve(buf, tuple(self._context.get_tensor_shape(buf.name)) if not buf.is_input
                          else input_shape(buf.name, self.max_batch, self.metadata))

    def _set_input_shapes(self, n: int) -> None:
        for name in self.metadata.inputs:
            shape = input_shape(name, n, self.metadata)
            if not self._context.set_input_shape(name, shape):
                raise BackendError(f"TensorRT refused {name} shape {shape} (profile is batch 1..{self.max_batch})")

    def _reserve(self, buf: DeviceBuffer, shape: tuple[int, ...]) -> None:
        """Make ``buf`` hold ``shape``, re-allocating only when it outgrows the capacity."""
        if any(d < 0 for d in shape):
            raise BackendError(f"TensorRT left tensor {buf.name!r} with unresolved shape {shape}")
        buf.shape = shape
        if buf.size <= buf.capacity:
            return
        cuda = self._cuda
        if buf.device is not None:
            buf.device.free()
            buf.device, buf.host, buf.capacity = None, None, 0
        nbytes = buf.size * buf.dtype.itemsize
        try:
            buf.device = cuda.mem_alloc(max(nbytes, 1))
            buf.host = cuda.pagelocked_empty(buf.size, buf.dtype)
        except cuda.Error as exc:
            raise BackendError(f"cannot allocate {nbytes} bytes of GPU memory for {buf.name!r}: {exc}") from None
        buf.capacity = buf.size
        self.allocations += 1
        if not self._context.set_tensor_address(buf.name, int(buf.device)):
            raise BackendError(f"TensorRT refused the address of tensor {buf.name!r}")

    def _check_parity(self) -> dict[str, float]:
        """Run ONNX Runtime and the engine on seeded sample frames at batch 1 and max_batch; worst errors."""
        try:
            import onnxruntime as ort
        except ImportError:
            raise BackendError("the TensorRT parity check needs onnxruntime (pip install onnxruntime)") from None
        try:
            session = ort.InferenceSession(str(self.reference_onnx), providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph types
            raise BackendError(f"ONNX Runtime cannot load the parity reference {self.reference_onnx}: {exc}; "
                               "pass reference_onnx=<the FP32 export>") from None
        names = [o.name for o in session.get_outputs()]
        rng = np.random.RandomState(PARITY_SEED)
        h, w = self.metadata.input_size
        tracked = TRACK_INPUT in self.metadata.inputs
        report: dict[str, float] = {}
        for n in sorted({1, self.max_batch}):
            frames = rng.randint(0, 256, size=(n, h, w, 3)).astype(np.uint8)  # (n, H, W, 3)
            track = parity_track(rng, n, self.metadata.track_columns) if tracked else None
            feed = {INPUT_NAME: frames, **({TRACK_INPUT: track} if tracked else {})}
            reference = dict(zip(names, session.run(None, feed)))
            for k, v in compare_outputs(reference, self._run(frames, track)).items():
                report[k] = v + report.get(k, 0.0) if k == "frames" else max(v, report.get(k, 0.0))
        _log.info("TensorRT %s parity vs ONNX Runtime: %s", self.precision, report)
        return report

    # ---- inference ---------------------------------------------------------------------------------

    def infer(self, frames: np.ndarray, track: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """``frames (N, H, W, 3)`` uint8, ``N <= max_batch`` (+ ``track (N, 5)``) -> float32 outputs, ``N`` rows."""
        if self._context is None:
            raise BackendError("TensorRT backend is closed")
        check_frames(frames, self.metadata)
        track = check_track(track, len(frames), self.metadata)
        n = frames.shape[0]
        if n > self.max_batch:
            raise BackendError(f"batch of {n} frames exceeds max_batch={self.max_batch} this engine was built for; "
                               "split the batch or rebuild with a larger max_batch")
        outputs = [b for b in self.buffers.values() if not b.is_input]
        if n == 0:  # the profile starts at batch 1
            return {b.name: np.zeros((0, *b.shape[1:]), np.float32) for b in outputs}
        with self._current():
            return self._run(np.ascontiguousarray(frames), track)

    def _run(self, frames: np.ndarray, track: np.ndarray | None = None) -> dict[str, np.ndarray]:
        cuda, stream = self._cuda, self._stream
        self._set_input_shapes(len(frames))
        for name, value in ((INPUT_NAME, frames), (TRACK_INPUT, track)):
            if name not in self.metadata.inputs:
                continue
            inp = self.buffers[name]
            self._reserve(inp, value.shape)
            inp.host[: inp.size] = value.reshape(-1)  # (N, H, W, 3) -> (N*H*W*3,); (N, 5) -> (N*5,), cast to its type
            cuda.memcpy_htod_async(inp.device, inp.host[: inp.size], stream)
        outputs = [b for b in self.buffers.values() if not b.is_input]
        for buf in outputs:
            self._reserve(buf, tuple(self._context.get_tensor_shape(buf.name)))
        if not self._context.execute_async_v3(stream.handle):
            raise BackendError("TensorRT execute_async_v3 failed (see the TensorRT log)")
        for buf in outputs:
            cuda.memcpy_dtoh_async(buf.host[: buf.size], buf.device, stream)
        stream.synchronize()
        # astype copies: the pinned buffers are reused by the next call
        return {b.name: b.host[: b.size].reshape(b.shape).astype(np.float32) for b in outputs}

    # ---- teardown ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Free device memory and drop the engine; safe to call twice."""
        if self._ctx is None:
            return
        with self._current():
            for buf in self.buffers.values():
                if buf.device is not None:
                    buf.device.free()
                buf.device = buf.host = None
                buf.capacity = 0
            self.buffers.clear()
            # the context before the engine before the runtime, with the CUDA context current
            self._context = self._engine = self._runtime = self._stream = None
        self._logger = None
        self._ctx.detach()
        self._ctx = None

    def __enter__(self) -> TensorRTBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
