"""Another blind set of planted bugs for the graph fuzzer's mutation test ("blind3"), written from the engine's code
alone (engine/), without reading the fuzzer, its oracles, the tests or the earlier mutant sets (only the format of
bench/mutants_graph_blind2.py): what the fuzzer finds here measures it against bugs written with no knowledge of how
it generates programs. This set aims at the layers the earlier ones covered least: GPU code generation and the
PYTHON_GPU emulator (launch dims, grouped reduces, LOCAL tails, tensor cores, warps), multi-device tensors (gather
order, uneven shards, permutes of a sharded tensor) and the codegen middle (ACCUM expansion, the linearizer's
accumulators, the C renderer's vector lanes, the LLVM renderer's integer casts).

How each bug is planted (each function's docstring says what is wrong and which programs it changes):
  - a module-level function replaced by a copy with the bug, where its callers look it up through the module
    (engine.codegen.gpu._dims, engine.codegen.tc._split, engine.multi.gather and _shrink, and
    engine.codegen.kernel's own `expand_unrolls` name as well as expand's), or wrapped
    (engine.codegen.gpu.group_reduces: its result's workgroup buffers merged);
  - a method replaced on its class (Kernel._local, _Plan._warp_mma, _Lanes.contiguous, _Renderer.cast, _Lifter._one),
    the buggy case handled here and every other case passed on to the original;
  - the linearizer wrapped where engine.codegen.kernel calls it, its program's init stores moved.
`MORE` maps each name to (function, layer, the parts a finding's signature would plausibly carry). Every bug leaves
most programs right: it needs some device, opt, dtype, shape, fusion pattern or shard layout.
"""
from __future__ import annotations

import math
from typing import Any


# ---------------------------------------------------------------------------------------------------- GPU codegen
def gpu_merged_grid_dims_mirrored_stride(mp: Any) -> None:
    """engine/codegen/gpu.py `_dims`: where more than three grid loops (or a grid dimension 1 or 2 over 65535) are
    merged into one launch index, each merged loop is recovered as (index // stride) % size with its stride taken
    from the group's sizes in mirrored order (the stride of the outer loop is the size of the outer loop instead of
    the inner one's). For two merged loops of sizes a (outer) and b: outer = gidx0 // a instead of gidx0 // b.
    Right where the merged loops have one size (the mirror is the same); wrong where they differ: a GPU kernel
    (PYTHON_GPU) with four or more parallel grid loops that do not collapse (a permuted 4-d tensor with opts [], a
    permuted 5-d one with the default opts, whose LOCAL takes only the innermost loop) whose two innermost grid loops
    differ in size writes some elements twice and others never (numpy's value vs 0 or another element's), or indexes
    out of bounds (IndexError)."""
    from engine.codegen import gpu
    from engine.dtype import dtypes
    from engine.uop import Ops, UOp

    def _dims(loops: list[UOp], prefix: str, limits: list[int]) -> tuple[dict[UOp, UOp], list[int]]:
        groups = [[r] for r in loops]
        while len(groups) > 3 or any(math.prod(map(gpu._size, grp)) > limits[len(groups) - 1 - i]
                                     for i, grp in enumerate(groups[:-1])):
            groups[-2:] = [groups[-2] + groups[-1]]
        mapping: dict[UOp, UOp] = {}
        sizes: list[int] = []
        for d, grp in enumerate(reversed(groups)):
            total = math.prod(map(gpu._size, grp))
            if total > limits[d]:
                raise gpu.LaunchError(f"{prefix} dimension {d} of {total} exceeds {limits[d]}")
            sp = UOp(Ops.SPECIAL, dtypes.index, (UOp.const(dtypes.index, total),), f"{prefix}{d}")
            stride = total
            for r, mirror in zip(grp, reversed(grp)):  # BUG: the mirrored loop's size divides the stride
                stride //= gpu._size(mirror)
                v = sp if stride == 1 else sp // stride
                mapping[r] = v % gpu._size(r) if r is not grp[0] else v
            sizes.append(total)
        return mapping, sizes + [1] * (3 - len(sizes))

    mp.setattr(gpu, "_dims", _dims)


def grouped_reduces_share_one_temp(mp: Any) -> None:
    """engine/codegen/gpu.py `group_reduces`: every grouped reduce of a kernel gets its partials in the same workgroup
    buffer (temp0) when their dtypes and sizes agree, but the only barrier is the one after each reduce's partial
    stores: nothing makes the threads wait until all have read the first reduce's partials before the second reduce's
    partials overwrite them (a missing barrier before reuse). Kernels with one grouped reduce are right. Wrong on
    PYTHON_GPU (whose threads run in order between barriers, so the race always goes the same way) where one kernel
    has two grouped reduces of one dtype, the second's partial computed after the first's combine: a softmax, a
    layernorm, a variance or x - x.max() then .exp().sum() over rows of GROUP_MIN (1024) or more with default GPU opts
    (GROUP), or randomly chosen GROUP opts on smaller rows. Threads after the first read the second reduce's partials
    as the first's (a softmax row no longer sums to 1; numpy's value vs another)."""
    from engine.codegen import gpu
    from engine.rewrite import substitute
    from engine.uop import Ops, UOp

    orig = gpu.group_reduces

    def group_reduces(ast: UOp, next_axis: int, local: list[UOp], spread: UOp | None = None) -> tuple[UOp, Any]:
        out, outer = orig(ast, next_axis, local, spread)
        temps = sorted({u for u in out.toposort if u.op is Ops.DEFINE_LOCAL}, key=lambda u: u.arg)
        first: dict[Any, UOp] = {}
        share = {}
        for t in temps:
            keep = first.setdefault(t.dtype, t)
            if keep is not t:
                share[t] = keep
        return (substitute(out, share) if share else out), outer

    mp.setattr(gpu, "group_reduces", group_reduces)


def local_tail_gate_off_by_one(mp: Any) -> None:
    """engine/codegen/kernel.py `Kernel._local`: Opt LOCAL on an output loop that its amount does not divide rounds
    the loop up, clamps the index to the last element and gates the stores; the gate is `index < end - 1` instead of
    `index < end` (the last index taken for the bound), so the loop's last element is never written. Right where the
    amount divides the loop (no gate). Wrong on a GPU device (PYTHON_GPU) where LOCAL n does not divide the loop:
    the default GPU opts give a 1-d elementwise kernel of more than 256 elements that no power of two from 32 up
    divides (300 elements: LOCAL 256), or a random LOCAL amount (LOCAL 3 on a loop of 5): the last element along
    that loop stays 0 (the fresh buffer) instead of numpy's value."""
    from engine.codegen import gpu
    from engine.codegen.kernel import Kernel, Opt
    from engine.rewrite import substitute
    from engine.uop import Ops, UOp

    orig = Kernel._local

    def _local(self: Kernel, opt: Opt) -> None:
        n = opt.amount
        if not (isinstance(n, int) and n >= 2 and self.gpu and 0 <= opt.axis < len(self.order)
                and self.order[opt.axis].arg[1] == "loop" and self.order[opt.axis].src[0].arg % n):
            return orig(self, opt)
        self._gpu_opt(opt)
        r = self.order[opt.axis]
        end = r.src[0].arg
        outer = UOp.range(-(-end // n), r.arg[0], "global")
        inner = UOp.range(n, self._next_axis, "local")
        self._next_axis += 1
        expr = outer * n + inner
        live = expr < end - 1  # BUG: the last index, not the end
        stores = []
        for s in self.ast.src:
            if r in s.toposort:
                s = gpu._gate(substitute(s, {r: expr.minimum(end - 1)}), live)
            stores.append(s)
        self.ast = UOp(Ops.SINK, self.ast.dtype, tuple(stores), self.ast.arg)
        self.order = [outer if x is r else x for x in self.order] + [inner]
        return None

    mp.setattr(Kernel, "_local", _local)


def tc_tiles_floor_drops_tail(mp: Any) -> None:
    """engine/codegen/tc.py `_split`: the number of tensor-core tiles along m, n or k is size // tile (floor) instead
    of rounding up, while the tail flag (clamp and gate) is still set: a size that the tile does not divide and that is
    over one tile loses its last partial tile. Right where the tile divides the size (16 for m, 8 for n, 16 or 32 for
    k) or the size is under one tile. Wrong with Opt TC (PYTHON_GPU's default opts on a float16/bfloat16 matmul, or
    randomly chosen TC opts) on such a size: an m of 20 leaves rows 16..19 at 0, an n of 12 columns 8..11 at 0, a k
    of 24 sums only the first 16 products (numpy's dot vs a partial one)."""
    from engine.codegen import tc
    from engine.dtype import dtypes
    from engine.uop import UOp

    def _split(r: UOp, tile: int, kind: str) -> tuple[UOp, bool]:
        size = r.src[0].arg
        outer = size // tile  # BUG: floor, the partial tile dropped
        return (UOp.range(outer, r.arg[0], kind) if outer > 1 else UOp.const(dtypes.index, 0)), size % tile != 0

    mp.setattr(tc, "_split", _split)


def wmma_warps_interleaved(mp: Any) -> None:
    """engine/runtime/python.py `_Plan._warp_mma` (the PYTHON_GPU emulator of mma.sync): a workgroup of several warps
    is cut into warps by taking every (threads / 32)-th thread (thread w, w + W, w + 2W, ...) instead of 32
    consecutive threads (x fastest), so the lanes of one warp's mma come from different warps. Right for workgroups
    of one warp (a TC kernel with no LOCAL). Wrong where a tensor-core kernel has two or more warps a workgroup: the
    default TC opts on a float16/bfloat16 matmul with enough m tiles (M = 128: UPCAST 4 then LOCAL 2 warps), or
    Opt TC then LOCAL on a tile loop: the fragments of two warps are mixed (numpy's dot vs other rows' sums)."""
    from engine.runtime.python import MMA, _Plan

    def _warp_mma(self: _Plan, pc: int, lanes: list[list], group: tuple) -> None:
        u = self.prg.uops[pc]
        if len(lanes) % 32:
            raise RuntimeError(f"kernel {self.prg.name}: WMMA v{pc} in a workgroup of {len(lanes)} threads "
                               f"(whole warps of 32 needed), workgroup {group[::-1]}")
        src = [self.pos[s] for s in u.src]
        warps = len(lanes) // 32
        for w in range(warps):
            warp = lanes[w::warps]  # BUG: strided, not lanes[32 * w: 32 * w + 32]
            outs = MMA[u.arg[0]]([[v[s] for s in src] for v in warp], u.arg[1])
            for v, out in zip(warp, outs):
                v[pc] = out

    mp.setattr(_Plan, "_warp_mma", _warp_mma)


# ---------------------------------------------------------------------------------------------------- multi-device
def gather_local_shard_first(mp: Any) -> None:
    """engine/multi.py `gather`: putting a split tensor together on a device, the piece already on that device comes
    first (saving nothing: it is copied all the same), then the others in shard order, instead of the pieces in
    shard order. Right where the device holds the first shard (numpy() and .to() of the first device gather there) or
    the tensor is replicated. Wrong wherever a split tensor is resharded and a later device's copy is used
    (with_layout gathers it on every device, and the replica on device i starts with piece i): an elementwise op of
    tensors split on different axes (x split on axis 0 + y split on axis 1: the rows of the later devices get y's
    columns rotated), .shard() to another split, .to() a later device, a reshape that mixes the pieces followed by an
    op with a split tensor (numpy's value vs pieces rotated)."""
    from engine import multi
    from engine.tensor import Tensor

    def gather(m: Any, device: str) -> Tensor:
        if m.axis is None:
            return m.shards[m.devices.index(device)] if device in m.devices else m.shards[0].to(device)
        shards = [s for s in m.shards if s.shape[m.axis]]
        shards = [s for s in shards if s.device == device] + [s for s in shards if s.device != device]  # BUG
        pieces = [s.to(device) for s in shards]
        if not pieces:
            return m.shards[0].to(device)
        return pieces[0] if len(pieces) == 1 else Tensor.cat(pieces, m.axis)

    mp.setattr(multi, "gather", gather)


def shrink_assumes_even_shards(mp: Any) -> None:
    """engine/multi.py `_shrink`: a shrink of a split tensor cuts each shard by the bounds of an even split of the
    axis (even_sizes(length, shards)) instead of the shards' own sizes. Right on a tensor split evenly (as shard()
    splits by default) or a shrink of another axis. Wrong on a shrink along the split axis of an unevenly split
    tensor: shard(..., sizes=...) with other sizes, or the result of a pad (the end shards grow) or of a shrink along
    that axis (x.shard(devs, 0)[0:5][1:4] with 8 rows over 2 devices: pieces of 4 and 1, cut as if 3 and 2): elements
    dropped or repeated (numpy's slice vs a shorter or shifted one; an empty piece where numpy has rows)."""
    from engine import multi

    def _shrink(m: Any, arg: tuple) -> Any:
        a = m.axis
        bounds = multi._bounds(multi.even_sizes(m.shape[a], len(m.shards)) if a is not None else ())  # BUG

        def one(s: Any, i: int) -> Any:
            if a is None:
                return multi._movement(s, multi.Ops.SHRINK, arg)
            lo, hi = bounds[i]
            b, e = arg[a]
            start = min(max(b, lo), hi) - lo
            local = (start, max(min(e, hi) - lo, start))
            local = (min(local[0], s.shape[a]), min(local[1], s.shape[a]))
            return multi._movement(s, multi.Ops.SHRINK, tuple(local if d == a else x for d, x in enumerate(arg)))

        return multi._per_shard(m, a, one)

    mp.setattr(multi, "_shrink", _shrink)


def permute_shard_axis_not_inverted(mp: Any) -> None:
    """engine/multi.py `_Lifter._one` (PERMUTE): where a split tensor is permuted, its split axis becomes order[axis]
    (the permutation applied) instead of order.index(axis) (its inverse: where the old axis went). Right for
    permutations that are their own inverse (a transpose, any swap of two axes) and for replicated tensors. Wrong for a
    cyclic permutation of three or more axes that moves the split axis, on a sharded tensor: x.shard(devs, 0) of shape
    (2, 3, 4) permuted (1, 2, 0) claims the split on axis 1: the pieces are put together along the wrong axis (a
    shape (3, 8, 1) or values interleaved wrongly, vs numpy's (3, 4, 2)), or a MultiTensor error on uneven pieces."""
    from engine import multi
    from engine.tensor import Tensor
    from engine.uop import Ops, UOp

    orig = multi._Lifter._one

    def _one(self: Any, u: UOp) -> Any:
        if u.op is Ops.PERMUTE:
            src = self._get(u.src[0])
            if src.axis is not None:
                def perm(s: Tensor, i: int) -> Tensor:
                    return Tensor(UOp(Ops.PERMUTE, s.dtype, (s.uop,), u.arg), device=s.device)
                return multi._per_shard(src, u.arg[src.axis], perm)  # BUG: order[axis], not order.index(axis)
        return orig(self, u)

    mp.setattr(multi._Lifter, "_one", _one)


# ---------------------------------------------------------------------------------------------------- codegen middle
def accum_partials_combined_with_add(mp: Any) -> None:
    """engine/codegen/expand.py `expand_unrolls`: the n accumulators of Opt ACCUM are combined after the loop with ADD
    whatever the reduce's op (instead of the reduce op): a max (or min, a max of negations) over an ACCUM-split range
    gives the sum of the partial maxima. Right for sums (and for UNROLL and UPCAST, which are left alone). Wrong on
    CPU, LLVM and PYTHON, whose default opts give a row reduce over a contiguous range of 8 or more that 4 or 8 divides
    4 or 8 accumulators (x.max(axis=1) of a (4, 32) array: ACCUM 8), and with randomly chosen ACCUM opts: numpy's max
    vs the sum of 8 partial maxima (a product reduce: the product of partial products, so right)."""
    from engine.codegen import expand, kernel
    from engine.uop import Ops, UOp

    def expand_unrolls(ast: UOp) -> UOp:
        done: dict[UOp, UOp] = {}
        for u in ast.toposort:
            new_src = tuple(done[s] for s in u.src)
            if u.op is Ops.REDUCE and any(r.op is Ops.RANGE and r.arg[1] in ("unroll", "accum") for r in new_src[1:]):
                value, ranges = new_src[0], list(new_src[1:])
                for r in [r for r in ranges if r.arg[1] == "unroll"]:
                    value = expand._chain(u, expand._lanes(value, r))
                    ranges.remove(r)
                accums = [r for r in ranges if r.arg[1] == "accum"]
                rest = [r for r in ranges if r.arg[1] != "accum"]
                parts = [value]
                for r in accums:
                    parts = [lane for p in parts for lane in expand._lanes(p, r)]
                reduced = [UOp(Ops.REDUCE, u.dtype, (p, *rest), u.arg) if rest else p for p in parts]
                out = reduced[0]
                for p in reduced[1:]:
                    out = UOp(Ops.ADD if accums else u.arg, u.dtype, (out, p))  # BUG: ADD, not the reduce op
                done[u] = out
            else:
                done[u] = u if new_src == u.src else UOp(u.op, u.dtype, new_src, u.arg)
        return done[ast]

    mp.setattr(expand, "expand_unrolls", expand_unrolls)
    mp.setattr(kernel, "expand_unrolls", expand_unrolls)


def reduce_init_inside_outer_range(mp: Any) -> None:
    """engine/codegen/linearize.py: the accumulator of a reduce over two or more ranges is initialized inside the
    first (outermost) of its ranges instead of before all of them (the init placed in the scope of that range: an
    off-by-one in the scope), so it restarts at every step of that range and the result is the reduce of the last
    slice only. Right for a reduce over one range (a row sum, a matmul, a reduce whose axes merge, a range UNROLLed
    away). Wrong where a kernel's reduce keeps two or more ranges: a sum/max over axes that do not merge
    (x.sum(axis=(0, 2)) of a 3-d tensor, the taps of a conv2d, a reduce over a permuted tensor), on every device, where
    the inner range is not unrolled away (the CPU default unrolls an innermost reduce of up to 7; opts [] or a larger
    range keeps it): numpy's sum of every slice vs the sum of the last one. (A reduce whose loop body runs another
    reduce's loops is treated the same way.)"""
    from engine.codegen import kernel
    from engine.codegen import linearize as lin
    from engine.codegen.program import Program
    from engine.uop import Ops, UOp

    orig = lin.linearize

    def is_init(u: UOp) -> bool:
        return u.op is Ops.STORE and u.src[0].src[0].op is Ops.DEFINE_REG and u.src[1].op is Ops.CONST

    def linearize(ast: UOp, name: str, loop_order: list[UOp] | None = None) -> Program:
        prg = orig(ast, name, loop_order)
        uops = list(prg.uops)
        i = 0
        while i < len(uops):
            if not is_init(uops[i]):
                i += 1
                continue
            inits, j = [], i  # the group's init stores, up to the first of its ranges
            while j < len(uops) and uops[j].op is not Ops.RANGE:
                if is_init(uops[j]):
                    inits.append(uops[j])
                j += 1
            regs = {s.src[0].src[0] for s in inits}
            k = j + 1  # a second range opened before the first read of an accumulator: two or more ranges
            while k < len(uops) and not (uops[k].op is Ops.LOAD and uops[k].src[0].src[0] in regs) and \
                    uops[k].op is not Ops.RANGE:
                k += 1
            if j < len(uops) and k < len(uops) and uops[k].op is Ops.RANGE:
                rest = [u for u in uops[i:j + 1] if u not in inits]
                uops[i:j + 1] = rest + inits  # BUG: the inits inside the first range
            i = j + 1
        return Program(prg.name, uops, prg.globals, prg.outs, prg.global_size, prg.local_size)

    mp.setattr(kernel, "linearize", linearize)


def c_vector_reversed_load_as_contiguous(mp: Any) -> None:
    """engine/renderer/c.py `_Lanes.contiguous` (the CPU C renderer's "vector" loop, Opt VECTOR): an ungated index of
    stride -1 along the lanes (a flipped operand: lane l at base - l) counts as adjacent elements: one vector move
    from base - (n - 1), without reversing the lanes (lane l gets base - (n - 1) + l). Right for stride 1 and every
    other stride (lane by lane), and on LLVM and PYTHON (no vectors). Wrong on CPU where a VECTOR loop loads or stores
    a tensor flipped along it: (x + x.flip(1)).sum(0) (the default CPU plan vectorizes the column loop), a flip in a
    kernel with a randomly chosen VECTOR opt: within each vector of 2..64 lanes the flipped values come reversed
    (numpy's x[:, ::-1] vs x with each block of n columns in place)."""
    from engine.renderer.c import _Lanes
    from engine.uop import UOp

    orig = _Lanes.contiguous

    def contiguous(self: _Lanes, idx: UOp) -> str | None:
        if len(idx.src) <= 2 and idx.src[1] in self.affine and self.affine[idx.src[1]][1] == -1:
            return f"({self.affine[idx.src[1]][0]} - {self.n - 1})"  # BUG: lanes not reversed
        return orig(self, idx)

    mp.setattr(_Lanes, "contiguous", contiguous)


def llvm_int_widen_by_dest_sign(mp: Any) -> None:
    """engine/renderer/llvm.py `_Renderer.cast`: an integer widened to a larger integer type is sign- or
    zero-extended by the signedness of the destination instead of the source (sext when the result is signed, zext
    when it is unsigned). Right where both have one signedness, for narrowing and same-width casts, and for values
    under 2^(bits-1). Wrong on LLVM for uint8/uint16/uint32 values from 2^(bits-1) up widened to a signed type (200
    as uint8 -> int32 gives -56; also the implicit casts of numpy's promotion: uint8 + int32, uint16 * int64) and for
    negative int8/int16/int32 widened to an unsigned type (-1 as int8 -> uint32 gives 255, not 4294967295)."""
    from engine.renderer.llvm import _check, _Renderer, ssa_type

    orig = _Renderer.cast

    def cast(self: _Renderer, x: str, s: Any, d: Any) -> str:
        sc, dc = _check(s), _check(d)
        if sc.kind in "iu" and dc.kind in "iu" and sc.bits < dc.bits and (sc.kind == "u") != (dc.kind == "u"):
            ext = "zext" if dc.kind == "u" else "sext"  # BUG: the destination's signedness
            return self.tmp(f"{ext} {ssa_type(sc)} {x} to {ssa_type(dc)}")
        return orig(self, x, s, d)

    mp.setattr(_Renderer, "cast", cast)


MORE = {
    "gpu_merged_grid_dims_mirrored_stride": (gpu_merged_grid_dims_mirrored_stride, "GPU codegen (launch dims)",
                                             ("numpy", "PYTHON_GPU", "device:PYTHON_GPU")),
    "grouped_reduces_share_one_temp": (grouped_reduces_share_one_temp, "GPU codegen (grouped reduce)",
                                       ("numpy", "PYTHON_GPU", "opts", "randopt:gpu")),
    "local_tail_gate_off_by_one": (local_tail_gate_off_by_one, "GPU codegen (Opt LOCAL)",
                                   ("numpy", "PYTHON_GPU", "opts", "randopt:gpu")),
    "tc_tiles_floor_drops_tail": (tc_tiles_floor_drops_tail, "GPU codegen (tensor cores)",
                                  ("numpy", "PYTHON_GPU", "opts", "randopt:gpu")),
    "wmma_warps_interleaved": (wmma_warps_interleaved, "device PYTHON_GPU (WMMA emulation)",
                               ("numpy", "PYTHON_GPU", "opts", "randopt:gpu")),
    "gather_local_shard_first": (gather_local_shard_first, "multi-device", ("numpy", "shard")),
    "shrink_assumes_even_shards": (shrink_assumes_even_shards, "multi-device", ("numpy", "shard")),
    "permute_shard_axis_not_inverted": (permute_shard_axis_not_inverted, "multi-device", ("numpy", "shard")),
    "accum_partials_combined_with_add": (accum_partials_combined_with_add, "codegen (ACCUM expansion)",
                                         ("numpy", "opts")),
    "reduce_init_inside_outer_range": (reduce_init_inside_outer_range, "codegen (linearizer)", ("numpy", "opts")),
    "c_vector_reversed_load_as_contiguous": (c_vector_reversed_load_as_contiguous, "renderer C (vector lanes)",
                                             ("numpy", "device:CPU", "opts")),
    "llvm_int_widen_by_dest_sign": (llvm_int_widen_by_dest_sign, "renderer LLVM", ("numpy", "device:LLVM")),
}
