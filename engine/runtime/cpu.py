"""The CPU device: C rendered, compiled by the system compiler into a shared object, called through ctypes."""

from __future__ import annotations

import ctypes
import hashlib
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np

from engine.codegen.program import Program
from engine.device import CompileError, Device, register_device
from engine.renderer.c import PRELUDE, render_c
from engine.uop import Ops

CFLAGS = ["-O2", "-march=native", "-fopenmp", "-fwrapv", "-ffp-contract=off", "-fno-math-errno", "-shared", "-fPIC"]


def _cache_dir() -> Path:
    d = Path(os.environ.get("UOPFUZZ_CACHE", Path.home() / ".cache" / "uopfuzz")) / "cpu"
    d.mkdir(parents=True, exist_ok=True)
    return d


def param_count(prg: Program) -> int:
    """Buffer parameters of a kernel: 1 + the largest DEFINE_GLOBAL position (a buffer whose loads were all folded
    away keeps its position); buffers passed beyond that are not used by the kernel."""
    return max((u.arg for u in prg.uops if u.op is Ops.DEFINE_GLOBAL), default=-1) + 1


class _Kernel(NamedTuple):
    """A compiled kernel: the loaded library and the function's name in it."""

    lib: Any
    symbol: str


def _build_library(src: str, name: str) -> Any:
    """Compile C source into a shared library (cached on disk by source, flags and compiler) and load it."""
    cc = os.environ.get("CC", "cc")
    key = hashlib.sha256((src + " ".join(CFLAGS) + cc).encode()).hexdigest()[:24]
    lib = _cache_dir() / f"{name}_{key}.so"
    if not lib.exists():
        with tempfile.TemporaryDirectory() as tmp:
            c_file = Path(tmp) / f"{name}.c"
            c_file.write_text(src)
            out = Path(tmp) / "k.so"
            proc = subprocess.run([cc, *CFLAGS, "-o", str(out), str(c_file), "-lm"], capture_output=True, text=True)
            if proc.returncode != 0:
                raise CompileError(f"kernel {name}: C compilation failed:\n{proc.stderr}\n--- source ---\n{src}")
            os.replace(out, lib)  # atomic: a concurrent compile of the same source is harmless
    return ctypes.CDLL(str(lib))


class CPUDevice(Device):
    """C via `cc`; kernels use every core through OpenMP."""

    name = "CPU"

    def render(self, prg: Program) -> str:
        return render_c(prg)

    def compile(self, src: str, name: str) -> Any:
        return _Kernel(_build_library(src, name), name)

    def compile_batch(self, sources: list[tuple[str, str]]) -> list[Any]:
        """The new kernels of one schedule in one translation unit and one compiler run (a compiler process costs
        about 40 ms whatever the kernel; four small kernels compile together in a third of the time). The prelude is
        written once and each kernel's function gets a name unique in the batch."""
        if len(sources) < 2 or not all(src.startswith(PRELUDE) for src, _ in sources):
            return [self.compile(src, name) for src, name in sources]
        symbols = [f"{name}_b{i}" for i, (_, name) in enumerate(sources)]
        parts = [PRELUDE]
        for (src, name), sym in zip(sources, symbols):
            body = src[len(PRELUDE):]
            at = body.find(f" {name}(")
            parts.append(body[:at] + f" {sym}(" + body[at + len(name) + 2:])
        try:
            lib = _build_library("".join(parts), "batch")
        except CompileError:
            return [self.compile(src, name) for src, name in sources]  # the error names its own kernel
        return [_Kernel(lib, sym) for sym in symbols]

    def launcher(self, compiled: Any, prg: Program) -> Callable[..., None]:
        fn = getattr(compiled.lib, compiled.symbol)
        nparams = param_count(prg)
        fn.argtypes = [ctypes.c_void_p] * nparams
        fn.restype = None

        def run(*bufs: np.ndarray) -> None:
            if len(bufs) < nparams:
                raise ValueError(f"kernel {prg.name}: expected {nparams} buffers, got {len(bufs)}")
            fn(*[b.ctypes.data for b in bufs[:nparams]])

        return run


register_device("CPU", CPUDevice)
