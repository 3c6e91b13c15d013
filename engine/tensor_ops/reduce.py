"""Tensor methods: mean, var, std, argmax, argmin, any, all, cumsum, logsumexp, softmax, log_softmax.

All take numpy's `axis` (int, tuple, negative, None = every axis) and `keepdim`. Dtypes follow numpy: mean/var/std
of ints and bools are float64; half-width floats (float16, bfloat16, fp8) are accumulated in float32 and rounded once
at the end (sum, prod and cumsum too; ml_dtypes would accumulate bfloat16 and fp8 sums in their own dtype).
"""

# mypy: disable-error-code="misc"
# (the methods annotate `self: Tensor`, a subclass of the mixin; mypy rejects that for mixins with [misc])

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

from engine.dtype import DType, dtypes
from engine.tensor_ops.elementwise import _HALF, _iota
from engine.uop import Ops

if TYPE_CHECKING:
    from engine.tensor import Tensor

Axis = int | Sequence[int] | None
CUMSUM_DIRECT_MAX = 256  # up to this length a scan is one triangular-masked sum; longer ones are blocked


class ReduceMixin:
    """Mixed into Tensor."""

    __slots__ = ()

    # ------------------------------------------------------------------ helpers
    def _reduced_count(self: Tensor, axis: Axis) -> int:
        from engine.tensor import _axes

        return math.prod(self.shape[a] for a in _axes(axis, self.ndim))

    def _stat_float(self: Tensor) -> Tensor:
        """The dtype statistics are computed in: float64 for ints and bools, float32 for half-width floats."""
        if not self.dtype.is_float:
            return self.cast(dtypes.float64)
        return self.cast(dtypes.float32) if self.dtype in _HALF else self

    def _out_float(self: Tensor, out: Tensor) -> Tensor:
        """Round a statistic back to a half-width input dtype (numpy's float16 results)."""
        return out.cast(self.dtype) if self.dtype in _HALF else out

    # ------------------------------------------------------------------ statistics
    def mean(self: Tensor, axis: Axis = None, keepdim: bool = False) -> Tensor:
        """Arithmetic mean (NaN over an empty axis, as numpy)."""
        n = self._reduced_count(axis)
        s = self._stat_float().sum(axis, keepdim)
        return self._out_float(s / n if n else s * math.nan)

    def _var(self: Tensor, axis: Axis, keepdim: bool, ddof: int) -> Tensor:
        x = self._stat_float()
        n = self._reduced_count(axis)
        d = x - x.mean(axis, keepdim=True)
        ss = (d * d).sum(axis, keepdim)
        div = max(n - ddof, 0)
        return ss / div if div else ss / 0.0

    def var(self: Tensor, axis: Axis = None, keepdim: bool = False, ddof: int = 0) -> Tensor:
        """Variance, two-pass: mean((x - mean(x))**2) with n - ddof in the denominator."""
        return self._out_float(self._var(axis, keepdim, ddof))

    def std(self: Tensor, axis: Axis = None, keepdim: bool = False, ddof: int = 0) -> Tensor:
        """Standard deviation: sqrt(var)."""
        return self._out_float(self._var(axis, keepdim, ddof).sqrt())

    # ------------------------------------------------------------------ arg reductions
    def _arg_extreme(self: Tensor, axis: int | None, keepdim: bool, largest: bool) -> Tensor:
        from engine.tensor import Tensor, _axis

        x = self.reshape(-1) if axis is None else self
        ax = 0 if axis is None else _axis(axis, self.ndim)
        n = x.shape[ax] if x.ndim else 1
        name = "argmax" if largest else "argmin"
        if n == 0:
            raise ValueError(f"{name}: attempt to get {name} of an empty axis")
        if x.ndim == 0:
            return Tensor.zeros((), dtypes.int64, self.device)
        if any(u.op is Ops.REDUCE_AXIS for u in x.uop.toposort):
            # values computed through a reduce are realized first: the max and the comparison with it read the same
            # bits (recomputed in two kernels, each with its own opts or split, a float sum may round otherwise, and
            # no element equals the max: the index came out as n; found by the graph fuzzer's split mode,
            # corpus/graphs/mismatch-split-argmax-of-a-recomputed-sum.json)
            x = x.contiguous()
        m = x.max(ax, keepdim=True) if largest else x.min(ax, keepdim=True)
        hit = (x == m) | x.isnan()  # the reduced value is NaN exactly when some element is: pick the first NaN
        # the first hit has the largest n - i
        rev = (-_iota(n, self.device) + n).reshape(tuple(n if i == ax else 1 for i in range(x.ndim)))
        out = -hit.where(rev, 0).max(ax, keepdim=True) + n
        if axis is None:
            return out.reshape((1,) * self.ndim) if keepdim else out.reshape(())
        return out if keepdim else out.reshape(tuple(s for i, s in enumerate(out.shape) if i != ax))

    def argmax(self: Tensor, axis: int | None = None, keepdim: bool = False) -> Tensor:
        """Index (int64) of the first maximum along `axis` (None: of the flattened tensor); a NaN counts as max."""
        return self._arg_extreme(axis, keepdim, True)

    def argmin(self: Tensor, axis: int | None = None, keepdim: bool = False) -> Tensor:
        """Index (int64) of the first minimum along `axis` (None: of the flattened tensor); a NaN counts as min."""
        return self._arg_extreme(axis, keepdim, False)

    # ------------------------------------------------------------------ logical reductions
    def any(self: Tensor, axis: Axis = None, keepdim: bool = False) -> Tensor:
        """True where some element along `axis` is nonzero (False over an empty axis)."""
        b = self.cast(dtypes.bool)
        if self._reduced_count(axis) == 0:
            return b.sum(axis, keepdim) != 0
        return b.max(axis, keepdim)

    def all(self: Tensor, axis: Axis = None, keepdim: bool = False) -> Tensor:
        """True where every element along `axis` is nonzero (True over an empty axis)."""
        return self.cast(dtypes.bool).logical_not().any(axis, keepdim).logical_not()

    # ------------------------------------------------------------------ scans
    def cumsum(self: Tensor, axis: int | None = None, dtype: DType | None = None) -> Tensor:
        """Running sum along `axis` (None: of the flattened tensor), in numpy's sum dtype unless `dtype` is given.

        Lazy: short axes are one masked triangular sum, long ones are split in blocks of about sqrt(n).
        """
        from engine.tensor import _axis, _sum_dtype

        x = self.reshape(-1) if axis is None else self
        if x.ndim == 0:
            x = x.reshape(1)
        ax = 0 if axis is None else _axis(axis, x.ndim)
        out_dt = dtype or _sum_dtype(self.dtype)
        # half-width floats accumulate in float32 and round once (as sum does)
        x = x.cast(dtypes.float32 if dtype is None and self.dtype in _HALF else out_dt)
        order = tuple(i for i in range(x.ndim) if i != ax) + (ax,)
        inverse = tuple(order.index(i) for i in range(x.ndim))
        return _cumsum_last(x.permute(order)).permute(inverse).cast(out_dt)

    # ------------------------------------------------------------------ softmax family
    def logsumexp(self: Tensor, axis: Axis = None, keepdim: bool = False) -> Tensor:
        """log(sum(exp(x))), shifted by the max (an infinite max shifts by 0, as scipy)."""
        from engine.tensor import _axes

        def fn(x: Tensor) -> Tensor:
            m = x.max(axis, keepdim=True)
            m = m.isinf().where(0.0, m)
            out = (x - m).exp().sum(axis, keepdim=True).log() + m
            if keepdim:
                return out
            axes = _axes(axis, x.ndim)
            return out.reshape(tuple(s for i, s in enumerate(out.shape) if i not in axes))
        return self._math(fn)

    def softmax(self: Tensor, axis: Axis = -1) -> Tensor:
        """exp(x - max) / sum(exp(x - max)) along `axis`."""
        def fn(x: Tensor) -> Tensor:
            e = (x - x.max(axis, keepdim=True)).exp()
            return e / e.sum(axis, keepdim=True)
        return self._math(fn)

    def log_softmax(self: Tensor, axis: Axis = -1) -> Tensor:
        """x - max - log(sum(exp(x - max))) along `axis` (an infinite max shifts by 0, as scipy)."""
        def fn(x: Tensor) -> Tensor:
            m = x.max(axis, keepdim=True)
            d = x - m.isinf().where(0.0, m)
            return d - d.exp().sum(axis, keepdim=True).log()
        return self._math(fn)


def _cumsum_last(x: Tensor) -> Tensor:
    """Inclusive running sum along the last axis."""
    *lead, n = x.shape
    if n <= 1:
        return x
    if n <= CUMSUM_DIRECT_MAX:
        # out[..., i] = sum over j of (j <= i ? x[..., j] : 0)
        idx = _iota(n, x.device)
        mask = idx.reshape(n, 1) >= idx.reshape(1, n)
        wide = x.reshape(*lead, 1, n).expand(*lead, n, n)
        return mask.where(wide, 0).sum(-1, dtype=x.dtype)
    block = math.isqrt(n - 1) + 1
    k = -(-n // block)
    blocks = x.pad(tuple((0, 0) for _ in lead) + ((0, k * block - n),)).reshape(*lead, k, block)
    inner = _cumsum_last(blocks)
    totals = inner.shrink(tuple((0, s) for s in lead) + ((0, k), (block - 1, block))).reshape(*lead, k)
    # the offset of block b is the sum of the blocks before it: the scan of the totals shifted by one (not scan -
    # totals, which is NaN in block 0 once a later total overflows, inf - inf, and rounds the offsets twice)
    before = _cumsum_last(totals).shrink(tuple((0, s) for s in lead) + ((0, k - 1),)).pad(
        tuple((0, 0) for _ in lead) + ((1, 0),))
    out = inner + before.reshape(*lead, k, 1)
    return out.reshape(*lead, k * block).shrink(tuple((0, s) for s in lead) + ((0, n),))
