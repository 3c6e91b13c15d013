"""The CUDA device: the CUDA dialect of the C renderer, compiled by NVRTC to a cubin, launched through the driver API.

Both come from pip packages (`pip install -e '.[gpu]'`: cuda-bindings gives `cuda.bindings.driver` and
`cuda.bindings.nvrtc`, nvidia-cuda-nvrtc the library); no CUDA toolkit is needed. Without a GPU, `compile_cuda`
still compiles for a fixed architecture (the compile-only tests). Buffers stay host numpy arrays (the engine's
Allocator): a launch copies its buffers to the GPU and the ones it writes back, each as a whole allocation (with its
guard zones when they are on, so an out-of-bounds store shows as a GuardError as on the CPU). NVRTC runs with
--fmad=false: a multiply and an add stay two roundings, as the engine's semantics say; the fused sums the code
generator asks for (MULACC: a float32 sum of products) are explicit fmaf calls.
"""

from __future__ import annotations

import ctypes
from typing import Any, Callable

import numpy as np

from engine.codegen.program import Program
from engine.device import GUARD_BYTES, CompileError, Device, DeviceUnavailable, register_device
from engine.renderer.c import CUDA, dynamic_shared_bytes, render
from engine.uop import Ops

COMPILE_ONLY_ARCH = "sm_90"  # what compile-only checks build for (an H100/H200)
TENSOR_CORES = ("m16n8k16", "m16n8k32")  # the Opt TC shapes (engine/codegen/tc.py) the renderer emits as mma.sync
NVRTC_OPTIONS = ["--fmad=false", "-default-device", "--std=c++17"]


def _nvrtc() -> Any:
    try:
        from cuda.bindings import nvrtc
    except ImportError as e:
        raise DeviceUnavailable(f"CUDA: cuda-bindings is not installed ({e}); pip install -e '.[gpu]'") from None
    return nvrtc


def _driver() -> Any:
    try:
        from cuda.bindings import driver
    except ImportError as e:
        raise DeviceUnavailable(f"CUDA: cuda-bindings is not installed ({e}); pip install -e '.[gpu]'") from None
    return driver


def _check(result: tuple, what: str) -> Any:
    """The values after a cuda-bindings call's status; RuntimeError naming the call when it failed."""
    err, rest = result[0], result[1:]
    if int(err) != 0:
        raise RuntimeError(f"CUDA: {what} failed: {err!r}")
    return rest[0] if len(rest) == 1 else rest


def nvrtc_available() -> bool:
    """Whether NVRTC can be loaded here (what the compile-only tests need)."""
    try:
        nvrtc = _nvrtc()
        return int(nvrtc.nvrtcVersion()[0]) == 0
    except Exception:
        return False


def compile_cuda(src: str, name: str, arch: str = COMPILE_ONLY_ARCH) -> bytes:
    """CUDA source to a cubin for `arch` (sm_XY) with NVRTC; CompileError with the log and source on failure."""
    nvrtc = _nvrtc()
    prog = _check(nvrtc.nvrtcCreateProgram(src.encode(), f"{name}.cu".encode(), 0, [], []), "nvrtcCreateProgram")
    try:
        opts = [o.encode() for o in (f"--gpu-architecture={arch}", *NVRTC_OPTIONS)]
        (status,) = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
        if int(status) != 0:
            size = _check(nvrtc.nvrtcGetProgramLogSize(prog), "nvrtcGetProgramLogSize")
            log = b" " * size
            _check(nvrtc.nvrtcGetProgramLog(prog, log), "nvrtcGetProgramLog")
            raise CompileError(f"kernel {name}: NVRTC failed:\n{log.decode(errors='replace')}\n--- source ---\n{src}")
        size = _check(nvrtc.nvrtcGetCUBINSize(prog), "nvrtcGetCUBINSize")
        cubin = b" " * size
        _check(nvrtc.nvrtcGetCUBIN(prog, cubin), "nvrtcGetCUBIN")
        return cubin
    finally:
        nvrtc.nvrtcDestroyProgram(prog)


def _raw(arr: np.ndarray) -> np.ndarray:
    """The guarded allocation around a buffer (its guard zones included), or the buffer itself."""
    raw = arr.base
    while raw is not None and not (raw.dtype == np.uint8 and raw.size == arr.nbytes + 2 * GUARD_BYTES):
        raw = raw.base
    return raw if raw is not None else arr


class CUDADevice(Device):
    """NVRTC + the driver API on GPU 0 (its primary context)."""

    name = "CUDA"
    gpu = True
    fork_safe = False
    tensor_cores: tuple[str, ...] = ()  # set from the card's architecture

    def __init__(self) -> None:
        super().__init__()
        drv = self.drv = _driver()
        try:
            _check(drv.cuInit(0), "cuInit")
            self.dev = _check(drv.cuDeviceGet(0), "cuDeviceGet")
            self.ctx = _check(drv.cuDevicePrimaryCtxRetain(self.dev), "cuDevicePrimaryCtxRetain")
        except RuntimeError as e:
            raise DeviceUnavailable(f"CUDA: no usable GPU ({e})") from None
        self._current()
        attr = drv.CUdevice_attribute
        major = _check(drv.cuDeviceGetAttribute(attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, self.dev), "arch")
        minor = _check(drv.cuDeviceGetAttribute(attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, self.dev), "arch")
        self.arch = f"sm_{major}{minor}"
        # mma.m16n8k16 with f16 and bf16: sm_80 and up; m16n8k32 with e4m3 and e5m2: sm_89 and up
        self.tensor_cores = TENSOR_CORES if (major, minor) >= (8, 9) else TENSOR_CORES[:1] if major >= 8 else ()
        self._free: dict[int, list[int]] = {}  # bytes -> device allocations to reuse

    def _current(self) -> None:
        _check(self.drv.cuCtxSetCurrent(self.ctx), "cuCtxSetCurrent")

    def cache_key(self, src: str) -> str:
        return f"{self.arch}\n{src}"

    def render(self, prg: Program) -> str:
        return render(prg, CUDA)

    def compile(self, src: str, name: str) -> Any:
        cubin = compile_cuda(src, name, self.arch)
        self._current()
        return _check(self.drv.cuModuleLoadData(cubin), f"cuModuleLoadData of kernel {name}")

    def alloc_device(self, nbytes: int) -> int:
        """A device allocation of nbytes (reused from freed ones of that size)."""
        pool = self._free.get(nbytes)
        if pool:
            return pool.pop()
        return int(_check(self.drv.cuMemAlloc(max(nbytes, 1)), f"cuMemAlloc({nbytes})"))

    def free_device(self, ptr: int, nbytes: int) -> None:
        self._free.setdefault(nbytes, []).append(ptr)

    def copyin(self, ptr: int, host: np.ndarray) -> None:
        if host.nbytes:
            _check(self.drv.cuMemcpyHtoD(ptr, host.ctypes.data, host.nbytes), "cuMemcpyHtoD")

    def copyout(self, host: np.ndarray, ptr: int) -> None:
        if host.nbytes:
            _check(self.drv.cuMemcpyDtoH(host.ctypes.data, ptr, host.nbytes), "cuMemcpyDtoH")

    def function(self, module: Any, prg: Program) -> Callable[[list[int]], None]:
        """launch(device pointers): the kernel launched once on its grid (asynchronous)."""
        fn = _check(self.drv.cuModuleGetFunction(module, prg.name.encode()), f"cuModuleGetFunction {prg.name}")
        g, lsz = prg.global_size, prg.local_size
        shared = dynamic_shared_bytes(prg)  # past 48 KB: the kernel must be allowed it, and each launch given it
        if shared:
            _check(self.drv.cuFuncSetAttribute(
                fn, self.drv.CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, shared),
                f"cuFuncSetAttribute {prg.name}: {shared} bytes of dynamic shared memory")

        def launch(ptrs: list[int]) -> None:
            slots = [ctypes.c_uint64(p) for p in ptrs]  # each parameter's storage; the kernel reads these
            params = (ctypes.c_void_p * max(len(slots), 1))(*[ctypes.addressof(s) for s in slots])
            _check(self.drv.cuLaunchKernel(fn, *g, *lsz, shared, 0, ctypes.addressof(params), 0),
                   f"cuLaunchKernel {prg.name} grid {g} block {lsz}")
        return launch

    def synchronize(self) -> None:
        _check(self.drv.cuCtxSynchronize(), "cuCtxSynchronize")

    def launcher(self, compiled: Any, prg: Program) -> Callable[..., None]:
        launch = self.function(compiled, prg)
        nparams = max((u.arg for u in prg.uops if u.op is Ops.DEFINE_GLOBAL), default=-1) + 1
        outs = set(prg.outs)

        def run(*bufs: np.ndarray) -> None:
            if len(bufs) < nparams:
                raise ValueError(f"kernel {prg.name}: expected {nparams} buffers, got {len(bufs)}")
            self._current()
            raws = [_raw(b) for b in bufs[:nparams]]
            on_gpu: dict[int, int] = {}  # id(allocation) -> device copy: an array passed twice is one buffer
            try:
                for r in raws:
                    if id(r) not in on_gpu:
                        on_gpu[id(r)] = self.alloc_device(r.nbytes)
                        self.copyin(on_gpu[id(r)], r)
                launch([on_gpu[id(r)] + (GUARD_BYTES if r is not b else 0) for r, b in zip(raws, bufs)])
                self.synchronize()
                for r in {id(raws[i]): raws[i] for i in outs if i < nparams}.values():
                    self.copyout(r, on_gpu[id(r)])
            finally:
                for r in {id(r): r for r in raws}.values():
                    if id(r) in on_gpu:
                        self.free_device(on_gpu[id(r)], r.nbytes)

        return run


register_device("CUDA", CUDADevice)
