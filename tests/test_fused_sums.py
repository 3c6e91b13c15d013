"""Fused sums: a float32 REDUCE(ADD) of products accumulates with MULACC, a fused multiply-add rounded once
(engine/codegen/expand.py `fused_sum`), on every device bit for bit: C fmaf and the x86 vector fma, LLVM's llvm.fma,
the PYTHON device's exact emulation (engine/alu.py `fma`), CUDA fmaf, OpenCL fma."""

from fractions import Fraction

import numpy as np
import pytest
from devices import DEVICES

from engine import Tensor
from engine.alu import exec_alu, fma
from engine.codegen.kernel import Opt, build_kernel
from engine.dtype import dtypes
from engine.rangeify import schedule
from engine.realize import run_schedule, schedule_tensors
from engine.renderer.c import CUDA, OPENCL, render, render_c
from engine.uop import Ops

rng = np.random.default_rng(0)


def _nearest_f32(exact: Fraction) -> np.float32:
    """The float32 nearest to an exact value, ties to even (by comparing the neighbours of a close candidate)."""
    c = np.float32(float(exact))
    cands = [np.nextafter(c, np.float32(-np.inf)), c, np.nextafter(c, np.float32(np.inf))]
    return min(cands, key=lambda x: (abs(Fraction(float(x)) - exact), int(np.array(x).view(np.int32)) & 1))


def test_fma_rounds_once_for_float32_and_float64():
    bad = 0
    for i in range(20000):
        a, b, c = (np.float32(x) for x in rng.standard_normal(3) * 2.0 ** rng.integers(-30, 30, 3))
        if i % 2:  # cancellation: c near -a*b, where a product rounded first loses everything
            c = np.float32(-(np.float64(a) * np.float64(b)) * (1 + rng.standard_normal() * 1e-6))
        exact = Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c))
        bad += np.float32(fma(dtypes.float32, float(a), float(b), float(c))) != _nearest_f32(exact)
    assert bad == 0
    # (1 + 2^-12)^2 + 2^-70 is just above the midpoint between two float32: rounded once it goes up; rounded to
    # double first it lands on the midpoint and then to the even neighbour below
    a = 1 + 2.0 ** -12
    assert fma(dtypes.float32, a, a, 2.0 ** -70) == 1 + 2.0 ** -11 + 2.0 ** -23
    assert float(np.float32(a * a + 2.0 ** -70)) == 1 + 2.0 ** -11
    x = 0.1
    assert fma(dtypes.float64, x, 10.0, -1.0) == float(Fraction(x) * 10 - 1)  # 2^-54 + ..., not 0
    assert fma(dtypes.float64, 1e308, 2.0, -1.5e308) == float(Fraction(1e308) * 2 - Fraction(1.5e308))  # 2e308: no inf
    assert np.isnan(fma(dtypes.float32, np.inf, 0.0, 1.0)) and fma(dtypes.float32, 2.0, 3.0, -np.inf) == -np.inf
    assert np.copysign(1, fma(dtypes.float32, -0.0, 1.0, -0.0)) < 0 and np.copysign(1, fma(dtypes.float32, 1.0, -1.0,
                                                                                            1.0)) > 0
    assert exec_alu(Ops.MULACC, dtypes.int8, [100, 3, 1]) == 45  # integers still wrap: 301 - 256


def _sum_kernel(t: Tensor) -> str:
    """The kernel's function (without the prelude, which declares fmaf and fma)."""
    [item] = schedule_tensors(t)
    src = render_c(build_kernel(item.ast, item.name, []).to_program())
    return src[src.index(f"void {item.name}("):]


def test_float32_sums_of_products_use_fma_and_others_do_not():
    a, b = rng.standard_normal((4, 6)), rng.standard_normal((6, 3))
    assert "fmaf(" in _sum_kernel(Tensor(a.astype(np.float32)) @ Tensor(b.astype(np.float32)))
    assert "fma" not in _sum_kernel(Tensor(a) @ Tensor(b))  # float64: products rounded, then added
    assert "fma" not in _sum_kernel(Tensor(a.astype(np.float32)).sum(1))  # no product
    assert "fma" not in _sum_kernel((Tensor(a.astype(np.float32)) * 2).max(1))  # not a sum


@pytest.mark.parametrize("device", DEVICES)
def test_every_device_gives_the_same_bits_and_opts_keep_the_order(device):
    # random float32 values: the fused sums of every device and of the unrolled and vectorized kernels agree bit for
    # bit with the unoptimized CPU kernel (the same fma chain in order of k)
    x = rng.standard_normal((2, 5, 9, 9)).astype(np.float32)
    w = rng.standard_normal((32, 5, 3, 3)).astype(np.float32)

    def conv(dev: str, opts: object = "default") -> np.ndarray:
        t = Tensor(x, device=dev).conv2d(Tensor(w, device=dev), padding=1)
        items, views = schedule([t.uop], dev)
        run_schedule(items, dev, opts)
        v = views[t.uop]
        return (v.src[0] if v.op is Ops.RESHAPE else v).arg.numpy().reshape(t.shape)

    want = conv("CPU", [])
    np.testing.assert_array_equal(conv(device), want)
    unrolled = conv("CPU", lambda ast, name: [Opt("UNROLL", len([u for u in ast.toposort if u.op is Ops.RANGE
                                                                   and u.arg[1] == "reduce"]) - 1, 3)])
    np.testing.assert_array_equal(unrolled, want)
    np.testing.assert_allclose(want, _numpy_conv(x, w), rtol=1e-4, atol=1e-4)


def _numpy_conv(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))).astype(np.float64)
    out = np.zeros((x.shape[0], w.shape[0], x.shape[2], x.shape[3]))
    for i in range(3):
        for j in range(3):
            out += np.einsum("bchw,oc->bohw", xp[:, :, i:i + x.shape[2], j:j + x.shape[3]], w[:, :, i, j])
    return out


def test_gpu_dialects_render_fma():
    a, b = (Tensor(rng.standard_normal(s).astype(np.float32)) for s in ((8, 16), (16, 4)))
    [item] = schedule_tensors(a @ b)
    prg = build_kernel(item.ast, item.name, [], gpu=True).to_program()
    cuda, opencl = (src[src.index(f" {item.name}("):] for src in (render(prg, CUDA), render(prg, OPENCL)))
    assert "= fmaf(" in cuda and "= fma(" in opencl
