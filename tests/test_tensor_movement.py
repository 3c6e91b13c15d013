"""Tensor movement API (engine/tensor_ops/movement.py) against numpy, on every available device."""

import numpy as np
import pytest
from devices import DEVICES  # noqa: E402

from engine.realize import schedule_tensors
from engine.tensor import Tensor

DTYPES = [np.float32, np.int32, np.bool_]


def _arr(shape, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.integers(-50, 50, size=shape)
    return (a > 0) if dtype == np.bool_ else a.astype(dtype)


def _check(t: Tensor, expected: np.ndarray) -> None:
    got = t.numpy()
    assert got.shape == expected.shape, (got.shape, expected.shape)
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    np.testing.assert_array_equal(got, expected)


BASIC_INDICES = [
    0, -1, (slice(None), 2), (Ellipsis, -2), (None, 1), (slice(None, None, -1),),
    (slice(1, None, 2), slice(None, None, -2)),
    (slice(None), None, slice(4, 0, -3)), (Ellipsis, slice(None, None, 3)), (slice(5, 1),), (1, Ellipsis, None),
    (slice(-100, 100, 4), 0, slice(None, None, -1)), (Ellipsis,), (),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_basic_indexing_matches_numpy(device, dtype):
    a = _arr((3, 4, 5), dtype)
    t = Tensor(a, device=device)
    for idx in BASIC_INDICES:
        _check(t[idx], a[idx])


ADVANCED_INDICES = [
    ([0, 2],), (slice(None), [1, -1], 2), (0, slice(None), [1, 2]), ([0, 1], [1, 2], [3, 4]),
    (slice(None), [[0], [1]], [0, 1, 2]), (Ellipsis, [4, 0, 4]), (np.array([], dtype=np.int64),),
    (slice(None, None, -1), np.array([[3, 0]]), None), (None, [2, 1], slice(1, None, 2), 1),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [np.float32, np.bool_])
def test_advanced_indexing_matches_numpy_placement(device, dtype):
    a = _arr((3, 4, 5), dtype, seed=1)
    t = Tensor(a, device=device)
    for idx in ADVANCED_INDICES:
        _check(t[idx], a[idx])


def test_integer_tensor_and_bool_mask_indexing():
    a = _arr((4, 6), np.int32)
    t = Tensor(a)
    idx = np.array([[3, -1], [0, 2]])
    _check(t[Tensor(idx)], a[idx])
    _check(t[:, Tensor(np.array(5))], a[:, np.array(5)])
    mask = a > 0
    _check(t[Tensor(mask)], a[mask])
    _check(t[mask[:, 0]], a[mask[:, 0]])


def test_indexing_errors():
    t = Tensor(_arr((3, 4)))
    with pytest.raises(IndexError):
        t[3]
    with pytest.raises(IndexError):
        t[0, 0, 0]
    with pytest.raises(IndexError):
        t[..., ...]
    with pytest.raises(IndexError):
        t[[0, 5]]
    with pytest.raises(IndexError):
        t[0.5]


def test_indexing_views_of_views_and_zero_size():
    a = _arr((6, 0, 3))
    t = Tensor(a)
    _check(t[::-2, :, 1], a[::-2, :, 1])
    b = _arr((5, 7))
    tb = Tensor(b)
    _check(tb.T[::-2][1:, ::3], b.T[::-2][1:, ::3])
    _check(tb.flip(0)[[1, 3]][:, ::-1], b[::-1][[1, 3]][:, ::-1])
    s = Tensor(np.array(3.5, dtype=np.float32))
    _check(s[None], np.array(3.5, dtype=np.float32)[None])
    _check(s[...], np.array(3.5, dtype=np.float32)[...])


def test_strided_slice_is_a_view_not_a_copy_kernel():
    t = Tensor(_arr((8, 8))).realize()
    assert len(schedule_tensors(t[::2, ::-3] + 1)) == 1


@pytest.mark.parametrize("device", DEVICES)
def test_axis_helpers_match_numpy(device):
    a = _arr((2, 1, 3, 1), np.int32)
    t = Tensor(a, device=device)
    _check(t.squeeze(), a.squeeze())
    _check(t.squeeze(1), a.squeeze(1))
    _check(t.squeeze((1, -1)), a.squeeze((1, 3)))
    _check(t.unsqueeze(0), a[None])
    _check(t.unsqueeze(-1), a[..., None])
    _check(t.transpose(), a.swapaxes(-2, -1))
    _check(t.transpose(0, 2), a.swapaxes(0, 2))
    _check(t.T, a.T)
    _check(t.flatten(), a.reshape(-1))
    _check(t.flatten(1, 2), a.reshape(2, 3, 1))
    _check(t.flatten(1).unflatten(1, (3, -1)), a.reshape(2, 3, 1))
    _check(Tensor(np.float32(2)).flatten(), np.array([2], np.float32))
    with pytest.raises(ValueError):
        t.squeeze(0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_repeat_and_tile(dtype):
    a = _arr((2, 3), dtype)
    t = Tensor(a)
    _check(t.repeat(2, 3), np.tile(a, (2, 3)))
    _check(t.repeat((2, 1, 2)), np.tile(a, (2, 1, 2)))
    _check(t.repeat(0, 1), np.tile(a, (0, 1)))
    _check(t.tile(2), np.tile(a, 2))
    _check(t.tile((3, 1, 1)), np.tile(a, (3, 1, 1)))
    with pytest.raises(ValueError):
        t.repeat(2)


@pytest.mark.parametrize("device", DEVICES)
def test_cat_and_stack(device):
    a, b, c = _arr((2, 3), np.float32), _arr((2, 1), np.int32, 1), _arr((2, 0), np.float32)
    ta, tb, tc = (Tensor(x, device=device) for x in (a, b, c))
    _check(Tensor.cat([ta, tb, tc], 1), np.concatenate([a, b, c], 1))
    _check(Tensor.cat([ta, ta[::-1]], -2), np.concatenate([a, a[::-1]], 0))
    _check(Tensor.cat([ta]), a)
    _check(Tensor.stack([ta, ta * 2, ta[:, ::-1]], 1), np.stack([a, a * 2, a[:, ::-1]], 1))
    _check(Tensor.stack([tb, tb], -1), np.stack([b, b], -1))
    neg_zero = Tensor(np.array([-0.0], dtype=np.float32))
    assert np.signbit(Tensor.cat([neg_zero, neg_zero]).numpy()).all()  # selected, never added to a zero pad
    m = _arr((3,), np.bool_)
    _check(Tensor.cat([Tensor(m), Tensor(~m)]), np.concatenate([m, ~m]))
    with pytest.raises(ValueError):
        Tensor.cat([ta, Tensor(_arr((3, 3)))], 1)
    with pytest.raises(ValueError):
        Tensor.stack([ta, tb])


def test_split_and_chunk_follow_torch():
    a = _arr((7, 2))
    t = Tensor(a)
    assert [p.shape for p in t.split(3)] == [(3, 2), (3, 2), (1, 2)]
    for p, e in zip(t.split([2, 0, 5]), np.split(a, [2, 2])):
        _check(p, e)
    assert [p.shape for p in t.chunk(3)] == [(3, 2), (3, 2), (1, 2)]
    assert [p.shape for p in t.chunk(4, 1)] == [(7, 1), (7, 1)]
    _check(Tensor.cat(t.chunk(3)), a)
    with pytest.raises(ValueError):
        t.split([2, 2])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_gather_matches_take_along_axis(device, dtype):
    a = _arr((3, 4, 5), dtype)
    rng = np.random.default_rng(2)
    t = Tensor(a, device=device)
    for axis in (0, 1, -1):
        idx = rng.integers(0, a.shape[axis], size=(2, 3, 4))
        expected = np.take_along_axis(_fit(a, idx.shape, axis), idx, axis)
        _check(t.gather(axis, Tensor(idx, device=device)), expected)
    _check(t.gather(2, Tensor(-np.ones((3, 4, 1), np.int64), device=device)), a[..., -1:])


def _fit(a, shape, axis):
    """Shrink a to the index shape on every axis but `axis` (torch.gather reads only that corner)."""
    axis %= a.ndim
    return a[tuple(slice(None) if d == axis else slice(0, s) for d, s in enumerate(shape))]


def test_gather_fuses_into_its_consumer():
    x = Tensor(_arr((4, 6))).realize()
    idx = Tensor(np.array([[0, 5], [1, 1], [2, 0], [3, 3]])).realize()
    assert len(schedule_tensors(x.gather(1, idx) * 2)) == 1
