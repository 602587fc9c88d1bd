"""A small fake of the `tensorrt` module and of `pycuda.driver`, enough to run the TensorRT backend's logic on CPU.

The fake builder "parses" the ONNX with the onnx package and serialises a JSON description of its I/O
tensors; the fake engine "executes" by calling a Python function on the inputs it reads from fake device
memory (numpy bytes keyed by fake pointers: ``run(frames)``, or ``run(frames, track)`` for an engine with a
``track`` input) and writing the results back. Every object records its calls.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from typing import Any

import numpy as np

MAGIC = b"FAKETRT\0"


class NetworkDefinitionCreationFlag(enum.IntEnum):
    EXPLICIT_BATCH = 0
    STRONGLY_TYPED = 1


class MemoryPoolType(enum.IntEnum):
    WORKSPACE = 0


class TensorIOMode(enum.IntEnum):
    NONE = 0
    INPUT = 1
    OUTPUT = 2


class DataType(enum.IntEnum):
    FLOAT = 0
    HALF = 1
    INT32 = 3
    UINT8 = 5
    INT64 = 9


NPTYPES = {DataType.FLOAT: np.float32, DataType.HALF: np.float16, DataType.INT32: np.int32,
           DataType.UINT8: np.uint8, DataType.INT64: np.int64}
ONNX_TO_TRT = {1: DataType.FLOAT, 10: DataType.HALF, 6: DataType.INT32, 2: DataType.UINT8, 7: DataType.INT64}


class ILogger:
    """Base class the backend's logger subclasses, like ``tensorrt.ILogger``."""

    class Severity(enum.IntEnum):
        INTERNAL_ERROR = 0
        ERROR = 1
        WARNING = 2
        INFO = 3
        VERBOSE = 4

    def __init__(self) -> None:
        pass


# ---- pycuda.driver ---------------------------------------------------------------------------------


class FakeCudaError(Exception):
    pass


class FakeAllocation:
    def __init__(self, cuda: FakeCuda, ptr: int, nbytes: int) -> None:
        self.cuda, self.ptr, self.nbytes = cuda, ptr, nbytes

    def __int__(self) -> int:
        return self.ptr

    def free(self) -> None:
        if self.ptr not in self.cuda.memory:
            raise FakeCudaError(f"double free of {self.ptr:#x}")
        del self.cuda.memory[self.ptr]
        self.cuda.freed.append(self.ptr)


class FakeStream:
    def __init__(self) -> None:
        self.handle = 0xC0DE
        self.syncs = 0

    def synchronize(self) -> None:
        self.syncs += 1


class FakeContext:
    def __init__(self, cuda: FakeCuda) -> None:
        self.cuda = cuda

    def push(self) -> None:
        self.cuda.context_depth += 1

    def pop(self) -> None:
        if self.cuda.context_depth == 0:
            raise FakeCudaError("pop of an empty context stack")
        self.cuda.context_depth -= 1

    def detach(self) -> None:
        self.cuda.detached += 1


class FakeCuda:
    """Stands in for ``pycuda.driver``: one device, memory as numpy bytes keyed by fake pointers."""

    Error = FakeCudaError
    Stream = FakeStream

    def __init__(self, gpu_name: str = "Fake GPU 80GB", device_count: int = 1) -> None:
        self.gpu_name, self.device_count = gpu_name, device_count
        self.memory: dict[int, np.ndarray] = {}
        self.allocated: list[tuple[int, int]] = []  # (pointer, bytes)
        self.freed: list[int] = []
        self.pinned: list[np.ndarray] = []
        self.context_depth = 0
        self.detached = 0
        self._next = 0x1000
        cuda = self

        class Device:
            def __init__(self, index: int) -> None:
                self.index = index

            @staticmethod
            def count() -> int:
                return cuda.device_count

            def name(self) -> str:
                return cuda.gpu_name

            def retain_primary_context(self) -> FakeContext:
                return FakeContext(cuda)

        self.Device = Device

    def init(self) -> None:
        pass

    def mem_alloc(self, nbytes: int) -> FakeAllocation:
        ptr = self._next
        self._next += (nbytes + 255) // 256 * 256 + 256
        self.memory[ptr] = np.zeros(nbytes, np.uint8)
        self.allocated.append((ptr, nbytes))
        return FakeAllocation(self, ptr, nbytes)

    def pagelocked_empty(self, shape: Any, dtype: Any) -> np.ndarray:
        arr = np.empty(shape, dtype)
        self.pinned.append(arr)
        return arr

    def _device(self, ptr: Any, nbytes: int) -> np.ndarray:
        mem = self.memory.get(int(ptr))
        if mem is None:
            raise FakeCudaError(f"{int(ptr):#x} is not allocated")
        if nbytes > mem.size:
            raise FakeCudaError(f"copy of {nbytes} bytes overflows the {mem.size}-byte allocation {int(ptr):#x}")
        return mem

    def memcpy_htod_async(self, dest: Any, src: np.ndarray, stream: Any = None) -> None:
        raw = np.ascontiguousarray(src).reshape(-1).view(np.uint8)
        self._device(dest, raw.size)[: raw.size] = raw

    def memcpy_dtoh_async(self, dest: np.ndarray, src: Any, stream: Any = None) -> None:
        raw = dest.reshape(-1).view(np.uint8)
        assert np.shares_memory(raw, dest), "dtoh destination must be contiguous"
        raw[:] = self._device(src, raw.size)[: raw.size]

    def read(self, ptr: int, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        n = int(np.prod(shape)) * np.dtype(dtype).itemsize
        return self._device(ptr, n)[:n].view(dtype).reshape(shape).copy()

    def write(self, ptr: int, array: np.ndarray) -> None:
        raw = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
        self._device(ptr, raw.size)[: raw.size] = raw


# ---- tensorrt ----------------------------------------------------------------------------------------


class FakeParserError:
    def __init__(self, msg: str) -> None:
        self.msg = msg

    def desc(self) -> str:
        return self.msg


class FakeNetwork:
    def __init__(self, flags: int) -> None:
        self.flags = flags
        self.tensors: list[dict[str, Any]] = []  # {"name", "mode", "dtype", "dims"}


class FakeOnnxParser:
    def __init__(self, trt: FakeTensorRT, network: FakeNetwork, logger: Any) -> None:
        self.trt, self.network, self.logger = trt, network, logger
        self._errors: list[FakeParserError] = []

    @property
    def num_errors(self) -> int:
        return len(self._errors)

    def get_error(self, i: int) -> FakeParserError:
        return self._errors[i]

    def parse(self, model: bytes, path: str | None = None) -> bool:
        import onnx

        self.trt.parsed.append(path)
        if self.trt.parse_errors:
            self._errors = [FakeParserError(m) for m in self.trt.parse_errors]
            return False
        graph = onnx.load_model_from_string(bytes(model)).graph
        for mode, values in ((TensorIOMode.INPUT, graph.input), (TensorIOMode.OUTPUT, graph.output)):
            for v in values:
                t = v.type.tensor_type
                dims = [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim]
                self.network.tensors.append({"name": v.name, "mode": int(mode),
                                             "dtype": int(ONNX_TO_TRT[t.elem_type]), "dims": dims})
        return True


class FakeProfile:
    def __init__(self) -> None:
        self.shapes: dict[str, tuple[tuple[int, ...], ...]] = {}

    def set_shape(self, name: str, min: Any, opt: Any, max: Any) -> None:  # tensorrt's keyword names
        self.shapes[name] = (tuple(min), tuple(opt), tuple(max))


class FakeConfig:
    def __init__(self) -> None:
        self.pool_limits: dict[Any, int] = {}
        self.profiles: list[FakeProfile] = []
        self.flags: set[Any] = set()

    def set_memory_pool_limit(self, pool: Any, size: int) -> None:
        self.pool_limits[pool] = size

    def add_optimization_profile(self, profile: FakeProfile) -> int:
        self.profiles.append(profile)
        return len(self.profiles) - 1

    def set_flag(self, flag: Any) -> None:
        self.flags.add(flag)


class FakeBuilder:
    def __init__(self, trt: FakeTensorRT, logger: Any) -> None:
        self.trt, self.logger = trt, logger

    def create_network(self, flags: int = 0) -> FakeNetwork:
        network = FakeNetwork(flags)
        self.trt.networks.append(network)
        return network

    def create_builder_config(self) -> FakeConfig:
        config = FakeConfig()
        self.trt.configs.append(config)
        return config

    def create_optimization_profile(self) -> FakeProfile:
        return FakeProfile()

    def build_serialized_network(self, network: FakeNetwork, config: FakeConfig) -> bytes | None:
        self.trt.builds += 1
        if self.trt.build_error is not None:
            self.logger.log(ILogger.Severity.ERROR, self.trt.build_error)
            return None
        spec = {"version": self.trt.__version__, "flags": network.flags, "tensors": network.tensors,
                "profiles": [{k: list(map(list, v)) for k, v in p.shapes.items()} for p in config.profiles]}
        return MAGIC + json.dumps(spec).encode()


class FakeRuntime:
    def __init__(self, trt: FakeTensorRT, logger: Any) -> None:
        self.trt, self.logger = trt, logger

    def deserialize_cuda_engine(self, data: bytes) -> FakeEngine | None:
        self.trt.deserialized += 1
        if not bytes(data).startswith(MAGIC):
            self.logger.log(ILogger.Severity.ERROR, "magic tag does not match")
            return None
        spec = json.loads(bytes(data)[len(MAGIC):])
        if spec["version"] != self.trt.__version__:
            self.logger.log(ILogger.Severity.ERROR, f"engine built by TensorRT {spec['version']}")
            return None
        return FakeEngine(self.trt, spec)


class FakeEngine:
    def __init__(self, trt: FakeTensorRT, spec: dict[str, Any]) -> None:
        self.trt, self.spec = trt, spec
        self.tensors = {t["name"]: t for t in spec["tensors"]}
        self.flags = spec["flags"]

    @property
    def num_io_tensors(self) -> int:
        return len(self.tensors)

    def get_tensor_name(self, i: int) -> str:
        return list(self.tensors)[i]

    def get_tensor_mode(self, name: str) -> TensorIOMode:
        return TensorIOMode(self.tensors[name]["mode"])

    def get_tensor_dtype(self, name: str) -> DataType:
        return DataType(self.tensors[name]["dtype"])

    def create_execution_context(self) -> FakeExecutionContext:
        return FakeExecutionContext(self)


class FakeExecutionContext:
    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine
        self.input_shapes: dict[str, tuple[int, ...]] = {}
        self.addresses: dict[str, int] = {}
        self.executions = 0

    def set_input_shape(self, name: str, shape: Any) -> bool:
        shape = tuple(shape)
        profile = self.engine.spec["profiles"][0]
        if name not in profile:  # an input the build gave no profile shapes (TensorRT refuses to build that)
            return False
        lo, _, hi = profile[name]
        ok = len(shape) == len(hi) and all(a <= s <= b for a, s, b in zip(lo, shape, hi))
        if ok:
            self.input_shapes[name] = shape
        return ok

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        if name in self.input_shapes:
            return self.input_shapes[name]
        batch = next(iter(self.input_shapes.values()), (-1,))[0]
        return tuple(batch if d == -1 else d for d in self.engine.tensors[name]["dims"])

    def set_tensor_address(self, name: str, ptr: int) -> bool:
        self.addresses[name] = int(ptr)
        return True

    def execute_async_v3(self, stream_handle: int) -> bool:
        trt, tensors = self.engine.trt, self.engine.tensors
        input_names = {n for n, t in tensors.items() if t["mode"] == TensorIOMode.INPUT}
        if set(self.addresses) != set(tensors) or set(self.input_shapes) != input_names:
            return False
        if len({s[0] for s in self.input_shapes.values()}) != 1:
            return False  # inputs of different batch sizes
        inputs = {n: trt.cuda.read(self.addresses[n], s, NPTYPES[DataType(tensors[n]["dtype"])])
                  for n, s in self.input_shapes.items()}
        trt.fed.append(inputs)
        outputs = [n for n, t in tensors.items() if t["mode"] == TensorIOMode.OUTPUT]
        shapes = {n: self.get_tensor_shape(n) for n in outputs}
        args = [inputs["frames"]] + ([inputs["track"]] if "track" in inputs else [])
        results = trt.run(*args) if trt.run else {n: np.zeros(s) for n, s in shapes.items()}
        for n in outputs:
            out = np.asarray(results[n], NPTYPES[DataType(tensors[n]["dtype"])])
            if out.shape != shapes[n]:
                raise ValueError(f"fake run gave {n} {out.shape}, engine expects {shapes[n]}")
            trt.cuda.write(self.addresses[n], out)
        self.executions += 1
        trt.executions += 1
        return True


class FakeTensorRT:
    """Stands in for the ``tensorrt`` module; ``run(frames[, track]) -> outputs`` is what the fake engine computes."""

    NetworkDefinitionCreationFlag = NetworkDefinitionCreationFlag
    MemoryPoolType = MemoryPoolType
    TensorIOMode = TensorIOMode
    DataType = DataType
    ILogger = ILogger

    def __init__(self, cuda: FakeCuda, run: Callable[..., dict[str, np.ndarray]] | None = None,
                 version: str = "10.0.1-fake") -> None:
        self.__version__ = version
        self.cuda, self.run = cuda, run
        self.parse_errors: list[str] = []  # non-empty: parse() fails with these messages
        self.build_error: str | None = None  # set: build_serialized_network logs it and returns None
        self.networks: list[FakeNetwork] = []
        self.configs: list[FakeConfig] = []
        self.parsed: list[str | None] = []
        self.builds = self.deserialized = self.executions = 0
        self.fed: list[dict[str, np.ndarray]] = []  # the inputs each execution read from device memory

    def Builder(self, logger: Any) -> FakeBuilder:  # tensorrt's class names
        return FakeBuilder(self, logger)

    def OnnxParser(self, network: FakeNetwork, logger: Any) -> FakeOnnxParser:
        return FakeOnnxParser(self, network, logger)

    def Runtime(self, logger: Any) -> FakeRuntime:
        return FakeRuntime(self, logger)

    @staticmethod
    def nptype(dtype: DataType) -> type:
        return NPTYPES[DataType(dtype)]
