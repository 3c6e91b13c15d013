"""A fifth blind set of planted bugs for the graph fuzzer's mutation test ("blind5"), written from the engine's code
alone (engine/), without reading the fuzzer, its oracles, the tests or the earlier mutant sets (only the format of
bench/mutants_graph_blind4.py): what the fuzzer finds here measures it against bugs written with no knowledge of how
it generates programs. This set aims at layers and ops the earlier sets touched least: frontend ops built from
movement and binary ops (repeat/tile broadcasting, clip with crossed bounds, max_pool2d padding), the scheduler's
in-place write hazards and the order of kernels around an assign, GPU code generation of grouped reduces (the serial
loop spread over a workgroup) and the index algebra's remainder fold, the renderers' NaN rules (C max, LLVM not-equal)
and the OpenCL dialect's 8-bit storage type, the PYTHON_GPU device's tensor-core emulation, and multi-device pads.

How each bug is planted (each function's docstring says what is wrong and which programs it changes):
  - a method replaced on its mixin class, the buggy case handled here and every other case passed on to the
    original where there is one (MovementMixin.repeat, ElementwiseMixin.clip, NNMixin.max_pool2d,
    engine.renderer.llvm._Renderer.compare);
  - a module-level function replaced by a copy with the bug, or wrapped, where its callers look it up through the
    module (engine.rangeify._reads_output_elsewhere, engine.rangeify._order_kernels,
    engine.codegen.gpu.spread_loop, engine.symbolic.fold_mod, engine.renderer.c._alu, engine.multi._pad);
  - a module-level table or object replaced by a copy with the bug: engine.runtime.python.MMA (its m16n8k16
    emulation), and the OpenCL `Dialect` (engine.renderer.c.OPENCL, together with engine.runtime.opencl's own
    `OPENCL` name, bound at import).
`MORE` maps each name to (function, layer, the parts a finding's signature would plausibly carry). Every bug leaves
most programs right: it needs some op, argument, dtype, device, optimization, fusion mode or shard layout.

Evidence (each bug planted with a MonkeyPatch and the program run on the engine, compared with the unmutated engine
and numpy; a simple unrelated program, (a * 2 + 1).sum(1), and a battery of 14 common programs (matmul, conv2d, pad
and cat, slices, softmax, cumsum, int ops, max_pool2d, setitem, ...) on CPU, LLVM, OPENCL and PYTHON_GPU stayed right
under every one):
  shown: Tensor([[1,2],[3,4]]).repeat(1, 2) -> [[1,1,2,2],[3,3,4,4]] instead of [[1,2,1,2],[3,4,3,4]]
  shown: Tensor([1.,5.,9.]).clip(6, 2) -> [6,6,6] instead of [2,2,2] (numpy.clip(x, 6, 2))
  shown: Tensor(-arange(1,10).reshape(1,1,3,3)).max_pool2d(2, stride=2, padding=1) -> [[0,0],[0,-5]] instead of
         [[-1,-2],[-4,-5]]
  shown: x = Tensor([1,2,3,4,5]); x[1:] = x[:-1] -> [1,1,1,1,1] instead of [1,1,2,3,4]
  shown: x = Tensor([1.,2,3]); y = x * 2; x.assign(x + 1); (y + x) -> [6,9,12] instead of [4,7,10]
  shown: y = arange(10.) + arange(8.).sum() on PYTHON_GPU with opts [Opt("GROUP", 0, 4)] -> [28..35, 0, 0] instead of
         [28..37]
  shown: Tensor.arange(3) -> [0,1,3] instead of [0,1,2]; (Tensor.arange(6) % 5) -> [0,1,2,3,1,2] instead of
         [0,1,2,3,4,0]; Tensor.linspace(0, 1, 5)[-1] -> 1.5 instead of 1.0 (and
         arange(8.).reshape(2,2,2).reshape(-1)[:6] raises SpecError)
  shown: Tensor(float32 [1, nan, 3]).maximum(2.) on CPU -> [2,2,3] instead of [2,nan,3]
  shown: Tensor(float32 [1, nan]).isnan() on LLVM -> [False, False] instead of [False, True]
  shown: Tensor(int8 [-3, 5]).cast(int32) on OPENCL -> [253, 5] instead of [-3, 5]
  shown: a16.cast(float32) @ b16.cast(float32) (16x16 @ 16x8 float16 ints in [-3, 3]) on PYTHON_GPU (default opts:
         TC) -> max abs error 46.0 instead of 0.0
  shown: Tensor([1.,2,3,4]).shard(("CPU", "CPU:1"), axis=0).pad(((1, 2),)) -> [0,1,2,0,0,3,4] instead of
         [0,1,2,3,4,0,0]
"""
from __future__ import annotations

from typing import Any


# ---------------------------------------------------------------------------------------------------- frontend
def repeat_tiles_interleaved(mp: Any) -> None:
    """engine/tensor_ops/movement.py `repeat` (and `tile`, which calls it): each axis is grown as (size, repeats)
    instead of (repeats, size) before the merge, so every element is repeated in place (numpy's np.repeat /
    torch's repeat_interleave) instead of the whole axis being tiled: x.repeat(1, 2) of [[1, 2]] gives [[1, 1, 2, 2]]
    instead of [[1, 2, 1, 2]]. Right where every axis has repeats 1 or size 1 (new leading axes, broadcasting a size-1
    axis, repeats of 0 or 1); wrong for repeat and tile with repeats >= 2 on an axis of size >= 2."""
    from engine.tensor_ops.movement import MovementMixin, _int_list

    orig = MovementMixin.repeat

    def repeat(self: Any, *repeats: Any) -> Any:
        reps = _int_list(repeats)
        if len(reps) < self.ndim or any(r < 0 for r in reps):
            return orig(self, *repeats)
        t = self.reshape((1,) * (len(reps) - self.ndim) + self.shape)
        interleaved = tuple(x for s in t.shape for x in (s, 1))
        grown = tuple(x for r, s in zip(reps, t.shape) for x in (s, r))  # BUG: each element repeated in place
        return t.reshape(interleaved).expand(grown).reshape(tuple(r * s for r, s in zip(reps, t.shape)))

    mp.setattr(MovementMixin, "repeat", repeat)


def clip_min_applied_last(mp: Any) -> None:
    """engine/tensor_ops/elementwise.py `clip`: with both bounds given, the upper bound is applied first and the lower
    one last, maximum(minimum(x, max), min), instead of numpy's minimum(maximum(x, min), max). The two agree wherever
    min <= max; where a lower bound exceeds the upper one (crossed bounds, scalars or tensors, elementwise) numpy
    gives the upper bound and this gives the lower one. Right for one-sided clips (min only, max only), for
    relu-like clips and for every clip whose bounds are ordered; wrong for clip(x, a, b) with a > b somewhere."""
    from engine.tensor_ops.elementwise import ElementwiseMixin

    orig = ElementwiseMixin.clip

    def clip(self: Any, min: Any = None, max: Any = None) -> Any:
        if min is None or max is None:
            return orig(self, min, max)
        return self.minimum(max).maximum(min)  # BUG: the lower bound wins where the bounds cross

    mp.setattr(ElementwiseMixin, "clip", clip)


def max_pool_pads_with_zero(mp: Any) -> None:
    """engine/tensor_ops/nn.py `max_pool2d`: the padding is filled with 0 (as avg_pool2d's) instead of the dtype's
    minimum (-inf for floats, the least int), so a window that overlaps the padding and whose real elements are all
    negative gives 0 instead of its largest element. Right without padding, and where every window touching the
    padding holds a value >= 0 (relu'd or nonnegative inputs, unsigned ints); wrong for max_pool2d with padding >= 1
    of inputs with negative values at the borders (any float or signed int dtype, any stride or dilation)."""
    from engine.tensor_ops import nn
    from engine.tensor_ops.nn import NNMixin

    def max_pool2d(self: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1) -> Any:
        k = nn._tuple(kernel_size, 2, "max_pool2d kernel_size")
        s = k if stride is None else nn._tuple(stride, 2, "max_pool2d stride")
        p, d = nn._tuple(padding, 2, "max_pool2d padding"), nn._tuple(dilation, 2, "max_pool2d dilation")
        if any(pi * 2 > ki for pi, ki in zip(p, k)):
            raise ValueError(f"max_pool2d: padding {p} must be at most half the kernel size {k}")
        # BUG: padded with zeros, not with the dtype's minimum
        x = self.pad([(0, 0)] * (self.ndim - 2) + [(pi, pi) for pi in p]) if any(p) else self
        return nn._windows(x, k, s, d).max((-2, -1))

    mp.setattr(NNMixin, "max_pool2d", max_pool2d)


# ---------------------------------------------------------------------------------------------------- scheduler
def assign_hazard_ignores_gated_loads(mp: Any) -> None:
    """engine/rangeify.py `_reads_output_elsewhere`: the read-after-write check of an in-place kernel (an ASSIGN
    whose value reads its own buffer at another index must compute into a temporary first) skips the loads that
    carry a validity gate (reads through a pad), so a value that reads the target shifted through a pad is computed
    in place: elements the kernel already overwrote are read back as if they were the old ones (x[1:] = x[:-1]
    smears x[0] over the whole tensor). Right where the value reads the target at the stored index only, or
    elsewhere without a pad (a flip, a permute: those loads carry no gate), and for every kernel that is not an
    assign; wrong for setitem/assign of a shifted copy of the same tensor (x[1:] = x[:-1], x[:, 2:] = x[:, :-2] * 2,
    x.assign(x.pad(...).shrink(...))) where the loop reaches the written elements before reading them."""
    from engine import rangeify
    from engine.symbolic import simplify
    from engine.uop import Ops

    def _reads_output_elsewhere(ast: Any) -> bool:
        store_idx = ast.src[0].src[0]
        out, at = store_idx.src[0], simplify(store_idx.src[1])
        return any(x.op is Ops.INDEX and x is not store_idx and x.src[0] is out and len(x.src) == 2  # BUG: gated
                   and simplify(x.src[1]) is not at for x in ast.toposort)

    mp.setattr(rangeify, "_reads_output_elsewhere", _reads_output_elsewhere)


def assign_old_readers_not_ordered_first(mp: Any) -> None:
    """engine/rangeify.py `_order_kernels`: the kernels of a schedule are ordered by what they read from each other
    only; the rule that every kernel reading a buffer's old contents runs before the ASSIGN that overwrites it is
    dropped. So a kernel that needs both the old and the new contents of an assigned buffer no longer makes the
    schedule read the old ones from a snapshot (an order always exists now), and reads the new ones in both places;
    and, where the graph order puts it later, a reader of the old contents (an unfused kernel, another root) may run
    after the write. Right for schedules without an assign, and
    for assigns whose old contents are read only by the assign's own kernel or realized before it; wrong where a
    lazy value computed from a tensor before an in-place write to it (y = x * 2; x.assign(x + 1) or x[...] = v) is
    realized in one schedule with something that reads the new value (z = y + x): y sees the new contents."""
    import heapq

    from engine import rangeify

    def _order_kernels(groups: list, to_realize: set) -> Any:
        pos = {u: i for i, (u, _) in enumerate(groups)}
        after: list[set[int]] = [set() for _ in groups]
        for i, (u, _) in enumerate(groups):
            deps, _reads = rangeify._region(u, to_realize)
            after[i] |= {pos[d] for d in deps if d in pos}
        # BUG: no edge from the readers of a buffer's old contents to the ASSIGN that overwrites it
        users: list[list[int]] = [[] for _ in groups]
        for i, befores in enumerate(after):
            for j in befores:
                users[j].append(i)
        waiting = [len(befores) for befores in after]
        ready = [i for i, n in enumerate(waiting) if n == 0]
        heapq.heapify(ready)
        out: list = []
        while ready:
            i = heapq.heappop(ready)
            out.extend(groups[i][1])
            for j in users[i]:
                waiting[j] -= 1
                if waiting[j] == 0:
                    heapq.heappush(ready, j)
        return out if all(n == 0 for n in waiting) else None

    mp.setattr(rangeify, "_order_kernels", _order_kernels)


# ---------------------------------------------------------------------------------------------------- codegen
def group_spread_loop_not_divisible(mp: Any) -> None:
    """engine/codegen/gpu.py `spread_loop`: the serial loop that a grouped kernel strides over its group's threads
    (s = s' * n + g) is chosen without checking that the group's size n divides it, so the strided loop runs
    size // n times and the last size % n elements of that loop are never stored (they keep what the buffer held:
    zeros). Right where the group divides the loop (a softmax's or layernorm's row grouped by a power of two that
    divides it) and on CPU devices; wrong on GPU devices (PYTHON_GPU, OPENCL) for a kernel whose reduce is grouped
    (Opt GROUP, or the default for reduces of 1024 and more) and that has an output loop the reduce does not depend
    on whose size the group does not divide (y + x.sum() with y of 10 elements and GROUP 4; x - x.max() over a row
    not a multiple of the group)."""
    from engine.codegen import gpu

    def spread_loop(ast: Any, order: list) -> Any:
        groups = {u for u in ast.toposort if u.op is gpu.Ops.RANGE and u.arg[1] == "group"}
        sizes = {gpu._size(g) for g in groups}
        if len(sizes) != 1:
            return None
        serial = gpu.serial_loops(ast, order)
        return next((r for r in reversed(order) if r in serial), None)  # BUG: divisibility not checked

    mp.setattr(gpu, "spread_loop", spread_loop)


def fold_mod_bound_off_by_one(mp: Any) -> None:
    """engine/symbolic.py `fold_mod`: x % c folds to x where the bounds of x lie in [0, c] instead of [0, c) (and
    in [-c, 0] instead of (-c, 0]), so a remainder whose argument can reach the divisor exactly is dropped (c stays c
    instead of 0). Right for remainders whose argument stays below c (a range % its own size, most reshape indices,
    loaded ints of full-range dtypes); wrong wherever an index or an integer value's bounds end exactly at the
    divisor: the lazy arange (its bits come from a (2, ..., 2) view cut to n: arange(3) gives [0, 1, 3], linspace and
    ranges built on it), an arange of n+1 values taken % n (arange(6) % 5), and flattened prefixes of a
    multi-dimensional tensor (x.reshape(-1)[:6] of a (2, 2, 2): its index leaves the buffer, a SpecError), on every
    device."""
    from engine import symbolic

    orig = symbolic.fold_mod

    def fold_mod(x: Any, c: int) -> Any:
        if 0 <= x.vmin and x.vmax <= c or -c <= x.vmin and x.vmax <= 0:  # BUG: the bound c itself counts as below c
            return x
        return orig(x, c)

    mp.setattr(symbolic, "fold_mod", fold_mod)


# ---------------------------------------------------------------------------------------------------- renderers
def c_max_via_fmax_drops_nan(mp: Any) -> None:
    """engine/renderer/c.py `_alu` (CPU dialect): a float MAX is rendered as C's fmaxf/fmax, which returns the other
    operand where one is NaN, instead of the MAXF macro that propagates NaN (numpy's maximum). Right for ints and
    bools, for NaN-free data, for MIN, and on the other devices and dialects; wrong on CPU for maximum, relu, clip's
    lower bound, max and its reductions (max, amax-like, max_pool2d, softmax's shift, argmax's compare) over float
    data holding NaN: the NaN is dropped (maximum(nan, 2) gives 2, max of [1, nan, 3] gives 3)."""
    from engine.renderer import c
    from engine.uop import Ops

    orig = c._alu

    def _alu(u: Any, s: list, d: Any = c.C) -> str:
        dt = u.dtype.scalar
        if d is c.C and u.op is Ops.MAX and dt.is_float:
            fn = "__builtin_fmax" if dt.name == "float64" else "__builtin_fmaxf"
            return f"{fn}({s[0]}, {s[1]})"  # BUG: fmax returns the non-NaN operand
        return orig(u, s, d)

    mp.setattr(c, "_alu", _alu)


def llvm_float_ne_ordered(mp: Any) -> None:
    """engine/renderer/llvm.py `_Renderer.compare`: a float CMPNE is rendered as `fcmp one` (ordered: false where
    either operand is NaN) instead of `fcmp une`, so NaN != x is false. Right for ints and bools, for <, <=, == and
    for NaN-free comparisons, and on the other devices; wrong on LLVM for != of floats where an operand is NaN:
    isnan (x != x) gives False for NaN, so isfinite, nan_to_num-like where(isnan), argmax/argmin over NaN, sign of
    NaN and `x != y` with NaN come out wrong."""
    from engine.renderer import llvm
    from engine.uop import Ops

    orig = llvm._Renderer.compare

    def compare(self: Any, op: Any, dt: Any, a: str, b: str) -> str:
        if op is Ops.CMPNE and dt.kind == "f":
            return self.tmp(f"fcmp one {llvm.ssa_type(dt)} {a}, {b}")  # BUG: ordered: NaN != x is false
        return orig(self, op, dt, a, b)

    mp.setattr(llvm._Renderer, "compare", compare)


def opencl_int8_as_unsigned_char(mp: Any) -> None:
    """engine/renderer/c.py, the OpenCL dialect's storage table: int8 is declared `uchar` instead of `char`, so int8
    values are held and loaded as unsigned bytes: the bits of +, -, *, &, |, ^ and stores are the same, but every
    operation that reads the value of a negative int8 sees v + 256: comparisons (<, <=, max, min, clip, relu),
    division and remainder, right shifts, and casts to wider types and floats (-3 becomes 253). Right for every other
    dtype, for nonnegative int8 data and on the other devices (CPU and CUDA keep int8_t); wrong on OPENCL for int8
    tensors holding negative values in any of those ops."""
    import dataclasses

    from engine.renderer import c
    from engine.runtime import opencl

    bad = dataclasses.replace(c.OPENCL, storage={**c.OPENCL.storage, "int8": "uchar"})  # BUG: int8 as unsigned
    mp.setattr(c, "OPENCL", bad)
    mp.setattr(opencl, "OPENCL", bad)


# ---------------------------------------------------------------------------------------------------- PYTHON device
def python_mma_a_quadrants_swapped(mp: Any) -> None:
    """engine/runtime/python.py `mma_m16n8k16` (the PYTHON_GPU emulation of mma.sync m16n8k16): the A fragment's
    register pairs a2,a3 and a4,a5 are placed by a misread of the PTX table: a2,a3 as (row g, column + 8) and a4,a5 as
    (row g + 8, column), swapping the top-right and bottom-left 8 x 8 quadrants of A. Right for the m16n8k32 (fp8)
    shape, for kernels without tensor cores and on every other device; wrong on PYTHON_GPU for every tensor-core
    kernel of float16/bfloat16 inputs (a float32 matmul of float16/bfloat16 values, Opt TC or the default opts of a
    matmul-shaped reduce) whose A tile holds different values in those quadrants."""
    import numpy as np

    from engine.runtime import python

    def mma_m16n8k16(frags: list, in_dtype: str) -> list:
        a, b, c = np.full((16, 16), np.nan), np.full((16, 8), np.nan), np.full((16, 8), np.nan)
        for lane, f in enumerate(python._lanes(frags, 16)):
            gid, tig = lane >> 2, lane % 4
            for i in range(8):
                # BUG: a2,a3 and a4,a5 swapped (row + 8 taken for i in 4..7, column + 8 for i in 2,3,6,7)
                a[gid + 8 * (i >= 4), 2 * tig + (i & 1) + 8 * (i in (2, 3, 6, 7))] = f[i]
            for i in range(4):
                b[2 * tig + (i & 1) + 8 * (i >= 2), gid] = f[8 + i]
                c[gid + 8 * (i >= 2), 2 * tig + (i & 1)] = f[12 + i]
        return python._mma("m16n8k16", a, b, c, in_dtype)

    mp.setattr(python, "MMA", {**python.MMA, "m16n8k16": mma_m16n8k16})


# ---------------------------------------------------------------------------------------------------- multi-device
def shard_pad_end_on_first_shard(mp: Any) -> None:
    """engine/multi.py `_pad`: a pad of the split axis puts both its before and its after padding on the first shard
    (the after padding belongs to the last), so the logical tensor has the end padding in the middle, between the
    first piece and the second, and the later pieces move to the end. Right for pads of other axes, of replicated
    tensors, of the split axis with no after padding, and over one device; wrong for a pad with after-padding along
    the split axis of a tensor sharded over two or more non-empty pieces (pad, and ops built on it: cat along the
    split axis, conv2d/pooling padding of a split spatial axis, shifted slices)."""
    from engine import multi

    def _pad(m: Any, arg: tuple) -> Any:
        a = m.axis

        def one(s: Any, i: int) -> Any:
            # BUG: the end padding of the split axis goes on the first shard too
            p = tuple(((b, e) if i == 0 else (0, 0)) if d == a else (b, e) for d, (b, e) in enumerate(arg))
            return multi._movement(s, multi.Ops.PAD, p) if any(x for pair in p for x in pair) else s

        return multi._per_shard(m, a, one)

    mp.setattr(multi, "_pad", _pad)


MORE = {
    "repeat_tiles_interleaved": (repeat_tiles_interleaved, "frontend (repeat/tile)",
                                 ("numpy", "repeat", "tile")),
    "clip_min_applied_last": (clip_min_applied_last, "frontend (clip, crossed bounds)",
                              ("numpy", "clip", "maximum", "minimum")),
    "max_pool_pads_with_zero": (max_pool_pads_with_zero, "frontend (max_pool2d padding)",
                                ("numpy", "max_pool2d", "padding")),
    "assign_hazard_ignores_gated_loads": (assign_hazard_ignores_gated_loads, "scheduler (in-place assign hazard)",
                                          ("numpy", "setitem", "assign")),
    "assign_old_readers_not_ordered_first": (assign_old_readers_not_ordered_first, "scheduler (assign ordering)",
                                             ("numpy", "assign", "setitem", "unfused")),
    "group_spread_loop_not_divisible": (group_spread_loop_not_divisible, "codegen GPU (GROUP, spread loop)",
                                        ("numpy", "device:PYTHON_GPU", "device:OPENCL", "GROUP")),
    "fold_mod_bound_off_by_one": (fold_mod_bound_off_by_one, "codegen (index algebra, mod fold)",
                                  ("numpy", "mod", "reshape", "arange")),
    "c_max_via_fmax_drops_nan": (c_max_via_fmax_drops_nan, "renderer C (float max, NaN)",
                                 ("numpy", "device:CPU", "maximum", "max", "nan")),
    "llvm_float_ne_ordered": (llvm_float_ne_ordered, "renderer LLVM (float compare, NaN)",
                              ("numpy", "device:LLVM", "isnan", "nan")),
    "opencl_int8_as_unsigned_char": (opencl_int8_as_unsigned_char, "renderer OpenCL (int8 storage)",
                                     ("numpy", "device:OPENCL", "int8")),
    "python_mma_a_quadrants_swapped": (python_mma_a_quadrants_swapped, "device PYTHON_GPU (tensor cores)",
                                       ("numpy", "device:PYTHON_GPU", "TC", "float16", "bfloat16")),
    "shard_pad_end_on_first_shard": (shard_pad_end_on_first_shard, "multi-device (pad)",
                                     ("numpy", "shard", "pad", "cat")),
}
