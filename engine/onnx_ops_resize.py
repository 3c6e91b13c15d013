"""ONNX Resize (and the older Upsample): each resized axis is a matrix of interpolation weights built on the host
from the spec's coordinate transformation (nearest, linear, cubic, antialiasing, tf_crop_and_resize's region),
applied in the engine as an index (nearest) or a matrix product along that axis.

Registered into engine.onnx_ops.OPS when engine.onnx imports this module; same handler contract as there.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from engine.dtype import dtypes
from engine.onnx_ops import Attrs, Inputs, Node, _ax, _full, _ints, const, op, static
from engine.tensor import Tensor


def _resize_matrix(in_size: int, out_size: int, scale: float, attrs: Attrs, roi: tuple[float, float] | None,
                   mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(out, in) interpolation weights, and which output rows lie outside the input (tf_crop_and_resize)."""
    ctm = attrs.get("coordinate_transformation_mode", "half_pixel")
    o = np.arange(out_size, dtype=np.float64)
    if ctm == "half_pixel":
        src = (o + 0.5) / scale - 0.5
    elif ctm == "pytorch_half_pixel":
        src = (o + 0.5) / scale - 0.5 if out_size > 1 else np.zeros_like(o)
    elif ctm == "align_corners":
        length = in_size * scale  # the spec's resized length: the unfloored one when scales are given
        src = o * (in_size - 1) / (length - 1) if length > 1 else np.zeros_like(o)
    elif ctm == "asymmetric":
        src = o / scale
    elif ctm == "half_pixel_symmetric":
        adj = out_size / (scale * in_size)
        center = in_size / 2
        offset = center * (1 - adj)
        src = offset + (o + 0.5) / scale - 0.5
    elif ctm == "tf_crop_and_resize":
        assert roi is not None
        s0, e0 = roi
        if out_size > 1:
            src = s0 * (in_size - 1) + o * (e0 - s0) * (in_size - 1) / (out_size - 1)
        else:
            src = np.full_like(o, 0.5 * (s0 + e0) * (in_size - 1))
    else:
        raise ValueError(f"unknown coordinate_transformation_mode {ctm!r}")
    outside = (src < 0) | (src > in_size - 1) if ctm == "tf_crop_and_resize" else np.zeros(out_size, bool)
    W = np.zeros((out_size, in_size), np.float64)
    rows = np.arange(out_size)
    if mode == "nearest":
        nm = attrs.get("nearest_mode", "round_prefer_floor")
        if nm == "round_prefer_floor":
            i = np.where(src == np.floor(src) + 0.5, np.floor(src), np.round(src))
        elif nm == "round_prefer_ceil":
            i = np.where(src == np.floor(src) + 0.5, np.ceil(src), np.round(src))
        elif nm == "floor":
            i = np.floor(src)
        elif nm == "ceil":
            i = np.ceil(src)
        else:
            raise ValueError(f"unknown nearest_mode {nm!r}")
        W[rows, np.clip(i, 0, in_size - 1).astype(np.int64)] = 1
    elif mode == "linear":
        aa = attrs.get("antialias", 0) and scale < 1
        if aa:
            _antialias(W, src, in_size, scale, lambda t: np.maximum(0, 1 - np.abs(t)), 1.0, attrs)
        else:
            s = np.clip(src, 0, in_size - 1)
            i0 = np.floor(s).astype(np.int64)
            i1 = np.minimum(i0 + 1, in_size - 1)
            lam = s - i0
            np.add.at(W, (rows, i0), 1 - lam)
            np.add.at(W, (rows, i1), lam)
    elif mode == "cubic":
        a = attrs.get("cubic_coeff_a", -0.75)

        def cubic(t: np.ndarray) -> np.ndarray:
            t = np.abs(t)
            return np.where(t <= 1, ((a + 2) * t - (a + 3)) * t * t + 1,
                            np.where(t < 2, ((a * t - 5 * a) * t + 8 * a) * t - 4 * a, 0.0))
        if attrs.get("antialias", 0) and scale < 1:
            _antialias(W, src, in_size, scale, cubic, 2.0, attrs)
        else:
            f = np.floor(src).astype(np.int64)
            for off in (-1, 0, 1, 2):
                j = f + off
                w = cubic(src - j)
                valid = (j >= 0) & (j < in_size)
                if attrs.get("exclude_outside", 0):
                    w = np.where(valid, w, 0)
                np.add.at(W, (rows, np.clip(j, 0, in_size - 1)), w)
            if attrs.get("exclude_outside", 0):
                W /= np.maximum(W.sum(1, keepdims=True), 1e-300)
    else:
        raise ValueError(f"unknown resize mode {mode!r}")
    return W, outside


def _antialias(W: np.ndarray, src: np.ndarray, in_size: int, scale: float, kernel: Callable, support: float,
               attrs: Attrs) -> None:
    rad = support / scale
    for r, c in enumerate(src):
        lo, hi = int(np.floor(c - rad)) + 1, int(np.ceil(c + rad))
        js = np.arange(lo, hi)
        w = kernel((js - c) * scale)
        valid = (js >= 0) & (js < in_size)
        if attrs.get("exclude_outside", 0):
            w = np.where(valid, w, 0)
        w = w / w.sum() if w.sum() else w
        np.add.at(W[r], np.clip(js, 0, in_size - 1), w)


@op("Resize", "Upsample")
def _resize(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x = inp[0]
    n = x.ndim
    scales: list[Any] | None
    if node.op_type == "Upsample" or node.opset < 11:
        scales = list(np.asarray(static(inp[1])).astype(np.float64)) if len(inp) > 1 else list(attrs["scales"])
        roi, sizes = None, None
        attrs = dict(attrs, coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    else:
        roi = static(inp[1]) if len(inp) > 1 else None
        sv = static(inp[2]) if len(inp) > 2 else None
        sizes = _ints(inp[3]) if len(inp) > 3 else None
        scales = list(sv.astype(np.float64)) if sv is not None and sv.size else None
    axes = attrs.get("axes") or list(range(n))
    axes = [_ax(a, n) for a in axes]
    mode = attrs.get("mode", "nearest")
    full_scales = [1.0] * n
    out = list(x.shape)
    if sizes:
        sz = list(sizes)
        policy = attrs.get("keep_aspect_ratio_policy", "stretch")
        if policy != "stretch":
            ratios = [sz[i] / x.shape[a] for i, a in enumerate(axes)]
            r = min(ratios) if policy == "not_larger" else max(ratios)
            sz = [int(math.floor(r * x.shape[a] + 0.5)) for a in axes]
            for a, s in zip(axes, sz):
                full_scales[a], out[a] = r, s
        else:
            for a, s in zip(axes, sz):
                full_scales[a], out[a] = s / x.shape[a], s
    elif scales:
        for a, s in zip(axes, scales):
            full_scales[a], out[a] = s, int(math.floor(x.shape[a] * s))
    roi_pairs: list[tuple[float, float] | None] = [None] * n
    if roi is not None and roi.size:
        r = roi.astype(np.float64)
        k = len(axes)
        for i, a in enumerate(axes):
            roi_pairs[a] = (float(r[i]), float(r[i + k]))
    y = x if mode == "nearest" or x.dtype.is_float else x.cast(dtypes.float32)
    for a in range(n):
        if out[a] == x.shape[a] and full_scales[a] == 1.0 and attrs.get("coordinate_transformation_mode") != \
                "tf_crop_and_resize":
            continue
        W, outside = _resize_matrix(x.shape[a], out[a], full_scales[a], attrs, roi_pairs[a] or (0.0, 1.0), mode)
        if mode == "nearest":
            idx = W.argmax(1)
            y = y[(slice(None),) * a + (idx,)]
        else:
            wt = const(W.astype(y.dtype.np), x.device)
            ym = y.permute([i for i in range(n) if i != a] + [a])
            ym = ym.matmul(wt.transpose(0, 1))
            y = ym.permute([i for i in range(a)] + [n - 1] + [i for i in range(a, n - 1)])
        if outside.any():
            mask = const(outside.reshape((-1,) + (1,) * (n - a - 1)), x.device)
            y = mask.where(_full(y, attrs.get("extrapolation_value", 0.0)), y)
    return y.cast(x.dtype)
