"""Tensor methods: matmul, dot, einsum, conv2d, conv_transpose2d, pooling, batchnorm, layernorm, interpolate.

All of them are views plus one multiply-and-sum: matmul expands both operands to (..., n, m, k) and sums k;
convolution and pooling take sliding windows with movement ops only (`_windows`: one view of the input whose
index simplifies to affine math of the output and kernel loops), so `relu(conv2d(x, w) + b)` schedules to a
single kernel. Shapes and semantics follow numpy (matmul, dot, einsum) and torch (the nn ops).
"""

# mypy: disable-error-code="misc"
# (the methods annotate `self: Tensor`, a subclass of the mixin; mypy rejects that for mixins with [misc])

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from engine.dtype import DType, dtypes, promote
from engine.tensor_ops.movement import _tensor_cls

if TYPE_CHECKING:
    from engine.tensor import Tensor


def _as_tensor(x: Any, like: Tensor) -> Tensor:
    T = _tensor_cls()
    return x if isinstance(x, T) else T(x, device=like.device)


def _tuple(v: int | Sequence[int], n: int, name: str) -> tuple[int, ...]:
    out = (int(v),) * n if isinstance(v, (int, np.integer)) else tuple(int(x) for x in v)
    if len(out) != n:
        raise ValueError(f"{name}: expected {n} values, got {out}")
    return out


def _reduce_sum(x: Tensor, axes: int | tuple[int, ...], dt: DType) -> Tensor:
    """Sum in dtype `dt` (numpy's matmul/einsum keep the operand dtype; bools reduce with `or`)."""
    if dt == dtypes.bool:
        return x.sum(axes) > 0
    return x.sum(axes, dtype=dt)


def _window_last(x: Tensor, k: int, s: int, d: int) -> Tensor:
    """Sliding windows over the last axis: (..., i) -> (..., o, k) with out[..., o, j] = x[..., o*s + j*d]."""
    i = x.shape[-1]
    o = (i - d * (k - 1) - 1) // s + 1
    if o <= 0:
        raise ValueError(f"window of size {k} (dilation {d}) does not fit an axis of size {i}")
    lead = x.shape[:-1]
    last: list[tuple[int, int] | None] = [None] * len(lead)
    if d == 1 and k <= s:
        # non-overlapping windows: pad to o*s, split into (o, s), keep the first k of each
        x = x.pad([(0, 0)] * len(lead) + [(0, o * s - i)]) if o * s > i else x.shrink(last + [(0, o * s)])
        return x.reshape(lead + (o, s)).shrink(last + [None, (0, k)])
    # overlapping windows: repeat the axis, flatten, and re-cut it into rows of i + d, so that row j starts j*d
    # further on: (r*i) -> (k, i + d) with element (j, m) = x[(j*(i + d) + m) % i] = x[j*d + m] for the m kept.
    # The index math of the view is one mod that the simplifier folds to the affine j*d + m.
    r = -(-k * (i + d) // i)
    x = x.reshape(lead + (1, i)).expand(lead + (r, i)).reshape(lead + (r * i,))
    x = x.shrink(last + [(0, k * (i + d))]).reshape(lead + (k, i + d))
    span = (o - 1) * s + 1
    x = x.shrink(last + [None, (0, span)])
    if s > 1:  # every s-th position: pad to o*s, split into (o, s), keep the first of each
        x = x.pad([(0, 0)] * (len(lead) + 1) + [(0, o * s - span)]).reshape(lead + (k, o, s))
        x = x.shrink(last + [None, None, (0, 1)]).reshape(lead + (k, o))
    nd = x.ndim
    return x.permute(list(range(nd - 2)) + [nd - 1, nd - 2])


def _windows(x: Tensor, k: tuple[int, ...], s: tuple[int, ...], d: tuple[int, ...]) -> Tensor:
    """Sliding windows over the last len(k) axes: (..., *i) -> (..., *o, *k)."""
    lead = x.ndim - len(k)
    for j in range(len(k)):
        ax, nd = lead + j, x.ndim
        x = x.permute([a for a in range(nd) if a != ax] + [ax])
        x = _window_last(x, k[j], s[j], d[j])
        x = x.permute(list(range(ax)) + [nd - 1] + list(range(ax, nd - 1)) + [nd])
    return x


def _conv_padding(padding: Any, k: tuple[int, ...], d: tuple[int, ...], s: tuple[int, ...]) -> list[tuple[int, int]]:
    n = len(k)
    if isinstance(padding, str):
        if padding == "valid":
            return [(0, 0)] * n
        if padding == "same":
            if any(x != 1 for x in s):
                raise ValueError("conv2d: padding='same' needs stride 1")
            tot = [di * (ki - 1) for ki, di in zip(k, d)]
            return [(t // 2, t - t // 2) for t in tot]
        raise ValueError(f"conv2d: unknown padding {padding!r}")
    return [(p, p) for p in _tuple(padding, n, "conv2d padding")]


def _stride_dilate(x: Tensor, s: tuple[int, ...]) -> Tensor:
    """Insert s-1 zeros between the elements of each of the last len(s) axes."""
    lead = x.ndim - len(s)
    for j, st in enumerate(s):
        ax, size = lead + j, x.shape[lead + j]
        if st == 1 or size <= 1:
            continue
        x = x.unsqueeze(ax + 1).pad([(0, 0)] * (ax + 1) + [(0, st - 1)] + [(0, 0)] * (x.ndim - ax - 1))
        x = x.flatten(ax, ax + 1)
        x = x.shrink([None] * ax + [(0, (size - 1) * st + 1)] + [None] * (x.ndim - ax - 1))
    return x


def _torch_scale(in_size: int, out_size: int, scale: float | None) -> np.float32:
    # torch's compute_scales_value: 1/scale_factor when given, else in/out, in float32
    return np.float32(1.0 / scale) if scale is not None and scale > 0 else np.float32(in_size) / np.float32(out_size)


class NNMixin:
    """Mixed into Tensor."""

    __slots__ = ()
    # numpy defers to our reflected operators (`ndarray @ Tensor` calls Tensor.__rmatmul__), never iterates us
    __array_ufunc__ = None

    # ------------------------------------------------------------------ products
    def matmul(self: Tensor, other: Tensor) -> Tensor:
        """numpy's matmul: batch dims broadcast, a 1-d operand is a row (left) or column (right) vector."""
        other = _as_tensor(other, self)
        if self.ndim == 0 or other.ndim == 0:
            raise ValueError("matmul: operands must be at least 1-d (use * for scalars)")
        from engine.tensor import _broadcast_shape, same_device

        same_device("matmul", self, other)
        a = self.reshape(1, self.shape[0]) if self.ndim == 1 else self
        b = other.reshape(other.shape[0], 1) if other.ndim == 1 else other
        n, k, m = a.shape[-2], a.shape[-1], b.shape[-1]
        if b.shape[-2] != k:
            raise ValueError(f"matmul: shapes {self.shape} and {other.shape} do not align ({k} != {b.shape[-2]})")
        batch = _broadcast_shape(a.shape[:-2], b.shape[:-2])
        dt = promote(a.dtype, b.dtype)
        aa = a.cast(dt).reshape(a.shape[:-1] + (1, k)).broadcast_to(batch + (n, m, k))
        bb = b.cast(dt).transpose(-1, -2).reshape(b.shape[:-2] + (1, m, k)).broadcast_to(batch + (n, m, k))
        out = _reduce_sum(aa & bb if dt == dtypes.bool else aa * bb, -1, dt)
        if self.ndim == 1:
            out = out.reshape(out.shape[:-2] + out.shape[-1:])
        if other.ndim == 1:
            out = out.reshape(out.shape[:-1])
        return out

    def __matmul__(self: Tensor, other: Tensor) -> Tensor:
        return self.matmul(other)

    def __rmatmul__(self: Tensor, other: Any) -> Tensor:
        return _as_tensor(other, self).matmul(self)

    def dot(self: Tensor, other: Tensor) -> Tensor:
        """numpy's dot: sum over the last axis of self and the second-to-last of other (the last if 1-d)."""
        other = _as_tensor(other, self)
        if self.ndim == 0 or other.ndim == 0:
            return self * other
        if self.ndim <= 2 and other.ndim <= 2:
            return self.matmul(other)
        if other.ndim == 1:
            return self.matmul(other)
        k = self.shape[-1]
        if other.shape[-2] != k:
            raise ValueError(f"dot: shapes {self.shape} and {other.shape} do not align ({k} != {other.shape[-2]})")
        dt = promote(self.dtype, other.dtype)
        a = self.cast(dt).reshape(self.shape[:-1] + (1,) * (other.ndim - 1) + (k,))
        b = other.cast(dt).transpose(-1, -2)
        return _reduce_sum(a & b if dt == dtypes.bool else a * b, -1, dt)

    @staticmethod
    def einsum(formula: str, *tensors: Tensor) -> Tensor:
        """numpy's einsum: explicit ('ij,jk->ik') or implicit output, '...', repeated indices (diagonals)."""
        if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
            tensors = tuple(tensors[0])
        if not tensors:
            raise ValueError("einsum: need at least one operand")
        formula = formula.replace(" ", "")
        lhs, arrow, rhs = formula.partition("->")
        specs = lhs.split(",")
        if len(specs) != len(tensors):
            raise ValueError(f"einsum: {formula!r} names {len(specs)} operands, got {len(tensors)}")
        ell_nd = max((t.ndim - len(s.replace("...", "")) for s, t in zip(specs, tensors) if "..." in s), default=0)
        ell = "".join(chr(0x100 + j) for j in range(ell_nd))  # placeholder letters for the '...' dims
        ops: list[tuple[str, Tensor]] = []
        counts: dict[str, int] = {}  # occurrences in the formula: implicit output keeps the letters seen once
        for s, t in zip(specs, tensors):
            if "..." in s:
                s = s.replace("...", ell[ell_nd - (t.ndim - len(s) + 3):])
            if len(s) != t.ndim or not all(c.isalpha() or ord(c) >= 0x100 for c in s):
                raise ValueError(f"einsum: subscripts {s!r} do not fit an operand of shape {t.shape}")
            for c in s:
                counts[c] = counts.get(c, 0) + 1
            ops.append(_einsum_diagonals(s, t))
        if arrow:
            out = rhs.replace("...", ell)
            if len(set(out)) != len(out) or any(c not in counts for c in out):
                raise ValueError(f"einsum: bad output subscripts {rhs!r} in {formula!r}")
        else:
            out = ell + "".join(sorted(c for c in counts if counts[c] == 1 and c not in ell))
        letters = out + "".join(c for c in counts if c not in out)
        sizes = {c: max(t.shape[s.index(c)] for s, t in ops if c in s) for c in letters}
        for s, t in ops:
            if any(t.shape[i] not in (1, sizes[c]) for i, c in enumerate(s)):
                raise ValueError(f"einsum: operand {s!r} of shape {t.shape} does not match the other sizes {sizes}")
        dt = functools.reduce(promote, [t.dtype for _, t in ops])
        prod: Tensor | None = None
        for s, t in ops:
            v = t.cast(dt).permute([s.index(c) for c in letters if c in s])
            v = v.reshape(tuple(sizes[c] if c in s and t.shape[s.index(c)] != 1 else 1 for c in letters))
            prod = v if prod is None else (prod & v if dt == dtypes.bool else prod * v)
        assert prod is not None
        prod = prod.expand(tuple(sizes[c] for c in letters)) if prod.ndim else prod
        contracted = tuple(range(len(out), len(letters)))
        return _reduce_sum(prod, contracted, dt) if contracted else prod

    # ------------------------------------------------------------------ convolution
    def conv2d(self: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | Sequence[int] = 1,
               padding: int | Sequence[int] | str = 0, dilation: int | Sequence[int] = 1, groups: int = 1) -> Tensor:
        """torch's conv2d (cross-correlation) on NCHW input and OIHW weight; any number of spatial dims works."""
        n = weight.ndim - 2
        if n < 1 or self.ndim != n + 2:
            raise ValueError(f"conv2d: input {self.shape} and weight {weight.shape} do not match (N, C, *spatial)")
        bsz, cin = self.shape[0], self.shape[1]
        cout, cin_g, ks = weight.shape[0], weight.shape[1], weight.shape[2:]
        if groups <= 0 or cin != cin_g * groups or cout % groups:
            raise ValueError(f"conv2d: {cin} input channels, weight {weight.shape} and groups={groups} do not fit")
        s, d = _tuple(stride, n, "conv2d stride"), _tuple(dilation, n, "conv2d dilation")
        pads = _conv_padding(padding, ks, d, s)
        x = self.pad([(0, 0), (0, 0)] + pads)
        win = _windows(x, ks, s, d)  # (N, Cin, *o, *k)
        outs = win.shape[2:2 + n]
        win = win.reshape((bsz, groups, 1, cin_g) + outs + ks)
        w = weight.reshape((1, groups, cout // groups, cin_g) + (1,) * n + ks)
        dt = promote(self.dtype, weight.dtype)
        axes = (3,) + tuple(range(4 + n, 4 + 2 * n))
        out = _reduce_sum(win.cast(dt) * w.cast(dt), axes, dt).reshape((bsz, cout) + outs)
        if bias is not None:
            out = out + _as_tensor(bias, self).reshape((1, cout) + (1,) * n)
        return out

    def conv_transpose2d(self: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | Sequence[int] = 1,
                         padding: int | Sequence[int] = 0, output_padding: int | Sequence[int] = 0,
                         dilation: int | Sequence[int] = 1, groups: int = 1) -> Tensor:
        """torch's conv_transpose2d (weight (Cin, Cout/groups, kH, kW)): a conv over the stride-dilated input."""
        n = weight.ndim - 2
        if n < 1 or self.ndim != n + 2 or weight.shape[0] != self.shape[1] or self.shape[1] % groups:
            raise ValueError(f"conv_transpose2d: input {self.shape}, weight {weight.shape}, groups={groups} do not fit")
        s, d = _tuple(stride, n, "conv_transpose2d stride"), _tuple(dilation, n, "conv_transpose2d dilation")
        p, op = _tuple(padding, n, "conv_transpose2d padding"), _tuple(output_padding, n, "output_padding")
        if any(o >= max(si, di) for o, si, di in zip(op, s, d)):
            raise ValueError(f"conv_transpose2d: output_padding {op} must be smaller than stride or dilation")
        ks = weight.shape[2:]
        x = _stride_dilate(self, s)
        x = x.pad([(0, 0), (0, 0)] + [(di * (k - 1) - pi, di * (k - 1) - pi + o) for k, di, pi, o in zip(ks, d, p, op)])
        cin_g, cout_g = weight.shape[0] // groups, weight.shape[1]
        w = weight.reshape((groups, cin_g, cout_g) + ks).transpose(1, 2).reshape((groups * cout_g, cin_g) + ks)
        return x.conv2d(w.flip(tuple(range(2, 2 + n))), bias, 1, 0, d, groups)

    # ------------------------------------------------------------------ pooling
    def max_pool2d(self: Tensor, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = None,
                   padding: int | Sequence[int] = 0, dilation: int | Sequence[int] = 1) -> Tensor:
        """torch's max_pool2d over the last two axes (padding counts as -inf)."""
        k = _tuple(kernel_size, 2, "max_pool2d kernel_size")
        s = k if stride is None else _tuple(stride, 2, "max_pool2d stride")
        p, d = _tuple(padding, 2, "max_pool2d padding"), _tuple(dilation, 2, "max_pool2d dilation")
        if any(pi * 2 > ki for pi, ki in zip(p, k)):
            raise ValueError(f"max_pool2d: padding {p} must be at most half the kernel size {k}")
        x = self.pad([(0, 0)] * (self.ndim - 2) + [(pi, pi) for pi in p], value=self.dtype.min) if any(p) else self
        return _windows(x, k, s, d).max((-2, -1))

    def avg_pool2d(self: Tensor, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = None,
                   padding: int | Sequence[int] = 0) -> Tensor:
        """torch's avg_pool2d over the last two axes (count_include_pad=True: padding counts as zeros)."""
        k = _tuple(kernel_size, 2, "avg_pool2d kernel_size")
        s = k if stride is None else _tuple(stride, 2, "avg_pool2d stride")
        p = _tuple(padding, 2, "avg_pool2d padding")
        if any(pi * 2 > ki for pi, ki in zip(p, k)):
            raise ValueError(f"avg_pool2d: padding {p} must be at most half the kernel size {k}")
        x = self._float()
        x = x.pad([(0, 0)] * (self.ndim - 2) + [(pi, pi) for pi in p]) if any(p) else x
        return _windows(x, k, s, (1, 1)).sum((-2, -1), dtype=x.dtype) / (k[0] * k[1])

    # ------------------------------------------------------------------ normalization
    def batchnorm(self: Tensor, mean: Tensor, var: Tensor, weight: Tensor | None = None, bias: Tensor | None = None,
                  eps: float = 1e-5) -> Tensor:
        """Inference batch norm over channel axis 1: (x - mean) / sqrt(var + eps) * weight + bias."""
        if self.ndim < 2:
            raise ValueError(f"batchnorm: input needs (N, C, ...), got shape {self.shape}")
        shape = (1, self.shape[1]) + (1,) * (self.ndim - 2)
        x = self._float()
        out = (x - _as_tensor(mean, x).reshape(shape)) * (_as_tensor(var, x).reshape(shape) + eps).rsqrt()
        if weight is not None:
            out = out * _as_tensor(weight, x).reshape(shape)
        if bias is not None:
            out = out + _as_tensor(bias, x).reshape(shape)
        return out

    def layernorm(self: Tensor, normalized_shape: int | Sequence[int] = -1, weight: Tensor | None = None,
                  bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
        """Layer norm over the trailing `normalized_shape` (torch) or, for a negative int, over that axis."""
        if isinstance(normalized_shape, (int, np.integer)) and normalized_shape < 0:
            axis = int(normalized_shape)
            if not -self.ndim <= axis < 0:
                raise ValueError(f"layernorm: axis {axis} out of range for shape {self.shape}")
            axes: tuple[int, ...] = (self.ndim + axis,)
        else:
            ns = _tuple(normalized_shape, 1, "layernorm") if isinstance(normalized_shape, (int, np.integer)) \
                else tuple(int(v) for v in normalized_shape)
            if not ns or len(ns) > self.ndim or self.shape[self.ndim - len(ns):] != ns:
                raise ValueError(f"layernorm: normalized_shape {ns} is not the trailing shape of {self.shape}")
            axes = tuple(range(self.ndim - len(ns), self.ndim))
        x = self._float()
        xc = x - x.mean(axes, keepdim=True)
        out = xc * ((xc * xc).mean(axes, keepdim=True) + eps).rsqrt()
        if weight is not None:
            out = out * _as_tensor(weight, x)
        if bias is not None:
            out = out + _as_tensor(bias, x)
        return out

    # ------------------------------------------------------------------ resampling
    def interpolate(self: Tensor, size: int | Sequence[int] | None = None,
                    scale_factor: float | Sequence[float] | None = None, mode: str = "nearest",
                    align_corners: bool | None = None) -> Tensor:
        """torch's interpolate on (N, C, *spatial): nearest, nearest-exact or (bi/tri)linear."""
        n = self.ndim - 2
        if n < 1:
            raise ValueError(f"interpolate: input needs (N, C, *spatial), got shape {self.shape}")
        if (size is None) == (scale_factor is None):
            raise ValueError("interpolate: give exactly one of size and scale_factor")
        ins = self.shape[2:]
        scales: tuple[float | None, ...] = (None,) * n
        if size is not None:
            outs = _tuple(size, n, "interpolate size")
        else:
            assert scale_factor is not None
            one = isinstance(scale_factor, (int, float))
            sf = (float(scale_factor),) * n if one else tuple(float(f) for f in scale_factor)  # type: ignore
            if len(sf) != n:
                raise ValueError(f"interpolate: {len(sf)} scale factors for {n} spatial dims")
            scales, outs = sf, tuple(int(math.floor(i * f)) for i, f in zip(ins, sf))
        linear = mode in ("linear", "bilinear", "trilinear")
        if not linear and mode not in ("nearest", "nearest-exact"):
            raise ValueError(f"interpolate: unsupported mode {mode!r}")
        if align_corners is not None and not linear:
            raise ValueError("interpolate: align_corners only applies to linear modes")
        x = self._float() if linear else self
        for j in range(n):
            ax = 2 + j
            if linear:
                x = _linear_axis(x, ax, ins[j], outs[j], scales[j], bool(align_corners))
            else:
                idx = _nearest_index(ins[j], outs[j], scales[j], mode == "nearest-exact")
                x = x[(slice(None),) * ax + (idx,)]
        return x


def _nearest_index(in_size: int, out_size: int, scale: float | None, exact: bool) -> np.ndarray:
    """torch's nearest source index for each output position."""
    dst = np.arange(out_size, dtype=np.float32)
    if not exact and out_size == in_size:
        return np.arange(out_size)
    if not exact and out_size == 2 * in_size:
        return np.arange(out_size) >> 1
    sc = _torch_scale(in_size, out_size, scale)
    src = np.floor((dst + np.float32(0.5)) * sc if exact else dst * sc).astype(np.int64)
    return np.minimum(src, in_size - 1)


def _linear_axis(x: Tensor, ax: int, in_size: int, out_size: int, scale: float | None, align: bool) -> Tensor:
    """Linear resampling of axis `ax`: lambda0 * x[i0] + lambda1 * x[i1] with torch's source indices."""
    dst = np.arange(out_size, dtype=np.float32)
    if align:
        sc = np.float32((in_size - 1) / (out_size - 1)) if out_size > 1 else np.float32(0)
        real = sc * dst
    else:
        real = np.maximum(_torch_scale(in_size, out_size, scale) * (dst + np.float32(0.5)) - np.float32(0.5),
                          np.float32(0))
    i0 = np.minimum(np.floor(real).astype(np.int64), in_size - 1)
    lam = np.clip(real - i0.astype(np.float32), 0, 1).astype(np.float32)
    i1 = i0 + (i0 < in_size - 1)
    T = _tensor_cls()
    wshape = (out_size,) + (1,) * (x.ndim - ax - 1)
    w0 = T((np.float32(1) - lam).astype(x.dtype.np).reshape(wshape), device=x.device)
    w1 = T(lam.astype(x.dtype.np).reshape(wshape), device=x.device)
    pre = (slice(None),) * ax
    return x[pre + (i0,)] * w0 + x[pre + (i1,)] * w1


def _einsum_diagonals(s: str, t: Tensor) -> tuple[str, Tensor]:
    """Take the diagonal for every letter repeated within one operand ('ii' -> 'i')."""
    while len(set(s)) != len(s):
        c = next(c for c in s if s.count(c) > 1)
        a, b = s.index(c), s.index(c, s.index(c) + 1)
        if t.shape[a] != t.shape[b]:
            raise ValueError(f"einsum: repeated index {c!r} has sizes {t.shape[a]} and {t.shape[b]}")
        n = t.shape[a]
        rest = [i for i in range(t.ndim) if i not in (a, b)]
        t = t.permute(rest + [a, b]).reshape(tuple(t.shape[i] for i in rest) + (n * n,))
        lead: list[tuple[int, int] | None] = [None] * len(rest)
        t = t.pad([(0, 0)] * len(rest) + [(0, n)]).reshape(t.shape[:-1] + (n, n + 1)).shrink(lead + [None, (0, 1)])
        t = t.reshape(t.shape[:-1])
        s = "".join(s[i] for i in rest) + c
    return s, t
