"""Compile cost of a ResNet-50-sized forward graph: build (lazy), schedule, codegen, compile; nothing runs.

Usage: python bench/bench_resnet.py [--batch 64] [--compile]
Reference (the issue): tinygrad 0.14 on this kind of machine needs about 1.0 s to schedule and 7.9 s to generate
code for ResNet-50 at batch 64.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from engine.codegen.kernel import build_program
from engine.device import get_device
from engine.realize import schedule_tensors
from engine.spec import UNPROVEN
from engine.tensor import Tensor


class _Init:
    def __init__(self) -> None:
        self.rng = np.random.default_rng(0)
        self.params = 0

    def t(self, *shape: int) -> Tensor:
        self.params += int(np.prod(shape))
        return Tensor((self.rng.standard_normal(shape) * 0.05).astype(np.float32))


def _bn(x: Tensor, c: int, init: _Init) -> Tensor:
    return x.batchnorm(init.t(c), init.t(c).abs() + 1, init.t(c), init.t(c))


def _bottleneck(x: Tensor, cin: int, width: int, stride: int, init: _Init) -> Tensor:
    out = _bn(x.conv2d(init.t(width, cin, 1, 1)), width, init).relu()
    out = _bn(out.conv2d(init.t(width, width, 3, 3), stride=stride, padding=1), width, init).relu()
    out = _bn(out.conv2d(init.t(width * 4, width, 1, 1)), width * 4, init)
    if stride != 1 or cin != width * 4:
        x = _bn(x.conv2d(init.t(width * 4, cin, 1, 1), stride=stride), width * 4, init)
    return (out + x).relu()


def resnet50(x: Tensor, init: _Init) -> Tensor:
    """The ResNet-50 v1.5 forward graph (inference batchnorm)."""
    x = _bn(x.conv2d(init.t(64, 3, 7, 7), stride=2, padding=3), 64, init).relu().max_pool2d(3, 2, 1)
    cin = 64
    for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for i in range(blocks):
            x = _bottleneck(x, cin, width, stride if i == 0 else 1, init)
            cin = width * 4
    x = x.mean((2, 3))
    return x @ init.t(2048, 1000) + init.t(1000)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--compile", action="store_true", help="also compile every kernel with the C compiler")
    args = ap.parse_args()
    init = _Init()
    t0 = time.perf_counter()
    x = Tensor(np.zeros((args.batch, 3, 224, 224), np.float32))
    out = resnet50(x, init)
    t1 = time.perf_counter()
    items = schedule_tensors(out)
    t2 = time.perf_counter()
    programs = [build_program(it.ast, it.name) for it in items]
    t3 = time.perf_counter()
    dev = get_device("CPU")
    sources = [dev.render(p) for p in programs]
    t4 = time.perf_counter()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; ResNet-50 batch {args.batch}, "
          f"{init.params / 1e6:.1f}M parameters")
    print(f"kernels {len(items)}, distinct sources {len(set(sources))}")
    print(f"build graph {t1 - t0:8.2f} s")
    print(f"schedule    {t2 - t1:8.2f} s   (tinygrad 0.14: ~1.0 s)")
    print(f"codegen     {t3 - t2 + t4 - t3:8.2f} s   (tinygrad 0.14: ~7.9 s; ours: opts + simplify + spec + linearize "
          f"{t3 - t2:.2f} s, render C {t4 - t3:.2f} s)")
    print(f"spec        {len(UNPROVEN)} indexes left undecided (engine.spec.UNPROVEN)")
    if args.compile:
        t5 = time.perf_counter()
        for p in programs:
            dev.runner(p)
        print(f"compile     {time.perf_counter() - t5:8.2f} s   (cc, cached by source)")


if __name__ == "__main__":
    main()
