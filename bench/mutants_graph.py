"""Mutation analysis of the graph fuzzer: bugs planted in every layer of the engine, and how fast a seeded graph
campaign finds each one.

Usage: python bench/mutants_graph.py [--seconds 30] [--seed 1] [--only NAME[,NAME...]] [--minimize 10]
                                     [--markdown] [--list]

Each mutant is a small function that installs one realistic bug with a monkeypatch-like object (`mp.setattr`),
like tests/graph_planted.py, on the lowest layer that owns the behaviour (tensor op, scheduler, code generation,
renderer, device, multi-device). These are NEW bugs, not the ones the tests plant: a fuzzer tuned to those only would
miss them. For each mutant a fresh process installs it and runs `fuzz.campaign.run_campaign(["graphs"], ...)` with
one worker (forked: it inherits the bug) into a scratch corpus. A finding counts for the mutant when its minimized
case passes on the clean engine (this process, which never installs a bug, checks it in an isolated worker), so a
real engine bug found on the way is not credited to a mutant; `sig` says whether its signature names the layer the
mutant lives in. Columns: found, seconds to the first case that found it (from the campaign's timeline), its
signature, the minimized case's op count, cases run.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib.util
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Patch:
    """The monkeypatch-like object the plants get in a throwaway process (pytest's monkeypatch in the tests)."""

    def setattr(self, obj: Any, name: str, value: Any) -> None:
        setattr(obj, name, value)


# ---------------------------------------------------------------------------------------------- tensor ops
def cat_later_input_off_by_one(mp: Any) -> None:
    """Tensor op cat: the select mask of the third and later inputs starts one element late (a running offset
    bumped before its use), so the first row of each of those inputs shows the input before it."""
    import functools

    from engine.dtype import dtypes, promote
    from engine.tensor_ops import movement as mv

    orig = mv.MovementMixin.cat

    def planted(tensors: Any, axis: int = 0) -> Any:
        if len(tensors) < 3:
            return orig(tensors, axis)
        orig(tensors, axis)  # its checks and errors
        T = mv._tensor_cls()
        ax = axis % tensors[0].ndim
        dt = functools.reduce(promote, [t.dtype for t in tensors])
        total, out, offset = sum(t.shape[ax] for t in tensors), None, 0
        for k, t in enumerate(tensors):
            n = t.shape[ax]
            if n == 0 and out is not None:
                continue
            pads = [(0, 0)] * t.ndim
            pads[ax] = (offset, total - offset - n)
            part = t.cast(dt).pad(pads)
            if out is None:
                out = part
            else:
                mshape, mpads = list(t.shape), list(pads)
                if k >= 2 and n > 1:
                    mshape[ax], mpads[ax] = n - 1, (offset + 1, total - offset - n)
                out = T.ones(tuple(mshape), dtypes.bool, t.device).pad(mpads).where(part, out)
            offset += n
        return out

    mp.setattr(mv.MovementMixin, "cat", staticmethod(planted))


def slice_negative_step_ignored(mp: Any) -> None:
    """Tensor op indexing: a strided slice with a negative step other than -1 (x[::-2]) walks with step -1, so it
    takes the right count of elements from a contiguous run."""
    from engine.tensor_ops import movement as mv

    orig = mv._basic_view

    def planted(x: Any, spec: list[tuple[int, int, int]]) -> Any:
        return orig(x, [(b, -1 if st < -1 else st, n) for b, st, n in spec])

    mp.setattr(mv, "_basic_view", planted)


def argmax_tie_takes_last(mp: Any) -> None:
    """Tensor op argmax/argmin: on a tie the last index wins instead of the first (numpy's rule)."""
    from engine.dtype import dtypes
    from engine.tensor_ops import reduce as rd

    def planted(self: Any, axis: Any, keepdim: bool, largest: bool) -> Any:
        from engine.tensor import Tensor, _axis

        x = self.reshape(-1) if axis is None else self
        ax = 0 if axis is None else _axis(axis, self.ndim)
        n = x.shape[ax] if x.ndim else 1
        if n == 0:
            raise ValueError("argmax of an empty axis")
        if x.ndim == 0:
            return Tensor.zeros((), dtypes.int64, self.device)
        m = x.max(ax, keepdim=True) if largest else x.min(ax, keepdim=True)
        hit = (x == m) | x.isnan()
        pos = rd._iota(n, self.device).reshape(tuple(n if i == ax else 1 for i in range(x.ndim)))
        out = hit.where(pos, 0).max(ax, keepdim=True)
        if axis is None:
            return out.reshape((1,) * self.ndim) if keepdim else out.reshape(())
        return out if keepdim else out.reshape(tuple(s for i, s in enumerate(out.shape) if i != ax))

    mp.setattr(rd.ReduceMixin, "_arg_extreme", planted)


def cumsum_long_blocks_inclusive(mp: Any) -> None:
    """Tensor op cumsum: a scan longer than 256 (the blocked path) offsets each block by the inclusive scan of
    the block totals, so every block after the first counts itself twice."""
    from engine.tensor_ops import reduce as rd

    orig = rd._cumsum_last

    def planted(x: Any) -> Any:
        *lead, n = x.shape
        if n <= rd.CUMSUM_DIRECT_MAX:
            return orig(x)
        block = int(n ** 0.5 - 1e-9) + 1
        k = -(-n // block)
        blocks = x.pad(tuple((0, 0) for _ in lead) + ((0, k * block - n),)).reshape(*lead, k, block)
        inner = planted(blocks)
        totals = inner.shrink(tuple((0, s) for s in lead) + ((0, k), (block - 1, block))).reshape(*lead, k)
        before = planted(totals)  # should be exclusive: planted(totals) - totals
        out = inner + before.reshape(*lead, k, 1)
        return out.reshape(*lead, k * block).shrink(tuple((0, s) for s in lead) + ((0, n),))

    mp.setattr(rd, "_cumsum_last", planted)


def gather_negative_index_one_off(mp: Any) -> None:
    """Tensor op gather: a negative index wraps to size - 1 + i instead of size + i (one element early)."""
    from engine.tensor_ops import movement as mv

    orig = mv.MovementMixin.gather

    def planted(self: Any, axis: int, index: Any) -> Any:
        if isinstance(index, mv._tensor_cls()) and not index.dtype.is_float:
            index = (index < 0).where(index + (self.shape[axis % self.ndim] - 1), index)
        return orig(self, axis, index)

    mp.setattr(mv.MovementMixin, "gather", planted)


def matmul_square_operand_transposed(mp: Any) -> None:
    """Tensor op matmul: a fast path for square right operands takes them as already transposed (a @ b.T)."""
    from engine.tensor_ops import nn

    orig = nn.NNMixin.matmul

    def planted(self: Any, other: Any) -> Any:
        if getattr(other, "ndim", 0) >= 2 and other.shape[-1] == other.shape[-2] > 1:
            other = other.transpose(-1, -2)
        return orig(self, other)

    mp.setattr(nn.NNMixin, "matmul", planted)


def conv_width_dilation_ignored(mp: Any) -> None:
    """Tensor op conv2d: the dilation of every spatial axis after the first is taken as 1."""
    from engine.tensor_ops import nn

    orig = nn._windows

    def planted(x: Any, k: tuple[int, ...], s: tuple[int, ...], d: tuple[int, ...]) -> Any:
        return orig(x, k, s, d[:1] + (1,) * (len(d) - 1))

    mp.setattr(nn, "_windows", planted)


def max_pool_pads_with_zero(mp: Any) -> None:
    """Tensor op max_pool2d: padding is filled with 0 instead of the dtype's lowest value (the reduce's
    identity), so a window of negatives that overlaps the border gives 0."""
    from engine.tensor_ops import nn

    def planted(self: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1) -> Any:
        k = nn._tuple(kernel_size, 2, "max_pool2d kernel_size")
        s = k if stride is None else nn._tuple(stride, 2, "max_pool2d stride")
        p, d = nn._tuple(padding, 2, "max_pool2d padding"), nn._tuple(dilation, 2, "max_pool2d dilation")
        x = self.pad([(0, 0)] * (self.ndim - 2) + [(pi, pi) for pi in p]) if any(p) else self
        return nn._windows(x, k, s, d).max((-2, -1))

    mp.setattr(nn.NNMixin, "max_pool2d", planted)


def avg_pool_excludes_padding(mp: Any) -> None:
    """Tensor op avg_pool2d: divides by the number of elements inside the input (count_include_pad=False)
    where torch's default divides by the kernel size."""
    from engine.tensor_ops import nn

    orig = nn.NNMixin.avg_pool2d

    def planted(self: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Any:
        out = orig(self, kernel_size, stride, padding)
        if not any(nn._tuple(padding, 2, "p")):
            return out
        k = nn._tuple(kernel_size, 2, "k")
        ones = nn._tensor_cls().ones(self.shape[-2:], out.dtype, self.device).reshape((1,) + self.shape[-2:])
        count = orig(ones, kernel_size, stride, padding) * (k[0] * k[1])
        return out * (k[0] * k[1]) / count.reshape(count.shape[1:])

    mp.setattr(nn.NNMixin, "avg_pool2d", planted)


def small_int_sum_in_own_dtype(mp: Any) -> None:
    """Tensor op sum: 8- and 16-bit integers accumulate in their own dtype and are widened afterwards (numpy
    accumulates in int64/uint64), so a long or large row wraps."""
    from engine.dtype import dtypes
    from engine.tensor import Tensor, _sum_dtype
    from engine.uop import Ops

    orig = Tensor.sum
    small = (dtypes.int8, dtypes.int16, dtypes.uint8, dtypes.uint16)

    def planted(self: Any, axis: Any = None, keepdim: bool = False, dtype: Any = None) -> Any:
        if dtype is None and self.dtype in small:
            return self._reduce(Ops.ADD, axis, keepdim).cast(_sum_dtype(self.dtype))
        return orig(self, axis, keepdim, dtype)

    mp.setattr(Tensor, "sum", planted)


def float_floordiv_whole_quotient(mp: Any) -> None:
    """Tensor op // and % on floats: floor(q) is computed as trunc(q) - 1 wherever q <= trunc(q) (should be <),
    so an exact whole quotient (6.0 // 3.0) comes out one less, and 6.0 % 3.0 gives 3.0."""
    import engine.tensor as tn
    from engine.uop import Ops

    orig = tn._floordiv

    def planted(a: Any, b: Any) -> Any:
        if not a.dtype.is_float:
            return orig(a, b)
        q = a / b
        t = q._unary(Ops.TRUNC)
        return (q <= t).where(t - 1, t)

    mp.setattr(tn, "_floordiv", planted)


# ---------------------------------------------------------------------------------------------- scheduler
def shrink_start_dropped_on_later_axis(mp: Any) -> None:
    """Scheduler (rangeify): a shrink that starts past 0 on two or more axes loses the start of the last of them
    (an index offset applied to all but the last axis)."""
    import engine.rangeify as rf
    from engine.uop import Ops

    orig = rf._Lowerer._lower

    def planted(self: Any, u: Any, idx: Any, valid: Any) -> Any:
        if u.op is Ops.SHRINK and not (u is not self.root and u in self.realized):
            starts = [d for d, (b, _) in enumerate(u.arg) if b]
            if len(starts) >= 2:
                new = tuple(i + b if b and d != starts[-1] else i for d, (i, (b, _)) in enumerate(zip(idx, u.arg)))
                return (rf._SAME, [(u.src[0], new, valid)], None)
        return orig(self, u, idx, valid)

    mp.setattr(rf._Lowerer, "_lower", planted)


def flip_odd_axis_rotated(mp: Any) -> None:
    """Scheduler (rangeify): a flip of an odd-sized axis indexes (size - i) % size instead of size - 1 - i (an
    off-by-one that stays in bounds: a reversal rotated by one)."""
    import engine.rangeify as rf
    from engine.uop import Ops

    orig = rf._Lowerer._lower

    def planted(self: Any, u: Any, idx: Any, valid: Any) -> Any:
        if u.op is Ops.FLIP and not (u is not self.root and u in self.realized):
            src_shape = rf.shape_of(u.src[0])
            if any(d in u.arg and s % 2 for d, s in enumerate(src_shape)):
                new = tuple(((s - i) % s if s % 2 else (s - 1) - i) if d in u.arg else i
                            for d, (i, s) in enumerate(zip(idx, src_shape)))
                return (rf._SAME, [(u.src[0], new, valid)], None)
        return orig(self, u, idx, valid)

    mp.setattr(rf._Lowerer, "_lower", planted)


def permute_applied_inverted(mp: Any) -> None:
    """Scheduler (rangeify): a permute's index map uses the inverse permutation (the same for swaps, wrong for
    3-cycles and longer)."""
    import engine.rangeify as rf
    from engine.dtype import dtypes
    from engine.uop import Ops, UOp

    orig = rf._Lowerer._lower

    def planted(self: Any, u: Any, idx: Any, valid: Any) -> Any:
        if u.op is Ops.PERMUTE and not (u is not self.root and u in self.realized):
            new_l = [UOp.const(dtypes.index, 0)] * len(idx)
            for d, o in enumerate(u.arg):
                new_l[d] = idx[o]
            return (rf._SAME, [(u.src[0], tuple(new_l), valid)], None)
        return orig(self, u, idx, valid)

    mp.setattr(rf._Lowerer, "_lower", planted)


def assign_hazard_undetected(mp: Any) -> None:
    """Scheduler: an assign whose value reads the target buffer at other indices (x.assign(x.flip(0) + 1)) is
    stored in place instead of through a temporary, so later elements read values the kernel already wrote."""
    import engine.rangeify as rf

    mp.setattr(rf, "_reads_output_elsewhere", lambda ast: False)


def assign_order_ignores_old_readers(mp: Any) -> None:
    """Scheduler: kernels that read a buffer's old contents are not ordered before the assign that overwrites it
    (only data dependencies order kernels), so a reader may see the new contents."""
    import engine.rangeify as rf

    orig = rf._region

    def planted(u: Any, to_realize: Any) -> Any:
        deps, _ = orig(u, to_realize)
        return deps, set()

    mp.setattr(rf, "_region", planted)


# ---------------------------------------------------------------------------------------------- code generation
def max_accumulator_init_finite(mp: Any) -> None:
    """Codegen (linearize): a float MAX accumulator starts at -FLT_MAX (the lowest finite value) instead of -inf,
    so a max over a row of -inf gives -FLT_MAX (the classic wrong init)."""
    import engine.codegen.linearize as lz
    from engine.uop import Ops

    orig = lz.reduce_identity

    def planted(op: Any, dtype: Any) -> Any:
        if op is Ops.MAX and dtype.scalar.is_float:
            return -3.4028234663852886e38
        return orig(op, dtype)

    mp.setattr(lz, "reduce_identity", planted)


def accum_combine_drops_last_lane(mp: Any) -> None:
    """Codegen (UNROLL/ACCUM opts): combining three or more lanes or accumulators stops one short, so the last
    lane's share of the reduce is lost."""
    import engine.codegen.expand as ex

    orig = ex._combine

    def planted(red: Any, lanes: list[Any]) -> Any:
        return orig(red, lanes[:-1] if len(lanes) >= 3 else lanes)

    mp.setattr(ex, "_combine", planted)


def local_split_rounds_down(mp: Any) -> None:
    """GPU codegen (Opt LOCAL): a loop that the workgroup size does not divide gets floor(n / size) workgroups
    instead of ceil, so the tail past the last full workgroup is never computed."""
    import engine.codegen.kernel as kn
    from engine.rewrite import substitute
    from engine.uop import Ops, UOp

    orig = kn.Kernel._local

    def planted(self: Any, opt: Any) -> None:
        r = self.order[opt.axis] if 0 <= opt.axis < len(self.order) else None
        end = r.src[0].arg if r is not None and r.src[0].op is Ops.CONST else 0
        orig(self, opt)
        if r is None or not end or end % opt.amount == 0 or end < 2 * opt.amount:
            return
        outer = next(x for x in self.order if x.op is Ops.RANGE and x.arg[0] == r.arg[0])
        short = UOp.range(end // opt.amount, outer.arg[0], outer.arg[1])
        self.ast = substitute(self.ast, {outer: short})
        self.order = [short if x is outer else x for x in self.order]

    mp.setattr(kn.Kernel, "_local", planted)


# ---------------------------------------------------------------------------------------------- renderers
def llvm_signed_idiv_floors(mp: Any) -> None:
    """LLVM renderer: signed integer division rounds toward -inf (Python's //) instead of truncating as C does,
    so the frontend's floor correction is applied twice: -7 // 2 gives -5."""
    import engine.renderer.llvm as ll
    from engine.uop import Ops

    orig = ll._Renderer.int_alu

    def planted(self: Any, u: Any, dt: Any, args: list[str]) -> str:
        r = orig(self, u, dt, args)
        if u.op is not Ops.IDIV or dt.kind != "i":
            return r
        t, (a, b) = ll.ssa_type(dt), args
        bad = self.tmp(f"or i1 {self.tmp(f'icmp eq {t} {b}, 0')}, {self.tmp(f'icmp eq {t} {b}, -1')}")
        rem = self.tmp(f"srem {t} {a}, {self.tmp(f'select i1 {bad}, {t} 1, {t} {b}')}")
        neg = self.tmp(f"icmp slt {t} {self.tmp(f'xor {t} {rem}, {b}')}, 0")
        adj = self.tmp(f"and i1 {neg}, {self.tmp(f'icmp ne {t} {rem}, 0')}")
        return self.tmp(f"sub {t} {r}, {self.tmp(f'zext i1 {adj} to {t}')}")

    mp.setattr(ll._Renderer, "int_alu", planted)


def llvm_nan_to_bool_false(mp: Any) -> None:
    """LLVM renderer: a float to bool cast uses an ordered compare (fcmp one), so NaN becomes False (numpy: True)."""
    import engine.renderer.llvm as ll

    orig = ll._Renderer.cast

    def planted(self: Any, x: str, s: Any, d: Any) -> str:
        if d.scalar.kind == "b" and s.scalar.kind == "f":
            return self.tmp(f"fcmp one {ll.ssa_type(s.scalar)} {x}, 0.0")
        return orig(self, x, s, d)

    mp.setattr(ll._Renderer, "cast", planted)


def llvm_log2_f64_in_f32(mp: Any) -> None:
    """LLVM renderer: LOG2 of float64 calls the float32 intrinsic (log2 and log of float64 lose half their
    digits)."""
    import engine.renderer.llvm as ll
    from engine.uop import Ops

    orig = ll._Renderer.float_alu

    def planted(self: Any, u: Any, dt: Any, args: list[str]) -> str:
        if u.op is Ops.LOG2 and dt.name == "float64":
            f = self.tmp(f"fptrunc double {args[0]} to float")
            return self.tmp(f"fpext float {self.call('float', 'llvm.log2.f32', f'float {f}')} to double")
        return orig(self, u, dt, args)

    mp.setattr(ll._Renderer, "float_alu", planted)


def llvm_where_swapped_on_compared_loads(mp: Any) -> None:
    """LLVM renderer: a select whose condition compares two loaded values has its arms swapped (a peephole that
    inverts the compare and forgets to invert it back)."""
    import engine.renderer.llvm as ll
    from engine.uop import GroupOp, Ops, UOp

    orig = ll._Renderer.alu

    def planted(self: Any, u: Any) -> str:
        c = u.src[0] if u.op is Ops.WHERE else None
        if c is not None and c.op in GroupOp.Comparison and all(s.op is Ops.LOAD for s in c.src):
            return orig(self, UOp(Ops.WHERE, u.dtype, (c, u.src[2], u.src[1]), u.arg))
        return orig(self, u)

    mp.setattr(ll._Renderer, "alu", planted)


def c_mod_takes_divisor_sign(mp: Any) -> None:
    """C renderer: signed % is rendered with Python's sign rule (the divisor's) instead of C's (the dividend's);
    `%` still comes out right, but `//`, which corrects C's truncated quotient by the remainder's sign, is no
    longer corrected: -7 // 2 gives -3 (CPU device only)."""
    import engine.renderer.c as c
    from engine.uop import Ops

    orig = c._alu

    def planted(u: Any, s: list[str], *d: Any) -> str:
        r = orig(u, s, *d)
        if u.op is Ops.MOD and u.dtype.scalar.kind == "i":
            return f"({r} != 0 && (({r} < 0) != ({s[1]} < 0)) ? {r} + {s[1]} : {r})"
        return r

    mp.setattr(c, "_alu", planted)


def c_float_to_int_saturates(mp: Any) -> None:
    """C renderer: float to (u)int8/16/32 casts saturate at the type's range instead of truncating to int64 and
    wrapping as engine.alu defines (300.0 to int8 gives 127, not 44; CPU device only)."""
    import engine.renderer.c as c
    from engine.uop import Ops, UOp

    orig = c._alu

    def planted(u: Any, s: list[str], *d: Any) -> str:
        dt = u.dtype.scalar
        if u.op is Ops.CAST and u.src[0].dtype.scalar.is_float and dt.kind in "iu" and dt.itemsize < 8:
            lo, hi = c._const(UOp.const(dt, dt.min)), c._const(UOp.const(dt, dt.max))
            return (f"(({s[0]} != {s[0]} || {s[0]} <= {lo}) ? {lo} : {s[0]} >= {hi} ? {hi} : "
                    f"({c.ctype(dt)})(int64_t){s[0]})")
        return orig(u, s, *d)

    mp.setattr(c, "_alu", planted)


def c_unsigned_shr_arithmetic(mp: Any) -> None:
    """C renderer: >> of an unsigned value shifts its signed reinterpretation (arithmetic), so values with the top
    bit set shift ones in (CPU device only)."""
    import engine.renderer.c as c
    from engine.uop import Ops

    orig = c._alu

    def planted(u: Any, s: list[str], *d: Any) -> str:
        dt = u.dtype.scalar
        if u.op is Ops.SHR and dt.kind == "u":
            st = c.storage_type(dt)
            return f"(({st})(({st[1:]}){s[0]} >> {s[1]}))"
        return orig(u, s, *d)

    mp.setattr(c, "_alu", planted)


def _c_prelude(mp: Any, old: str, new: str) -> None:
    import engine.renderer.c as c
    import engine.runtime.cpu as cpu

    assert old in c.C.prelude, old
    mp.setattr(c, "C", dataclasses.replace(c.C, prelude=c.C.prelude.replace(old, new)))
    mp.setattr(cpu, "PRELUDE", c.C.prelude)  # the CPU device compiles kernels with this prelude in batches


def c_bfloat16_truncates(mp: Any) -> None:
    """C renderer prelude: float to bfloat16 drops the low 16 bits (truncation) instead of rounding to nearest even
    (CPU device only)."""
    _c_prelude(mp, "return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);", "return (uint16_t)(u >> 16);")


def c_e5m2_overflow_saturates(mp: Any) -> None:
    """C renderer prelude: float8_e5m2 overflow gives the largest finite value 57344 instead of inf (the e4m3fn
    rule applied to e5m2; CPU device only)."""
    _c_prelude(mp, "a >= 0x47700000u ? 0x7cu", "a >= 0x47700000u ? 0x7bu")


# ---------------------------------------------------------------------------------------------- devices
def python_max_ignores_nan(mp: Any) -> None:
    """PYTHON device: MAX of a NaN and a number gives the number (C's fmax rule; the engine propagates NaN)."""
    import math

    import engine.runtime.python as py
    from engine.uop import Ops

    orig = py.ALU_FUNCS[Ops.MAX]

    def planted(a: Any, b: Any) -> Any:
        if isinstance(a, float) and math.isnan(a):
            return b
        if isinstance(b, float) and math.isnan(b):
            return a
        return orig(a, b)

    mp.setattr(py, "ALU_FUNCS", {**py.ALU_FUNCS, Ops.MAX: planted})


def shard_gather_uneven_order(mp: Any) -> None:
    """Multi-device: gathering a tensor split into uneven pieces puts the pieces in order of size (largest first)
    instead of device order."""
    import engine.multi as mt

    orig = mt.gather

    def planted(m: Any, device: str) -> Any:
        if m.axis is None or len(set(m.sizes or ())) < 2:
            return orig(m, device)
        shards = sorted((s for s in m.shards if s.shape[m.axis]), key=lambda s: -s.shape[m.axis])
        pieces = [s.to(device) for s in shards]
        return pieces[0] if len(pieces) == 1 else mt.Tensor.cat(pieces, m.axis)

    mp.setattr(mt, "gather", planted)


@dataclass(frozen=True)
class Mutant:
    plant: Callable[[Any], None]
    layer: str
    expect: tuple[str, ...]  # signature parts that point at the mutant's layer


MUTANTS: dict[str, Mutant] = {
    "cat_later_input_off_by_one": Mutant(cat_later_input_off_by_one, "tensor op", ("numpy",)),
    "slice_negative_step_ignored": Mutant(slice_negative_step_ignored, "tensor op", ("numpy",)),
    "argmax_tie_takes_last": Mutant(argmax_tie_takes_last, "tensor op", ("numpy",)),
    "cumsum_long_blocks_inclusive": Mutant(cumsum_long_blocks_inclusive, "tensor op", ("numpy",)),
    "gather_negative_index_one_off": Mutant(gather_negative_index_one_off, "tensor op", ("numpy",)),
    "matmul_square_operand_transposed": Mutant(matmul_square_operand_transposed, "tensor op", ("numpy",)),
    "conv_width_dilation_ignored": Mutant(conv_width_dilation_ignored, "tensor op", ("numpy",)),
    "max_pool_pads_with_zero": Mutant(max_pool_pads_with_zero, "tensor op", ("numpy",)),
    "avg_pool_excludes_padding": Mutant(avg_pool_excludes_padding, "tensor op", ("numpy",)),
    "small_int_sum_in_own_dtype": Mutant(small_int_sum_in_own_dtype, "tensor op", ("numpy",)),
    "float_floordiv_whole_quotient": Mutant(float_floordiv_whole_quotient, "tensor op", ("numpy",)),
    "shrink_start_dropped_on_later_axis": Mutant(shrink_start_dropped_on_later_axis, "scheduler",
                                                 ("numpy", "SpecError")),
    "flip_odd_axis_rotated": Mutant(flip_odd_axis_rotated, "scheduler", ("numpy", "SpecError")),
    "permute_applied_inverted": Mutant(permute_applied_inverted, "scheduler", ("numpy", "SpecError")),
    "assign_hazard_undetected": Mutant(assign_hazard_undetected, "scheduler", ("numpy", "order", "fusion")),
    "assign_order_ignores_old_readers": Mutant(assign_order_ignores_old_readers, "scheduler", ("numpy", "order")),
    "max_accumulator_init_finite": Mutant(max_accumulator_init_finite, "codegen", ("numpy", "opts")),
    "accum_combine_drops_last_lane": Mutant(accum_combine_drops_last_lane, "codegen (opts)", ("opts",)),
    "local_split_rounds_down": Mutant(local_split_rounds_down, "codegen (GPU opts)", ("PYTHON_GPU", "CUDA", "gpu")),
    "llvm_signed_idiv_floors": Mutant(llvm_signed_idiv_floors, "renderer LLVM", ("LLVM",)),
    "llvm_nan_to_bool_false": Mutant(llvm_nan_to_bool_false, "renderer LLVM", ("LLVM",)),
    "llvm_log2_f64_in_f32": Mutant(llvm_log2_f64_in_f32, "renderer LLVM", ("LLVM",)),
    # only a fused kernel compares two loads and selects on it: the unfused schedule agrees, hence "fusion"
    "llvm_where_swapped_on_compared_loads": Mutant(llvm_where_swapped_on_compared_loads, "renderer LLVM",
                                                   ("LLVM", "fusion")),
    "c_mod_takes_divisor_sign": Mutant(c_mod_takes_divisor_sign, "renderer C", ("CPU", "OPENCL", "CUDA")),
    "c_float_to_int_saturates": Mutant(c_float_to_int_saturates, "renderer C", ("CPU", "OPENCL", "CUDA")),
    "c_unsigned_shr_arithmetic": Mutant(c_unsigned_shr_arithmetic, "renderer C", ("CPU", "OPENCL", "CUDA")),
    "c_bfloat16_truncates": Mutant(c_bfloat16_truncates, "renderer C", ("CPU", "OPENCL", "CUDA")),
    "c_e5m2_overflow_saturates": Mutant(c_e5m2_overflow_saturates, "renderer C", ("CPU", "OPENCL", "CUDA")),
    "python_max_ignores_nan": Mutant(python_max_ignores_nan, "device PYTHON", ("PYTHON",)),
    "shard_gather_uneven_order": Mutant(shard_gather_uneven_order, "multi-device", ("shard",)),
}

# seven more sets written blind to the fuzzer's generator (their authors saw only the engine and the names above)
def _load_blind(file: str) -> dict[str, Mutant]:
    spec = importlib.util.spec_from_file_location(file[:-3], os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                                          file))
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return {name: Mutant(*m) for name, m in mod.MORE.items()}


BLIND = _load_blind("mutants_graph_blind.py")
BLIND2 = _load_blind("mutants_graph_blind2.py")
BLIND3 = _load_blind("mutants_graph_blind3.py")
BLIND4 = _load_blind("mutants_graph_blind4.py")
BLIND5 = _load_blind("mutants_graph_blind5.py")
BLIND6 = _load_blind("mutants_graph_blind6.py")
BLIND7 = _load_blind("mutants_graph_blind7.py")
MUTANTS.update(BLIND)
MUTANTS.update(BLIND2)
MUTANTS.update(BLIND3)
MUTANTS.update(BLIND4)
MUTANTS.update(BLIND5)
MUTANTS.update(BLIND6)
MUTANTS.update(BLIND7)


# ---------------------------------------------------------------------------------------------- the runs
def _campaign_in_child(name: str, seconds: float, seed: int, minimize_s: float, out_path: str) -> None:
    """In a forked process: plant the mutant, run the campaign, write what it found as JSON."""
    from fuzz.campaign import run_campaign

    if name != "clean":
        MUTANTS[name].plant(Patch())
    with tempfile.TemporaryDirectory() as tmp:
        result = run_campaign(["graphs"], seconds=seconds, seed=seed, workers=1, corpus_dir=os.path.join(tmp, "c"),
                              report_dir=None, minimize_seconds=minimize_s)
        findings = []
        for f in result.findings:
            case = f.case
            try:
                with open(f.corpus_path) as fh:
                    case = json.load(fh)["case"]
            except (OSError, ValueError, KeyError):
                pass
            findings.append({"signature": f.signature, "case_index": f.case_index, "case": case})
    with open(out_path, "w") as fh:
        json.dump({"cases": result.cases, "elapsed": result.elapsed, "timeline": result.timeline,
                   "findings": findings}, fh)


def _seconds_at(timeline: list[dict[str, float]], case_index: int) -> float:
    """When the campaign had run case `case_index` (the first timeline sample past it)."""
    for s in timeline:
        if s["cases"] > case_index:
            return s["t"]
    return timeline[-1]["t"] if timeline else float("nan")


def run_mutant(name: str, seconds: float, seed: int, minimize_s: float) -> dict[str, Any]:
    """One mutant's campaign (in a forked process) and its findings that the clean engine passes."""
    from fuzz.graphs.case import op_count
    from fuzz.worker import run_isolated

    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        proc = multiprocessing.get_context("fork").Process(
            target=_campaign_in_child, args=(name, seconds, seed, minimize_s, path))
        proc.start()
        proc.join()
        with open(path) as fh:
            got = json.load(fh)
    except (OSError, ValueError) as e:
        return {"name": name, "error": f"campaign process failed ({proc.exitcode}): {e}"}
    finally:
        os.unlink(path)
    mine = []
    for f in got["findings"]:
        clean = run_isolated("graphs", f["case"], 60.0) if f["case"] is not None else None
        if name == "clean" or (clean is not None and clean.status == "pass"):
            mine.append({"signature": f["signature"], "t": _seconds_at(got["timeline"], f["case_index"]),
                         "ops": op_count(f["case"]) if f["case"] else None})
    mine.sort(key=lambda f: f["t"])
    exp = MUTANTS[name].expect if name in MUTANTS else ()
    return {"name": name, "layer": MUTANTS[name].layer if name in MUTANTS else "-", "cases": got["cases"],
            "found": bool(mine), "first": mine[0] if mine else None, "findings": mine,
            "points": any(any(e in f["signature"] for e in exp) for f in mine)}


def _row(r: dict[str, Any]) -> str:
    if "error" in r:
        return f"{r['name']:<38} ERROR {r['error']}"
    f = r["first"]
    if f is None:
        return f"{r['name']:<38} {r['layer']:<19} {'no':<5} {'-':>6} {'-':<42} {'-':>3} {r['cases']:>6}"
    return (f"{r['name']:<38} {r['layer']:<19} {'yes':<5} {f['t']:>6.1f} {f['signature'][:42]:<42} "
            f"{f['ops'] if f['ops'] is not None else '-':>3} {r['cases']:>6}" + ("" if r["points"] else "  (sig?)"))


def _markdown(rows: list[dict[str, Any]]) -> str:
    out = ["| mutant | layer | found | s to find | signature | ops | cases |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        f = r.get("first")
        if "error" in r or f is None:
            out.append(f"| {r['name']} | {r.get('layer', '-')} | no | - | - | - | {r.get('cases', '-')} |")
        else:
            out.append(f"| {r['name']} | {r['layer']} | yes | {f['t']:.1f} | `{f['signature']}` | {f['ops']} | "
                       f"{r['cases']} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=30.0, help="campaign budget per mutant")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--only", default="", help="comma-separated mutant names ('clean': the unmutated engine)")
    p.add_argument("--minimize", type=float, default=10.0, help="minimization budget per finding, seconds")
    p.add_argument("--markdown", action="store_true", help="also print the table as markdown")
    p.add_argument("--jobs", type=int, default=1, help="mutants run at a time (one core each)")
    p.add_argument("--blind", action="store_true", help="only the blind sets (bench/mutants_graph_blind*.py)")
    p.add_argument("--list", action="store_true", help="list the mutants and what each models")
    a = p.parse_args(argv)
    if a.list:
        for name, m in MUTANTS.items():
            print(f"{name:<38} {m.layer:<19} {(m.plant.__doc__ or '').split(chr(10))[0]}")
        return 0
    blind = {**BLIND, **BLIND2, **BLIND3, **BLIND4, **BLIND5, **BLIND6, **BLIND7}
    names = [n for n in a.only.split(",") if n] or [n for n in MUTANTS if not a.blind or n in blind]
    bad = [n for n in names if n not in MUTANTS and n != "clean"]
    if bad:
        print(f"mutants_graph: unknown mutant(s) {bad}; --list shows them", file=sys.stderr)
        return 2
    now = datetime.datetime.now(datetime.timezone.utc)
    print(f"graph fuzzer mutants: {a.seconds:g} s campaign each, seed {a.seed}, 1 worker; "
          f"{platform.node()} ({os.cpu_count()} cores), {now:%Y-%m-%d %H:%M} UTC")
    print(f"{'mutant':<38} {'layer':<19} {'found':<5} {'s':>6} {'signature':<42} {'ops':>3} {'cases':>6}")
    import fuzz.campaign  # noqa: F401  (loaded before the forks: every mutant's campaign runs the same fuzzer code)
    import fuzz.graphs.fuzzer  # noqa: F401

    rows = []
    t0 = time.monotonic()
    # --jobs: mutants at a time (each its own forked process; the threads only wait on them)
    with ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
        for r in pool.map(lambda n: run_mutant(n, a.seconds, a.seed, a.minimize), names):
            rows.append(r)
            print(_row(r), flush=True)
    killed = sum(1 for r in rows if r.get("found") and r["name"] != "clean")
    total = sum(1 for r in rows if r["name"] != "clean")
    print(f"killed {killed}/{total} in {a.seconds:g} s each (wall {time.monotonic() - t0:.0f} s)")
    if a.markdown:
        print()
        print(_markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
