"""The CPU device: C rendered, compiled by the system compiler into a shared object, called through ctypes.

Kernels with SIMD vector code (a "vector" loop, engine/renderer/c.py) compile at -O1: their vectors are explicit,
and -O2 only doubles the compile time (ResNet-50's kernels: 4.0 s against 9.3 s, the same speed); the others at -O2,
where GCC vectorizes plain loops itself (an elementwise kernel: 1.4x faster). The new kernels of a schedule compile
in batches, one compiler process per core this process may use at a time, linked by ld directly, with OpenMP only for
a kernel with a parallel loop (see _linker). (A precompiled header for the prelude saved no measurable time: loading
it costs about what parsing the system headers does.)
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np

from engine.codegen.program import Program
from engine.device import CompileError, Device, register_device
from engine.renderer.c import PRELUDE, render_c
from engine.uop import Ops

# -ffp-contract=off: a multiply and an add stay two roundings (fused sums are explicit fmaf / vector fma calls);
# -fno-tree-loop-if-convert: GCC 12.2 with AVX-512 (-march=native) vectorizes a loop of `acc + (c ? x : 0.0)` into
# masked adds that lose infinities (a cumsum with an inf gave a finite value; found by the graph fuzzer)
CFLAGS = ["-march=native", "-fwrapv", "-ffp-contract=off", "-fno-math-errno", "-fno-tree-loop-if-convert", "-fPIC",
          "-pipe"]
OPT_SCALAR, OPT_VECTOR = "-O2", "-O1"
VECTOR_MARK = "__attribute__((vector_size("  # how the C renderer declares a SIMD vector type
OMP_MARK = "#pragma omp"  # a kernel with a parallel loop compiles and links with OpenMP


BATCH_MIN_CHARS = 20000  # a batch smaller than this is not split over cores (a process costs ~40 ms)


def opt_level(src: str) -> str:
    """The optimization level a kernel's source compiles at."""
    return OPT_VECTOR if VECTOR_MARK in src else OPT_SCALAR


def _cores() -> int:
    """The cores this process may run on (a worker pinned to one core compiles its batch in one process)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity else os.cpu_count() or 1


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


@functools.cache
def _linker(cc: str) -> tuple[str, list[str], str] | None:
    """The linker the compiler drives and what a kernel library links against (the compiler's support library,
    libm; libgomp for OpenMP kernels), found once through the compiler's -print options; None when one is missing
    (the compiler driver links then).

    Linking with ld directly takes ~6 ms instead of the driver's ~12 (collect2, the start files and the default
    libraries' linker scripts), and a kernel without a parallel loop compiles without -fopenmp, whose spec and
    libraries cost the driver another ~15 ms: together two thirds of a small batch's fixed ~37 ms."""
    def ask(option: str) -> str:
        return subprocess.run([cc, option], capture_output=True, text=True, check=True).stdout.strip()
    try:
        ld = shutil.which(ask("-print-prog-name=ld"))
        libs = [ask("-print-libgcc-file-name"), ask("-print-file-name=libm.so.6")]
        gomp = ask("-print-file-name=libgomp.so")
    except (OSError, subprocess.CalledProcessError):
        return None
    if ld is None or not all(os.path.isabs(p) and os.path.exists(p) for p in [*libs, gomp]):
        return None
    return ld, libs, gomp


def _compile_commands(cc: str, src: str, c_file: str, out: str) -> list[list[str]]:
    """The commands that build `c_file` into the shared library `out`: compile and link, or the driver alone."""
    omp = OMP_MARK in src
    flags = [opt_level(src), *CFLAGS, *(["-fopenmp"] if omp else [])]
    linker = _linker(cc)
    if linker is None:
        return [[cc, *flags, "-shared", "-o", out, c_file, "-lm"]]
    ld, libs, gomp = linker
    obj = out + ".o"
    return [[cc, *flags, "-c", "-o", obj, c_file], [ld, "-shared", "-o", out, obj, *libs, *([gomp] if omp else [])]]


def _build_library(src: str, name: str) -> Any:
    """Compile C source into a shared library (cached on disk by source, flags and compiler) and load it."""
    cc = os.environ.get("CC", "cc")
    key = hashlib.sha256((src + " ".join([opt_level(src), *CFLAGS]) + cc).encode()).hexdigest()[:24]
    lib = _cache_dir() / f"{name}_{key}.so"
    if not lib.exists():
        with tempfile.TemporaryDirectory() as tmp:
            c_file = Path(tmp) / f"{name}.c"
            c_file.write_text(src)
            out = Path(tmp) / "k.so"
            for cmd in _compile_commands(cc, src, str(c_file), str(out)):
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode != 0:
                    raise CompileError(f"kernel {name}: C compilation failed ({Path(cmd[0]).name}):\n{proc.stderr}\n"
                                       f"--- source ---\n{src}")
            os.replace(out, lib)  # atomic: a concurrent compile of the same source is harmless
    return ctypes.CDLL(str(lib))


def _batches(sources: list[tuple[str, str]], cores: int) -> list[list[int]]:
    """Kernel positions grouped by optimization level, each level's split into up to `cores` batches of about equal
    source size (largest first into the smallest batch); batches of a few tiny kernels are not split."""
    levels: dict[str, list[int]] = {}
    for i, (src, _) in enumerate(sources):
        levels.setdefault(opt_level(src), []).append(i)
    total = sum(len(src) for src, _ in sources)
    out: list[list[int]] = []
    for idx in levels.values():
        size = sum(len(sources[i][0]) for i in idx)
        n = max(1, min(cores, len(idx), round(cores * size / total), size // BATCH_MIN_CHARS))
        bins: list[tuple[int, list[int]]] = [(0, []) for _ in range(n)]
        for i in sorted(idx, key=lambda i: -len(sources[i][0])):
            k = min(range(n), key=lambda j: bins[j][0])
            bins[k] = (bins[k][0] + len(sources[i][0]), bins[k][1] + [i])
        out.extend(sorted(b) for _, b in bins if b)
    return out


class CPUDevice(Device):
    """C via `cc`; kernels use every core through OpenMP."""

    name = "CPU"

    def render(self, prg: Program) -> str:
        return render_c(prg)

    def compile(self, src: str, name: str) -> Any:
        return _Kernel(_build_library(src, name), name)

    def compile_batch(self, sources: list[tuple[str, str]]) -> list[Any]:
        """The new kernels of one schedule in few translation units (a compiler process costs about 40 ms whatever
        the kernel; four small kernels compile together in a third of the time): one batch per optimization level
        and core, of about equal size, compiled in parallel. The prelude is written once per batch and each kernel's
        function gets a name unique in it."""
        if len(sources) < 2 or not all(src.startswith(PRELUDE) for src, _ in sources):
            return [self.compile(src, name) for src, name in sources]
        batches = _batches(sources, _cores())
        with ThreadPoolExecutor(max_workers=len(batches)) as pool:
            done = list(pool.map(lambda b: self._compile_together([(i, *sources[i]) for i in b]), batches))
        out: list[Any] = [None] * len(sources)
        for batch, compiled in zip(batches, done):
            for i, k in zip(batch, compiled):
                out[i] = k
        return out

    def _compile_together(self, batch: list[tuple[int, str, str]]) -> list[Any]:
        if len(batch) == 1:
            return [self.compile(batch[0][1], batch[0][2])]
        symbols = [f"{name}_b{i}" for i, _, name in batch]
        parts = [PRELUDE]
        for (_, src, name), sym in zip(batch, symbols):
            body = src[len(PRELUDE):]
            at = body.find(f" {name}(")
            parts.append(body[:at] + f" {sym}(" + body[at + len(name) + 2:])
        try:
            lib = _build_library("".join(parts), "batch")
        except CompileError:
            return [self.compile(src, name) for _, src, name in batch]  # the error names its own kernel
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
