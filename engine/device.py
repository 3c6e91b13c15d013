"""Devices: one small interface shared by every backend (allocator, compiler, program launch).

A device renders a `Program` (engine/codegen/program.py) to source, compiles it (cached by source) and
returns a runner that launches it on buffers. CPU-family devices (CPU, LLVM, PYTHON) keep buffers in host
memory as flat numpy arrays.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections import OrderedDict
from typing import Any, Callable

import numpy as np

from engine.codegen.program import Program
from engine.dtype import DType


class CompileError(Exception):
    """A backend compiler rejected generated code; the message names the kernel and carries its source."""


class DeviceUnavailable(RuntimeError):
    """A device's backend is installed but cannot run here (no GPU, no OpenCL platform); the message says why."""


class GuardError(RuntimeError):
    """A kernel wrote outside a buffer: a guard zone around it was overwritten."""


GUARD_BYTES = 64  # each side; keeps the data as aligned as numpy's own allocations
GUARD_FILL = 0xA5


class Allocator:
    """Host-memory buffers as flat numpy arrays. With `guard` on (engine.realize.guard_zones(), or GUARD=1), each
    buffer sits between two zones of GUARD_FILL bytes that realize checks after every kernel."""

    guard = os.environ.get("GUARD", "0") not in ("", "0")

    def alloc(self, dtype: DType, size: int) -> np.ndarray:
        if not Allocator.guard:
            return np.zeros(size, dtype=dtype.np)
        n = size * dtype.np.itemsize
        raw = np.full(n + 2 * GUARD_BYTES, GUARD_FILL, np.uint8)
        raw[GUARD_BYTES:GUARD_BYTES + n] = 0
        return raw[GUARD_BYTES:GUARD_BYTES + n].view(dtype.np)

    def copyin(self, buf: np.ndarray, data: np.ndarray) -> None:
        buf[...] = data.reshape(-1).astype(buf.dtype, copy=False)

    def copyout(self, buf: np.ndarray) -> np.ndarray:
        return buf.copy()


def guard_violation(arr: np.ndarray) -> str | None:
    """Which guard zone of a guarded buffer was overwritten ("below" / "above"), None if intact or unguarded."""
    raw = arr.base
    while raw is not None and not (raw.dtype == np.uint8 and raw.size == arr.nbytes + 2 * GUARD_BYTES):
        raw = raw.base
    if raw is None:
        return None
    if (raw[:GUARD_BYTES] != GUARD_FILL).any():
        return "below"
    if (raw[GUARD_BYTES + arr.nbytes:] != GUARD_FILL).any():
        return "above"
    return None


class Device(ABC):
    """A backend: renderer + compiler + launcher over an allocator."""

    name: str = ""
    gpu: bool = False  # kernels get the GPU shape (engine/codegen/gpu.py: launch indices, LOCAL and GROUP opts)
    fork_safe: bool = True  # False: its driver (CUDA, an OpenCL platform) cannot be used by a fork of a process that
    # started it: the fork's calls hang or fail, so the device is unavailable there (a fork that never saw it starts
    # its own)

    # compiled programs kept, least recently used dropped first: a campaign worker builds kernels for hours, and a
    # cache that only grows ends in a false out-of-memory verdict (and makes every fork of the process slower)
    compile_cache_size: int = 1024

    def __init__(self) -> None:
        self.allocator = Allocator()
        self._compiled: OrderedDict[str, Any] = OrderedDict()

    @abstractmethod
    def render(self, prg: Program) -> str:
        """Source code of the program for this backend."""

    @abstractmethod
    def compile(self, src: str, name: str) -> Any:
        """Compile source to a loadable object (called once per distinct source)."""

    @abstractmethod
    def launcher(self, compiled: Any, prg: Program) -> Callable[..., None]:
        """A callable that runs the compiled program on flat numpy buffers (one per DEFINE_GLOBAL, in order)."""

    def cache_key(self, src: str) -> str:
        """What a compiled program is cached under: its source, plus any setting that changes the code."""
        return src

    def compile_batch(self, sources: list[tuple[str, str]]) -> list[Any]:
        """Compile several (source, name) pairs at once; a backend whose compiles have a large fixed cost (a
        compiler process, a JIT engine) overrides this to compile them together."""
        return [self.compile(src, name) for src, name in sources]

    def runners(self, prgs: list[Program]) -> list[Callable[..., None]]:
        """Render, compile (cached by source; the new ones in one batch) and load several programs."""
        keys = []
        todo: dict[str, tuple[str, str]] = {}
        cache = self._compiled
        for prg in prgs:
            src = self.render(prg)
            key = self.cache_key(src)
            keys.append(key)
            if key in cache:
                cache.move_to_end(key)
            elif key not in todo:
                todo[key] = (src, prg.name)
        found = {key: cache[key] for key in keys if key in cache}  # kept for this call whatever gets evicted
        if todo:
            found.update(zip(todo, self.compile_batch(list(todo.values()))))
            cache.update((key, found[key]) for key in todo)
            while len(cache) > self.compile_cache_size:
                cache.popitem(last=False)
        return [self.launcher(found[key], prg) for key, prg in zip(keys, prgs)]

    def runner(self, prg: Program) -> Callable[..., None]:
        """Render, compile (cached by source) and load a program."""
        return self.runners([prg])[0]


_DEVICES: dict[str, Callable[[], Device]] = {}
_INSTANCES: dict[str, Device] = {}
_FORKED_AWAY: set[str] = set()  # backends whose driver this process's parent started before forking it


def _after_fork_in_child() -> None:
    for name, dev in list(_INSTANCES.items()):
        if not dev.fork_safe:
            del _INSTANCES[name]
            _FORKED_AWAY.add(split_device(name)[0])


os.register_at_fork(after_in_child=_after_fork_in_child)


def register_device(name: str, factory: Callable[[], Device]) -> None:
    """Make a device available under `name` (upper case)."""
    _DEVICES[name.upper()] = factory


def get_device(name: str | None = None) -> Device:
    """The device called `name`, or the default (`DEVICE=` in the environment, else CPU). `NAME:i` is instance i of
    a backend, with its own buffers (`CPU:1`); `NAME` is `NAME:0`."""
    name = (name or os.environ.get("DEVICE") or "CPU").upper()
    dev = _INSTANCES.get(name)
    if dev is None:
        canon = canonical_device(name)
        if canon not in _INSTANCES:
            base, idx = split_device(canon)
            if base in _FORKED_AWAY:
                raise DeviceUnavailable(f"{canon}: its driver was started by the parent of this forked process, "
                                        "and a fork cannot use it (a process that forks before using it can)")
            inst = _INSTANCES[canon] = _DEVICES[base]()
            inst.name = canon  # an instance's name: CPU, CPU:1, ...
            if idx and not inst.gpu:  # host code runs on any instance of its backend: compile it once for all
                inst._compiled = get_device(base)._compiled
        dev = _INSTANCES[name] = _INSTANCES[canon]
    return dev


def split_device(name: str) -> tuple[str, int]:
    """(backend, index) of a device name: "CPU:1" -> ("CPU", 1), "CPU" -> ("CPU", 0); ValueError if the index is
    not a non-negative integer."""
    base, colon, idx = name.upper().partition(":")
    if not colon:
        return base, 0
    if not idx.isdigit():
        raise ValueError(f"device {name!r}: the index after ':' must be a non-negative integer")
    return base, int(idx)


def available(name: str) -> bool:
    """Whether the device `name` can run here (LLVM needs llvmlite; CUDA a GPU and cuda-bindings; OPENCL pyopencl
    and a platform)."""
    try:
        get_device(name)
    except (ValueError, ImportError, DeviceUnavailable):
        return False
    return True


def default_device() -> str:
    """The name of the default device."""
    return (os.environ.get("DEVICE") or "CPU").upper()


_CANONICAL: dict[str, str] = {}  # names already checked -> their canonical (upper-case) form


def canonical_device(name: str | None = None) -> str:
    """The upper-case name of a known device (None: the default), `NAME:0` written `NAME`; ValueError naming it and
    the known ones."""
    if name is None:
        name = default_device()
    got = _CANONICAL.get(name) if isinstance(name, str) else None
    if got is not None:
        return got
    if not isinstance(name, str):
        raise TypeError(f"device must be a device name (str), got {type(name).__name__}")
    _load_builtin()
    base, idx = split_device(name)
    if base not in _DEVICES:
        raise ValueError(f"unknown device {name!r}; known: {', '.join(sorted(_DEVICES))} (each as NAME or NAME:i)")
    _CANONICAL[name] = base if idx == 0 else f"{base}:{idx}"
    return _CANONICAL[name]


def _load_builtin() -> None:
    import importlib

    # the GPU runtimes import their packages when a device is made (DeviceUnavailable without them)
    for mod in ("engine.runtime.cpu", "engine.runtime.llvm", "engine.runtime.python", "engine.runtime.cuda",
                "engine.runtime.opencl"):
        try:
            importlib.import_module(mod)
        except ImportError as e:
            if e.name != "llvmlite":
                raise  # only the optional llvmlite may be missing; anything else is a bug to see
