"""A second, blind set of planted bugs for the graph fuzzer's mutation test (the format of bench/mutants_graph.py).

Written from the engine's code alone, without looking at the fuzzer: each `name(mp)` installs one realistic bug
with `mp.setattr` (a replaced or wrapped function, method or constant) on the layer that owns the behaviour, and
changes results only for some programs. `MORE` maps each name to (plant, layer, signature parts a finding would
plausibly carry).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


# ---------------------------------------------------------------------------------------------- tensor ops
def round_half_away_from_zero(mp: Any) -> None:
    """Tensor op round: a value exactly halfway between two integers rounds away from zero (C's round) instead of
    to the even neighbour (numpy's rule): round(2.5) gives 3.0 and round(-0.5) gives -1.0 (numpy: 2.0 and -0.0);
    every other value, and round with decimals where the scaled value is not a tie, is right."""
    from engine.dtype import dtypes
    from engine.tensor_ops import elementwise

    def round_(self: Any, decimals: int = 0) -> Any:
        if self.dtype == dtypes.bool:
            return self._float().round(decimals)
        if not self.dtype.is_float:
            if decimals < 0:
                raise NotImplementedError("round: negative decimals of an integer tensor")
            return self._new(self.uop)
        if decimals:
            scale = 10.0 ** decimals
            return (self * scale).round() / scale
        t = self.trunc()
        frac = (self - t).abs()
        away = frac >= 0.5  # the tie-to-even test ((frac == 0.5) & odd) lost
        return away.where((self > 0).where(t + 1, t - 1), t)

    mp.setattr(elementwise.ElementwiseMixin, "round", round_)


def getitem_int_not_advanced(mp: Any) -> None:
    """Tensor op indexing: an integer index is applied as basic indexing before the index arrays, so it does not
    count as an advanced index when deciding where the broadcast index dimensions go. numpy counts it: in
    x[0, :, [1, 2]] the advanced indices (0 and [1, 2]) are separated by a slice, so their dimension goes first
    (shape (2, 3) for x of shape (2, 3, 4)); here it stays in place (shape (3, 2); a square one is transposed).
    Adjacent int and array indices (x[:, 0, [1, 2]]), an int after the arrays, and indexing without arrays are
    right."""
    from engine.tensor_ops import movement

    orig = movement.MovementMixin.__getitem__

    def is_array(i: Any) -> bool:  # an integer index array (bool masks take the original path)
        if not movement._is_index_array(i):
            return False
        return i.dtype != movement.dtypes.bool if hasattr(i, "uop") else np.asarray(i).dtype != np.bool_

    def getitem(self: Any, index: Any) -> Any:
        items = list(index) if isinstance(index, tuple) else [index]
        plain = all(isinstance(i, (int, np.integer, slice)) and not isinstance(i, bool) or is_array(i) for i in items)
        ints = [k for k, i in enumerate(items) if isinstance(i, (int, np.integer)) and not isinstance(i, bool)]
        if not plain or not ints or not any(is_array(i) for i in items):
            return orig(self, index)
        first = orig(self, tuple(i if k in ints else slice(None) for k, i in enumerate(items)))
        return orig(first, tuple(i for k, i in enumerate(items) if k not in ints))

    mp.setattr(movement.MovementMixin, "__getitem__", getitem)


# ---------------------------------------------------------------------------------------------- scheduler
def pad_gate_dropped_in_fused_reduce(mp: Any) -> None:
    """Scheduler (rangeify): a PAD lowered inside a fused reduce's loops keeps only the validity gates of the loads
    under it and drops its own select (`where(valid, value, 0)`), taken for redundant there. Right where the padded
    value is a plain load (the gated load already reads 0), wrong where it is computed: sum((x + 1).pad(1)) adds
    1 for each padded element. Unfused, the padded value is a buffer, so the unfused schedule is right."""
    from engine import rangeify

    orig = rangeify._Lowerer._lower

    def _lower(self: Any, u: Any, idx: Any, valid: Any) -> Any:
        out = orig(self, u, idx, valid)
        if u.op is rangeify.Ops.PAD and self.reduce_deps and isinstance(out, tuple) and out[0] is rangeify._GATE:
            return (rangeify._SAME, out[1], None)
        return out

    mp.setattr(rangeify._Lowerer, "_lower", _lower)


def split_reduce_second_stage_sums(mp: Any) -> None:
    """Scheduler (split_large_reduces): a large reduce split in two stages combines its partials with ADD whatever
    the reduce op, so a split max or prod (a max over 2^15 elements into few values, or any reduce the fuzzer's
    split thresholds put through that path) sums the partial maxima/products. Split sums are right, and so is
    every unfused schedule (which never splits)."""
    from engine import rangeify
    from engine.shape import shape_of
    from engine.uop import Ops, UOp

    def split_large_reduces(sink: UOp) -> UOp:
        done: dict[UOp, UOp] = {}
        for u in sink.toposort:
            new_src = tuple(done[s] for s in u.src)
            v = u if new_src == u.src else UOp(u.op, u.dtype, new_src, u.arg)
            if u.op is Ops.REDUCE_AXIS:
                rop, axes = u.arg
                shape = shape_of(v.src[0])
                total, outputs = math.prod(shape[a] for a in axes), math.prod(shape_of(v))
                if total >= rangeify.SPLIT_REDUCE_MIN and outputs < rangeify.SPLIT_REDUCE_OUTPUTS:
                    a = max(axes, key=lambda i: shape[i])
                    d = next((f for f in rangeify.SPLIT_FACTORS if shape[a] % f == 0 and shape[a] > f
                              and total // f >= rangeify.SPLIT_PART_MIN
                              and outputs * f <= rangeify.SPLIT_MAX_PARTIALS), 0)
                    if d:
                        split = shape[:a] + (d, shape[a] // d) + shape[a + 1:]
                        inner = tuple(sorted(i + 1 if i >= a else i for i in axes))
                        part = UOp(Ops.REDUCE_AXIS, v.dtype, (UOp(Ops.RESHAPE, v.src[0].dtype, (v.src[0],), split),),
                                   (rop, inner))
                        whole = UOp(Ops.REDUCE_AXIS, v.dtype, (UOp(Ops.CONTIGUOUS, v.dtype, (part,)),),
                                    (Ops.ADD, (a,)))  # the bug: (rop, (a,))
                        v = UOp(Ops.RESHAPE, v.dtype, (whole,), shape_of(u))
            done[u] = v
        return done[sink]

    mp.setattr(rangeify, "split_large_reduces", split_large_reduces)


# ---------------------------------------------------------------------------------------------- codegen
def prod_lanes_combined_with_add(mp: Any) -> None:
    """Codegen (UNROLL/ACCUM opts): the lanes of an unrolled reduce and the partial accumulators of an ACCUM reduce
    are combined with ADD when the reduce is a product (the combine step handles sums and maxima and falls back to
    ADD), so prod over a reduce the opts split gives the sum of the partial products. Without opts, and for sums
    and max/min, the kernel is right; the default heuristic gives a contiguous row product of 8 or more ACCUM."""
    from engine.codegen import expand
    from engine.uop import Ops, UOp

    def _combine(red: UOp, lanes: list[UOp]) -> UOp:
        op = red.arg if red.arg in (Ops.ADD, Ops.MAX) else Ops.ADD
        out = lanes[0]
        for lane in lanes[1:]:
            out = UOp(op, red.dtype, (out, lane))
        return out

    mp.setattr(expand, "_combine", _combine)


def upcast_tail_not_gated(mp: Any) -> None:
    """Codegen (Opt UPCAST): an upcast whose amount does not divide the loop is accepted like LOCAL's split (the
    outer loop rounds up) but without LOCAL's clamp and store gate, so the tail lanes of the last iteration load
    and store past the end of the axis (the index proof rejects the kernel; unchecked, a neighbouring row or
    memory past the buffer is read and written). Upcasts that divide the loop, and every other opt, are right."""
    from engine.codegen.kernel import Kernel
    from engine.rewrite import substitute
    from engine.uop import Ops, UOp

    orig = Kernel._split

    def _split(self: Any, r: UOp, n: int, outer_kind: str, inner_kind: str) -> tuple[UOp, UOp]:
        end = r.src[0]
        if inner_kind != "upcast" or end.op is not Ops.CONST or n <= 1 or end.arg % n == 0 or end.arg < n:
            return orig(self, r, n, outer_kind, inner_kind)
        outer = UOp.range(-(-end.arg // n), r.arg[0], outer_kind)
        inner = UOp.range(n, self._next_axis, inner_kind)
        self._next_axis += 1
        self.ast = substitute(self.ast, {r: outer * n + inner})
        return outer, inner

    mp.setattr(Kernel, "_split", _split)


# ---------------------------------------------------------------------------------------------- symbolic
def lt_const_divided_rounds_down(mp: Any) -> None:
    """Symbolic (index): dividing an index comparison g*y < c by the common factor g of its terms rounds c/g down
    instead of up (the rounding of the `c < g*y` form, wrong here): 2*i < 5 becomes i < 2 where it is i < 3. Such
    conditions are the validity masks of a strided view that reaches into padding or into one input of a cat
    (cat([a, b])[::2], x.pad(...)[::2]): the last valid element before the padding or the next input is masked
    off (reads 0, or the other input's value). Conditions whose constant g divides, or that the loop bounds
    decide, are right."""
    from engine import symbolic
    from engine.dtype import dtypes
    from engine.uop import Ops, UOp

    def fold_cmp_const(op: Ops, x: UOp, c: int, const_left: bool) -> UOp | None:
        terms, k0 = symbolic.terms_of(x)
        if not terms:
            return None
        dt = x.dtype
        base = symbolic.build_sum(dt, terms, 0)
        rhs = c - k0
        if op in (Ops.CMPEQ, Ops.CMPNE):
            g = math.gcd(*terms.values())
            if g > 1:
                if rhs % g != 0:
                    return UOp.const(dtypes.bool, op is Ops.CMPNE)
                base, rhs = symbolic.build_sum(dt, {b: k // g for b, k in terms.items()}, 0), rhs // g
            if base is x and rhs == c:
                return None
            return UOp(op, dtypes.bool, (base, UOp.const(dt, rhs)))
        if dt.kind != "x":
            return None
        g = math.gcd(*terms.values())
        if g > 1:
            base = symbolic.build_sum(dt, {b: k // g for b, k in terms.items()}, 0)
            rhs = rhs // g  # the bug: -((-rhs) // g) when the constant is on the right
        if base is x and rhs == c:
            return None
        srcs = (UOp.const(dt, rhs), base) if const_left else (base, UOp.const(dt, rhs))
        return UOp(Ops.CMPLT, dtypes.bool, srcs)

    mp.setattr(symbolic, "fold_cmp_const", fold_cmp_const)


# ---------------------------------------------------------------------------------------------- renderers
def c_f64_const_single_precision(mp: Any) -> None:
    """C renderer: float64 constants are written with the `f` suffix of float32 literals, so the compiler rounds
    them to float32 before the double arithmetic uses them: 0.1 becomes 0.100000001490116..., and so does log2(e)
    inside exp, 1/n inside a mean of float64... Constants exact in float32 (0.5, 2.0, integers up to 2^24) and
    every float32 kernel are right."""
    from engine.dtype import dtypes
    from engine.renderer import c

    orig = c._const

    def _const(u: Any) -> str:
        s = orig(u)
        return s + "f" if u.dtype.scalar == dtypes.float64 and s[-1].isdigit() else s

    mp.setattr(c, "_const", _const)


def c_vector_descending_as_contiguous(mp: Any) -> None:
    """C renderer (Opt VECTOR lanes): a lane-dependent index of stride -1 (a flipped read) is taken as contiguous,
    like stride 1, so its lanes are loaded with one vector move from the first lane's address upward instead of
    downward: the lanes read the wrong elements (and past the end of the buffer). Loads of stride 1 or of any
    other stride, and every kernel without a vector loop, are right."""
    from engine.renderer import c

    def contiguous(self: Any, idx: Any) -> str | None:
        if len(idx.src) > 2 or idx.src[1] not in self.affine:
            return None
        base, stride = self.affine[idx.src[1]]
        return base if abs(stride) == 1 else None

    mp.setattr(c._Lanes, "contiguous", contiguous)


def llvm_int_extend_by_destination_sign(mp: Any) -> None:
    """LLVM renderer: widening one integer type to another picks sign or zero extension by the destination's
    signedness instead of the source's: int8 -1 to uint16 gives 255 (numpy: 65535), uint8 200 to int32 gives -56
    (numpy: 200), and a uint8 index tensor is sign-extended into the index type. Casts between types of one
    signedness, narrowing casts and the other backends are right."""
    from engine.renderer import llvm

    orig = llvm._Renderer.cast

    def cast(self: Any, x: str, s: Any, d: Any) -> str:
        s, d = llvm._check(s), llvm._check(d)
        if s.kind in "iux" and d.kind in "iux" and s.bits < d.bits:
            return self.tmp(f"{'zext' if d.kind == 'u' else 'sext'} {llvm.ssa_type(s)} {x} to {llvm.ssa_type(d)}")
        return orig(self, x, s, d)

    mp.setattr(llvm._Renderer, "cast", cast)


# ---------------------------------------------------------------------------------------------- PYTHON device
def python_bfloat16_rounds_as_half(mp: Any) -> None:
    """PYTHON device: the fast rounding of ALU results packs bfloat16 with the float16 struct format ('e'), so an
    op's bfloat16 result is rounded to float16's precision and range instead (values below float16's range flush
    toward 0, and intermediate results keep three bits too many: (a * b) + c in bfloat16 differs); the result is
    rounded to bfloat16 only when stored. Values too large for float16 fall back to the exact rounding; casts and
    fused multiply-adds go through engine.alu and are right, as are the other devices."""
    import struct

    from engine.alu import wrap
    from engine.runtime import python

    orig = python._fast_wrap

    def _fast_wrap(dtype: Any) -> Any:
        if dtype.scalar.name != "bfloat16":
            return orig(dtype)
        pack, unpack = struct.Struct("e").pack, struct.Struct("e").unpack

        def wrap_float(v: Any) -> float:
            try:
                return unpack(pack(v))[0]
            except OverflowError:
                return wrap(dtype.scalar, v)
        return wrap_float

    mp.setattr(python, "_fast_wrap", _fast_wrap)


# ---------------------------------------------------------------------------------------------- realize
def assign_snapshot_aliases_buffer(mp: Any) -> None:
    """Realize: before an in-place write (assign, setitem) runs, live lazy tensors that read the buffer's old
    contents are meant to read a copy taken before the write; the copy is elided (the "copy" is the buffer itself),
    so c = a + 1 built before a.assign(a * 2) is realized and computed after it sees the new contents (numpy, which
    is eager: the old ones). Tensors realized before the write, tensors realized in the same schedule as the write
    (the scheduler orders those), and programs without in-place writes are right."""
    from engine import realize as realize_mod
    from engine.rangeify import assign_target

    def _protect_old_readers(assigns: set[Any], scheduled: set[Any]) -> None:
        from engine.rewrite import substitute
        from engine.tensor import live_tensors

        written = {assign_target(s) for s in assigns}
        for t in live_tensors():
            if t.uop in scheduled:
                continue
            done = [s for s in assigns if s in t.uop.toposort]
            if done:  # the bug: readers of the old contents (BUFFER UOps of `written`) get no copy
                t.uop = substitute(t.uop, {s: s.src[0] for s in done})
        realize_mod._forget_results_over(written)

    mp.setattr(realize_mod, "_protect_old_readers", _protect_old_readers)


MORE = {
    "round_half_away_from_zero": (round_half_away_from_zero, "tensor op", ("numpy",)),
    "getitem_int_not_advanced": (getitem_int_not_advanced, "tensor op", ("numpy",)),
    "pad_gate_dropped_in_fused_reduce": (pad_gate_dropped_in_fused_reduce, "scheduler", ("numpy", "fusion")),
    "split_reduce_second_stage_sums": (split_reduce_second_stage_sums, "scheduler", ("numpy", "fusion", "split")),
    "prod_lanes_combined_with_add": (prod_lanes_combined_with_add, "codegen (opts)", ("opts", "numpy")),
    "upcast_tail_not_gated": (upcast_tail_not_gated, "codegen (opts)", ("opts", "SpecError")),
    "lt_const_divided_rounds_down": (lt_const_divided_rounds_down, "symbolic (index)", ("numpy", "SpecError")),
    "c_f64_const_single_precision": (c_f64_const_single_precision, "renderer C", ("device:CPU",)),
    "c_vector_descending_as_contiguous": (c_vector_descending_as_contiguous, "renderer C", ("device:CPU", "opts")),
    "llvm_int_extend_by_destination_sign": (llvm_int_extend_by_destination_sign, "renderer LLVM", ("device:LLVM",)),
    "python_bfloat16_rounds_as_half": (python_bfloat16_rounds_as_half, "device PYTHON", ("device:PYTHON",)),
    "assign_snapshot_aliases_buffer": (assign_snapshot_aliases_buffer, "realize", ("numpy",)),
}
