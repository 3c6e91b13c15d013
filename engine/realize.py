"""Run schedules: build each kernel's program, launch it on its device, and record what became a buffer."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from engine.codegen.kernel import build_program
from engine.device import get_device
from engine.rangeify import ScheduleItem, schedule

if TYPE_CHECKING:
    from engine.tensor import Tensor

DEBUG = int(os.environ.get("DEBUG", "0"))


def run_schedule(items: list[ScheduleItem], device: str, opts: object = "default") -> None:
    """Compile and run kernels in order; DEBUG=1 prints one line per kernel, DEBUG=2 also the source."""
    dev = get_device(device)
    for item in items:
        prg = build_program(item.ast, item.name, opts)  # type: ignore[arg-type]
        runner = dev.runner(prg)
        t0 = time.perf_counter()
        runner(*[b.data for b in item.bufs])
        if DEBUG >= 1:
            ms = (time.perf_counter() - t0) * 1e3
            print(f"{dev.name:6s} {item.name:24s} out {item.shape} bufs {len(item.bufs)} {ms:8.3f} ms")
        if DEBUG >= 2:
            print(dev.render(prg))


def realize(tensors: list[Tensor]) -> None:
    """Compute tensors; afterwards each one's UOp is a buffer view."""
    from engine.tensor import REALIZED

    if not tensors:
        return
    device = tensors[0].device
    roots = [t.uop for t in tensors]
    items, views = schedule(roots, device, dict(REALIZED))
    run_schedule(items, device)
    for t in tensors:
        v = views[t.uop]
        REALIZED[t.uop] = v
        t.uop = v


def schedule_tensors(*tensors: Tensor) -> list[ScheduleItem]:
    """The kernels that would compute these tensors (inspectable; nothing runs)."""
    from engine.tensor import REALIZED

    return schedule([t.uop for t in tensors], tensors[0].device, dict(REALIZED))[0]
