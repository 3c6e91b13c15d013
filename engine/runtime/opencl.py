"""The OPENCL device: the OpenCL dialect of the C renderer, built and launched through pyopencl.

pyopencl is optional (`pip install -e '.[gpu]'`); without it, or without a platform with a device (on Debian and
Ubuntu `apt-get install pocl-opencl-icd` gives PoCL, a CPU platform), making the device raises DeviceUnavailable
and `engine.device.available("OPENCL")` is False. The first device of the first platform that has one is used
(OPENCL_PLATFORM=<substring> picks a platform by name). Buffers stay host numpy arrays: a launch copies its
buffers in and the ones it writes back (without guard zones: sub-buffer offsets must be aligned). Kernels are
built with -cl-fp32-correctly-rounded-divide-sqrt and without -cl-mad-enable (no fused multiply-add).
"""

from __future__ import annotations

import os
from typing import Any, Callable, NamedTuple

import numpy as np

from engine.codegen.program import Program
from engine.device import CompileError, Device, DeviceUnavailable, register_device
from engine.renderer.c import OPENCL, render
from engine.uop import Ops

BUILD_OPTIONS = ["-cl-fp32-correctly-rounded-divide-sqrt"]


def _pyopencl() -> Any:
    try:
        import pyopencl
    except ImportError as e:
        raise DeviceUnavailable(f"OPENCL: pyopencl is not installed ({e}); pip install -e '.[gpu]'") from None
    return pyopencl


class _Built(NamedTuple):
    """A built kernel: its OpenCL program and the kernel's name in it."""

    program: Any
    symbol: str


class OpenCLDevice(Device):
    """pyopencl on the first OpenCL device found (PoCL on a CPU-only machine)."""

    name = "OPENCL"
    gpu = True
    fork_safe = False

    def __init__(self) -> None:
        super().__init__()
        cl = self.cl = _pyopencl()
        want = os.environ.get("OPENCL_PLATFORM", "").lower()
        try:
            platforms = [p for p in cl.get_platforms() if want in p.name.lower()]
        except cl.Error as e:
            raise DeviceUnavailable(f"OPENCL: no platform ({e}); on Debian/Ubuntu: apt-get install pocl-opencl-icd")
        devices = [d for p in platforms for d in p.get_devices()]
        if not devices:
            raise DeviceUnavailable("OPENCL: no platform with a device; on Debian/Ubuntu: apt-get install "
                                    "pocl-opencl-icd")
        self.device = devices[0]
        if "cl_khr_fp64" not in self.device.extensions:
            raise DeviceUnavailable(f"OPENCL: device {self.device.name} has no cl_khr_fp64 (the kernels use double)")
        self.ctx = cl.Context([self.device])
        self.queue = cl.CommandQueue(self.ctx)
        self.max_threads = self.device.max_work_group_size
        self.emulated = bool(self.device.type & cl.device_type.CPU)  # PoCL: OpenCL on the host's cores

    def cache_key(self, src: str) -> str:
        return f"{self.device.name}\n{src}"

    def render(self, prg: Program) -> str:
        return render(prg, OPENCL)

    def compile(self, src: str, name: str) -> Any:
        try:
            return _Built(self.cl.Program(self.ctx, src).build(options=BUILD_OPTIONS), name)
        except self.cl.Error as e:
            raise CompileError(f"kernel {name}: OpenCL build failed:\n{e}\n--- source ---\n{src}") from None

    def compile_batch(self, sources: list[tuple[str, str]]) -> list[Any]:
        """The new kernels of one schedule in one program and one build (a build costs tens of ms on PoCL whatever
        the kernel); each kernel gets a name unique in the batch. A batch that fails is built one by one, so the
        error names its kernel."""
        prelude = OPENCL.prelude
        if len(sources) < 2 or not all(src.startswith(prelude) for src, _ in sources):
            return [self.compile(src, name) for src, name in sources]
        symbols = [f"{name}_b{i}" for i, (_, name) in enumerate(sources)]
        parts = [prelude]
        for (src, name), sym in zip(sources, symbols):
            body = src[len(prelude):]
            at = body.find(f" {name}(")
            parts.append(body[:at] + f" {sym}(" + body[at + len(name) + 2:])
        try:
            program = self.cl.Program(self.ctx, "".join(parts)).build(options=BUILD_OPTIONS)
        except self.cl.Error:
            return [self.compile(src, name) for src, name in sources]
        return [_Built(program, sym) for sym in symbols]

    def launcher(self, compiled: Any, prg: Program) -> Callable[..., None]:
        cl = self.cl
        kernel = cl.Kernel(compiled.program, compiled.symbol)  # its own instance (getattr warns when repeated)
        nparams = max((u.arg for u in prg.uops if u.op is Ops.DEFINE_GLOBAL), default=-1) + 1
        local = tuple(prg.local_size)
        global_ = tuple(g * lo for g, lo in zip(prg.global_size, local))  # OpenCL counts threads, not workgroups
        outs = set(prg.outs)
        threads = int(np.prod(local))
        if threads > self.max_threads:
            raise CompileError(f"kernel {prg.name}: {threads} threads in a workgroup, device {self.device.name} "
                               f"allows {self.max_threads}")

        def run(*bufs: np.ndarray) -> None:
            if len(bufs) < nparams:
                raise ValueError(f"kernel {prg.name}: expected {nparams} buffers, got {len(bufs)}")
            arrs = [np.ascontiguousarray(b) for b in bufs[:nparams]]
            dev: dict[int, Any] = {}  # id(array) -> its device buffer: an array passed twice is one buffer
            for a in arrs:
                if id(a) not in dev:
                    dev[id(a)] = cl.Buffer(self.ctx, cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR,
                                           hostbuf=a if a.nbytes else np.zeros(1, np.uint8))
            kernel(self.queue, global_, local, *[dev[id(a)] for a in arrs])
            for i in sorted(outs):
                if i < nparams and arrs[i].nbytes:
                    cl.enqueue_copy(self.queue, arrs[i], dev[id(arrs[i])])
            self.queue.finish()

        return run


register_device("OPENCL", OpenCLDevice)
