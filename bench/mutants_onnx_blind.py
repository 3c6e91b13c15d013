"""A second, blind set of planted bugs ("mutants") in the ONNX importer, for a mutation test of the ONNX fuzzer.

Written without reading the fuzzer: each models a one-line mistake an importer author could make (an attribute's
rule misread, an optional input dropped, an output laid out or typed wrong, an edge case's semantics taken from
another library) in an op that `bench/mutants_sym_onnx.py` does not already cover with the same kind of mistake.

Each `plant(p)` installs one bug through `p.setitem` on `engine.onnx_ops.OPS` (the handlers are looked up there when
a node runs), wrapping or replacing one handler; `p` undoes it. `MORE` maps the mutants' names to them.
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import engine.onnx  # noqa: E402,F401 - registers every handler (some live in their own modules)
import engine.onnx_ops as onnx_ops  # noqa: E402
import engine.onnx_ops_quant as onnx_ops_quant  # noqa: E402
from engine.dtype import dtypes  # noqa: E402
from engine.tensor import Tensor  # noqa: E402

OPS = onnx_ops.OPS


def round_half_away_from_zero(p: Any) -> None:
    """Round: halves rounded away from zero (C's round, floor(|x| + 0.5)) instead of to the even neighbour.

    ONNX's Round (like numpy's) sends 0.5 to 0 and 2.5 to 2; the planted one gives 1 and 3. Only exact halves
    differ, and integer inputs pass through as before."""
    orig = OPS["Round"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        x = inp[0]
        if not x.dtype.is_float:
            return orig(inp, attrs, node)
        return (x < 0).where(-((-x) + 0.5).floor(), (x + 0.5).floor())

    p.setitem(OPS, "Round", planted)


def pow_through_exp_log(p: Any) -> None:
    """Pow: a float power computed as exp(b * log(a)), which is NaN for a negative base even with an integral exponent.

    ONNX (and C's pow) give (-2) ** 3 = -8 and (-2) ** 2 = 4; the exp/log form only agrees for positive bases
    (and 0 ** b for b > 0). Integer bases keep the original path."""
    orig = OPS["Pow"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        a, b = inp[0], inp[1]
        if not a.dtype.is_float:
            return orig(inp, attrs, node)
        return (b.cast(a.dtype) * a.log()).exp()

    p.setitem(OPS, "Pow", planted)


def hardswish_hardsigmoid_defaults(p: Any) -> None:
    """HardSwish: x * HardSigmoid(x) built with HardSigmoid's ONNX defaults (alpha 0.2) instead of HardSwish's 1/6.

    HardSwish is x * max(0, min(1, x/6 + 0.5)); reusing HardSigmoid's default alpha gives x * clip(0.2x + 0.5):
    the same at 0 and for x far beyond +-3 (saturated: x or 0), different in between."""
    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        x = inp[0]
        return x * (x * 0.2 + 0.5).clip(onnx_ops._full(x, 0), onnx_ops._full(x, 1))

    p.setitem(OPS, "HardSwish", planted)


def lpnorm_p_ignored(p: Any) -> None:
    """LpNormalization: the p attribute ignored, always the L2 norm (its default), so p=1 divides by the wrong norm.

    Right for the default p=2; with p=1 every vector is divided by its Euclidean length instead of the sum of
    absolute values."""
    orig = OPS["LpNormalization"]
    p.setitem(OPS, "LpNormalization", lambda inp, attrs, node: orig(inp, {**attrs, "p": 2}, node))


def instancenorm_unbiased_variance(p: Any) -> None:
    """InstanceNormalization: the variance with Bessel's correction (sum of squares / (n - 1), torch.var's default).

    ONNX normalizes by the population variance (divide by n, the spatial size); the unbiased estimate is larger by
    n / (n - 1), so the output shrinks toward 0 (a lot for small spatial sizes). A spatial size of 1 divides by 0."""
    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        x, scale, bias = inp[:3]
        axes = tuple(range(2, x.ndim))
        n = math.prod(x.shape[2:])
        m = x.mean(axes, keepdim=True)
        v = ((x - m) * (x - m)).sum(axes, keepdim=True) / onnx_ops._full(x, max(n - 1, 0))
        y = (x - m) * (v + onnx_ops._full(v, attrs.get("epsilon", 1e-5))).rsqrt()
        return y * onnx_ops._channel(scale, x.ndim) + onnx_ops._channel(bias, x.ndim)

    p.setitem(OPS, "InstanceNormalization", planted)


def tile_repeats_elements(p: Any) -> None:
    """Tile: each element repeated in place (numpy.repeat / repeat_interleave) instead of the whole tensor tiled.

    Tile([a, b], [2]) is [a, b, a, b]; the planted one gives [a, a, b, b]. The shape is right, so only the order
    of values is wrong: the same when every tiled axis has size 1 (or all repeats are 1)."""
    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        x = inp[0]
        reps = onnx_ops._ints(inp[1]) or []
        inter = tuple(v for s in x.shape for v in (s, 1))
        grown = tuple(v for s, r in zip(x.shape, reps) for v in (s, r))
        return x.reshape(inter).expand(grown).reshape(tuple(s * r for s, r in zip(x.shape, reps)))

    p.setitem(OPS, "Tile", planted)


def range_count_truncated(p: Any) -> None:
    """Range: the element count int((limit - start) / delta) (truncated) instead of ceil((limit - start) / delta).

    Right when delta divides the span; otherwise the last element (the one past the last whole step, still before
    limit) is missing, for positive and negative deltas alike."""
    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        start, limit, delta = (onnx_ops._scalar(t) for t in inp[:3])
        dt = inp[0].dtype
        n = max(int((limit - start) / delta), 0)
        out = Tensor.arange(n, dtype=dt, device=inp[0].device) * onnx_ops._full(inp[0], delta)
        return (out + onnx_ops._full(inp[0], start)).cast(dt)

    p.setitem(OPS, "Range", planted)


def nonzero_argwhere_layout(p: Any) -> None:
    """NonZero: the indices laid out as numpy.argwhere's (nnz, rank) instead of ONNX's (rank, nnz).

    The same values, transposed: the shape differs unless nnz == rank (a 1-D input with one nonzero, or e.g. a
    2-D input with two nonzeros -- then the values are transposed)."""
    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        mask = (inp[0] != onnx_ops._full(inp[0], 0)).numpy()
        return onnx_ops.const(np.argwhere(mask).astype(np.int64), inp[0].device)

    p.setitem(OPS, "NonZero", planted)


def quantize_wraps_instead_of_saturating(p: Any) -> None:
    """QuantizeLinear: to an 8/16/32-bit integer type the rounded value is cast without clipping, so it wraps.

    ONNX saturates: x / scale + zero_point beyond the type's range gives its minimum or maximum (300 -> 255 for
    uint8); the planted cast goes through int32 and keeps the low bits (300 -> 44, -1 -> 255). In-range values are
    unchanged; float8 and sub-byte outputs keep the original path."""
    orig = OPS["QuantizeLinear"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        x, scale = inp[0], inp[1]
        zp = inp[2] if len(inp) > 2 else None
        narrow = node.narrow_in(2) if zp is not None else onnx_ops.NARROW.get(attrs.get("output_dtype", 0))
        if zp is not None:
            dt = zp.dtype
        elif attrs.get("output_dtype"):
            dt = onnx_ops.engine_dtype(attrs["output_dtype"], "QuantizeLinear output_dtype")
        else:
            dt = dtypes.uint8
        if narrow is not None or dt.is_float or attrs.get("block_size", 0):
            return orig(inp, attrs, node)
        per_axis = onnx_ops_quant._per_axis
        xf = x.cast(dtypes.float32) if x.dtype != dtypes.float64 else x
        y = (xf / per_axis(scale, x, attrs).cast(xf.dtype)).round()
        if zp is not None:
            y = y + per_axis(zp, x, attrs).cast(xf.dtype)
        return y.cast(dtypes.int64).cast(dt)

    p.setitem(OPS, "QuantizeLinear", planted)


def constant_of_shape_value_dtype_ignored(p: Any) -> None:
    """ConstantOfShape: the output always float32 (the default value's type), whatever type the value attribute has.

    The spec takes the output's element type from `value`; an int64, int32, double, float16 or bool value gives a
    float32 tensor here (and int64 values past 2**24 lose their low bits). Without a value (or a float32 one) it is
    right."""
    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        shape = tuple(onnx_ops._ints(inp[0]) or [])
        v = attrs.get("value")
        val = 0.0 if v is None else np.asarray(v).reshape(-1)[0].item()
        return Tensor.full(shape, float(val), dtypes.float32, inp[0].device)

    p.setitem(OPS, "ConstantOfShape", planted)


def gather_elements_wraps_by_index_length(p: Any) -> None:
    """GatherElements: negative indices wrapped by the indices' length along axis instead of the data's.

    -1 must mean the data's last element along axis; the planted wrap adds indices.shape[axis], which is right only
    where the indices are as long as the data on that axis (GatherElements allows them shorter or longer)."""
    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        x, idx = inp[0], inp[1].cast(dtypes.int64)
        a = onnx_ops._ax(attrs.get("axis", 0), x.ndim)
        idx = (idx < 0).where(idx + onnx_ops._full(idx, idx.shape[a]), idx)
        return x.gather(a, idx)

    p.setitem(OPS, "GatherElements", planted)


def pad_constant_value_input_ignored(p: Any) -> None:
    """Pad: the constant_value input ignored (read as the opset-2 attribute `value`, absent, so 0) at opset >= 11.

    Since opset 11 the fill value is the optional third input; the planted handler drops it, so constant-mode
    padding always fills with 0. Edge/reflect/wrap modes and a constant_value of 0 are unaffected."""
    orig = OPS["Pad"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        if node.opset >= 11 and len(inp) > 2:
            inp = inp[:2] + [None] + inp[3:]
        return orig(inp, attrs, node)

    p.setitem(OPS, "Pad", planted)


MORE = {
    "round_half_away_from_zero": round_half_away_from_zero,
    "pow_through_exp_log": pow_through_exp_log,
    "hardswish_hardsigmoid_defaults": hardswish_hardsigmoid_defaults,
    "lpnorm_p_ignored": lpnorm_p_ignored,
    "instancenorm_unbiased_variance": instancenorm_unbiased_variance,
    "tile_repeats_elements": tile_repeats_elements,
    "range_count_truncated": range_count_truncated,
    "nonzero_argwhere_layout": nonzero_argwhere_layout,
    "quantize_wraps_instead_of_saturating": quantize_wraps_instead_of_saturating,
    "constant_of_shape_value_dtype_ignored": constant_of_shape_value_dtype_ignored,
    "gather_elements_wraps_by_index_length": gather_elements_wraps_by_index_length,
    "pad_constant_value_input_ignored": pad_constant_value_input_ignored,
}
