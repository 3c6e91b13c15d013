"""Tensor cores (Opt TC, engine/codegen/tc.py): mma.sync m16n8k16 with float16/bfloat16 inputs and m16n8k32 with
fp8 e4m3/e5m2 inputs, float32 sums.

What is verified here, on any CPU:
  - PYTHON_GPU emulates the instructions from the PTX ISA's fragment tables (engine.runtime.python.mma_m16n8k16 and
    mma_m16n8k32), and that emulation is checked against a plain numpy matmul of the tiles rebuilt here from the
    ISA's formulas; so is the code generator's layout (engine.codegen.tc.a_position, ...);
  - TC kernels (matmul fp16/bf16 of tile-aligned and ragged shapes, batched matmul, conv2d as a matmul, with LOCAL,
    UPCAST and UNROLL after TC) give the no-opt result on PYTHON_GPU: bit for bit on integer-valued data (every sum
    exact), within float32 reassociation on random data; every access is bounds-checked by the emulator;
  - fp8 (e4m3, e5m2) matmuls with m16n8k32 give the no-opt result on PYTHON_GPU, bit for bit;
  - Opt SMEM (engine/codegen/smem.py: operands copied through workgroup memory, double-buffered) gives the no-opt
    result bit for bit (fp16, bf16, fp8; tiles and warps, UNROLL, ACCUM, a batch, a conv's tap loops), is refused
    where it does not apply, its workgroup indices are proved in bounds by engine.spec, one copy of each tile is
    caught as a data race by the emulator, and its CUDA source (shared memory, barrier, 16-byte copies) compiles;
  - the CUDA source of TC kernels compiles with NVRTC to cubins for sm_80 and sm_90 (fp8: sm_89 and sm_90), so
    ptxas accepts the inline PTX;
  - the default GPU heuristic picks TC on devices that have it, OpenCL refuses it, and randopt:gpu draws it;
  - bugs planted in the fragment layout (two lanes swapped) and in the tails (the K tail dropped) are found by a
    short seeded campaign of the graph fuzzer (randopt:gpu) over matmul-shaped cases, and minimized.
What is NOT verified (no GPU this session): that a real card computes what the emulator does (the fragment layout
on hardware, the float32 rounding of its sums, which is not sequential IEEE on real tensor cores), and the speed of
the TC path (bench/bench_gpu.py's GEMM rows).
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from engine import Tensor
from engine.codegen import tc as tensor_cores
from engine.codegen.kernel import Opt, OptError, build_kernel, build_program
from engine.dtype import dtypes
from engine.realize import realize, schedule_tensors
from engine.renderer.c import CUDA, OPENCL, render
from engine.runtime.python import mma_m16n8k16
from engine.uop import Ops, UOp

TC = ("m16n8k16",)
DTYPES = {"float16": np.float16, "bfloat16": dtypes.bfloat16.np, "float8_e4m3fn": dtypes.float8_e4m3fn.np,
          "float8_e5m2": dtypes.float8_e5m2.np}


def _kernel(t: Tensor):
    """The last kernel realizing t (earlier ones copy or cast its inputs)."""
    items = [it for it in schedule_tensors(t) if not it.is_copy]
    return items[-1]


def _mm(M: int, N: int, K: int, dt: str, rng: np.random.Generator, ints: bool = True, batch: int = 0):
    shape_a, shape_b = ((batch,) if batch else ()) + (M, K), ((batch,) if batch else ()) + (K, N)
    draw = (lambda s: rng.integers(-3, 4, s)) if ints else (lambda s: rng.standard_normal(s))
    return draw(shape_a).astype(DTYPES[dt]), draw(shape_b).astype(DTYPES[dt])


def _run(build, opts, device: str = "PYTHON_GPU") -> np.ndarray:
    t = build(device)
    realize([t], opts=opts)
    return t.numpy()


def _matmul(a: np.ndarray, b: np.ndarray):
    return lambda dev: Tensor(a, device=dev).cast(dtypes.float32) @ Tensor(b, device=dev).cast(dtypes.float32)


# ------------------------------------------------------------------ the emulated instruction


def test_emulated_mma_follows_the_ptx_fragment_layout():
    rng = np.random.default_rng(0)
    A = rng.integers(-8, 9, (16, 16)).astype(np.float64)
    B = rng.integers(-8, 9, (16, 8)).astype(np.float64)
    C = rng.integers(-8, 9, (16, 8)).astype(np.float64)
    frags = []
    for lane in range(32):
        g, t = lane // 4, lane % 4  # the ISA's groupID and threadID_in_group
        a = [A[g + 8 * ((i // 2) % 2), 2 * t + i % 2 + 8 * (i // 4)] for i in range(8)]
        b = [B[2 * t + i % 2 + 8 * (i // 2), g] for i in range(4)]
        c = [C[g + 8 * (i // 2), 2 * t + i % 2] for i in range(4)]
        frags.append(a + b + c)
    out = mma_m16n8k16(frags, "float16")
    D = A @ B + C
    for lane, d in enumerate(out):
        g, t = lane // 4, lane % 4
        assert list(d) == [D[g + 8 * (i // 2), 2 * t + i % 2] for i in range(4)], lane


def test_emulated_fp8_mma_follows_the_ptx_fragment_layout():
    from engine.runtime.python import mma_m16n8k32

    rng = np.random.default_rng(1)
    A = rng.integers(-8, 9, (16, 32)).astype(np.float64)
    B = rng.integers(-8, 9, (32, 8)).astype(np.float64)
    frags = []
    for lane in range(32):
        g, t = lane // 4, lane % 4
        a = [A[g + 8 * ((i // 4) % 2), 4 * t + i % 4 + 16 * (i // 8)] for i in range(16)]
        b = [B[4 * t + i % 4 + 16 * (i // 4), g] for i in range(8)]
        frags.append(a + b + [0.0] * 4)
    D = A @ B
    for lane, d in enumerate(mma_m16n8k32(frags, "float8_e4m3fn")):
        g, t = lane // 4, lane % 4
        assert list(d) == [D[g + 8 * (i // 2), 2 * t + i % 2] for i in range(4)], lane
    frags[3][0] = 500.0  # beyond e4m3's largest finite value (448)
    with pytest.raises(ValueError, match="not float8_e4m3fn"):
        mma_m16n8k32(frags, "float8_e4m3fn")


def test_emulated_mma_rounds_each_float32_partial_sum_in_order_of_k():
    frags = [[0.0] * 16 for _ in range(32)]
    # row 0 of A and column 0 of B: lane 0 holds A[0, 0..1] (a0, a1) and A[0, 8..9] (a4, a5), B[0..1, 0] (b0, b1)
    frags[0][0], frags[0][1], frags[0][8], frags[0][9] = 2.0 ** 12, 1.0, 2.0 ** 12, 1.0
    frags[0][12] = 0.0
    d = mma_m16n8k16(frags, "float16")[0][0]
    # 2^24 + 1 rounds to 2^24 in float32 (ties to even): the products are added one at a time
    assert d == float(np.float32(2.0 ** 24))
    frags[0][0] = 0.1  # not a float16 value
    with pytest.raises(ValueError, match="not float16"):
        mma_m16n8k16(frags, "float16")


def test_fragment_layout_of_the_code_generator_matches_the_isa():
    from engine.uop import UOp

    lane = UOp.range(32, 99, "warp")

    def ev(u, v: int) -> int:
        from engine.rewrite import substitute
        from engine.symbolic import simplify

        out = simplify(substitute(u, {lane: UOp.const(dtypes.index, v)}))
        assert out.op is Ops.CONST, out
        return out.arg

    for v in range(32):
        g, t = v // 4, v % 4
        for i in range(8):
            assert tuple(ev(x, v) for x in tensor_cores.a_position(lane, i)) == (
                g + (8 if i in (2, 3, 6, 7) else 0), 2 * t + (i & 1) + (8 if i >= 4 else 0))
        for i in range(4):
            b = tuple(ev(x, v) for x in tensor_cores.b_position(lane, i))
            assert b == (2 * t + (i & 1) + (8 if i >= 2 else 0), g)
            c = tuple(ev(x, v) for x in tensor_cores.c_position(lane, i))
            assert c == (g + (8 if i >= 2 else 0), 2 * t + (i & 1))
        for i in range(16):  # m16n8k32, 8-bit inputs
            a = tuple(ev(x, v) for x in tensor_cores.a_position(lane, i, 32))
            assert a == (g + (8 if i in (4, 5, 6, 7, 12, 13, 14, 15) else 0), 4 * t + (i & 3) + (16 if i >= 8 else 0))
        for i in range(8):
            b = tuple(ev(x, v) for x in tensor_cores.b_position(lane, i, 32))
            assert b == (4 * t + (i & 3) + (16 if i >= 4 else 0), g)


# ------------------------------------------------------------------ TC kernels == no-opt kernels on PYTHON_GPU


@pytest.mark.parametrize("dt", ["float16", "bfloat16"])
@pytest.mark.parametrize("shape", [(16, 8, 16), (32, 16, 48), (20, 12, 24), (17, 9, 3), (2, 3, 40), (5, 30, 17)])
def test_tc_matmul_equals_the_unoptimized_kernel(dt, shape):
    a, b = _mm(*shape, dt, np.random.default_rng(sum(shape)))
    plain = _run(_matmul(a, b), [])
    tc = _run(_matmul(a, b), [Opt("TC", 0, "m16n8k16")])
    np.testing.assert_array_equal(tc, plain)  # integer values: every float32 sum is exact
    np.testing.assert_array_equal(plain, a.astype(np.float64) @ b.astype(np.float64))


@pytest.mark.parametrize("dt", ["float16", "bfloat16"])
@pytest.mark.parametrize("unroll", [1, 2, 3])
def test_tc_matmul_of_random_values_adds_in_the_order_of_the_plain_loop(dt, unroll):
    """The accumulators are the mma's C operands (linearize: D = A B + acc; after an UNROLL of the k tile loop, a
    chain: each mma's C the D of the one before, the first's the accumulators), and the emulated mma adds each
    product onto C in order of k: the plain loop's order, so the results are equal bit for bit even for random
    values, and no float add follows an mma."""
    a, b = _mm(40, 24, 96, dt, np.random.default_rng(3), ints=False)
    plain = _run(_matmul(a, b), [])
    opts = [Opt("TC", 0, "m16n8k16")] + [Opt("UNROLL", 0, unroll)] * (unroll > 1)
    prg = build_program(_kernel(_matmul(a, b)("PYTHON_GPU")).ast, "k", opts, gpu=True, tc=TC)
    assert not any(u.op is Ops.ADD and u.dtype == dtypes.float32 for u in prg.uops)
    assert sum(u.op is Ops.WMMA for u in prg.uops) == unroll
    tc = _run(_matmul(a, b), opts)
    exact = a.astype(np.float64) @ b.astype(np.float64)
    bound = 96 * np.finfo(np.float32).eps * (np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64)))
    assert (np.abs(tc - exact) <= bound).all() and (np.abs(plain - exact) <= bound).all()
    np.testing.assert_array_equal(tc, plain)


@pytest.mark.parametrize("dt", ["float8_e4m3fn", "float8_e5m2"])
@pytest.mark.parametrize("shape", [(16, 8, 32), (20, 12, 70), (33, 17, 5)])
def test_fp8_tc_matmul_equals_the_unoptimized_kernel(dt, shape):
    a, b = _mm(*shape, dt, np.random.default_rng(sum(shape)))
    plain = _run(_matmul(a, b), [])
    np.testing.assert_array_equal(_run(_matmul(a, b), [Opt("TC", 0, "m16n8k32")]), plain)
    np.testing.assert_array_equal(plain, a.astype(np.float64) @ b.astype(np.float64))
    with pytest.raises(OptError, match="does not take float8"):
        build_kernel(_kernel(_matmul(a, b)("PYTHON_GPU")).ast, "k", [Opt("TC", 0, "m16n8k16")], gpu=True, tc=TC)


@pytest.mark.parametrize("opts", [
    [Opt("TC", 0, "m16n8k16"), Opt("LOCAL", 1, 2)],
    [Opt("TC", 0, "m16n8k16"), Opt("UPCAST", 0, 2), Opt("UNROLL", 0, 2)],
    [Opt("TC", 0, "m16n8k16"), Opt("LOCAL", 0, 3), Opt("ACCUM", 0, 2)],  # 3 does not divide: gated workgroups
    [Opt("TC", 0, "m16n8k16"), Opt("REORDER", 0, (1, 0, 2))],
])
def test_tc_composes_with_later_opts(opts):
    a, b = _mm(64, 32, 64, "float16", np.random.default_rng(5))
    np.testing.assert_array_equal(_run(_matmul(a, b), opts), _run(_matmul(a, b), []))


def test_tc_batched_matmul():
    a, b = _mm(18, 10, 20, "bfloat16", np.random.default_rng(6), batch=3)
    build = _matmul(a, b)
    k = build_kernel(_kernel(build("PYTHON_GPU")).ast, "k", [Opt("TC", 0, "m16n8k16")], gpu=True, tc=TC)
    assert k.order[0].arg[1] == "loop" and k.order[0].src[0].arg == 3  # the batch stays a loop
    np.testing.assert_array_equal(_run(build, [Opt("TC", 0, "m16n8k16")]), _run(build, []))


def test_tc_conv2d_as_a_matmul():
    rng = np.random.default_rng(7)
    x = rng.integers(-3, 4, (2, 16, 6, 6)).astype(np.float16)
    w = rng.integers(-3, 4, (8, 16, 3, 3)).astype(np.float16)

    def build(dev):
        return Tensor(x, device=dev).cast(dtypes.float32).conv2d(Tensor(w, device=dev).cast(dtypes.float32),
                                                                 padding=1)
    item = _kernel(build("PYTHON_GPU"))
    found = tensor_cores.candidates(item.ast, build_kernel(item.ast, "k", [], gpu=True).order)
    assert found, "the conv's reduce is not matmul-shaped"
    assert len(found) == 9  # m: batch, row or column; n: output channel; k: input channel or a tap
    ref = _run(build, [])
    for i in (0, 4, 8):
        np.testing.assert_array_equal(_run(build, [Opt("TC", i, "m16n8k16")]), ref)
    x = rng.integers(-3, 4, (1, 16, 4, 16)).astype(np.float16)  # 16 columns: the default opts pick TC
    item = _kernel(build("PYTHON_GPU"))
    assert build_kernel(item.ast, "k", "default", gpu=True, tc=TC).applied[0].op == "TC"
    np.testing.assert_array_equal(_run(build, "default"), _run(build, []))


def test_tc_with_an_epilogue_and_a_half_output():
    a, b = _mm(24, 16, 32, "float16", np.random.default_rng(8))

    def build(dev):
        return (_matmul(a, b)(dev).relu() + 1).cast(dtypes.float16)
    np.testing.assert_array_equal(_run(build, [Opt("TC", 0, "m16n8k16")]), _run(build, []))


# ------------------------------------------------------------------ where TC applies, and where it does not


def test_tc_refused_where_it_does_not_apply():
    a, b = _mm(16, 8, 16, "float16", np.random.default_rng(9))
    ast = _kernel(_matmul(a, b)("PYTHON_GPU")).ast
    with pytest.raises(OptError, match="no tensor-core shape"):  # OpenCL (no tc) and a CPU kernel
        build_kernel(ast, "k", [Opt("TC", 0, "m16n8k16")], gpu=True)
    with pytest.raises(OptError, match="needs a GPU"):
        build_kernel(ast, "k", [Opt("TC", 0, "m16n8k16")], tc=TC)
    with pytest.raises(OptError, match="first"):
        build_kernel(ast, "k", [Opt("LOCAL", 0, 2), Opt("TC", 0, "m16n8k16")], gpu=True, tc=TC)
    with pytest.raises(OptError, match="GROUP"):
        build_kernel(ast, "k", [Opt("TC", 0, "m16n8k16"), Opt("GROUP", 0, 2)], gpu=True, tc=TC)
    with pytest.raises(OptError, match="candidate 1"):
        build_kernel(ast, "k", [Opt("TC", 1, "m16n8k16")], gpu=True, tc=TC)
    half_acc = _kernel(Tensor(a) @ Tensor(b)).ast  # a float16 sum: fp32 accumulation would change it
    f32 = _kernel(Tensor(a.astype(np.float32)) @ Tensor(b.astype(np.float32))).ast  # float32 inputs: inexact
    for bad in (half_acc, f32, _kernel(Tensor(a).cast(dtypes.float32).sum(1)).ast):
        with pytest.raises(OptError, match="no tensor-core reduce"):
            build_kernel(bad, "k", [Opt("TC", 0, "m16n8k16")], gpu=True, tc=TC)


def test_default_gpu_heuristic_picks_tc_where_the_device_has_it():
    a, b = _mm(64, 64, 64, "bfloat16", np.random.default_rng(10))
    ast = _kernel(_matmul(a, b)("PYTHON_GPU")).ast
    assert build_kernel(ast, "k", "default", gpu=True, tc=TC).applied[0] == Opt("TC", 0, "m16n8k16")
    assert all(o.op != "TC" for o in build_kernel(ast, "k", "default", gpu=True).applied)  # OpenCL
    small = _kernel(_matmul(*_mm(3, 4, 5, "float16", np.random.default_rng(1)))("PYTHON_GPU")).ast
    assert all(o.op != "TC" for o in build_kernel(small, "k", "default", gpu=True, tc=TC).applied)  # all padding
    build = _matmul(a, b)
    np.testing.assert_array_equal(_run(build, "default"), _run(build, []))
    # 4 x 4 mma tiles a warp (all 4 m tiles of 16, 4 of the 8 n tiles of 8), two k tiles a step (UNROLL, where the
    # k tiles are even), the operands through shared memory; a larger matmul also gets 4 warps a workgroup over the n
    # tiles left (2 where 4 do not divide them), then 2 over the m tiles (m16n8k16)
    assert build_kernel(ast, "k", "default", gpu=True, tc=TC).applied[1:] == \
        [Opt("UPCAST", 0, 4), Opt("UPCAST", 0, 4), Opt("LOCAL", 0, 2), Opt("UNROLL", 0, 2), SMEM]
    big = _kernel(_matmul(*_mm(256, 128, 48, "float16", np.random.default_rng(2)))("PYTHON_GPU")).ast
    assert build_kernel(big, "k", "default", gpu=True, tc=TC).applied[1:] == \
        [Opt("UPCAST", 0, 4), Opt("UPCAST", 1, 4), Opt("LOCAL", 1, 4), Opt("LOCAL", 0, 2), SMEM]


def test_adjacent_fragment_elements_load_as_one_aligned_word():
    # A (row-major) gives each register two adjacent halves at an even index: one 32-bit load; B's two halves of a
    # register lie a row apart: two loads; with a ragged K, the registers of the gated tail keep element loads
    a, b = _mm(32, 16, 32, "float16", np.random.default_rng(13))
    prg = build_program(_kernel(_matmul(a, b)("PYTHON_GPU")).ast, "k", [Opt("TC", 0, "m16n8k16")], gpu=True, tc=TC)
    src = render(prg, CUDA)
    assert src.count("*(const uint32_t*)(data1 + ") == 4 and "*(const uint32_t*)(data2" not in src
    a, b = _mm(32, 16, 30, "float16", np.random.default_rng(13))
    prg = build_program(_kernel(_matmul(a, b)("PYTHON_GPU")).ast, "k", [Opt("TC", 0, "m16n8k16")], gpu=True, tc=TC)
    src = render(prg, CUDA)
    assert src.count("*(const uint32_t*)(data1 + ") == 2 and "? (uint32_t)data1[" in src


def test_opencl_renderer_refuses_a_wmma():
    a, b = _mm(16, 8, 16, "float16", np.random.default_rng(11))
    prg = build_program(_kernel(_matmul(a, b)("PYTHON_GPU")).ast, "k", [Opt("TC", 0, "m16n8k16")], gpu=True, tc=TC)
    with pytest.raises(NotImplementedError, match="OpenCL backend: no tensor core"):
        render(prg, OPENCL)


# ------------------------------------------------------------------ SMEM: operands staged through workgroup memory

SMEM = Opt("SMEM", 0, 0)
TILES = [Opt("UPCAST", 0, 2), Opt("UPCAST", 1, 2), Opt("LOCAL", 0, 2)]  # as default_tc_opts: tiles a warp, 2 warps


def _staged(prg) -> bool:
    """Whether every WMMA of a program reads its A and B fragments from workgroup memory behind a barrier, and the
    barrier is inside the reduce loop where there is one (with one more before the loop between the copies of the
    first steps, each its own cp.async group, as many as the copies run ahead: smem.AHEAD - 1)."""
    from engine.codegen import smem

    wmmas = [u for u in prg.uops if u.op is Ops.WMMA]
    n_ab = 12 if wmmas[0].arg[0] == "m16n8k16" else 24
    reads = all(x.op is Ops.LOAD and x.src[0].src[0].op is Ops.BARRIER for w in wmmas for x in w.src[:n_ab])
    loops = [i for i, u in enumerate(prg.uops) if u.op is Ops.RANGE and u.arg[1] == "reduce"]
    bars = [i for i, u in enumerate(prg.uops) if u.op is Ops.BARRIER]
    if not loops:
        return reads and len(bars) == 1
    return reads and len(bars) == smem.AHEAD and sum(b > loops[0] for b in bars) == 1


@pytest.mark.parametrize("dt,shape,mnk,opts", [
    ("float16", "m16n8k16", (32, 16, 32), []),
    ("float16", "m16n8k16", (64, 32, 48), TILES),
    ("bfloat16", "m16n8k16", (64, 32, 48), TILES),
    ("bfloat16", "m16n8k16", (16, 8, 16), []),  # one step of K: no reduce loop, one copy of each tile
    ("float16", "m16n8k16", (20, 16, 32), [Opt("UPCAST", 0, 2)]),  # an M tail clamped inside the workgroup: A whole
    ("float8_e4m3fn", "m16n8k32", (32, 16, 64), []),
    ("float8_e4m3fn", "m16n8k32", (64, 32, 96), TILES),
])
def test_smem_matmul_equals_the_unoptimized_kernel(dt, shape, mnk, opts):
    a, b = _mm(*mnk, dt, np.random.default_rng(sum(mnk)))
    build = _matmul(a, b)
    plain = _run(build, [])
    np.testing.assert_array_equal(_run(build, [Opt("TC", 0, shape), *opts, SMEM]), plain)
    np.testing.assert_array_equal(plain, a.astype(np.float64) @ b.astype(np.float64))
    prg = build_program(_kernel(build("PYTHON_GPU")).ast, "k", [Opt("TC", 0, shape), *opts, SMEM], gpu=True,
                        tc=("m16n8k16", "m16n8k32"))
    assert _staged(prg)


@pytest.mark.parametrize("opts", [
    [Opt("TC", 0, "m16n8k16"), Opt("UNROLL", 0, 2)],  # a K tile of 32 a step: two WMMAs a step read one tile
    [Opt("TC", 0, "m16n8k16"), Opt("ACCUM", 0, 2)],
    [Opt("TC", 0, "m16n8k16"), Opt("REORDER", 0, (1, 0, 2)), Opt("LOCAL", 0, 2)],  # the warps over the n tiles
])
def test_smem_composes_with_the_opts_before_it(opts):
    a, b = _mm(32, 32, 64, "float16", np.random.default_rng(16))
    np.testing.assert_array_equal(_run(_matmul(a, b), [*opts, SMEM]), _run(_matmul(a, b), []))


def test_smem_batched_matmul():
    a, b = _mm(32, 16, 32, "bfloat16", np.random.default_rng(17), batch=2)  # the batch: a grid index of the copy
    opts = [Opt("TC", 0, "m16n8k16"), SMEM]
    np.testing.assert_array_equal(_run(_matmul(a, b), opts), _run(_matmul(a, b), []))


def test_smem_conv2d_copies_in_the_innermost_tap_loop():
    """A conv whose input channels fit one tile: the reduce loops are the taps (3 x 3), the copy and its barrier run
    in the inner one and the copies alternate by the flattened step count (the inner loop's parity alone would
    repeat at its wrap, 3 being odd: a race)."""
    from engine.codegen import smem

    rng = np.random.default_rng(26)
    x = rng.integers(-3, 4, (1, 16, 4, 18)).astype(np.float16)
    w = rng.integers(-3, 4, (8, 16, 3, 3)).astype(np.float16)

    def build(dev):
        return Tensor(x, device=dev).cast(dtypes.float32).conv2d(Tensor(w, device=dev).cast(dtypes.float32))
    ast = _kernel(build("PYTHON_GPU")).ast
    staged = []
    for i in range(len(tensor_cores.candidates(ast, build_kernel(ast, "k", [], gpu=True).order))):
        try:
            prg = build_program(ast, "k", [Opt("TC", i, "m16n8k16"), SMEM], gpu=True, tc=TC)
        except OptError:  # the padded rows of the other candidates: gated fragments
            continue
        loops = [u.op for u in prg.uops if u.op in (Ops.RANGE, Ops.END, Ops.BARRIER)]
        before = [Ops.BARRIER] * (smem.AHEAD - 1)  # between the copies of the first steps
        assert loops == [*before, Ops.RANGE, Ops.RANGE, Ops.BARRIER, Ops.END, Ops.END], loops
        np.testing.assert_array_equal(_run(build, [Opt("TC", i, "m16n8k16"), SMEM]), _run(build, []))
        staged.append(i)
    assert staged


@pytest.mark.parametrize("fewer", [1, "all but one"])
def test_smem_too_few_buffers_are_caught_as_a_data_race(monkeypatch, fewer):
    """Each step copies the tiles of a later one (smem.AHEAD steps on): with one copy of each tile fewer than
    AHEAD + 2, or a single one, a thread's stores overwrite elements that other threads still read in the step before
    (no barrier between): the emulator reports the race; AHEAD + 2 copies have none."""
    from engine.codegen import smem

    a, b = _mm(32, 16, 96, "float16", np.random.default_rng(18))
    monkeypatch.setattr(smem, "BUFFERS", smem.AHEAD + 1 if fewer == 1 else 1)
    with pytest.raises(RuntimeError, match="data race .* local buffer 0, which .* read since the last barrier"):
        _run(_matmul(a, b), [Opt("TC", 0, "m16n8k16"), SMEM])
    monkeypatch.undo()
    np.testing.assert_array_equal(_run(_matmul(a, b), [Opt("TC", 0, "m16n8k16"), SMEM]), _run(_matmul(a, b), []))


@pytest.mark.parametrize("ahead", [2, 3])
def test_smem_copies_several_steps_ahead(monkeypatch, ahead):
    """Opt SMEM with the copies smem.AHEAD steps ahead of the compute (AHEAD + 2 stages): the same result as the
    unoptimized kernel, with and without UNROLL (fewer steps than AHEAD too); in CUDA, the first AHEAD steps' copies
    before the loop, each its own cp.async group (16-byte words), and the barrier in the loop waits for all groups but
    the newest AHEAD."""
    from engine.codegen import smem

    monkeypatch.setattr(smem, "AHEAD", ahead)
    monkeypatch.setattr(smem, "BUFFERS", ahead + 2)
    unroll = [Opt("UNROLL", 0, 2)]
    for mnk, opts in (((32, 16, 96), []), ((64, 32, 48), TILES), ((32, 16, 32), []), ((32, 16, 128), unroll)):
        a, b = _mm(*mnk, "float16", np.random.default_rng(sum(mnk) + ahead))
        build = _matmul(a, b)
        np.testing.assert_array_equal(_run(build, [Opt("TC", 0, "m16n8k16"), *opts, SMEM]), _run(build, []))
    a, b = _mm(32, 16, 96, "float16", np.random.default_rng(5))
    prg = build_program(_kernel(_matmul(a, b)("PYTHON_GPU")).ast, "k", [Opt("TC", 0, "m16n8k16"), SMEM], gpu=True,
                        tc=TC)
    body = render(prg, CUDA)
    head, loop = body[:body.index("for (int32_t")], body[body.index("for (int32_t"):]
    assert head.count("cp.async.commit_group") == ahead and loop.count("cp.async.commit_group") == 1
    assert head.count("cp.async.cg.shared.global") == ahead * loop.count("cp.async.cg.shared.global") > 0
    assert f"cp.async.wait_group {ahead};" in loop and "= data1[" not in body and "= data2[" not in body


def test_spec_proves_workgroup_memory_indices_in_bounds(monkeypatch):
    from engine.codegen import smem
    from engine.spec import SpecError

    a, b = _mm(32, 16, 32, "float16", np.random.default_rng(19))
    ast = _kernel(_matmul(a, b)("PYTHON_GPU")).ast
    build_program(ast, "k", [Opt("TC", 0, "m16n8k16"), SMEM], gpu=True, tc=TC)
    real = smem._copy
    monkeypatch.setattr(smem, "_copy", lambda op, local, tile, *rest: real(op, local, tile + 8, *rest))
    with pytest.raises(SpecError, match="of workgroup buffer 0 .* can leave the buffer"):
        build_program(ast, "k", [Opt("TC", 0, "m16n8k16"), SMEM], gpu=True, tc=TC)


def test_smem_refused_where_it_does_not_apply():
    def ast_of(m: int, n: int, k: int, dt: str = "float16"):
        return _kernel(_matmul(*_mm(m, n, k, dt, np.random.default_rng(20)))("PYTHON_GPU")).ast

    tc = Opt("TC", 0, "m16n8k16")
    aligned = ast_of(32, 16, 32)
    with pytest.raises(OptError, match="needs TC first"):
        build_kernel(aligned, "k", [SMEM], gpu=True, tc=TC)
    with pytest.raises(OptError, match="needs a GPU"):
        build_kernel(aligned, "k", [SMEM])
    with pytest.raises(OptError, match="SMEM must be the last opt, UPCAST comes after it"):
        build_kernel(aligned, "k", [tc, SMEM, Opt("UPCAST", 0, 2)], gpu=True, tc=TC)
    for m, n, k in ((20, 12, 24), (20, 16, 32), (32, 12, 32), (32, 16, 24)):  # a tail of M, N or K
        with pytest.raises(OptError, match="SMEM does not apply"):
            build_kernel(ast_of(m, n, k), "k", [tc, SMEM], gpu=True, tc=TC)
    with pytest.raises(OptError, match="B tile of 1 x 128 does not divide among 256 threads"):
        build_kernel(ast_of(128, 8, 16), "k", [tc, Opt("LOCAL", 0, 8), SMEM], gpu=True, tc=TC)
    with pytest.raises(OptError, match=r"the tiles take \d+ bytes of workgroup memory \(at most 98304\)"):
        build_kernel(ast_of(16, 8, 2048), "k", [tc, Opt("UNROLL", 0, 64), SMEM], gpu=True, tc=TC)
    a, b = (np.ones(s, np.float32) for s in ((32, 32), (32, 16)))  # float32 inputs rounded to float16 in the kernel
    fused = _kernel(Tensor(a).cast(dtypes.float16).cast(dtypes.float32) @
                    Tensor(b).cast(dtypes.float16).cast(dtypes.float32)).ast
    with pytest.raises(OptError, match="a fragment element of A is not an unguarded load of a buffer"):
        build_kernel(fused, "k", [tc, SMEM], gpu=True, tc=TC)


def test_smem_footprint_must_be_a_rectangle():
    from engine.codegen.smem import SmemError, _footprint, _Operand

    op = _Operand("A", None, [], {}, [], [np.array([10, 11, 20]), np.array([21, 10])], {})
    _footprint(op)
    assert (op.origin, op.stride, op.rows, op.cols) == (10, 10, 2, 2)
    op.offs.append(np.array([12]))  # row 0 is longer than row 1
    with pytest.raises(SmemError, match="not a rectangle"):
        _footprint(op)


def test_default_tc_opts_end_with_smem_where_tc_smem_is_set(monkeypatch):
    import engine.codegen.kernel as kernel_mod

    a, b = _mm(128, 64, 32, "bfloat16", np.random.default_rng(22))
    ast = _kernel(_matmul(a, b)("PYTHON_GPU")).ast
    assert build_kernel(ast, "k", "default", gpu=True, tc=TC).applied[-1] == SMEM  # the default: TC_SMEM is set
    monkeypatch.setattr(kernel_mod, "TC_SMEM", False)
    assert SMEM not in build_kernel(ast, "k", "default", gpu=True, tc=TC).applied
    monkeypatch.undo()
    np.testing.assert_array_equal(_run(_matmul(a, b), "default"), _run(_matmul(a, b), []))
    ragged = _kernel(_matmul(*_mm(128, 64, 40, "bfloat16", np.random.default_rng(22)))("PYTHON_GPU")).ast
    assert SMEM not in build_kernel(ragged, "k", "default", gpu=True, tc=TC).applied  # a K tail: TC without SMEM


def test_smem_cuda_source_copies_to_shared_memory_and_syncs_in_the_loop(monkeypatch):
    from engine.renderer import c as c_renderer

    a, b = _mm(64, 32, 48, "float16", np.random.default_rng(23))
    prg = build_program(_kernel(_matmul(a, b)("PYTHON_GPU")).ast, "k", [Opt("TC", 0, "m16n8k16"), *TILES, SMEM],
                        gpu=True, tc=TC)
    src = render(prg, CUDA)
    body = src[src.index("__global__"):]
    assert "int64_t" not in body  # every index fits in 32 bits: the GPU computes them so (renderer.c._narrow_index)
    loop = body[body.index("for (int32_t"):]
    assert "__shared__ __align__(16) uint16_t temp0[" in src and "__syncthreads();" in loop
    # A's tile (64 x 16) in 16-byte words, 2 a thread; B's (16 x 16) in 8-byte words, 1 a thread: no element copies,
    # copied by cp.async (no registers), the tiles of step 0 before the loop and each step those of the next one; the
    # barrier waits for all but the newest group (the next step's tiles stay in flight while this step computes)
    from engine.codegen.smem import AHEAD

    head = body[:body.index("for (int32_t")]
    for part, steps in ((head, AHEAD), (loop, 1)):  # before the loop, the first AHEAD steps' copies: a group each
        assert part.count("cp.async.cg.shared.global") == 2 * steps and part.count("cp.async.ca.shared.global") == steps
        assert part.count("cp.async.commit_group") == steps
    assert loop.index(f"cp.async.wait_group {AHEAD};") < loop.index("__syncthreads();") < loop.index("mma.sync")
    assert "= data1[" not in loop and "= data2[" not in loop
    # the fragments: A's by ldmatrix.x4, B's (stored k by n) by ldmatrix.x2.trans, each once for the 2 x 2 mma that
    # use it; none from global memory; with LDMATRIX off, A's pairs as one 32-bit word of the tile, B's elements one
    # by one
    assert loop.count("ldmatrix.sync.aligned.m8n8.x4.shared.b16") == 2 == \
        loop.count("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16") and loop.count("mma.sync") == 4
    assert "(data1 + " not in loop and "(uint32_t)data2[" not in loop
    monkeypatch.setattr(c_renderer, "LDMATRIX", False)
    plain = render(prg, CUDA)
    assert "ldmatrix" not in plain and "*(const uint32_t*)(temp0 + " in plain and "(uint32_t)temp0[" in plain
    # the accumulators are the mma's C operands: no zero C, no add after it
    assert '"f"(0.0f)' not in loop and loop.count('"f"(val') == 4 * loop.count("mma.sync")


def test_randopt_gpu_draws_smem_after_tc():
    from fuzz.graphs.fuzzer import random_opts

    a, b = _mm(32, 16, 32, "float16", np.random.default_rng(24))
    ast = _kernel(_matmul(a, b)("PYTHON_GPU")).ast
    drawn = [random_opts(random.Random(i), "PYTHON_GPU")(ast, "k") for i in range(40)]
    smem = [opts for opts in drawn if SMEM in opts]
    assert smem and all(opts[0].op == "TC" and opts[-1] == SMEM for opts in smem), drawn


# ------------------------------------------------------------------ NVRTC: the inline PTX assembles


@pytest.mark.parametrize("dt", ["float16", "bfloat16", "float8_e4m3fn", "float8_e5m2"])
def test_tc_kernels_compile_with_nvrtc_for_sm80_and_sm90(dt):
    from engine.runtime.cuda import TENSOR_CORES, compile_cuda, nvrtc_available

    if not nvrtc_available():
        pytest.skip("NVRTC is not importable here (pip install -e '.[gpu]': cuda-bindings and nvidia-cuda-nvrtc)")
    a, b = _mm(40, 24, 72, dt, np.random.default_rng(12))
    ast = _kernel(_matmul(a, b)("PYTHON_GPU")).ast
    shape, archs = ("m16n8k16", ("sm_80", "sm_90")) if dt[-2:] == "16" else ("m16n8k32", ("sm_89", "sm_90"))
    for opts in ([Opt("TC", 0, shape)], "default"):
        src = render(build_program(ast, "tc_k", opts, gpu=True, tc=TENSOR_CORES), CUDA)
        ptx = {"float16": "f16", "bfloat16": "bf16", "float8_e4m3fn": "e4m3", "float8_e5m2": "e5m2"}[dt]
        if shape == "m16n8k16":
            assert f"mma.sync.aligned.{shape}.row.col.f32.{ptx}.{ptx}.f32" in src
        else:  # fp8 pairs converted to f16, two f16 mma for each k32 one (engine.renderer.c._fp8_as_f16)
            assert f"cvt.rn.f16x2.{ptx}x2" in src and "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32" in src
        for arch in archs:
            assert len(compile_cuda(src, "tc_k", arch)) > 0


@pytest.mark.parametrize("dt", ["float16", "bfloat16", "float8_e4m3fn"])
def test_smem_kernels_compile_with_nvrtc_for_sm80_and_sm90(dt):
    from engine.runtime.cuda import compile_cuda, nvrtc_available

    if not nvrtc_available():
        pytest.skip("NVRTC is not importable here (pip install -e '.[gpu]': cuda-bindings and nvidia-cuda-nvrtc)")
    shape, archs = ("m16n8k16", ("sm_80", "sm_90")) if dt[-2:] == "16" else ("m16n8k32", ("sm_89", "sm_90"))
    a, b = _mm(64, 32, 64 if dt[-2:] == "16" else 128, dt, np.random.default_rng(25))
    ast = _kernel(_matmul(a, b)("PYTHON_GPU")).ast
    for opts in ([Opt("TC", 0, shape), SMEM], [Opt("TC", 0, shape), *TILES, Opt("UNROLL", 0, 2), SMEM]):
        src = render(build_program(ast, "smem_k", opts, gpu=True, tc=("m16n8k16", "m16n8k32")), CUDA)
        assert "__syncthreads();" in src and "cp.async.cg.shared.global" in src
        for arch in archs:
            assert len(compile_cuda(src, "smem_k", arch)) > 0


@pytest.mark.parametrize("layout", ["nn", "tn", "nt", "tt"])
def test_ldmatrix_registers_hold_the_elements_the_loads_read(layout):
    """CUDA with SMEM: an mma operand whose elements the lanes read from workgroup memory in the ISA's 8 x 8 matrix
    layout is read by one ldmatrix (.x4 for A, .x2 for B; .trans where the tile is stored transposed: a row-major B,
    a transposed A). ldmatrix simulated from the PTX ISA's definition (lane t gives the row address of row t % 8 of
    matrix t // 8; lane L receives row L // 4, columns 2 (L % 4) + 0, 1 of each matrix, or with .trans column L // 4,
    rows 2 (L % 4) + 0, 1) at every lane, from the address expression the renderer writes, with the loops and warps
    at random values: each register holds exactly the elements the replaced loads read. The source compiles where
    NVRTC is installed."""
    from engine.renderer.c import _fragment, _ldmatrix_address
    from engine.rewrite import substitute
    from engine.symbolic import sym_infer

    rng = np.random.default_rng(40)
    a, b = _mm(64, 128, 64, "float16", rng)
    ta, tb = layout[0] == "t", layout[1] == "t"
    a_src, b_src = (np.ascontiguousarray(a.T) if ta else a), (np.ascontiguousarray(b.T) if tb else b)

    def build(dev):
        x, y = Tensor(a_src, device=dev).cast(dtypes.float32), Tensor(b_src, device=dev).cast(dtypes.float32)
        return (x.T if ta else x) @ (y.T if tb else y)
    prg = build_program(_kernel(build("PYTHON_GPU")).ast, "k", "default", gpu=True, tc=TC)
    lane = next(u for u in prg.uops if u.op is Ops.SPECIAL and u.arg == "lidx0")
    ranges = [u for u in prg.uops if u.op is Ops.RANGE]
    specials = [u for u in prg.uops if u.op is Ops.SPECIAL and u is not lane]
    seen: dict[str, bool] = {}
    operands = dict.fromkeys((name, tuple(xs)) for w in prg.uops if w.op is Ops.WMMA
                             for name, xs in (("A", w.src[:8]), ("B", w.src[8:12])))  # each distinct operand once
    for name, xs in operands:
        f = _fragment(xs, lane)
        assert f is not None, f"{layout}: operand {name} is not read with ldmatrix"
        seen[name] = f.trans
        for _ in range(2):
            env = {s: UOp.const(dtypes.index, int(rng.integers(0, s.src[0].arg))) for s in specials}
            loops = {r: int(rng.integers(0, r.src[0].arg)) for r in ranges}

            def at(u: UOp, t: int) -> int:
                return sym_infer(substitute(u, {**env, lane: UOp.const(dtypes.index, t)}), loops)
            want = [[at(x.src[0].src[1], t) for x in xs] for t in range(32)]
            # the address the renderer writes (integer math meaning the same in C and Python), at each lane
            expr = _ldmatrix_address(f, {f.first: "first", f.lane: "lane"})
            addr = [eval(expr, {}, {"first": at(f.first, t), "lane": t}) for t in range(32)]
            for t in range(32):
                g, c = t // 4, t % 4
                got = [(addr[8 * m + 2 * c + j] + g) if f.trans else (addr[8 * m + g] + 2 * c + j)
                       for m in range(len(f.origin)) for j in (0, 1)]
                assert got == want[t], (layout, name, t)
    # stored transposed: B row-major (k rows) unless tb, A column-major (k rows) only if ta
    assert seen == {"A": ta, "B": not tb}
    src = render(prg, CUDA)
    assert src.count("ldmatrix.sync.aligned.m8n8.x4") and src.count("ldmatrix.sync.aligned.m8n8.x2")
    from engine.runtime.cuda import compile_cuda, nvrtc_available
    if nvrtc_available():
        assert len(compile_cuda(src, "k", "sm_90")) > 0


BIG_SMEM = [Opt("TC", 0, "m16n8k16"), Opt("UPCAST", 0, 4), Opt("UPCAST", 1, 4), Opt("LOCAL", 1, 4), Opt("LOCAL", 0, 2),
            Opt("UNROLL", 0, 2), SMEM]  # the fp16 GEMM default: 56 KB of tiles


def test_smem_past_48_kb_is_declared_dynamic_on_cuda():
    """Tiles past the 48 KB a CUDA kernel may declare statically (smem.SMEM_BYTES allows 96): one extern (dynamic)
    shared buffer, the tiles at 16-byte aligned offsets in it; the runtime sets the kernel's limit and passes the size
    at launch (the on-card test runs it). The source compiles where NVRTC is installed."""
    from engine.renderer.c import STATIC_SHARED_BYTES, dynamic_shared_bytes
    from engine.runtime.cuda import compile_cuda, nvrtc_available

    a, b = _mm(128, 128, 96, "float16", np.random.default_rng(41))
    prg = build_program(_kernel(_matmul(a, b)("PYTHON_GPU")).ast, "k", BIG_SMEM, gpu=True, tc=TC)
    assert dynamic_shared_bytes(prg) > STATIC_SHARED_BYTES
    src = render(prg, CUDA)
    assert "extern __shared__ __align__(16) unsigned char dynamic_smem[];" in src and "__shared__ __align__" not in \
        src.replace("extern __shared__ __align__", "")
    small = build_program(_kernel(_matmul(a, b)("PYTHON_GPU")).ast, "k", [Opt("TC", 0, "m16n8k16"), *TILES, SMEM],
                          gpu=True, tc=TC)
    assert dynamic_shared_bytes(small) == 0 and "extern __shared__" not in render(small, CUDA)
    if nvrtc_available():
        assert len(compile_cuda(src, "k", "sm_90")) > 0


# ------------------------------------------------------------------ the graph fuzzer draws TC and finds TC bugs


def _tc_case(tag: str, i: int) -> dict:
    """A matmul-shaped graph case: two float16/bfloat16/fp8 inputs cast to float32 and multiplied (ragged sizes, a batch
    now and then, an op on top now and then), as the graph fuzzer's generator would write it."""
    rng = random.Random(f"{tag}:{i}")
    dt = rng.choice(("float16", "bfloat16", "float8_e4m3fn"))
    m, n = (rng.choice((2, 3, 5, 8, 16, 17, 24, 33)) for _ in range(2))
    k = rng.choice((2, 3, 5, 8, 16, 17, 24, 33, 48, 64))  # 48, 64: whole k tiles, a loop of them (SMEM's pipeline)
    batch = [2] if rng.random() < 0.3 else []
    inputs = [{"domain": rng.choice(("normal", "unit")), "dtype": dt, "seed": rng.randrange(1 << 30), "shape": s}
              for s in (batch + [m, k], batch + [k, n])]
    nodes = [{"attrs": {"dtype": "float32"}, "in": [0], "op": "cast"},
             {"attrs": {"dtype": "float32"}, "in": [1], "op": "cast"},
             {"attrs": {}, "in": [2, 3], "op": "matmul"}]
    if rng.random() < 0.5:
        nodes.append({"attrs": {}, "in": [4], "op": rng.choice(("relu", "neg", "exp"))})
    return {"inputs": inputs, "nodes": nodes, "outputs": [1 + len(nodes)], "realize": [], "seed": i}


def _planted_lanes_swapped(mp) -> None:
    """Code generation: lanes 0 and 5 load each other's A fragment (the emulator places them by the ISA's layout)."""
    from engine.uop import UOp

    orig = tensor_cores.a_position

    def planted(lane, i, k=16):
        idx = dtypes.index
        other = UOp(Ops.WHERE, idx, (lane.eq(5), UOp.const(idx, 0), lane))
        return orig(UOp(Ops.WHERE, idx, (lane.eq(0), UOp.const(idx, 5), other)), i, k)
    mp.setattr(tensor_cores, "a_position", planted)


def _planted_k_tail_dropped(mp) -> None:
    """Code generation: the reduce's tile loop rounds down, so the last K % 16 products are never summed."""
    from engine.uop import UOp

    orig = tensor_cores._split

    def planted(r, tile, kind):
        if kind != "reduce" or r.src[0].arg < tile:
            return orig(r, tile, kind)
        outer = r.src[0].arg // tile
        return (UOp.range(outer, r.arg[0], kind) if outer > 1 else UOp.const(dtypes.index, 0)), False
    mp.setattr(tensor_cores, "_split", planted)


def _planted_accumulator_dropped(mp) -> None:
    """Linearizer: the mma that is a tensor-core reduce's accumulate step takes zero C operands, so each k step
    overwrites the running sums (an accumulator lost after fusing the add into the instruction)."""
    import engine.codegen.kernel as kernel_mod
    from engine.codegen.program import Program

    orig = kernel_mod.linearize

    def planted(ast, name, order=None):
        prg = orig(ast, name, order)
        zero, new, out = UOp.const(dtypes.float32, 0.0), {}, []
        for u in prg.uops:
            src = tuple(new.get(x, x) for x in u.src)
            if u.op is Ops.WMMA and any(x.op is Ops.LOAD for x in src[-u.dtype.count:]):
                src = src[:-u.dtype.count] + (zero,) * u.dtype.count
            new[u] = u.replace(src=src) if src != u.src else u
            out.append(new[u])
        return Program(prg.name, [zero, *out])
    mp.setattr(kernel_mod, "linearize", planted)


def _planted_pipeline_copies_this_step(mp) -> None:
    """Opt SMEM: each step copies its own tiles (not the next step's) into the next stage, so every step after the
    first reads the tiles of the step before it."""
    from engine.codegen import smem

    orig = smem._at_step

    def planted(loops, g):
        return orig(loops, g.src[0].src[0] if g.op is Ops.MIN else g)  # min(f + 1, last) -> f
    mp.setattr(smem, "_at_step", planted)


def test_randopt_gpu_draws_tc_on_matmul_shaped_kernels_and_the_clean_engine_passes():
    from fuzz.graphs import GraphFuzzer
    from fuzz.graphs.case import infer_types, make_values, reference
    from fuzz.graphs.fuzzer import configs_for

    fz = GraphFuzzer(base="LLVM", modes=("randopt:gpu",))
    (cfg,) = configs_for(["randopt:gpu"], fz.base)
    drawn = 0
    for i in range(12):
        case = _tc_case("clean", i)
        arrays = [make_values(x) for x in case["inputs"]]
        with np.errstate(all="ignore"):
            refs = reference(case, arrays, infer_types(case))
        o = fz.run_config(case, arrays, refs, cfg)
        assert o.status == "pass", (o.status, o.error, case)
        drawn += sum(op == "TC" for k in o.kernels for op, _, _ in k["opts"])
    assert drawn >= 3, drawn


@pytest.mark.parametrize("plant", [_planted_lanes_swapped, _planted_k_tail_dropped, _planted_accumulator_dropped,
                                   _planted_pipeline_copies_this_step])
def test_planted_tc_bug_is_found_by_a_seeded_campaign_and_minimized(monkeypatch, plant):
    from fuzz.graphs import GraphFuzzer
    from fuzz.graphs.case import op_count
    from fuzz.graphs.fuzzer import randopt_device
    from fuzz.minimize import minimize

    fz = GraphFuzzer(base="LLVM", modes=("randopt:gpu",))
    plant(monkeypatch)
    found = None
    for i in range(40):
        case = _tc_case(plant.__name__, i)
        v = fz.check(case)
        if v.status in ("mismatch", "crash"):
            found = case, v
            break
    assert found is not None, f"{plant.__name__} was not found in 40 cases of randopt:gpu"
    case, v = found
    # the default opts pick TC too: the signature names the device (both fail) or the random opts; randopt:gpu runs
    # on CUDA where a GPU is present (the card finds both planted bugs too), else on the emulator
    gpu = randopt_device("gpu")
    assert v.signature in (f"mismatch:device:{gpu}", f"mismatch:opts:random:{gpu}"), v.signature
    small, _ = minimize("graphs", case, v.signature, check_fn=fz.check, time_budget_s=20)
    assert op_count(small) <= 3, small
    assert fz.check(small).signature == v.signature
    monkeypatch.undo()
    assert fz.check(small).status == "pass"  # the real engine passes the minimized case


def test_composed_and_conv_tc_kernels_compile_with_nvrtc():
    from engine.runtime.cuda import compile_cuda, nvrtc_available

    if not nvrtc_available():
        pytest.skip("NVRTC is not importable here (pip install -e '.[gpu]': cuda-bindings and nvidia-cuda-nvrtc)")
    a, b = _mm(64, 32, 64, "float16", np.random.default_rng(13))
    mm = _kernel(_matmul(a, b)("PYTHON_GPU")).ast
    x = Tensor(np.ones((2, 16, 16, 16), np.float16)).cast(dtypes.float32)  # the default picks TC: 16 columns
    conv = _kernel(x.conv2d(Tensor(np.ones((8, 16, 3, 3), np.float16)).cast(dtypes.float32), padding=1)).ast
    for ast, opts in ((mm, [Opt("TC", 0, "m16n8k16"), Opt("LOCAL", 0, 3), Opt("ACCUM", 0, 2)]),
                      (mm, [Opt("TC", 0, "m16n8k16"), Opt("UPCAST", 0, 2), Opt("UNROLL", 0, 2)]),
                      (conv, [Opt("TC", 4, "m16n8k16")]), (conv, "default")):
        prg = build_program(ast, "tc_k", opts, gpu=True, tc=TC)
        assert any(u.op is Ops.WMMA for u in prg.uops)
        assert len(compile_cuda(render(prg, CUDA), "tc_k", "sm_80")) > 0


# ------------------------------------------------------------------ on a real card (CUDA; skipped without a GPU)


def test_tc_kernels_on_cuda_equal_the_unoptimized_kernel_and_numpy():
    """Every TC path above, run by the card: fragment layout, tails, batch, composed opts, conv, the default heuristic,
    fp8, operands staged through shared memory (SMEM). Integer-valued data keeps every float32 sum exact, so any
    difference is a wrong product or a lost one. All configurations run and the failures are listed together (one GPU
    run shows every broken path)."""
    from engine.device import available, get_device

    if not available("CUDA"):
        pytest.skip("CUDA is not available here (a GPU and pip install -e '.[gpu]')")
    shapes_of = get_device("CUDA").tensor_cores
    assert "m16n8k16" in shapes_of, f"{get_device('CUDA').arch} has no mma.sync m16n8k16 (sm_80 and up)"
    rng = np.random.default_rng(14)
    runs: list[tuple[str, object, object]] = []
    for dt in ("float16", "bfloat16") + (("float8_e4m3fn", "float8_e5m2") if "m16n8k32" in shapes_of else ()):
        shape = "m16n8k16" if dt[-2:] == "16" else "m16n8k32"
        for mnk in ((16, 8, 16), (20, 12, 24), (17, 9, 3), (64, 32, 70), (128, 128, 256)):
            runs.append((f"{dt} {mnk}", _matmul(*_mm(*mnk, dt, rng)), [Opt("TC", 0, shape)]))
        runs.append((f"{dt} default 96^3", _matmul(*_mm(96, 96, 96, dt, rng)), "default"))
        k = 48 if shape == "m16n8k16" else 96
        runs.append((f"{dt} SMEM 64x32x{k}", _matmul(*_mm(64, 32, k, dt, rng)), [Opt("TC", 0, shape), *TILES, SMEM]))
        runs.append((f"{dt} default+SMEM 256x128x{2 * k}", _matmul(*_mm(256, 128, 2 * k, dt, rng)),
                     [Opt("TC", 0, shape), Opt("UPCAST", 0, 4), Opt("UPCAST", 1, 8), Opt("LOCAL", 0, 2), SMEM]))
    runs.append(("bf16 batch 3", _matmul(*_mm(18, 10, 20, "bfloat16", rng, batch=3)), [Opt("TC", 0, "m16n8k16")]))
    runs.append(("fp16 SMEM past 48 KB (dynamic)", _matmul(*_mm(128, 128, 96, "float16", rng)), BIG_SMEM))
    for ta, tb in ((True, False), (False, True), (True, True)):  # ldmatrix .trans / not, A and B stored transposed
        a_, b_ = _mm(128, 64, 64, "float16", rng)
        a_, b_ = (np.ascontiguousarray(a_.T) if ta else a_), (np.ascontiguousarray(b_.T) if tb else b_)

        def mmt(dev, a_=a_, b_=b_, ta=ta, tb=tb):
            x, y = Tensor(a_, device=dev).cast(dtypes.float32), Tensor(b_, device=dev).cast(dtypes.float32)
            return (x.T if ta else x) @ (y.T if tb else y)
        runs.append((f"fp16 default, A{'.T' * ta} @ B{'.T' * tb}", mmt, "default"))
    mm = _matmul(*_mm(64, 32, 64, "float16", rng))
    for opts in ([Opt("TC", 0, "m16n8k16"), Opt("LOCAL", 1, 2)],
                 [Opt("TC", 0, "m16n8k16"), Opt("UPCAST", 0, 2), Opt("UNROLL", 0, 2)],
                 [Opt("TC", 0, "m16n8k16"), Opt("LOCAL", 0, 3), Opt("ACCUM", 0, 2)],
                 [Opt("TC", 0, "m16n8k16"), Opt("REORDER", 0, (1, 0, 2))]):
        runs.append((f"fp16 {opts}", mm, opts))
    x = rng.integers(-3, 4, (2, 16, 6, 16)).astype(np.float16)
    w = rng.integers(-3, 4, (8, 16, 3, 3)).astype(np.float16)

    def conv(dev):
        return Tensor(x, device=dev).cast(dtypes.float32).conv2d(Tensor(w, device=dev).cast(dtypes.float32), padding=1)
    runs += [("conv TC 0", conv, [Opt("TC", 0, "m16n8k16")]), ("conv default", conv, "default")]
    bad = []
    for name, build, opts in runs:
        want = _run(build, [], "CPU")
        try:
            got = _run(build, opts, "CUDA")
            if not np.array_equal(got, want):
                bad.append(f"{name}: {int((got != want).sum())} of {got.size} differ, max {np.abs(got - want).max()}")
        except Exception as e:  # noqa: BLE001 - every configuration is reported
            bad.append(f"{name}: {type(e).__name__}: {str(e)[:300]}")
    assert not bad, "\n".join(bad)


def test_tc_of_random_values_on_cuda_stays_within_float32_reassociation():
    from engine.device import available

    if not available("CUDA"):
        pytest.skip("CUDA is not available here (a GPU and pip install -e '.[gpu]')")
    for dt in ("float16", "bfloat16"):
        a, b = _mm(200, 136, 520, dt, np.random.default_rng(15), ints=False)
        got = _run(_matmul(a, b), [Opt("TC", 0, "m16n8k16")], "CUDA")
        exact = a.astype(np.float64) @ b.astype(np.float64)
        bound = 520 * np.finfo(np.float32).eps * (np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64)))
        assert (np.abs(got - exact) <= bound).all(), (dt, np.abs(got - exact).max())


def test_fp8_tc_with_upcast_over_m_and_ragged_k_on_cuda():
    """A graph campaign's finding on an H100: fp8 m16n8k32 with UPCAST 3 over m and K=8 gave the first m tile an error
    of 2^-10 (ptxas's own fp8 mma split); the renderer now converts to f16 pairs itself (renderer.c._fp8_as_f16)."""
    from engine.device import available, get_device

    if not available("CUDA") or "m16n8k32" not in get_device("CUDA").tensor_cores:
        pytest.skip("CUDA with fp8 tensor cores (sm_89 and up) is not available here")
    for dt in ("float8_e4m3fn", "float8_e5m2"):
        a, b = _mm(33, 8, 8, dt, np.random.default_rng(16), ints=False)
        got = _run(_matmul(a, b), [Opt("TC", 0, "m16n8k32"), Opt("UPCAST", 0, 3)], "CUDA")
        exact = a.astype(np.float64) @ b.astype(np.float64)
        bound = 8 * np.finfo(np.float32).eps * (np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64)))
        assert (np.abs(got - exact) <= bound).all(), (dt, np.abs(got - exact).max())
