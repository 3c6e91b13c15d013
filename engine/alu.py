"""Exact semantics of ALU ops on Python scalars: what generated kernels compute.

Integers wrap to their dtype's width (two's complement; the C backend compiles with -fwrapv).
`index` is a 64-bit signed integer; the simplifier assumes index arithmetic never leaves that range,
and bounds (`vmin`/`vmax`) fall back to the full int64 range where it could.
IDIV truncates toward zero and MOD takes the sign of the dividend, as in C. Where C is undefined the kernels
follow numpy's integer results on every device, so nothing traps: x IDIV 0 == 0, x MOD 0 == 0, and
INT_MIN IDIV -1 == INT_MIN (the quotient wraps) with INT_MIN MOD -1 == 0. The Tensor's `//` and `%` (floor, sign
of the divisor) are built on these, so they give numpy's results too. Floats are rounded to their dtype through
numpy. MULACC of floats is a fused multiply-add, a * b + c rounded once (`fma`); of integers it wraps.
"""

from __future__ import annotations

import math
import struct
from fractions import Fraction
from typing import Any, Callable

import numpy as np

from engine.dtype import DType
from engine.uop import Ops


def c_div(a: int, b: int) -> int:
    """Integer division truncating toward zero (C's `/` on ints); 0 for a zero divisor, as numpy."""
    if b == 0:
        return 0
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def c_mod(a: int, b: int) -> int:
    """Remainder with the sign of the dividend (C's `%`): a == c_div(a, b)*b + c_mod(a, b); 0 for b == 0."""
    return a - c_div(a, b) * b if b != 0 else 0


def wrap(dtype: DType, v: Any) -> Any:
    """Bring a value into `dtype`: wrap ints, round floats, coerce bools."""
    k = dtype.scalar.kind
    if k == "b":
        return bool(v)
    if k in "iux":
        v = int(v)
        bits = dtype.scalar.bits
        v &= (1 << bits) - 1
        if k != "u" and v >= 1 << (bits - 1):
            v -= 1 << bits
        return v
    if k == "f":
        if type(v) is int and -(1 << 63) <= v < 1 << 64:  # one rounding, as numpy casts integers (not via float64)
            src = np.int64 if v < 1 << 63 else np.uint64
            with np.errstate(over="ignore"):  # too large for float16: inf, as numpy casts
                return float(np.array(v, dtype=src).astype(dtype.scalar.np))
        return float(np.array(v, dtype=np.float64).astype(dtype.scalar.np))
    return v


def _shr(a: int, b: int) -> int:
    return a >> b


def _fdiv(a: float, b: float) -> float:
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _pow(a: Any, b: Any) -> Any:
    """IEEE 754 / C99 pow, as libm, numpy and every backend's pow: math.pow raises where that gives an infinity (a
    pole at a zero base, an overflow) or NaN (a negative base, a non-integer exponent)."""
    try:
        return math.pow(a, b)
    except (OverflowError, ValueError):
        whole = b == math.trunc(b)
        if a < 0 and not whole:
            return math.nan
        odd = whole and math.fmod(b, 2.0) != 0
        return math.copysign(math.inf, a) if odd else math.inf  # pow(-0, -3) = -inf, pow(-10, 309) = -inf


def _log2(a: float) -> float:
    if a < 0 or math.isnan(a):
        return math.nan
    return -math.inf if a == 0 else math.log2(a)


def _sqrt(a: float) -> float:
    return math.nan if a < 0 or math.isnan(a) else math.sqrt(a)


def _exp2(a: float) -> float:
    try:
        return 2.0**a
    except OverflowError:
        return math.inf


def _sin(a: float) -> float:
    return math.nan if math.isinf(a) or math.isnan(a) else math.sin(a)


def _recip(a: float) -> float:
    return _fdiv(1.0, a)


def _trunc(a: Any) -> Any:
    """Toward zero, keeping the sign of a zero result (IEEE trunc, numpy, C: trunc(-0.5) is -0.0)."""
    return a if math.isinf(a) or math.isnan(a) else math.copysign(float(math.trunc(a)), a)


def _max(a: Any, b: Any) -> Any:
    if isinstance(a, float) and (math.isnan(a) or math.isnan(b)):
        return math.nan
    return max(a, b)


def _min(a: Any, b: Any) -> Any:
    if isinstance(a, float) and (math.isnan(a) or math.isnan(b)):
        return math.nan
    return min(a, b)


# op -> function on Python scalars (before wrapping to the result dtype)
ALU_FUNCS: dict[Ops, Callable[..., Any]] = {
    Ops.NEG: lambda a: (not a) if isinstance(a, bool) else -a,
    Ops.RECIPROCAL: _recip,
    Ops.SQRT: _sqrt,
    Ops.EXP2: _exp2,
    Ops.LOG2: _log2,
    Ops.SIN: _sin,
    Ops.TRUNC: _trunc,
    Ops.ADD: lambda a, b: a + b,
    Ops.SUB: lambda a, b: a - b,
    Ops.MUL: lambda a, b: a * b,
    Ops.IDIV: c_div,
    Ops.MOD: c_mod,
    Ops.FDIV: _fdiv,
    Ops.MAX: _max,
    Ops.MIN: _min,
    Ops.POW: _pow,
    Ops.CMPLT: lambda a, b: a < b,
    Ops.CMPLE: lambda a, b: a <= b,
    Ops.CMPNE: lambda a, b: a != b,
    Ops.CMPEQ: lambda a, b: a == b,
    Ops.AND: lambda a, b: a & b,
    Ops.OR: lambda a, b: a | b,
    Ops.XOR: lambda a, b: a ^ b,
    Ops.SHL: lambda a, b: a << b,
    Ops.SHR: _shr,
    Ops.WHERE: lambda c, a, b: a if c else b,
    Ops.MULACC: lambda a, b, c: a * b + c,  # integers; exec_alu gives floats one rounding (fma)
}


def _odd_sum(p: float, c: float) -> float:
    """p + c rounded to double with round-to-odd (inexact results get an odd last bit): rounding that to a format of
    at most 51 bits of precision gives the correctly rounded exact sum (no double rounding)."""
    s = p + c
    t = s - c
    e = (p - t) + (c - (s - t))  # the exact error of the sum (TwoSum)
    if e == 0 or not math.isfinite(s):
        return s
    if struct.unpack("<q", struct.pack("<d", s))[0] & 1 == 0:
        s = math.nextafter(s, math.inf if e > 0 else -math.inf)
    return s


def fma(dtype: DType, a: float, b: float, c: float) -> float:
    """a * b + c rounded once to the float `dtype` (a fused multiply-add), as the result holds it."""
    if not (math.isfinite(a) and math.isfinite(b)):
        return wrap(dtype, a * b + c)  # an infinite or NaN product: as IEEE's fma (inf * 0 is NaN, inf - inf NaN)
    if not math.isfinite(c):
        return c  # a finite product (exact, even where a double would overflow) plus inf or NaN
    if dtype.scalar.itemsize <= 4:  # a * b of float32 values is exact in double; the sum rounded to odd
        return wrap(dtype, _odd_sum(a * b, c))
    exact = Fraction(a) * Fraction(b) + Fraction(c)
    if exact == 0:  # IEEE: -0 only where the product and c are both -0 (or an exact -0 product and c -0)
        return -0.0 if math.copysign(1.0, a) * math.copysign(1.0, b) < 0 and math.copysign(1.0, c) < 0 else 0.0
    try:
        return float(exact)
    except OverflowError:
        return math.inf if exact > 0 else -math.inf


def exec_alu(op: Ops, dtype: DType, operands: tuple[Any, ...] | list[Any]) -> Any:
    """The value of `op` on scalar operands, as the result `dtype` holds it (MULACC of floats: one rounding)."""
    if op is Ops.MULACC and dtype.scalar.kind == "f":
        return fma(dtype, *operands)
    if op is Ops.CAST:
        v = operands[0]
        if dtype.scalar.kind in "iux" and isinstance(v, float):
            if math.isnan(v) or math.isinf(v):
                return dtype.scalar.min  # undefined in C; pick the value x86 gives for int conversions
            v = math.trunc(v)
        return wrap(dtype, v)
    if op in (Ops.SHL, Ops.SHR) and not 0 <= operands[1] < dtype.scalar.bits:
        raise ValueError(f"shift by {operands[1]} out of range for {dtype.name}")
    return wrap(dtype, ALU_FUNCS[op](*operands))


def reduce_identity(op: Ops, dtype: Any) -> Any:
    """The value an accumulator starts from."""
    if op is Ops.ADD:
        return 0
    if op is Ops.MUL:
        return 1
    if op is Ops.MAX:
        return dtype.min
    raise ValueError(f"no identity for reduce op {op.name}")
