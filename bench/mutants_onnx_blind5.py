"""A fifth blind set of planted bugs ("mutants") in the ONNX importer (after `bench/mutants_onnx_blind4.py`).

Written without reading the fuzzer, its oracles, tests or corpus (only engine/ and the previous set's file format):
each models a one-line mistake an importer author could make (an attribute ignored or read at its default, an edge
value of a rule taken from another framework or from the hardware, ties or empty shapes left out) in an op or
attribute the earlier ONNX mutant sets do not cover. Most need a particular attribute value, shape or value pattern
to show, so the op with its default attributes and ordinary inputs stays right.

Each `plant(p)` installs one bug through `p.setitem` on `engine.onnx_ops.OPS` (the handlers are looked up there when
a node runs), wrapping or replacing one handler; `p` undoes it. `MORE` maps the mutants' names to them.

Evidence (a small onnx.helper model, opset 21 unless said, run by engine.onnx.load(...).run with the mutant planted,
against onnxruntime 1.32; the unaffected model is right with the mutant planted):
shown: resize_round_prefer_ceil_as_floor: Resize 0..7 x0.5 round_prefer_ceil: [0, 2, 4, 6] for [1, 3, 5, 7].
shown: resize_extrapolation_value_ignored: tf_crop_and_resize roi [-0.5, 1.5], ev=-1: border 0 for -1; ev=0 matches.
shown: reshape_allowzero_ignored: Reshape (0, 2, 0) to [3, 0, 0] allowzero=1: (3, 2, 0) for (3, 0, 0).
shown: eyelike_k_ignored: EyeLike 3x4 k=1: ones at (i, i) for (i, i + 1) (k=-1 too); k=0 matches.
shown: shrink_bias_ignored: Shrink bias=0.5 of [-2, -0.3, 0.3, 2]: [-2, 0, 0, 2] for [-1.5, 0, 0, 1.5].
shown: bitshift_amount_wraps_at_width: uint8 [1, 1, 255] << [3, 8, 9]: [8, 1, 254] for [8, 0, 0]; RIGHT too.
shown: scatternd_reduction_ignored: ScatterND add [10, 20] at [1], [3] of 1..4: [1, 10, 3, 20] for [1, 12, 3, 24].
shown: reverse_sequence_axes_ignored: ReverseSequence (4, 4) batch_axis=0 time_axis=1: wrong ((2, 4): fails).
shown: compress_axis_ignored_flattens: Compress (2, 3) cond [0, 1] axis=0: [2] for [[4, 5, 6]] (axis=1 too).
shown: mvn_axes_ignored: MVN axes=[2, 3] of a (2, 2, 3, 3) batch of unlike items: off by 2.27; defaults match.
shown: hardmax_marks_every_tie: Hardmax [[1, 3, 3, 2]]: [[0, 1, 1, 0]] for [[0, 1, 0, 0]] (opset 11 too).
shown: globallppool_p_ignored: GlobalLpPool p=1 of [[1, -2], [3, -4]]: 5.48 for 10 (p=3: 5.48 for 4.64); p=2 ok.
In each case the model without the attribute value, tie or edge (default attributes, amounts below the width, no
ties) matches onnxruntime with the mutant planted.
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import engine.onnx  # noqa: E402,F401 - registers every handler (some live in their own modules)
import engine.onnx_ops as onnx_ops  # noqa: E402
from engine.tensor import Tensor  # noqa: E402

OPS = onnx_ops.OPS


def resize_round_prefer_ceil_as_floor(p: Any) -> None:
    """Resize (nearest): nearest_mode="round_prefer_ceil" read as the default "round_prefer_floor", so a source
    coordinate exactly halfway between two pixels picks the lower one.

    Resize of [0, 1, 2, 3, 4, 5, 6, 7] to 4 (scale 0.5, half_pixel: source 2i + 0.5, every one a tie) with
    round_prefer_ceil must give [1, 3, 5, 7]; the planted one gives [0, 2, 4, 6]. Resizes whose source coordinates
    are never halfway (an upsampling by 2 with half_pixel), the other nearest modes, and linear and cubic Resize are
    unchanged."""
    orig = OPS["Resize"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        if attrs.get("nearest_mode") == "round_prefer_ceil":
            attrs = {**attrs, "nearest_mode": "round_prefer_floor"}
        return orig(inp, attrs, node)

    p.setitem(OPS, "Resize", planted)


def resize_extrapolation_value_ignored(p: Any) -> None:
    """Resize with coordinate_transformation_mode="tf_crop_and_resize": the extrapolation_value attribute ignored;
    output pixels whose source lies outside the input are always 0 (its default).

    A linear Resize of a 4x4 plane to 3x3 with roi [-0.5, 1.5] on both spatial axes and extrapolation_value=-1 must
    fill the border outside the input with -1; the planted one fills it with 0. Rois inside [0, 1], the default
    extrapolation_value, and the other coordinate modes are unchanged."""
    orig = OPS["Resize"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        return orig(inp, {**attrs, "extrapolation_value": 0.0}, node)

    p.setitem(OPS, "Resize", planted)


def reshape_allowzero_ignored(p: Any) -> None:
    """Reshape (opset 14+): the allowzero attribute ignored; a 0 in the shape input always copies the input's
    dimension (the allowzero=0 rule) instead of being an explicit zero-size dimension.

    Reshape of an empty (0, 2, 0) tensor to [3, 0, 0] with allowzero=1 must give shape (3, 0, 0); the planted one
    gives (3, 2, 0) (and an empty tensor reshaped to [0, 4] with allowzero=1 fails). Shapes without zeros, and
    models with the default allowzero=0, are unchanged."""
    orig = OPS["Reshape"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        return orig(inp, {**attrs, "allowzero": 0}, node)

    p.setitem(OPS, "Reshape", planted)


def eyelike_k_ignored(p: Any) -> None:
    """EyeLike: the k attribute (which diagonal holds the ones) ignored; the main diagonal is always used.

    EyeLike(k=1) of a 3x4 input must put ones at (0, 1), (1, 2), (2, 3); the planted one puts them at (0, 0), (1, 1),
    (2, 2) (k=-1 likewise). Models with the default k=0 are unchanged."""
    orig = OPS["EyeLike"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        return orig(inp, {**attrs, "k": 0}, node)

    p.setitem(OPS, "EyeLike", planted)


def shrink_bias_ignored(p: Any) -> None:
    """Shrink: the bias attribute ignored; values outside [-lambd, lambd] pass through unshifted (bias 0, its
    default), a hard shrink instead of a soft one.

    Shrink(lambd=0.5, bias=0.5) of [-2, -0.3, 0.3, 2] must give [-1.5, 0, 0, 1.5]; the planted one gives
    [-2, 0, 0, 2]. Models with the default bias=0 (HardShrink exports), and values inside the band, are
    unchanged."""
    orig = OPS["Shrink"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        return orig(inp, {**attrs, "bias": 0.0}, node)

    p.setitem(OPS, "Shrink", planted)


def bitshift_amount_wraps_at_width(p: Any) -> None:
    """BitShift: the shift amount taken modulo the bit width (the x86 shift instructions' rule, and what a plain C
    shift gives there) instead of shifting every bit out for an amount of the width or more.

    BitShift(LEFT) of uint8 [1, 1, 255] by [3, 8, 9] must give [8, 0, 0]; the planted one gives [8, 1, 254] (RIGHT
    of uint32 [256] by [33] must give 0, the planted one 128). Amounts below the width, the common case, are
    unchanged."""
    orig = OPS["BitShift"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        a, b = inp[0], inp[1]
        width = a.dtype.itemsize * 8
        return orig([a, b & onnx_ops._full(b, width - 1)] + list(inp[2:]), attrs, node)

    p.setitem(OPS, "BitShift", planted)


def scatternd_reduction_ignored(p: Any) -> None:
    """ScatterND (opset 16+): the reduction attribute ignored; updates always overwrite (reduction="none").

    ScatterND of data [1, 2, 3, 4] with indices [[1], [3]], updates [10, 20] and reduction="add" must give
    [1, 12, 3, 24]; the planted one gives [1, 10, 3, 20] (mul likewise; max and min wherever the update does not
    win). Models with the default reduction="none" are unchanged (ScatterElements is not touched)."""
    orig = OPS["ScatterND"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        return orig(inp, {**attrs, "reduction": "none"}, node)

    p.setitem(OPS, "ScatterND", planted)


def reverse_sequence_axes_ignored(p: Any) -> None:
    """ReverseSequence: the time_axis and batch_axis attributes ignored; the defaults (time_axis=0, batch_axis=1,
    the time-major layout) are always used.

    ReverseSequence of a batch-major (2, 4) tensor [[0, 1, 2, 3], [4, 5, 6, 7]] with batch_axis=0, time_axis=1 and
    sequence_lens [4, 2] must give [[3, 2, 1, 0], [5, 4, 6, 7]]; the planted one reverses along axis 0 instead
    (and needs 4 lengths, so it fails or is wrong). Time-major models with the default axes are unchanged."""
    orig = OPS["ReverseSequence"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        return orig(inp, {**attrs, "time_axis": 0, "batch_axis": 1}, node)

    p.setitem(OPS, "ReverseSequence", planted)


def compress_axis_ignored_flattens(p: Any) -> None:
    """Compress: the axis attribute ignored; the input is always flattened first (the rule for a Compress without
    axis), so the selected slices become selected elements.

    Compress of a (2, 3) tensor [[1, 2, 3], [4, 5, 6]] with condition [0, 1] and axis=0 must give [[4, 5, 6]]; the
    planted one gives [2] (axis=1 with [1, 0, 1]: [[1, 3], [4, 6]] against [1, 3]). Models without axis are
    unchanged."""
    orig = OPS["Compress"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        return orig(inp, {k: v for k, v in attrs.items() if k != "axis"}, node)

    p.setitem(OPS, "Compress", planted)


def mvn_axes_ignored(p: Any) -> None:
    """MeanVarianceNormalization: the axes attribute ignored; the statistics are always taken over the default
    axes [0, 2, 3] (per channel across the batch).

    MVN with axes=[2, 3] of a (2, 2, 3, 3) input whose two batch items differ in mean and scale must normalize each
    (n, c) plane on its own; the planted one pools the batch, so each plane keeps an offset and a scale (2.27 off for
    items of mean 0 and 5, scale 1 and 3). Models with the default axes or axes=[0, 2, 3] given, and axes=[2, 3] over a
    batch of one, are unchanged."""
    orig = OPS["MeanVarianceNormalization"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        return orig(inp, {k: v for k, v in attrs.items() if k != "axes"}, node)

    p.setitem(OPS, "MeanVarianceNormalization", planted)


def hardmax_marks_every_tie(p: Any) -> None:
    """Hardmax: lowered as x == max(x) along the axis, so every element that ties for the maximum gets a 1 instead
    of only the first one.

    Hardmax of [[1, 3, 3, 2]] must give [[0, 1, 0, 0]]; the planted one gives [[0, 1, 1, 0]] (and a row of equal
    values, e.g. all zeros, becomes all ones). Inputs without ties for the maximum are unchanged, in every opset."""

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        x = inp[0]
        if node.opset < 13:
            a = onnx_ops._ax(attrs.get("axis", 1), x.ndim)
            flat = x.reshape(math.prod(x.shape[:a]), math.prod(x.shape[a:]))
            return (flat == flat.max(1, True)).cast(x.dtype).reshape(x.shape)
        a = onnx_ops._ax(attrs.get("axis", -1), x.ndim)
        return (x == x.max(a, True)).cast(x.dtype)

    p.setitem(OPS, "Hardmax", planted)


def globallppool_p_ignored(p: Any) -> None:
    """GlobalLpPool: the p attribute ignored; the L2 norm (p=2, its default) is always taken over the spatial axes.

    GlobalLpPool(p=1) of a (1, 1, 2, 2) plane [[1, -2], [3, -4]] must give 10; the planted one gives sqrt(30) = 5.48
    (p=3: 4.64 against 5.48). Models with the default p=2 are unchanged (LpPool is not touched)."""
    orig = OPS["GlobalLpPool"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        return orig(inp, {**attrs, "p": 2}, node)

    p.setitem(OPS, "GlobalLpPool", planted)


MORE = {
    "resize_round_prefer_ceil_as_floor": resize_round_prefer_ceil_as_floor,
    "resize_extrapolation_value_ignored": resize_extrapolation_value_ignored,
    "reshape_allowzero_ignored": reshape_allowzero_ignored,
    "eyelike_k_ignored": eyelike_k_ignored,
    "shrink_bias_ignored": shrink_bias_ignored,
    "bitshift_amount_wraps_at_width": bitshift_amount_wraps_at_width,
    "scatternd_reduction_ignored": scatternd_reduction_ignored,
    "reverse_sequence_axes_ignored": reverse_sequence_axes_ignored,
    "compress_axis_ignored_flattens": compress_axis_ignored_flattens,
    "mvn_axes_ignored": mvn_axes_ignored,
    "hardmax_marks_every_tie": hardmax_marks_every_tie,
    "globallppool_p_ignored": globallppool_p_ignored,
}
