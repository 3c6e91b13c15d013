"""The LLVM device: renders LLVM IR, optimizes it at O2 and JIT-compiles it in process with llvmlite.

`LLVM_OPT` (environment, or engine.runtime.llvm.OPT_LEVEL) sets the optimization level, 0 to 3 (default 2): at 0 a
typical kernel compiles in about 1.5 ms instead of 25 ms (the graph fuzzer's base mode), at 2 the code is fast.

One MCJIT execution engine per compiled module (kept alive by the compiled object). Buffers are passed as raw
pointers to the flat numpy arrays, followed by one i64 per DEFINE_VAR (by keyword, in program order).
"""

from __future__ import annotations

import ctypes
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
_HOST: list[tuple[Any, str, str]] = []  # (target, cpu name, features) of this host, looked up once


def _target_machine(opt: int | None = None) -> Any:
    """A new host target machine for an optimization level (llvmlite >= 0.45 initializes LLVM itself).

    Never shared between compiles: an MCJIT execution engine takes ownership of its target machine and frees it
    with itself, so a machine cached across engines is freed under the others once one compiled kernel is
    dropped (the next compile then crashed the process). A new one costs about 0.2 ms."""
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
    """A JIT-compiled kernel: the engine that owns the code (shared by the kernels of one batch) and the function's
    address."""

    def __init__(self, engine: Any, address: int, src: str) -> None:
        self.engine, self.address, self.src = engine, address, src


def _symbol(name: str) -> str:
    return name.replace('"', "_")


def _jit(mod: Any, opt: int) -> Any:
    """Optimize (at `opt`) and JIT-compile a parsed module into a new execution engine."""
    tm = _target_machine(opt)
    if opt:
        pass_builder = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=opt))
        pass_builder.getModulePassManager().run(mod, pass_builder)
    engine = llvm.create_mcjit_compiler(mod, tm)
    engine.finalize_object()
    return engine


def _address(engine: Any, symbol: str, name: str, src: str) -> int:
    address = engine.get_function_address(symbol)
    if not address:
        raise CompileError(f"LLVM compiled kernel {name} but found no function of that name\n{src}")
    return int(address)


def compile_llvm(src: str, name: str, opt: int | None = None) -> _Compiled:
    """Parse, verify, optimize (OPT_LEVEL unless `opt` is given) and JIT-compile LLVM IR; CompileError names the
    kernel and carries the IR."""
    opt = OPT_LEVEL if opt is None else opt
    try:
        mod = llvm.parse_assembly(src)
        mod.verify()
        engine = _jit(mod, opt)
    except RuntimeError as e:
        raise CompileError(f"LLVM could not compile kernel {name}: {e}\n{src}") from e
    return _Compiled(engine, _address(engine, _symbol(name), name, src), src)


def compile_llvm_batch(sources: list[tuple[str, str]], opt: int | None = None) -> list[_Compiled]:
    """Several kernels linked into one module and JIT-compiled by one engine: a third of the time of compiling them
    one by one (the engine's fixed cost is most of a small kernel's). Each kernel's function gets a name unique in
    the batch (two kernels may share a name). If the batch does not compile, each is compiled alone, so the error
    names its kernel."""
    opt = OPT_LEVEL if opt is None else opt
    if len(sources) < 2:
        return [compile_llvm(src, name, opt) for src, name in sources]
    symbols = [f"{_symbol(name)}.b{i}" for i, (_, name) in enumerate(sources)]
    try:
        linked = None
        for (src, name), sym in zip(sources, symbols):
            mod = llvm.parse_assembly(src.replace(f'define void @"{_symbol(name)}"(', f'define void @"{sym}"(', 1))
            mod.verify()
            if linked is None:
                linked = mod
            else:
                linked.link_in(mod)
        engine = _jit(linked, opt)
    except RuntimeError:
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
