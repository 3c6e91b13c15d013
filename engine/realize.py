"""Run schedules: build each kernel's program, launch it on its device, and record what became a buffer.

Every kernel of a schedule is built (opts applied, compiled) before any of them runs: an `OptError` for an opt
that does not fit, or a `CompileError`, leaves every buffer and tensor as it was.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator, Union

from engine.buffer import Buffer
from engine.codegen.kernel import Opt, build_kernel
from engine.device import Allocator, GuardError, get_device, guard_violation
from engine.rangeify import ScheduleItem, assign_target, schedule
from engine.uop import Ops, UOp

if TYPE_CHECKING:
    from engine.tensor import Tensor

DEBUG = int(os.environ.get("DEBUG", "0"))

# opts for every kernel: "default" (the heuristic), None/[] (none), a list of Opt, or a function of each kernel's
# (ast, name) returning one of those
OptsSpec = Union[str, None, list[Opt], Callable[[UOp, str], Union[str, None, list[Opt]]]]

_CAPTURES: list[list[dict[str, Any]]] = []  # the lists of the capture_kernels() blocks now open
_PROGRAMS: list[_Shared] = []  # the caches of the program_cache() blocks now open


@contextmanager
def capture_kernels() -> Iterator[list[dict[str, Any]]]:
    """Within the block, every kernel run appends a JSON-able record to the yielded list: name, device, shape,
    opts (the opts applied, as [op, axis, amount]; the heuristic's resolved list for "default"), fused (whether its
    schedule fused) and bufs (how many buffers it takes)."""
    log: list[dict[str, Any]] = []
    _CAPTURES.append(log)
    try:
        yield log
    finally:
        del _CAPTURES[next(i for i, x in enumerate(_CAPTURES) if x is log)]


@contextmanager
def guard_zones(on: bool = True) -> Iterator[None]:
    """Within the block, buffers allocated get guard zones, checked after every kernel (GuardError names the
    kernel and the buffer): an out-of-bounds write on CPU or LLVM is seen, as the PYTHON device sees every one."""
    old = Allocator.guard
    Allocator.guard = on
    try:
        yield
    finally:
        Allocator.guard = old


class _Shared:
    """What the kernels built in one program_cache() block share: Programs by (AST, name, GPU or not, applied opts),
    the built kernels' (Program, applied opts) by (AST, name, opts asked for, GPU or not, tensor cores), and loaded
    runners by (device, Program, the device's code settings: Device.cache_key of an empty source)."""

    def __init__(self) -> None:
        self.programs: dict[tuple[Any, ...], Any] = {}
        self.kernels: dict[tuple[Any, ...], tuple[Any, list[Opt]]] = {}
        self.runners: dict[tuple[Any, ...], tuple[Any, Any]] = {}  # value: (Program, runner): the Program kept alive


@contextmanager
def program_cache() -> Iterator[None]:
    """Within the block, a kernel with the same AST, name and applied opts as one built before in it reuses that
    Program: codegen is a function of those three and of whether the device is a GPU (the graph fuzzer's modes of
    one case share most kernels); the same AST and name asked for with the same opts skip building the kernel (the
    heuristic, the opts' checks), and a Program loaded before on the same device with the same code settings (an
    LLVM optimization level) reuses its runner (no render, no compile-cache lookup). Scoped to a block so that code
    changed between blocks (a planted bug, a fix) is always run."""
    cache = _Shared()
    _PROGRAMS.append(cache)
    try:
        yield
    finally:
        del _PROGRAMS[next(i for i, x in enumerate(_PROGRAMS) if x is cache)]


def _json_amount(a: Any) -> Any:
    return list(a) if isinstance(a, tuple) else a


def run_schedule(items: list[ScheduleItem], device: str, opts: OptsSpec = "default") -> None:
    """Compile and run kernels in order; DEBUG=1 prints one line per kernel, DEBUG=2 also the source.

    A callable `opts` is called once per kernel with (ast, name). All kernels are built before any runs, so an
    OptError (an opt that does not fit) or CompileError propagates to the caller with nothing written."""
    _run(_build(items, device, opts), device)


def _opts_key(spec: Any) -> Any:
    """A hashable form of the opts asked for a kernel ("default", none, a list of Opt), None if there is none."""
    if isinstance(spec, str) or not spec:
        return spec or ()
    try:
        key = tuple(spec)
        hash(key)
    except TypeError:
        return None
    return key


def _kernel(item: ScheduleItem, dev: Any, spec: Any, cache: _Shared | None) -> tuple[Any, list[Opt]]:
    """The Program of a kernel and the opts applied to it, shared with earlier builds in the program_cache block."""
    gpu, tc = dev.gpu, getattr(dev, "tensor_cores", ())  # tc: the shapes of Opt TC (engine/codegen/tc.py)
    asked = _opts_key(spec) if cache is not None else None
    kkey = (item.ast, item.name, asked, gpu, tc)
    if cache is not None and asked is not None and (hit := cache.kernels.get(kkey)) is not None:
        return hit
    k = build_kernel(item.ast, item.name, spec, gpu, tc)
    key = (item.ast, item.name, (gpu, *k.applied))
    prg = cache.programs.get(key) if cache is not None else None
    if prg is None:
        prg = k.to_program()
        if cache is not None:
            cache.programs[key] = prg
    if cache is not None and asked is not None:
        cache.kernels[kkey] = (prg, k.applied)
    return prg, k.applied


def _runners(name: str, prgs: list[Any], cache: _Shared | None) -> list[Any]:
    """Runners of programs on device `name`: the new ones compiled in one batch, those loaded before in the
    program_cache block on this device with the same code settings reused."""
    dev = get_device(name)
    if cache is None:
        return dev.runners(prgs)
    settings = dev.cache_key("")  # what the device adds to a source's cache key: its settings that change the code
    keys = [(name, id(prg), settings) for prg in prgs]
    new = [prg for prg, key in zip(prgs, keys) if key not in cache.runners]
    for prg, run in zip(new, dev.runners(new) if new else []):
        cache.runners[(name, id(prg), settings)] = (prg, run)
    return [cache.runners[key][1] for key in keys]


def _build(items: list[ScheduleItem], device: str, opts: OptsSpec) -> list[tuple[ScheduleItem, Any, Any, list]]:
    # outside a program_cache block the schedule's own kernels still share their builds: a model repeats a layer
    # (ResNet-50: 52 kernels, 28 different), and one build sees no code change
    cache = _PROGRAMS[-1] if _PROGRAMS else _Shared()
    programs: list[tuple[ScheduleItem, Any, list]] = []
    for item in items:
        if item.is_copy:  # a transfer: nothing to build
            programs.append((item, None, []))
            continue
        spec = opts(item.ast, item.name) if callable(opts) else opts
        programs.append((item, *_kernel(item, get_device(item.device or device), spec, cache)))
    runners: dict[int, Any] = {}
    for name in dict.fromkeys(item.device or device for item, prg, _ in programs if prg is not None):
        # the schedule's new kernels compile in one batch per device
        mine = [(i, prg) for i, (item, prg, _) in enumerate(programs)
                if prg is not None and (item.device or device) == name]
        runners.update(zip([i for i, _ in mine], _runners(name, [prg for _, prg in mine], cache)))
    return [(item, prg, runners.get(i), applied) for i, (item, prg, applied) in enumerate(programs)]


def _copy(item: ScheduleItem) -> None:
    """A transfer: the destination device's allocator takes what the source's gives out."""
    dst, src = item.bufs
    get_device(dst.device).allocator.copyin(dst.data, get_device(src.device).allocator.copyout(src.data))


def _run(built: list[tuple[ScheduleItem, Any, Any, list]], device: str) -> None:
    for item, prg, runner, applied in built:
        dev = get_device(item.device or device)
        t0 = time.perf_counter()
        if item.is_copy:
            _copy(item)
        else:
            runner(*[b.data for b in item.bufs])
        if Allocator.guard:
            for pos, b in enumerate(item.bufs):
                if b.allocated and (side := guard_violation(b.data)) is not None:
                    raise GuardError(f"kernel {item.name} on {dev.name} wrote {side} buffer {pos} ({b}): an "
                                     f"out-of-bounds store")
        for log in _CAPTURES:
            log.append({"name": item.name, "device": dev.name, "shape": list(item.shape),
                        "opts": [[o.op, o.axis, _json_amount(o.amount)] for o in applied], "fused": item.fused,
                        "bufs": len(item.bufs)})
        if DEBUG >= 1:
            ms = (time.perf_counter() - t0) * 1e3
            print(f"{dev.name:6s} {item.name:24s} out {item.shape} bufs {len(item.bufs)} {ms:8.3f} ms")
        if DEBUG >= 2 and prg is not None:
            print(dev.render(prg))


def _protect_old_readers(assigns: set[UOp], scheduled: set[UOp]) -> None:
    """Before ASSIGNs overwrite their buffers: live tensors outside the schedule that read a buffer's old contents
    read a copy of it instead, those that read an ASSIGN read its buffer, and realized results that depend on the
    old contents are forgotten (an interned UOp over that buffer now means the new contents)."""
    from engine.rewrite import substitute
    from engine.tensor import live_tensors

    written = {assign_target(s) for s in assigns}
    old = {UOp(Ops.BUFFER, b.dtype, (), b): b for b in written}
    copies: dict[Buffer, UOp] = {}
    for t in live_tensors():
        if t.uop in scheduled:
            continue
        topo = t.uop.toposort
        hit = [u for u in old if u in topo]
        done = [s for s in assigns if s in topo]
        if not hit and not done:
            continue
        for u in hit:
            if old[u] not in copies:
                copy = Buffer(old[u].device, old[u].dtype, old[u].size)
                copy.data[...] = old[u].data
                copies[old[u]] = UOp(Ops.BUFFER, copy.dtype, (), copy)
        mapping = {u: copies[old[u]] for u in hit} | {s: s.src[0] for s in done}
        t.uop = substitute(t.uop, mapping)
    _forget_results_over(written)


def _forget_results_over(written: set[Buffer]) -> None:
    from engine.tensor import REALIZED

    for k, v in list(REALIZED.items()):
        base = v.src[0] if v.op is Ops.RESHAPE else v
        if base.arg in written or any(u.op is Ops.BUFFER and u.arg in written for u in k.toposort):
            REALIZED.pop(k, None)


def realize(tensors: list[Tensor], fuse: bool | None = None, opts: OptsSpec = "default") -> None:
    """Compute tensors; afterwards each one's UOp is a buffer view (an assigned tensor's: its own buffer).
    fuse=None: the FUSE environment variable (engine.rangeify.fuse_default); opts: as run_schedule's.
    On an OptError or CompileError nothing has run and the tensors are as they were."""
    from engine.tensor import PENDING_ASSIGN, REALIZED, live_tensors

    if not tensors:
        return
    device = tensors[0].device
    roots = [t.uop for t in tensors]
    items, views = schedule(roots, device, dict(REALIZED), fuse, [t.device for t in tensors])
    built = _build(items, device, opts)
    assigns = {i.root for i in items if i.root.op is Ops.ASSIGN}
    if assigns:
        _protect_old_readers(assigns, {r for r in roots if views[r] is not r})  # not: roots already buffer views
    _run(built, device)
    done = list(tensors)
    if assigns:  # another live tensor of a root (an interned UOp: `a + 1` written twice) would read the new contents
        mine, roots_set = {id(t) for t in tensors}, set(roots)
        done += [t for t in live_tensors() if id(t) not in mine and t.uop in roots_set]
    for t in done:
        if t.uop not in views:  # a buffer view of an overwritten buffer: now reads a copy of the old contents
            continue
        v = views[t.uop]
        # not a view mapped to itself: the weak key would be held by its own value, and its buffer never freed
        if t.uop.op is not Ops.ASSIGN and v is not t.uop:
            REALIZED[t.uop] = v
        t.uop = v
    if assigns:
        _forget_results_over({assign_target(s) for s in assigns})
        for s in assigns:
            if PENDING_ASSIGN.get(assign_target(s).uid) is s:
                del PENDING_ASSIGN[assign_target(s).uid]


def schedule_tensors(*tensors: Tensor, fuse: bool | None = None) -> list[ScheduleItem]:
    """The kernels that would compute these tensors (inspectable; nothing runs)."""
    from engine.tensor import REALIZED

    return schedule([t.uop for t in tensors], tensors[0].device, dict(REALIZED), fuse, [t.device for t in tensors])[0]
