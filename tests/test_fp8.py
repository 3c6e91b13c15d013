"""float8_e4m3fn and float8_e5m2 on every device, bit for bit against ml_dtypes.

Conversions are exhaustive where that is cheap (all 256 fp8 codes, all pairs for +, -, *, /) and a dense sweep of
float32 bit patterns (with every fp8 rounding midpoint and its float32 neighbours) the other way. PYTHON, an
interpreter, gets a sparser sweep and a sample of the pairs.
"""

from __future__ import annotations

import numpy as np
import pytest
from devices import DEVICES  # noqa: E402

from engine.dtype import DType, dtypes
from engine.tensor import Tensor

FP8 = [dtypes.float8_e4m3fn, dtypes.float8_e5m2]
CODES = np.arange(256, dtype=np.uint8)
# every other dtype data can have
OTHERS = list(dtypes.all())


def _codes(dt: DType) -> np.ndarray:
    return CODES.view(dt.np)


def _same_bits(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape
    bits = np.dtype(f"u{got.dtype.itemsize}") if got.dtype != np.bool_ else np.dtype(np.uint8)
    g, w = got.view(bits), want.view(bits)
    bad = np.flatnonzero(g != w)
    assert bad.size == 0, f"{bad.size} differ, first at {bad[0]}: got {g.flat[bad[0]]:#x}, want {w.flat[bad[0]]:#x}"


def _same_values(got: np.ndarray, want: np.ndarray) -> None:
    """Equal bits, except that any NaN matches any NaN (the sign of a NaN made by arithmetic is not specified)."""
    both_nan = np.isnan(got.astype(np.float32)) & np.isnan(want.astype(np.float32))
    _same_bits(np.where(both_nan, want, got), want)


def _midpoints(dt: DType) -> np.ndarray:
    """Each rounding boundary of `dt` (between neighbouring finite codes, and just past the largest) as float32,
    with the float32 values one ulp either side."""
    vals = np.unique(_codes(dt).astype(np.float32))
    vals = vals[np.isfinite(vals)]
    mids = (vals[:-1].astype(np.float64) + vals[1:]) / 2
    top = vals[-1] + (vals[-1] - vals[-2]) / 2  # 464 for e4m3fn, 61440 for e5m2: above it NaN or inf
    mids = np.concatenate([mids, [top, -top]]).astype(np.float32)
    near = [np.nextafter(mids, np.float32(np.inf)), np.nextafter(mids, np.float32(-np.inf))]
    return np.concatenate([mids, *near])


def _float32_sweep(step_bits: int, dt: DType) -> np.ndarray:
    """Every float32 whose low `step_bits` bits are zero (both signs: zeros, subnormals, normals, inf, NaN), the
    midpoints of `dt`, and NaNs with odd payloads."""
    grid = np.arange(0, 1 << 32, 1 << step_bits, dtype=np.uint64).astype(np.uint32).view(np.float32)
    nans = np.array([0x7F800001, 0x7FC00000, 0x7FFFFFFF, 0xFF800001, 0xFFC00000], np.uint32).view(np.float32)
    return np.concatenate([grid, _midpoints(dt), nans])


def _cast(x: np.ndarray, dt: DType, device: str) -> np.ndarray:
    return Tensor(x, device=device).cast(dt).numpy()


# ------------------------------------------------------------------ fp8 -> float32 and back


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dt", FP8, ids=lambda d: d.name)
def test_every_fp8_code_converts_to_float32_like_ml_dtypes(device, dt):
    want = _codes(dt).astype(np.float32)
    _same_bits(_cast(_codes(dt), dtypes.float32, device), want)
    # the same codes reached by bitcasting bytes computed on the device
    via_bits = (Tensor(CODES.astype(np.int16), device=device).cast(dtypes.uint8).bitcast(dt)).cast(dtypes.float32)
    _same_bits(via_bits.numpy(), want)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dt", FP8, ids=lambda d: d.name)
def test_float32_sweep_rounds_to_fp8_like_ml_dtypes(device, dt):
    x = _float32_sweep(12 if device != "PYTHON" else 19, dt)
    with np.errstate(over="ignore", invalid="ignore"):
        want = x.astype(dt.np)
    _same_bits(_cast(x, dt, device), want)
    # and the stored byte, read back as an integer on the device
    _same_bits(Tensor(x, device=device).cast(dt).bitcast(dtypes.uint8).numpy(), want.view(np.uint8))


def test_fp8_rounding_edges_match_ml_dtypes():
    """The documented edges, spelled out: ties to even, e4m3fn saturates to NaN above 464, e5m2 to inf."""
    e4, e5 = dtypes.float8_e4m3fn, dtypes.float8_e5m2
    x = np.array([464, 464.01, 2.0**-10, 1.0625, -0.0], np.float32)
    assert _cast(x, e4, "CPU").view(np.uint8).tolist() == [0x7E, 0x7F, 0x00, 0x38, 0x80]
    y = np.array([61439, 61440, 2.0**-17, 1.125, -np.inf], np.float32)
    assert _cast(y, e5, "CPU").view(np.uint8).tolist() == [0x7B, 0x7C, 0x00, 0x3C, 0xFC]


# ------------------------------------------------------------------ every other dtype


def _values_for(src: DType, dt: DType) -> np.ndarray:
    """Values of `src` around the range of fp8 `dt`: fp8 values, midpoints, out-of-range and special values."""
    if src.kind == "b":
        return np.array([False, True])
    if src.kind in "iu":
        info = np.iinfo(src.np)
        vals = np.concatenate([np.arange(-300, 300), [448, 449, 464, 465, 480, 57344, 61439, 61440, 65535],
                               [info.min, info.max, info.max - 1]])
        vals = vals[(vals >= info.min) & (vals <= info.max)]
        return vals.astype(src.np)
    mids = _midpoints(dt).astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        vals = np.concatenate([mids, [np.inf, -np.inf, np.nan, 1e300, 1e-300, 1.0625 + 2.0**-40]])
        return vals.astype(src.np)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dt", FP8, ids=lambda d: d.name)
def test_every_dtype_casts_to_fp8_like_ml_dtypes(device, dt):
    for src in OTHERS:
        x = _values_for(src, dt)
        with np.errstate(over="ignore", invalid="ignore"):
            want = x.astype(dt.np)
        try:
            _same_bits(_cast(x, dt, device), want)
        except AssertionError as e:
            raise AssertionError(f"{src.name} -> {dt.name}: {e}") from None


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dt", FP8, ids=lambda d: d.name)
def test_fp8_casts_to_every_dtype_like_numpy(device, dt):
    """Where numpy defines the result (floats, bools, ints for finite in-range values) it must match; NaN, inf
    and out-of-range values to ints follow the engine's rule (exec_alu), so they must match PYTHON."""
    x = _codes(dt)
    f = x.astype(np.float64)
    for dst in OTHERS:
        got = _cast(x, dst, device)
        with np.errstate(over="ignore", invalid="ignore"):
            want = x.astype(dst.np)
        if dst.kind in "iu":
            info = np.iinfo(dst.np)
            ok = np.isfinite(f) & (f >= info.min) & (f <= info.max)
            np.testing.assert_array_equal(got[ok], want[ok], err_msg=f"{dt.name} -> {dst.name}")
            if device != "PYTHON":
                np.testing.assert_array_equal(got, _cast(x, dst, "PYTHON"), err_msg=f"{dt.name} -> {dst.name}")
        else:
            try:
                _same_bits(got, want)
            except AssertionError as e:
                raise AssertionError(f"{dt.name} -> {dst.name}: {e}") from None


# ------------------------------------------------------------------ arithmetic: float32, rounded once


_BINARY = {"add": (lambda a, b: a + b), "sub": (lambda a, b: a - b), "mul": (lambda a, b: a * b),
           "div": (lambda a, b: a / b), "maximum": (lambda a, b: a.maximum(b) if isinstance(a, Tensor)
                                                    else np.maximum(a, b))}


def _pairs(dt: DType, device: str) -> tuple[np.ndarray, np.ndarray]:
    codes = _codes(dt)
    if device == "PYTHON":  # an interpreter: a sample of the pairs
        rng = np.random.default_rng(1)
        return codes[rng.integers(0, 256, 1500)], codes[rng.integers(0, 256, 1500)]
    a, b = np.meshgrid(codes, codes)
    return a.reshape(-1), b.reshape(-1)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dt", FP8, ids=lambda d: d.name)
def test_fp8_binary_ops_match_ml_dtypes_on_all_pairs(device, dt):
    a, b = _pairs(dt, device)
    ta, tb = Tensor(a, device=device), Tensor(b, device=device)
    for name, fn in _BINARY.items():
        with np.errstate(all="ignore"):
            want = fn(a, b)
        got = fn(ta, tb).numpy()
        try:
            _same_values(got, want)
        except AssertionError as e:
            raise AssertionError(f"{dt.name} {name}: {e}") from None
    lt, eq = (ta < tb).numpy(), (ta == tb).numpy()
    np.testing.assert_array_equal(lt, a < b)
    np.testing.assert_array_equal(eq, a == b)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dt", FP8, ids=lambda d: d.name)
def test_fp8_math_is_float32_math_rounded_once(device, dt):
    x = _codes(dt)
    t = Tensor(x, device=device)
    f = x.astype(np.float32)
    ulp = 2.0 ** -(3 if dt == dtypes.float8_e4m3fn else 2)
    with np.errstate(all="ignore"):
        cases = {"exp": (t.exp(), np.exp(f)), "sqrt": (t.sqrt(), np.sqrt(f)), "sin": (t.sin(), np.sin(f)),
                 "tanh": (t.tanh(), np.tanh(f)), "sigmoid": (t.sigmoid(), 1 / (1 + np.exp(-f))),
                 "abs": (t.abs(), np.abs(f)), "floor": (t.floor(), np.floor(f))}
        for name, (got_t, want32) in cases.items():
            got, want = got_t.numpy(), want32.astype(dt.np)
            assert got.dtype == dt.np, name
            # the engine's float32 result may differ from numpy's by a float32 ulp: one fp8 ulp after rounding
            np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=ulp, atol=0,
                                       err_msg=f"{dt.name} {name}")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dt", FP8, ids=lambda d: d.name)
def test_fp8_reductions_accumulate_in_float32(device, dt):
    rng = np.random.default_rng(2)
    n = 300 if device != "PYTHON" else 40
    x = rng.uniform(-4, 4, (3, n)).astype(dt.np)
    t = Tensor(x, device=device)
    f = x.astype(np.float32)
    ulp = 2.0 ** -(3 if dt == dtypes.float8_e4m3fn else 2)
    for name, got_t, want32 in [("sum", t.sum(1), f.sum(1)), ("mean", t.mean(1), f.mean(1)),
                                ("max", t.max(1), f.max(1)), ("min", t.min(0), f.min(0)),
                                ("cumsum", t.cumsum(1), np.cumsum(f, 1)),
                                ("ones", Tensor.ones((1000,), dt, device).sum(), np.float32(1000))]:
        got = got_t.numpy()
        assert got.dtype == dt.np, name
        np.testing.assert_allclose(got.astype(np.float64), np.asarray(want32).astype(dt.np).astype(np.float64),
                                   rtol=ulp, atol=ulp, err_msg=f"{dt.name} {name}")
    np.testing.assert_array_equal(t.argmax(1).numpy(), x.astype(np.float32).argmax(1))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dt", FP8, ids=lambda d: d.name)
def test_fp8_movement_keeps_the_codes(device, dt):
    """Every code survives views and copies, except that e5m2's NaNs with a payload (0x7d, 0x7f) come out as the
    quiet NaN 0x7e: values pass through float registers, as through ml_dtypes' own float32 conversions."""
    x = _codes(dt).reshape(4, 8, 8)
    t = Tensor(x, device=device)
    cases = [(t.permute(2, 0, 1), x.transpose(2, 0, 1)), (t[::-1, 1:7:2, 3], x[::-1, 1:7:2, 3]),
             (t.pad(((0, 0), (1, 1), (0, 2))), np.pad(x, ((0, 0), (1, 1), (0, 2)))),
             (Tensor.cat([t, t.flip(0)], 1), np.concatenate([x, x[::-1]], 1)),
             (t.reshape(16, 16).T.contiguous(), x.reshape(16, 16).T), (t.expand(2, 4, 8, 8)[1], x)]
    for got, want in cases:
        _same_values(got.numpy(), want)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dt", [dtypes.bfloat16, *FP8], ids=lambda d: d.name)
def test_wide_values_round_once_to_narrow_floats(device, dt):
    """A double or a 32/64-bit integer is rounded once (no detour through float32 rounded to nearest): values a
    hair above a rounding midpoint must round up, where a first rounding to float would leave an exact tie."""
    mids = _midpoints(dt).astype(np.float64)
    f64 = np.concatenate([mids * (1 + 2.0**-40), mids * (1 - 2.0**-40), [1 + 2**-8 + 2**-30, 1e-300, -1e-300]])
    with np.errstate(over="ignore", invalid="ignore"):
        _same_bits(_cast(f64, dt, device), f64.astype(dt.np))
    i64 = np.array([(1 << 62) + (1 << 54) + 1, -((1 << 62) + (1 << 54) + 1), (1 << 62) + (1 << 54), -(1 << 63),
                    (1 << 40) + (1 << 32) + 1, 2**24 + 3], np.int64)
    i32 = np.array([(1 << 30) + (1 << 22) + 1, -((1 << 30) + (1 << 22) + 1), -(1 << 31), 2**24 + 3], np.int32)
    u64 = np.array([(1 << 64) - 1, (1 << 63) + (1 << 55) + 1, (1 << 40) + (1 << 32) + 1], np.uint64)
    u32 = np.array([(1 << 31) + (1 << 23) + 1, (1 << 32) - 1], np.uint32)
    for x in (i64, i32, u64, u32):
        with np.errstate(over="ignore", invalid="ignore"):
            _same_bits(_cast(x, dt, device), x.astype(dt.np))
