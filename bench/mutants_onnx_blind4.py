"""A fourth blind set of planted bugs ("mutants") in the ONNX importer (after `bench/mutants_onnx_blind3.py`).

Written without reading the fuzzer, its oracles, tests or corpus (only engine/ and the previous set's file format):
each models a one-line mistake an importer author could make (an attribute or optional input ignored, an opset
difference missed, a clamp or sign rule taken from another framework, an edge case of shapes or values left out) in
an op the earlier ONNX mutant sets do not cover. Most need a particular attribute value, opset, dtype, shape or
value range to show, so the op with its default attributes and ordinary inputs stays right.

Each `plant(p)` installs one bug through `p.setitem` on `engine.onnx_ops.OPS` (the handlers are looked up there when
a node runs), wrapping or replacing one handler; `p` undoes it. `MORE` maps the mutants' names to them.

Evidence (a small onnx.helper model run by engine.onnx.load(...).run with the mutant planted, against onnxruntime;
the unaffected model is right with the mutant planted):
shown: slice_negative_step_end_clamped_at_zero: Slice [0..5] ends=INT64_MIN steps=-1: [5..1] for [5..0]; ends=0 matches.
shown: mod_integer_sign_of_dividend: Mod int32 [-7, 7] % [3, -3]: [-1, 1] for [2, -2]; fmod=1 and float Mod match.
shown: clip_omitted_min_shifts_max: Clip (x, "", 0.5) of [-2, 0, 2]: [0.5, 0.5, 2] for [-2, 0, 0.5]; (x, lo, hi) match.
shown: averagepool_count_include_pad_ignored: AveragePool 3x3 pads=1 cip=1 of ones: corner 1 for 0.444; cip=0 matches.
shown: maxpool_dilations_ignored: MaxPool k=2 dilations=2 on 5x5: shape (1, 1, 4, 4) for (1, 1, 3, 3); d=1 matches.
shown: argmax_select_last_index_ignored: ArgMax [1, 3, 3, 2] select_last_index=1: 1 for 2 (ArgMin too); no ties match.
shown: reduce_logsumexp_not_max_shifted: ReduceLogSumExp [100, 101, 102]: inf for 102.41; [-1, 0, 1] and randn*3 match.
shown: max_min_only_first_two_inputs: Max(a, b, c) with c largest off by 6.60 (Min: 4.87); Max(a, b), Min(a, b) match.
shown: isinf_detect_flags_ignored: IsInf detect_positive=0 of [inf, -inf, 1]: [T, T, F] for [F, T, F]; defaults match.
shown: gather_scalar_index_keeps_axis: Gather (3, 4) axis=0 0-d index 1: shape (1, 4) for (4,); a (1,) index matches.
shown: trilu_k_input_ignored: Trilu-14 4x4 upper=1 k=1 off by 16 (diagonal kept; upper=0 k=-1 too); no k, k=0 match.
shown: squeeze_axes_input_ignored_since_13: Squeeze-13 (1, 3, 1, 2) axes=[0]: (3, 2) for (3, 1, 2); Squeeze-11 matches.
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


def slice_negative_step_end_clamped_at_zero(p: Any) -> None:
    """Slice: with a negative step, an end before the start of the axis (end < -dim, e.g. INT64_MIN, the exported
    form of x[::-1]) clamped to 0 (the positive-step rule) instead of -1, so element 0 is left out.

    Slice(starts=[-1], ends=[INT64_MIN], steps=[-1]) of [0, 1, 2, 3, 4, 5] must give [5, 4, 3, 2, 1, 0]; the planted
    one gives [5, 4, 3, 2, 1]. Slices with positive steps, and negative-step slices whose end lies inside the axis
    (end >= -dim), are unchanged."""
    orig = OPS["Slice"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        if node.opset < 10 or len(inp) < 5 or inp[4] is None:
            return orig(inp, attrs, node)
        x = inp[0]
        starts, ends, steps = onnx_ops._ints(inp[1]), onnx_ops._ints(inp[2]), onnx_ops._ints(inp[4])
        axes = onnx_ops._ints(inp[3]) if inp[3] is not None else list(range(len(starts)))
        axes = [onnx_ops._ax(a, x.ndim) for a in axes]
        new_ends = [0 if st < 0 and e + x.shape[a] < 0 else e for a, e, st in zip(axes, ends, steps)]
        if new_ends == ends:
            return orig(inp, attrs, node)
        ends_t = onnx_ops.const(np.asarray(new_ends, np.int64), x.device)
        return orig([inp[0], inp[1], ends_t] + list(inp[3:]), attrs, node)

    p.setitem(OPS, "Slice", planted)


def mod_integer_sign_of_dividend(p: Any) -> None:
    """Mod: integer Mod with fmod=0 computed as C's remainder (the sign of the dividend, as fmod=1) instead of
    Python's (the sign of the divisor).

    Mod(-7, 3) must be 2 and Mod(7, -3) -2; the planted one gives -1 and 1. Models whose integer operands have the
    same sign (or divide exactly), integer Mod with fmod=1, and float Mod are unchanged."""
    orig = OPS["Mod"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        if not inp[0].dtype.is_float and not attrs.get("fmod", 0):
            attrs = {**attrs, "fmod": 1}
        return orig(inp, attrs, node)

    p.setitem(OPS, "Mod", planted)


def clip_omitted_min_shifts_max(p: Any) -> None:
    """Clip (opset 11+, where min and max are optional inputs): the bounds taken from the inputs that are present, in
    order, so with min omitted (an empty name) the max input is used as the min and there is no upper bound.

    Clip(x, "", 0.5) of [-2, 0, 2] must give [-2, 0, 0.5]; the planted one gives max(x, 0.5) = [0.5, 0.5, 2].
    Models with both bounds, with only min, or with none are unchanged."""
    orig = OPS["Clip"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        if node.opset < 11:
            return orig(inp, attrs, node)
        return orig([inp[0]] + [t for t in inp[1:] if t is not None], attrs, node)

    p.setitem(OPS, "Clip", planted)


def averagepool_count_include_pad_ignored(p: Any) -> None:
    """AveragePool: the count_include_pad attribute ignored; windows that overlap the padding are always averaged
    over their in-bounds elements only (the default, count_include_pad=0).

    A 3x3 AveragePool with pads=1 and count_include_pad=1 of a (4, 4) plane of ones gives 4/9 at the corners (the
    padded zeros count), the planted one 1. Models without padding, and with the default count_include_pad=0, are
    unchanged (LpPool is not touched)."""
    orig = OPS["AveragePool"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        return orig(inp, {**attrs, "count_include_pad": 0}, node)

    p.setitem(OPS, "AveragePool", planted)


def maxpool_dilations_ignored(p: Any) -> None:
    """MaxPool: the dilations attribute (opset 10+) ignored; windows are always dense.

    A 2x2 MaxPool with dilations=[2, 2] on a 5x5 plane must give a 3x3 output, each the max of 4 elements two apart;
    the planted one pools adjacent elements and gives 4x4 (and Indices to match). Models with the default dilations
    (all 1) are unchanged."""
    orig = OPS["MaxPool"]

    def planted(inp: list, attrs: dict, node: Any) -> Any:
        if attrs.get("dilations"):
            attrs = {**attrs, "dilations": [1] * len(attrs["kernel_shape"])}
        return orig(inp, attrs, node)

    p.setitem(OPS, "MaxPool", planted)


def argmax_select_last_index_ignored(p: Any) -> None:
    """ArgMax / ArgMin: the select_last_index attribute (opset 12+) ignored; a tie always gives the first index.

    ArgMax of [1, 3, 3, 2] with select_last_index=1 must be 2; the planted one gives 1. Models without ties along
    the axis, and with the default select_last_index=0, are unchanged."""
    for name in ("ArgMax", "ArgMin"):
        orig = OPS[name]

        def planted(inp: list, attrs: dict, node: Any, orig: Any = orig) -> Tensor:
            return orig(inp, {**attrs, "select_last_index": 0}, node)

        p.setitem(OPS, name, planted)


def reduce_logsumexp_not_max_shifted(p: Any) -> None:
    """ReduceLogSumExp: computed as log(sum(exp(x))) directly, without first subtracting the maximum.

    In float32 exp overflows past x = 88.7 (float64: 709.8) and underflows to 0 below about -103: ReduceLogSumExp of
    [100, 101, 102] must be 102.41, the planted one gives inf, and of [-200, -201] -199.69, the planted one -inf.
    Models whose values stay in a moderate range (|x| below about 80) are unchanged (within rounding), as are
    reductions over empty axes and noop_with_empty_axes pass-throughs."""
    orig = OPS["ReduceLogSumExp"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        x = inp[0]
        axes = onnx_ops._reduce_axes(inp, attrs, node, 18, x.ndim)
        if axes is None or any(x.shape[a] == 0 for a in axes) or not x.dtype.is_float:
            return orig(inp, attrs, node)
        keep = bool(attrs.get("keepdims", 1))
        wide = x.cast(dtypes.float32) if x.dtype in (dtypes.float16, dtypes.bfloat16) else x
        return wide.exp().sum(axes, keep, dtype=wide.dtype).log().cast(x.dtype)

    p.setitem(OPS, "ReduceLogSumExp", planted)


def max_min_only_first_two_inputs(p: Any) -> None:
    """Max / Min: the variadic op lowered to one binary maximum (minimum) of its first two inputs; a third and later
    inputs are dropped.

    Max(a, b, c) where c holds the largest values must give c there; the planted one gives max(a, b) (Min likewise
    with the smallest values in c). Models with one or two inputs (the common case), ones whose later inputs never
    win, and Sum and Mean, are unchanged."""
    for name in ("Max", "Min"):
        orig = OPS[name]

        def planted(inp: list, attrs: dict, node: Any, orig: Any = orig) -> Tensor:
            ts = [t for t in inp if t is not None]
            return orig(ts[:2], attrs, node)

        p.setitem(OPS, name, planted)


def isinf_detect_flags_ignored(p: Any) -> None:
    """IsInf: the detect_positive and detect_negative attributes ignored; both infinities are always reported.

    IsInf(detect_positive=0) of [inf, -inf, 1] must give [False, True, False]; the planted one [True, True, False]
    (and detect_negative=0 likewise reports -inf). Models with the default flags (both 1), and inputs without the
    infinity of the disabled sign, are unchanged."""
    orig = OPS["IsInf"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        return orig(inp, {**attrs, "detect_positive": 1, "detect_negative": 1}, node)

    p.setitem(OPS, "IsInf", planted)


def gather_scalar_index_keeps_axis(p: Any) -> None:
    """Gather: a 0-d (scalar) indices tensor treated as a one-element vector, so the gathered axis is kept with size
    1 instead of removed (output rank = data rank + indices rank - 1).

    Gather(data (3, 4), indices=1 as a 0-d tensor, axis=0) must give shape (4,) (row 1); the planted one gives
    (1, 4). The values are the same; only the rank is wrong (and every op downstream sees the extra axis). Models
    whose indices have rank 1 or more are unchanged."""
    orig = OPS["Gather"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        idx = inp[1]
        if idx.ndim != 0:
            return orig(inp, attrs, node)
        known = onnx_ops._STATIC.get(idx.uop)
        idx = onnx_ops.const(np.asarray(known).reshape(1), idx.device) if known is not None else idx.reshape(1)
        return orig([inp[0], idx] + list(inp[2:]), attrs, node)

    p.setitem(OPS, "Gather", planted)


def trilu_k_input_ignored(p: Any) -> None:
    """Trilu: the optional k input (the diagonal offset) ignored; the main diagonal (k = 0) is always used.

    Trilu(upper=1, k=1) of a 4x4 matrix must zero the main diagonal too; the planted one keeps it (and Trilu(upper=0,
    k=-1), strictly below the diagonal, keeps the diagonal as well). Models without k, or with k = 0, are
    unchanged."""
    orig = OPS["Trilu"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        return orig(inp[:1], attrs, node)

    p.setitem(OPS, "Trilu", planted)


def squeeze_axes_input_ignored_since_13(p: Any) -> None:
    """Squeeze (opset 13+, where axes moved from an attribute to an optional input): axes still read from the
    attribute only, so a model of opset 13 or later with an axes input squeezes every size-1 axis.

    Squeeze-13 of a (1, 3, 1, 2) tensor with axes=[0] must give (3, 1, 2); the planted one gives (3, 2). Models of
    opset 11 and 12 (axes attribute), models without axes, and inputs whose only size-1 axes are the listed ones are
    unchanged."""
    orig = OPS["Squeeze"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        if node.opset >= 13:
            return orig(inp[:1], attrs, node)
        return orig(inp, attrs, node)

    p.setitem(OPS, "Squeeze", planted)


MORE = {
    "slice_negative_step_end_clamped_at_zero": slice_negative_step_end_clamped_at_zero,
    "mod_integer_sign_of_dividend": mod_integer_sign_of_dividend,
    "clip_omitted_min_shifts_max": clip_omitted_min_shifts_max,
    "averagepool_count_include_pad_ignored": averagepool_count_include_pad_ignored,
    "maxpool_dilations_ignored": maxpool_dilations_ignored,
    "argmax_select_last_index_ignored": argmax_select_last_index_ignored,
    "reduce_logsumexp_not_max_shifted": reduce_logsumexp_not_max_shifted,
    "max_min_only_first_two_inputs": max_min_only_first_two_inputs,
    "isinf_detect_flags_ignored": isinf_detect_flags_ignored,
    "gather_scalar_index_keeps_axis": gather_scalar_index_keeps_axis,
    "trilu_k_input_ignored": trilu_k_input_ignored,
    "squeeze_axes_input_ignored_since_13": squeeze_axes_input_ignored_since_13,
}
