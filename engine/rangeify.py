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
    it has values (overlapping windows: a conv read by a 3x3 stride-2 max_pool) is realized too, and so is a reduce
    of NESTED_REDUCE_MAX elements or more whose value changes with another reduce's loop (a conv under a global
    pool, a matmul under a layernorm's mean: no register tile fits a reduction run inside a reduce). A value computed
    from a reduce and read inside another reduce that it does not vary with over RECOMPUTE_MAX or more of that
    reduce's outputs is realized (a layernorm's or a softmax's output times a matrix would be normalized again for
    every column: the transformer block's MLP ran at 30 GFLOP/s). Each fused reduce
    gets fresh RANGEs of kind "reduce" and its own accumulator, initialized once per value it produces.
    A reduce to be realized is realized with its elementwise epilogue where every use of it passes through one
    elementwise UOp over it (`_epilogue_top`: relu(batchnorm(conv)), gelu(x @ w + b)): that chain is then
    computed once per element, not once per use by the consumer's loops.
A fused schedule first splits each large reduce into few values in two (`split_large_reduces`: partials realized,
then reduced), so that its work spreads over cores and workgroups.
"""

from __future__ import annotations

import contextlib
import heapq
import math
import os
from dataclasses import dataclass, field
from typing import Iterator

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
    fused: bool = True  # built by a fusing schedule (False: fuse=False, one kernel per computing op)
    device: str = ""  # where it runs ("": the schedule's device); a transfer (ast a COPY) runs on its destination

    @property
    def is_copy(self) -> bool:
        """A transfer between devices: bufs[0] (on `device`) gets the contents of bufs[1]."""
        return self.ast.op is Ops.COPY


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


# how `_Lowerer.lower` finishes a UOp from the values of what it needs: the one value as it is, an ALU op of them,
# the value where the pad's condition holds (else 0), a REDUCE over the reduce's ranges
_SAME, _ALU, _GATE, _REDUCE = "same", "alu", "gate", "reduce"


def _index_ranges(idx: tuple[UOp, ...], valid: UOp | None) -> set[UOp]:
    """The RANGEs a multi-index (and its validity) really depends on: simplified, so that ranges that cancel out (a
    reshape's div/mod of a dimension that was expanded) do not count."""
    deps = {x for i in idx for x in simplify(i).toposort if x.op is Ops.RANGE}
    if valid is not None:
        deps |= {x for x in simplify(valid).toposort if x.op is Ops.RANGE}
    return deps


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
        self.reduce_deps: list[set[UOp]] = []  # per enclosing reduce, the loops its value depends on
        self.has_reduce: dict[UOp, bool] = {}

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
        """The kernel-level value of `u` at multi-index `idx` (read only where `valid` holds), memoized.

        Iterative, so a graph of any depth lowers: `_lower` either finishes a UOp or names the (UOp, index, valid)
        its value needs; those are lowered in order, each completely before the next (as a recursion would, so
        reduce ranges get the same axis ids and buffers the same positions), then the frame's step finishes it.
        """
        memo = self.memo
        key = (u, idx, valid)
        out = memo.get(key)
        if out is not None:
            return out
        step = self._lower(u, idx, valid)
        if not isinstance(step, tuple):
            memo[key] = step
            return step
        depth, reduce_depth = len(self.enclosing), len(self.reduce_deps)
        # a frame: (key, how it finishes, what it needs, data for finishing, the values lowered so far)
        stack: list[tuple] = [(key, *step, [])]
        try:
            while True:
                key, finish, needs, data, done = stack[-1]
                if len(done) < len(needs):
                    need = needs[len(done)]
                    out = memo.get(need)
                    if out is None:
                        step = self._lower(*need)
                        if isinstance(step, tuple):
                            stack.append((need, *step, []))
                            continue
                        out = memo[need] = step
                    done.append(out)
                    continue
                stack.pop()
                if finish is _SAME:
                    out = done[0]
                elif finish is _ALU:
                    out = UOp(data.op, data.dtype, tuple(done), data.arg)
                elif finish is _GATE:
                    out = data[0].where(done[0], UOp.const(data[1], 0))
                else:  # _REDUCE: leave the reduce's loops
                    ranges = data[1]
                    del self.enclosing[len(self.enclosing) - len(ranges):]
                    self.reduce_deps.pop()
                    out = UOp(Ops.REDUCE, data[0].dtype, (done[0], *ranges), data[0].arg[0]) if ranges else done[0]
                memo[key] = out
                if not stack:
                    return out
                stack[-1][4].append(out)
        except BaseException:
            del self.enclosing[depth:]
            del self.reduce_deps[reduce_depth:]
            raise

    def _load(self, buf: Buffer, shape: Shape, idx: tuple[UOp, ...], valid: UOp | None) -> UOp:
        g = self._global(buf)
        fi = flat_index(idx, shape)
        if valid is None:
            return UOp(Ops.LOAD, buf.dtype, (UOp(Ops.INDEX, g.dtype, (g, fi)),))
        return UOp(Ops.LOAD, buf.dtype, (UOp(Ops.INDEX, g.dtype, (g, fi, valid)), UOp.const(buf.dtype, 0)))

    def _lower(self, u: UOp, idx: tuple[UOp, ...], valid: UOp | None) -> UOp | tuple:
        """u's kernel-level value, or the step that makes it: (finish, [(src, idx, valid) it needs], data)."""
        op = u.op
        if u is not self.root and u in self.realized:
            return self._load(self.realized[u], shape_of(u), idx, valid)
        if op is Ops.BUFFER:
            return self._load(u.arg, (u.arg.size,), idx, valid)
        if op is Ops.CONST:
            return u
        if op in GroupOp.ALU or op in (Ops.CAST, Ops.BITCAST):
            if self.reduce_deps and u is not self.root and self._recomputed(u, idx, valid):
                raise _NeedsRealize(u, self.root, [])
            return (_ALU, [(s, idx, valid) for s in u.src], u)
        if op is Ops.CONTIGUOUS:
            return (_SAME, [(u.src[0], idx, valid)], None)
        src_shape = shape_of(u.src[0]) if u.src else ()
        if op is Ops.RESHAPE:
            return (_SAME, [(u.src[0], _reshape_index(idx, shape_of(u), src_shape), valid)], None)
        if op is Ops.PERMUTE:
            new_l: list[UOp] = [UOp.const(dtypes.index, 0)] * len(idx)
            for d, o in enumerate(u.arg):
                new_l[o] = idx[d]
            return (_SAME, [(u.src[0], tuple(new_l), valid)], None)
        if op is Ops.EXPAND:
            new = tuple(UOp.const(dtypes.index, 0) if s == 1 and n != 1 else i
                        for i, s, n in zip(idx, src_shape, u.arg))
            return (_SAME, [(u.src[0], new, valid)], None)
        if op is Ops.SHRINK:
            new = tuple(i + b if b else i for i, (b, _) in zip(idx, u.arg))
            return (_SAME, [(u.src[0], new, valid)], None)
        if op is Ops.FLIP:
            new = tuple((s - 1) - i if d in u.arg else i for d, (i, s) in enumerate(zip(idx, src_shape)))
            return (_SAME, [(u.src[0], new, valid)], None)
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
                return (_SAME, [(u.src[0], tuple(new_l), valid)], None)
            cond = conds[0]
            for c in conds[1:]:
                cond = cond & c
            inner_valid = cond if valid is None else valid & cond
            return (_GATE, [(u.src[0], tuple(new_l), inner_valid)], (cond, u.dtype))
        if op is Ops.REDUCE_AXIS:
            return self._reduce(u, idx, valid)
        raise NotImplementedError(f"schedule: cannot lower tensor-level op {op.name}")

    def _contains_reduce(self, u: UOp) -> bool:
        memo = self.has_reduce
        if u not in memo:
            for x in u.toposort:
                if x not in memo:
                    memo[x] = x.op is Ops.REDUCE_AXIS or any(memo[s] for s in x.src)
        return memo[u]

    def _recomputed(self, u: UOp, idx: tuple[UOp, ...], valid: UOp | None) -> bool:
        """Whether u, computed from a reduce (a layernorm's or a softmax's output) and read inside an enclosing
        reduce, would be computed again for every value of an output loop of RECOMPUTE_MAX or more iterations that
        the enclosing reduce depends on and u does not (a normalized matrix times a weight: once per column)."""
        if not self._contains_reduce(u):
            return False
        deps = _index_ranges(idx, valid)
        return math.prod(r.src[0].arg for r in self.reduce_deps[-1] if r.arg[1] == "loop" and r not in deps) \
            >= RECOMPUTE_MAX

    def _reduce(self, u: UOp, idx: tuple[UOp, ...], valid: UOp | None) -> UOp | tuple:
        """Enter the reduce's loops (`lower` leaves them when its source is lowered), or raise _NeedsRealize."""
        rop, axes = u.arg
        src_shape = shape_of(u.src[0])
        deps = _index_ranges(idx, valid)  # what the reduce really depends on
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
        # a reduce whose value changes with another reduce's loop (a conv summed by a global pool, a matmul in a
        # layernorm's mean) would run its whole reduction inside that loop, where no register tile fits: realized
        if u is not self.root and math.prod(src_shape[a] for a in axes) >= NESTED_REDUCE_MAX and \
                any(r.arg[1] == "reduce" and r in deps for r in self.enclosing):
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
        self.reduce_deps.append(deps)
        return (_REDUCE, [(u.src[0], tuple(new), valid)], (u, ranges))


NESTED_REDUCE_MAX = 32  # a reduce of this many elements or more is not fused into another reduce's loop
RECOMPUTE_MAX = 32  # a value computed from a reduce is realized rather than computed again this many times a value

EPILOGUE_MAX = 512  # _epilogue_top looks at most this many UOps above a reduce


def _epilogue_top(u: UOp, pos: dict[UOp, int], roots: set[UOp], users: dict[UOp, set[UOp]]) -> UOp:
    """The UOp to realize for reduce `u`: the highest elementwise UOp over u (through reshapes) through which every
    use of u passes (the only one of the elementwise UOps over u up to it with a use outside them), else u itself.
    `pos`: each UOp's position in the graph's topological order."""
    size = math.prod(shape_of(u))
    region = {u}
    open_uses = {u: len(users.get(u, ())) + (u in roots)}  # uses outside the region, per UOp in it
    n_open, top = 1, u
    todo = [(pos[x], x) for x in users.get(u, ())]
    heapq.heapify(todo)
    while todo and len(region) < EPILOGUE_MAX:
        _, x = heapq.heappop(todo)
        if x in region or not (x.op in GroupOp.ALU or x.op in (Ops.CAST, Ops.BITCAST, Ops.RESHAPE)) or \
                math.prod(shape_of(x)) != size:
            continue  # a use that is not elementwise: what it reads keeps a use outside
        region.add(x)
        for s in set(x.src) & region:
            open_uses[s] -= 1
            n_open -= open_uses[s] == 0
        open_uses[x] = len(users.get(x, ())) + (x in roots)
        n_open += open_uses[x] > 0
        if n_open == 1 and open_uses[x]:
            top = x
        for y in users.get(x, ()):
            heapq.heappush(todo, (pos[y], y))
    return top


def _computes(u: UOp) -> bool:
    """A tensor-level UOp that computes values (not a movement op, constant or buffer): its own kernel unfused."""
    return u.op in GroupOp.ALU or u.op in (Ops.CAST, Ops.BITCAST, Ops.REDUCE_AXIS, Ops.CONTIGUOUS)


def _kernel_name(ast: UOp, shape: Shape) -> str:
    has_reduce = any(x.op is Ops.REDUCE for x in ast.toposort)
    dims = "_".join(str(s) for s in shape) or "1"
    return f"{'r' if has_reduce else 'E'}_{dims}"


def _buffer_view(buf: Buffer, shape: Shape) -> UOp:
    b = UOp(Ops.BUFFER, buf.dtype, (), buf)
    return b if shape == (buf.size,) else UOp(Ops.RESHAPE, buf.dtype, (b,), shape)


def assign_target(u: UOp) -> Buffer:
    """The buffer an ASSIGN writes: its first source is a view of the whole buffer (BUFFER or RESHAPE(BUFFER))."""
    view = u.src[0]
    base = view.src[0] if view.op is Ops.RESHAPE else view
    if base.op is not Ops.BUFFER or math.prod(shape_of(view)) != base.arg.size:
        raise ValueError(f"schedule: an ASSIGN must target a whole buffer, got {view.op.name}")
    return base.arg


def _reads_output_elsewhere(ast: UOp) -> bool:
    """Whether the kernel loads its output buffer at an index other than the one it stores (a read-after-write
    hazard: a load could see a value this kernel already wrote)."""
    store_idx = ast.src[0].src[0]
    out, at = store_idx.src[0], simplify(store_idx.src[1])
    return any(x.op is Ops.INDEX and x is not store_idx and x.src[0] is out and simplify(x.src[1]) is not at
               for x in ast.toposort)


def _kernels_for(u: UOp, buffers: dict[UOp, Buffer], loop_orders: dict[UOp, list[int]], fuse: bool
                 ) -> list[ScheduleItem]:
    """The kernels that compute realized UOp `u` into buffers[u]. An ASSIGN stores its value into the target buffer
    directly, unless the value reads the target elsewhere than where it stores: then into a temporary, then a copy."""
    if u.op is Ops.COPY:  # a transfer, not a kernel: from the source's buffer (or its view) into this one
        src = u.src[0]
        sbuf = (src.src[0] if src.op is Ops.RESHAPE else src).arg if _is_buffer_view(src) else buffers[src]
        return [ScheduleItem(u, [buffers[u], sbuf], f"copy_{sbuf.size}", u, shape_of(u), fuse, buffers[u].device)]
    lroot = UOp(Ops.CONTIGUOUS, u.dtype, (u.src[1],)) if u.op is Ops.ASSIGN else u
    lw = _Lowerer(lroot, buffers, buffers[u], loop_orders.get(lroot))
    ast = lw.kernel()
    if u.op is not Ops.ASSIGN or not _reads_output_elsewhere(ast):
        return [ScheduleItem(ast, lw.bufs, _kernel_name(ast, lw.shape), u, lw.shape, fuse)]
    tmp = Buffer(buffers[u].device, u.dtype, buffers[u].size)
    lw = _Lowerer(lroot, buffers, tmp, loop_orders.get(lroot))
    ast = lw.kernel()
    cp = _Lowerer(_buffer_view(tmp, lw.shape), {}, buffers[u])
    cp_ast = cp.kernel()
    return [ScheduleItem(ast, lw.bufs, _kernel_name(ast, lw.shape), u, lw.shape, fuse),
            ScheduleItem(cp_ast, cp.bufs, _kernel_name(cp_ast, cp.shape), u, cp.shape, fuse)]


def _region(u: UOp, to_realize: set[UOp]) -> tuple[set[UOp], set[Buffer]]:
    """What the kernel of realized `u` reads: the realized UOps it loads, and the buffers whose current contents it
    loads directly (BUFFER UOps); an ASSIGN's first source is where it writes, not a read."""
    deps: set[UOp] = set()
    reads: set[Buffer] = set()
    stack = [u.src[1]] if u.op is Ops.ASSIGN else list(u.src)
    seen: set[UOp] = set()
    while stack:
        x = stack.pop()
        if x in seen:
            continue
        seen.add(x)
        if x in to_realize:
            deps.add(x)
        elif x.op is Ops.BUFFER:
            reads.add(x.arg)
        else:
            stack.extend(x.src)
    return deps, reads


def _order_kernels(groups: list[tuple[UOp, list[ScheduleItem]]], to_realize: set[UOp]) -> list[ScheduleItem] | None:
    """The kernels in an order where each runs after what it reads and every kernel reading a buffer's old contents
    runs before the ASSIGN that overwrites it; None if there is no such order (a kernel that needs both the old and
    the new contents of a buffer)."""
    pos = {u: i for i, (u, _) in enumerate(groups)}
    after: list[set[int]] = [set() for _ in groups]  # after[i]: groups that must run before group i
    readers: dict[Buffer, list[int]] = {}
    for i, (u, _) in enumerate(groups):
        deps, reads = _region(u, to_realize)
        after[i] |= {pos[d] for d in deps if d in pos}
        for b in reads:
            readers.setdefault(b, []).append(i)
    for i, (u, _) in enumerate(groups):
        if u.op is Ops.ASSIGN:
            after[i] |= {r for r in readers.get(assign_target(u), []) if r != i}
    users: list[list[int]] = [[] for _ in groups]
    for i, befores in enumerate(after):
        for j in befores:
            users[j].append(i)
    waiting = [len(befores) for befores in after]
    ready = [i for i, n in enumerate(waiting) if n == 0]
    heapq.heapify(ready)
    out: list[ScheduleItem] = []
    while ready:
        i = heapq.heappop(ready)
        out.extend(groups[i][1])
        for j in users[i]:
            waiting[j] -= 1
            if waiting[j] == 0:
                heapq.heappush(ready, j)
    return out if all(n == 0 for n in waiting) else None


def _snapshot_reads(sink: UOp, bufs: set[Buffer]) -> UOp:
    """Every read of the current contents of `bufs` goes through a copy (CONTIGUOUS), taken before any write."""
    done: dict[UOp, UOp] = {}
    for x in sink.toposort:
        if x.op is Ops.BUFFER and x.arg in bufs:
            done[x] = UOp(Ops.CONTIGUOUS, x.dtype, (x,))
            continue
        src = tuple(done[s] for s in x.src)
        if x.op is Ops.ASSIGN:
            src = (x.src[0], *src[1:])  # where it writes stays the buffer
        done[x] = x if src == x.src else UOp(x.op, x.dtype, src, x.arg)
    return done[sink]


def _view_device(v: UOp) -> str | None:
    """The device of a realized result (a buffer view: BUFFER or RESHAPE(BUFFER)); None if it is not one."""
    if not _is_buffer_view(v):
        return None
    return (v if v.op is Ops.BUFFER else v.src[0]).arg.device


def fuse_default() -> bool:
    """Whether schedules fuse when nobody says: the environment's FUSE (FUSE=0 turns fusion off), else yes."""
    return os.environ.get("FUSE", "1") != "0"


def _devices_of(graph: list[UOp], roots: list[UOp], root_devices: list[str], default: str) -> dict[UOp, str]:
    """Where each UOp is computed: a buffer's device, a COPY's destination, else its sources' device; what has none
    (constants) takes the device of a root it is, else of a consumer."""
    dev: dict[UOp, str | None] = {}
    for u in graph:
        dev[u] = (u.arg.device if u.op is Ops.BUFFER else u.arg if u.op is Ops.COPY else
                  next((d for s in u.src if (d := dev[s]) is not None), None))
    for r, d in zip(roots, root_devices):
        if dev[r] is None:
            dev[r] = d
    for u in reversed(graph):
        for s in u.src:
            if dev[s] is None:
                dev[s] = dev[u]
    return {u: d or default for u, d in dev.items()}


SPLIT_REDUCE_MIN = 1 << 15  # a reduce of at least this many elements per output value ...
SPLIT_REDUCE_OUTPUTS = 256  # ... into fewer outputs than this is split in two (`split_large_reduces`)
SPLIT_FACTORS: tuple[int, ...] = (1024, 512, 256, 128, 64, 32, 16, 8)
SPLIT_PART_MIN = 1024  # elements each partial sums at least (a GPU groups a reduce from 1024: coalesced reads)
SPLIT_MAX_PARTIALS = 1 << 16  # partials in all at most (a GPU groups the reduces of fewer outputs than this)


@contextlib.contextmanager
def split_thresholds(total: int, part: int, partials: int = SPLIT_MAX_PARTIALS,
                     factors: tuple[int, ...] = SPLIT_FACTORS) -> Iterator[None]:
    """Split reduces from `total` elements, leaving at least `part` per partial, by the first of `factors` that fits
    (the graph fuzzer's split mode puts its small reduces through the path large tensors take)."""
    global SPLIT_REDUCE_MIN, SPLIT_PART_MIN, SPLIT_MAX_PARTIALS, SPLIT_FACTORS
    saved = SPLIT_REDUCE_MIN, SPLIT_PART_MIN, SPLIT_MAX_PARTIALS, SPLIT_FACTORS
    SPLIT_REDUCE_MIN, SPLIT_PART_MIN, SPLIT_MAX_PARTIALS, SPLIT_FACTORS = total, part, partials, factors
    try:
        yield
    finally:
        SPLIT_REDUCE_MIN, SPLIT_PART_MIN, SPLIT_MAX_PARTIALS, SPLIT_FACTORS = saved


def split_large_reduces(sink: UOp) -> UOp:
    """Each large reduce into few values becomes two: its longest reduce axis n is split into (d, n/d), the inner
    n/d (and the other reduce axes) reduced first into a realized buffer of d partials per value, then the d
    partials. One kernel with a few outputs would run its whole reduce in a few threads (a full sum of 2^28 floats in
    one GPU workgroup: 34 GB/s); the first stage has d times as many outputs to spread over cores and workgroups.
    d: the largest of SPLIT_FACTORS that divides n (and is less) leaving at least SPLIT_PART_MIN elements per
    partial and at most SPLIT_MAX_PARTIALS partials in all; a reduce no factor divides so stays whole. Each partial
    sums a contiguous run of the axis: on a GPU a workgroup per partial (GROUP), on a CPU a core per batch of them.
    The sum order changes as a tree reduction's does (the tolerance of a float sum allows for it)."""
    done: dict[UOp, UOp] = {}
    for u in sink.toposort:
        new_src = tuple(done[s] for s in u.src)
        v = u if new_src == u.src else UOp(u.op, u.dtype, new_src, u.arg)
        if u.op is Ops.REDUCE_AXIS:
            rop, axes = u.arg
            shape = shape_of(v.src[0])
            total, outputs = math.prod(shape[a] for a in axes), math.prod(shape_of(v))
            if total >= SPLIT_REDUCE_MIN and outputs < SPLIT_REDUCE_OUTPUTS:
                a = max(axes, key=lambda i: shape[i])
                d = next((f for f in SPLIT_FACTORS if shape[a] % f == 0 and shape[a] > f
                          and total // f >= SPLIT_PART_MIN and outputs * f <= SPLIT_MAX_PARTIALS), 0)
                if d:
                    split = shape[:a] + (d, shape[a] // d) + shape[a + 1:]
                    inner = tuple(sorted(i + 1 if i >= a else i for i in axes))
                    part = UOp(Ops.REDUCE_AXIS, v.dtype, (UOp(Ops.RESHAPE, v.src[0].dtype, (v.src[0],), split),),
                               (rop, inner))
                    whole = UOp(Ops.REDUCE_AXIS, v.dtype, (UOp(Ops.CONTIGUOUS, v.dtype, (part,)),), (rop, (a,)))
                    v = UOp(Ops.RESHAPE, v.dtype, (whole,), shape_of(u))
        done[u] = v
    return done[sink]


def schedule(roots: list[UOp], device: str, realized_map: dict[UOp, UOp] | None = None, fuse: bool | None = None,
             root_devices: list[str] | None = None) -> tuple[list[ScheduleItem], dict[UOp, UOp]]:
    """Kernels that compute `roots`, in the order to run them, and the buffer view each root becomes.

    fuse=False (default: `fuse_default()`) realizes every UOp that computes something (ALU, CAST, BITCAST,
    REDUCE_AXIS, CONTIGUOUS) in its own buffer: one kernel per op, movement ops stay index arithmetic over the
    realized producer. The differential fuzzer compares that schedule with the fused one.

    ASSIGN(view of a buffer, value) writes the value into that buffer (no new one); its view is what it becomes.
    Kernels reading the buffer's old contents run before it; a kernel needing old and new contents reads the old
    from a copy; an assign whose value reads the buffer elsewhere than where it stores computes into a temporary.

    Several devices: each UOp is computed where its buffers are (`root_devices`: where the roots are, default
    `device`); a COPY(src, device) is a transfer item from src's buffer (src realized first where it is not one).
    """
    from engine.rewrite import substitute

    fuse = fuse_default() if fuse is None else fuse
    realized_map = realized_map or {}
    sink = UOp.sink(*roots)
    if realized_map:
        topo = set(sink.toposort)  # once: the map holds every result realized in the process so far
        present = {u: v for u, v in realized_map.items() if u in topo}
        # a UOp that reads no buffer (a constant, an arange) is the same UOp on every device: its result realized
        # on another device is not this schedule's (it pulled kernels of a PYTHON_GPU graph onto LLVM, where an
        # LLVM run had computed the same arange); reused only where it lies on the device every root is on
        single = all(d == device for d in root_devices or [device])
        present = {u: v for u, v in present.items()
                   if (single and _view_device(v) == device) or any(x.op in (Ops.BUFFER, Ops.COPY) for x in u.toposort)}
        if present:
            sink = substitute(sink, present)
    if fuse:
        sink = split_large_reduces(sink)
    targets = [assign_target(u) for u in sink.toposort if u.op is Ops.ASSIGN]
    if len(set(targets)) < len(targets):
        raise ValueError("schedule: two pending assigns to one buffer (realize the first before the second)")
    view_roots = list(sink.src)  # the roots as they read now (before any snapshot of old contents)
    root_devices = root_devices or [device] * len(roots)
    multi = any(d != device for d in root_devices) or any(
        u.op is Ops.COPY or (u.op is Ops.BUFFER and u.arg.device != device) for u in sink.toposort)
    needs: set[UOp] = set()  # reduces that have to be realized (found while lowering)
    loop_orders: dict[UOp, list[int]] = {}  # kernels whose output loops were reordered
    tried: set[tuple[UOp, tuple[int, ...]]] = set()
    while True:
        graph = list(sink.toposort)
        # unfused, a reshape root of a computed UOp is a view of that UOp's buffer, not a copy
        aliased = {s: s.src[0] for s in sink.src if not fuse and s.op is Ops.RESHAPE and _computes(s.src[0])}
        want = [s for s in sink.src if not _is_buffer_view(s) and s not in aliased]
        force = {u for u in graph if u.op in (Ops.CONTIGUOUS, Ops.ASSIGN) or (not fuse and _computes(u))}
        if multi:  # a copy and what it copies (unless a buffer already) are realized
            force |= {x for u in graph if u.op is Ops.COPY for x in (u, u.src[0]) if x is u or not _is_buffer_view(x)}
        devs = _devices_of(graph, list(sink.src), root_devices, device) if multi else {}
        users: dict[UOp, set[UOp]] | None = None  # each UOp's consumers, when _epilogue_top needs them
        to_realize = set(want) | force | needs
        order = [u for u in graph if u in to_realize]
        buffers = {u: assign_target(u) if u.op is Ops.ASSIGN else
                   Buffer(devs.get(u, device), u.dtype, math.prod(shape_of(u))) for u in order}
        groups: list[tuple[UOp, list[ScheduleItem]]] = []
        try:
            for u in order:
                if buffers[u].size:  # else nothing to compute
                    groups.append((u, _kernels_for(u, buffers, loop_orders, fuse)))
                    for it in groups[-1][1]:
                        it.device = it.device or buffers[u].device
        except _NeedsRealize as e:
            # first try moving the loops the reduce depends on outermost; if that was tried, realize it
            current = loop_orders.get(e.root, list(range(len(shape_of(e.root)))))
            reordered = [d for d in current if d in e.dep_dims] + [d for d in current if d not in e.dep_dims]
            key = (e.root, tuple(reordered))
            if reordered != current and key not in tried:
                tried.add(key)
                loop_orders[e.root] = reordered
            else:
                if users is None:
                    users = {}
                    for x in graph:
                        for s in x.src:
                            users.setdefault(s, set()).add(x)
                needs.add(_epilogue_top(e.u, {x: i for i, x in enumerate(graph)}, set(sink.src), users))
            continue
        items = _order_kernels(groups, to_realize)
        if items is not None:
            break
        # some kernel needs a buffer's contents from before and after an assign: read the old ones from a copy
        sink = _snapshot_reads(sink, set(targets))
        needs, loop_orders, tried = set(), {}, set()
    views: dict[UOp, UOp] = {}
    for orig, before, new in zip(roots, view_roots, sink.src):
        if _is_buffer_view(before):
            views[orig] = before
        else:
            buf = buffers[aliased.get(new, new)]
            views[orig] = _buffer_view(buf, shape_of(new))
    return items, views
