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
_TARGET_MACHINES: dict[int, Any] = {}


def _target_machine(opt: int | None = None) -> Any:
    """The host target machine for an optimization level, created once each (llvmlite >= 0.45 initializes LLVM
    itself)."""
    opt = OPT_LEVEL if opt is None else opt
    if opt not in _TARGET_MACHINES:
        if not 0 <= opt <= 3:
            raise ValueError(f"LLVM optimization level must be 0 to 3, got {opt}")
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        target = llvm.Target.from_default_triple()
        _TARGET_MACHINES[opt] = target.create_target_machine(cpu=llvm.get_host_cpu_name(),
                                                             features=llvm.get_host_cpu_features().flatten(),
                                                             opt=opt, jit=True)
    return _TARGET_MACHINES[opt]


class _Compiled:
    """A JIT-compiled kernel: the engine that owns the code and the function's address."""

    def __init__(self, engine: Any, address: int, src: str) -> None:
        self.engine, self.address, self.src = engine, address, src


def compile_llvm(src: str, name: str, opt: int | None = None) -> _Compiled:
    """Parse, verify, optimize (OPT_LEVEL unless `opt` is given) and JIT-compile LLVM IR; CompileError names the
    kernel and carries the IR."""
    opt = OPT_LEVEL if opt is None else opt
    tm = _target_machine(opt)
    try:
        mod = llvm.parse_assembly(src)
        mod.verify()
        if opt:
            pass_builder = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=opt))
            pass_builder.getModulePassManager().run(mod, pass_builder)
        engine = llvm.create_mcjit_compiler(mod, tm)
        engine.finalize_object()
    except RuntimeError as e:
        raise CompileError(f"LLVM could not compile kernel {name}: {e}\n{src}") from e
    address = engine.get_function_address(name.replace('"', "_"))
    if not address:
        raise CompileError(f"LLVM compiled kernel {name} but found no function of that name\n{src}")
    return _Compiled(engine, address, src)


class LLVMDevice(Device):
    """Kernels as LLVM IR, JIT-compiled in process."""

    name = "LLVM"

    def render(self, prg: Program) -> str:
        """LLVM IR text of the program."""
        return render_llvm(prg)

    def compile(self, src: str, name: str) -> _Compiled:
        """JIT-compile the IR at OPT_LEVEL (cached by source and level in Device.runner)."""
        return compile_llvm(src, name)

    def runner(self, prg: Program) -> Callable[..., None]:
        """As Device.runner, with the optimization level in the cache key."""
        src = self.render(prg)
        key = f"; opt {OPT_LEVEL}\n{src}"
        if key not in self._compiled:
            self._compiled[key] = self.compile(src, prg.name)
        return self.launcher(self._compiled[key], prg)

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
