"""Tensor nn API (engine/tensor_ops/nn.py) against numpy and small loop references written here."""

import math

import numpy as np
import pytest
from devices import DEVICES  # noqa: E402
from nn_refs import conv2d_ref, conv_transpose2d_ref, pool_ref

from engine.realize import schedule_tensors
from engine.tensor import Tensor


def _rand(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _close(t: Tensor, expected: np.ndarray, tol: float = 1e-5) -> None:
    got = t.numpy()
    assert got.shape == expected.shape, (got.shape, expected.shape)
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)


# ---------------------------------------------------------------- numpy references (loops over small sizes)
def interp_ref_1d(x, out_size, mode, align_corners=False, scale=None):
    """torch's upsample index formulas (float32 scale arithmetic), applied along the last axis."""
    n = x.shape[-1]
    sc = np.float32(1.0 / scale) if scale else np.float32(n) / np.float32(out_size)
    out = np.zeros(x.shape[:-1] + (out_size,), np.float64)
    for o in range(out_size):
        if mode == "nearest":
            i = o if out_size == n else min(int(math.floor(np.float32(o) * sc)), n - 1)
            out[..., o] = x[..., i]
        elif mode == "nearest-exact":
            out[..., o] = x[..., min(int(math.floor((np.float32(o) + np.float32(0.5)) * sc)), n - 1)]
        else:
            if align_corners:
                real = np.float32((n - 1) / (out_size - 1)) * np.float32(o) if out_size > 1 else 0.0
            else:
                real = max(float(sc * (np.float32(o) + np.float32(0.5)) - np.float32(0.5)), 0.0)
            i0 = min(int(math.floor(real)), n - 1)
            i1 = min(i0 + 1, n - 1)
            lam = min(max(real - i0, 0.0), 1.0)
            out[..., o] = (1 - lam) * x[..., i0] + lam * x[..., i1]
    return out


# ---------------------------------------------------------------- matmul, dot, einsum
MATMUL_SHAPES = [((3, 4), (4, 5)), ((4,), (4, 2)), ((2, 4), (4,)), ((4,), (4,)), ((2, 1, 3, 4), (5, 4, 2)),
                 ((3, 0), (0, 2)), ((0, 3), (3, 2)), ((1, 1), (1, 1)), ((2, 3, 4), (4, 1))]


@pytest.mark.parametrize("device", DEVICES)
def test_matmul_matches_numpy(device):
    for i, (sa, sb) in enumerate(MATMUL_SHAPES):
        a, b = _rand(sa, i), _rand(sb, i + 50)
        _close(Tensor(a, device=device) @ Tensor(b, device=device), a @ b)


def test_matmul_dtypes_and_views():
    a, b = np.arange(12, dtype=np.int32).reshape(3, 4), np.arange(8, dtype=np.int32).reshape(4, 2) - 3
    r = Tensor(a) @ Tensor(b)
    assert r.dtype.name == "int32"
    np.testing.assert_array_equal(r.numpy(), a @ b)
    m, n = a > 4, b > 0
    np.testing.assert_array_equal((Tensor(m) @ Tensor(n)).numpy(), m @ n)
    x = _rand((5, 6))
    _close(Tensor(x)[::-2, 1:].T @ Tensor(x)[::2], x[::-2, 1:].T @ x[::2])
    _close(x[:3, :5] @ Tensor(x[:5, :2]), x[:3, :5] @ x[:5, :2])  # __rmatmul__
    with pytest.raises(ValueError):
        Tensor(x) @ Tensor(x)


def test_matmul_is_one_kernel():
    a, b = Tensor(_rand((2, 8, 16))).realize(), Tensor(_rand((16, 4))).realize()
    assert len(schedule_tensors(a @ b)) == 1
    assert len(schedule_tensors(a.transpose() @ a)) == 1


def test_dot_matches_numpy():
    for sa, sb in [((3,), (3,)), ((2, 3), (3,)), ((2, 3, 4), (5, 4, 2)), ((3, 4), (4,)), ((), (3,))]:
        a, b = _rand(sa, 1), _rand(sb, 2)
        _close(Tensor(a).dot(Tensor(b)), np.dot(a, b))


EINSUMS = [("ij,jk->ik", [(3, 4), (4, 5)]), ("ij,jk", [(3, 4), (4, 5)]), ("ii", [(4, 4)]), ("ii->i", [(4, 4)]),
           ("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)]), ("i,j->ij", [(3,), (4,)]), ("ij->", [(3, 4)]), ("ji", [(3, 4)]),
           ("...ij,...jk->...ik", [(2, 3, 4), (4, 2)]), ("ijk,ikj->i", [(2, 3, 3), (2, 3, 3)]),
           ("iij->ji", [(3, 3, 2)]), ("i,i,i->", [(5,), (5,), (5,)]), ("ab,cd->", [(2, 0), (1, 3)])]


@pytest.mark.parametrize("formula,shapes", EINSUMS)
def test_einsum_matches_numpy(formula, shapes):
    arrs = [_rand(s, i) for i, s in enumerate(shapes)]
    _close(Tensor.einsum(formula, *[Tensor(a) for a in arrs]), np.einsum(formula, *arrs))


def test_einsum_errors_name_the_formula():
    with pytest.raises(ValueError, match="ij"):
        Tensor.einsum("ij,jk->ik", Tensor(_rand((3, 4))))
    with pytest.raises(ValueError):
        Tensor.einsum("ij->ik", Tensor(_rand((3, 4))))


# ---------------------------------------------------------------- convolution
CONVS = [dict(), dict(stride=2), dict(padding=1), dict(dilation=2), dict(stride=(2, 1), padding=(1, 2)),
         dict(groups=2), dict(stride=3, padding=1, dilation=2, groups=2), dict(stride=4)]


@pytest.mark.parametrize("kw", CONVS)
def test_conv2d_matches_reference(kw):
    g = kw.get("groups", 1)
    x, w, b = _rand((2, 4, 7, 9), 1), _rand((6, 4 // g, 3, 2), 2), _rand((6,), 3)
    _close(Tensor(x).conv2d(Tensor(w), Tensor(b), **kw), conv2d_ref(x, w, b, **kw), 1e-4)


@pytest.mark.parametrize("device", DEVICES)
def test_conv2d_small_on_every_device(device):
    x, w, w3 = _rand((1, 2, 4, 5), 4), _rand((3, 2, 2, 3), 5), _rand((1, 2, 3, 3), 6)
    _close(Tensor(x, device=device).conv2d(Tensor(w3, device=device), padding="same"),
           conv2d_ref(x, w3, padding=1), 1e-4)
    _close(Tensor(x, device=device).conv2d(Tensor(w, device=device), stride=2, dilation=(1, 2)),
           conv2d_ref(x, w, stride=2, dilation=(1, 2)), 1e-4)


def test_conv2d_bias_relu_is_one_kernel():
    x, w, b = Tensor(_rand((2, 3, 8, 8))).realize(), Tensor(_rand((4, 3, 3, 3))).realize(), Tensor(_rand(4)).realize()
    out = (x.conv2d(w, b, padding=1)).maximum(0)
    assert len(schedule_tensors(out)) == 1
    strided = x.conv2d(w, b, stride=2, dilation=2, padding=2).maximum(0)
    assert len(schedule_tensors(strided)) == 1
    _close(out, np.maximum(conv2d_ref(x.numpy(), w.numpy(), b.numpy(), padding=1), 0), 1e-4)


@pytest.mark.parametrize("kw", [dict(padding=1), dict(stride=2, padding=3), dict(dilation=2, stride=3)])
def test_conv2d_index_math_is_affine(kw):
    # the windows are one view of the input: after simplification no div/mod is left in the kernel
    from engine.codegen.kernel import build_program
    from engine.uop import Ops

    x, w = _rand((2, 3, 11, 13), 1), _rand((4, 3, 3, 3), 2)
    out = Tensor(x).conv2d(Tensor(w), **kw)
    [item] = schedule_tensors(out)
    ops = {u.op for u in build_program(item.ast, item.name).uops}
    assert Ops.IDIV not in ops and Ops.MOD not in ops
    _close(out, conv2d_ref(x, w, **kw), 1e-4)


def test_conv2d_int_input_and_errors():
    x, w = np.arange(2 * 9, dtype=np.int32).reshape(1, 2, 3, 3), np.ones((1, 2, 2, 2), np.int32)
    r = Tensor(x).conv2d(Tensor(w))
    assert r.dtype.name == "int32"
    np.testing.assert_array_equal(r.numpy(), conv2d_ref(x, w).astype(np.int32))
    with pytest.raises(ValueError):
        Tensor(_rand((1, 3, 4, 4))).conv2d(Tensor(_rand((2, 2, 3, 3))))
    with pytest.raises(ValueError):
        Tensor(_rand((1, 2, 2, 2))).conv2d(Tensor(_rand((2, 2, 3, 3))))


CONV_T = [dict(), dict(stride=2), dict(stride=2, padding=1, output_padding=1), dict(dilation=2, padding=2),
          dict(stride=3, groups=2), dict(stride=2, dilation=2, padding=1, output_padding=1, groups=2)]


@pytest.mark.parametrize("kw", CONV_T)
def test_conv_transpose2d_matches_scatter_reference(kw):
    g = kw.get("groups", 1)
    x, w, b = _rand((2, 4, 3, 4), 6), _rand((4, 6 // g, 3, 2), 7), _rand((6 // g * g,), 8)
    kw_ref = {k: v for k, v in kw.items()}
    expected = conv_transpose2d_ref(x, w, **kw_ref) + b.reshape(1, -1, 1, 1)
    _close(Tensor(x).conv_transpose2d(Tensor(w), Tensor(b), **kw), expected, 1e-4)


# ---------------------------------------------------------------- pooling
@pytest.mark.parametrize("k,s,p,d", [(2, None, 0, 1), (3, 1, 1, 1), (3, 2, 1, 1), (2, 3, 0, 1), (2, 1, 1, 2)])
def test_max_pool2d_matches_reference(k, s, p, d):
    x = _rand((2, 3, 7, 6), 9)
    _close(Tensor(x).max_pool2d(k, s, p, d), pool_ref(x, k, s or k, p, np.max, -np.inf, d))


@pytest.mark.parametrize("k,s,p", [(2, None, 0), (3, 1, 1), (3, 2, 1), (2, 3, 0)])
def test_avg_pool2d_counts_padding(k, s, p):
    x = _rand((2, 3, 7, 6), 10)
    _close(Tensor(x).avg_pool2d(k, s, p), pool_ref(x, k, s or k, p, np.sum, 0.0) / (k * k))


@pytest.mark.parametrize("device", DEVICES)
def test_pooling_int_and_three_dim_input(device):
    x = np.arange(2 * 5 * 5, dtype=np.int32).reshape(2, 5, 5) * np.int32(-1)
    r = Tensor(x, device=device).max_pool2d(2, 2, 1)
    assert r.dtype.name == "int32"
    np.testing.assert_array_equal(r.numpy(), pool_ref(x[None], 2, 2, 1, np.max, -2**31)[0].astype(np.int32))
    _close(Tensor(x, device=device).avg_pool2d(2), pool_ref(x[None], 2, 2, 0, np.sum, 0)[0] / 4)


# ---------------------------------------------------------------- normalization
def test_batchnorm_matches_formula():
    x, mean, var, w, b = _rand((2, 3, 4, 5)), _rand(3, 1), np.abs(_rand(3, 2)), _rand(3, 3), _rand(3, 4)
    sh = (1, 3, 1, 1)
    expected = (x - mean.reshape(sh)) / np.sqrt(var.reshape(sh) + 1e-5) * w.reshape(sh) + b.reshape(sh)
    _close(Tensor(x).batchnorm(Tensor(mean), Tensor(var), Tensor(w), Tensor(b)), expected, 1e-4)
    _close(Tensor(x[:, :, 0, 0]).batchnorm(Tensor(mean), Tensor(var), eps=0.1),
           (x[:, :, 0, 0] - mean) / np.sqrt(var + 0.1), 1e-4)


def _layernorm_ref(x, axes, w=None, b=None, eps=1e-5):
    x = x.astype(np.float64)
    mu, var = x.mean(axes, keepdims=True), x.var(axes, keepdims=True)
    out = (x - mu) / np.sqrt(var + eps)
    return out * (1 if w is None else w) + (0 if b is None else b)


@pytest.mark.parametrize("device", DEVICES)
def test_layernorm_matches_formula(device):
    x, w, b = _rand((2, 3, 5)), _rand((3, 5), 1), _rand((3, 5), 2)
    t = Tensor(x, device=device)
    _close(t.layernorm(), _layernorm_ref(x, -1), 1e-4)
    _close(t.layernorm(5), _layernorm_ref(x, -1), 1e-4)
    _close(t.layernorm((3, 5), Tensor(w, device=device), Tensor(b, device=device)),
           _layernorm_ref(x, (1, 2), w, b), 1e-4)
    _close(t.layernorm(-2, eps=0.5), _layernorm_ref(x, 1, eps=0.5), 1e-4)
    with pytest.raises(ValueError):
        t.layernorm(4)


def test_layernorm_schedules_to_at_most_two_kernels():
    x = Tensor(_rand((4, 32))).realize()
    w, b = Tensor(_rand(32, 1)).realize(), Tensor(_rand(32, 2)).realize()
    assert len(schedule_tensors(x.layernorm(32, w, b))) <= 2
    assert len(schedule_tensors(x.layernorm((4, 32)))) <= 2


# ---------------------------------------------------------------- interpolation
def test_interpolate_known_torch_values():
    x = Tensor(np.arange(4, dtype=np.float32).reshape(1, 1, 4))
    lin = [0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3]
    _close(x.interpolate(scale_factor=2, mode="linear"), np.array(lin, np.float32).reshape(1, 1, 8))
    _close(x.interpolate(size=8, mode="linear", align_corners=True), np.linspace(0, 3, 8).reshape(1, 1, 8))
    y = Tensor(np.arange(5, dtype=np.float32).reshape(1, 1, 5))
    _close(y.interpolate(size=3), np.array([[[0, 1, 3]]], np.float32))
    _close(y.interpolate(size=3, mode="nearest-exact"), np.array([[[0, 2, 4]]], np.float32))


@pytest.mark.parametrize("mode,align", [("nearest", None), ("nearest-exact", None), ("bilinear", False),
                                        ("bilinear", True)])
@pytest.mark.parametrize("size,scale", [((7, 3), None), ((2, 10), None), (None, 1.5), (None, (0.5, 2.0))])
def test_interpolate_2d_matches_torch_formulas(mode, align, size, scale):
    x = _rand((2, 2, 4, 5), 11)
    t = Tensor(x).interpolate(size=size, scale_factor=scale, mode=mode, align_corners=align)
    sc = (None, None) if scale is None else (scale, scale) if isinstance(scale, float) else scale
    outs = size or tuple(int(math.floor(i * s)) for i, s in zip(x.shape[2:], sc))
    m = "linear" if mode == "bilinear" else mode
    ref = interp_ref_1d(x, outs[1], m, bool(align), sc[1])
    ref = interp_ref_1d(ref.swapaxes(2, 3), outs[0], m, bool(align), sc[0]).swapaxes(2, 3)
    _close(t, ref, 1e-5)


def test_interpolate_nearest_keeps_int_dtype():
    x = np.arange(6, dtype=np.int32).reshape(1, 1, 2, 3)
    r = Tensor(x).interpolate(scale_factor=2)
    assert r.dtype.name == "int32"
    np.testing.assert_array_equal(r.numpy(), x.repeat(2, 2).repeat(2, 3))


def test_padded_conv_loads_from_safe_addresses_then_selects():
    # the padding gate moves from the load to a select, so the lanes of a row read adjacent memory; every address
    # stays inside the input (the PYTHON device bounds-checks each access)
    from engine.codegen.kernel import build_program
    from engine.uop import Ops

    x, w = _rand((1, 2, 5, 6), 3), _rand((3, 2, 3, 3), 4)
    out = Tensor(x, device="PYTHON").conv2d(Tensor(w, device="PYTHON"), padding=1)
    [item] = schedule_tensors(out)
    loads = [u for u in build_program(item.ast, item.name).uops if u.op is Ops.LOAD and u.src[0].src[0].arg == 1]
    assert loads and all(len(u.src[0].src) == 2 for u in loads)  # no gate on the input loads
    _close(out, conv2d_ref(x, w, padding=1), 1e-4)
