"""A third blind set of planted bugs ("mutants") in the ONNX importer (after `bench/mutants_onnx_blind2.py`).

Written without reading the fuzzer, its oracles, tests or corpus (only engine/ and the previous set's file format):
each models a one-line mistake an importer author could make (an attribute or optional input ignored, an opset
difference missed, a negative axis normalized against the wrong rank, a default taken from another framework, an
order of operations swapped) in an op the earlier ONNX mutant sets do not cover. Most need a particular attribute
value, opset or shape to show, so the op with its default attributes stays right.

Each `plant(p)` installs one bug through `p.setitem` on `engine.onnx_ops.OPS` (the handlers are looked up there when
a node runs), wrapping or replacing one handler; `p` undoes it. `MORE` maps the mutants' names to them.

Evidence (a small onnx.helper model run by engine.onnx.load(...).run with the mutant planted, against onnxruntime;
the unaffected model is right with the mutant planted):
shown: celu_as_elu: Celu alpha=2 on [-3, 3] off by 0.50 (-1.900 for -1.554 at -3); default alpha=1 matches.
shown: reduce_noop_with_empty_axes_ignored: ReduceSum(3x4, axes=[], noop=1): (1, 1) for (3, 4); axes=[1] matches.
shown: split_uneven_as_array_split: Split-18 of 7 rows, num_outputs=3: (3, 2, 2) for (3, 3, 1); 6 rows match.
shown: unsqueeze_negative_axes_by_input_rank: Unsqueeze (2, 3) axes=[-1]: (2, 1, 3) for (2, 3, 1); [2] matches.
shown: cumsum_reverse_exclusive_shift_before_flip: [1, 2, 3, 4] rev+excl: [6, 6, 5, 3] for [9, 7, 4, 0]; rev matches.
shown: topk_smallest_sorted_descending: TopK k=3 largest=0: [3, 2, 1] for [1, 2, 3]; largest=1 matches.
shown: onehot_negative_indices_not_wrapped: OneHot [0, -1, 2] depth 4: row 1 all off; [0, 3, 2] matches.
shown: layernorm_axis_single_dim: LayerNormalization (2, 3, 4) axis=1 off by 1.81; axis=-1 matches.
shown: resize_cubic_coeff_a_ignored: Resize cubic a=-0.5, 4x4 -> 8x8 off by 0.24; default a and linear match.
shown: gemm_alpha_scales_bias: Gemm alpha=2 beta=0.5 with C off by 1.13 (|C| / 2); alpha=1 beta=0.5 matches.
shown: dequantize_axis_ignored: DequantizeLinear int8 (3, 3) axis=0, (3,) scale/zp: off by 4.75; axis=1 matches.
shown: softmax_old_opset_single_axis: Softmax-11 (2, 3, 4) axis=1 off by 0.65; Softmax-13 and 2-D Softmax-11 match.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import engine.onnx  # noqa: E402,F401 - registers every handler (some live in their own modules)
import engine.onnx_ops as onnx_ops  # noqa: E402
from engine.dtype import dtypes  # noqa: E402
from engine.tensor import Tensor  # noqa: E402

OPS = onnx_ops.OPS

_REDUCE_OPS = ("ReduceSum", "ReduceMean", "ReduceProd", "ReduceMax", "ReduceMin", "ReduceL1", "ReduceL2",
               "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp")


def celu_as_elu(p: Any) -> None:
    """Celu: lowered to Elu with the same alpha, alpha * (exp(x) - 1) for x < 0, instead of
    alpha * (exp(x / alpha) - 1).

    The two agree only for alpha = 1 (Celu's default) or x >= 0: with alpha = 2, Celu(-3) is 2 * (exp(-1.5) - 1) =
    -1.554, the planted one gives 2 * (exp(-3) - 1) = -1.900. Models with the default alpha, and inputs without
    negative values, are unchanged."""
    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        x, alpha = inp[0], attrs.get("alpha", 1.0)
        return (x < 0).where((x.exp() - 1) * alpha, x)

    p.setitem(OPS, "Celu", planted)


def reduce_noop_with_empty_axes_ignored(p: Any) -> None:
    """Reduce* (ReduceSum since opset 13, the others since 18, where axes is an input): noop_with_empty_axes ignored,
    so an empty or omitted axes input reduces over every axis.

    With noop_with_empty_axes=1 and no axes (an empty axes tensor or the input left out) the spec passes the input
    through (ReduceSumSquare squares it, ReduceL1 takes |x|, ...); the planted one reduces over all axes (a (3, 4)
    input gives a (1, 1) output, or () with keepdims=0). Models with the default noop_with_empty_axes=0, or with
    nonempty axes, are unchanged."""
    for name in _REDUCE_OPS:
        orig = OPS[name]

        def planted(inp: list, attrs: dict, node: Any, orig: Any = orig) -> Tensor:
            if attrs.get("noop_with_empty_axes", 0):
                attrs = {**attrs, "noop_with_empty_axes": 0}
            return orig(inp, attrs, node)

        p.setitem(OPS, name, planted)


def split_uneven_as_array_split(p: Any) -> None:
    """Split: an uneven split into equal parts (opset 18's num_outputs, or the output count) sized numpy.array_split's
    way (the first n % k parts one larger) instead of ONNX's (every part ceil(n / k), the last one smaller).

    7 elements in 3 outputs must be [3, 3, 1]; the planted one gives [3, 2, 2] (so 10 in 4: [3, 3, 2, 2] instead of
    [3, 3, 3, 1]). Splits with explicit sizes, and splits whose axis divides evenly, are unchanged."""
    orig = OPS["Split"]

    def planted(inp: list, attrs: dict, node: Any) -> Any:
        x = inp[0]
        sizes = (onnx_ops._ints(inp[1]) if len(inp) > 1 else None) if node.opset >= 13 else attrs.get("split")
        if sizes:
            return orig(inp, attrs, node)
        axis = onnx_ops._ax(attrs.get("axis", 0), x.ndim)
        n = x.shape[axis]
        k = attrs.get("num_outputs") or node.n_outputs
        if n % k == 0:
            return orig(inp, attrs, node)
        q, r = divmod(n, k)
        return x.split([q + (1 if i < r else 0) for i in range(k)], axis)

    p.setitem(OPS, "Split", planted)


def unsqueeze_negative_axes_by_input_rank(p: Any) -> None:
    """Unsqueeze: a negative axis counted from the back of the input's rank instead of the output's (rank + number
    of axes).

    Unsqueeze of a (2, 3) tensor with axes=[-1] must give (2, 3, 1) (the new last axis); the planted one resolves
    -1 against rank 2 as axis 1 and gives (2, 1, 3). Models whose axes are all nonnegative are unchanged (as are
    those where the misplaced 1 lands next to a size-1 axis, which reshapes the same)."""
    orig = OPS["Unsqueeze"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        x = inp[0]
        axes = onnx_ops._axes_of(inp, attrs, node, 13) or []
        if not any(a < 0 for a in axes):
            return orig(inp, attrs, node)
        axes = [a + x.ndim if a < 0 and a + x.ndim >= 0 else a for a in axes]
        if node.opset >= 13:
            return orig([x, onnx_ops.const(np.asarray(axes, np.int64), x.device)], attrs, node)
        return orig(inp, {**attrs, "axes": axes}, node)

    p.setitem(OPS, "Unsqueeze", planted)


def cumsum_reverse_exclusive_shift_before_flip(p: Any) -> None:
    """CumSum: with reverse=1 and exclusive=1, the exclusive shift done in the forward direction (before reversing)
    instead of in the reversed one.

    reverse+exclusive must give y[i] = sum of x[j] for j > i ([1, 2, 3, 4] -> [9, 7, 4, 0]); the planted one shifts
    x right first and then sums from the back, y[i] = x[i - 1] + ... + x[n - 2] ([6, 6, 5, 3]). Only the
    combination changes: reverse alone, exclusive alone, the default, and CumProd are unchanged."""
    orig = OPS["CumSum"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        if not (attrs.get("reverse", 0) and attrs.get("exclusive", 0)):
            return orig(inp, attrs, node)
        x = inp[0]
        a = onnx_ops._ax(int(onnx_ops._scalar(inp[1])), x.ndim)
        n = x.shape[a]
        t = x.pad([(1, 0) if i == a else (0, 0) for i in range(x.ndim)])
        t = t.shrink([(0, n) if i == a else None for i in range(x.ndim)])
        return orig([t, inp[1]], {**attrs, "exclusive": 0}, node)

    p.setitem(OPS, "CumSum", planted)


def topk_smallest_sorted_descending(p: Any) -> None:
    """TopK: with largest=0 (and sorted=1) the k smallest values come out in descending order (the tail of a
    descending sort, not reversed) instead of ascending.

    TopK(k=3, largest=0) of [5, 1, 4, 2, 6, 3] must give [1, 2, 3] with indices [1, 3, 5]; the planted one gives
    [3, 2, 1] and [5, 3, 1]. The same set of values: only the order is wrong. largest=1 models, and k <= 1, are
    unchanged."""
    orig = OPS["TopK"]

    def planted(inp: list, attrs: dict, node: Any) -> Any:
        out = orig(inp, attrs, node)
        if attrs.get("largest", 1) or not attrs.get("sorted", 1):
            return out
        a = onnx_ops._ax(attrs.get("axis", -1), inp[0].ndim)
        return [t.flip(a) for t in out]

    p.setitem(OPS, "TopK", planted)


def onehot_negative_indices_not_wrapped(p: Any) -> None:
    """OneHot: negative indices not counted from the back of depth (index + depth), so they match no position.

    ONNX (since opset 11) treats an index in [-depth, -1] as depth + index: with depth 4, -1 sets position 3; the
    planted one gives an all-off row for it (as an out-of-range index does). Models whose indices are all
    nonnegative are unchanged."""
    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        idx, values = inp[0], inp[2]
        depth = int(onnx_ops._scalar(inp[1]))
        vals = values.reshape(2)
        off, on = vals[0], vals[1]
        n = idx.ndim + 1
        a = onnx_ops._ax(attrs.get("axis", -1), n)
        i = idx.cast(dtypes.int64) if idx.dtype.is_int else idx.cast(dtypes.float64).trunc().cast(dtypes.int64)
        ar = Tensor.arange(depth, dtype=dtypes.int64, device=idx.device).reshape((depth,) + (1,) * (n - a - 1))
        return (i.unsqueeze(a) == ar).where(on, off)

    p.setitem(OPS, "OneHot", planted)


def layernorm_axis_single_dim(p: Any) -> None:
    """LayerNormalization: the statistics taken over the one axis `axis` (Softmax-style) instead of over every axis
    from `axis` to the last.

    With the default axis=-1 both are the last axis; with axis=1 on a (2, 3, 4) input the spec normalizes each (3, 4)
    slab, the planted one each length-3 column along axis 1 (and Mean / InvStdDev keep the other axes). Models with
    axis = -1 (or axis = rank - 1) are unchanged."""
    orig = OPS["LayerNormalization"]

    def planted(inp: list, attrs: dict, node: Any) -> list[Tensor]:
        x, scale = inp[0], inp[1]
        bias = inp[2] if len(inp) > 2 else None
        a = onnx_ops._ax(attrs.get("axis", -1), x.ndim)
        if a == x.ndim - 1:
            return orig(inp, attrs, node)
        xf = onnx_ops._stash(x, attrs)
        m = xf.mean(a, keepdim=True)
        c = xf - m
        inv = ((c * c).mean(a, keepdim=True) + onnx_ops._full(xf, attrs.get("epsilon", 1e-5))).rsqrt()
        y = (c * inv).cast(x.dtype) * scale
        if bias is not None:
            y = y + bias
        return [y, m, inv]

    p.setitem(OPS, "LayerNormalization", planted)


def resize_cubic_coeff_a_ignored(p: Any) -> None:
    """Resize: the cubic_coeff_a attribute ignored in cubic mode; the kernel always uses the default a = -0.75.

    A model exported from TensorFlow or PIL-style code sets cubic_coeff_a=-0.5 (Keys' kernel); the planted one
    interpolates with -0.75, so every output that is not on an input sample is off (overshoot at edges). Nearest and
    linear resizes, and cubic ones with the default coefficient, are unchanged."""
    orig = OPS["Resize"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        if attrs.get("mode", "nearest") == "cubic":
            attrs = {**attrs, "cubic_coeff_a": -0.75}
        return orig(inp, attrs, node)

    p.setitem(OPS, "Resize", planted)


def gemm_alpha_scales_bias(p: Any) -> None:
    """Gemm: alpha applied after adding the bias, alpha * (A @ B + beta * C), instead of alpha * A @ B + beta * C.

    With alpha=2, beta=1 the bias is doubled. Models without C, or with alpha = 1 (the default), are unchanged."""
    orig = OPS["Gemm"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        alpha = attrs.get("alpha", 1.0)
        if alpha == 1.0 or len(inp) < 3 or inp[2] is None:
            return orig(inp, attrs, node)
        out = orig(inp, {**attrs, "alpha": 1.0}, node)
        return out * onnx_ops._full(out, alpha)

    p.setitem(OPS, "Gemm", planted)


def dequantize_axis_ignored(p: Any) -> None:
    """DequantizeLinear: the axis attribute of per-axis quantization ignored; a 1-D scale (and zero point) is always
    laid along axis 1 (the attribute's default, the channel axis of NCHW activations).

    Per-output-channel conv weights (O, I, kh, kw) are quantized with axis=0: the planted one scales along I instead
    (wrong values when O == I, a broadcast error otherwise). Per-tensor (scalar) scales, blocked quantization, and
    models with axis = 1 (or a negative axis naming axis 1) are unchanged."""
    orig = OPS["DequantizeLinear"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        x, scale = inp[0], inp[1]
        if attrs.get("block_size", 0) or scale.ndim == 0 or scale.numel() == 1 or x.ndim < 2:
            return orig(inp, attrs, node)
        return orig(inp, {**attrs, "axis": 1}, node)

    p.setitem(OPS, "DequantizeLinear", planted)


def softmax_old_opset_single_axis(p: Any) -> None:
    """Softmax / LogSoftmax / Hardmax before opset 13: opset 13's single-axis rule applied instead of the old
    coercion to 2-D (every axis from `axis` on flattened into one).

    In opset 11 Softmax(axis=1) of a (2, 3, 4) input normalizes over the 12 values of each batch row; the planted
    one over the 3 values along axis 1. Models of opset 13 and later, and old-opset ones where `axis` is the last
    axis (e.g. 2-D inputs with the default axis=1), are unchanged."""
    for name, kind in (("Softmax", "softmax"), ("LogSoftmax", "logsoftmax"), ("Hardmax", "hardmax")):
        orig = OPS[name]

        def planted(inp: list, attrs: dict, node: Any, orig: Any = orig, kind: str = kind) -> Tensor:
            if node.opset >= 13:
                return orig(inp, attrs, node)
            x = inp[0]
            return onnx_ops._softmax_axis(kind, x, onnx_ops._ax(attrs.get("axis", 1), x.ndim))

        p.setitem(OPS, name, planted)


MORE = {
    "celu_as_elu": celu_as_elu,
    "reduce_noop_with_empty_axes_ignored": reduce_noop_with_empty_axes_ignored,
    "split_uneven_as_array_split": split_uneven_as_array_split,
    "unsqueeze_negative_axes_by_input_rank": unsqueeze_negative_axes_by_input_rank,
    "cumsum_reverse_exclusive_shift_before_flip": cumsum_reverse_exclusive_shift_before_flip,
    "topk_smallest_sorted_descending": topk_smallest_sorted_descending,
    "onehot_negative_indices_not_wrapped": onehot_negative_indices_not_wrapped,
    "layernorm_axis_single_dim": layernorm_axis_single_dim,
    "resize_cubic_coeff_a_ignored": resize_cubic_coeff_a_ignored,
    "gemm_alpha_scales_bias": gemm_alpha_scales_bias,
    "dequantize_axis_ignored": dequantize_axis_ignored,
    "softmax_old_opset_single_axis": softmax_old_opset_single_axis,
}
