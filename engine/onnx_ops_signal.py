"""ONNX signal ops: DFT (forward, inverse, one-sided, the inverse of a one-sided spectrum) and STFT.

Registered into engine.onnx_ops.OPS when engine.onnx imports this module. A transform is two matrix products with
cosine and sine tables of the transform's length (computed once in float64, rounded to the signal's dtype):
the sizes here are those of audio frames, where this costs no more than an FFT's bookkeeping.
"""

from __future__ import annotations

import math

import numpy as np

from engine.onnx_ops import Attrs, Inputs, Node, _ax, _scalar, const, op
from engine.tensor import Tensor


def _fit(t: Tensor, n: int) -> Tensor:
    """Zero-pad or cut the last axis to n."""
    m = t.shape[-1]
    if m == n:
        return t
    if m > n:
        return t.shrink([None] * (t.ndim - 1) + [(0, n)])
    return t.pad([(0, 0)] * (t.ndim - 1) + [(0, n - m)])


def _tables(n_in: int, n_out: int, length: int, sign: float, dev: str, t: Tensor) -> tuple[Tensor, Tensor]:
    """cos and sign*sin of 2*pi*i*k/length as (n_in, n_out) matrices."""
    ang = 2 * math.pi * np.outer(np.arange(n_in), np.arange(n_out)) / length
    return const(np.cos(ang).astype(t.dtype.np), dev), const((sign * np.sin(ang)).astype(t.dtype.np), dev)


def dft_last(re: Tensor, im: Tensor | None, length: int, inverse: bool, onesided: bool) -> tuple[Tensor, Tensor | None]:
    """The DFT of the last axis (real part, imaginary part or None when it is all zero); the result is real only
    for the inverse of a one-sided spectrum."""
    dev = re.device
    if inverse and onesided:  # real signal from the first length//2+1 bins of a Hermitian spectrum
        m = length // 2 + 1
        re, im = _fit(re, m), None if im is None else _fit(im, m)
        w = np.full(m, 2.0)
        w[0] = 1.0
        if length % 2 == 0:
            w[-1] = 1.0
        ang = 2 * math.pi * np.outer(np.arange(m), np.arange(length)) / length
        c = const((w[:, None] * np.cos(ang) / length).astype(re.dtype.np), dev)
        out = re.matmul(c)
        if im is not None:
            s = const((w[:, None] * np.sin(ang) / length).astype(re.dtype.np), dev)
            out = out - im.matmul(s)
        return out, None
    re, im = _fit(re, length), None if im is None else _fit(im, length)
    k = length // 2 + 1 if onesided else length
    cos, sin = _tables(length, k, length, 1.0 if inverse else -1.0, dev, re)
    # (a + ib)(cos + i*s) with s = +-sin
    out_re = re.matmul(cos) if im is None else re.matmul(cos) - im.matmul(sin)
    out_im = re.matmul(sin) if im is None else im.matmul(cos) + re.matmul(sin)
    if inverse:
        out_re, out_im = out_re / float(length), out_im / float(length)
    return out_re, out_im


@op("DFT")
def _dft(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x = inp[0]
    n = x.ndim
    if node.opset >= 20:
        axis = int(_scalar(inp[2], -2)) if len(inp) > 2 and inp[2] is not None else -2
    else:
        axis = attrs.get("axis", 1)
    a = _ax(axis, n)
    if a == n - 1:
        raise ValueError("axis must not be the last (real/imaginary) axis")
    inverse, onesided = bool(attrs.get("inverse", 0)), bool(attrs.get("onesided", 0))
    length = int(_scalar(inp[1])) if len(inp) > 1 and inp[1] is not None else None
    if length is None:
        length = 2 * (x.shape[a] - 1) if inverse and onesided else x.shape[a]
    order = [i for i in range(n - 1) if i != a] + [a]
    back = [order.index(i) for i in range(n - 1)]
    re = x[..., 0].permute(order)
    im = x[..., 1].permute(order) if x.shape[-1] == 2 else None
    out_re, out_im = dft_last(re, im, length, inverse, onesided)
    parts = [out_re.permute(back)]
    if out_im is not None:
        parts.append(out_im.permute(back))
    return Tensor.stack(parts, -1)


@op("STFT")
def _stft(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x, step = inp[0], int(_scalar(inp[1]))
    window = inp[2] if len(inp) > 2 else None
    flen = int(_scalar(inp[3])) if len(inp) > 3 and inp[3] is not None else (window.shape[0] if window is not None
                                                                            else None)
    if flen is None:
        raise ValueError("STFT needs a window or a frame_length")
    onesided = bool(attrs.get("onesided", 1))
    frames = 1 + (x.shape[1] - flen) // step
    idx = np.arange(frames)[:, None] * step + np.arange(flen)[None, :]
    re = x[..., 0][:, idx]  # (batch, frames, flen)
    im = x[..., 1][:, idx] if x.shape[-1] == 2 else None
    if window is not None:
        re = re * window
        im = None if im is None else im * window
    out_re, out_im = dft_last(re, im, flen, False, onesided)
    assert out_im is not None
    return Tensor.stack([out_re, out_im], -1)


@op("MelWeightMatrix")
def _mel_weight_matrix(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    """Triangular mel filters over the one-sided spectrum's bins (a constant of the static inputs)."""
    from engine.onnx_ops import engine_dtype

    n_mel, n_fft, rate = (int(_scalar(t)) for t in inp[:3])
    lo, hi = float(_scalar(inp[3])), float(_scalar(inp[4]))

    def mel(f: float) -> float:
        return 2595 * math.log10(1 + f / 700)

    edges = np.arange(n_mel + 2) * ((mel(hi) - mel(lo)) / (n_mel + 2)) + mel(lo)
    hz = 700 * (10 ** (edges / 2595) - 1)
    bins = (((n_fft + 1) * hz) // rate).astype(np.int64)
    w = np.zeros((n_fft // 2 + 1, n_mel))
    for i in range(n_mel):
        left, center, right = bins[i], bins[i + 1], bins[i + 2]
        if center == left:
            w[center, i] = 1
        else:
            j = np.arange(left, center + 1)
            w[j, i] = (j - left) / (center - left)
        if right > center:
            j = np.arange(center, right)
            w[j, i] = (right - j) / (right - center)
    dt = engine_dtype(attrs.get("output_datatype", 1), "output_datatype")
    return const(w.astype(dt.np), node.device)
