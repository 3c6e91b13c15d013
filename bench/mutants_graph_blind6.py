"""A sixth blind set of planted bugs for the graph fuzzer's mutation test ("blind6"), written from the engine's code
alone (engine/), without reading the fuzzer, its oracles, the tests or the earlier mutant sets (only the format of
bench/mutants_graph_blind5.py): what the fuzzer finds here measures it against bugs written with no knowledge of how
it generates programs. This set aims at places the earlier sets' names do not point to: multi-device reshapes that
move a split axis, reductions over a split axis where a slice left a device's piece empty, the ring all-reduce over
three or more devices; the scheduler's lowering of flips of several axes and of permutes that are not their own
inverse; the workgroup-memory rows of a grouped reduce beside LOCAL threads and the padded pitch of the SMEM
tensor-core tiles; unsigned-to-float conversion in the CPU C dialect, bool-to-float in LLVM IR and float-to-int
casts on the PYTHON device; NEP 50's float64 for an int tensor with a Python float, and the half-pixel clamp of
linear interpolation.

How each bug is planted (each function's docstring says what is wrong and which programs it changes):
  - a module-level function replaced by a copy with the bug, or wrapped, where its callers look it up through the
    module: engine.multi.reshape_axis, engine.multi._reduce, engine.multi.ring_allreduce,
    engine.codegen.gpu.group_reduces, engine.codegen.smem._shared_index, engine.renderer.c._alu,
    engine.runtime.python.exec_alu (the PYTHON device's own name for engine.alu.exec_alu, bound at import: constant
    folding keeps the right one), engine.tensor._weak_dtype, engine.tensor_ops.nn._linear_axis;
  - a method wrapped on its class, the buggy case handled here and every other case passed on to the original:
    engine.rangeify._Lowerer._lower (FLIP of several axes; PERMUTE), engine.renderer.llvm._Renderer.to_double
    (bool).
`MORE` maps each name to (function, layer, the parts a finding's signature would plausibly carry). Every bug leaves
most programs right: it needs some op, argument, dtype, device, optimization or shard layout.

Evidence (each bug planted with a MonkeyPatch and the program run on the engine, compared with numpy and with the
unmutated engine, which gave numpy's values; a simple unrelated program, (a * 2 + 1).sum(1) of a (2, 3) float32
tensor, stayed right under every one on the device the bug needs, and so did a battery of 15 common programs
(matmul, conv2d, softmax, cumsum along axis 1, flip(0), .T, int // and %, pad and cat, float * 0.5, max_pool2d, and
on CPU sharded sum, row sums, matmul, reshape and max over two devices) on CPU, LLVM, PYTHON and PYTHON_GPU):
  shown: Tensor(arange(8.).reshape(2,4)).shard(("CPU","CPU:1"), axis=1).reshape(4,2) -> [[0,1],[4,5],[2,3],[6,7]]
         instead of [[0,1],[2,3],[4,5],[6,7]]
  shown: Tensor([1.,2,3,4]).shard(("CPU","CPU:1"), axis=0)[2:].sum() -> 0.0 instead of 7.0
  shown: Tensor(arange(1.,7.)).shard(("CPU","CPU:1","CPU:2"), axis=0).sum() -> 18.0 instead of 21.0
         (Tensor([6.,5,4,3,2,1]) sharded so, .max() -> 4.0 instead of 6.0)
  shown: Tensor(arange(6.).reshape(2,3)).flip() -> [[3,4,5],[0,1,2]] instead of [[5,4,3],[2,1,0]]
  shown: Tensor(arange(27.).reshape(3,3,3)).permute(1,2,0) -> max abs error 16.0 instead of 0.0; of a (2,3,4):
         SpecError (the kernel's index can leave the buffer) instead of numpy's transpose(1,2,0)
  shown: x (4, 64) float32 of arange, x.sum(1) on PYTHON_GPU (and OPENCL) with opts [Opt("LOCAL", 0, 4),
         Opt("GROUP", 0, 8)] -> [2016, 2016, 2016, 2016] instead of [2016, 6112, 10208, 14304]; with the default
         opts ([GROUP 32, LOCAL 8]) an (8, 1056) float32 .sum(1) on PYTHON_GPU -> max abs error 89.5
  shown: a16.cast(float32) @ b16.cast(float32) (32x64 @ 64x16 float16 ints in [-3, 3]) on PYTHON_GPU (default opts:
         TC, UPCAST, UPCAST, UNROLL, SMEM) -> max abs error 166.0 instead of 0.0
  shown: Tensor(uint32 [1, 3000000000]).cast(float32) on CPU -> [1.0, -1294967296.0] instead of [1.0, 3e9]
  shown: (Tensor(float32 [1., -2., 3.]) > 0).cast(float32) on LLVM -> [-1, 0, -1] instead of [1, 0, 1]
  shown: Tensor(float32 [-1.5, 2.5, -0.2]).cast(int32) on PYTHON -> [-2, 2, -1] instead of [-1, 2, 0]
  shown: Tensor(int64 [16777217, 3]) * 1.0 -> float32 [16777216., 3.] instead of float64 [16777217., 3.]
  shown: Tensor([[[1.,2,3,4]]]).interpolate(size=8, mode="linear") -> [1.75,1.25,1.75,...,4] instead of
         [1.0,1.25,1.75,...,4]
"""
from __future__ import annotations

import math
from typing import Any


# ---------------------------------------------------------------------------------------------------- multi-device
def shard_reshape_leading_dims_unchecked(mp: Any) -> None:
    """engine/multi.py `reshape_axis`: where a split axis lands after a reshape is looked up by its size alone; the
    check that the dims before it (their product) match the new dims before the candidate is dropped. So a reshape
    of a split tensor to a shape in which the split axis's size (or that of the split axis merged with the dims
    after it) first appears as a new dim preceded by dims of another product keeps the split there, and the pieces
    are laid end to end along a dim that in the logical tensor interleaves them: x (2, 4) split on axis 1 reshaped
    to (4, 2) gives rows x[0,:2], x[1,:2], x[0,2:], x[1,2:] instead of x[0,:2], x[0,2:], x[1,:2], x[1,2:]; x (2, 3)
    split on axis 0 reshaped to (3, 2) gives the columns x[0] and x[1]. No shape changes and nothing raises. Right
    for replicated tensors and for reshapes where the first matching new dim is preceded by the same product (the
    correct place: flatten of trailing dims, unsqueeze, the reshapes after a keepdim reduce, (2, 3) -> (6,),
    (4, 6) -> (2, 12)) or where no new dim matches (resharded as before); wrong for reshapes of split tensors that
    move the split size to a new dim after dims of another product ((2, 4) on axis 1 -> (4, 2), (3, 4) on axis 1
    -> (4, 3), (2, 3) on axis 0 -> (3, 2))."""
    from engine import multi

    def reshape_axis(shape: Any, axis: int, sizes: Any, new: Any) -> Any:
        if 0 in shape:
            return None
        for b in range(len(new)):
            # BUG: no check that math.prod(new[:b]) == math.prod(shape[:axis])
            for k in range(1, len(shape) - axis + 1):
                if math.prod(shape[axis:axis + k]) == new[b]:
                    r = math.prod(shape[axis + 1:axis + k])
                    return b, tuple(s * r for s in sizes)
            for k in range(2, len(new) - b + 1):
                if math.prod(new[b:b + k]) == shape[axis]:
                    r = math.prod(new[b + 1:b + k])
                    if all(s % r == 0 for s in sizes):
                        return b, tuple(s // r for s in sizes)
        return None

    mp.setattr(multi, "reshape_axis", reshape_axis)


def sharded_reduce_empty_piece_keeps_identity(mp: Any) -> None:
    """engine/multi.py `_reduce`: a reduce over the split axis all-reduces the partials of the non-empty pieces
    only (as it should), but a device whose piece is empty keeps its own partial, the reduce's identity (0 for sum,
    1 for prod, -inf / the least int for max), instead of a copy of the all-reduced value. The result claims to be
    replicated while its copies differ, so what a program sees depends on which copy it reads: the gathered value
    (numpy(), to()) is the first device's, and an elementwise op with a split operand slices each device's own copy.
    Right where every piece is non-empty (even shards of an axis at least as long as the device count), for reduces
    over other axes and for replicated tensors; wrong for sum/prod/max/min/mean/any/all/argmax-style reduces over
    the split axis after a slice, shrink or uneven `sizes` leave a piece empty (x.shard(2 devices, axis=0)[2:] of 4
    elements: the first device's piece is empty, and x[2:].sum() gives 0)."""
    from engine import multi
    from engine.tensor import Tensor
    from engine.uop import Ops, UOp

    def _reduce(m: Any, arg: tuple) -> Any:
        op, axes = arg
        red = lambda s: Tensor(UOp(Ops.REDUCE_AXIS, s.dtype, (s.uop,), arg), device=s.device)  # noqa: E731
        if m.axis is None or m.axis not in axes:
            return multi._per_shard(m, m.axis, lambda s, i: red(s))
        parts = [red(s) for s in m.shards if s.shape[m.axis]] or [red(m.shards[0])]
        done = {p.device: p for p in multi.allreduce(parts, op)}
        # BUG: a device with an empty piece keeps its own (identity) partial, not a copy of the result
        return multi.MultiTensor([done[s.device] if s.device in done else red(s) for s in m.shards], None)

    mp.setattr(multi, "_reduce", _reduce)


def ring_reduce_scatter_sends_own_part(mp: Any) -> None:
    """engine/multi.py `ring_allreduce`: in the reduce-scatter each device passes on the chunk of its own part,
    not the partial it has accumulated (its own chunk combined with what it received), so a chunk's partial keeps
    only the last two devices' contributions. With two devices there is one step, where the two are the same, so it
    is right; with three or more devices every sum, prod, max or min over the split axis (and the ops built on them:
    mean, var, softmax or layernorm over it, a matmul whose inner axis is split) loses the contributions of all but
    two parts. Right for the naive all-reduce, for reduces over other axes and for replicated tensors."""
    from engine import multi

    def ring_allreduce(parts: Any, op: Any = multi.Ops.ADD) -> list:
        n, shape = len(parts), parts[0].shape
        numel = math.prod(shape)
        if n == 1 or numel == 0:
            return list(parts)
        chunks = list(multi._bounds(multi.even_sizes(numel, n)))
        live = [c for c, (lo, hi) in enumerate(chunks) if hi > lo]
        own = [{c: p.reshape(numel).shrink((chunks[c],)) for c in live} for p in parts]
        acc = [dict(o) for o in own]
        devs = [p.device for p in parts]
        for step in range(n - 1):  # reduce-scatter
            # BUG: device i sends its own part's chunk, not acc[i][chunk] (what it has accumulated so far)
            sent = {((i + 1) % n, (i - step) % n): own[i][(i - step) % n].to(devs[(i + 1) % n])
                    for i in range(n) if (i - step) % n in acc[i]}
            for (dst, c), x in sent.items():
                acc[dst][c] = multi._combine(acc[dst][c], x, op)
        for step in range(n - 1):  # all-gather
            sent = {((i + 1) % n, (i + 1 - step) % n): acc[i][(i + 1 - step) % n].to(devs[(i + 1) % n])
                    for i in range(n) if (i + 1 - step) % n in acc[i]}
            for (dst, c), x in sent.items():
                acc[dst][c] = x
        return [(multi.Tensor.cat([a[c] for c in live], 0) if len(live) > 1 else a[live[0]]).reshape(shape)
                for a in acc]

    mp.setattr(multi, "ring_allreduce", ring_allreduce)


# ---------------------------------------------------------------------------------------------------- scheduler
def flip_lowered_on_first_axis_only(mp: Any) -> None:
    """engine/rangeify.py `_Lowerer._lower` (FLIP): a flip of several axes reverses the index of its first axis only;
    the others are read in order. One FLIP op carries every axis a flip reverses at once (Tensor.flip sorts them and
    drops those of size 1), so x.flip() of a 2-d x with both sizes above 1, x.flip((0, 1)), x[::-1, ::-1] and the
    kernel flip of conv_transpose2d come out mirrored along their first axis only. Right for flips of one axis
    (x.flip(0), x[::-1], x[:, ::-1], cumsum-style reversals), for axes of size 1 and for every other movement op;
    wrong on every device, fused or not, for flips of two or more axes of size >= 2."""
    from engine import rangeify
    from engine.shape import shape_of
    from engine.uop import Ops

    orig = rangeify._Lowerer._lower

    def _lower(self: Any, u: Any, idx: tuple, valid: Any) -> Any:
        if u.op is Ops.FLIP and len(u.arg) > 1 and not (u is not self.root and u in self.realized):
            src_shape = shape_of(u.src[0])
            # BUG: only the first flipped axis is reversed
            new = tuple((s - 1) - i if d == u.arg[0] else i for d, (i, s) in enumerate(zip(idx, src_shape)))
            return (rangeify._SAME, [(u.src[0], new, valid)], None)
        return orig(self, u, idx, valid)

    mp.setattr(rangeify._Lowerer, "_lower", _lower)


def permute_index_not_inverted(mp: Any) -> None:
    """engine/rangeify.py `_Lowerer._lower` (PERMUTE): the source index of a permuted view is built by applying the
    permutation to the output index (source dim d reads output index arg[d]) instead of its inverse (source dim
    arg[d] reads output index d). The two agree for permutations that are their own inverse: every 2-d transpose,
    .T, a swap of two axes (transpose, matmul's operands, conv's windows); they differ for 3-cycles and longer:
    permute(1, 2, 0) of a (3, 3, 3) reads other elements, and of a shape that is not a cube the index can leave the
    buffer, which the kernel check refuses (SpecError) before anything runs. Wrong on every device, fused or not,
    for permutes of 3 or more dims that are not involutions, and for the ops built on them: cumsum over axis 0 of a
    3-d tensor, gather along axis 0 of a 3-d tensor, einsum that cycles axes, advanced indexing that moves axes."""
    from engine import rangeify
    from engine.uop import Ops

    orig = rangeify._Lowerer._lower

    def _lower(self: Any, u: Any, idx: tuple, valid: Any) -> Any:
        if u.op is Ops.PERMUTE and not (u is not self.root and u in self.realized):
            new = tuple(idx[o] for o in u.arg)  # BUG: the permutation, not its inverse
            return (rangeify._SAME, [(u.src[0], new, valid)], None)
        return orig(self, u, idx, valid)

    mp.setattr(rangeify._Lowerer, "_lower", _lower)


# ---------------------------------------------------------------------------------------------------- codegen
def group_combine_ignores_local_row(mp: Any) -> None:
    """engine/codegen/gpu.py `group_reduces`: each thread stores its partial at temp[row * n + g] (row: its index in
    the kernel's LOCAL loops, so that threads of different outputs keep their partials apart), but the combine after
    the barrier reads temp[j] for j < n, the partials of row 0, in every row. So every output computed by the threads
    of a workgroup gets the first output's reduce. Right for grouped reduces without LOCAL threads (one row: the
    default for reduces of 1024 and more grouped by 256, a full sum, softmax's rows), for kernels without GROUP and
    on CPU devices; wrong on GPU devices (PYTHON_GPU, OPENCL) where a kernel has both LOCAL and GROUP (explicit opts,
    or the default heuristic when it groups by 128, 64 or 32 and puts the rest of the 256 threads on an output loop)
    and the reduce differs between the outputs of one workgroup."""
    from engine.codegen import gpu
    from engine.dtype import dtypes
    from engine.rewrite import substitute
    from engine.uop import Ops, UOp

    def group_reduces(ast: Any, next_axis: int, local: list, spread: Any = None) -> tuple:
        row: Any = UOp.const(dtypes.index, 0)
        rows = 1
        for r in local:
            row, rows = row * gpu._size(r) + r, rows * gpu._size(r)
        done: dict = {}
        gate: dict = {}
        n_temps = 0
        for u in ast.toposort:
            src = tuple(done[s] for s in u.src)
            conds = [gate[s] for s in u.src if s in gate]
            groups = [r for r in src[1:] if r.op is Ops.RANGE and r.arg[1] == "group"] if u.op is Ops.REDUCE else []
            if len(groups) > 1:
                raise gpu.LaunchError(f"a reduce over {len(groups)} group loops (one at most)")
            if groups:
                g = groups[0]
                rest = [r for r in src[1:] if r is not g]
                partial = UOp(Ops.REDUCE, u.dtype, (src[0], *rest), u.arg) if rest else src[0]
                temp = UOp(Ops.DEFINE_LOCAL, u.dtype.pointer(gpu._size(g) * rows), (), n_temps)
                st = UOp(Ops.STORE, dtypes.void, (UOp(Ops.INDEX, temp.dtype, (temp, row * gpu._size(g) + g)), partial))
                bar = UOp(Ops.BARRIER, temp.dtype, (temp, st))
                j = UOp.range(gpu._size(g), next_axis + n_temps, "reduce")
                n_temps += 1
                # BUG: the combine reads row 0's partials (temp[j]), not this thread's row (temp[row * n + j])
                part = UOp(Ops.LOAD, u.dtype, (UOp(Ops.INDEX, temp.dtype, (bar, j)),))
                done[u] = UOp(Ops.REDUCE, u.dtype, (part, j), u.arg)
                conds.append(g.eq(0))
            else:
                done[u] = u if src == u.src else UOp(u.op, u.dtype, src, u.arg)
            if conds:
                gate[u] = conds[0]
                for c in conds[1:]:
                    if c is not gate[u]:
                        gate[u] = gate[u] & c
        if not n_temps:
            return ast, None
        spread_in = {s for s in ast.src if spread is not None and spread in s.toposort}
        stores = [gpu._gate(done[s], gate[s]) if s in gate and s not in spread_in else done[s] for s in ast.src]
        out = UOp(Ops.SINK, ast.dtype, tuple(stores), ast.arg)
        if not spread_in:
            return out, None
        g = min((u for u in out.toposort if u.op is Ops.RANGE and u.arg[1] == "group"), key=lambda r: r.arg)
        outer = UOp.range(gpu._size(spread) // gpu._size(g), spread.arg[0], spread.arg[1])
        return substitute(out, {spread: outer * gpu._size(g) + g}), outer

    mp.setattr(gpu, "group_reduces", group_reduces)


def smem_fragment_pitch_ignores_pad(mp: Any) -> None:
    """engine/codegen/smem.py `_shared_index`: the fragment reads of a tile staged in workgroup memory (Opt SMEM)
    step from row to row by the tile's row length C instead of its padded pitch C + pad, while the copy writes the
    rows pad elements apart (the pad `_pad` picks against bank conflicts). So every row but the first is read
    shifted back by row * pad elements: the mma gets other elements of A (or B). Right where the pad is 0 (a tile of
    one row: a matrix whose whole reduce fits one step of the loop, K up to 32 with the default UNROLL 2), without
    SMEM (explicit opts without it, OPENCL and the CPU devices, which have no tensor cores) and for every kernel that
    is not a tensor-core matmul; wrong on PYTHON_GPU (and CUDA) for float32 matmuls of float16/bfloat16 (or fp8)
    values whose reduce loop has several steps (K of 64 and more: the tiles then have rows and a nonzero pad) with
    the default opts (TC ... SMEM)."""
    import numpy as np

    from engine.codegen import smem
    from engine.dtype import dtypes

    def _shared_index(op: Any, i: int) -> Any:
        thr, const = op.thread[i]
        pitch = op.cols  # BUG: the tile's rows are op.cols + op.pad apart
        row_terms = {t: k // op.stride for t, k in thr.items() if k % op.stride == 0}
        col_terms = {t: k for t, k in thr.items() if k % op.stride != 0}
        row_c, col_c = divmod(const - op.origin, op.stride)
        col = sum((k * op.values[t] for t, k in col_terms.items()), np.full(len(op.offs[i]), col_c, dtype=np.int64))
        if ((col >= 0) & (col < op.cols)).all():
            return smem.build_sum(dtypes.index, row_terms, row_c) * pitch + smem.build_sum(dtypes.index, col_terms,
                                                                                           col_c)
        off = smem.build_sum(dtypes.index, thr, const - op.origin)
        return off // op.stride * pitch + off % op.stride

    mp.setattr(smem, "_shared_index", _shared_index)


# ---------------------------------------------------------------------------------------------------- renderers
def c_unsigned_to_float_as_signed(mp: Any) -> None:
    """engine/renderer/c.py `_alu` (CPU dialect): a CAST from uint32 or uint64 to float32 or float64 converts
    through the signed type of the same width, ((float)(int32_t)x), so values from 2**31 (uint32) or 2**63 (uint64)
    up become negative floats (3000000000 gives -1294967296.0). Right for every other conversion (signed ints,
    narrower unsigned types, to float16/bfloat16/fp8), for unsigned values below the sign bit, and on the other
    devices and dialects (LLVM, OPENCL, PYTHON); wrong on CPU for uint32/uint64 data with the top bit set (large
    values, or the wrap-around of a subtraction below 0) reaching a float: an explicit cast, a mix with a float
    tensor or a Python float, true division, mean/var/std, sqrt/exp/log-style float ufuncs of unsigned tensors."""
    from engine.renderer import c
    from engine.uop import Ops

    orig = c._alu

    def _alu(u: Any, s: list, d: Any = c.C) -> str:
        sdt = u.src[0].dtype.scalar if u.src else None
        if d is c.C and u.op is Ops.CAST and u.dtype.scalar.name in ("float32", "float64") and sdt is not None \
                and sdt.name in ("uint32", "uint64"):
            signed = "int32_t" if sdt.name == "uint32" else "int64_t"
            return f"(({c.ctype(u.dtype, d)})({signed}){s[0]})"  # BUG: the unsigned value read as signed
        return orig(u, s, d)

    mp.setattr(c, "_alu", _alu)


def llvm_bool_to_float_sign_extended(mp: Any) -> None:
    """engine/renderer/llvm.py `_Renderer.to_double`: a bool becomes a double with `sitofp i1` instead of `uitofp
    i1`, so True (the 1-bit -1 when read as signed) converts to -1.0. Every CAST from bool to a float dtype goes
    through it (float16, bfloat16, fp8, float32 and float64 alike). Right for bool to int casts (zext), for
    comparisons and selects of bools, for every other conversion and on the other devices; wrong on LLVM for
    bool -> float casts of True: (x > 0).cast(float32), a bool tensor in float arithmetic (mask * 1.0, mask + x of a
    float x), mean/var of a bool tensor, float ufuncs of bools (sqrt, exp)."""
    from engine.renderer import llvm

    orig = llvm._Renderer.to_double

    def to_double(self: Any, x: str, s: Any) -> str:
        if s.kind == "b":
            return self.tmp(f"sitofp i1 {x} to double")  # BUG: True is -1 as a signed i1
        return orig(self, x, s)

    mp.setattr(llvm._Renderer, "to_double", to_double)


def python_float_to_int_cast_floors(mp: Any) -> None:
    """engine/runtime/python.py (the PYTHON device's `exec_alu` and `_fast_cast`, which run its CASTs): a float cast
    to an integer dtype rounds toward -inf (math.floor) instead of truncating toward 0 as C and numpy do, so negative
    values that are not whole come out one less (-1.5 -> -2, -0.2 -> -1). Right for non-negative floats, whole
    floats, NaN/inf (the dtype's minimum as before), casts to bool and float, constants (folded by the symbolic engine
    with the right exec_alu) and on the other devices; wrong on PYTHON and PYTHON_GPU for float -> int casts of
    negative non-integer data (astype-like casts, a float index turned into an int, int conversions in a program)."""
    from engine.alu import wrap
    from engine.runtime import python
    from engine.uop import Ops

    orig = python.exec_alu

    def exec_alu(op: Any, dtype: Any, operands: Any) -> Any:
        v = operands[0] if operands else None
        if op is Ops.CAST and dtype.scalar.kind in "iu" and isinstance(v, float) and math.isfinite(v):
            return wrap(dtype, math.floor(v))  # BUG: floor, not trunc
        return orig(op, dtype, operands)

    mp.setattr(python, "exec_alu", exec_alu)
    orig_fast = python._fast_cast  # the device's fast path for common casts (since 2026-12-08): the same bug there

    def fast_cast(src: Any, dst: Any) -> Any:
        cast = orig_fast(src, dst)
        if cast is None or src.kind != "f" or dst.kind not in "iu":
            return cast
        return lambda v: wrap(dst, math.floor(v)) if math.isfinite(v) else cast(v)  # BUG: floor, not trunc
    mp.setattr(python, "_fast_cast", fast_cast)


# ---------------------------------------------------------------------------------------------------- frontend
def weak_float_scalar_gives_float32(mp: Any) -> None:
    """engine/tensor.py `_weak_dtype`: an integer or bool tensor combined with a Python float gives float32 (torch's
    default float) instead of numpy's float64 (NEP 50: the weak float scalar still takes the int to the default
    float64). So int tensor * 0.5, int tensor + 2.5, where(c, int_tensor, 0.5), int tensor ** 0.5 and int tensor /
    2.0 come out float32: the dtype differs from numpy's, and values lose precision (ints above 2**24 round, 1/3
    keeps 7 digits). Right for float tensors with Python floats (their dtype wins), for Python ints and bools with
    any tensor, for tensor-tensor ops and for int / int (true division of two ints is float64 on its own path)."""
    from engine import tensor
    from engine.dtype import dtypes

    def _weak_dtype(t: Any, x: Any) -> Any:
        if isinstance(x, bool):
            return t
        if isinstance(x, int):
            return dtypes.int64 if t == dtypes.bool else t
        return t if t.is_float else dtypes.float32  # BUG: numpy (NEP 50) gives float64

    mp.setattr(tensor, "_weak_dtype", _weak_dtype)


def interpolate_half_pixel_not_clamped(mp: Any) -> None:
    """engine/tensor_ops/nn.py `_linear_axis`: with align_corners=False the source coordinate
    (dst + 0.5) * scale - 0.5 is not clamped at 0 (torch clamps it), so when upsampling the first outputs get a
    negative coordinate, source index -1 (which the index array reads as the last element, wrapping) and weights
    from the fraction: out[0] of an upsampling by 2 is 0.25 * x[-1] + 0.75 * x[0] instead of x[0]. Right with
    align_corners=True, for nearest and nearest-exact, for downsampling and same-size resampling (the coordinate
    stays >= 0); wrong for linear/bilinear/trilinear interpolate that upsamples an axis (scale_factor > 1 or a larger
    size) with the default align_corners: the first output(s) of every such axis mix in the last input."""
    import numpy as np

    from engine.tensor_ops import nn

    def _linear_axis(x: Any, ax: int, in_size: int, out_size: int, scale: Any, align: bool) -> Any:
        dst = np.arange(out_size, dtype=np.float32)
        if align:
            sc = np.float32((in_size - 1) / (out_size - 1)) if out_size > 1 else np.float32(0)
            real = sc * dst
        else:  # BUG: not clamped at 0
            real = nn._torch_scale(in_size, out_size, scale) * (dst + np.float32(0.5)) - np.float32(0.5)
        i0 = np.minimum(np.floor(real).astype(np.int64), in_size - 1)
        lam = np.clip(real - i0.astype(np.float32), 0, 1).astype(np.float32)
        i1 = i0 + (i0 < in_size - 1)
        T = nn._tensor_cls()
        wshape = (out_size,) + (1,) * (x.ndim - ax - 1)
        w0 = T((np.float32(1) - lam).astype(x.dtype.np).reshape(wshape), device=x.device)
        w1 = T(lam.astype(x.dtype.np).reshape(wshape), device=x.device)
        pre = (slice(None),) * ax
        return x[pre + (i0,)] * w0 + x[pre + (i1,)] * w1

    mp.setattr(nn, "_linear_axis", _linear_axis)


MORE = {
    "shard_reshape_leading_dims_unchecked": (shard_reshape_leading_dims_unchecked, "multi-device (reshape of a split)",
                                             ("numpy", "shard", "reshape")),
    "sharded_reduce_empty_piece_keeps_identity": (sharded_reduce_empty_piece_keeps_identity,
                                                  "multi-device (reduce, empty piece)",
                                                  ("numpy", "shard", "sum", "shrink")),
    "ring_reduce_scatter_sends_own_part": (ring_reduce_scatter_sends_own_part, "multi-device (ring all-reduce)",
                                           ("numpy", "shard", "sum", "allreduce")),
    "flip_lowered_on_first_axis_only": (flip_lowered_on_first_axis_only, "scheduler (flip lowering)",
                                        ("numpy", "flip", "getitem")),
    "permute_index_not_inverted": (permute_index_not_inverted, "scheduler (permute lowering)",
                                   ("numpy", "permute", "transpose")),
    "group_combine_ignores_local_row": (group_combine_ignores_local_row, "codegen GPU (GROUP with LOCAL)",
                                        ("numpy", "device:PYTHON_GPU", "device:OPENCL", "GROUP", "LOCAL")),
    "smem_fragment_pitch_ignores_pad": (smem_fragment_pitch_ignores_pad, "codegen GPU (SMEM tiles)",
                                        ("numpy", "device:PYTHON_GPU", "TC", "SMEM", "float16", "bfloat16")),
    "c_unsigned_to_float_as_signed": (c_unsigned_to_float_as_signed, "renderer C (unsigned to float)",
                                      ("numpy", "device:CPU", "uint32", "uint64", "cast")),
    "llvm_bool_to_float_sign_extended": (llvm_bool_to_float_sign_extended, "renderer LLVM (bool to float)",
                                         ("numpy", "device:LLVM", "bool", "cast")),
    "python_float_to_int_cast_floors": (python_float_to_int_cast_floors, "device PYTHON (float to int cast)",
                                        ("numpy", "device:PYTHON", "device:PYTHON_GPU", "cast")),
    "weak_float_scalar_gives_float32": (weak_float_scalar_gives_float32, "frontend (dtype promotion, weak scalars)",
                                        ("numpy", "dtype", "float64", "float32")),
    "interpolate_half_pixel_not_clamped": (interpolate_half_pixel_not_clamped, "frontend (linear interpolate)",
                                           ("numpy", "interpolate", "linear")),
}
