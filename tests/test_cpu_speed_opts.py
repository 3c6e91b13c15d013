"""CPU speed opts: Opt VECTOR (a loop run as SIMD lanes by the C renderer), the register-tile heuristic, and the
scheduler realizing a reduce with its elementwise epilogue. Every vectorized kernel must compute exactly what the
same kernel computes without opts (same operations per lane, same order)."""

from collections import OrderedDict
from typing import Any

import numpy as np
import pytest

from engine.codegen.heuristic import blocked_strides, cpu_plan, stride
from engine.codegen.kernel import Kernel, Opt, OptError, build_kernel, default_opts
from engine.device import get_device
from engine.dtype import dtypes
from engine.rangeify import schedule
from engine.realize import run_schedule, schedule_tensors
from engine.tensor import Tensor
from engine.uop import Ops, UOp

rng = np.random.default_rng(0)


def arr(*shape: int, dtype: Any = np.float32) -> np.ndarray:
    return rng.standard_normal(shape).astype(dtype)


def _size(r: Any) -> int:
    return r.src[0].arg


def vector_opts(ast: Any, name: str) -> list[Opt]:
    """VECTOR on the innermost output loop that takes 16, 8, 4 or 2 lanes, and an UPCAST of another loop by 2."""
    k = Kernel(ast, name)
    for i in reversed(range(len(k.order))):
        lanes = next((n for n in (16, 8, 4, 2) if _size(k.order[i]) % n == 0), 0)
        if lanes:
            opts = [Opt("VECTOR", i, lanes)]
            other = next((j for j, r in enumerate(k.order) if j != i and _size(r) % 2 == 0), None)
            return opts + ([Opt("UPCAST", other, 2)] if other is not None else [])
    return []


def _run(t: Tensor, opts: Any) -> np.ndarray:
    items, views = schedule([t.uop], "CPU")
    run_schedule(items, "CPU", opts)
    v = views[t.uop]
    return (v.src[0] if v.op is Ops.RESHAPE else v).arg.numpy().reshape(t.shape)


def _vector_sources(t: Tensor, opts: Any) -> list[str]:
    dev = get_device("CPU")
    srcs = [dev.render(build_kernel(it.ast, it.name, opts(it.ast, it.name) if callable(opts) else opts)
                       .to_program()) for it in schedule_tensors(t)]
    return [s for s in srcs if "lanes of loop" in s]


def _same(t: Tensor, opts: Any = vector_opts) -> str:
    """The kernels of `t` with `opts` give bit for bit what they give without opts; the vectorized sources."""
    srcs = _vector_sources(t, opts)
    assert srcs, "no kernel was vectorized"
    got, want = _run(t, opts), _run(t, None)
    np.testing.assert_array_equal(got.view(np.uint8) if got.dtype.kind == "f" else got,
                                  want.view(np.uint8) if want.dtype.kind == "f" else want)
    return "\n".join(srcs)


def test_a_vectorized_matmul_tile_loads_and_multiplies_whole_vectors():
    a, b, bias = Tensor(arr(8, 24)), Tensor(arr(24, 32)), Tensor(arr(32))
    out = (a @ b + bias).relu()
    [item] = schedule_tensors(out)
    plan = default_opts(Kernel(item.ast, item.name))
    assert plan[0] == Opt("VECTOR", 1, 16) and Opt("UPCAST", 0, 8) in plan
    src = _same(out, lambda ast, name: plan)
    loop = src[src.index("for (int64_t ridx2"):]
    assert "memcpy(&val" in loop and "l_ <" not in loop[:loop.index("}")]  # no lane-by-lane code in the reduce
    np.testing.assert_allclose(out.numpy(), np.maximum(a.numpy() @ b.numpy() + bias.numpy(), 0), rtol=1e-5)


@pytest.mark.parametrize("dt", [np.float32, np.float64, np.float16, np.int32, np.int64, np.uint8])
def test_vector_lanes_of_column_sums_match_scalar_code(dt):
    x = Tensor((arr(12, 32) * 20).astype(dt))
    _same(x.sum(0))
    _same((x * 3 - x).max(0))


def test_vector_lanes_of_narrow_float_matmuls_round_like_scalar_code():
    for dt in (dtypes.float16, dtypes.bfloat16):
        a, b = Tensor(arr(4, 16)).cast(dt), Tensor(arr(16, 32)).cast(dt)
        _same(a @ b)


def test_vector_lanes_of_comparisons_selects_and_bool_outputs():
    x, y = Tensor(arr(6, 16)), Tensor(arr(6, 16))
    leaky = (x > 0).where(x, x * 0.1)
    _same((leaky * y).sum(0))
    _same(((x * y).sum(0) > 0) & ((x - y).sum(0) < 1))
    _same((x.sum(0) >= 0).where(x.sum(0), y.max(0)))


def test_vector_lanes_propagate_nan_through_max_like_scalar_code():
    a = arr(5, 16)
    a[2, 3], a[0, 7] = np.nan, np.nan
    x = Tensor(a)
    src = _same(x.max(0))
    assert "NAN" in src
    _same((x.sum(0)).relu())


def test_vector_lanes_of_index_values_argmax_and_erf_bit_tricks():
    x = Tensor(arr(9, 32))
    _same(x.argmax(0))
    _same((x @ Tensor(arr(32, 16))).gelu())  # erf: bit casts, integer masks, exp2 lane by lane


def test_vector_lanes_of_padded_and_strided_convs_gather_where_not_adjacent():
    x, w = Tensor(arr(1, 3, 9, 16)), Tensor(arr(4, 3, 3, 3))
    _same(x.conv2d(w, padding=1))  # gated loads of the padding, lane by lane
    _same(x.conv2d(w, padding=1, stride=2))  # stride-2 lanes: gathers
    conv = x.conv2d(w, padding=1)
    assert _vector_sources(conv, "default")  # the heuristic's own tile; its unrolled taps add in another order
    np.testing.assert_allclose(_run(conv, "default"), _run(conv, None), rtol=1e-5, atol=1e-5)


def test_vector_opt_is_checked():
    [item] = schedule_tensors(Tensor(arr(8, 12)) @ Tensor(arr(12, 16)))
    k = Kernel(item.ast, item.name)
    with pytest.raises(OptError, match="lanes must be one of"):
        Kernel(item.ast, item.name).apply_opt(Opt("VECTOR", 1, 3))
    with pytest.raises(OptError, match="cannot split"):
        Kernel(item.ast, item.name).apply_opt(Opt("VECTOR", 1, 32))
    with pytest.raises(OptError, match="needs a CPU kernel"):
        Kernel(item.ast, item.name, gpu=True).apply_opt(Opt("VECTOR", 1, 16))
    k.apply_opt(Opt("VECTOR", 1, 8))
    with pytest.raises(OptError, match="already has a vector loop"):
        k.apply_opt(Opt("VECTOR", 0, 4))
    with pytest.raises(OptError, match="no output loop"):
        k.apply_opt(Opt("UPCAST", len(k.order) - 1, 2))  # the vector loop itself
    # reordered after the vector loop: it stays innermost, the result is the same
    out = Tensor(arr(8, 12)) @ Tensor(arr(12, 16))
    np.testing.assert_array_equal(_run(out, [Opt("VECTOR", 1, 8), Opt("REORDER", 0, (2, 0, 1))]), _run(out, None))


def test_other_devices_run_a_vector_loop_as_a_plain_loop():
    a, b = arr(4, 8), arr(8, 16)
    want = a @ b
    for dev in ("PYTHON", "LLVM"):
        from engine.device import available

        if not available(dev):
            continue
        ta, tb = Tensor(a, device=dev), Tensor(b, device=dev)
        out = ta @ tb
        items, views = schedule([out.uop], dev)
        run_schedule(items, dev, [Opt("VECTOR", 1, 16), Opt("UPCAST", 0, 2)])
        v = views[out.uop]
        np.testing.assert_allclose((v.src[0] if v.op is Ops.RESHAPE else v).arg.numpy().reshape(4, 16), want,
                                   rtol=1e-5)


def test_heuristic_strides_and_plan_follow_the_memory_layout():
    a, b = Tensor(arr(16, 32)), Tensor(arr(32, 48))
    [item] = schedule_tensors(a @ b)
    k = Kernel(item.ast, item.name)
    loads = [u for u in k.ast.toposort if u.op is Ops.INDEX and u.src[0].op is Ops.DEFINE_GLOBAL and u.src[0].arg]
    by_buf = {ld.src[0].arg: ld for ld in loads}
    rows, cols = k.order
    assert stride(by_buf[1].src[1], rows) == 32 and stride(by_buf[1].src[1], cols) == 0
    assert stride(by_buf[2].src[1], cols) == 1
    assert cpu_plan(k.order, k.reduce_ranges(), k.ast) == [("VECTOR", 1, 16), ("UPCAST", 1, 3), ("UPCAST", 0, 8)]
    # b transposed: no output loop reads adjacent memory in the reduce: no vector plan (the scalar heuristic)
    [item] = schedule_tensors(a @ Tensor(arr(48, 32)).permute(1, 0))
    k = Kernel(item.ast, item.name)
    assert cpu_plan(k.order, k.reduce_ranges(), k.ast) is None
    assert all(o.op != "VECTOR" for o in default_opts(k))


def test_a_reduce_is_realized_with_its_elementwise_epilogue():
    # conv -> batchnorm -> relu -> conv: the first kernel computes the batchnorm and relu once per element; the
    # second conv reads the result instead of recomputing rsqrt and relu for every use
    x, w1, w2 = Tensor(arr(1, 4, 8, 8)), Tensor(arr(8, 4, 3, 3)), Tensor(arr(8, 8, 1, 1))
    mean, var = Tensor(arr(8)), Tensor(np.abs(arr(8)) + 1)
    out = x.conv2d(w1, padding=1).batchnorm(mean, var).relu().conv2d(w2)
    items = schedule_tensors(out)
    assert len(items) == 2
    first, second = ({u.op for u in it.ast.toposort} for it in items)
    assert Ops.SQRT in first and Ops.MAX in first and Ops.SQRT not in second
    # gelu(x @ w + b) read by a matmul: erf is computed in the producer, once per element
    h = Tensor(arr(4, 16)) @ Tensor(arr(16, 32)) + Tensor(arr(32))
    items = schedule_tensors(h.gelu() @ Tensor(arr(32, 8)))
    assert len(items) == 2 and Ops.EXP2 in {u.op for u in items[0].ast.toposort}
    assert Ops.EXP2 not in {u.op for u in items[1].ast.toposort}
    np.testing.assert_allclose((h.gelu() @ Tensor(np.eye(32, dtype=np.float32))).numpy(), h.gelu().numpy(),
                               rtol=1e-6)


def _blocked(w: np.ndarray, block: int) -> Tensor:
    """A (O, I, ...) weight held as an (O / block, I, ..., block) buffer, seen as (O, I, ...)."""
    o, nd = w.shape[0], w.ndim
    held = np.ascontiguousarray(np.moveaxis(w.reshape(o // block, block, *w.shape[1:]), 1, -1))
    return Tensor(held).permute(0, nd, *range(1, nd)).reshape(*w.shape)


def test_a_loop_affine_in_its_blocks_is_vectorized_one_block_a_tile():
    # a 1x1 conv whose weight is packed in blocks of 32 output channels: the channel loop's addresses are
    # (co // 32) * K + co % 32: strides along co % 32, lanes and vectors side by side making up one block
    x, w = arr(1, 16, 6, 7), arr(64, 16, 1, 1)
    out = Tensor(x).conv2d(_blocked(w, 32))
    [item] = schedule_tensors(out)
    k = Kernel(item.ast, item.name)
    plan = cpu_plan(k.order, k.reduce_ranges(), k.ast)
    assert plan is not None and ("VECTOR", 1, 16) in plan and ("UPCAST", 1, 2) in plan, plan
    [wi] = [u.src[1] for u in k.ast.toposort if u.op is Ops.INDEX and u.src[0].arg == 2]
    [co] = [r for r in k.order if r in wi.toposort]  # the one output loop the weight's address depends on
    assert stride(wi, co) is None and blocked_strides([wi], co) == (32, [1])
    src = _same(out, "default")
    assert "v16_float" in src
    np.testing.assert_allclose(out.numpy(), Tensor(x).conv2d(Tensor(w)).numpy(), rtol=1e-5, atol=1e-5)
    # a block that the loop's size does not divide into several blocks is no block: no vector plan along it
    r = UOp.range(48, 0)
    assert blocked_strides([r // 32], r) is None and blocked_strides([(r // 16) * 100 + r % 16], r) == (16, [1])


def test_a_value_computed_from_a_reduce_is_realized_before_a_reduce_that_would_recompute_it():
    # layernorm(x) @ w: normalized once per element, not once per column of w
    x, w = Tensor(arr(8, 64)), Tensor(arr(64, 96))
    items = schedule_tensors(x.layernorm(-1) @ w)
    assert len(items) == 2
    assert Ops.SQRT not in {u.op for u in items[1].ast.toposort}
    np.testing.assert_allclose((x.layernorm(-1) @ w).numpy(), x.layernorm(-1).numpy() @ w.numpy(), rtol=1e-4,
                               atol=1e-4)
    # softmax stays one kernel (its reduces do not vary with the output column: no recomputation)
    assert len(schedule_tensors(x.softmax(-1))) == 1
    # a narrow product (fewer than RECOMPUTE_MAX columns) keeps the normalization fused
    assert len(schedule_tensors(x.layernorm(-1) @ Tensor(arr(64, 8)))) == 1


def test_vector_kernels_with_fused_sums_compile_in_one_batch(monkeypatch, tmp_path) -> None:
    """Each vector kernel with a fused sum declares its vector fma helper; the kernels of a schedule share one
    translation unit, which must still compile (a helper defined twice failed the batch, and every kernel was
    compiled again on its own: 27 compiler processes instead of 2 for ResNet-50)."""
    import engine.runtime.cpu as cpu

    monkeypatch.setenv("UOPFUZZ_CACHE", str(tmp_path))
    built: list[str] = []
    orig = cpu._build_library
    monkeypatch.setattr(cpu, "_build_library", lambda src, name: (built.append(name), orig(src, name))[1])
    a, b, c = arr(48, 64), arr(64, 32), arr(64, 80)
    ta, tb, tc = Tensor(a, device="CPU"), Tensor(b, device="CPU"), Tensor(c, device="CPU")
    x, y = (ta @ tb).contiguous(), (ta @ tc).contiguous()
    items = schedule_tensors(x, y)
    srcs = [get_device("CPU").render(build_kernel(it.ast, it.name).to_program()) for it in items
            if it.ast.op is Ops.SINK]
    assert len(srcs) == 2 and all("fma_v" in s for s in srcs)
    run_schedule(items, "CPU")
    assert built == ["batch"], built  # one library for both, no compile again one by one
    np.testing.assert_allclose(x.numpy(), a @ b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y.numpy(), a @ c, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("driver_links", [False, True])
def test_kernels_link_openmp_only_where_they_have_a_parallel_loop(monkeypatch, tmp_path, driver_links) -> None:
    """A kernel library is compiled with -fopenmp and linked with libgomp only when its source has a parallel loop
    (the driver's OpenMP spec is ~15 ms of a small batch's ~37), by ld directly where the compiler names it, else by
    the compiler driver: both give libraries that compute the same, parallel loop or not."""
    import engine.runtime.cpu as cpu

    if driver_links:
        monkeypatch.setattr(cpu, "_linker", lambda cc: None)
    monkeypatch.setenv("UOPFUZZ_CACHE", str(tmp_path))
    monkeypatch.setattr(get_device("CPU"), "_compiled", OrderedDict())  # compile again, not from memory
    commands: list[list[list[str]]] = []
    orig = cpu._compile_commands
    monkeypatch.setattr(cpu, "_compile_commands", lambda *a: (commands.append(orig(*a)), commands[-1])[1])
    small, big = arr(7, 5), arr(1 << 21)  # big: its elementwise loop runs in parallel
    got_small = (Tensor(small, device="CPU") * 3 - 1).numpy()
    got_big = (Tensor(big, device="CPU") * 3 - 1).numpy()
    np.testing.assert_array_equal(got_small, small * np.float32(3) - np.float32(1))
    np.testing.assert_array_equal(got_big, big * np.float32(3) - np.float32(1))
    assert len(commands) == 2
    (small_cmds, big_cmds) = commands
    assert len(small_cmds) == (1 if driver_links else 2) == len(big_cmds)
    assert not any("-fopenmp" in c or any("gomp" in a for a in c) for c in small_cmds)
    assert "-fopenmp" in big_cmds[0]
    if not driver_links:
        assert "gomp" in big_cmds[1][-1] and big_cmds[1][1] == "-shared"
