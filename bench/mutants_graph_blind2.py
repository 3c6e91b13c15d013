"""A third blind set of planted bugs for the graph fuzzer's mutation test, written from the engine's code alone
(engine/), without reading the fuzzer, its oracles or the earlier mutant sets: what the fuzzer finds here measures it
against bugs written with no knowledge of how it generates programs.

Each function plants one bug with `mp.setattr` (a pytest MonkeyPatch or anything with that method); its docstring
says what is wrong and which programs it changes (numpy's answer vs the planted one). `MORE` maps each name to
(function, layer, the parts a finding's signature would plausibly carry). Every bug leaves most programs right: it
needs some dtype, shape, sign, fusion pattern, opt or device.
"""
from __future__ import annotations

from typing import Any


# ---------------------------------------------------------------------------------------------------- tensor ops
def floordiv_exact_negative_adjusted(mp: Any) -> None:
    """Integer floor division (`//` of signed int tensors) adjusts C's truncating quotient down by one whenever the
    operands' signs differ, without first checking that the remainder is nonzero. Exact divisions with one negative
    operand come out one too small: numpy -6 // 3 == -2 and 6 // -3 == -2, planted -3; inexact ones (-7 // 3 == -3)
    and same-sign or unsigned divisions stay right. `%` is untouched."""
    import engine.tensor as t
    from engine.uop import Ops, UOp

    def planted(a: Any, b: Any) -> Any:
        if a.dtype.is_float:
            q = a / b
            tr = q._unary(Ops.TRUNC)
            return (q < tr).where(tr - 1, tr)
        q = a._new(UOp(Ops.IDIV, a.dtype, (a.uop, b.uop)))
        if a.dtype.is_unsigned:
            return q
        adjust = (a < 0) ^ (b < 0)  # BUG: a remainder of 0 needs no adjustment
        return adjust.where(q - 1, q)

    mp.setattr(t, "_floordiv", planted)


def promote_int32_uint32_stays_32bit(mp: Any) -> None:
    """Dtype promotion of int32 with uint32 gives int32 (a promotion table that keeps the width of mixed-sign pairs);
    numpy gives int64. Every binary op, where, cat, matmul and einsum mixing int32 and uint32 tensors has the wrong
    result dtype, and uint32 values from 2**31 up wrap negative: numpy uint32 3000000000 + int32 1 == 3000000001
    (int64), planted -1294967295 (int32). Every other pair promotes as before."""
    import engine.dtype as d
    import engine.tensor as t
    import engine.tensor_ops.movement as mv
    import engine.tensor_ops.nn as nn

    orig = d.promote

    def planted(a: Any, b: Any) -> Any:
        if {a.scalar.name, b.scalar.name} == {"int32", "uint32"}:
            return d.dtypes.int32
        return orig(a, b)

    for mod in (d, t, mv, nn):
        mp.setattr(mod, "promote", planted)


# ---------------------------------------------------------------------------------------------------- scheduler
def reduce_axes_share_range_id(mp: Any) -> None:
    """The scheduler gives all the loop ranges of one reduce the same axis id (its counter steps once per reduce, not
    once per reduced axis). RANGEs are interned by (size, axis id, kind), so reduced axes of equal size become one loop
    and the reduce runs over their diagonal only: Tensor(arange(18).reshape(2, 3, 3)).sum((1, 2)), numpy [36, 117],
    planted [12, 39] (x[:, 0, 0] + x[:, 1, 1] + x[:, 2, 2]); a full sum, mean or var of a square (n, n) tensor and a
    conv with a square kernel (kh and kw reduce together) likewise. Reduces over one axis, or over axes of different
    sizes, stay right, fused or not."""
    import math

    import engine.rangeify as rf
    from engine.alu import reduce_identity
    from engine.dtype import dtypes
    from engine.shape import shape_of
    from engine.uop import UOp

    def planted(self: Any, u: Any, idx: Any, valid: Any) -> Any:
        rop, axes = u.arg
        src_shape = shape_of(u.src[0])
        deps = rf._index_ranges(idx, valid)
        deepest = max((k for k, r in enumerate(self.enclosing) if r in deps), default=-1)
        factor = math.prod(r.src[0].arg for r in self.enclosing[:deepest + 1] if r not in deps)
        if factor > 1 and u is not self.root:
            dep_dims = [self.loop_order[r.arg[0]] for r in self.enclosing if r in deps and r.arg[1] == "loop"]
            raise rf._NeedsRealize(u, self.root, dep_dims)
        evaluations = math.prod(r.src[0].arg for r in self.enclosing[:deepest + 1])
        if evaluations > math.prod(shape_of(u)) and u is not self.root:
            raise rf._NeedsRealize(u, self.root, [])
        if u is not self.root and math.prod(src_shape[a] for a in axes) >= rf.NESTED_REDUCE_MAX and \
                any(r.arg[1] == "reduce" and r in deps for r in self.enclosing):
            raise rf._NeedsRealize(u, self.root, [])
        ranges: list[Any] = []
        new = list(idx)
        if any(src_shape[a] == 0 for a in axes):
            return UOp.const(u.dtype, reduce_identity(rop, u.dtype))
        for a in axes:
            if src_shape[a] == 1:
                new[a] = UOp.const(dtypes.index, 0)
                continue
            r = UOp.range(src_shape[a], self.next_axis, "reduce")
            ranges.append(r)
            new[a] = r
        self.next_axis += 1  # BUG: once per reduce, so equal-sized axes get one RANGE
        self.enclosing.extend(ranges)
        self.reduce_deps.append(deps)
        return (rf._REDUCE, [(u.src[0], tuple(new), valid)], (u, ranges))

    mp.setattr(rf._Lowerer, "_reduce", planted)


def reshape_merge_stride_by_size(mp: Any) -> None:
    """Lowering a reshape that merges dims (a flatten), the scheduler finds each source dim's stride with
    `sub.index(size)`: the position of the first dim of that size, not of this dim. Where a merged run of dims repeats
    a size, the later dim gets the earlier one's stride and reads the wrong element: (Tensor(arange(9).reshape(3, 3))
    + 1).reshape(9), numpy [1 2 ... 9], planted [1 1 1 5 5 5 9 9 9]; (2, 3, 2) -> (12,) likewise. The lazy arange
    (engine/tensor_ops/elementwise.py `_iota`, a (2, 2, ..., 2) sum flattened) is such a reshape, so arange, argmax,
    argmin and cumsum are wrong too. Merges of distinct sizes, splits and buffer views stay right."""
    import math

    import engine.rangeify as rf
    from engine.dtype import dtypes
    from engine.uop import UOp

    def planted(idx: Any, shape: Any, src_shape: Any) -> Any:
        if math.prod(shape) == 0:
            return tuple(UOp.const(dtypes.index, 0) for _ in src_shape)
        new: list[Any] = []
        for a0, a1, b0, b1 in rf._reshape_groups(src_shape, shape):
            sub = src_shape[a0:a1]
            if sub == shape[b0:b1]:
                new.extend(idx[b0:b1])
                continue
            flat = rf.flat_index(idx[b0:b1], shape[b0:b1])
            total = max(math.prod(sub), 1)
            strides = rf._strides(sub)
            for s in sub:
                st = strides[sub.index(s)]  # BUG: the first dim of this size, not this dim
                new.append(UOp.const(dtypes.index, 0) if s == 1 else (flat // st) % s if st * s < total
                           else flat // st)
        return tuple(new)

    mp.setattr(rf, "_reshape_index", planted)


# ---------------------------------------------------------------------------------------------------- symbolic
def shr_to_div_negative(mp: Any) -> None:
    """The simplifier rewrites x >> c into x // 2**c for any integer x, dropping the rule's check that x is
    nonnegative. An arithmetic right shift floors while IDIV truncates, so signed right shifts of negative values that
    are not multiples of 2**c come out one too large on every device: numpy int32 [-7, -8, 7] >> 1 == [-4, -4, 3],
    planted [-3, -4, 3]. Unsigned shifts, nonnegative values and left shifts stay right."""
    import engine.symbolic as sym
    from engine.rewrite import Rule

    rule = next(r for r in sym.symbolic.rules if r.name == "shr_to_div")
    new = Rule(rule.pat, lambda x, c: x // (1 << c.arg) if 0 <= c.arg < x.dtype.bits else None, rule.name,
               rule.late)
    # kernel_rules (symbolic + index_rules) shares the Rule objects, so both see the planted rule
    mp.setattr(rule, "fn", new.fn)
    mp.setattr(rule, "apply", new.apply)


# ---------------------------------------------------------------------------------------------------- codegen
def unroll_invariant_lanes_deduped(mp: Any) -> None:
    """Expanding an UNROLL or ACCUM split of a reduce, lanes that come out as the same UOp are kept once (a CSE of the
    lanes that forgets each lane is one more term of the reduce). A reduce body that does not depend on the unrolled
    range (a sum over a broadcast axis) then counts one lane instead of n: Tensor(x).reshape(8, 1).expand(8, 5).sum(1)
    with the default opts (UPCAST + UNROLL 5), numpy 5*x, planted x. Max is unchanged (idempotent), and without opts
    (no unroll) or with a body that varies along the reduce every result is right."""
    import engine.codegen.expand as ex
    from engine.dtype import dtypes
    from engine.rewrite import substitute
    from engine.uop import UOp

    def planted(u: Any, r: Any) -> list[Any]:
        n = r.src[0].arg
        lanes = [substitute(u, {r: UOp.const(dtypes.index, c)}) for c in range(n)]
        return list(dict.fromkeys(lanes))  # BUG: equal lanes are still n terms of the reduce

    mp.setattr(ex, "_lanes", planted)


def fused_unroll_chain_drops_partial(mp: Any) -> None:
    """Adding a chain of MULACCs onto an accumulator (engine/codegen/expand.py `onto`: the unrolled lanes of a float32
    sum of products, added to the reduce's register by the linearizer), the chain's last multiply-add is put onto the
    accumulator directly instead of threading the accumulator through the rest of the chain: of each unrolled group
    only the last product is added. Float32 sums of products over several axes whose innermost one the default opts
    UNROLL (a conv's kernel width 2..7, an einsum contracting two axes, the last small) lose most of their terms:
    Tensor(x (1, 2, 5, 5)).conv2d(Tensor(w (3, 2, 3, 3))) float32 differs from numpy by up to ~8. A matmul whose
    whole (small) reduce is unrolled has no accumulator and stays right, as do float64 and integer sums, sums that
    are not of products, and kernels built without opts."""
    import engine.codegen.expand as ex
    import engine.codegen.linearize as lin
    from engine.uop import Ops, UOp

    def planted(acc: Any, value: Any, src: Any = lambda x: x,
                make: Any = lambda op, dt, s: UOp(op, dt, s)) -> Any:
        dt = acc.dtype
        if value.op is Ops.MUL and value.dtype == dt:
            return make(Ops.MULACC, dt, (src(value.src[0]), src(value.src[1]), acc))
        if value.op is Ops.MULACC and value.dtype == dt:
            return make(Ops.MULACC, dt, (src(value.src[0]), src(value.src[1]), acc))  # BUG: drops value.src[2]
        return make(Ops.ADD, dt, (acc, src(value)))

    mp.setattr(ex, "onto", planted)
    mp.setattr(lin, "onto", planted)


# ---------------------------------------------------------------------------------------------------- renderer C
def c_trunc_through_int32(mp: Any) -> None:
    """The C renderer writes TRUNC of a float as a round trip through a 32-bit int, `(float)(int32_t)x`, instead of
    truncf/trunc. Right for |x| < 2**31; values beyond it, infinities and NaN come back as INT_MIN (-2147483648), and
    -0.5 truncates to +0.0. Every op built on TRUNC is hit on the CPU device: floor, ceil, round, trunc, float // and
    float %: numpy floor([1e10, inf, nan, -2.5]) == [1e10, inf, nan, -3], planted [-2147483648, -2147483648,
    -2147483648, -3]. LLVM and PYTHON stay right."""
    import engine.renderer.c as c
    from engine.uop import Ops

    orig = c._alu

    def planted(u: Any, s: list[str], d: Any = c.C) -> str:
        if u.op is Ops.TRUNC and d is c.C:
            return f"(({c.ctype(u.dtype, d)})(int32_t){s[0]})"
        return orig(u, s) if d is c.C else orig(u, s, d)

    mp.setattr(c, "_alu", planted)


def c_pow_exp2_log2(mp: Any) -> None:
    """The C renderer computes POW as exp2(b * log2(a)) (a fast-math pow), not powf/pow. Negative bases give NaN even
    for integer exponents, 0 ** 0 gives NaN, and positive bases lose a few ulps: numpy float32 [-2, -3, 0] ** [2, 3,
    0] == [4, -27, 1], planted [nan, nan, nan]. Only float `**` (and ops built on it) on the CPU device; positive
    bases stay within float tolerance, LLVM and PYTHON stay right."""
    import engine.renderer.c as c
    from engine.uop import Ops

    orig = c._alu

    def planted(u: Any, s: list[str], d: Any = c.C) -> str:
        if u.op is Ops.POW and d is c.C:
            return f"{c._fn(u.dtype, 'exp2', d)}({s[1]} * {c._fn(u.dtype, 'log2', d)}({s[0]}))"
        return orig(u, s) if d is c.C else orig(u, s, d)

    mp.setattr(c, "_alu", planted)


# ---------------------------------------------------------------------------------------------------- renderer LLVM
def llvm_unsigned_compare_signed(mp: Any) -> None:
    """The LLVM renderer picks the icmp predicate's signedness with `dt.kind in "iux"`, so unsigned integers compare
    as signed (slt/sle instead of ult/ule). Comparisons of uint values with the top bit set flip: numpy uint8
    [200, 5] < [100, 100] == [False, True], planted [True, True]; also where/clip/relu-style selects built on < and
    > of unsigned tensors. Equality, signed and float comparisons, and unsigned max/min stay right; only the LLVM
    device."""
    import engine.renderer.llvm as ll

    def planted(self: Any, op: Any, dt: Any, a: str, b: str) -> str:
        t = ll.ssa_type(dt)
        if dt.kind == "f":
            pred = {ll.Ops.CMPLT: "olt", ll.Ops.CMPLE: "ole", ll.Ops.CMPNE: "une", ll.Ops.CMPEQ: "oeq"}[op]
            return self.tmp(f"fcmp {pred} {t} {a}, {b}")
        sign = "s" if dt.kind in "iux" else "u"  # BUG: "u" (unsigned) is not signed
        pred = {ll.Ops.CMPLT: f"{sign}lt", ll.Ops.CMPLE: f"{sign}le", ll.Ops.CMPNE: "ne", ll.Ops.CMPEQ: "eq"}[op]
        return self.tmp(f"icmp {pred} {t} {a}, {b}")

    mp.setattr(ll._Renderer, "compare", planted)


# ---------------------------------------------------------------------------------------------------- device PYTHON
def python_float_overflow_positive_inf(mp: Any) -> None:
    """The PYTHON device's fast float16/float32 rounding (`_fast_wrap`) turns a value that overflows the dtype (where
    struct's pack raises: the float16 format; float32 packs to inf by itself on Python 3.11) into +inf whatever its
    sign. float16 arithmetic that overflows toward -inf comes out +inf: numpy float16 [-60000, 60000] * 2 ==
    [-inf, inf], planted [inf, inf]; float16 -40000 - 40000 likewise. float32, float64, casts (rounded through
    exec_alu) and results in range stay right; only the PYTHON device."""
    import math
    import struct

    import engine.runtime.python as py

    orig = py._fast_wrap

    def planted(dtype: Any) -> Any:
        fmt = {"float32": "f", "float16": "e"}.get(dtype.scalar.name)
        if fmt is None:
            return orig(dtype)
        pack, unpack = struct.Struct(fmt).pack, struct.Struct(fmt).unpack

        def wrap_float(v: Any) -> float:
            try:
                return unpack(pack(v))[0]
            except OverflowError:
                return math.inf  # BUG: -inf for a negative value

        return wrap_float

    mp.setattr(py, "_fast_wrap", planted)


# ---------------------------------------------------------------------------------------------------- multi-device
def ring_allreduce_index_without_modulo(mp: Any) -> None:
    """The ring all-reduce's reduce-scatter steps name the chunk device i passes on as `i - step` instead of
    `(i - step) % n`. On two devices (one step, step 0) nothing changes; from three devices on, a device whose
    index is below the step has a negative chunk number, which it does not hold, so it passes nothing on and a chunk
    of the result misses partial sums. A reduce over the split axis of a tensor sharded on 3+ devices is wrong in the
    chunk the skipped send should have completed: x (6, 3) float32 sharded on axis 0 over CPU, CPU:1, CPU:2,
    x.sum(0): numpy [45, 51, 57], planted [45, 51, 19] (chunk 2 holds one device's part). Replicated tensors,
    reduces over other axes, two devices and ALLREDUCE = "naive" stay right."""
    import math

    import engine.multi as mu

    def planted(parts: Any, op: Any = mu.Ops.ADD) -> list[Any]:
        n, shape = len(parts), parts[0].shape
        numel = math.prod(shape)
        if n == 1 or numel == 0:
            return list(parts)
        chunks = [b for b in mu._bounds(mu.even_sizes(numel, n))]
        live = [c for c, (lo, hi) in enumerate(chunks) if hi > lo]
        acc = [{c: p.reshape(numel).shrink((chunks[c],)) for c in live} for p in parts]
        devs = [p.device for p in parts]
        for step in range(n - 1):  # reduce-scatter
            # BUG: i - step without % n: a negative chunk number is never held, so that send is skipped
            sent = {((i + 1) % n, i - step): acc[i][i - step].to(devs[(i + 1) % n])
                    for i in range(n) if i - step in acc[i]}
            for (dst, c), x in sent.items():
                acc[dst][c] = mu._combine(acc[dst][c], x, op)
        for step in range(n - 1):  # all-gather
            sent = {((i + 1) % n, (i + 1 - step) % n): acc[i][(i + 1 - step) % n].to(devs[(i + 1) % n])
                    for i in range(n) if (i + 1 - step) % n in acc[i]}
            for (dst, c), x in sent.items():
                acc[dst][c] = x
        return [(mu.Tensor.cat([a[c] for c in live], 0) if len(live) > 1 else a[live[0]]).reshape(shape)
                for a in acc]

    mp.setattr(mu, "ring_allreduce", planted)


MORE = {
    "floordiv_exact_negative_adjusted": (floordiv_exact_negative_adjusted, "tensor op", ("numpy",)),
    "promote_int32_uint32_stays_32bit": (promote_int32_uint32_stays_32bit, "tensor op", ("numpy",)),
    "reduce_axes_share_range_id": (reduce_axes_share_range_id, "scheduler", ("numpy",)),
    "reshape_merge_stride_by_size": (reshape_merge_stride_by_size, "scheduler", ("numpy",)),
    "shr_to_div_negative": (shr_to_div_negative, "symbolic (index)", ("numpy",)),
    "unroll_invariant_lanes_deduped": (unroll_invariant_lanes_deduped, "codegen (opts)", ("numpy", "opts")),
    "fused_unroll_chain_drops_partial": (fused_unroll_chain_drops_partial, "codegen", ("numpy", "opts")),
    "c_trunc_through_int32": (c_trunc_through_int32, "renderer C", ("numpy", "device:CPU")),
    "c_pow_exp2_log2": (c_pow_exp2_log2, "renderer C", ("numpy", "device:CPU")),
    "llvm_unsigned_compare_signed": (llvm_unsigned_compare_signed, "renderer LLVM", ("numpy", "device:LLVM")),
    "python_float_overflow_positive_inf": (python_float_overflow_positive_inf, "device PYTHON",
                                           ("numpy", "device:PYTHON")),
    "ring_allreduce_index_without_modulo": (ring_allreduce_index_without_modulo, "multi-device", ("numpy", "shard")),
}
