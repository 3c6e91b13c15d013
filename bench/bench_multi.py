"""Multi-device tensors on CPU devices (engine/multi.py): the all-reduce's bandwidth, and an elementwise + reduce
workload on 1 vs 2 devices against numpy on one, in one run.

Usage: python bench/bench_multi.py [--numel N] [--repeat R] [--device CPU]
Each figure is the best of R runs of an already built schedule (kernels compiled, buffers allocated): only the
kernels and the transfers run. The devices of one schedule run one after another in this process, so "2 devices"
measures the cost of splitting (the copies, the smaller kernels), not parallel speed-up; each CPU kernel itself
uses every core through OpenMP.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from typing import Any, Callable

import numpy as np

from engine.multi import allreduce
from engine.realize import _build, _run, schedule_tensors
from engine.tensor import Tensor
from engine.uop import Ops


def _best(fn: Callable[[], Any], repeat: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _runner(tensors: list[Tensor], device: str) -> Callable[[], None]:
    """Build the schedule of `tensors` once; each call runs its kernels and copies again on the same buffers."""
    built = _build(schedule_tensors(*tensors), device, "default")
    return lambda: _run(built, device)


def bench_allreduce(numel: int, ndev: int, strategy: str, base: str, repeat: int) -> tuple[float, int]:
    """Seconds per all-reduce of `numel` float32 per device, and how many copies it makes."""
    devs = [base if i == 0 else f"{base}:{i}" for i in range(ndev)]
    parts = [Tensor(np.random.default_rng(i).standard_normal(numel).astype(np.float32), device=d)
             for i, d in enumerate(devs)]
    outs = allreduce(parts, Ops.ADD, strategy)
    copies = sum(it.is_copy for it in schedule_tensors(*outs))
    return _best(_runner(outs, base), repeat), copies


def bench_workload(numel: int, ndev: int, base: str, repeat: int) -> float:
    """Seconds for sum(sqrt(x*x + 1) * 0.5, axis 0) of a (rows, 256) float32 tensor split on rows over `ndev`."""
    x = np.random.default_rng(0).standard_normal((numel // 256, 256)).astype(np.float32)
    if ndev == 1:
        t = Tensor(x, device=base)
        out = [((t * t + 1).sqrt() * 0.5).sum(0)]
    else:
        m = Tensor(x, device=base).shard([base if i == 0 else f"{base}:{i}" for i in range(ndev)], 0).realize()
        r = ((m * m + 1).sqrt() * 0.5).sum(0)
        out = r.shards
    return _best(_runner(out, base), repeat)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--numel", type=int, default=1 << 22, help="float32 elements per device (all-reduce) / total")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--device", default="CPU")
    a = ap.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {a.device}, "
          f"{a.numel} float32 ({a.numel * 4 / 2**20:.0f} MiB), best of {a.repeat}, {time.strftime('%Y-%m-%d %H:%M')}")
    print("\nall-reduce (sum)   devices  copies      ms   GB/s (bytes reduced per device / time)")
    for strategy in ("ring", "naive"):
        for n in (2, 4):
            s, copies = bench_allreduce(a.numel, n, strategy, a.device, a.repeat)
            print(f"  {strategy:16s} {n:7d} {copies:7d} {s * 1e3:7.2f} {a.numel * 4 / s / 1e9:6.2f}")
    x = np.random.default_rng(0).standard_normal((a.numel // 256, 256)).astype(np.float32)
    t_np = _best(lambda: (np.sqrt(x * x + 1) * np.float32(0.5)).sum(0), a.repeat)
    print("\nsum(sqrt(x*x+1)*0.5, 0)        ms   vs numpy")
    print(f"  numpy, one core-set  {t_np * 1e3:9.2f}   1.00")
    for n in (1, 2):
        s = bench_workload(a.numel, n, a.device, a.repeat)
        print(f"  engine, {n} device{'s' if n > 1 else ' '}     {s * 1e3:9.2f}   {s / t_np:4.2f}")


if __name__ == "__main__":
    main()
