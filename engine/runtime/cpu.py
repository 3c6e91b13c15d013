"""The CPU device: C rendered, compiled by the system compiler into a shared object, called through ctypes."""

from __future__ import annotations

import ctypes
import hashlib
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from engine.codegen.program import Program
from engine.device import CompileError, Device, register_device
from engine.renderer.c import render_c
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


class CPUDevice(Device):
    """C via `cc`; kernels use every core through OpenMP."""

    name = "CPU"

    def render(self, prg: Program) -> str:
        return render_c(prg)

    def compile(self, src: str, name: str) -> Any:
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

    def launcher(self, compiled: Any, prg: Program) -> Callable[..., None]:
        fn = getattr(compiled, prg.name)
        nparams = param_count(prg)
        fn.argtypes = [ctypes.c_void_p] * nparams
        fn.restype = None

        def run(*bufs: np.ndarray) -> None:
            if len(bufs) < nparams:
                raise ValueError(f"kernel {prg.name}: expected {nparams} buffers, got {len(bufs)}")
            fn(*[b.ctypes.data for b in bufs[:nparams]])

        return run


register_device("CPU", CPUDevice)
