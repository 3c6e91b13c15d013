"""Tensor methods: math functions (exp, log, sqrt, sin, ..., sigmoid, gelu, erf), clip, sign, abs, isnan, isinf,
and the creation helpers (arange, linspace, eye, *_like, rand, randn, randint).

Every function is built from the engine's few ALU ops (EXP2, LOG2, SIN, SQRT, RECIPROCAL, TRUNC, ...).
Float ufuncs follow numpy's dtypes: ints and bools become numpy's float first (`_float`), and half-width floats
(float16, bfloat16, fp8) are computed in float32 and rounded once at the end, as numpy does for float16.
"""

# mypy: disable-error-code="misc"
# (the methods annotate `self: Tensor`, a subclass of the mixin; mypy rejects that for mixins with [misc])

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from engine.dtype import DType, dtypes, to_dtype
from engine.uop import Ops

if TYPE_CHECKING:
    from engine.tensor import Tensor

LOG2E, LN2 = 1.0 / math.log(2.0), math.log(2.0)
_HALF = (dtypes.float16, dtypes.bfloat16, dtypes.float8_e4m3fn, dtypes.float8_e5m2)
_SAME_SIZE_INT = {1: dtypes.int8, 2: dtypes.int16, 4: dtypes.int32, 8: dtypes.int64}

# erf: rational approximations of FreeBSD's s_erf.c (Sun Microsystems, 1993), one per interval of |x|
_ERX = 8.45062911510467529297e-01
_PP = (1.28379167095512558561e-01, -3.25042107247001499370e-01, -2.84817495755985104766e-02,
       -5.77027029648944159157e-03, -2.37630166566501626084e-05)
_QQ = (1.0, 3.97917223959155352819e-01, 6.50222499887672944485e-02, 5.08130628187576562776e-03,
       1.32494738004321644526e-04, -3.96022827877536812320e-06)
_PA = (-2.36211856075265944077e-03, 4.14856118683748331666e-01, -3.72207876035701323847e-01,
       3.18346619901161753674e-01, -1.10894694282396677476e-01, 3.54783043256182359371e-02,
       -2.16637559486879084300e-03)
_QA = (1.0, 1.06420880400844228286e-01, 5.40397917702171048937e-01, 7.18286544141962662868e-02,
       1.26171219808761642112e-01, 1.36370839120290507362e-02, 1.19844998467991074170e-02)
_RA = (-9.86494403484714822705e-03, -6.93858572707181764372e-01, -1.05586262253232909814e+01,
       -6.23753324503260060396e+01, -1.62396669462573470355e+02, -1.84605092906711035994e+02,
       -8.12874355063065934246e+01, -9.81432934416914548592e+00)
_SA = (1.0, 1.96512716674392571292e+01, 1.37657754143519042600e+02, 4.34565877475229228821e+02,
       6.45387271733267880336e+02, 4.29008140027567833386e+02, 1.08635005541779435134e+02,
       6.57024977031928170135e+00, -6.04244152148580987438e-02)
_RB = (-9.86494292470009928597e-03, -7.99283237680523006574e-01, -1.77579549177547519889e+01,
       -1.60636384855821916062e+02, -6.37566443368389627722e+02, -1.02509513161107724954e+03,
       -4.83519191608651397019e+02)
_SB = (1.0, 3.03380607434824582924e+01, 3.25792512996573918826e+02, 1.53672958608443695994e+03,
       3.19985821950859553908e+03, 2.55305040643316442583e+03, 4.74528541206955367215e+02,
       -2.24409524465858183362e+01)

# tanh(x) = x * (1 + c1 x^2 + c2 x^4 + ...) (Taylor), used for |x| < 0.125 where (1-e)/(1+e) cancels
_TANH_TAYLOR = (1.0, -1 / 3, 2 / 15, -17 / 315, 62 / 2835, -1382 / 155925, 21844 / 6081075,
                -929569 / 638512875, 6404582 / 10854718875)


def _poly(x: Tensor, coeffs: Sequence[float]) -> Tensor:
    """c0 + c1*x + c2*x^2 + ... by Horner's rule."""
    acc = x._const_like(coeffs[-1])
    for c in reversed(coeffs[:-1]):
        acc = acc * x + c
    return acc


class ElementwiseMixin:
    """Mixed into Tensor."""

    __slots__ = ()

    # ------------------------------------------------------------------ helpers
    def _math(self: Tensor, fn: Callable[[Tensor], Tensor]) -> Tensor:
        """fn on self as a float; half-width floats compute in float32 and round once (numpy's float16 loops)."""
        x = self._float()
        if x.dtype in _HALF:
            return fn(x.cast(dtypes.float32)).cast(x.dtype)
        return fn(x)

    def _sign_bit_clear(self: Tensor) -> Tensor:
        it = _SAME_SIZE_INT[self.dtype.itemsize]
        return (self.bitcast(it) & ((1 << (it.bits - 1)) - 1)).bitcast(self.dtype)

    # ------------------------------------------------------------------ sign and magnitude
    def neg(self: Tensor) -> Tensor:
        """-x (numpy: bool has no negative)."""
        if self.dtype == dtypes.bool:
            raise TypeError("neg: numpy's negative is not defined for bool; use logical_not")
        return -self

    def abs(self: Tensor) -> Tensor:
        """|x|: floats clear the sign bit (so abs(-0.0) = 0.0, NaN stays NaN); ints wrap at the minimum as C does."""
        if self.dtype == dtypes.bool or self.dtype.is_unsigned:
            return self._new(self.uop)  # a new Tensor all the same: an in-place write to self must not change it
        if self.dtype.is_float:
            return self._sign_bit_clear()
        return (self < 0).where(-self, self)

    def __abs__(self: Tensor) -> Tensor:
        return self.abs()

    def sign(self: Tensor) -> Tensor:
        """-1, 0 or 1 in the input dtype (NaN stays NaN; numpy: undefined for bool)."""
        if self.dtype == dtypes.bool:
            raise TypeError("sign: numpy's sign is not defined for bool")
        pos = (self > 0).cast(self.dtype)
        if self.dtype.is_unsigned:
            return pos
        if self.dtype.is_float:
            zero_or_nan = self.isnan().where(self, 0)
            return (self > 0).where(1, (self < 0).where(-1, zero_or_nan))
        return pos - (self < 0).cast(self.dtype)

    def square(self: Tensor) -> Tensor:
        """x*x (numpy: bool squares as int8)."""
        x = self.cast(dtypes.int8) if self.dtype == dtypes.bool else self
        return x * x

    def reciprocal(self: Tensor) -> Tensor:
        """1/x; ints follow numpy's integer reciprocal (1/x truncated: 0 unless |x| = 1; here 0 also for x = 0)."""
        if self.dtype.is_float:
            return self._unary(Ops.RECIPROCAL)
        x = self.cast(dtypes.int8) if self.dtype == dtypes.bool else self
        one = (x == 1) if x.dtype.is_unsigned else (x == 1) | (x == -1)
        return one.where(x, 0)

    def clip(self: Tensor, min: Any = None, max: Any = None) -> Tensor:
        """numpy's clip: minimum(maximum(x, min), max); either bound may be None, a scalar or a tensor."""
        if min is None and max is None:
            raise ValueError("clip: at least one of min and max must be given")
        out = self if min is None else self.maximum(min)
        return out if max is None else out.minimum(max)

    def relu(self: Tensor) -> Tensor:
        """max(x, 0) (NaN stays NaN)."""
        return self.maximum(0)

    # ------------------------------------------------------------------ rounding
    def trunc(self: Tensor) -> Tensor:
        """Round toward zero (ints and bools unchanged, as numpy)."""
        return self._unary(Ops.TRUNC) if self.dtype.is_float else self._new(self.uop)

    def floor(self: Tensor) -> Tensor:
        """Round toward -inf (ints and bools unchanged, as numpy)."""
        if not self.dtype.is_float:
            return self._new(self.uop)
        t = self.trunc()
        return (self < t).where(t - 1, t)

    def ceil(self: Tensor) -> Tensor:
        """Round toward +inf (ints and bools unchanged, as numpy)."""
        if not self.dtype.is_float:
            return self._new(self.uop)
        t = self.trunc()
        return (self > t).where(t + 1, t)

    def round(self: Tensor, decimals: int = 0) -> Tensor:
        """numpy's round: halves go to the even neighbour; `decimals` scales by 10**decimals first (floats)."""
        if self.dtype == dtypes.bool:
            return self._float().round(decimals)
        if not self.dtype.is_float:
            if decimals < 0:
                raise NotImplementedError("round: negative decimals of an integer tensor")
            return self._new(self.uop)
        if decimals:
            scale = 10.0 ** decimals
            return (self * scale).round() / scale
        t = self.trunc()
        frac = (self - t).abs()  # exact in floating point
        odd = (t - (t * 0.5).trunc() * 2) != 0
        away = (frac > 0.5) | ((frac == 0.5) & odd)
        return away.where((self > 0).where(t + 1, t - 1), t)

    # ------------------------------------------------------------------ exponentials and logarithms
    def exp(self: Tensor) -> Tensor:
        """e**x as exp2(x*log2(e))."""
        return self._math(lambda x: (x * LOG2E)._unary(Ops.EXP2))

    def exp2(self: Tensor) -> Tensor:
        """2**x."""
        return self._math(lambda x: x._unary(Ops.EXP2))

    def log(self: Tensor) -> Tensor:
        """Natural log as log2(x)*ln(2)."""
        return self._math(lambda x: x._unary(Ops.LOG2) * LN2)

    def log2(self: Tensor) -> Tensor:
        """Base-2 log."""
        return self._math(lambda x: x._unary(Ops.LOG2))

    def log10(self: Tensor) -> Tensor:
        """Base-10 log."""
        return self._math(lambda x: x._unary(Ops.LOG2) * math.log10(2.0))

    def sqrt(self: Tensor) -> Tensor:
        """Square root (NaN for negative inputs)."""
        return self._math(lambda x: x._unary(Ops.SQRT))

    def rsqrt(self: Tensor) -> Tensor:
        """1/sqrt(x)."""
        return self._math(lambda x: x._unary(Ops.SQRT)._unary(Ops.RECIPROCAL))

    # ------------------------------------------------------------------ trigonometry
    def sin(self: Tensor) -> Tensor:
        """Sine."""
        return self._math(lambda x: x._unary(Ops.SIN))

    def cos(self: Tensor) -> Tensor:
        """Cosine as sin(pi/2 - x), with pi/2 split in two parts so results near the zeros stay accurate."""
        return self._math(_cos)

    def tan(self: Tensor) -> Tensor:
        """Tangent as sin/cos."""
        return self._math(lambda x: x._unary(Ops.SIN) / _cos(x))

    # ------------------------------------------------------------------ activations
    def sigmoid(self: Tensor) -> Tensor:
        """1/(1+exp(-x))."""
        return self._math(lambda x: ((-x).exp() + 1)._unary(Ops.RECIPROCAL))

    def silu(self: Tensor) -> Tensor:
        """x*sigmoid(x)."""
        return self._math(lambda x: x * x.sigmoid())

    def tanh(self: Tensor) -> Tensor:
        """tanh: (1-e)/(1+e) with e = exp(-2|x|), and a Taylor polynomial near 0 where that form cancels."""
        def fn(x: Tensor) -> Tensor:
            a = x.abs()
            e = (a * -2).exp()
            big = (-e + 1) / (e + 1)
            big = (x < 0).where(-big, big)
            return (a < 0.125).where(x * _poly(x * x, _TANH_TAYLOR), big)
        return self._math(fn)

    def softplus(self: Tensor, beta: float = 1.0) -> Tensor:
        """log(1+exp(beta*x))/beta, computed stably as max(y,0) + log1p(exp(-|y|))."""
        def fn(x: Tensor) -> Tensor:
            y = x * beta if beta != 1.0 else x
            out = y.relu() + _log1p_small((-y.abs()).exp())
            return out / beta if beta != 1.0 else out
        return self._math(fn)

    def erf(self: Tensor) -> Tensor:
        """The error function (FreeBSD's rational approximations: float64 to ~1e-15, float32 to ~1e-7)."""
        return self._math(_erf)

    def gelu(self: Tensor) -> Tensor:
        """The exact GELU: 0.5*x*(1+erf(x/sqrt(2)))."""
        return self._math(lambda x: x * 0.5 * (_erf(x * (1 / math.sqrt(2.0))) + 1))

    # ------------------------------------------------------------------ classification
    def isnan(self: Tensor) -> Tensor:
        """True where x is NaN (never for ints and bools)."""
        if not self.dtype.is_float:
            return self._const_like(False, dtypes.bool)
        return self != self

    def isinf(self: Tensor) -> Tensor:
        """True where x is +inf or -inf (never for ints and bools)."""
        if not self.dtype.is_float:
            return self._const_like(False, dtypes.bool)
        return (self == math.inf) | (self == -math.inf)

    def isfinite(self: Tensor) -> Tensor:
        """True where x is neither NaN nor infinite."""
        return (self.isnan() | self.isinf()).logical_not()

    # ------------------------------------------------------------------ creation (lazy unless said otherwise)
    def zeros_like(self: Tensor, dtype: DType | None = None) -> Tensor:
        """Zeros of this shape (and dtype unless given)."""
        return self._const_like(0, dtype)

    def ones_like(self: Tensor, dtype: DType | None = None) -> Tensor:
        """Ones of this shape (and dtype unless given)."""
        return self._const_like(1, dtype)

    def full_like(self: Tensor, value: Any, dtype: DType | None = None) -> Tensor:
        """`value` in this shape (and dtype unless given)."""
        return self._const_like(value, dtype)

    @staticmethod
    def empty(shape: Sequence[int] | int, dtype: DType = dtypes.float32, device: str | None = None) -> Tensor:
        """An uninitialized tensor; here zeros (a broadcast constant), so its value is deterministic."""
        from engine.tensor import Tensor, check_shape

        return Tensor.zeros(check_shape("empty", shape), dtype, device)

    @staticmethod
    def arange(start: Any, stop: Any = None, step: Any = 1, dtype: DType | None = None,
               device: str | None = None) -> Tensor:
        """numpy's arange: start + i*step, lazy (the index i is a sum of padded constants, no host data)."""
        if stop is None:
            start, stop = 0, start
        if step == 0:
            raise ValueError("arange: step must not be 0")
        n = max(math.ceil((stop - start) / step), 0)
        is_int = all(isinstance(v, (int, np.integer)) for v in (start, stop, step))
        dt = to_dtype(dtype) if dtype is not None else (dtypes.int64 if is_int else dtypes.float64)
        idx = _iota(n, device)
        work = dt if dt.is_int else dtypes.float64
        out = idx.cast(work) * step + start if (step, start) != (1, 0) else idx.cast(work)
        return out.cast(dt)

    @staticmethod
    def linspace(start: float, stop: float, num: int, dtype: DType = dtypes.float32,
                 device: str | None = None) -> Tensor:
        """numpy's linspace (endpoint included), lazy: computed in float64 as numpy does, then cast to `dtype`."""
        if num < 0:
            raise ValueError(f"linspace: num must be non-negative, got {num}")
        idx = _iota(num, device).cast(dtypes.float64)
        if num <= 1:
            return (idx + start).cast(dtype)
        step = (stop - start) / (num - 1)
        y = (idx / (num - 1)) * (stop - start) + start if step == 0 else idx * step + start
        return (idx == num - 1).where(float(stop), y).cast(dtype)

    @staticmethod
    def eye(n: int, m: int | None = None, k: int = 0, dtype: DType = dtypes.float32,
            device: str | None = None) -> Tensor:
        """Ones on diagonal k of an n x m matrix, lazy (a padded column of ones read with a stride of S+1)."""
        from engine.tensor import Tensor

        m = n if m is None else m
        s = max(n, m)
        if s == 0 or n == 0 or m == 0:
            return Tensor.zeros((n, m), dtype, device)
        # flat index i*s + j of (s, s+1)-rows that start with a one: one exactly where i == j
        square = Tensor.ones((s, 1), dtype, device).pad(((0, 0), (0, s))).reshape(-1).shrink(((0, s * s),))
        square = square.reshape(s, s)
        shifted = square.pad(((max(-k, 0), 0), (max(k, 0), 0)))
        return shifted.shrink(((0, n), (0, m)))

    @staticmethod
    def rand(*shape: int, seed: int | None = None, dtype: DType = dtypes.float32,
             device: str | None = None) -> Tensor:
        """Uniform [0, 1) samples, host-built with numpy's `default_rng(seed).random` (same seed, same values)."""
        from engine.tensor import Tensor

        arr = np.random.default_rng(seed).random(_shape_args(shape), dtype=np.float64)
        return Tensor(arr.astype(dtype.np), device=device)

    @staticmethod
    def randn(*shape: int, seed: int | None = None, dtype: DType = dtypes.float32,
              device: str | None = None) -> Tensor:
        """Standard normal samples, host-built with numpy's `default_rng(seed).standard_normal`."""
        from engine.tensor import Tensor

        arr = np.random.default_rng(seed).standard_normal(_shape_args(shape))
        return Tensor(arr.astype(dtype.np), device=device)

    @staticmethod
    def randint(low: int, high: int, shape: Sequence[int] | int = (), seed: int | None = None,
                dtype: DType = dtypes.int64, device: str | None = None) -> Tensor:
        """Integers in [low, high), host-built with numpy's `default_rng(seed).integers`."""
        from engine.tensor import Tensor

        shp = (shape,) if isinstance(shape, int) else tuple(shape)
        arr = np.random.default_rng(seed).integers(low, high, size=shp, dtype=dtype.np)
        return Tensor(arr, device=device)


def _shape_args(shape: tuple) -> tuple[int, ...]:
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)


def _iota(n: int, device: str | None) -> Tensor:
    """[0, 1, ..., n-1] as int64, lazily: bit j of the index is a padded constant [0, 2**j] broadcast over a
    (2, 2, ..., 2) shape; their sum, flattened and shrunk to n, is the index."""
    from engine.tensor import Tensor

    if n <= 1:
        return Tensor.zeros((n,), dtypes.int64, device)
    k = (n - 1).bit_length()
    out: Tensor | None = None
    for axis in range(k):
        bit = Tensor.full((1,), 1 << (k - 1 - axis), dtypes.int64, device).pad(((1, 0),))
        term = bit.reshape((1,) * axis + (2,) + (1,) * (k - 1 - axis)).expand((2,) * k)
        out = term if out is None else out + term
    assert out is not None
    return out.reshape(-1).shrink(((0, n),))


def _cos(x: Tensor) -> Tensor:
    """cos(x) = sin(pi/2 - |r|) with r = x - k*2pi in [-pi, pi] (Cody-Waite: 2pi = C1 + C2, k*C1 exact)."""
    c1 = 6.28125  # 2pi to 8 bits, so k*C1 is exact for |k| < 2**16 in float32
    c2 = float(np.array(2 * math.pi - c1, dtype=x.dtype.np))
    k = (x * (0.5 / math.pi) + 0.5).floor()
    r = ((x - k * c1) - k * c2).abs()
    # pi/2 = hi + lo with hi exact in x's dtype: (hi - r) is exact near the zero of cos, lo restores the rest
    hi = float(np.array(math.pi / 2, dtype=x.dtype.np))
    return ((-r + hi) + (math.pi / 2 - hi))._unary(Ops.SIN)


def _log1p_small(y: Tensor) -> Tensor:
    """log(1+y) for y >= 0 finite, accurate for tiny y: log(u) * y / (u - 1) with u = 1 + y (Goldberg)."""
    u = y + 1
    return (u == 1).where(y, u.log() * y / (u - 1))


def _erf(x: Tensor) -> Tensor:
    """erf on a float32/float64 tensor: four rational approximations selected by |x|."""
    a = x.abs()
    z = x * x
    small = x + x * (_poly(z, _PP) / _poly(z, _QQ))  # |x| < 0.84375
    s = a - 1
    mid = _poly(s, _PA) / _poly(s, _QA) + _ERX  # |x| < 1.25
    r = (z._unary(Ops.RECIPROCAL))
    rs = (a < 1 / 0.35).where(_poly(r, _RA) / _poly(r, _SA), _poly(r, _RB) / _poly(r, _SB))
    tail = -((-z - 0.5625 + rs).exp() / a) + 1  # 1 - erfc(|x|), |x| < 6
    pos = (a >= 6).where(1.0, (a >= 1.25).where(tail, mid))
    pos = (x < 0).where(-pos, pos)
    # NaN fails every comparison, so it takes the `small` branch and stays NaN
    return (a >= 0.84375).where(pos, small)
