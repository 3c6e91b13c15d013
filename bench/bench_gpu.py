"""The engine's CUDA kernels against PyTorch on the same GPU, in the same run: one row per workload, a table.

    python bench/bench_gpu.py [--rows gemm_fp16,add,...] [--small] [--iters 5] [--json out.json]

Each row schedules the workload with the engine (default GPU opts), compiles its kernels for the CUDA device,
copies the inputs to the GPU once and times the kernels back to back (CUDA events around --iters runs after a
warm-up), then times the same computation in PyTorch. Figures: TFLOP/s for GEMM/conv/attention, GB/s (bytes of
the inputs and outputs, read and written once) for the memory-bound rows; `ratio` is engine / torch. The engine's
result is checked against torch's (a row whose result differs says so). --small shrinks every size (a quick run).
The fp16/bf16 GEMM rows compute as torch does (float32 sums of 16-bit products, rounded once to the 16-bit output),
which is the reduce the engine's tensor cores take (Opt TC, engine/codegen/tc.py: mma.sync m16n8k16 on sm_80 and
up, picked by the default GPU opts); column `tc` says whether a kernel of the row used them. gemm_fp8 (e4m3 inputs,
float32 output: m16n8k32 on sm_89 and up) is timed against torch._scaled_mm with unit scales.
Needs a CUDA GPU, cuda-bindings, NVRTC and torch; prints why and exits 2 otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def rows(small: bool) -> dict[str, dict[str, Any]]:
    """name -> shapes, dtype, the engine's computation, torch's, and its FLOPs or bytes."""
    s = 8 if small else 1  # --small divides sizes
    n = 4096 // s
    e = (1 << 28) // (s * s)
    r = 8192 // s
    b, h, t, d = 8, 16, 1024 // s, 64
    cb, cc, hw = 32 // (2 if small else 1), 64, 56 // (2 if small else 1)
    def gemm16(a: Any, w: Any) -> Any:  # torch's half GEMM: float32 sums, one rounding to the input dtype
        return (a.cast("float32") @ w.cast("float32")).cast(a.dtype)

    return {
        "gemm_fp16": dict(shapes=[(n, n), (n, n)], dtype="float16", fn=gemm16, torch=lambda a, w: a @ w,
                          flops=2 * n**3),
        "gemm_bf16": dict(shapes=[(n, n), (n, n)], dtype="bfloat16", fn=gemm16, torch=lambda a, w: a @ w,
                          flops=2 * n**3),
        "gemm_fp8": dict(shapes=[(n, n), (n, n)], dtype="float8_e4m3fn",
                         fn=lambda a, w: a.cast("float32") @ w.cast("float32"), torch=_torch_fp8_gemm, flops=2 * n**3),
        "gemm_fp32": dict(shapes=[(n, n), (n, n)], dtype="float32", fn=lambda a, w: a @ w, flops=2 * n**3),
        "add": dict(shapes=[(e,), (e,)], dtype="float32", fn=lambda a, w: a + w, bytes=3 * 4 * e),
        "sum": dict(shapes=[(e,)], dtype="float32", fn=lambda a: a.sum(), bytes=4 * e),
        "softmax": dict(shapes=[(r, r)], dtype="float32", fn=lambda a: a.softmax(-1), torch=lambda a: a.softmax(-1),
                        bytes=2 * 4 * r * r),
        "layernorm": dict(shapes=[(r, r)], dtype="float32", fn=lambda a: a.layernorm(-1),
                          torch=lambda a: __import__("torch").nn.functional.layer_norm(a, a.shape[-1:]),
                          bytes=2 * 4 * r * r),
        "conv2d": dict(shapes=[(cb, cc, hw, hw), (cc, cc, 3, 3)], dtype="float32",
                       fn=lambda x, w: x.conv2d(w, padding=1),
                       torch=lambda x, w: __import__("torch").nn.functional.conv2d(x, w, padding=1),
                       flops=2 * cb * cc * hw * hw * cc * 9),
        "attention": dict(shapes=[(b, h, t, d)] * 3, dtype="float32",
                          fn=lambda q, k, v: (q @ k.transpose(-1, -2) * (1 / math.sqrt(d))).softmax(-1) @ v,
                          torch=lambda q, k, v: __import__("torch").nn.functional.scaled_dot_product_attention(q, k, v),
                          flops=4 * b * h * t * t * d),
    }


def _torch_fp8_gemm(a: Any, w: Any) -> Any:
    """torch's fp8 GEMM: float32 sums of e4m3 products (cuBLASLt wants the second operand column-major)."""
    import torch

    one = torch.ones((), device=a.device, dtype=torch.float32)
    return torch._scaled_mm(a, w.t().contiguous().t(), scale_a=one, scale_b=one, out_dtype=torch.float32)


def time_engine(spec: dict[str, Any], arrays: list[np.ndarray], iters: int) -> tuple[float, np.ndarray, int, bool]:
    """(ms per run, result, kernels, whether one used tensor cores) of the engine's kernels on the GPU, inputs
    already there."""
    from engine import Tensor
    from engine.codegen.kernel import build_kernel
    from engine.device import get_device
    from engine.realize import schedule_tensors

    dev = get_device("CUDA")
    ins = [Tensor(a, device="CUDA").cast(spec["dtype"]) if spec["dtype"] != "float32" else Tensor(a, device="CUDA")
           for a in arrays]
    for x in ins:
        x.realize()
    out = spec["fn"](*ins)
    items = schedule_tensors(out)
    kernels = [build_kernel(it.ast, it.name, "default", gpu=True, tc=getattr(dev, "tensor_cores", ()))
               for it in items]
    prgs = [k.to_program() for k in kernels]
    used_tc = any(o.op == "TC" for k in kernels for o in k.applied)
    launches = []
    on_gpu: dict[int, int] = {}
    for it, prg in zip(items, prgs):
        module = dev.compile(dev.render(prg), prg.name)
        for buf in it.bufs:
            if id(buf) not in on_gpu:
                host = buf.data
                on_gpu[id(buf)] = dev.alloc_device(host.nbytes)
                dev.copyin(on_gpu[id(buf)], host)
        launches.append((dev.function(module, prg), [on_gpu[id(b)] for b in it.bufs]))

    def run() -> None:
        for fn, ptrs in launches:
            fn(ptrs)
    run()
    dev.synchronize()
    t0 = time.perf_counter()
    for _ in range(iters):
        run()
    dev.synchronize()
    ms = (time.perf_counter() - t0) * 1e3 / iters
    last = items[-1].bufs[0]
    result = np.empty(last.size, last.dtype.np)
    dev.copyout(result, on_gpu[id(last)])
    for buf in {id(b): b for it in items for b in it.bufs}.values():
        dev.free_device(on_gpu[id(buf)], buf.data.nbytes)
    return ms, result, len(items), used_tc


def time_torch(spec: dict[str, Any], arrays: list[np.ndarray], iters: int) -> tuple[float, np.ndarray]:
    import torch

    dt = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32,
          "float8_e4m3fn": getattr(torch, "float8_e4m3fn", None)}[spec["dtype"]]
    ins = [torch.from_numpy(a).cuda().to(dt) for a in arrays]
    fn: Callable[..., Any] = spec.get("torch", spec["fn"])
    with torch.no_grad():
        out = fn(*ins)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(iters):
            out = fn(*ins)
        torch.cuda.synchronize()
    ms = (time.perf_counter() - t0) * 1e3 / iters
    return ms, out.float().cpu().numpy().reshape(-1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", default="", help="comma-separated row names (default: all)")
    ap.add_argument("--small", action="store_true", help="smaller sizes (a quick check)")
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--json", default="", help="also write the rows as JSON to this file")
    args = ap.parse_args(argv)
    from engine.device import available

    try:
        import torch
        if not torch.cuda.is_available():
            raise ImportError("torch sees no CUDA device")
    except ImportError as e:
        print(f"bench_gpu: needs torch with CUDA ({e})")
        return 2
    if not available("CUDA"):
        print("bench_gpu: the engine's CUDA device is not available (a GPU, cuda-bindings and NVRTC are needed)")
        return 2
    table = rows(args.small)
    names = [n for n in args.rows.split(",") if n] or list(table)
    unknown = [n for n in names if n not in table]
    if unknown:
        print(f"bench_gpu: unknown rows {unknown}; known: {', '.join(table)}")
        return 2
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, iters {args.iters}"
          f"{', small sizes' if args.small else ''}")
    print(f"{'row':12s} {'kernels':>7s} {'tc':>3s} {'engine ms':>10s} {'torch ms':>10s} {'engine':>12s} "
          f"{'torch':>12s} {'ratio':>7s}  check")
    out = []
    rng = np.random.default_rng(0)
    for name in names:
        spec = table[name]
        arrays = [rng.standard_normal(s, dtype=np.float32) for s in spec["shapes"]]
        try:
            ems, got, nk, used_tc = time_engine(spec, arrays, args.iters)
        except Exception as e:  # one failing row does not hide the others
            print(f"{name:12s} engine failed: {type(e).__name__}: {str(e)[:300]}")
            out.append({"row": name, "error": f"{type(e).__name__}: {e}"[:2000]})
            continue
        tms, want = time_torch(spec, arrays, args.iters)
        unit, work = ("TFLOP/s", spec["flops"] / 1e12) if "flops" in spec else ("GB/s", spec["bytes"] / 1e9)
        ev, tv = work / (ems / 1e3), work / (tms / 1e3)
        tol = 2e-2 if spec["dtype"] != "float32" else 2e-3
        g = got.astype(np.float32).reshape(-1)
        atol = tol * max(1.0, float(np.abs(want).max()))
        ok = g.shape == want.shape and bool(np.allclose(g, want, rtol=tol, atol=atol))
        print(f"{name:12s} {nk:7d} {'yes' if used_tc else 'no':>3s} {ems:10.3f} {tms:10.3f} {ev:8.1f} {unit:>3s} "
              f"{tv:8.1f} {unit:>3s} {ev / tv:7.3f}  {'ok' if ok else 'DIFFERS'}", flush=True)
        out.append({"row": name, "kernels": nk, "tensor_cores": used_tc, "engine_ms": ems, "torch_ms": tms,
                    "unit": unit, "engine": ev, "torch": tv, "ratio": ev / tv, "matches_torch": ok})
    if args.json:
        Path(args.json).write_text(json.dumps({"device": torch.cuda.get_device_name(0), "rows": out}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
