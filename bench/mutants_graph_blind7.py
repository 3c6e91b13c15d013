"""A seventh blind set of planted bugs for the graph fuzzer's mutation test ("blind7"), written from the engine's
code alone (engine/), without reading the fuzzer, its oracles, the tests or the earlier mutant sets (only the format
of bench/mutants_graph_blind6.py and the earlier sets' names): what the fuzzer finds here measures it against bugs
written with no knowledge of how it generates programs. This set aims at places the earlier sets' names do not
point to: tensor ops not hit before (logsumexp's keepdim=False with a negative axis, chunk, tile with short reps,
conv2d's padding="same" for even kernels, arange's length, where's broadcasting of its else operand); the
scheduler's lowering of a reduce over an empty axis; the tail clamp of a LOCAL split that does not divide its loop;
unsigned remainder in LLVM IR; the zero-divisor guard of the C dialect's integer division; the PYTHON device's wrap
of unsigned results; and the layout of a replicated operand next to an unevenly split one.

How each bug is planted (each function's docstring says what is wrong and which programs it changes):
  - a module-level function replaced by a copy with the bug, or wrapped, where its callers look it up through the
    module: engine.tensor_ops.nn._conv_padding, engine.renderer.c._int_div, engine.runtime.python._fast_wrap (the
    PYTHON device's wrap of ALU results and casts; constant folding uses engine.alu.wrap and stays right),
    engine.multi.with_layout;
  - a method replaced or wrapped on its class (Tensor inherits the mixins' methods): ReduceMixin.logsumexp,
    MovementMixin.chunk, MovementMixin.tile, ElementwiseMixin.arange (a staticmethod), Tensor.where,
    engine.rangeify._Lowerer._reduce (empty reduce axes; every other case passed on), engine.codegen.kernel.
    Kernel._local, engine.renderer.llvm._Renderer.int_alu (unsigned MOD; every other case passed on).
`MORE` maps each name to (function, layer, the parts a finding's signature would plausibly carry). Every bug leaves
most programs right: it needs some op, argument, dtype, device, optimization or shard layout.

Evidence (each bug planted with a MonkeyPatch in a fresh process and the program run on the engine, compared with
numpy and with the unmutated engine, which gave numpy's values; under every one a battery of 12 common programs
stayed right on CPU, LLVM, PYTHON and PYTHON_GPU: (8, 16) @ (16, 5) matmul, conv2d 3x3 with padding 1, softmax(-1),
sum(1), cumsum(1), flip(0), int32 // and % of tensors, pad and cat, max_pool2d(2), (a * 2 + 1).sum(1), .T.mean(0) *
0.5, uint8 // 2 + 3; and on CPU a sharded sum, row sums and matmul over ("CPU", "CPU:1")):
  shown: Tensor(arange(6.).reshape(2,3)).logsumexp(-1) -> shape (2, 1) [[2.4076], [5.4076]] instead of (2,)
  shown: Tensor(arange(5.)).chunk(2) -> [[0,1], [2,3], [4]] instead of [[0,1,2], [3,4]]
  shown: Tensor(arange(6.).reshape(2,3)).tile(2) -> (4, 3) [[0,1,2],[3,4,5],[0,1,2],[3,4,5]] instead of (2, 6)
         [[0,1,2,0,1,2],[3,4,5,3,4,5]]
  shown: Tensor([[[[1.,2,3,4]]]]).conv2d(Tensor([[[[1.,10]]]]), padding="same") -> [10, 21, 32, 43] instead of
         [21, 32, 43, 4]
  shown: Tensor.arange(0, 5, 2) -> [0, 2] instead of [0, 2, 4]; Tensor.arange(1, 2, 0.3) -> [1.0, 1.3, 1.6]
         instead of [1.0, 1.3, 1.6, 1.9]
  shown: (Tensor([[1.],[-1.],[2.]]) > 0).where(1.0, Tensor(arange(12.).reshape(3,4))) -> ValueError (expand:
         cannot expand (3, 4) to (3, 1)) instead of [[1,1,1,1],[4,5,6,7],[1,1,1,1]]
  shown: Tensor(ones((3, 0), float32)).prod(1) on CPU, LLVM and PYTHON -> [0, 0, 0] instead of [1, 1, 1] (sum(1)
         stays [0, 0, 0])
  shown: Tensor(arange(40.).reshape(10,4)).sum(1) on PYTHON_GPU with opts [Opt("LOCAL", 0, 3)] -> SpecError (index
         (min(r0*3+r2, 10)*4)+r1 of buffer 1 (size 40) can leave the buffer) instead of [6, 22, ..., 150]; with the
         default opts it stays right
  shown: Tensor(uint8 [200,130,7,255]) % Tensor(uint8 [7,200,3,16]) on LLVM -> [0, 242, 1, 255] instead of
         [4, 130, 1, 15] (CPU gives the right values)
  shown: Tensor(uint8 [5,6,7]) // Tensor(uint8 [2,0,3]) on CPU -> the process dies of SIGFPE (exit 136) instead of
         [2, 0, 2]; uint32 % likewise
  shown: (Tensor(uint8 [200,100,3]) + the same) // 2 on PYTHON and PYTHON_GPU -> [200, 100, 3] instead of
         [72, 100, 3]; Tensor(int32 [300, 5]).cast(uint8) on PYTHON and PYTHON_GPU -> OverflowError (Python integer
         300 out of bounds for uint8) instead of [44, 5]
  shown: Tensor(arange(4.)).shard(("CPU","CPU:1"), axis=0)[1:] + Tensor([10.,20,30]).shard(("CPU","CPU:1")) ->
         SpecError (index r0+2 of buffer 2 (size 3) can leave the buffer) instead of [11, 22, 33]; likewise
         Tensor(arange(6.)).shard(.., axis=0, sizes=(2, 4)) + a replicated (6,) tensor
"""
from __future__ import annotations

import math
from typing import Any


# ---------------------------------------------------------------------------------------------------- frontend
def logsumexp_negative_axis_kept(mp: Any) -> None:
    """engine/tensor_ops/reduce.py `ReduceMixin.logsumexp`: with keepdim=False the reduced axes are dropped by
    comparing each dim's position with the `axis` argument as given, not normalized: a negative axis (-1, -2, or a
    tuple holding one) matches no position, so the result keeps the reduced axes as size-1 dims (shape (2, 1)
    instead of (2,) for x.logsumexp(-1) of a (2, 3) x; broadcasting it against another tensor then gives an
    outer-product shape). The values are right. Right for axis=None, non-negative axes and keepdim=True, and for
    softmax/log_softmax (their own code); wrong for logsumexp over a negative axis without keepdim."""
    from engine.tensor_ops import reduce

    def logsumexp(self: Any, axis: Any = None, keepdim: bool = False) -> Any:
        def fn(x: Any) -> Any:
            m = x.max(axis, keepdim=True)
            m = m.isinf().where(0.0, m)
            out = (x - m).exp().sum(axis, keepdim=True).log() + m
            if keepdim:
                return out
            # BUG: the axes as given (a negative axis matches no position), not normalized with _axes
            axes = tuple(range(x.ndim)) if axis is None else ((axis,) if isinstance(axis, int) else tuple(axis))
            return out.reshape(tuple(s for i, s in enumerate(out.shape) if i not in axes))
        return self._math(fn)

    mp.setattr(reduce.ReduceMixin, "logsumexp", logsumexp)


def chunk_size_rounds_down(mp: Any) -> None:
    """engine/tensor_ops/movement.py `MovementMixin.chunk`: the piece size is size // n (at least 1) instead of
    torch's ceil(size / n), so an axis that n does not divide comes back in more pieces than n, the first ones
    smaller: a length-5 axis in 2 chunks gives pieces of 2, 2 and 1 instead of 3 and 2 (7 in 3: 2, 2, 2, 1 instead
    of 3, 3, 1). Right where n divides the axis (and for n = 1); wrong for chunk of an axis that n does not divide,
    and for whatever is built from the pieces (a cat of some of them, a stack, their sums)."""
    from engine.tensor_ops import movement

    def chunk(self: Any, n: int, axis: int = 0) -> list:
        if n <= 0:
            raise ValueError(f"chunk: number of chunks must be positive, got {n}")
        size = self.shape[movement._norm_axis(axis, self.ndim, "chunk")]
        return self.split(max(size // n, 1), axis)  # BUG: floor, not ceil

    mp.setattr(movement.MovementMixin, "chunk", chunk)


def tile_short_reps_aligned_left(mp: Any) -> None:
    """engine/tensor_ops/movement.py `MovementMixin.tile`: `reps` shorter than the tensor's ndim is padded with 1s
    at its end instead of its start (numpy aligns reps with the trailing axes), so x.tile(2) of a (2, 3) x repeats
    the rows ((4, 3)) instead of the columns ((2, 6)), and tile((2, 3)) of a 3-d tensor tiles its first two axes.
    Right where len(reps) >= ndim (a 1-d tensor with an int, a full tuple) and for repeat (torch's, which needs
    every rep); wrong for tile of a tensor of 2+ dims with fewer reps than dims (unless the reps are all 1)."""
    from engine.tensor_ops import movement

    def tile(self: Any, reps: Any) -> Any:
        r = (int(reps),) if isinstance(reps, int) else tuple(int(x) for x in reps)
        return self.repeat(r + (1,) * (self.ndim - len(r)))  # BUG: 1s appended, not prepended

    mp.setattr(movement.MovementMixin, "tile", tile)


def conv_same_padding_extra_on_left(mp: Any) -> None:
    """engine/tensor_ops/nn.py `_conv_padding`: padding="same" splits an odd total padding (an even kernel size, or
    dilation (k - 1) odd) with the extra element at the start instead of the end (torch pads (t // 2, t - t // 2)),
    so the output is the torch result shifted by one along that axis: for a 2-wide kernel the first output reads
    the padding and the last input is never reached. Right for odd kernel sizes (3x3, 5x5, 1x1: an even total
    splits evenly), for numeric and "valid" padding; wrong for conv2d(padding="same") with a kernel of even size
    along some axis (2x2, 4x4, 1x2, 3x2) or an odd dilation * (k - 1)."""
    from engine.tensor_ops import nn

    orig = nn._conv_padding

    def _conv_padding(padding: Any, k: tuple, d: tuple, s: tuple) -> list:
        if padding == "same" and not any(x != 1 for x in s):
            tot = [di * (ki - 1) for ki, di in zip(k, d)]
            return [(t - t // 2, t // 2) for t in tot]  # BUG: the extra element goes first
        return orig(padding, k, d, s)

    mp.setattr(nn, "_conv_padding", _conv_padding)


def arange_length_floors(mp: Any) -> None:
    """engine/tensor_ops/elementwise.py `ElementwiseMixin.arange`: the number of elements is floor((stop - start) /
    step) instead of numpy's ceil, so a range whose length is not a whole number of steps loses its last element:
    arange(0, 5, 2) gives [0, 2] instead of [0, 2, 4], arange(1, 2, 0.3) three elements instead of four, arange(5,
    0, -2) [5, 3] instead of [5, 3, 1]. Right for arange(n), arange(a, b) and every range that steps exactly onto its
    stop (arange(0, 6, 2), linspace-like float steps that divide evenly); wrong for a step that does not divide
    stop - start: a shape mismatch with numpy, then every op on it."""
    from engine.dtype import dtypes, to_dtype
    from engine.tensor_ops import elementwise as ew

    def arange(start: Any, stop: Any = None, step: Any = 1, dtype: Any = None, device: Any = None) -> Any:
        if stop is None:
            start, stop = 0, start
        if step == 0:
            raise ValueError("arange: step must not be 0")
        n = max(math.floor((stop - start) / step), 0)  # BUG: floor, not ceil
        is_int = all(isinstance(v, int) for v in (start, stop, step))
        dt = to_dtype(dtype) if dtype is not None else (dtypes.int64 if is_int else dtypes.float64)
        idx = ew._iota(n, device)
        work = dt if dt.is_int else dtypes.float64
        out = idx.cast(work) * step + start if (step, start) != (1, 0) else idx.cast(work)
        return out.cast(dt)

    mp.setattr(ew.ElementwiseMixin, "arange", staticmethod(arange))


def where_shape_ignores_else_operand(mp: Any) -> None:
    """engine/tensor.py `Tensor.where`: the result shape is broadcast from the condition and the `a` (then) operand
    only; the `b` (else) operand is broadcast to that shape instead of taking part in it. Where b's shape is no
    larger than theirs nothing changes; where b is larger along some axis (more dims, or a dim where cond and a have
    1) broadcast_to refuses it (ValueError) instead of numpy's broadcast result. Right for where with a scalar else
    value, with operands of one shape, and where cond or a carry the full shape (relu-like masks, maximum via where,
    clip); wrong for cond.where(a, b) with b of a larger broadcast shape: (x > 0).where(1.0, y) for x (3, 1) and y
    (3, 4), or a row mask with a scalar then-value and a matrix else-value."""
    from engine import tensor as tmod
    from engine.dtype import dtypes
    from engine.uop import Ops, UOp

    T = tmod.Tensor

    def where(self: Any, a: Any, b: Any) -> Any:
        cond = self.cast(dtypes.bool)
        if isinstance(a, T) and isinstance(b, T):
            dt = tmod.promote(a.dtype, b.dtype)
        elif isinstance(a, T):
            dt = tmod._weak_dtype(a.dtype, b)
        elif isinstance(b, T):
            dt = tmod._weak_dtype(b.dtype, a)
        else:
            dt = tmod.promote(tmod._scalar_dtype(a), tmod._scalar_dtype(b))
        tmod.same_device("where", self, *(t for t in (a, b) if isinstance(t, T)))
        ta = a.cast(dt) if isinstance(a, T) else T.full((), a, dt, self.device)
        tb = b.cast(dt) if isinstance(b, T) else T.full((), b, dt, self.device)
        shape = tmod._broadcast_shape(cond.shape, ta.shape)  # BUG: tb's shape left out
        return self._new(UOp(Ops.WHERE, dt, (cond.broadcast_to(shape).uop, ta.broadcast_to(shape).uop,
                                             tb.broadcast_to(shape).uop)))

    mp.setattr(tmod.Tensor, "where", where)


# ---------------------------------------------------------------------------------------------------- scheduler
def empty_reduce_identity_zero(mp: Any) -> None:
    """engine/rangeify.py `_Lowerer._reduce`: a reduce over an axis of size 0 is lowered to the constant 0 instead
    of its op's identity (reduce_identity: 0 for ADD, 1 for MUL, the least value for MAX). So prod over an empty axis
    gives 0 instead of 1. Right for sums over an empty axis (0 is their identity: sum, mean's numerator,
    any() of an empty axis, which goes through a sum) and every reduce over non-empty axes; wrong for x.prod(axis)
    where that axis has size 0 (a (3, 0) tensor's prod(1): [0, 0, 0] instead of [1, 1, 1]), on every device."""
    from engine import rangeify
    from engine.shape import shape_of
    from engine.uop import Ops, UOp

    orig = rangeify._Lowerer._reduce

    def _reduce(self: Any, u: Any, idx: tuple, valid: Any) -> Any:
        _, axes = u.arg
        src_shape = shape_of(u.src[0])
        if u.op is Ops.REDUCE_AXIS and any(src_shape[a] == 0 for a in axes):
            return UOp.const(u.dtype, 0)  # BUG: reduce_identity(rop, dtype), not 0
        return orig(self, u, idx, valid)

    mp.setattr(rangeify._Lowerer, "_reduce", _reduce)


# ---------------------------------------------------------------------------------------------------- codegen
def local_tail_clamp_one_past(mp: Any) -> None:
    """engine/codegen/kernel.py `Kernel._local`: LOCAL by an amount that does not divide the loop rounds the
    workgroups up, gates the stores of the threads past the end and clamps their index for the loads; the clamp is
    min(expr, end) instead of min(expr, end - 1), so the extra threads read one element past the loop's end. The
    stores stay gated, but the kernel's loads can now leave their buffers, which the kernel check refuses before
    anything runs (SpecError; on a loop that is not the outermost the read lands in the next row, in bounds, and is
    thrown away). Right for LOCAL amounts that divide the loop (the default GPU opts', which pick divisors), on CPU
    devices and without LOCAL; wrong on PYTHON_GPU (and OPENCL, CUDA) for explicit LOCAL opts that do not divide
    the loop they split."""
    from engine.codegen import kernel
    from engine.rewrite import substitute
    from engine.uop import Ops, UOp

    def _local(self: Any, opt: Any) -> None:
        n = self._gpu_opt(opt)
        if not 0 <= opt.axis < len(self.order) or self.order[opt.axis].arg[1] != "loop":
            raise kernel.OptError(f"{self.name}: no output loop {opt.axis} to split into threads")
        r = self.order[opt.axis]
        end = r.src[0].arg
        if end % n == 0:
            outer, inner = self._split(r, n, "global", "local")
        else:
            outer = UOp.range(-(-end // n), r.arg[0], "global")
            inner = UOp.range(n, self._next_axis, "local")
            self._next_axis += 1
            expr = outer * n + inner
            live = expr < end
            stores = []
            for s in self.ast.src:
                if r in s.toposort:
                    s = kernel.gpu_shape._gate(substitute(s, {r: expr.minimum(end)}), live)  # BUG: end - 1
                stores.append(s)
            self.ast = UOp(Ops.SINK, self.ast.dtype, tuple(stores), self.ast.arg)
        self.order = [outer if x is r else x for x in self.order if x is not r or outer.op is Ops.RANGE] + [inner]

    mp.setattr(kernel.Kernel, "_local", _local)


# ---------------------------------------------------------------------------------------------------- renderers
def llvm_unsigned_mod_signed_rem(mp: Any) -> None:
    """engine/renderer/llvm.py `_Renderer.int_alu`: MOD of an unsigned integer dtype is emitted as `srem` (signed
    remainder) instead of `urem`, so a dividend or divisor with its top bit set (uint8 from 128, uint16 from 32768,
    uint32 from 2**31) is read as negative: 200 % 7 in uint8 gives 0 (-56 srem 7, as unsigned 0) instead of 4, 130
    % 200 gives 130 - 200 wrapped. IDIV keeps udiv. Right for signed ints, for unsigned values below the sign bit
    and on the other devices; wrong on LLVM for `%` of uint8/16/32/64 tensors holding large values (numpy's
    remainder of unsigned ints is the MOD itself: no adjustment hides it)."""
    from engine.renderer import llvm
    from engine.uop import Ops

    orig = llvm._Renderer.int_alu

    def int_alu(self: Any, u: Any, dt: Any, args: list) -> str:
        if u.op is Ops.MOD and dt.kind == "u":
            t, (a, b) = llvm.ssa_type(dt), args
            zero = self.tmp(f"icmp eq {t} {b}, 0")
            safe = self.tmp(f"select i1 {zero}, {t} 1, {t} {b}")
            return self.tmp(f"srem {t} {a}, {safe}")  # BUG: urem for unsigned
        return orig(self, u, dt, args)

    mp.setattr(llvm._Renderer, "int_alu", int_alu)


def c_div_zero_guard_skips_unsigned(mp: Any) -> None:
    """engine/renderer/c.py `_int_div`: the guard against a zero divisor (`b == 0 ? 0 : a / b`) is emitted only where
    the divisor's bounds strictly contain 0 (lo < 0 <= hi) instead of lo <= 0 <= hi, so a divisor whose lower bound
    is exactly 0 (every unsigned or bool-derived divisor, a loaded uint tensor, an int clipped at 0) divides
    unguarded: a zero divisor is undefined in C and traps on x86 (SIGFPE, the process dies) instead of numpy's 0.
    Right for signed divisors (lo < 0: guarded), for constant divisors, for divisors whose bounds exclude 0, and on
    LLVM/PYTHON; wrong on CPU (and in the OpenCL/CUDA dialects, which render the same expression: undefined there)
    for // or % of unsigned tensors where the divisor holds a 0."""
    from engine.renderer import c
    from engine.uop import Ops

    def _int_div(u: Any, a: str, b: str) -> str:
        lo, hi = u.src[1].bounds
        zero, neg1 = lo < 0 <= hi, u.dtype.scalar.kind in "ix" and lo <= -1 <= hi  # BUG: lo <= 0 <= hi
        expr = f"({a} / {b})" if u.op is Ops.IDIV else f"({a} % {b})"
        if neg1:
            expr = f"({b} == -1 ? {f'(0 - {a})' if u.op is Ops.IDIV else '0'} : {expr})"
        return f"({b} == 0 ? 0 : {expr})" if zero else expr

    mp.setattr(c, "_int_div", _int_div)


# ---------------------------------------------------------------------------------------------------- PYTHON device
def python_unsigned_wrap_skipped_when_positive(mp: Any) -> None:
    """engine/runtime/python.py `_fast_wrap`: the PYTHON device's fast wrap of an unsigned int dtype passes a
    non-negative value through unchanged (as if it always fit) and wraps only negative ones, so results above the
    dtype's maximum are not reduced modulo 2**bits: uint8 200 + 100 stays 300, an int32 300 cast to uint8 stays 300.
    Stored directly, such a value fails the write-back (OverflowError: numpy refuses 300 for uint8); consumed in the
    same kernel (a comparison, a division, a cast to float or a wider int) it gives numpy's value plus a multiple of
    2**bits. Right for signed ints, for unsigned results in range and those that wrap below 0 (x - y), and on the
    other devices (and for constants, folded by engine.alu.wrap); wrong on PYTHON and PYTHON_GPU for unsigned
    arithmetic or int -> unsigned casts that overflow upward."""
    from engine.runtime import python

    orig = python._fast_wrap

    def _fast_wrap(dtype: Any) -> Any:
        w = orig(dtype)
        if dtype.scalar.kind != "u":
            return w
        return lambda v: int(v) if v >= 0 else w(v)  # BUG: a non-negative value is assumed to fit

    mp.setattr(python, "_fast_wrap", _fast_wrap)


# ---------------------------------------------------------------------------------------------------- multi-device
def replicated_split_by_even_sizes(mp: Any) -> None:
    """engine/multi.py `with_layout`: a replicated tensor laid out to match a split operand (an elementwise op of a
    split tensor with a replicated one) is cut into even pieces (even_sizes of the axis over the devices) instead
    of the split operand's own `sizes`. Where the split is even (every shard of a tensor whose axis the device count
    divides, or the default split of one that it does not) the two agree; where it is not (explicit uneven sizes, a
    slice of a split tensor that left the pieces unequal: x.shard(2 devices, axis=0)[1:] of 4 elements has pieces
    of 1 and 2) the pieces of the two operands do not line up: the replicated operand's piece on a device is cut at
    other bounds, so its reads leave that piece (the kernel check refuses it: SpecError) or, where they stay inside,
    combine elements with the wrong partners. Right for replicated-with-replicated and
    split-with-split ops of one layout; wrong for an elementwise op of an unevenly split tensor with a replicated
    (or differently split) one."""
    from engine import multi

    def with_layout(m: Any, axis: Any, sizes: Any, devices: Any) -> Any:
        devices = tuple(devices)
        if m.axis == axis and m.devices == devices and (axis is None or m.sizes == tuple(sizes or ())):
            return m
        if m.axis is not None or not set(devices) <= set(m.devices):
            m = multi.MultiTensor([multi.gather(m, d) for d in devices], None)
        full = [m.shards[m.devices.index(d)] for d in devices]
        if axis is None or sizes is None:
            return multi.MultiTensor([multi.Tensor(s.uop, device=s.device) for s in full], None)
        even = multi.even_sizes(sum(sizes), len(sizes))  # BUG: the split's own sizes, not even ones
        return multi.MultiTensor([multi._piece(s, axis, b) for s, b in zip(full, multi._bounds(even))], axis)

    mp.setattr(multi, "with_layout", with_layout)


MORE = {
    "logsumexp_negative_axis_kept": (logsumexp_negative_axis_kept, "frontend (logsumexp keepdim)",
                                     ("numpy", "shape", "logsumexp")),
    "chunk_size_rounds_down": (chunk_size_rounds_down, "frontend (chunk)", ("numpy", "shape", "chunk", "split")),
    "tile_short_reps_aligned_left": (tile_short_reps_aligned_left, "frontend (tile)", ("numpy", "shape", "tile")),
    "conv_same_padding_extra_on_left": (conv_same_padding_extra_on_left, "frontend (conv padding same)",
                                        ("numpy", "conv2d")),
    "arange_length_floors": (arange_length_floors, "frontend (arange length)", ("numpy", "shape", "arange")),
    "where_shape_ignores_else_operand": (where_shape_ignores_else_operand, "frontend (where broadcasting)",
                                         ("numpy", "ValueError", "where")),
    "empty_reduce_identity_zero": (empty_reduce_identity_zero, "scheduler (empty reduce)",
                                   ("numpy", "prod", "empty")),
    "local_tail_clamp_one_past": (local_tail_clamp_one_past, "codegen GPU (LOCAL tail)",
                                  ("SpecError", "device:PYTHON_GPU", "LOCAL")),
    "llvm_unsigned_mod_signed_rem": (llvm_unsigned_mod_signed_rem, "renderer LLVM (unsigned mod)",
                                     ("numpy", "device:LLVM", "uint8", "uint16", "uint32", "mod")),
    "c_div_zero_guard_skips_unsigned": (c_div_zero_guard_skips_unsigned, "renderer C (division by zero)",
                                        ("crash", "signal", "device:CPU", "uint8", "uint32", "floordiv", "mod")),
    "python_unsigned_wrap_skipped_when_positive": (python_unsigned_wrap_skipped_when_positive,
                                                   "device PYTHON (unsigned wrap)",
                                                   ("numpy", "OverflowError", "device:PYTHON", "device:PYTHON_GPU",
                                                    "uint8")),
    "replicated_split_by_even_sizes": (replicated_split_by_even_sizes, "multi-device (layout of a replicated operand)",
                                       ("numpy", "shard", "shrink")),
}
