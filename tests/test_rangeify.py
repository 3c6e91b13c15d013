"""The rangeify scheduler: what fuses, what becomes a buffer, and that reduces are counted once."""

import numpy as np
import pytest

from engine.codegen.kernel import Kernel, Opt, OptError, build_program
from engine.rangeify import schedule
from engine.realize import run_schedule, schedule_tensors
from engine.spec import SpecError, verify_kernel
from engine.tensor import Tensor
from engine.uop import Ops, UOp

rng = np.random.default_rng(0)


def arr(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def n_kernels(t: Tensor) -> int:
    return len(schedule_tensors(t))


def test_elementwise_chain_is_one_kernel():
    a, b = Tensor(arr(4, 5)), Tensor(arr(4, 5))
    out = ((a + b) * 2 - a).maximum(b) * b
    assert n_kernels(out) == 1
    na, nb = a.numpy(), b.numpy()
    np.testing.assert_allclose(out.numpy(), np.maximum((na + nb) * 2 - na, nb) * nb, rtol=1e-6)


def test_sum_of_elementwise_is_one_kernel():
    a, b = Tensor(arr(3, 7)), Tensor(arr(3, 7))
    out = (a + b).sum()
    assert n_kernels(out) == 1
    np.testing.assert_allclose(out.numpy(), (a.numpy() + b.numpy()).sum(), rtol=1e-5)


def test_softmax_over_last_axis_is_one_kernel():
    x = Tensor(arr(6, 33))
    m = x.max(1, keepdim=True)
    e = x - m
    out = e / (e * e).sum(1, keepdim=True)
    assert n_kernels(out) == 1
    nx = x.numpy()
    ne = nx - nx.max(1, keepdims=True)
    np.testing.assert_allclose(out.numpy(), ne / (ne * ne).sum(1, keepdims=True), rtol=1e-5)


def test_reduce_over_an_outer_axis_reorders_the_loops_instead_of_recomputing():
    x = Tensor(arr(5, 9))
    out = x / x.sum(0, keepdim=True)  # the sum depends on the columns: the column loop goes outermost
    [item] = schedule_tensors(out)
    prg = build_program(item.ast, item.name, opts=None)
    loops = [u for u in prg.uops if u.op is Ops.RANGE]
    assert loops[0].src[0].arg == 9  # the outermost loop runs over the 9 columns
    np.testing.assert_allclose(out.numpy(), x.numpy() / x.numpy().sum(0, keepdims=True), rtol=1e-5)


def test_reduces_that_need_different_loop_orders_realize_one_of_them():
    x = Tensor(arr(5, 9))
    out = x / x.sum(0, keepdim=True) + x / x.sum(1, keepdim=True)
    assert len(schedule_tensors(out)) == 2
    nx = x.numpy()
    np.testing.assert_allclose(out.numpy(), nx / nx.sum(0, keepdims=True) + nx / nx.sum(1, keepdims=True),
                               rtol=1e-4, atol=1e-5)


def test_matmul_in_a_broadcast_is_not_recomputed():
    a, b = Tensor(arr(4, 6)), Tensor(arr(6, 3))
    mm = (a.reshape(4, 1, 6).expand(4, 3, 6) * b.permute(1, 0).reshape(1, 3, 6).expand(4, 3, 6)).sum(2)
    inner = mm.reshape(4, 3, 1).expand(4, 3, 8) + 1  # the matmul is computed once per (i, j): fused
    outer = mm.reshape(1, 4, 3).expand(8, 4, 3) + 1  # the broadcast loop moves inside the matmul's loops
    assert n_kernels(inner) == 1 and n_kernels(outer) == 1
    [item] = schedule_tensors(outer)
    loops = [u.src[0].arg for u in build_program(item.ast, item.name, opts=None).uops if u.op is Ops.RANGE]
    assert loops[:2] == [4, 3] and loops[-1] == 8  # i, j outside; the matmul's k loop, then the 8 copies
    ref = a.numpy() @ b.numpy()
    np.testing.assert_allclose(inner.numpy(), np.broadcast_to(ref[:, :, None], (4, 3, 8)) + 1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outer.numpy(), np.broadcast_to(ref[None], (8, 4, 3)) + 1, rtol=1e-5, atol=1e-6)


def test_movement_ops_are_index_math_not_copies():
    x = Tensor(arr(4, 6))
    v = x.permute(1, 0).flip(0).pad(((1, 2), (0, 3))).shrink(((1, 6), (2, 5))).reshape(15)
    assert n_kernels(v) == 1  # only the output
    nx = x.numpy()
    ref = np.pad(nx.T[::-1], ((1, 2), (0, 3)))[1:6, 2:5].reshape(15)
    np.testing.assert_allclose(v.numpy(), ref)


def test_contiguous_is_the_only_copy():
    x = Tensor(arr(3, 4))
    y = x.permute(1, 0).contiguous() + 1
    assert n_kernels(y) == 2
    np.testing.assert_allclose(y.numpy(), x.numpy().T + 1)


def test_each_reduce_has_its_own_accumulator_initialized_once_per_output():
    x = Tensor(arr(7, 5))
    s = x.sum(1, keepdim=True)
    out = s + s * 2 + x.max(1, keepdim=True)  # the same reduce used twice, plus another reduce
    [item] = schedule_tensors(out)
    prg = build_program(item.ast, item.name, opts=None)
    regs = [u for u in prg.uops if u.op is Ops.DEFINE_REG]
    assert len(regs) == 2  # s is one UOp: computed once, not twice
    inits = [u for u in prg.uops if u.op is Ops.STORE and u.src[0].src[0].op is Ops.DEFINE_REG
             and u.src[1].op is Ops.CONST]
    assert len(inits) == 2
    nx = x.numpy()
    np.testing.assert_allclose(out.numpy(), nx.sum(1, keepdims=True) * 3 + nx.max(1, keepdims=True), rtol=1e-5)


@pytest.mark.parametrize("opts", [None, "default", [Opt("UPCAST", 1, 4)],
                                  [Opt("REORDER", 0, (1, 0)), Opt("UNROLL", 0, 2)], [Opt("ACCUM", 0, 3)],
                                  [Opt("UPCAST", 0, 2), Opt("UPCAST", 1, 2), Opt("UNROLL", 0, 3)],
                                  [Opt("UPCAST", 1, 8), Opt("UNROLL", 0, 6)]])
def test_opts_do_not_change_results(opts):
    a, b = Tensor(arr(4, 6)), Tensor(arr(6, 8))
    out = (a.reshape(4, 1, 6).expand(4, 8, 6) * b.permute(1, 0).reshape(1, 8, 6).expand(4, 8, 6)).sum(2)
    items, views = schedule([out.uop], "CPU")
    run_schedule(items, "CPU", opts)
    got = views[out.uop].src[0].arg.numpy().reshape(4, 8)
    np.testing.assert_allclose(got, a.numpy() @ b.numpy(), rtol=1e-5)


def test_bad_opt_is_rejected():
    x = Tensor(arr(5, 3))
    [item] = schedule_tensors(x.sum(1))
    with pytest.raises(OptError, match="cannot split"):
        Kernel(item.ast, item.name).apply_opt(Opt("UPCAST", 0, 4))


def test_spec_rejects_an_index_that_can_leave_its_buffer():
    buf = UOp(Ops.DEFINE_GLOBAL, Tensor(arr(4)).dtype.pointer(10), (), 0)
    r = UOp.range(10, 0)
    bad = UOp.sink(UOp(Ops.STORE, UOp.const(buf.dtype.scalar, 0).dtype.__class__("void", 0, "v"),
                       (UOp(Ops.INDEX, buf.dtype, (buf, r + 1)), UOp.const(buf.dtype.scalar, 0.0))))
    with pytest.raises(SpecError, match="can leave"):
        verify_kernel(bad, "k")
    # the same index under a validity condition that keeps it inside is accepted
    ok = UOp.sink(UOp(Ops.STORE, bad.src[0].dtype, (UOp(Ops.INDEX, buf.dtype, (buf, r + 1, r < 9)),
                                                     UOp.const(buf.dtype.scalar, 0.0))))
    verify_kernel(ok, "k")


def test_zero_size_and_size_one_tensors():
    e = Tensor(np.zeros((0, 3), np.float32))
    assert (e + 1).numpy().shape == (0, 3)
    assert e.sum(0).numpy().tolist() == [0.0, 0.0, 0.0]
    one = Tensor(np.array([[2.5]], np.float32))
    assert (one * 2).sum().item() == 5.0


def test_realized_tensors_are_reused_not_recomputed():
    x = Tensor(arr(8))
    y = (x * 2).realize()
    z = y + 1
    assert n_kernels(z) == 1
    assert all(u.op is not Ops.REDUCE for u in schedule_tensors(z)[0].ast.toposort)
    np.testing.assert_allclose(z.numpy(), x.numpy() * 2 + 1)


def test_engine_schedule_lists_kernels_and_debug_prints_one_line_each(capsys, monkeypatch):
    import engine
    import engine.realize as realize_mod

    x = Tensor(arr(3, 4))
    items = engine.schedule(x.sum(1) + 1, x * 2)
    assert len(items) == 2 and all(i.ast.op is Ops.SINK for i in items)
    assert [i.name for i in items] == ["r_3", "E_3_4"]
    monkeypatch.setattr(realize_mod, "DEBUG", 2)
    (x + 5).realize()
    out = capsys.readouterr().out
    assert "E_3_4" in out and "void E_3_4(" in out


def test_assign_replaces_the_value_and_keeps_old_dependents():
    x = Tensor(np.arange(4, dtype=np.float32))
    y = x * 2
    x.assign(x + 10)
    np.testing.assert_allclose(x.numpy(), [10, 11, 12, 13])
    np.testing.assert_allclose(y.numpy(), [0, 2, 4, 6])
    x.assign(1)
    assert x.tolist() == [1, 1, 1, 1] and x.dtype.name == "float32"


@pytest.mark.parametrize("device", ["CPU", "LLVM", "PYTHON"])
def test_fused_kernels_agree_across_devices(device):
    rng2 = np.random.default_rng(1)
    nx = rng2.standard_normal((5, 6)).astype(np.float32)
    ni = rng2.integers(-20, 20, (5, 6)).astype(np.int32)
    x, i = Tensor(nx, device=device), Tensor(ni, device=device)
    out = (x - x.max(1, keepdim=True)) / (x * x + 1).sum(1, keepdim=True)
    ref = (nx - nx.max(1, keepdims=True)) / (nx * nx + 1).sum(1, keepdims=True)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal((i // 3 + i % 7).numpy(), ni // 3 + ni % 7)
    v = x.flip(1).pad(((1, 0), (2, 1))).shrink(((0, 5), (1, 8))).permute(1, 0)
    np.testing.assert_allclose(v.numpy(), np.pad(nx[:, ::-1], ((1, 0), (2, 1)))[0:5, 1:8].T)


def test_a_where_condition_never_removes_a_loads_own_gate():
    # found by the tensor tests: where_given_valid simplified a gated load inside a WHERE branch, dropping the
    # gate, so the load read out of bounds (WHERE computes both branches); the spec checker caught it
    x = Tensor(np.arange(10, dtype=np.float32))
    out = x.pad(((0, 2),)).reshape(3, 4).sum(-1).pad(((1, 0),))
    np.testing.assert_allclose(out.numpy(), [0, 6, 22, 17])


def test_reshape_runs_pair_dims_of_equal_products():
    from engine.rangeify import _reshape_groups

    assert _reshape_groups((2, 3, 4), (6, 4)) == [(0, 2, 0, 1), (2, 3, 1, 2)]
    assert _reshape_groups((4, 6), (6, 4)) == [(0, 2, 0, 2)]
    assert _reshape_groups((6, 1), (6,)) == [(0, 1, 0, 1), (1, 2, 1, 1)]
    assert _reshape_groups((), (1,)) == [(0, 0, 0, 1)]


@pytest.mark.parametrize("perm,shape", [((1, 0, 2), (3, 2, 8)), ((2, 0, 1), (4, 2, 6)), ((0, 2, 1), (12, 1, 4)),
                                        ((1, 2, 0), (1, 48)), ((2, 1, 0), (2, 2, 3, 4))])
def test_reshape_of_a_permuted_view_matches_numpy(perm, shape):
    x = arr(2, 3, 8)
    t = Tensor(x).permute(perm).reshape(shape)
    out = (t + 1).reshape(shape[::-1]).permute(tuple(range(len(shape)))[::-1]) * 2
    np.testing.assert_allclose(out.numpy(), ((x.transpose(perm).reshape(shape) + 1).reshape(shape[::-1]).T) * 2)


def test_reshape_of_trailing_dims_leaves_the_leading_index_alone():
    # (8, 6) -> (8, 2, 3): the index of dim 0 must not go through a div/mod of the flat index
    x = Tensor(arr(8, 6)).permute(1, 0)  # (6, 8), not contiguous
    out = x.reshape(6, 2, 4) * 2
    [item] = schedule_tensors(out)
    ops = {u.op for u in build_program(item.ast, item.name).uops}
    assert Ops.IDIV not in ops and Ops.MOD not in ops
    np.testing.assert_allclose(out.numpy(), x.numpy().reshape(6, 2, 4) * 2)


def _run_with_opts(t: Tensor, opts) -> np.ndarray:
    items, views = schedule([t.uop], "CPU")
    run_schedule(items, "CPU", opts)
    return views[t.uop].src[0].arg.numpy().reshape(t.shape)


def test_upcast_lanes_whose_masks_drop_a_loop_still_share_the_reduce_loop():
    # a stride-2 conv_transpose: with the output width upcast by 4, some lanes' masks make the reduce
    # independent of an output loop, yet all lanes accumulate in one loop nest
    x, w = Tensor(arr(2, 4, 3, 4)), Tensor(arr(4, 3, 3, 2))
    out = x.conv_transpose2d(w, stride=2, dilation=2, padding=1, output_padding=1, groups=2)
    [item] = schedule_tensors(out)
    k = Kernel(item.ast, item.name).apply_opt(Opt("UPCAST", 3, 4))
    assert sum(u.op is Ops.DEFINE_REG for u in k.to_program().uops) == 4
    np.testing.assert_allclose(_run_with_opts(out, [Opt("UPCAST", 3, 4)]), _run_with_opts(out, None), rtol=1e-5)


def test_a_split_by_the_whole_loop_leaves_no_outer_loop():
    a, b = Tensor(arr(4, 6)), Tensor(arr(6, 8))
    [item] = schedule_tensors(a @ b)
    k = Kernel(item.ast, item.name).apply_opt(Opt("UPCAST", 1, 8)).apply_opt(Opt("UNROLL", 0, 6))
    loops = [u for u in k.to_program().uops if u.op is Ops.RANGE]
    assert [u.src[0].arg for u in loops] == [4]  # the row loop; columns and the reduce are straight-line lanes


def test_default_opts_vectorize_a_conv_over_its_columns_and_unroll_the_kernel_width():
    from engine.codegen.kernel import default_opts

    x, w = Tensor(arr(2, 3, 8, 16)), Tensor(arr(4, 3, 3, 5))
    [item] = schedule_tensors(x.conv2d(w, padding=(1, 2)))
    k = Kernel(item.ast, item.name)
    # the rows (8 iterations left, the most) outermost to run in parallel, columns as 16 vector lanes, the 4 output
    # channels (which the input loads do not depend on) as a register tile
    assert default_opts(k) == [Opt("REORDER", 0, (2, 0, 1, 3)), Opt("VECTOR", 3, 16), Opt("UPCAST", 2, 4),
                               Opt("UNROLL", 2, 5)]


def test_integer_power_by_a_tensor_exponent_is_one_kernel():
    a = np.array([-3, -2, 0, 1, 2, 3, 5, 7], dtype=np.int32)
    e = np.array([0, 1, 2, 3, 5, 7, 9, 13], dtype=np.int32)
    out = Tensor(a) ** Tensor(e)
    assert len(schedule_tensors(out)) == 1  # square-and-multiply over 31 bits shares its products: no blow-up
    np.testing.assert_array_equal(out.numpy(), a ** e)


def test_a_conv_read_by_overlapping_pool_windows_is_realized_not_recomputed():
    rng = np.random.default_rng(0)
    x = rng.random((1, 3, 16, 16), dtype=np.float32)
    w = rng.random((8, 3, 3, 3), dtype=np.float32)
    overlapping = Tensor(x).conv2d(Tensor(w), padding=1).relu().max_pool2d(3, stride=2, padding=1)
    assert len(schedule_tensors(overlapping)) == 2  # each conv value would be computed ~2.25 times if fused
    tiled = Tensor(x).conv2d(Tensor(w), padding=1).relu().max_pool2d(2, stride=2)
    assert len(schedule_tensors(tiled)) == 1  # disjoint windows read each value once: fused
    conv = Tensor(x).conv2d(Tensor(w), padding=1).relu().numpy()
    pad = np.pad(conv, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    want = np.stack([[pad[:, :, i:i + 3, j:j + 3].max(axis=(2, 3)) for j in range(0, 16, 2)]
                     for i in range(0, 16, 2)]).transpose(2, 3, 0, 1)
    np.testing.assert_allclose(overlapping.numpy(), want, rtol=1e-5)


def test_a_large_reduce_into_few_values_is_split_in_two_kernels():
    """engine.rangeify.split_large_reduces: 2^16 elements into one value become 64 partials of 1024 (a realized
    buffer) and their sum; other outputs, reduce ops and axes keep their meaning; what no factor divides stays whole."""
    rng = np.random.default_rng(3)
    v = rng.standard_normal(1 << 16).astype(np.float32)
    t = Tensor(v).sum()
    items = schedule_tensors(t)
    assert len(items) == 2 and items[0].bufs[0].size == 64, [it.bufs[0].size for it in items]
    np.testing.assert_allclose(t.numpy(), v.astype(np.float64).sum(), rtol=1e-5)
    ints = rng.integers(-1000, 1000, (3, 1 << 15)).astype(np.int32)
    for got, want in ((Tensor(ints).max(1), ints.max(1)), (Tensor(ints).sum(1), ints.sum(1)),
                      (Tensor(ints.reshape(3, 128, 256)).min((1, 2)), ints.min(1)),
                      (Tensor(ints.T.copy()).sum(0, keepdim=True), ints.sum(1, keepdims=True).T)):
        assert len(schedule_tensors(got)) == 2
        np.testing.assert_array_equal(got.numpy(), want)
    whole = Tensor(rng.standard_normal(32771).astype(np.float32)).sum()  # a prime: no factor
    assert len(schedule_tensors(whole)) == 1
    assert len(schedule_tensors(Tensor(v.reshape(256, 256)).sum(1))) == 1  # 256 values: enough parallel work
    assert len(schedule_tensors(Tensor(v).sum(), fuse=False)) == 1  # unfused: one kernel per op, not split


def test_a_reduce_that_changes_with_another_reduces_loop_is_realized():
    """A conv summed by a global pool: the conv's reduction would run inside the pool's loop (no register tile), so
    the conv (with its relu) gets its own kernel; a short inner reduce stays fused, as does softmax's max (it does
    not change with the sum's loop)."""
    rng = np.random.default_rng(4)
    x = Tensor(rng.standard_normal((1, 64, 5, 5)).astype(np.float32)).contiguous()
    w = Tensor(rng.standard_normal((32, 64, 1, 1)).astype(np.float32)).contiguous()
    x.realize(), w.realize()
    pooled = x.conv2d(w).relu().mean((2, 3))
    items = schedule_tensors(pooled)
    assert len(items) == 2 and items[0].shape == (1, 32, 5, 5), [it.shape for it in items]
    want = np.maximum(np.einsum("nchw,oc->nohw", x.numpy(), w.numpy()[:, :, 0, 0]), 0).mean((2, 3))
    np.testing.assert_allclose(pooled.numpy(), want, rtol=1e-4, atol=1e-5)
    short = Tensor(rng.standard_normal((8, 6, 4)).astype(np.float32)).contiguous()
    short.realize()
    assert len(schedule_tensors(short.sum(2).max(1))) == 1  # 4 elements inside the max's loop: fused
    assert len(schedule_tensors(short.softmax(1))) == 1
