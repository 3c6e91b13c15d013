"""Multi-device tensors (engine/multi.py): sharding layouts, every op family per shard, all-reduce, resharding,
clear errors, and a data-parallel training step on 1 vs 4 devices."""

import numpy as np
import pytest

import engine.multi as multi
from engine import Tensor
from engine.multi import MultiTensor, ShardError, allreduce, realize_all, reshape_axis
from engine.uop import Ops

D2, D3, D4 = ["CPU:1", "CPU:2"], ["CPU:1", "CPU:2", "CPU:3"], ["CPU:1", "CPU:2", "CPU:3", "CPU:4"]


def _x(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _copies(m):
    return sum(it.is_copy for it in m.schedule())


@pytest.mark.parametrize("axis,sizes", [(None, None), (0, [3, 0, 4]), (1, [1, 2, 2]), (-1, None)])
def test_shard_layouts_gather_back_to_the_value(axis, sizes):
    x = _x((7, 5))
    m = Tensor(x).shard(D3, axis, sizes)
    assert m.devices == tuple(D3) and m.shape == (7, 5)
    if axis is None:
        assert m.axis is None and all(s.shape == (7, 5) for s in m.shards)
    else:
        assert m.axis == axis % 2 and sum(m.sizes) == x.shape[axis] and m.sizes == tuple(sizes or (2, 2, 1))
    np.testing.assert_array_equal(m.numpy(), x)
    for s, d in zip(m.shards, D3):
        assert s.device == d


def test_bad_shard_arguments_are_refused_naming_them():
    t = Tensor(_x((4, 3)))
    with pytest.raises(ValueError, match="sizes \\[1, 1\\] must be 2 non-negative sizes adding up to 4"):
        t.shard(D2, 0, [1, 1])
    with pytest.raises(ValueError, match="axis 2 out of range"):
        t.shard(D2, 2)
    with pytest.raises(ValueError, match="distinct"):
        t.shard(["CPU:1", "cpu:1"])


@pytest.mark.parametrize("axis,sizes", [(None, None), (0, [3, 0, 4]), (1, [1, 2, 2])])
def test_ops_on_shards_match_numpy(axis, sizes):
    x, w = _x((7, 5)), _x((5, 4), 1)
    m = Tensor(x).shard(D3, axis, sizes)
    np.testing.assert_allclose((m * 2 + 1).exp().numpy(), np.exp(x * 2 + 1), rtol=1e-6)
    np.testing.assert_allclose(m.sum(0).numpy(), x.sum(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m.sum().numpy(), x.sum(), rtol=1e-5)
    np.testing.assert_array_equal(m.max(1).numpy(), x.max(1))
    np.testing.assert_array_equal(m.min(0).numpy(), x.min(0))
    np.testing.assert_allclose((m @ Tensor(w).shard(D3)).numpy(), x @ w, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(m.T.numpy(), x.T)
    np.testing.assert_array_equal(m.reshape(35).numpy(), x.reshape(35))
    np.testing.assert_array_equal(m.flip(0).numpy(), x[::-1])
    np.testing.assert_array_equal(m.flip(1)[1:5, ::2].numpy(), x[:, ::-1][1:5, ::2])
    np.testing.assert_array_equal(m.pad(((1, 2), (0, 1)), 3.0).numpy(), np.pad(x, ((1, 2), (0, 1)), constant_values=3))
    np.testing.assert_allclose(m.softmax(1).numpy(), np.exp(x) / np.exp(x).sum(1, keepdims=True), rtol=1e-5)
    np.testing.assert_array_equal(m.argmax(0).numpy(), x.argmax(0))
    np.testing.assert_array_equal(multi.TensorNamespace().cat([m, m * 2], 0).numpy(), np.concatenate([x, x * 2], 0))
    np.testing.assert_allclose(m.var(0).numpy(), x.var(0), rtol=1e-5)


def test_elementwise_with_a_replicated_operand_slices_it_where_it_is():
    x, y = _x((6, 4)), _x((4,), 1)
    m = Tensor(x).shard(D2, 0, [4, 2]).realize()
    r = Tensor(y).shard(D2).realize()
    out = m * r + 1
    assert out.axis == 0 and out.sizes == (4, 2) and _copies(out.realize()) == 0
    np.testing.assert_allclose(out.numpy(), x * y + 1, rtol=1e-6)


def test_operands_split_differently_are_resharded_not_mixed():
    x = _x((6, 6))
    a = Tensor(x).shard(D2, 0, [1, 5])
    b = Tensor(x).shard(D2, 1, [3, 3])
    c = Tensor(x).shard(D2[::-1], 0, [3, 3])
    np.testing.assert_allclose((a + b).numpy(), 2 * x)
    np.testing.assert_allclose((a * c).numpy(), x * x, rtol=1e-6)
    assert (a + b).axis == 0 and (a + b).sizes == (1, 5)


def test_matmul_with_one_sharded_operand_in_both_layouts():
    x, w = _x((8, 6)), _x((6, 5), 1)
    def sh(a, *args):
        return Tensor(a).shard(D4, *args).realize()

    rows = sh(x, 0) @ sh(w)  # data parallel: the batch is split, no communication
    assert rows.axis == 0 and rows.sizes == (2, 2, 2, 2) and _copies(rows) == 0
    cols = sh(x) @ sh(w, 1, [2, 1, 0, 2])  # model parallel: the output columns
    assert cols.axis == 1 and cols.sizes == (2, 1, 0, 2) and _copies(cols) == 0
    inner = sh(x, 1, [3, 1, 1, 1]) @ sh(w)  # split contraction: partial sums all-reduced
    assert inner.axis is None and _copies(inner) > 0
    for out in (rows, cols, inner):
        np.testing.assert_allclose(out.numpy(), x @ w, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape,axis,sizes,new,want", [
    ((6, 4), 0, (2, 4), (24,), (0, (8, 16))),           # merge with the dims after it
    ((6, 4), 0, (2, 4), (2, 3, 4), None),                 # the split cuts inside the new leading dim
    ((24,), 0, (8, 16), (6, 4), (0, (2, 4))),            # split: only the first new dim is cut
    ((24,), 0, (6, 18), (6, 4), None),                   # 6 is not a multiple of 4: pieces would mix
    ((3, 4, 5), 1, (1, 3), (3, 20), (1, (5, 15))),
    ((3, 4, 5), 1, (1, 3), (1, 3, 4, 5), (2, (1, 3))),
    ((4, 6), 1, (3, 3), (24,), None),
])
def test_reshape_keeps_a_split_only_where_the_pieces_stay_whole(shape, axis, sizes, new, want):
    assert reshape_axis(shape, axis, sizes, new) == want
    x = np.arange(int(np.prod(shape)), dtype=np.int32).reshape(shape)
    out = Tensor(x).shard(D2, axis, sizes).reshape(new)
    assert (out.axis, out.sizes) == ((None, None) if want is None else (want[0], want[1]))
    np.testing.assert_array_equal(out.numpy(), x.reshape(new))


def test_movement_across_the_split_axis_keeps_a_valid_layout():
    x = np.arange(30, dtype=np.int32).reshape(6, 5)
    m = Tensor(x).shard(D3, 0, [2, 3, 1])
    assert m.shrink(((1, 4), None)).sizes == (1, 2, 0)
    assert m.pad(((2, 1), (0, 0))).sizes == (4, 3, 2)
    f = m.flip(0)
    assert f.devices == tuple(D3[::-1]) and f.sizes == (1, 3, 2)
    np.testing.assert_array_equal(f.numpy(), x[::-1])
    p = m.permute(1, 0)
    assert p.axis == 1
    np.testing.assert_array_equal((p[::-1, 1:5] + f.T[:, :4]).numpy(), x.T[::-1, 1:5] + x[::-1].T[:, :4])
    e = Tensor(x[:1]).shard(D2, 0, [1, 0]).expand(4, 5)  # a split size-1 axis that grows: replicated first
    assert e.axis is None
    np.testing.assert_array_equal(e.numpy(), np.broadcast_to(x[:1], (4, 5)))


@pytest.mark.parametrize("n", [2, 3, 4, 5])
@pytest.mark.parametrize("strategy", ["ring", "naive"])
def test_allreduce_gives_every_device_the_combined_value(n, strategy):
    devs = ["CPU"] + [f"CPU:{i}" for i in range(1, n)]
    vals = [np.arange(7, dtype=np.int64) * (i + 1) - 3 * i for i in range(n)]
    parts = [Tensor(v, device=d) for v, d in zip(vals, devs)]
    for op, ref in ((Ops.ADD, np.sum), (Ops.MAX, np.max), (Ops.MUL, np.prod)):
        out = allreduce(parts, op, strategy)
        assert [t.device for t in out] == devs
        for t in out:
            np.testing.assert_array_equal(t.numpy(), ref(np.stack(vals), 0))
    tiny = allreduce([Tensor(np.array([float(i)]), device=d) for i, d in enumerate(devs)], Ops.ADD, strategy)
    assert all(t.numpy()[0] == sum(range(n)) for t in tiny)  # fewer elements than devices: empty chunks


def test_ring_allreduce_sends_only_chunks():
    devs = [f"CPU:{i}" for i in range(4)]
    parts = [Tensor(np.ones(40, np.float32), device=d) for d in devs]
    from engine.realize import schedule_tensors

    items = schedule_tensors(*allreduce(parts, Ops.ADD, "ring"))
    sizes = [it.bufs[0].size for it in items if it.is_copy]
    assert len(sizes) == 2 * 3 * 4 and set(sizes) == {10}  # 2(N-1) steps of N chunk copies, each a quarter


def test_reduce_over_an_empty_piece_and_an_unknown_strategy():
    x = _x((5, 3))
    m = Tensor(x).shard(D3, 0, [0, 5, 0])
    np.testing.assert_array_equal(m.max(0).numpy(), x.max(0))
    np.testing.assert_allclose(m.sum(0).numpy(), x.sum(0), rtol=1e-6)
    with pytest.raises(ValueError, match="unknown strategy 'tree'"):
        allreduce(m.shards, Ops.ADD, "tree")


def test_op_that_cannot_run_sharded_raises_naming_it():
    import engine

    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    m = Tensor(x).shard(D2, 0, [1, 2])
    idx = Tensor(np.zeros((3, 4), np.int64)).shard(D2, 0, [1, 2])
    np.testing.assert_array_equal(m.gather(0, idx).numpy(), np.take_along_axis(x, np.zeros((3, 4), int), 0))
    with engine.checked_indexing(), pytest.raises(ShardError, match="^gather: needs the values"):
        m.gather(0, idx)
    with pytest.raises(ShardError, match="^__add__: mixes a tensor on CPU:1 with one sharded"):
        m + Tensor(x, device="CPU:1")
    # the plain tensor on the left (or as where's or matmul's operand) refuses it: it was read as a scalar, a TypeError
    # deep in the graph (found by the graph fuzzer's shard mode, corpus/graphs/crash-shard-tensor-op-multitensor-*;
    # logical_and made its operand a Python bool: crash-shard-logical-and-of-a-sharded-operand, a CUDA campaign)
    plain = Tensor(x, device="CPU:1")
    for op in (lambda a, b: a == b, lambda a, b: a + b, lambda a, b: a.maximum(b), lambda a, b: (a > 0).where(b, 1.0),
               lambda a, b: a @ b.reshape(4, 3), lambda a, b: a.logical_and(b), lambda a, b: a.logical_xor(b)):
        with pytest.raises(ShardError, match="^a tensor on CPU:1 cannot take one sharded over"):
            op(plain, m)
    # ... and as an index (an IndexError "unsupported index" before: corpus/graphs/crash-shard-plain-tensor-indexed-
    # by-a-sharded-index.json, a campaign of this session)
    for op in (lambda a, b: a[:, b[0] % 4], lambda a, b: a[b % 3]):
        with pytest.raises(ShardError, match="^a tensor on CPU:1 cannot take one sharded over .* as an index"):
            op(plain, idx)
    with pytest.raises(ShardError, match="^__mul__: tensors sharded over different devices"):
        m * Tensor(x).shard(D3)
    with pytest.raises(ShardError, match="uop: a sharded tensor has no single uop"):
        m.uop


def test_no_op_results_are_new_tensors_and_in_place_writes_reach_every_shard():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    m = Tensor(x).shard(D2, 0, [1, 2])
    same = m.cast(m.dtype)
    assert isinstance(same, MultiTensor) and same is not m
    m[1:, 2] = 100.0
    m.assign(m * 2)
    want = x.copy()
    want[1:, 2] = 100
    np.testing.assert_array_equal(m.numpy(), want * 2)
    np.testing.assert_array_equal(same.numpy(), x)


def test_the_schedule_lists_kernels_per_device_and_the_copies():
    m = Tensor(_x((4, 4))).shard(D2, 0).realize().sum(0)
    items = m.schedule()
    assert {it.device for it in items if not it.is_copy} == set(D2)
    assert {(it.bufs[1].device, it.device) for it in items if it.is_copy} == {("CPU:1", "CPU:2"), ("CPU:2", "CPU:1")}


def _train(devices, steps=5, lr=0.1):
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((16, 6)), rng.standard_normal((16, 2))
    ws = [rng.standard_normal((6, 8)) * 0.5, np.zeros(8), rng.standard_normal((8, 2)) * 0.5, np.zeros(2)]
    if len(devices) == 1:
        X, Y, params = Tensor(x, device=devices[0]), Tensor(y, device=devices[0]), [Tensor(w, device=devices[0])
                                                                                     for w in ws]
    else:  # data parallel: the batch split (unevenly), the weights replicated
        X, Y = Tensor(x).shard(devices, 0, [5, 3, 4, 4]), Tensor(y).shard(devices, 0, [5, 3, 4, 4])
        params = [Tensor(w).shard(devices) for w in ws]
    w1, b1, w2, b2 = params
    for _ in range(steps):
        h = X @ w1 + b1
        a = h.relu()
        out = a @ w2 + b2
        dout = (out - Y) * (2.0 / out.numel())  # d mean((out - y)^2)
        dw2, db2 = a.T @ dout, dout.sum(0)
        dh = (dout @ w2.T) * (h > 0)
        dw1, db1 = X.T @ dh, dh.sum(0)
        for p, g in zip(params, (dw1, db1, dw2, db2)):
            p.assign(p - g * lr)
        multi.realize_all(params)  # one schedule for the step
    return [p.numpy() for p in params], ws


def test_data_parallel_training_on_4_devices_matches_1_device():
    one, start = _train(["CPU"])
    four, _ = _train(D4)
    for a, b, w0 in zip(one, four, start):
        assert not np.allclose(a, w0)  # it trained
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)


def test_a_pad_along_the_sharded_axis_keeps_the_old_value_after_an_assign():
    # the pad left the middle shard as it was and returned the input's own shard Tensor: the assign showed through
    # (graph campaign seed 71: corpus/graphs/mismatch-shard-pad-middle-shard-aliases-input.json)
    devs = ["CPU", "CPU:1", "CPU:2"]
    a = Tensor(np.array([[-8, 5, 6]], np.int32)).shard(devs, 1, [1, 1, 1])
    p = a.pad(((0, 0), (1, 2)))
    a.assign(Tensor(np.full((1, 3), 7, np.int32)).shard(devs, 1, [1, 1, 1]))
    realize_all([a, p])
    assert p.numpy().tolist() == [[0, -8, 5, 6, 0, 0]] and a.numpy().tolist() == [[7, 7, 7]]
