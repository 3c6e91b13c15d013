"""The LLVM device: renders LLVM IR, optimizes it at O2 and JIT-compiles it in process with llvmlite.

`LLVM_OPT` (environment, or engine.runtime.llvm.OPT_LEVEL) sets the optimization level, 0 to 3 (default 2): at 0 a
typical kernel compiles in about 1.5 ms instead of 25 ms (the graph fuzzer's base mode), at 2 the code is fast.

Compiled modules are added to one shared MCJIT execution engine per optimization level (a new engine costs about
1.6 ms, most of a small batch's compile); after ENGINE_KERNELS kernels a fresh engine takes over, and an old one is
freed with the last kernel compiled into it. Every kernel's function gets a name unique in the process (the engine
resolves names across its modules). Buffers are passed as raw pointers to the flat numpy arrays, followed by one i64
per DEFINE_VAR (by keyword, in program order).
"""

from __future__ import annotations

import ctypes
import itertools
import os
from typing import Any, Callable

import llvmlite.binding as llvm
import numpy as np

from engine.codegen.program import Program
from engine.device import CompileError, Device, register_device
from engine.renderer.llvm import render_llvm
from engine.runtime.cpu import param_count
from engine.uop import Ops

OPT_LEVEL = int(os.environ.get("LLVM_OPT", "2"))
ENGINE_KERNELS = 512  # kernels one shared execution engine takes before a fresh one starts
_HOST: list[tuple[Any, str, str]] = []  # (target, cpu name, features) of this host, looked up once
_ENGINES: dict[int, list[Any]] = {}  # optimization level -> [engine, its target machine, kernels added to it]
_SERIAL = itertools.count()  # makes every kernel's function name unique in the process


def _target_machine(opt: int | None = None) -> Any:
    """A new host target machine for an optimization level (llvmlite >= 0.45 initializes LLVM itself).

    Never shared between engines: an MCJIT execution engine takes ownership of its target machine and frees it
    with itself, so a machine cached across engines is freed under the others once one compiled kernel is
    dropped (the next compile then crashed the process). A shared engine's own machine serves the modules added
    to it, for as long as it lives."""
    opt = OPT_LEVEL if opt is None else opt
    if not 0 <= opt <= 3:
        raise ValueError(f"LLVM optimization level must be 0 to 3, got {opt}")
    if not _HOST:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        _HOST.append((llvm.Target.from_default_triple(), llvm.get_host_cpu_name(),
                      llvm.get_host_cpu_features().flatten()))
    target, cpu, features = _HOST[0]
    return target.create_target_machine(cpu=cpu, features=features, opt=opt, jit=True)


class _Compiled:
    """A JIT-compiled kernel: the engine that owns the code (shared with other kernels) and the function's address."""

    def __init__(self, engine: Any, address: int, src: str) -> None:
        self.engine, self.address, self.src = engine, address, src


def _symbol(name: str) -> str:
    return name.replace('"', "_")


def _parse(src: str, name: str, symbol: str) -> Any:
    """The verified module of a kernel's IR, its function renamed to `symbol`."""
    mod = llvm.parse_assembly(src.replace(f'define void @"{_symbol(name)}"(', f'define void @"{symbol}"(', 1))
    mod.verify()
    return mod


def _jit(mod: Any, opt: int, kernels: int) -> Any:
    """Optimize (at `opt`) a parsed module of `kernels` kernels and JIT-compile it into the shared engine of that
    level (a fresh one once the current one holds ENGINE_KERNELS kernels)."""
    slot = _ENGINES.get(opt)
    if slot is None or slot[2] >= ENGINE_KERNELS:
        tm = _target_machine(opt)
        slot = _ENGINES[opt] = [llvm.create_mcjit_compiler(llvm.parse_assembly(""), tm), tm, 0]
    engine, tm = slot[0], slot[1]
    if opt:
        pass_builder = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=opt))
        pass_builder.getModulePassManager().run(mod, pass_builder)
    engine.add_module(mod)
    engine.finalize_object()
    slot[2] += kernels
    return engine


def _address(engine: Any, symbol: str, name: str, src: str) -> int:
    address = engine.get_function_address(symbol)
    if not address:
        raise CompileError(f"LLVM compiled kernel {name} but found no function of that name\n{src}")
    return int(address)


def compile_llvm(src: str, name: str, opt: int | None = None) -> _Compiled:
    """Parse, verify, optimize (OPT_LEVEL unless `opt` is given) and JIT-compile LLVM IR; CompileError names the
    kernel and carries the IR."""
    return compile_llvm_batch([(src, name)], opt)[0]


def compile_llvm_batch(sources: list[tuple[str, str]], opt: int | None = None) -> list[_Compiled]:
    """Several kernels linked into one module and JIT-compiled together: a third of the time of compiling them
    one by one (the fixed cost is most of a small kernel's). If the batch does not parse or verify, each kernel is
    compiled alone, so the error names its kernel."""
    opt = OPT_LEVEL if opt is None else opt
    if not 0 <= opt <= 3:
        raise ValueError(f"LLVM optimization level must be 0 to 3, got {opt}")
    symbols = [f"{_symbol(name)}.j{next(_SERIAL)}" for _, name in sources]
    try:
        linked = None
        for (src, name), sym in zip(sources, symbols):
            mod = _parse(src, name, sym)
            if linked is None:
                linked = mod
            else:
                linked.link_in(mod)
        if linked is None:
            return []
        engine = _jit(linked, opt, len(sources))
    except RuntimeError as e:
        if len(sources) == 1:
            raise CompileError(f"LLVM could not compile kernel {sources[0][1]}: {e}\n{sources[0][0]}") from e
        return [compile_llvm(src, name, opt) for src, name in sources]
    return [_Compiled(engine, _address(engine, sym, name, src), src) for (src, name), sym in zip(sources, symbols)]


class LLVMDevice(Device):
    """Kernels as LLVM IR, JIT-compiled in process."""

    name = "LLVM"

    def render(self, prg: Program) -> str:
        """LLVM IR text of the program."""
        return render_llvm(prg)

    def compile(self, src: str, name: str) -> _Compiled:
        """JIT-compile the IR at OPT_LEVEL (cached by source and level in Device.runners)."""
        return compile_llvm(src, name)

    def compile_batch(self, sources: list[tuple[str, str]]) -> list[_Compiled]:
        """The new kernels of one schedule, JIT-compiled together."""
        return compile_llvm_batch(sources)

    def cache_key(self, src: str) -> str:
        """The source and the optimization level."""
        return f"; opt {OPT_LEVEL}\n{src}"

    def launcher(self, compiled: _Compiled, prg: Program) -> Callable[..., None]:
        """A callable(*buffers, **variable values) that runs the kernel on flat numpy buffers."""
        variables = [u.arg for u in prg.uops if u.op is Ops.DEFINE_VAR]
        nparams = param_count(prg)
        used = {u.arg: (u.dtype.scalar, u.dtype.size) for u in prg.uops if u.op is Ops.DEFINE_GLOBAL}
        argtypes = [ctypes.c_void_p] * nparams + [ctypes.c_int64] * len(variables)
        fn = ctypes.CFUNCTYPE(None, *argtypes)(compiled.address)

        def launch(*bufs: np.ndarray, **var_vals: int) -> None:
            if len(bufs) < nparams:
                raise ValueError(f"kernel {prg.name}: expected {nparams} buffers, got {len(bufs)}")
            for pos, (dt, size) in used.items():
                buf = bufs[pos]
                if buf.dtype != dt.np or not buf.flags.c_contiguous or buf.size < size:
                    raise ValueError(f"kernel {prg.name}: buffer {pos} must be a contiguous {dt.name} array of at "
                                     f"least {size} elements, got {buf.dtype} {buf.shape}")
            values = []
            for name, lo, hi in variables:
                if name not in var_vals or not lo <= var_vals[name] <= hi:
                    raise ValueError(f"kernel {prg.name}: variable {name} needs a value in [{lo}, {hi}]")
                values.append(var_vals[name])
            fn(*(buf.ctypes.data for buf in bufs[:nparams]), *values)
        launch.compiled = compiled  # type: ignore[attr-defined]  # the engine owns the code: keep it alive
        return launch


register_device("LLVM", LLVMDevice)
