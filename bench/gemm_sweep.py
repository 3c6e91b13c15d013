"""Time lists of opts for bench_gpu.py's GEMM rows on a CUDA GPU (candidates for the default heuristic): each list is
forced on the row's kernel, timed (3 runs) and checked against torch, then the fastest are printed. Written to
choose default_gpu_opts / default_tc_opts from measurements (the fp32 tile default came from it, on an H100).

    python bench/gemm_sweep.py [--seconds 90] [--rows gemm_fp16,gemm_fp32] [--smem]
    python bench/gemm_sweep.py --settings [--rows ...] [--repeat 3]: the default opts under each setting of
        SETTINGS (module constants of the heuristic and of Opt SMEM), alternately, medians
    (needs torch with CUDA, cuda-bindings and NVRTC)
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_gpu  # noqa: E402

import engine.codegen.kernel as kernel_mod  # noqa: E402
import engine.codegen.smem as smem_mod  # noqa: E402
from engine.codegen.kernel import Opt  # noqa: E402
from engine.uop import Ops  # noqa: E402


def fp32_candidates() -> list[list[Opt]]:
    """Register tiles (UPCAST of both output loops) under 2-D workgroups (LOCAL), in both orders."""
    out = []
    for local_first in (True, False):
        for u0, u1 in itertools.product((1, 2, 4, 8), repeat=2):
            if u0 * u1 > 32 or (local_first and u0 == u1 == 1):
                continue
            for l0, l1 in ((1, 256), (2, 128), (4, 64), (8, 32), (16, 16), (32, 8), (16, 8), (8, 16), (8, 8)):
                ups = [Opt("UPCAST", 0, u0)] * (u0 > 1) + [Opt("UPCAST", 1, u1)] * (u1 > 1)
                locs = [Opt("LOCAL", 0, l0)] * (l0 > 1) + [Opt("LOCAL", 1, l1)] * (l1 > 1)
                out.append(locs + ups if local_first else ups + locs)
    return out


def tc_candidates(smem: bool = False) -> list[list[Opt]]:
    """Opt TC, then fragment tiles per warp (UPCAST of the m and n tile loops) and warps per workgroup (LOCAL); with
    `smem` each list is followed by itself ending with Opt SMEM (operands staged through shared memory), the
    default's tiles (4 x 8, 2 warps) first."""
    if smem:
        lists = tc_candidates()
        lists.sort(key=lambda o: o[1:] != [Opt("UPCAST", 0, 4), Opt("UPCAST", 1, 8), Opt("LOCAL", 0, 2)])
        return [x for o in lists for x in (o, o + [Opt("SMEM", 0, 0)])]
    out = []
    for u0, u1, w1, w0 in itertools.product((2, 4, 8), (2, 4, 8), (1, 2, 4), (1, 2)):
        if u0 * u1 > 32:
            continue
        opts = [Opt("TC", 0, "m16n8k16")]
        opts += [Opt("UPCAST", 0, u0)] * (u0 > 1) + [Opt("UPCAST", 1, u1)] * (u1 > 1)
        opts += [Opt("LOCAL", 1, w1)] * (w1 > 1) + [Opt("LOCAL", 0, w0)] * (w0 > 1)
        out.append(opts)
    return out


def sweep(row: str, candidates: list[list[Opt]], seconds: float) -> list[tuple[float, bool, list[Opt]]]:
    spec = bench_gpu.rows(False)[row]
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s, dtype=np.float32) for s in spec["shapes"]]
    torch_ms, want = bench_gpu.time_torch(spec, arrays, 3)
    real = kernel_mod.build_kernel
    found: list[tuple[float, bool, list[Opt]]] = []
    failed: set[str] = set()
    end = time.time() + seconds
    for opts in candidates:
        if time.time() > end:
            print(f"{row}: time is up after {len(found)} lists")
            break

        def forced(ast: Any, name: str, _opts: Any = "default", gpu: bool = False, tc: tuple = (),
                   _forced: list[Opt] = opts) -> Any:
            # only the GEMM's kernel: the casts that make the inputs keep their own opts
            reduces = any(u.op is Ops.REDUCE for u in ast.toposort)
            return real(ast, name, _forced if reduces else _opts, gpu=gpu, tc=tc)
        kernel_mod.build_kernel = forced
        try:
            ms, got, _, _ = bench_gpu.time_engine(spec, arrays, 3)
        except Exception as e:  # noqa: BLE001 - a list that does not apply or launch is skipped, saying why once
            why = f"{type(e).__name__}: {str(e)[:300]}"
            if why not in failed:
                failed.add(why)
                print(f"{row} skipped {_fmt(opts)}: {why}", flush=True)
            continue
        finally:
            kernel_mod.build_kernel = real
        g = got.astype(np.float32).reshape(-1)
        ok = bool(np.allclose(g, want, rtol=2e-2, atol=2e-2 * max(1.0, float(np.abs(want).max()))))
        found.append((spec["flops"] / ms / 1e9, ok, opts))
        print(f"{row} {found[-1][0]:7.1f} TFLOP/s {'ok' if ok else 'DIFFERS'} {_fmt(opts)}", flush=True)
    found.sort(key=lambda r: -r[0])
    print(f"== {row}: torch {spec['flops'] / torch_ms / 1e9:.1f} TFLOP/s; fastest:")
    for tf, ok, opts in found[:8]:
        print(f"   {tf:7.1f} {'ok' if ok else 'DIFFERS'} {_fmt(opts)}")
    return found


# setting name -> the rows it concerns and {(module, constant): value}; the first of a row's settings is the default
SETTINGS: dict[str, tuple[tuple[str, ...], dict[tuple[Any, str], Any]]] = {
    f"ahead{n}": (("gemm_fp16", "gemm_bf16", "gemm_fp8"), {(smem_mod, "AHEAD"): n, (smem_mod, "BUFFERS"): n + 2})
    for n in (smem_mod.AHEAD, *(a for a in (1, 2, 3) if a != smem_mod.AHEAD))}
SETTINGS["small tile"] = (("conv2d", "attention"), {})
SETTINGS["no small tile"] = (("conv2d", "attention"), {(kernel_mod, "GPU_TILE_SMALL"): 0})


def compare_settings(rows: list[str], repeat: int) -> None:
    """Each row under each of its SETTINGS in turn (`repeat` rounds): median TFLOP/s or GB/s, and whether the result
    equals the first setting's bit for bit and torch's within bench_gpu's tolerance."""
    for row in rows:
        spec = bench_gpu.rows(False)[row]
        names = [n for n, (rs, _) in SETTINGS.items() if row in rs]
        rng = np.random.default_rng(0)
        arrays = [rng.standard_normal(s, dtype=np.float32) for s in spec["shapes"]]
        torch_ms, want = bench_gpu.time_torch(spec, arrays, 10)
        times: dict[str, list[float]] = {n: [] for n in names}
        first: np.ndarray | None = None
        for _ in range(repeat):
            for n in names:
                saved = {key: getattr(*key) for key in SETTINGS[n][1]}
                for (mod, attr), v in SETTINGS[n][1].items():
                    setattr(mod, attr, v)
                try:
                    ms, got, _, _ = bench_gpu.time_engine(spec, arrays, 10)
                finally:
                    for (mod, attr), v in saved.items():
                        setattr(mod, attr, v)
                times[n].append(ms)
                g = got.astype(np.float32).reshape(-1)
                same = first is None or np.array_equal(g, first, equal_nan=True)
                first = g if first is None else first
                ok = bool(np.allclose(g, want, rtol=2e-2, atol=2e-2 * max(1.0, float(np.abs(want).max()))))
                print(f"{row} {n}: {ms:.3f} ms {'ok' if ok else 'DIFFERS from torch'}"
                      f"{'' if same else ', not bit-equal to the first setting'}", flush=True)
        unit, work = ("TFLOP/s", spec["flops"] / 1e9) if "flops" in spec else ("GB/s", spec["bytes"] / 1e6)
        line = ", ".join(f"{n} {work / float(np.median(t)):.1f}" for n, t in times.items())
        print(f"== {row} ({unit}, median of {repeat}): {line}; torch {work / torch_ms:.1f}", flush=True)


def _fmt(opts: list[Opt]) -> str:
    return " ".join(f"{o.op}{o.axis}:{o.amount}" for o in opts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=90.0, help="per row")
    ap.add_argument("--rows", default="gemm_fp16,gemm_fp32", help="comma-separated: gemm_fp16, gemm_bf16, gemm_fp32")
    ap.add_argument("--smem", action="store_true", help="tensor-core rows: each list with and without Opt SMEM")
    ap.add_argument("--settings", action="store_true", help="the default opts under each of SETTINGS instead")
    ap.add_argument("--repeat", type=int, default=3, help="--settings: rounds")
    args = ap.parse_args()
    if args.settings:
        compare_settings(args.rows.split(","), args.repeat)
        return 0
    for row in args.rows.split(","):
        sweep(row, fp32_candidates() if row == "gemm_fp32" else tc_candidates(args.smem), args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
