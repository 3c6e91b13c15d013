"""A numpy reference for tensor programs: each op's value, a bound on its floating-point error, and where it is
undefined.

The engine promises: integers wrap in their dtype (numpy's results, `// 0` and `% 0` give 0); every float op is
rounded once to its dtype (float16, bfloat16 and fp8 after every op too); reductions of half-width floats
accumulate in float32. The reference computes float ops in float64 and rounds once, with ml_dtypes for bfloat16
and fp8, and never calls the engine.

A `Ref` carries, per element:
  value  the result in the op's dtype;
  err    an absolute bound (first order) on how far a correct implementation may be from `value`: the inputs'
         errors carried through the op (by evaluating it at perturbed inputs, or exactly for linear ops) plus the
         rounding of the op itself (and of each partial sum of a reduction);
  undef  True where the result is not defined: outside an op's domain (log of a negative, a float cast to an
         integer it does not fit), or where the inputs' errors could change a discrete result (a comparison of
         two values closer than their errors, a floor next to an integer, an argmax between near ties), or a
         finite value within its error of overflow. Undefined elements are not compared.
Composite ops (softmax, layernorm, var, ...) are written here from their definitions as compositions of these
primitives, so their error bounds follow from the primitives'.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import ml_dtypes
import numpy as np

NP_DTYPES: dict[str, np.dtype] = {
    "bool": np.dtype(np.bool_), "int8": np.dtype(np.int8), "int16": np.dtype(np.int16),
    "int32": np.dtype(np.int32), "int64": np.dtype(np.int64), "uint8": np.dtype(np.uint8),
    "uint16": np.dtype(np.uint16), "uint32": np.dtype(np.uint32), "uint64": np.dtype(np.uint64),
    "float16": np.dtype(np.float16), "bfloat16": np.dtype(ml_dtypes.bfloat16), "float32": np.dtype(np.float32),
    "float64": np.dtype(np.float64), "float8_e4m3fn": np.dtype(ml_dtypes.float8_e4m3fn),
    "float8_e5m2": np.dtype(ml_dtypes.float8_e5m2),
}
FLOATS = ("float16", "bfloat16", "float32", "float64", "float8_e4m3fn", "float8_e5m2")
HALF = ("float16", "bfloat16", "float8_e4m3fn", "float8_e5m2")
INTS = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
# unit roundoff (half the gap above 1) and the largest finite value of each float dtype
_EPS = {"float16": 2.0**-11, "bfloat16": 2.0**-8, "float32": 2.0**-24, "float64": 2.0**-53,
        "float8_e4m3fn": 2.0**-4, "float8_e5m2": 2.0**-3}
_MAX = {"float16": 65504.0, "bfloat16": float(ml_dtypes.finfo(ml_dtypes.bfloat16).max),
        "float32": 3.4028234663852886e38, "float64": 1.7976931348623157e308, "float8_e4m3fn": 448.0,
        "float8_e5m2": 57344.0}
# the smallest normal value: an op computed in several steps may flush a result below it to zero
_MIN_NORMAL = {"float16": 2.0**-14, "bfloat16": 2.0**-126, "float32": 2.0**-126, "float64": 2.0**-1022,
               "float8_e4m3fn": 2.0**-6, "float8_e5m2": 2.0**-14}
_TINY = {"float16": 2.0**-24, "bfloat16": 2.0**-133, "float32": 2.0**-149, "float64": 5e-324,
         "float8_e4m3fn": 2.0**-9, "float8_e5m2": 2.0**-16}


def is_float(dt: str) -> bool:
    return dt in FLOATS


def is_int(dt: str) -> bool:
    return dt in INTS


def eps(dt: str) -> float:
    """Unit roundoff of a float dtype (0 for exact dtypes)."""
    return _EPS.get(dt, 0.0)


def promote(a: str, b: str) -> str:
    """numpy's promote_types, extended to bfloat16 and fp8 by the engine's documented rules."""
    if a == b:
        return a
    special = ("bfloat16", "float8_e4m3fn", "float8_e5m2")
    if a not in special and b not in special:
        return str(np.promote_types(NP_DTYPES[a], NP_DTYPES[b]))
    if a not in special:
        a, b = b, a
    if a.startswith("float8"):
        if b.startswith("float8"):
            return "float16"
        if is_float(b):
            return b
        return promote("float16", b)
    if b.startswith("float8") or b == "bool" or b in ("int8", "uint8"):
        return a
    if b == "float16":
        return "float32"
    if is_float(b):
        return b
    widened = promote("float16", b)
    return widened if widened != "float16" else a


def sum_dtype(dt: str) -> str:
    """numpy's accumulator dtype for sum/prod/cumsum."""
    if dt == "bool" or dt in ("int8", "int16", "int32"):
        return "int64"
    if dt in ("uint8", "uint16", "uint32"):
        return "uint64"
    return dt


def stat_dtype(dt: str) -> str:
    """The dtype mean/var/std compute in: float64 for ints and bools, float32 for half-width floats."""
    if not is_float(dt):
        return "float64"
    return "float32" if dt in HALF else dt


@dataclass
class Ref:
    """One tensor of the reference: value in its dtype, absolute error bound, undefined mask, and (optional) where
    the value is one correctly rounded IEEE operation (a float cast, +, -, *, /) of exact operands: there the engine,
    which rounds every op once, must give exactly `value` (its error bound would let a truncation through), and its
    error bound is 0, so the next such op of it is exact too."""

    value: np.ndarray
    err: np.ndarray
    undef: np.ndarray
    rounded: np.ndarray | None = None
    # where the value is a float32 product that overflowed although its exact value is finite: a fused sum
    # (MULACC, one rounding) adds the exact product, so a sum of it that is NaN here (inf + -inf) may be an
    # infinity there, depending on the order of the terms (see `reduce`)
    overflowed: np.ndarray | None = None

    @property
    def dtype(self) -> str:
        return next(k for k, v in NP_DTYPES.items() if v == self.value.dtype)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.value.shape)

    def f64(self) -> np.ndarray:
        with np.errstate(all="ignore"):
            return self.value.astype(np.float64)


def exact(value: np.ndarray) -> Ref:
    """An input tensor: known exactly."""
    value = np.asarray(value)
    return Ref(value, np.zeros(value.shape), np.zeros(value.shape, bool))


def _overflow_undecided(v: np.ndarray, err: np.ndarray, dt: str) -> np.ndarray:
    """Where a finite value may or may not overflow `dt` within its error: it reaches the largest finite value, and
    is not past the point from which every value rounds to infinity (or to NaN, for float8_e4m3fn) by its error.
    A value well past it overflows in any order of computation: its infinity, and its sign, are defined."""
    a = np.abs(v)
    return np.isfinite(v) & (a + err >= _MAX[dt]) & (a - err < _MAX[dt] * (1 + 2 * eps(dt)))


def _round(v: np.ndarray, dt: str, err: np.ndarray, undef: np.ndarray) -> Ref:
    """float64 values rounded once to float dtype `dt`, with the rounding added to the error; a finite result
    within its error of overflowing (or a value that overflows only through rounding) is undefined."""
    with np.errstate(all="ignore"):
        out = v.astype(NP_DTYPES[dt])
        o64 = out.astype(np.float64)
        err = err + eps(dt) * np.abs(np.where(np.isfinite(o64), o64, 0)) + _TINY[dt]
        near = _overflow_undecided(v, err, dt)
    return Ref(out, np.where(np.isfinite(o64), err, 0.0), undef | near)


def _broadcast(args: Sequence[Ref]) -> list[Ref]:
    shape = np.broadcast_shapes(*(a.shape for a in args))
    return [Ref(np.broadcast_to(a.value, shape), np.broadcast_to(a.err, shape), np.broadcast_to(a.undef, shape))
            for a in args]


def _perturbations(xs: list[np.ndarray], errs: list[np.ndarray], zero: bool = False) -> Any:
    """The inputs moved by their errors, every sign combination of the inputs that have one; with `zero`, also each
    input's point nearest 0 (0 itself where the error interval holds it): a discrete op that is not monotone, such
    as `x != 0`, can flip inside the interval with both ends agreeing."""
    moving = [i for i, e in enumerate(errs) if e.any()]
    for signs in itertools.product((-1.0, 1.0), repeat=len(moving)):
        ys = list(xs)
        for i, s in zip(moving, signs):
            ys[i] = xs[i] + s * errs[i]
        yield ys
    if zero and moving:
        ys = list(xs)
        for i in moving:
            ys[i] = np.clip(np.zeros_like(xs[i]), xs[i] - errs[i], xs[i] + errs[i])
        yield ys


def elementwise(fn: Callable[..., np.ndarray], args: Sequence[Ref], out: str, compute: str | None = None,
                domain: Callable[..., np.ndarray] | None = None, discrete: bool = False,
                own: Callable[..., np.ndarray] | None = None, own_unit: str = "work",
                pole: tuple[int, ...] = (), rounded_once: bool = False, slope: float | None = None,
                steps: Callable[..., np.ndarray] | None = None, product: bool = False) -> Ref:
    """An elementwise op: `fn` on the inputs converted to `compute` (float64 for float results, else `out`),
    rounded once to `out`. `domain(*xs)` is True where the op is defined; `discrete` ops (comparisons, floor,
    casts to integers) are undefined where moving an input within its error changes the result. `own(*xs, out)`
    is the op's own error in units of the working precision's roundoff (float32 for float32 and narrower, else
    float64), for ops the engine computes as several steps (exp as exp2(x*log2(e)) is off by about |x| ulps);
    own_unit="out" counts it in roundoffs of `out` instead, for ops computed step by step in their own dtype.
    `pole`: the arguments at which 0 is a singularity (a divisor): undefined where such an argument is within its
    error of 0 (the result could be any size, or infinite). `rounded_once`: `fn` is one IEEE operation (+, -, *, /),
    so where the operands are exact the result is the correctly rounded one (float64 has more than twice the
    precision of float32 plus two bits, so rounding its result again is innocuous) and must come out exactly.
    `slope`: a bound on |df/dx| for a one-input op that is not monotone (sin, cos): moving the input to the ends of
    its error interval can miss a hump in between, so the carried error is at least slope * the input's error.
    `steps(*xs)`: for an op that jumps (a float `%` jumps by the divisor where a / b crosses an integer), a monotone
    step function of the inputs that must be the same at every corner of their error box, else the result is
    undefined there (the ends of the box can agree while the value jumped in between, once or many times)."""
    args = _broadcast(args)
    # a discrete op on floats (logical_not, a cast to bool) works on the float values, so their errors count
    compute = compute or ("float64" if is_float(out) or (discrete and any(is_float(a.dtype) for a in args)) else out)
    with np.errstate(all="ignore"):
        xs = [a.value.astype(NP_DTYPES[compute]) for a in args]
        undef = np.zeros(args[0].shape if args else (), bool)
        for a in args:
            undef = undef | a.undef
        if domain is not None:
            undef = undef | ~domain(*xs)
        center = fn(*xs)
        errs = [a.err for a in args]
        for i in pole:
            undef = undef | ((errs[i] > 0) & (np.abs(xs[i]) <= errs[i]))
        carried = np.zeros(center.shape)
        if compute == "float64" and any(e.any() for e in errs):
            at = steps(*xs) if steps is not None else None
            for ys in _perturbations(xs, errs, zero=discrete):
                if at is not None:
                    undef = undef | ~_same(steps(*ys), at)  # type: ignore[misc]
                moved = fn(*ys)
                if discrete or not is_float(out):
                    undef = undef | ~_same(moved, center)
                else:
                    d = np.abs(moved.astype(np.float64) - center.astype(np.float64))
                    bad = np.isnan(moved) & ~np.isnan(center) | (np.isinf(moved) & ~np.isinf(center))
                    undef = undef | bad
                    carried = np.maximum(carried, np.where(np.isfinite(d), d, 0.0))
                    if domain is not None:
                        undef = undef | ~domain(*ys)
            if slope is not None:
                carried = np.maximum(carried, slope * errs[0])
    if is_float(out):
        if discrete:
            return Ref(center.astype(NP_DTYPES[out]), np.zeros(center.shape), undef)
        if own is not None:
            with np.errstate(all="ignore"):
                unit = eps(out) if own_unit == "out" else eps("float64" if out == "float64" else "float32")
                # own(x, o) is a(x) * |o| + b(x): near float64's limit a(x) * |o| overflows (exp(703) ~ 5.6e305
                # off by ~1000 ulps had no own error at all), so it is evaluated at o * 2**-120 there and scaled
                # back (b(x), a few units, grows to ~1e21: nothing beside |o| * eps there)
                huge = np.where(np.abs(center) > 2.0 ** 900, 2.0 ** -120, 1.0)
                extra = np.abs(own(*xs, center * huge)) * unit / huge + _MIN_NORMAL[out]
            carried = carried + np.where(np.isfinite(extra), extra, 0.0)
        out_ref = _round(center.astype(np.float64), out, carried, undef)
        if rounded_once and own is None:
            out_ref.rounded = ~out_ref.undef & np.logical_and.reduce([a.err == 0 for a in args] +
                                                                     [np.ones(center.shape, bool)])
            # a value fixed to the bit is exact for the ops that read it: a chain of +, -, *, / and float casts of
            # exact values (a float16 quotient then multiplied) must come out bit for bit, so a renderer that keeps
            # an intermediate unrounded (excess precision) is seen
            out_ref.err = np.where(out_ref.rounded, 0.0, out_ref.err)
        if product and out == "float32":
            out_ref.overflowed = np.isinf(out_ref.value) & np.isfinite(center)
        return out_ref
    return Ref(center.astype(NP_DTYPES[out]), np.zeros(center.shape), undef)


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a == b) | (np.isnan(a) & np.isnan(b)) if a.dtype.kind == "f" else (a == b)


# ------------------------------------------------------------------ casts and selection


def cast(x: Ref, dt: str) -> Ref:
    """Conversion as the engine defines it: one rounding to floats (ml_dtypes for bfloat16 and fp8), truncation
    toward zero to integers (undefined where the float does not fit or is NaN/inf), != 0 to bool."""
    src = x.dtype
    with np.errstate(all="ignore"):
        if dt == src:
            return x
        if dt == "bool":
            if is_float(src):
                return elementwise(lambda v: v != 0, [x], "bool", compute="float64", discrete=True)
            return Ref(x.value.astype(bool), np.zeros(x.shape), x.undef.copy())
        if is_float(dt):
            out = x.value.astype(NP_DTYPES[dt])
            o64 = out.astype(np.float64)
            err = x.err + eps(dt) * np.abs(np.where(np.isfinite(o64), o64, 0)) + _TINY[dt]
            near = _overflow_undecided(x.f64(), err, dt) if is_float(src) else np.zeros(x.shape, bool)
            if not is_float(src):
                err = np.where(o64 == x.value.astype(np.float64), 0.0, err) if src != "bool" else np.zeros(x.shape)
            undef = x.undef | near
            rounded = (x.err == 0) & ~undef if is_float(src) else None  # one rounding of an exact float
            if rounded is not None:
                err = np.where(rounded, 0.0, err)  # exact for the ops that read it (see `elementwise`)
            return Ref(out, np.where(np.isfinite(o64), err, 0.0), undef, rounded)
        if is_float(src):
            return elementwise(lambda v: _float_to_int(v, dt), [x], dt, compute="float64",
                               domain=lambda v: _int_conversion_defined(v, dt), discrete=True)
        return Ref(x.value.astype(NP_DTYPES[dt]), np.zeros(x.shape), x.undef.copy())


def _int_conversion_defined(v: np.ndarray, dt: str) -> np.ndarray:
    """Where the engine defines a float to integer conversion: NaN, +-inf, and values whose truncation fits int64
    (uint64: below 2^64); beyond that the backends' conversions differ."""
    t = np.trunc(v)
    return ~np.isfinite(v) | ((t >= -(2.0**63)) & (t < (2.0**64 if dt == "uint64" else 2.0**63)))


def _float_to_int(v: np.ndarray, dt: str) -> np.ndarray:
    """The engine's float to integer conversion (engine.alu's rule, from its definition): truncate toward zero and
    wrap into `dt` (300.0 to int8 is 44); NaN and +-inf give the dtype's minimum."""
    t = np.where(_int_conversion_defined(v, dt) & np.isfinite(v), np.trunc(v), 0.0)
    big = t >= 2.0**63  # uint64 only
    out = np.where(big, 0.0, t).astype(np.int64).astype(NP_DTYPES[dt])
    if dt == "uint64":
        out = np.where(big, np.where(big, t, 0.0).astype(np.uint64), out)
    return np.where(np.isfinite(v), out, np.iinfo(NP_DTYPES[dt]).min).astype(NP_DTYPES[dt])


def where(cond: Ref, a: Ref, b: Ref, out: str) -> Ref:
    """Select: the chosen branch's value and error (both branches are computed; an undefined branch counts only
    where it is chosen)."""
    a, b = cast(a, out), cast(b, out)
    c, a, b = _broadcast([cond, a, b])
    pick = c.value.astype(bool)
    return Ref(np.where(pick, a.value, b.value), np.where(pick, a.err, b.err),
               c.undef | np.where(pick, a.undef, b.undef))


# ------------------------------------------------------------------ movement (values, errors and masks alike)


def movement(x: Ref, fn: Callable[[np.ndarray, Any], np.ndarray], fill: Any = 0) -> Ref:
    """A movement op `fn` applied to value, error and masks. `fn` may pad; `fill` is the padded value."""
    rounded = None if x.rounded is None else np.array(fn(x.rounded, False))
    overflowed = None if x.overflowed is None else np.array(fn(x.overflowed, False))
    return Ref(np.array(fn(x.value, fill)), np.array(fn(x.err, 0.0)), np.array(fn(x.undef, False)), rounded,
               overflowed)


def concat(xs: Sequence[Ref], axis: int, out: str) -> Ref:
    xs = [cast(x, out) for x in xs]
    return Ref(np.concatenate([x.value for x in xs], axis), np.concatenate([x.err for x in xs], axis),
               np.concatenate([x.undef for x in xs], axis))


def stack(xs: Sequence[Ref], axis: int, out: str) -> Ref:
    xs = [cast(x, out) for x in xs]
    return Ref(np.stack([x.value for x in xs], axis), np.stack([x.err for x in xs], axis),
               np.stack([x.undef for x in xs], axis))


# ------------------------------------------------------------------ reductions


def _count(shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    return math.prod(shape[a] for a in axes)


def reduce(x: Ref, op: str, axes: tuple[int, ...], keepdims: bool, out: str | None = None,
           acc: str | None = None) -> Ref:
    """sum / prod / max / min over `axes` in dtype `out` (default: numpy's); half-width floats accumulate in
    float32 (or `acc`) and round once. The error of a sum is the inputs' summed plus one rounding per partial
    sum."""
    src = x.dtype
    if out is None:
        out = src if op in ("max", "min") or src in HALF else sum_dtype(src)
    n = _count(x.shape, axes)
    with np.errstate(all="ignore"):
        undef = np.any(x.undef, axis=axes, keepdims=keepdims)
        if op in ("max", "min"):
            fn = np.max if op == "max" else np.min
            if not is_float(out):
                if n == 0 and out == "bool":  # any() of nothing is False, all() of nothing is True
                    v = np.full(np.sum(x.value, axis=axes, keepdims=keepdims).shape, op == "min")
                    return Ref(v, np.zeros(v.shape), undef)
                v = fn(x.value.astype(NP_DTYPES[out]), axis=axes, keepdims=keepdims)
                return Ref(v, np.zeros(v.shape), undef)
            v = fn(x.f64(), axis=axes, keepdims=keepdims)  # NaN propagates, as in np.max
            e = np.max(x.err, axis=axes, keepdims=keepdims) if n else np.zeros(v.shape)
            undef = undef | (v == 0) & _both_zeros(x.f64(), axes, keepdims)
            return Ref(v.astype(NP_DTYPES[out]), e, undef)
        if not is_float(out):
            vals = x.value.astype(NP_DTYPES[out])
            v = np.sum(vals, axis=axes, keepdims=keepdims, dtype=NP_DTYPES[out]) if op == "sum" else \
                np.prod(vals, axis=axes, keepdims=keepdims, dtype=NP_DTYPES[out])
            return Ref(np.asarray(v), np.zeros(np.shape(v)), undef)
        acc = acc or ("float32" if out in HALF else out)
        xv = cast(x, acc).f64() if src != acc else x.f64()
        if op == "sum":
            v = np.sum(xv, axis=axes, keepdims=keepdims)
            mags = np.sum(np.abs(np.where(np.isfinite(xv), xv, 0)), axis=axes, keepdims=keepdims)
            e = np.sum(x.err, axis=axes, keepdims=keepdims) + eps(acc) * max(n, 1) * mags
            if acc in _MAX:  # where some order of the partial sums overflows the accumulator (49152 + 16384 is
                # inf in e5m2, then + -inf NaN), the result depends on the order, which opts change
                undef = undef | (mags + np.sum(x.err, axis=axes, keepdims=keepdims) >= _MAX[acc])
            undef = undef | _fused_overflow(x, v, lambda m: np.any(m, axis=axes, keepdims=keepdims))
        else:
            v = np.prod(xv, axis=axes, keepdims=keepdims)
            rel = np.sum(np.where(xv != 0, x.err / np.abs(np.where(xv != 0, xv, 1)), np.inf), axis=axes,
                         keepdims=keepdims) + eps(acc) * max(n, 1)
            scale = np.prod(np.abs(xv) + x.err, axis=axes, keepdims=keepdims)
            e = np.where(np.isfinite(rel), np.abs(v) * rel, scale)
            e = np.where(np.isfinite(e), e, 0.0)
            undef = undef | (np.isfinite(v) & ~np.isfinite(scale))
            if acc in _MAX:  # where the factors above 1 overflow the accumulator in some order (1e30 * 1e30 is inf
                # in float32, then * 0 NaN or * 1e-30 inf), the result depends on the order, which opts change
                big = np.prod(np.where(np.abs(xv) > 1, np.abs(xv) + x.err, 1.0), axis=axes, keepdims=keepdims)
                undef = undef | (np.isfinite(v) & (big >= _MAX[acc]))
        return _round(np.asarray(v, np.float64), out, np.asarray(e, np.float64), undef)


def _fused_overflow(x: Ref, v: np.ndarray, over: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Where a float32 sum of `x` (reduced by `over`) is NaN only because an overflowed product met an infinity of
    the other sign: the engine's fused sum adds that product exactly (fma), and fma(a, b, +inf) with a finite
    exact product is +inf, so its result is NaN or an infinity depending on the order of the terms."""
    if x.overflowed is None or x.dtype != "float32":
        return np.zeros(np.shape(v), bool)
    with np.errstate(all="ignore"):
        return np.isnan(v) & over(x.overflowed) & ~over(np.isnan(x.f64()))


def _both_zeros(v: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    """Where the reduced elements hold both +0.0 and -0.0: which one max/min returns is not specified."""
    pos = np.any((v == 0) & ~np.signbit(v), axis=axes, keepdims=keepdims)
    neg = np.any((v == 0) & np.signbit(v), axis=axes, keepdims=keepdims)
    return pos & neg


def signed_zeros_agree(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Domain of an elementwise max/min: not a +0.0 against a -0.0 (either may come out)."""
    return ~((a == 0) & (b == 0) & (np.signbit(a) != np.signbit(b)))


def argext(x: Ref, axis: int | None, keepdims: bool, largest: bool) -> Ref:
    """Index of the first max (min) along `axis` (None: flattened); a NaN counts as the extreme. Undefined where
    another element is within the errors of the extreme; exact ties (no error along the axis) are defined: the
    first index wins. Integers and bools compare exactly (in float64, uint64 2**64 - 2 and 2**64 - 1 are one value)."""
    v, e, u = x.f64(), x.err, x.undef
    if axis is None:
        v, e, u = v.reshape(-1), e.reshape(-1), u.reshape(-1)
        ax = 0
    else:
        ax = axis
    if not is_float(x.dtype):
        exact = x.value.reshape(-1) if axis is None else x.value
        idx = (np.argmax if largest else np.argmin)(exact, axis=ax, keepdims=True)
        undef = np.any(u, axis=ax, keepdims=True)
    else:
        idx, undef = _float_argext(v, e, u, ax, largest)
    if axis is None:
        idx, undef = idx.reshape(()), undef.reshape(())
        if keepdims:
            idx, undef = idx.reshape((1,) * x.value.ndim), undef.reshape((1,) * x.value.ndim)
    elif not keepdims:
        idx, undef = np.squeeze(idx, ax), np.squeeze(undef, ax)
    idx = np.asarray(idx, np.int64)
    return Ref(idx, np.zeros(idx.shape), np.asarray(undef))


def _float_argext(v: np.ndarray, e: np.ndarray, u: np.ndarray, ax: int, largest: bool) -> tuple[np.ndarray, np.ndarray]:
    """argext of float values v (errors e, undefined u) along ax, keeping the axis: (index, undefined)."""
    with np.errstate(all="ignore"):
        key = v if largest else -v
        # a NaN beats everything, +inf too (numpy: the first NaN)
        idx = np.where(np.any(np.isnan(v), axis=ax, keepdims=True),
                       np.argmax(np.isnan(v), axis=ax, keepdims=True), np.argmax(key, axis=ax, keepdims=True))
        key = np.where(np.isnan(key), np.inf, key)
        top = np.take_along_axis(key, idx, ax)
        emax = np.max(e, axis=ax, keepdims=True) if e.size else e
        close = (key >= top - 2 * emax) & np.isfinite(top)
        ties = (np.sum(close & ~np.isnan(v), axis=ax, keepdims=True) > 1) & (emax > 0)
        anynan = np.any(np.isnan(v), axis=ax, keepdims=True)
        undef = np.any(u, axis=ax, keepdims=True) | (ties & ~anynan) | (np.isinf(top) & (emax > 0))
    return idx, undef


def cumsum(x: Ref, axis: int | None, out: str | None = None) -> Ref:
    v, e, u = x.value, x.err, x.undef
    if axis is None:
        v, e, u = v.reshape(-1), e.reshape(-1), u.reshape(-1)
        axis = 0
    if v.ndim == 0:
        v, e, u = v.reshape(1), e.reshape(1), u.reshape(1)
    src = x.dtype
    out = out or sum_dtype(src)
    n = v.shape[axis]
    undef = np.logical_or.accumulate(u, axis=axis) if u.size else u
    with np.errstate(all="ignore"):
        if not is_float(out):
            r = np.cumsum(v.astype(NP_DTYPES[out]), axis=axis, dtype=NP_DTYPES[out])
            return Ref(r, np.zeros(r.shape), undef)
        acc = "float32" if out in HALF else out
        xv = cast(Ref(v, e, u), acc).f64()
        r = np.cumsum(xv, axis=axis)
        mags = np.cumsum(np.abs(np.where(np.isfinite(xv), xv, 0)), axis=axis)
        err = np.cumsum(e, axis=axis) + eps(acc) * max(n, 1) * mags
        if acc in _MAX:  # a partial sum of some order overflows the accumulator: the order decides (as in reduce)
            undef = undef | (mags + np.cumsum(e, axis=axis) >= _MAX[acc])
        if x.overflowed is not None:
            o = x.overflowed.reshape(v.shape)
            undef = undef | _fused_overflow(Ref(v, e, u, None, o), r, lambda m: np.logical_or.accumulate(m, axis=axis))
    return _round(r, out, err, undef)


# ------------------------------------------------------------------ multilinear ops (matmul, einsum, conv)


def multilinear(fn: Callable[..., np.ndarray], args: Sequence[Ref], out: str, terms: int,
                acc: str | None = None) -> Ref:
    """An op linear in each argument (matmul, einsum, conv): `fn` on float64 arrays. The error is each input's
    error carried through (fn of the other inputs' magnitudes), plus `terms` roundings of a sum of magnitudes.
    Integer and bool ops are exact (bool: `fn` on ints, then != 0)."""
    with np.errstate(all="ignore"):
        undef_in = [a.undef.astype(np.float64) for a in args]
        ones = [np.ones(a.shape) for a in args]
        undef = np.zeros(fn(*ones).shape, bool)
        for i in range(len(args)):
            undef = undef | (fn(*[undef_in[j] if j == i else ones[j] for j in range(len(args))]) > 0)
        if not is_float(out):
            if out == "bool":
                v = fn(*[a.value.astype(np.int64) for a in args]) != 0
                return Ref(v, np.zeros(v.shape), undef)
            v = fn(*[a.value.astype(NP_DTYPES[out]) for a in args]).astype(NP_DTYPES[out])
            return Ref(v, np.zeros(v.shape), undef)
        xs = [a.f64() for a in args]
        mags = [np.abs(np.where(np.isfinite(x), x, 0)) for x in xs]
        v = fn(*xs)
        total = fn(*mags)
        # a partial sum may reach the sum of the magnitudes: past the accumulator's range it may overflow (float16
        # int-limit values cast and convolved gave inf on every device but one, for a final value of 43872)
        undef = undef | (total >= _MAX[acc or out])
        err = eps(acc or out) * max(terms, 1) * total
        for i, a in enumerate(args):
            if a.err.any():
                err = err + fn(*[a.err if j == i else mags[j] + args[j].err for j in range(len(args))])
    return _round(np.asarray(v, np.float64), out, np.asarray(err, np.float64), undef)


def conv_windows(x: np.ndarray, ks: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...]
                 ) -> np.ndarray:
    """(N, C, *spatial) -> (N, C, *out, *k) windows (strided, dilated) of an already padded input."""
    n = len(ks)
    eff = tuple(d * (k - 1) + 1 for k, d in zip(ks, dilation))
    win = np.lib.stride_tricks.sliding_window_view(x, eff, axis=tuple(range(2, 2 + n)))
    sl = (slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride) + \
        tuple(slice(None, None, d) for d in dilation)
    return win[sl]


def conv2d_f(x: np.ndarray, w: np.ndarray, stride: tuple[int, int], padding: tuple[int, int] | str,
             dilation: tuple[int, int], groups: int) -> np.ndarray:
    """Cross-correlation of NCHW `x` with OIHW `w` (as torch's conv2d), by explicit windows. `padding`: per axis,
    or "valid" (none) or "same" (stride 1: dilation * (k - 1) in all, the odd one at the end, as torch)."""
    if padding == "same":
        tot = [d * (k - 1) for d, k in zip(dilation, w.shape[2:])]
        sides = [(t // 2, t - t // 2) for t in tot]
    else:
        sides = [(0, 0)] * 2 if padding == "valid" else [(p, p) for p in padding]
    xp = np.pad(x, ((0, 0), (0, 0), *sides))
    win = conv_windows(xp, tuple(w.shape[2:]), stride, dilation)  # N, C, OH, OW, KH, KW
    nb, c = x.shape[:2]
    cout, cin_g = w.shape[:2]
    oh, ow = win.shape[2:4]
    win = win.reshape(nb, groups, cin_g, oh, ow, *w.shape[2:])
    wg = w.reshape(groups, cout // groups, cin_g, *w.shape[2:])
    out = np.einsum("ngchwij,gocij->ngohw", win, wg)
    return out.reshape(nb, cout, oh, ow)


def conv_transpose2d_f(x: np.ndarray, w: np.ndarray, stride: tuple[int, int], padding: tuple[int, int],
                       output_padding: tuple[int, int], dilation: tuple[int, int], groups: int) -> np.ndarray:
    """torch's conv_transpose2d (weight (Cin, Cout/groups, KH, KW)) by scattering each input pixel."""
    nb, cin, h, wd = x.shape
    _, cout_g, kh, kw = w.shape
    sh, sw = stride
    dh, dw = dilation
    full_h = (h - 1) * sh + dh * (kh - 1) + 1 + output_padding[0]
    full_w = (wd - 1) * sw + dw * (kw - 1) + 1 + output_padding[1]
    out = np.zeros((nb, groups * cout_g, full_h, full_w))
    cin_g = cin // groups
    for g in range(groups):
        xg = x[:, g * cin_g:(g + 1) * cin_g]
        wg = w[g * cin_g:(g + 1) * cin_g]
        for i in range(kh):
            for j in range(kw):
                contrib = np.einsum("nchw,co->nohw", xg, wg[:, :, i, j])
                out[:, g * cout_g:(g + 1) * cout_g, i * dh:i * dh + (h - 1) * sh + 1:sh,
                    j * dw:j * dw + (wd - 1) * sw + 1:sw] += contrib
    ph, pw = padding
    return out[:, :, ph:full_h - ph if ph else full_h, pw:full_w - pw if pw else full_w]


def pool_windows(x: Ref, ks: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int], fill: Any
                 ) -> Ref:
    """(N, C, H, W) -> (N, C, OH, OW, KH, KW) windows of value, error and mask, padded with `fill`."""
    pads = ((0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1]))

    def win(a: np.ndarray, f: Any) -> np.ndarray:
        return conv_windows(np.pad(a, pads, constant_values=f), ks, stride, (1, 1))

    v = x.f64() if x.dtype in ("bfloat16", "float8_e4m3fn", "float8_e5m2") else x.value  # numpy cannot window these
    return Ref(win(v, fill), win(x.err, 0.0), win(x.undef, False))
