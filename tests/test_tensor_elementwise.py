"""Elementwise math, rounding, classification and creation helpers of Tensor, against numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from devices import DEVICES  # noqa: E402

from engine.dtype import dtypes
from engine.realize import schedule_tensors
from engine.tensor import Tensor

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _ref_erf(x: np.ndarray) -> np.ndarray:
    return _erf(x.astype(np.float64)).astype(x.dtype)


def _ref_gelu(x: np.ndarray) -> np.ndarray:
    x64 = x.astype(np.float64)
    with np.errstate(invalid="ignore"):
        return (0.5 * x64 * (1 + _erf(x64 / math.sqrt(2)))).astype(x.dtype)


def _ref_sigmoid(x: np.ndarray) -> np.ndarray:
    return (1 / (1 + np.exp(-x.astype(np.float64)))).astype(x.dtype)


def _ref_softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0, x.astype(np.float64)).astype(x.dtype)


# name: (engine op, numpy reference, input range, extra atol for float32)
FLOAT_OPS = {
    "exp": (Tensor.exp, np.exp, (-20, 20), 0),
    "exp2": (Tensor.exp2, np.exp2, (-20, 20), 0),
    "log": (Tensor.log, np.log, (0, 50), 0),
    "log2": (Tensor.log2, np.log2, (0, 50), 0),
    "sqrt": (Tensor.sqrt, np.sqrt, (0, 50), 0),
    "rsqrt": (Tensor.rsqrt, lambda x: 1 / np.sqrt(x), (0, 50), 0),
    "reciprocal": (Tensor.reciprocal, np.reciprocal, (-5, 5), 0),
    "sin": (Tensor.sin, np.sin, (-10, 10), 1e-7),
    "cos": (Tensor.cos, np.cos, (-10, 10), 1e-7),
    "tan": (Tensor.tan, np.tan, (-1.5, 1.5), 1e-7),
    "tanh": (Tensor.tanh, np.tanh, (-6, 6), 0),
    "sigmoid": (Tensor.sigmoid, _ref_sigmoid, (-30, 30), 0),
    "silu": (Tensor.silu, lambda x: x * _ref_sigmoid(x), (-10, 10), 1e-7),
    "softplus": (Tensor.softplus, _ref_softplus, (-30, 30), 0),
    "erf": (Tensor.erf, _ref_erf, (-5, 5), 1e-7),
    "gelu": (Tensor.gelu, _ref_gelu, (-6, 6), 1e-7),
    "abs": (Tensor.abs, np.abs, (-5, 5), 0),
    "neg": (Tensor.neg, np.negative, (-5, 5), 0),
    "sign": (Tensor.sign, np.sign, (-5, 5), 0),
    "square": (Tensor.square, np.square, (-5, 5), 0),
    "relu": (Tensor.relu, lambda x: np.maximum(x, 0), (-5, 5), 0),
    "floor": (Tensor.floor, np.floor, (-5, 5), 0),
    "ceil": (Tensor.ceil, np.ceil, (-5, 5), 0),
    "trunc": (Tensor.trunc, np.trunc, (-5, 5), 0),
    "round": (Tensor.round, np.round, (-5, 5), 0),
}
SPECIALS = [0.0, -0.0, 0.5, -0.5, 1.5, 2.5, -2.5, 1.0, -1.0, 1e-6, -1e-6, math.inf, -math.inf, math.nan]
TOL = {np.float32: (2e-6, 1e-6), np.float64: (1e-12, 1e-13), np.float16: (2e-3, 2e-3)}


def _inputs(lo: float, hi: float, dtype: type, n: int = 60) -> np.ndarray:
    rng = np.random.default_rng(0)
    vals = np.concatenate([rng.uniform(lo, hi, n), SPECIALS]).astype(dtype)
    return vals.reshape(2, -1)


def _assert_close(got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> None:
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("name", sorted(FLOAT_OPS))
def test_float_op_matches_numpy(name: str, dtype: type) -> None:
    op, ref, (lo, hi), extra_atol = FLOAT_OPS[name]
    x = _inputs(lo, hi, dtype)
    with np.errstate(all="ignore"):
        want = ref(x)
    rtol, atol = TOL[dtype]
    # transcendental functions of float32 inputs: a few ulp of the argument (exp(20) has an exponent of ~29)
    if name in ("exp", "exp2", "sigmoid", "softplus", "tanh", "gelu", "silu") and dtype == np.float32:
        rtol = 2e-5
    _assert_close(op(Tensor(x)).numpy(), want, rtol, atol + extra_atol)


def test_signed_zero_and_nan_results() -> None:
    x = np.array([-0.0, 0.0, -0.4, -0.5, math.nan], np.float32)
    assert np.signbit(Tensor(x).abs().numpy()[0]) == np.False_
    np.testing.assert_array_equal(np.signbit(Tensor(x).round().numpy()), np.signbit(np.round(x)))
    np.testing.assert_array_equal(np.signbit(Tensor(x).ceil().numpy()), np.signbit(np.ceil(x)))
    np.testing.assert_array_equal(np.signbit(Tensor(x).sign().numpy()), np.signbit(np.sign(x)))
    assert np.isnan(Tensor(x).sign().numpy()[-1]) and np.isnan(Tensor(x).abs().numpy()[-1])


def test_round_half_to_even() -> None:
    x = np.array([0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, 0.49999997, 4.5000005, 1e20, -7.5], np.float32)
    np.testing.assert_array_equal(Tensor(x).round().numpy(), np.round(x))
    y = np.array([1.25, 2.675, -0.125, 12.345], np.float64)
    np.testing.assert_allclose(Tensor(y).round(2).numpy(), np.round(y, 2), rtol=1e-15)


def test_tanh_and_erf_small_arguments_keep_relative_accuracy() -> None:
    x = np.array([1e-8, -3e-5, 1e-3, 0.1, 0.12, 0.13, -0.124], np.float32)
    np.testing.assert_allclose(Tensor(x).tanh().numpy(), np.tanh(x), rtol=3e-7)
    np.testing.assert_allclose(Tensor(x).erf().numpy(), _ref_erf(x), rtol=3e-7)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(Tensor(x64).tanh().numpy(), np.tanh(x64), rtol=1e-15)
    np.testing.assert_allclose(Tensor(x64).erf().numpy(), _ref_erf(x64), rtol=1e-15)


def test_cos_near_its_zeros() -> None:
    x = np.array([math.pi / 2, -math.pi / 2, 5 * math.pi / 2, -7.850455, 3 * math.pi / 2, 100.0], np.float32)
    np.testing.assert_allclose(Tensor(x).cos().numpy(), np.cos(x), rtol=1e-5, atol=1e-7)


def test_softplus_is_stable_at_the_extremes() -> None:
    x = np.array([-100.0, -40.0, 40.0, 100.0, 1e30], np.float32)
    np.testing.assert_allclose(Tensor(x).softplus().numpy(), _ref_softplus(x), rtol=2e-6)
    np.testing.assert_allclose(Tensor(x).softplus(beta=2.0).numpy(), _ref_softplus(2 * x) / 2, rtol=2e-6)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.int8, np.bool_])
def test_integer_inputs_follow_numpy_dtypes(dtype: type) -> None:
    x = (np.arange(-6, 6) if dtype != np.uint8 else np.arange(0, 250, 21)).astype(dtype).reshape(3, 4)
    t = Tensor(x)
    def keep(v: np.ndarray) -> np.ndarray:  # floor/ceil/trunc keep integer dtypes (numpy >= 2.3; 2.0-2.2 gave floats)
        return v.copy()

    cases = {"floor": keep, "ceil": keep, "trunc": keep, "abs": np.abs, "square": np.square,
             "reciprocal": lambda v: np.where(v == 0, 0, np.reciprocal(np.where(v == 0, 1, v))).astype(
                 np.reciprocal(v[:1]).dtype), "isnan": np.isnan, "isinf": np.isinf}
    if dtype != np.bool_:
        cases.update({"sign": np.sign, "neg": np.negative, "round": np.round, "relu": lambda v: np.maximum(v, 0)})
    for name, ref in cases.items():
        with np.errstate(all="ignore"):
            got, want = getattr(t, name)().numpy(), ref(x)
        assert got.dtype == want.dtype, (name, got.dtype, want.dtype)
        np.testing.assert_array_equal(got, want, err_msg=name)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.int8, np.int16, np.bool_, np.uint8, np.uint16, np.uint32])
def test_float_ufuncs_of_ints_promote_like_numpy(dtype: type) -> None:
    x = np.arange(0, 12).astype(dtype).reshape(3, 4)
    for name in ("exp", "sqrt", "sin", "log2"):
        with np.errstate(all="ignore"):
            want = getattr(np, name)(x)
        got = getattr(Tensor(x), name)().numpy()
        assert got.dtype == want.dtype, (name, got.dtype, want.dtype)
        np.testing.assert_allclose(got, want, rtol={2: 1e-3, 4: 2e-6, 8: 1e-12}[want.dtype.itemsize])


def test_bool_has_no_neg_or_sign() -> None:
    t = Tensor(np.array([True, False]))
    with pytest.raises(TypeError, match="neg"):
        t.neg()
    with pytest.raises(TypeError, match="sign"):
        t.sign()


def test_int_abs_wraps_at_the_minimum() -> None:
    x = np.array([-128, -1, 127], np.int8)
    np.testing.assert_array_equal(Tensor(x).abs().numpy(), np.abs(x))


def test_isnan_isinf_isfinite() -> None:
    x = np.array([[1.0, math.nan, math.inf], [-math.inf, -0.0, 3e38]], np.float32)
    for name in ("isnan", "isinf", "isfinite"):
        np.testing.assert_array_equal(getattr(Tensor(x), name)().numpy(), getattr(np, name)(x))
    with np.errstate(over="ignore"):
        h = x.astype(np.float16)
    np.testing.assert_array_equal(Tensor(h).isinf().numpy(), np.isinf(h))


@pytest.mark.parametrize("lo, hi", [(-1, 2), (None, 0.5), (-0.5, None), (2.5, 3)])
def test_clip_scalars(lo: float | None, hi: float | None) -> None:
    x = np.array([-3.0, -1.0, 0.0, 0.7, 2.5, math.nan], np.float32)
    np.testing.assert_array_equal(Tensor(x).clip(lo, hi).numpy(), np.clip(x, lo, hi))


def test_clip_promotes_and_broadcasts_like_numpy() -> None:
    x = np.arange(-4, 5, dtype=np.int32).reshape(3, 3)
    got = Tensor(x).clip(-1.5, 2).numpy()
    assert got.dtype == np.clip(x, -1.5, 2).dtype
    np.testing.assert_array_equal(got, np.clip(x, -1.5, 2))
    lo, hi = np.array([-1, 0, 1], np.int32), np.array([[0], [1], [2]], np.int64)
    np.testing.assert_array_equal(Tensor(x).clip(Tensor(lo), Tensor(hi)).numpy(), np.clip(x, lo, hi))
    with pytest.raises(ValueError, match="clip"):
        Tensor(x).clip()


@pytest.mark.parametrize("shape", [(), (0,), (1,), (3, 0, 2), (1, 1)])
def test_awkward_shapes(shape: tuple[int, ...]) -> None:
    x = np.full(shape, 0.75, np.float32)
    t = Tensor(x)
    out = (t.exp() + t.sin().abs() - t.round()).sqrt()
    _assert_close(out.numpy(), np.sqrt(np.exp(x) + np.abs(np.sin(x)) - np.round(x)), 1e-6, 0)


@pytest.mark.parametrize("view", ["transpose", "flip", "pad", "shrink", "expand"])
def test_non_contiguous_views(view: str) -> None:
    x = np.random.default_rng(1).uniform(-3, 3, (4, 6)).astype(np.float32)
    t = Tensor(x)
    views = {
        "transpose": (t.permute(1, 0), x.T),
        "flip": (t.flip(0), x[::-1]),
        "pad": (t.pad(((1, 2), (0, 1))), np.pad(x, ((1, 2), (0, 1)))),
        "shrink": (t.shrink(((1, 3), (2, 5))), x[1:3, 2:5]),
        "expand": (t.reshape(4, 1, 6).expand(4, 3, 6), np.broadcast_to(x.reshape(4, 1, 6), (4, 3, 6))),
    }
    tv, xv = views[view]
    _assert_close(tv.tanh().numpy(), np.tanh(xv), 2e-6, 1e-7)
    _assert_close(tv.floor().numpy(), np.floor(xv), 0, 0)
    _assert_close(tv.erf().numpy(), _ref_erf(xv), 2e-6, 1e-7)


@pytest.mark.parametrize("device", DEVICES)
def test_ops_on_each_device(device: str) -> None:
    x = _inputs(-4, 4, np.float32, n=20)
    t = Tensor(x, device=device)
    with np.errstate(all="ignore"):
        for name in ("exp", "log", "cos", "tanh", "erf", "round", "sign", "abs", "sigmoid", "softplus"):
            op, ref, _, extra = FLOAT_OPS[name]
            _assert_close(op(t).numpy(), ref(x), 2e-5, 1e-6 + extra)
    h = x.astype(np.float16)
    _assert_close(Tensor(h, device=device).gelu().numpy(), _ref_gelu(h), 2e-3, 2e-3)


def test_elementwise_chain_is_one_kernel() -> None:
    a = Tensor(np.ones((8, 8), np.float32))
    out = (a.exp().sin() * a.sigmoid()).gelu().clip(-1, 1).round().abs()
    assert len(schedule_tensors(out)) == 1
    assert len(schedule_tensors(a.erf().tanh().cos())) == 1


# ------------------------------------------------------------------ creation
@pytest.mark.parametrize("args", [(5,), (0,), (1,), (2, 11, 3), (5, 0, -2), (-3, 3), (1, 2, 0.3), (0.5, 4.0),
                                  (3, 1), (10, 0, -0.25), (1000,)])
def test_arange_matches_numpy(args: tuple) -> None:
    want = np.arange(*args)
    got = Tensor.arange(*args).numpy()
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_arange_dtype_and_is_lazy() -> None:
    t = Tensor.arange(3, 20, 2, dtype=dtypes.int32)
    assert len(schedule_tensors(t)) == 1  # built from constants by index arithmetic: one kernel, no input buffer
    assert len(schedule_tensors(t)[0].bufs) == 1
    np.testing.assert_array_equal(t.numpy(), np.arange(3, 20, 2, dtype=np.int32))
    np.testing.assert_array_equal(Tensor.arange(10000).numpy(), np.arange(10000))
    with pytest.raises(ValueError, match="step"):
        Tensor.arange(0, 5, 0)


@pytest.mark.parametrize("start, stop, num", [(0, 1, 5), (-2.5, 7, 13), (3, 3, 4), (1, -1, 1), (0, 10, 0), (0, 1, 2)])
def test_linspace_matches_numpy(start: float, stop: float, num: int) -> None:
    for dt in (dtypes.float32, dtypes.float64):
        got = Tensor.linspace(start, stop, num, dtype=dt).numpy()
        np.testing.assert_array_equal(got, np.linspace(start, stop, num, dtype=dt.np))
    np.testing.assert_array_equal(Tensor.linspace(0, 10, 7, dtype=dtypes.int32).numpy(),
                                  np.linspace(0, 10, 7, dtype=np.int32))


@pytest.mark.parametrize("n, m, k", [(3, None, 0), (1, None, 0), (0, None, 0), (3, 5, 1), (5, 3, 0), (4, 2, -1),
                                     (3, 1, 0), (4, 4, 3), (4, 4, -5), (2, 6, -1)])
def test_eye_matches_numpy(n: int, m: int | None, k: int) -> None:
    got = Tensor.eye(n, m, k).numpy()
    want = np.eye(n, m, k, dtype=np.float32)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_eye_other_dtypes_and_laziness() -> None:
    np.testing.assert_array_equal(Tensor.eye(3, dtype=dtypes.bool).numpy(), np.eye(3, dtype=bool))
    np.testing.assert_array_equal(Tensor.eye(2, 3, dtype=dtypes.int64).numpy(), np.eye(2, 3, dtype=np.int64))
    assert len(schedule_tensors(Tensor.eye(6))[0].bufs) == 1


def test_like_constructors_and_empty() -> None:
    t = Tensor(np.zeros((2, 3), np.int16))
    for name, want in [("zeros_like", np.zeros_like), ("ones_like", np.ones_like)]:
        got = getattr(t, name)().numpy()
        np.testing.assert_array_equal(got, want(t.numpy()))
        assert got.dtype == np.int16
    np.testing.assert_array_equal(t.full_like(7).numpy(), np.full((2, 3), 7, np.int16))
    np.testing.assert_array_equal(Tensor.full_like(t, 2.5, dtypes.float32).numpy(), np.full((2, 3), 2.5, np.float32))
    assert Tensor.zeros_like(t, dtypes.bool).dtype == dtypes.bool
    e = Tensor.empty((4, 0, 2))
    assert e.shape == (4, 0, 2) and e.dtype == dtypes.float32 and e.numpy().shape == (4, 0, 2)


def test_random_is_deterministic_per_seed_and_matches_numpy_generator() -> None:
    a, b = Tensor.rand(3, 4, seed=7).numpy(), Tensor.rand((3, 4), seed=7).numpy()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, np.random.default_rng(7).random((3, 4)).astype(np.float32))
    assert a.dtype == np.float32 and (a >= 0).all() and (a < 1).all()
    assert not np.array_equal(a, Tensor.rand(3, 4, seed=8).numpy())
    n = Tensor.randn(1000, seed=1, dtype=dtypes.float64).numpy()
    np.testing.assert_array_equal(n, np.random.default_rng(1).standard_normal(1000))
    r = Tensor.randint(-3, 5, (50,), seed=2).numpy()
    np.testing.assert_array_equal(r, np.random.default_rng(2).integers(-3, 5, size=(50,)))
    assert r.dtype == np.int64 and r.min() >= -3 and r.max() < 5
    assert Tensor.randint(0, 10, 6, seed=0, dtype=dtypes.uint8).numpy().dtype == np.uint8


@pytest.mark.parametrize("device", DEVICES)
def test_pow_is_ieee_at_zero_and_negative_bases_and_on_overflow(device):
    # the engine defined a pole or an overflow as +inf (NaN for a < 0): (-0) ** -3 was +inf on LLVM and PYTHON and
    # -inf on CPU (C's powf), and (-10) ** 39 was NaN (the graph fuzzer, once its pow domain took integral exponents)
    a = np.array([-0.0, 0.0, -0.0, -2.0, -10, -10, -1.5, 0, -0.0, np.inf, -np.inf, -np.inf, -2, -1e-30], np.float32)
    b = np.array([-1.0, -1.0, -2.0, -3.0, 39, 40, 0.5, 0, 3, -1, 3, -2, 1e10, -3], np.float32)
    with np.errstate(all="ignore"):
        want = a ** b
    got = (Tensor(a, device=device) ** Tensor(b, device=device)).numpy()
    np.testing.assert_array_equal(got, want)
    assert (np.signbit(got) == np.signbit(want))[~np.isnan(want)].all(), (got, want)


@pytest.mark.parametrize("device", DEVICES)
def test_float_remainder_of_a_large_quotient_is_numpys(device):
    # in float16 the quotient 11488 / 1.701 rounds, and a - floor(q) * b lost the remainder (0 for 1.6875); the ONNX
    # fuzzer found it through Mod, whose handler computes the same way
    a = np.array([11488.0, -11488.0, 7.5, 65504.0], np.float16)
    b = np.array([1.701, 1.701, -2.0, 0.3], np.float16)
    np.testing.assert_array_equal((Tensor(a, device=device) % Tensor(b, device=device)).numpy(), np.remainder(a, b))
