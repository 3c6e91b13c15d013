"""Opt SMEM (tensor-core operands staged through shared memory) on a CUDA GPU: correctness, then speed.

    python3 bench/gemm_smem_check.py [--n 4096] [--iters 10] [--dtypes float16,bfloat16]

1. check: a 256 x 192 x 320 matmul (fp16 and bf16; fp8 e4m3 too where the card has m16n8k32) of integer-valued
   data under every opt list below equals numpy's float64 product bit for bit (every float32 sum is exact), and
   the default list with SMEM forced equals the one without;
2. speed: the n^3 GEMM of bench/bench_gpu.py's gemm_fp16 / gemm_bf16 rows (float32 sums, the output rounded to the
   input dtype) with each opt list forced on the GEMM kernel, timed with bench_gpu.time_engine and checked against
   torch's product (bench_gpu's tolerance). Prints TFLOP/s per list and torch's on the same card.
Needs torch with CUDA, cuda-bindings and NVRTC (as bench/bench_gpu.py).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import bench_gpu  # noqa: E402

import engine.codegen.kernel as kernel_mod  # noqa: E402
from engine import Tensor  # noqa: E402
from engine.codegen.kernel import Opt, OptError  # noqa: E402
from engine.dtype import dtypes  # noqa: E402
from engine.realize import realize, schedule_tensors  # noqa: E402
from engine.uop import Ops  # noqa: E402

SMEM = Opt("SMEM", 0, 0)
NP = {"float16": np.float16, "bfloat16": dtypes.bfloat16.np, "float8_e4m3fn": dtypes.float8_e4m3fn.np}


def variants(default: list[Opt]) -> dict[str, list[Opt]]:
    """Opt lists to compare: the default TC list, with SMEM, with a K tile of 32 (UNROLL 2) and SMEM, and with four
    warps a workgroup (LOCAL 2 on the n tiles too) and SMEM."""
    tc = default[0]
    out = {"default": default, "default+SMEM": default + [SMEM]}
    out["default+UNROLL2+SMEM"] = default + [Opt("UNROLL", 0, 2), SMEM]
    if [o.op for o in default] == ["TC", "UPCAST", "UPCAST", "LOCAL"]:
        out["4 warps+SMEM"] = default + [Opt("LOCAL", 1, 2), SMEM]
        out["4 warps+UNROLL2+SMEM"] = default + [Opt("LOCAL", 1, 2), Opt("UNROLL", 0, 2), SMEM]
    out["TC only+SMEM"] = [tc, SMEM]
    return out


def default_opts(m: int, n: int, k: int, dt: str) -> list[Opt]:
    """The default GPU opts of the GEMM kernel of an m x n x k matmul of `dt` inputs on CUDA."""
    from engine.device import get_device

    item = _gemm_item(m, n, k, dt)
    tc = tuple(get_device("CUDA").tensor_cores)
    return kernel_mod.build_kernel(item.ast, item.name, "default", gpu=True, tc=tc).applied


def _gemm_item(m: int, n: int, k: int, dt: str) -> Any:
    a = Tensor(np.zeros((m, k), NP[dt]))  # inputs held in dt, as bench_gpu's rows realize them
    b = Tensor(np.zeros((k, n), NP[dt]))
    out = (a.cast(dtypes.float32) @ b.cast(dtypes.float32))
    return [it for it in schedule_tensors(out) if any(u.op is Ops.REDUCE for u in it.ast.toposort)][-1]


def check(dt: str) -> bool:
    """Every variant of a small integer-valued matmul equals numpy's product bit for bit on CUDA."""
    m, n, k = 256, 192, 320
    rng = np.random.default_rng(0)
    a = rng.integers(-3, 4, (m, k)).astype(NP[dt])
    b = rng.integers(-3, 4, (k, n)).astype(NP[dt])
    want = a.astype(np.float64) @ b.astype(np.float64)
    ok = True
    for name, opts in variants(default_opts(m, n, k, dt)).items():
        t = Tensor(a, device="CUDA").cast(dtypes.float32) @ Tensor(b, device="CUDA").cast(dtypes.float32)
        try:
            realize([t], opts=opts)
            got = t.numpy()
        except OptError as e:
            print(f"  check {dt:14s} {name:24s} refused: {e}")
            continue
        same = np.array_equal(got, want)
        ok &= same
        print(f"  check {dt:14s} {name:24s} {'equal' if same else 'DIFFERS'}"
              f"{'' if same else f' ({int((got != want).sum())} of {got.size})'}", flush=True)
    return ok


def speed(dt: str, n: int, iters: int) -> None:
    """TFLOP/s of every variant of the n^3 GEMM row, and torch's."""
    row = {"float16": "gemm_fp16", "bfloat16": "gemm_bf16"}[dt]
    spec = bench_gpu.rows(False)[row]
    spec = dict(spec, shapes=[(n, n), (n, n)], flops=2 * n ** 3)
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s, dtype=np.float32) for s in spec["shapes"]]
    torch_ms, want = bench_gpu.time_torch(spec, arrays, iters)
    print(f"  {row} {n}^3: torch {spec['flops'] / torch_ms / 1e9:7.1f} TFLOP/s ({torch_ms:.3f} ms)", flush=True)
    real = kernel_mod.build_kernel
    for name, opts in variants(default_opts(n, n, n, dt)).items():
        def forced(ast: Any, kname: str, _opts: Any = "default", gpu: bool = False, tc: tuple = (),
                   _forced: list[Opt] = opts) -> Any:
            reduces = any(u.op is Ops.REDUCE for u in ast.toposort)  # the GEMM; the casts keep their own opts
            return real(ast, kname, _forced if reduces else _opts, gpu=gpu, tc=tc)
        kernel_mod.build_kernel = forced
        try:
            ms, got, _, _ = bench_gpu.time_engine(spec, arrays, iters)
        except Exception as e:  # noqa: BLE001 - a list that does not apply is reported and skipped
            print(f"  {row} {name:24s} failed: {type(e).__name__}: {str(e)[:300]}", flush=True)
            continue
        finally:
            kernel_mod.build_kernel = real
        g = got.astype(np.float32).reshape(-1)
        ok = bool(np.allclose(g, want, rtol=2e-2, atol=2e-2 * max(1.0, float(np.abs(want).max()))))
        tf = spec["flops"] / ms / 1e9
        print(f"  {row} {name:24s} {tf:7.1f} TFLOP/s ({ms:.3f} ms, {tf / (spec['flops'] / torch_ms / 1e9):.3f} of "
              f"torch) {'ok' if ok else 'DIFFERS from torch'}  {' '.join(f'{o.op}{o.axis}:{o.amount}' for o in opts)}",
              flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--dtypes", default="float16,bfloat16")
    args = ap.parse_args()
    from engine.device import available, get_device

    if not available("CUDA"):
        print("smem_check: the engine's CUDA device is not available (a GPU, cuda-bindings and NVRTC)")
        return 2
    import torch

    print(f"device: {torch.cuda.get_device_name(0)} ({get_device('CUDA').arch}), torch {torch.__version__}")
    ok = True
    checked = args.dtypes.split(",") + (["float8_e4m3fn"] if "m16n8k32" in get_device("CUDA").tensor_cores else [])
    for dt in checked:
        try:
            ok &= check(dt)
        except Exception:  # noqa: BLE001 - the speed runs still go
            traceback.print_exc()
            ok = False
    for dt in args.dtypes.split(","):
        speed(dt, args.n, args.iters)
    print("check:", "all equal" if ok else "SOME DIFFER")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
