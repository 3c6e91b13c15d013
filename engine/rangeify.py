"""Rangeify: decide which tensor-level UOps become buffers, and lower the rest into fused kernels.

A kernel computes one realized UOp: output RANGEs over its shape, a STORE of the value, where the value is the
tensor graph rewritten into index arithmetic. Movement ops become index expressions with validity masks (PAD,
SHRINK, FLIP, EXPAND, RESHAPE, PERMUTE): never a copy. Elementwise chains, producers of reduces, epilogues after
a reduce, and several reduces over the same outer loops all end up in one kernel.

What gets its own buffer (the realize rule):
  - the UOps asked for, CONTIGUOUS, and inputs that are already buffers;
  - a reduce that, inside its consumer's loop nest, would be recomputed: it is fused only if every loop outside it
    that it does not depend on has size 1. When it would be recomputed, the consumer's output loops are first
    reordered to put the loops the reduce depends on outermost (so softmax over any axis is one kernel); if that
    order was already tried, the reduce is realized. A reduce the loops around it would evaluate more often than
    it has values (overlapping windows: a conv read by a 3x3 stride-2 max_pool) is realized too. Each fused reduce
    gets fresh RANGEs of kind "reduce" and its own accumulator, initialized once per value it produces.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

from engine.alu import reduce_identity
from engine.buffer import Buffer
from engine.dtype import dtypes
from engine.shape import Shape, shape_of
from engine.symbolic import simplify
from engine.uop import GroupOp, Ops, UOp

MOVEMENT = GroupOp.Movement


@dataclass
class ScheduleItem:
    """One kernel: its AST (SINK of one STORE) and its buffers (bufs[i] is DEFINE_GLOBAL i; bufs[0] the output)."""

    ast: UOp
    bufs: list[Buffer]
    name: str
    root: UOp
    shape: Shape = field(default=())


class _NeedsRealize(Exception):
    def __init__(self, u: UOp, root: UOp, dep_dims: list[int]):
        self.u, self.root, self.dep_dims = u, root, dep_dims


def _is_buffer_view(u: UOp) -> bool:
    """A BUFFER, or a RESHAPE of one with the same number of elements: no kernel needed to read it."""
    return u.op is Ops.BUFFER or (u.op is Ops.RESHAPE and u.src[0].op is Ops.BUFFER)


def _strides(shape: Shape) -> list[int]:
    out, acc = [], 1
    for s in reversed(shape):
        out.append(acc)
        acc *= s
    return out[::-1]


def flat_index(idx: tuple[UOp, ...], shape: Shape) -> UOp:
    """Row-major flat index of a multi-index into a contiguous buffer of `shape`."""
    out = UOp.const(dtypes.index, 0)
    for i, st, s in zip(idx, _strides(shape), shape):
        if s != 1:
            out = out + i * st
    return out


def _reshape_groups(a: Shape, b: Shape) -> list[tuple[int, int, int, int]]:
    """Split two shapes of equal size into runs of dims with equal products: [(a0, a1, b0, b1)] such that
    a[a0:a1] and b[b0:b1] hold the same elements in the same (row-major) order."""
    out: list[tuple[int, int, int, int]] = []
    i = j = 0
    while i < len(a) or j < len(b):
        i0, j0, pa, pb = i, j, 1, 1
        while True:  # take a dim from each side (if any), then from the side with the smaller product
            if i < len(a) and (pa < pb or (pa == pb and i == i0)):
                pa, i = pa * a[i], i + 1
            elif j < len(b) and (pb < pa or (pb == pa and j == j0)):
                pb, j = pb * b[j], j + 1
            else:
                break
        out.append((i0, i, j0, j))
    return out


def _reshape_index(idx: tuple[UOp, ...], shape: Shape, src_shape: Shape) -> tuple[UOp, ...]:
    """The source multi-index of a reshape, run by run of dims with equal products (so a reshape of the trailing
    dims leaves the leading indices as they are, and the simplifier sees small div/mod expressions)."""
    if math.prod(shape) == 0:
        return tuple(UOp.const(dtypes.index, 0) for _ in src_shape)
    new: list[UOp] = []
    for a0, a1, b0, b1 in _reshape_groups(src_shape, shape):
        sub = src_shape[a0:a1]
        if sub == shape[b0:b1]:
            new.extend(idx[b0:b1])
            continue
        flat = flat_index(idx[b0:b1], shape[b0:b1])
        total = max(math.prod(sub), 1)
        new.extend(UOp.const(dtypes.index, 0) if s == 1 else (flat // st) % s if st * s < total else flat // st
                   for st, s in zip(_strides(sub), sub))
    return tuple(new)


class _Lowerer:
    """Lower one realized UOp into a kernel AST."""

    def __init__(self, root: UOp, realized: dict[UOp, Buffer], out: Buffer, loop_order: list[int] | None = None):
        self.root, self.realized = root, realized
        self.bufs: list[Buffer] = [out]
        self.globals: dict[Buffer, UOp] = {}
        self.memo: dict[tuple, UOp] = {}
        self.shape = shape_of(root)
        # output dims, outermost loop first (a RANGE's axis id is its position here)
        self.loop_order = loop_order if loop_order is not None else list(range(len(self.shape)))
        self.next_axis = len(self.shape)
        # the loop nest at the current point: output loops, then the ranges of enclosing reduces
        self.enclosing: list[UOp] = []

    def _global(self, buf: Buffer) -> UOp:
        if buf not in self.globals:
            if buf not in self.bufs:
                self.bufs.append(buf)
            pos = self.bufs.index(buf)
            self.globals[buf] = UOp(Ops.DEFINE_GLOBAL, buf.dtype.pointer(buf.size), (), pos)
        return self.globals[buf]

    def kernel(self) -> UOp:
        ranges = tuple(UOp.range(s, self.loop_order.index(i)) if s != 1 else UOp.const(dtypes.index, 0)
                       for i, s in enumerate(self.shape))
        self.enclosing = sorted((r for r in ranges if r.op is Ops.RANGE), key=lambda r: r.arg)
        src = self.root.src[0] if self.root.op is Ops.CONTIGUOUS else self.root
        value = self.lower(src, ranges, None)
        out = self._global(self.bufs[0])
        store = UOp(Ops.STORE, dtypes.void, (UOp(Ops.INDEX, out.dtype, (out, flat_index(ranges, self.shape))), value))
        return UOp.sink(store)

    def lower(self, u: UOp, idx: tuple[UOp, ...], valid: UOp | None) -> UOp:
        key = (u, idx, valid)
        if key in self.memo:
            return self.memo[key]
        out = self._lower(u, idx, valid)
        self.memo[key] = out
        return out

    def _load(self, buf: Buffer, shape: Shape, idx: tuple[UOp, ...], valid: UOp | None) -> UOp:
        g = self._global(buf)
        fi = flat_index(idx, shape)
        if valid is None:
            return UOp(Ops.LOAD, buf.dtype, (UOp(Ops.INDEX, g.dtype, (g, fi)),))
        return UOp(Ops.LOAD, buf.dtype, (UOp(Ops.INDEX, g.dtype, (g, fi, valid)), UOp.const(buf.dtype, 0)))

    def _lower(self, u: UOp, idx: tuple[UOp, ...], valid: UOp | None) -> UOp:
        op = u.op
        if u is not self.root and u in self.realized:
            return self._load(self.realized[u], shape_of(u), idx, valid)
        if op is Ops.BUFFER:
            return self._load(u.arg, (u.arg.size,), idx, valid)
        if op is Ops.CONST:
            return u
        if op in GroupOp.ALU or op in (Ops.CAST, Ops.BITCAST):
            return UOp(op, u.dtype, tuple(self.lower(s, idx, valid) for s in u.src), u.arg)
        if op is Ops.CONTIGUOUS:
            return self.lower(u.src[0], idx, valid)
        src_shape = shape_of(u.src[0]) if u.src else ()
        if op is Ops.RESHAPE:
            return self.lower(u.src[0], _reshape_index(idx, shape_of(u), src_shape), valid)
        if op is Ops.PERMUTE:
            new_l: list[UOp] = [UOp.const(dtypes.index, 0)] * len(idx)
            for d, o in enumerate(u.arg):
                new_l[o] = idx[d]
            return self.lower(u.src[0], tuple(new_l), valid)
        if op is Ops.EXPAND:
            new = tuple(UOp.const(dtypes.index, 0) if s == 1 and n != 1 else i
                        for i, s, n in zip(idx, src_shape, u.arg))
            return self.lower(u.src[0], new, valid)
        if op is Ops.SHRINK:
            new = tuple(i + b if b else i for i, (b, _) in zip(idx, u.arg))
            return self.lower(u.src[0], new, valid)
        if op is Ops.FLIP:
            new = tuple((s - 1) - i if d in u.arg else i for d, (i, s) in enumerate(zip(idx, src_shape)))
            return self.lower(u.src[0], new, valid)
        if op is Ops.PAD:
            conds: list[UOp] = []
            new_l = []
            for i, (b, a), s in zip(idx, u.arg, src_shape):
                j = i - b if b else i
                new_l.append(j)
                if b:
                    conds.append(j >= 0)
                if a:
                    conds.append(j < s)
            if not conds:
                return self.lower(u.src[0], tuple(new_l), valid)
            cond = conds[0]
            for c in conds[1:]:
                cond = cond & c
            inner_valid = cond if valid is None else valid & cond
            inner = self.lower(u.src[0], tuple(new_l), inner_valid)
            return cond.where(inner, UOp.const(u.dtype, 0))
        if op is Ops.REDUCE_AXIS:
            return self._reduce(u, idx, valid)
        raise NotImplementedError(f"schedule: cannot lower tensor-level op {op.name}")

    def _reduce(self, u: UOp, idx: tuple[UOp, ...], valid: UOp | None) -> UOp:
        rop, axes = u.arg
        src_shape = shape_of(u.src[0])
        # what the reduce really depends on: simplified, so that ranges that cancel out (a reshape's div/mod of a
        # dimension that was expanded) do not count
        deps = {x for i in idx for x in simplify(i).toposort if x.op is Ops.RANGE}
        if valid is not None:
            deps |= {x for x in simplify(valid).toposort if x.op is Ops.RANGE}
        deepest = max((k for k, r in enumerate(self.enclosing) if r in deps), default=-1)
        factor = math.prod(r.src[0].arg for r in self.enclosing[:deepest + 1] if r not in deps)
        if factor > 1 and u is not self.root:
            dep_dims = [self.loop_order[r.arg[0]] for r in self.enclosing if r in deps and r.arg[1] == "loop"]
            raise _NeedsRealize(u, self.root, dep_dims)
        # every loop around it is one it depends on, yet it may still run more often than it has values:
        # overlapping windows (a conv read by a 3x3 stride-2 max_pool) would compute each value again per window
        evaluations = math.prod(r.src[0].arg for r in self.enclosing[:deepest + 1])
        if evaluations > math.prod(shape_of(u)) and u is not self.root:
            raise _NeedsRealize(u, self.root, [])
        ranges = []
        new = list(idx)
        if any(src_shape[a] == 0 for a in axes):  # an empty reduction is its identity
            return UOp.const(u.dtype, reduce_identity(rop, u.dtype))
        for a in axes:
            if src_shape[a] == 1:
                new[a] = UOp.const(dtypes.index, 0)
                continue
            r = UOp.range(src_shape[a], self.next_axis, "reduce")
            self.next_axis += 1
            ranges.append(r)
            new[a] = r
        self.enclosing.extend(ranges)
        try:
            value = self.lower(u.src[0], tuple(new), valid)
        finally:
            del self.enclosing[len(self.enclosing) - len(ranges):]
        return UOp(Ops.REDUCE, u.dtype, (value, *ranges), rop) if ranges else value


def _kernel_name(ast: UOp, shape: Shape) -> str:
    has_reduce = any(x.op is Ops.REDUCE for x in ast.toposort)
    dims = "_".join(str(s) for s in shape) or "1"
    return f"{'r' if has_reduce else 'E'}_{dims}"


def schedule(roots: list[UOp], device: str, realized_map: dict[UOp, UOp] | None = None
             ) -> tuple[list[ScheduleItem], dict[UOp, UOp]]:
    """Kernels that compute `roots`, in dependency order, and the buffer view each root becomes."""
    from engine.rewrite import substitute

    realized_map = realized_map or {}
    sink = UOp.sink(*roots)
    if realized_map:
        present = {u: v for u, v in realized_map.items() if u in sink.toposort}
        if present:
            sink = substitute(sink, present)
    graph = list(sink.toposort)
    want = [s for s in sink.src if not _is_buffer_view(s)]
    force: set[UOp] = {u for u in graph if u.op is Ops.CONTIGUOUS}
    loop_orders: dict[UOp, list[int]] = {}  # kernels whose output loops were reordered
    tried: set[tuple[UOp, tuple[int, ...]]] = set()
    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old_limit, 20000))
    try:
        while True:
            to_realize = set(want) | force
            order = [u for u in graph if u in to_realize]
            buffers = {u: Buffer(device, u.dtype, math.prod(shape_of(u))) for u in order}
            items: list[ScheduleItem] = []
            try:
                for u in order:
                    if buffers[u].size == 0:
                        continue  # nothing to compute
                    lw = _Lowerer(u, buffers, buffers[u], loop_orders.get(u))
                    ast = lw.kernel()
                    items.append(ScheduleItem(ast, lw.bufs, _kernel_name(ast, lw.shape), u, lw.shape))
            except _NeedsRealize as e:
                # first try moving the loops the reduce depends on outermost; if that was tried, realize it
                current = loop_orders.get(e.root, list(range(len(shape_of(e.root)))))
                reordered = [d for d in current if d in e.dep_dims] + [d for d in current if d not in e.dep_dims]
                key = (e.root, tuple(reordered))
                if reordered != current and key not in tried:
                    tried.add(key)
                    loop_orders[e.root] = reordered
                else:
                    force.add(e.u)
                continue
            break
    finally:
        sys.setrecursionlimit(old_limit)
    views: dict[UOp, UOp] = {}
    for orig, new in zip(roots, sink.src):
        if _is_buffer_view(new):
            views[orig] = new
        else:
            buf = buffers[new]
            b = UOp(Ops.BUFFER, buf.dtype, (), buf)
            shp = shape_of(new)
            views[orig] = b if shp == (buf.size,) else UOp(Ops.RESHAPE, buf.dtype, (b,), shp)
    return items, views
