"""A fourth blind set of planted bugs for the graph fuzzer's mutation test ("blind4"), written from the engine's code
alone (engine/), without reading the fuzzer, its oracles, the tests or the earlier mutant sets (only the format of
bench/mutants_graph_blind3.py): what the fuzzer finds here measures it against bugs written with no knowledge of how
it generates programs. This set aims at the layers and ops the earlier sets touched least: the nn ops' argument
handling (grouped conv_transpose2d, windows with a stride larger than the kernel), reductions built from other ops
(integer min, multi-axis var/std), item assignment with a negative step, realize boundaries of unfused schedules,
multi-device tensors (flips and sharded products), dtype rules of unary float ops on 16-bit ints, and narrow-float
code in the renderers (float16 division in the C dialects, fp8 e4m3 in the LLVM backend) and the PYTHON device's
64-bit integers.

How each bug is planted (each function's docstring says what is wrong and which programs it changes):
  - a module-level function replaced by a copy with the bug, or wrapped, where its callers look it up through the
    module (engine.tensor_ops.nn._window_last, engine.tensor_ops.setitem._place, engine.multi._flip and _reduce,
    engine.tensor._small_int_float, engine.renderer.c._alu_expr, engine.runtime.python._write_back, and
    engine.rangeify.schedule together with engine.realize's own `schedule` name);
  - a method replaced on its class (NNMixin.conv_transpose2d, Tensor.min, ReduceMixin._var), the buggy case
    handled here and every other case passed on to the original;
  - engine.renderer.llvm's helper table replaced by a copy whose float -> e4m3 helper has the bug.
`MORE` maps each name to (function, layer, the parts a finding's signature would plausibly carry). Every bug leaves
most programs right: it needs some op, argument, dtype, device, fusion mode or shard layout.
"""
from __future__ import annotations

from typing import Any


# ---------------------------------------------------------------------------------------------------- nn ops
def conv_transpose_groups_interleaved(mp: Any) -> None:
    """engine/tensor_ops/nn.py `conv_transpose2d`: with groups > 1 the weight's input channels (its first axis, of
    groups * cin_g) are assigned to the groups interleaved, channel c to group c % groups, instead of in contiguous
    blocks (channels g*cin_g .. g*cin_g + cin_g - 1 to group g, as torch and the input's channels are grouped): the
    kernel that input channel i of group g meets is the weight's row i*groups + g instead of g*cin_g + i. Right for
    groups=1 and for one input channel per group (cin_g = 1, depthwise); wrong for a grouped transposed convolution
    with two or more input channels per group, whatever its stride, padding or dilation."""
    from engine.tensor_ops.nn import NNMixin

    orig = NNMixin.conv_transpose2d

    def conv_transpose2d(self: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
                         output_padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Any:
        if groups > 1 and weight.ndim >= 3 and weight.shape[0] % groups == 0 and weight.shape[0] // groups > 1:
            cin_g = weight.shape[0] // groups
            # BUG: row g*cin_g + i of the grouped weight is taken from row i*groups + g
            weight = weight.reshape((cin_g, groups) + weight.shape[1:]).transpose(0, 1).reshape(weight.shape)
        return orig(self, weight, bias, stride, padding, output_padding, dilation, groups)

    mp.setattr(NNMixin, "conv_transpose2d", conv_transpose2d)


def strided_window_keeps_block_tail(mp: Any) -> None:
    """engine/tensor_ops/nn.py `_window_last`: the path for non-overlapping windows (dilation 1, stride s larger than
    the kernel k) splits the axis into blocks of s and keeps the last k elements of each block instead of the first
    k, so window o reads x[o*s + s - k + j] instead of x[o*s + j] (and the last window may read the zero padding
    past the end). Right where the kernel equals the stride (the common pooling case) and for overlapping windows;
    wrong for conv2d, max_pool2d and avg_pool2d whose stride exceeds the kernel on some axis (a 1x1 conv with stride
    2, max_pool2d(2, stride=3), a (1, 3) kernel with stride (2, 2))."""
    from engine.tensor_ops import nn

    orig = nn._window_last

    def _window_last(x: Any, k: int, s: int, d: int) -> Any:
        i = x.shape[-1]
        o = (i - d * (k - 1) - 1) // s + 1
        if d != 1 or k >= s or o <= 0:
            return orig(x, k, s, d)
        lead = x.shape[:-1]
        last: list[Any] = [None] * len(lead)
        x = x.pad([(0, 0)] * len(lead) + [(0, o * s - i)]) if o * s > i else x.shrink(last + [(0, o * s)])
        return x.reshape(lead + (o, s)).shrink(last + [None, (s - k, s)])  # BUG: the block's last k, not its first

    mp.setattr(nn, "_window_last", _window_last)


# ---------------------------------------------------------------------------------------------------- reductions
def int_min_through_negation(mp: Any) -> None:
    """engine/tensor.py `Tensor.min`: integer tensors take the float path, -max(-x), instead of ~max(~x). Negation
    wraps: an unsigned 0 stays 0 (the smallest -x, not the largest) and a signed dtype's minimum stays itself. Right
    for floats, bools, and ints whose reduced values contain neither 0 (unsigned) nor the dtype's minimum (signed);
    wrong for min (and argmin, which compares with min) of an unsigned tensor holding 0 next to nonzero values (the
    min comes out as the smallest nonzero value; argmin then picks its index), and of a signed one holding -128
    (int8), -32768 (int16), ... next to other values."""
    from engine.tensor import Tensor

    orig = Tensor.min

    def min_(self: Any, axis: Any = None, keepdim: bool = False) -> Any:
        if self.dtype.kind in "iu":
            return (-self).max(axis, keepdim).__neg__()  # BUG: -x wraps at 0 (unsigned) and at the minimum
        return orig(self, axis, keepdim)

    mp.setattr(Tensor, "min", min_)


def var_count_first_axis_only(mp: Any) -> None:
    """engine/tensor_ops/reduce.py `_var` (var and std): the count in the denominator, n - ddof, takes n as the size
    of the first reduced axis instead of the product of all reduced axes (the mean inside is right). Right for 1-d
    inputs and for var/std over one axis; wrong for var and std over two or more axes of size > 1 (axis=None on a
    2-d or larger input, a tuple of axes), with any ddof and keepdim: the result is scaled by
    (N - ddof) / (n_first - ddof), or is inf/NaN where n_first <= ddof."""
    from engine.tensor import _axes
    from engine.tensor_ops.reduce import ReduceMixin

    def _var(self: Any, axis: Any, keepdim: bool, ddof: int) -> Any:
        x = self._stat_float()
        axes = _axes(axis, self.ndim)
        n = self.shape[axes[0]] if axes else 1  # BUG: only the first reduced axis is counted
        d = x - x.mean(axis, keepdim=True)
        ss = (d * d).sum(axis, keepdim)
        div = max(n - ddof, 0)
        return ss / div if div else ss / 0.0

    mp.setattr(ReduceMixin, "_var", _var)


# ---------------------------------------------------------------------------------------------------- setitem
def setitem_negative_step_not_reversed(mp: Any) -> None:
    """engine/tensor_ops/setitem.py `_place`: for a basic index with a negative step (x[::-1] = v, x[5:1:-2] = v),
    the selected positions are walked upward from the lowest one, but the value is not flipped to match, so v's
    first element lands at the lowest selected position instead of the highest. The mask of selected positions is
    right, so only the order of the written values is wrong. Right for positive steps, for scalar values and for
    values constant along the reversed axis; wrong for `__setitem__` with a negative-step slice (n > 1 positions)
    and a value that varies along that axis (in place, as assign: the tensor and everything read from it later)."""
    from engine.tensor_ops import setitem

    def _place(t: Any, spec: list, shape: tuple) -> Any:
        for d, ((start, step, n, _), s) in enumerate(zip(spec, shape)):
            if n > 1 and step < 0:  # BUG: the positions are walked upward, the values are not flipped to match
                start, step = start + (n - 1) * step, -step
            if n > 1 and step > 1:
                t = t.unsqueeze(d + 1).pad([(0, step - 1) if a == d + 1 else (0, 0) for a in range(t.ndim + 1)])
                t = t.flatten(d, d + 1).shrink([(0, (n - 1) * step + 1) if a == d else None for a in range(t.ndim)])
            span = t.shape[d]
            t = t.pad([(start, s - start - span) if a == d else (0, 0) for a in range(t.ndim)])
        return t

    mp.setattr(setitem, "_place", _place)


# ---------------------------------------------------------------------------------------------------- scheduler
def unfused_permute_root_aliased(mp: Any) -> None:
    """engine/rangeify.py `schedule`: in an unfused schedule (fuse=False, FUSE=0) a requested tensor that is a
    PERMUTE of a computed UOp is treated like a RESHAPE of one: no copy kernel, the result is a view of the computed
    UOp's buffer with the permuted shape, so its elements come out in the source's row-major order instead of
    permuted (what a reshape of the same shape would give). Right in fused schedules (the kernel stores the permuted
    order), for reshapes and for permutes of a buffer or of a movement op; wrong for an unfused realize whose output
    is a transpose/permute of a computed value ((a + b).T, x.sum(0).permute(...), (x * 2).transpose(0, 1)) with two
    or more axes of size > 1 moved."""
    from engine import rangeify, realize
    from engine.shape import shape_of
    from engine.uop import Ops, UOp

    orig = rangeify.schedule

    def schedule(roots: list, device: str, realized_map: Any = None, fuse: Any = None,
                 root_devices: Any = None) -> tuple[list, dict]:
        if (rangeify.fuse_default() if fuse is None else fuse):
            return orig(roots, device, realized_map, fuse, root_devices)
        swapped: dict[Any, Any] = {}
        new_roots = []
        for r in roots:
            if r.op is Ops.PERMUTE and rangeify._computes(r.src[0]):
                # BUG: a permuted root is aliased as if it were a reshape of its source's buffer
                swapped[r] = UOp(Ops.RESHAPE, r.dtype, (r.src[0],), shape_of(r))
            new_roots.append(swapped.get(r, r))
        items, views = orig(new_roots, device, realized_map, fuse, root_devices)
        for r, nr in swapped.items():
            views[r] = views[nr]
        return items, views

    mp.setattr(rangeify, "schedule", schedule)
    mp.setattr(realize, "schedule", schedule)


# ---------------------------------------------------------------------------------------------------- dtypes
def int16_ufunc_computes_in_half(mp: Any) -> None:
    """engine/tensor.py `_small_int_float`: the float dtype a unary float op gives a small int tensor is float16 for
    every int of up to 2 bytes, where numpy gives float16 only for 1-byte ints and bools and float32 for int16 and
    uint16. Right for bool, int8, uint8 and ints of 4 or 8 bytes (float64); wrong for sqrt, exp, log, sin, cos,
    tanh, sigmoid, ... (and avg_pool2d, batchnorm, layernorm) of int16 and uint16 tensors: the result's dtype is
    float16 instead of float32 and its values are rounded to float16 (any |x| over 2048 loses its low bits; exp
    overflows to inf from 11.1)."""
    from engine import tensor
    from engine.dtype import dtypes

    def _small_int_float(dt: Any) -> Any:
        return dtypes.float16 if dt.itemsize <= 2 else dtypes.float32  # BUG: numpy's float16 is for 1-byte ints

    mp.setattr(tensor, "_small_int_float", _small_int_float)


# ---------------------------------------------------------------------------------------------------- multi-device
def shard_flip_multi_axis_order_kept(mp: Any) -> None:
    """engine/multi.py `_flip`: a flip of a tensor split along an axis reverses each shard and, where the split axis
    is flipped, must reverse the order of the shards too; here that is decided by the first flipped axis only
    (axes[0] == axis), so a flip of several axes in which the split axis is not the lowest keeps the shards in
    their order: the pieces along the split axis come out flipped within each piece but not between them. Right for
    a flip of the split axis alone, of axes that do not include it, of replicated tensors, and of several axes whose
    lowest is the split axis; wrong for flip((0, 1)) of a tensor sharded on axis 1, flip() of all axes of a tensor
    sharded on an axis other than the first (of size > 1), and so on, over two or more devices."""
    from engine import multi
    from engine.uop import Ops

    def _flip(m: Any, axes: tuple) -> Any:
        out = multi._per_shard(m, m.axis, lambda s, i: multi._movement(s, Ops.FLIP, axes))
        if axes and m.axis == axes[0]:  # BUG: only the first flipped axis is compared with the split axis
            out = multi.MultiTensor(out.shards[::-1], m.axis)
        return out

    mp.setattr(multi, "_flip", _flip)


def sharded_prod_partials_summed(mp: Any) -> None:
    """engine/multi.py `_reduce`: a reduce over the split axis all-reduces the shards' partial results with the
    reduce's own op; here a product (REDUCE MUL) is all-reduced with ADD (the code was written for sum and max), so
    the partial products of the shards are added instead of multiplied. Right for sum, mean, max, min, any, all,
    for products over axes the tensor is not split on and for replicated tensors; wrong for prod over the split
    axis of a tensor sharded over two or more non-empty pieces (the result is the sum of the pieces' products), on
    either all-reduce strategy."""
    from engine import multi
    from engine.tensor import Tensor
    from engine.uop import Ops, UOp

    orig = multi._reduce

    def _reduce(m: Any, arg: tuple) -> Any:
        op, axes = arg
        if op is not Ops.MUL or m.axis is None or m.axis not in axes:
            return orig(m, arg)
        parts = [Tensor(UOp(Ops.REDUCE_AXIS, s.dtype, (s.uop,), arg), device=s.device) for s in m.shards
                 if s.shape[m.axis]]
        if len(parts) < 2:
            return orig(m, arg)
        done = {p.device: p for p in multi.allreduce(parts, Ops.ADD)}  # BUG: partial products combined with ADD
        first = next(iter(done.values()))
        return multi.MultiTensor([done[d] if d in done else first.to(d) for d in m.devices], None)

    mp.setattr(multi, "_reduce", _reduce)


# ---------------------------------------------------------------------------------------------------- renderers
def c_half_division_excess_precision(mp: Any) -> None:
    """engine/renderer/c.py `_alu_expr`: the quotient of an FDIV of a narrow float dtype (float16, bfloat16, fp8),
    held in a `float` register, is not rounded to its dtype (every other narrow-float op is), so it keeps float32
    precision until it is stored. Right where the quotient is stored as it is (the store rounds it once: the same
    value), in unfused schedules (each op stored) and for float32/float64; wrong on the C dialects (CPU; also
    CUDA/OpenCL) where a fused kernel uses a float16/bfloat16/fp8 quotient in further arithmetic or a comparison
    ((a / b) * c, a / b + c, (a / b) < c, x / y summed): the next op sees the unrounded quotient (numpy rounds it to
    the dtype first), so results are off by an ulp of the dtype or more in many elements."""
    from engine.renderer import c
    from engine.uop import Ops

    orig = c._alu_expr

    def _alu_expr(u: Any, srcs: list[str], d: Any) -> str:
        if u.op is Ops.FDIV and u.dtype.scalar.name in c._ROUND:
            return c._alu(u, srcs) if d is c.C else c._alu(u, srcs, d)  # BUG: not rounded to the narrow dtype
        return orig(u, srcs, d)

    mp.setattr(c, "_alu_expr", _alu_expr)


def llvm_e4m3_subnormals_one_binade_low(mp: Any) -> None:
    """engine/renderer/llvm.py, the float -> float8_e4m3fn helper (`uf_f2e4m3`): the least normal magnitude it
    compares with is 2^-7 instead of 2^-6, so magnitudes in [2^-7, 2^-6) (about 0.0078 to 0.0156; what rounds into
    that range) take the normal path and get exponent field 0, which e4m3 reads as a subnormal: 2^-7 * (1 + m/8)
    comes back as 2^-6 * m/8 (2^-7 itself as 0). Right for every other magnitude, for float8_e5m2, and on the
    other devices; wrong on LLVM for every value rounded to float8_e4m3fn in that range: casts to e4m3, and the
    result of each e4m3 op (an e4m3 product of two values near 0.1, a small difference)."""
    from engine.renderer import llvm

    good = "icmp uge i32 %a, " + str((128 - 7) << 23)
    helpers = dict(llvm._HELPERS)
    assert good in helpers["f2e4m3"]
    # BUG: the normal range starts one binade low
    helpers["f2e4m3"] = helpers["f2e4m3"].replace(good, "icmp uge i32 %a, " + str((127 - 7) << 23))
    mp.setattr(llvm, "_HELPERS", helpers)


# ---------------------------------------------------------------------------------------------------- PYTHON device
def python_int64_written_through_float64(mp: Any) -> None:
    """engine/runtime/python.py `_write_back`: the interpreter's values of an int64 or uint64 output buffer are
    copied back through a float64 array (as float buffers are) instead of in their own dtype, so a 64-bit result
    of magnitude over 2^53 loses its low bits (2^64 - 1 becomes 2^64, which the conversion back to uint64 does not
    hold). Right for every other dtype and for 64-bit values under 2^53; wrong on PYTHON and PYTHON_GPU for int64 or
    uint64 results that large: wrapped differences of uint64 (x - y with y > x), ~x of uint64, int64 products that
    wrap, large int64 data passed through a kernel."""
    import numpy as np

    from engine.runtime import python

    def _write_back(buf: Any, values: list) -> None:
        native = python._NATIVE - {np.dtype("int64"), np.dtype("uint64")}  # BUG: 64-bit ints go through float64
        tmp = np.float64 if buf.dtype.kind == "f" or buf.dtype not in native else buf.dtype
        with np.errstate(invalid="ignore", over="ignore"):
            buf.reshape(-1)[...] = np.array(values, dtype=tmp).astype(buf.dtype)

    mp.setattr(python, "_write_back", _write_back)


MORE = {
    "conv_transpose_groups_interleaved": (conv_transpose_groups_interleaved, "nn ops (conv_transpose2d groups)",
                                          ("numpy", "conv_transpose2d", "groups")),
    "strided_window_keeps_block_tail": (strided_window_keeps_block_tail, "nn ops (windows: stride > kernel)",
                                        ("numpy", "conv2d", "max_pool2d", "avg_pool2d", "stride")),
    "int_min_through_negation": (int_min_through_negation, "reductions (integer min)",
                                 ("numpy", "min", "argmin", "uint8", "int8")),
    "var_count_first_axis_only": (var_count_first_axis_only, "reductions (var/std)", ("numpy", "var", "std")),
    "setitem_negative_step_not_reversed": (setitem_negative_step_not_reversed, "setitem (basic index)",
                                           ("numpy", "setitem", "assign")),
    "unfused_permute_root_aliased": (unfused_permute_root_aliased, "scheduler (realize boundary, unfused)",
                                     ("numpy", "fusion", "unfused", "fuse=False")),
    "int16_ufunc_computes_in_half": (int16_ufunc_computes_in_half, "dtype semantics (unary float ops of ints)",
                                     ("numpy", "dtype", "int16", "uint16", "float16")),
    "shard_flip_multi_axis_order_kept": (shard_flip_multi_axis_order_kept, "multi-device (flip)",
                                         ("numpy", "shard", "flip")),
    "sharded_prod_partials_summed": (sharded_prod_partials_summed, "multi-device (sharded reduce)",
                                     ("numpy", "shard", "prod", "allreduce")),
    "c_half_division_excess_precision": (c_half_division_excess_precision, "renderer C (narrow floats)",
                                         ("numpy", "device:CPU", "fusion", "float16", "bfloat16")),
    "llvm_e4m3_subnormals_one_binade_low": (llvm_e4m3_subnormals_one_binade_low, "renderer LLVM (fp8)",
                                            ("numpy", "device:LLVM", "float8_e4m3fn")),
    "python_int64_written_through_float64": (python_int64_written_through_float64, "device PYTHON (buffers)",
                                             ("numpy", "device:PYTHON", "PYTHON_GPU", "int64", "uint64")),
}
