"""Run schedules: build each kernel's program, launch it on its device, and record what became a buffer.

Every kernel of a schedule is built (opts applied, compiled) before any of them runs: an `OptError` for an opt
that does not fit, or a `CompileError`, leaves every buffer and tensor as it was.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator, Union

from engine.codegen.kernel import Opt, build_kernel
from engine.device import get_device
from engine.rangeify import ScheduleItem, schedule
from engine.uop import UOp

if TYPE_CHECKING:
    from engine.tensor import Tensor

DEBUG = int(os.environ.get("DEBUG", "0"))

# opts for every kernel: "default" (the heuristic), None/[] (none), a list of Opt, or a function of each kernel's
# (ast, name) returning one of those
OptsSpec = Union[str, None, list[Opt], Callable[[UOp, str], Union[str, None, list[Opt]]]]

_CAPTURES: list[list[dict[str, Any]]] = []  # the lists of the capture_kernels() blocks now open


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


def _json_amount(a: Any) -> Any:
    return list(a) if isinstance(a, tuple) else a


def run_schedule(items: list[ScheduleItem], device: str, opts: OptsSpec = "default") -> None:
    """Compile and run kernels in order; DEBUG=1 prints one line per kernel, DEBUG=2 also the source.

    A callable `opts` is called once per kernel with (ast, name). All kernels are built before any runs, so an
    OptError (an opt that does not fit) or CompileError propagates to the caller with nothing written."""
    dev = get_device(device)
    built = []
    for item in items:
        k = build_kernel(item.ast, item.name, opts(item.ast, item.name) if callable(opts) else opts)
        prg = k.to_program()
        built.append((item, prg, dev.runner(prg), k.applied))
    for item, prg, runner, applied in built:
        t0 = time.perf_counter()
        runner(*[b.data for b in item.bufs])
        for log in _CAPTURES:
            log.append({"name": item.name, "device": dev.name, "shape": list(item.shape),
                        "opts": [[o.op, o.axis, _json_amount(o.amount)] for o in applied], "fused": item.fused,
                        "bufs": len(item.bufs)})
        if DEBUG >= 1:
            ms = (time.perf_counter() - t0) * 1e3
            print(f"{dev.name:6s} {item.name:24s} out {item.shape} bufs {len(item.bufs)} {ms:8.3f} ms")
        if DEBUG >= 2:
            print(dev.render(prg))


def realize(tensors: list[Tensor], fuse: bool | None = None, opts: OptsSpec = "default") -> None:
    """Compute tensors; afterwards each one's UOp is a buffer view. fuse=None: the FUSE environment variable
    (engine.rangeify.fuse_default); opts: as run_schedule's. On an OptError the tensors stay unrealized."""
    from engine.tensor import REALIZED

    if not tensors:
        return
    device = tensors[0].device
    roots = [t.uop for t in tensors]
    items, views = schedule(roots, device, dict(REALIZED), fuse)
    run_schedule(items, device, opts)
    for t in tensors:
        v = views[t.uop]
        REALIZED[t.uop] = v
        t.uop = v


def schedule_tensors(*tensors: Tensor, fuse: bool | None = None) -> list[ScheduleItem]:
    """The kernels that would compute these tensors (inspectable; nothing runs)."""
    from engine.tensor import REALIZED

    return schedule([t.uop for t in tensors], tensors[0].device, dict(REALIZED), fuse)[0]
