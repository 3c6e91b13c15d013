"""Another blind set of planted bugs ("mutants") in the ONNX importer (after `bench/mutants_onnx_blind.py`).

Written without reading the fuzzer, its oracles, tests or corpus: each models a one-line mistake an importer author
could make (a layout convention taken from another framework, an attribute dropped or its direction flipped, a
broadcasting rule misapplied, an opset addition ignored, a dtype conversion done the C way) in an op or attribute
that the earlier ONNX mutant sets do not cover.

Each `plant(p)` installs one bug through `p.setitem` on `engine.onnx_ops.OPS` (the handlers are looked up there when
a node runs), wrapping or replacing one handler; `p` undoes it. `MORE` maps the mutants' names to them.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np
from onnx import TensorProto

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import engine.onnx  # noqa: E402,F401 - registers every handler (some live in their own modules)
import engine.onnx_ops as onnx_ops  # noqa: E402
from engine.dtype import dtypes  # noqa: E402
from engine.tensor import Tensor  # noqa: E402

OPS = onnx_ops.OPS


def conv_pads_read_as_begin_end_pairs(p: Any) -> None:
    """Conv: explicit pads read as (begin, end) pairs per axis, [x1_b, x1_e, x2_b, x2_e] (PyTorch F.pad / TF style),
    instead of ONNX's [x1_begin, x2_begin, ..., x1_end, x2_end].

    Only 2-D and 3-D convolutions with explicit pads that differ between axes or sides change: pads [1, 1, 1, 1]
    (and any 1-D conv) are read the same either way, but pads [1, 0, 1, 0] become (1, 0) on H and (1, 0) on W
    instead of (1, 1) on H and (0, 0) on W -- a shifted or differently shaped output. auto_pad models are unchanged."""
    orig = OPS["Conv"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        pads = attrs.get("pads")
        if attrs.get("auto_pad", "NOTSET") == "NOTSET" and pads and len(pads) >= 4:
            attrs = {**attrs, "pads": list(pads[0::2]) + list(pads[1::2])}
        return orig(inp, attrs, node)

    p.setitem(OPS, "Conv", planted)


def pool_same_lower_as_upper(p: Any) -> None:
    """MaxPool / AveragePool / LpPool: auto_pad SAME_LOWER handled as SAME_UPPER (the odd pad element at the end).

    With SAME_LOWER the extra element of an odd total padding goes at the beginning of the axis; the planted one puts
    it at the end, so every window shifts by one. Only changes pooling with auto_pad=SAME_LOWER where the total pad
    along some axis is odd (e.g. an even kernel with stride 1, or kernel 3 stride 2 over an even size)."""
    for name in ("MaxPool", "AveragePool", "LpPool"):
        orig = OPS[name]

        def planted(inp: list, attrs: dict, node: Any, orig: Any = orig) -> Any:
            if attrs.get("auto_pad") == "SAME_LOWER":
                attrs = {**attrs, "auto_pad": "SAME_UPPER"}
            return orig(inp, attrs, node)

        p.setitem(OPS, name, planted)


def conv_transpose_output_shape_ignored(p: Any) -> None:
    """ConvTranspose: the output_shape attribute ignored; the output size comes from pads (and output_padding) only.

    With output_shape the spec derives the pads from it (total = stride * (in - 1) + output_padding + (k - 1) *
    dilation + 1 - output_shape); the planted one drops it, so the output is the unpadded full size (e.g. 7x7
    instead of 6x6 for a 3x3 kernel, stride 2, 3x3 input, output_shape [6, 6]). Models without output_shape, or
    whose output_shape equals the default size, are unchanged."""
    orig = OPS["ConvTranspose"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        if attrs.get("output_shape"):
            attrs = {k: v for k, v in attrs.items() if k != "output_shape"}
        return orig(inp, attrs, node)

    p.setitem(OPS, "ConvTranspose", planted)


def einsum_implicit_output_in_appearance_order(p: Any) -> None:
    """Einsum: an implicit-mode equation (no '->') outputs its once-appearing labels in order of first appearance
    instead of alphabetical order.

    'ij,jk' gives 'ik' either way, but 'ba' must transpose (output 'ab') and 'kj,ji' must give 'ik', not 'ki': the
    planted one leaves those axes in the input's order. Explicit equations, implicit ones whose free labels already
    appear alphabetically, and equations with an ellipsis are unchanged."""
    orig = OPS["Einsum"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        eq = attrs["equation"].replace(" ", "")
        if "->" in eq or "..." in eq:
            return orig(inp, attrs, node)
        letters = [c for c in eq if c.isalpha()]
        once = "".join(c for c in dict.fromkeys(letters) if letters.count(c) == 1)
        return orig(inp, {**attrs, "equation": f"{eq}->{once}"}, node)

    p.setitem(OPS, "Einsum", planted)


def scatter_elements_reduction_ignored(p: Any) -> None:
    """ScatterElements: the reduction attribute (opset 16+: add, mul, max, min) ignored, so updates overwrite.

    The opset-11/13 behaviour: data[idx] = update. With reduction='add' the result must be data[idx] + update (summed
    over duplicate indices), with 'mul' the product, and so on; the planted one writes the update alone (the last
    one for duplicates). Models with reduction 'none' (the default) are unchanged."""
    orig = OPS["ScatterElements"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        return orig(inp, {**attrs, "reduction": "none"}, node)

    p.setitem(OPS, "ScatterElements", planted)


def gather_nd_batch_dims_ignored(p: Any) -> None:
    """GatherND: the batch_dims attribute (opset 12+) ignored, always 0 (the opset-11 op).

    With batch_dims=b the first b axes of data and indices are matched batch axes and each index tuple addresses the
    rest of its own batch's data; read as 0 the index tuples address data from axis 0, so values and the output
    shape are wrong (data (2, 3, 4), indices (2, 1), batch_dims 1: (2, 4) expected, (2, 3, 4) given). Models with
    batch_dims=0 are unchanged."""
    orig = OPS["GatherND"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        return orig(inp, {**attrs, "batch_dims": 0}, node)

    p.setitem(OPS, "GatherND", planted)


def cast_float_to_bool_truncates(p: Any) -> None:
    """Cast: a float to bool goes through an integer first (C's (bool)(int)x), so |x| < 1 becomes False.

    ONNX (like numpy's astype(bool)) gives True for every nonzero value, 0.3 and -0.7 included; the planted cast
    truncates toward zero first, so only |x| >= 1 (and NaN, inf) is True. Casts from integers or bool, and casts of
    floats to anything but bool, are unchanged, as are float inputs whose nonzero values all have |x| >= 1."""
    orig = OPS["Cast"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        x = inp[0]
        if attrs.get("to") == TensorProto.BOOL and x.dtype.is_float:
            xf = x.cast(dtypes.float32) if x.dtype.itemsize < 4 else x
            return xf.trunc() != onnx_ops._full(xf, 0)
        return orig(inp, attrs, node)

    p.setitem(OPS, "Cast", planted)


def shape_negative_bounds_clamped(p: Any) -> None:
    """Shape: a negative start or end (opset 15+) clamped to 0 instead of counted from the back (start + rank).

    Shape(x, start=-1) must give the last dimension; the planted one gives the whole shape. end=-1 must drop the last
    dimension; the planted one gives an empty shape. Models without start/end, or with non-negative ones, are
    unchanged."""
    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        x = inp[0]
        s = np.asarray(x.shape, dtype=np.int64)
        n = len(s)
        start, end = attrs.get("start", 0), attrs.get("end", n)
        start, end = min(max(start, 0), n), min(max(end, 0), n)
        return onnx_ops.const(s[start:end], x.device)

    p.setitem(OPS, "Shape", planted)


def space_to_depth_crd_order(p: Any) -> None:
    """SpaceToDepth: output channels in PyTorch pixel_unshuffle's order (c, bh, bw) instead of ONNX's (bh, bw, c).

    ONNX's SpaceToDepth (the inverse of DepthToSpace's DCR mode) puts the block offset outermost: output channel
    (bh * b + bw) * C + c; the planted one gives c * b * b + bh * b + bw. The same values in permuted channels: equal
    only when the input has one channel."""
    orig = OPS["SpaceToDepth"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        return orig(inp, {**attrs, "mode": "CRD"}, node)

    p.setitem(OPS, "SpaceToDepth", planted)


def prelu_1d_slope_per_channel(p: Any) -> None:
    """PRelu: a 1-D slope applied per channel (along axis 1, PyTorch's nn.PReLU) instead of broadcast numpy-style
    (aligned with the last axis).

    ONNX's slope is unidirectionally broadcast to X: a slope of shape (W,) on a (N, C, W) input varies along W. The
    planted one reshapes a 1-D slope of more than one element to (len, 1, ..., 1) over axis 1 for inputs of rank >= 3:
    wrong values when C == W, a broadcast error otherwise. Scalar or single-element slopes, slopes already shaped
    (C, 1, 1), and 2-D inputs are unchanged."""
    orig = OPS["PRelu"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        x, s = inp[0], inp[1]
        if s.ndim == 1 and s.shape[0] > 1 and x.ndim >= 3:
            s = s.reshape((s.shape[0],) + (1,) * (x.ndim - 2))
            return orig([x, s], attrs, node)
        return orig(inp, attrs, node)

    p.setitem(OPS, "PRelu", planted)


def lrn_alpha_not_divided_by_size(p: Any) -> None:
    """LRN: the squared sum scaled by alpha instead of alpha / size (TensorFlow's local_response_normalization rule).

    ONNX divides x by (bias + alpha / size * sum of squares over the size-channel window) ** beta; the planted one
    uses alpha * sum, so the normalization is size times too strong. Only size=1 LRNs (and all-zero inputs) are
    unchanged; the difference is small when alpha * sum of squares is small next to bias."""
    orig = OPS["LRN"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        return orig(inp, {**attrs, "alpha": attrs.get("alpha", 1e-4) * attrs["size"]}, node)

    p.setitem(OPS, "LRN", planted)


def pad_reflect_as_symmetric(p: Any) -> None:
    """Pad: mode 'reflect' padded as numpy's 'symmetric' (the edge element repeated in the mirror image).

    Reflect mirrors about the edge element without repeating it: [1, 2, 3] padded by 2 on each side is
    [3, 2, 1, 2, 3, 2, 1]; the planted one gives [2, 1, 1, 2, 3, 3, 2]. Constant, edge and wrap modes, and reflect
    pads of 0, are unchanged (negative pads keep the original path)."""
    orig = OPS["Pad"]

    def planted(inp: list, attrs: dict, node: Any) -> Tensor:
        if attrs.get("mode", "constant") != "reflect":
            return orig(inp, attrs, node)
        x = inp[0]
        if node.opset < 11:
            pads, axes = attrs["pads"], None
        else:
            pads = onnx_ops._ints(inp[1])
            axes = onnx_ops._ints(inp[3]) if len(inp) > 3 else None
        axes = list(range(x.ndim)) if axes is None else [onnx_ops._ax(a, x.ndim) for a in axes]
        if pads is None or len(pads) != 2 * len(axes) or any(v < 0 for v in pads):
            return orig(inp, attrs, node)
        for i, a in enumerate(axes):
            b, e, n = pads[i], pads[i + len(axes)], x.shape[a]
            if (b, e) == (0, 0):
                continue
            m = np.arange(-b, n + e) % (2 * n)
            src = np.where(m < n, m, 2 * n - 1 - m)
            x = x[(slice(None),) * a + (src,)]
        return x

    p.setitem(OPS, "Pad", planted)


MORE = {
    "conv_pads_read_as_begin_end_pairs": conv_pads_read_as_begin_end_pairs,
    "pool_same_lower_as_upper": pool_same_lower_as_upper,
    "conv_transpose_output_shape_ignored": conv_transpose_output_shape_ignored,
    "einsum_implicit_output_in_appearance_order": einsum_implicit_output_in_appearance_order,
    "scatter_elements_reduction_ignored": scatter_elements_reduction_ignored,
    "gather_nd_batch_dims_ignored": gather_nd_batch_dims_ignored,
    "cast_float_to_bool_truncates": cast_float_to_bool_truncates,
    "shape_negative_bounds_clamped": shape_negative_bounds_clamped,
    "space_to_depth_crd_order": space_to_depth_crd_order,
    "prelu_1d_slope_per_channel": prelu_1d_slope_per_channel,
    "lrn_alpha_not_divided_by_size": lrn_alpha_not_divided_by_size,
    "pad_reflect_as_symmetric": pad_reflect_as_symmetric,
}
