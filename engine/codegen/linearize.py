"""Kernel AST -> linear program: loops nested by dependency, every value placed in the outermost loop it can be.

Each UOp's "home" is the innermost loop among the RANGEs it depends on (a REDUCE does not depend on its own
ranges). Loops nest as: output loops in the kernel's loop order, and inside the home of each REDUCE, that
REDUCE's own ranges. A REDUCE becomes: a register, one initializing store, its loops, an accumulate step in the
innermost one, and a read of the register after the loops. The accumulate step of a float32 sum of products is a
fused multiply-add, MULACC(a, b, acc) (expand.fused_sum: one rounding a product, on every device); that of the sums
of a tensor-core instruction's D elements is the instruction itself with the accumulators as its C operands
(`_accumulating_wmmas`). Values that nothing reads are dropped at the end. So a value is computed once per
iteration of the loops it depends on, and an accumulator is initialized once per value it produces.
"""

from __future__ import annotations

import itertools

from engine.alu import reduce_identity
from engine.codegen.expand import fused_sum, onto
from engine.codegen.program import Program
from engine.dtype import dtypes
from engine.uop import GroupOp, Ops, UOp


class LinearizeError(Exception):
    """The kernel's loop structure cannot be linearized (a bug in scheduling or opts)."""


def linearize(ast: UOp, name: str, loop_order: list[UOp] | None = None) -> Program:
    """The program of a kernel AST (SINK of STOREs). `loop_order` lists the output RANGEs, outermost first."""
    topo = list(ast.toposort)
    all_ranges = [u for u in topo if u.op is Ops.RANGE]
    reduce_of: dict[UOp, UOp] = {}
    for u in topo:
        if u.op is Ops.REDUCE:
            for r in u.src[1:]:
                reduce_of[r] = u
    outputs = [r for r in all_ranges if r not in reduce_of]
    order = loop_order if loop_order is not None else sorted(outputs, key=lambda r: r.arg)
    if set(order) != set(outputs):
        raise LinearizeError(f"{name}: loop order {order} does not match the output ranges {outputs}")

    # deps: the RANGEs each UOp depends on. Reduces that share a range run in one loop nest, so each of them
    # depends on what any of them does (upcast lanes of one reduce can differ: a lane's mask may drop a range)
    extra: dict[UOp, frozenset[UOp]] = {}
    while True:
        deps: dict[UOp, frozenset[UOp]] = {}
        for u in topo:
            if u.op is Ops.RANGE:
                d = frozenset({u})
            else:
                d = frozenset().union(*(deps[s] for s in u.src)) if u.src else frozenset()
                if u.op is Ops.REDUCE:
                    d = (d - frozenset(u.src[1:])) | extra.get(u, frozenset())
            deps[u] = d
        shared: dict[UOp, frozenset[UOp]] = {}
        for u in topo:
            if u.op is Ops.REDUCE:
                for r in u.src[1:]:
                    shared[r] = shared.get(r, frozenset()) | deps[u]
        grown = {u: d for u in topo if u.op is Ops.REDUCE
                 and (d := frozenset().union(*(shared[r] for r in u.src[1:]))) != deps[u]}
        if not grown:
            break
        extra.update(grown)

    # path: the loops enclosing each range, itself included
    path: dict[UOp, tuple[UOp, ...]] = {}
    for i, r in enumerate(order):
        path[r] = tuple(order[: i + 1])

    def home(u: UOp) -> tuple[UOp, ...]:
        best: tuple[UOp, ...] = ()
        for r in deps[u]:
            p = range_path(r)
            if len(p) > len(best):
                best = p
        for r in deps[u]:
            if range_path(r) != best[: len(range_path(r))]:
                raise LinearizeError(f"{name}: {u.op.name} depends on loops that do not nest")
        return best

    def range_path(r: UOp) -> tuple[UOp, ...]:
        if r not in path:
            red = reduce_of[r]
            base = home(red)
            rs = list(red.src[1:])
            path[r] = base + tuple(rs[: rs.index(r) + 1])
        return path[r]

    homes = {u: home(u) for u in topo if u.op not in (Ops.SINK,)}
    by_home: dict[tuple[UOp, ...], list[UOp]] = {}
    for u in topo:
        if u.op in (Ops.SINK, Ops.RANGE):
            continue
        by_home.setdefault(homes[u], []).append(u)

    prog: list[UOp] = []
    value: dict[UOp, UOp] = {}  # AST UOp -> the program UOp holding its value
    reg_ids = itertools.count()
    read_ids = itertools.count()
    emitted: set[UOp] = set()

    def put(u: UOp) -> UOp:
        if u not in emitted:
            emitted.add(u)
            prog.append(u)
        return u

    fused = _accumulating_wmmas(topo, homes)

    def emit_node(u: UOp) -> None:
        if u in value or u in fused:
            return
        if u.op is Ops.REDUCE:
            emit_reduce(u)
            return
        missing = [s for s in u.src if s not in value]
        if missing:
            raise LinearizeError(f"{name}: {u.op.name} needs {missing[0].op.name} before it is placed")
        new = UOp(u.op, u.dtype, tuple(value[s] for s in u.src), u.arg)
        value[u] = put(new)

    def open_range(r: UOp) -> None:
        end = value[r.src[0]] if r.src[0] in value else put(r.src[0])
        value[r] = put(UOp(Ops.RANGE, r.dtype, (end,), r.arg))

    def emit_scope(scope: tuple[UOp, ...]) -> None:
        for u in by_home.get(scope, []):
            emit_node(u)

    # reduces over the same ranges from the same place run in one loop nest, one accumulator each
    groups: dict[tuple, list[UOp]] = {}
    for u in topo:
        if u.op is Ops.REDUCE:
            groups.setdefault((homes[u], u.src[1:]), []).append(u)

    def emit_reduce(red: UOp) -> None:
        base = homes[red]
        rs = list(red.src[1:])
        group = [m for m in groups[(base, red.src[1:])] if m not in value]
        for r in rs:
            owners = {homes[m] for m in topo if m.op is Ops.REDUCE and r in m.src[1:]}
            if len(owners) > 1:
                raise LinearizeError(f"{name}: range {r.arg} is shared by reduces placed in different loops")
        for m in group:  # what the loop bodies need from this scope comes first
            for x in m.src[0].toposort:
                if x not in value and x.op is not Ops.RANGE and homes.get(x) == base:
                    emit_node(x)
        group = [m for m in group if m not in value]
        slots = []
        for m in group:
            reg = put(UOp(Ops.DEFINE_REG, m.dtype.pointer(1), (), next(reg_ids)))
            slot = put(UOp(Ops.INDEX, reg.dtype, (reg, put(UOp.const(dtypes.index, 0)))))
            init = put(UOp.const(m.dtype, reduce_identity(m.arg, m.dtype)))
            put(UOp(Ops.STORE, dtypes.void, (slot, init)))
            slots.append(slot)
        for k, r in enumerate(rs):
            open_range(r)
            emit_scope(base + tuple(rs[: k + 1]))
        for chain in dict.fromkeys(fused[m.src[0]] for m in group if m.src[0] in fused):  # D = A B + C, chained
            by_elem = {_first_lane(m.src[0]).arg[0]: slot
                       for m, slot in zip(group, slots) if fused.get(m.src[0]) == chain}
            cs = [put(UOp(Ops.LOAD, dtypes.float32, (by_elem[i],), next(read_ids))) for i in range(len(by_elem))]
            for w in chain:
                nw = put(UOp(Ops.WMMA, w.dtype, (*(value[x] for x in w.src[:len(w.src) - len(cs)]), *cs), w.arg))
                cs = [put(UOp(Ops.GEP, dtypes.float32, (nw,), (i,))) for i in range(len(cs))]
            for i, c in enumerate(cs):
                put(UOp(Ops.STORE, dtypes.void, (by_elem[i], c)))
        for m, slot in zip(group, slots):
            v = m.src[0]
            if v in fused:
                continue
            if v not in value:
                raise LinearizeError(f"{name}: reduce value was not placed inside its loops")
            cur = put(UOp(Ops.LOAD, m.dtype, (slot,), next(read_ids)))
            if fused_sum(m):  # products accumulate with one rounding each (expand.fused_sum)
                nxt = onto(cur, v, value.__getitem__, lambda op, dt, s: put(UOp(op, dt, s)))
            else:
                nxt = put(UOp(m.arg, m.dtype, (cur, value[v])))
            put(UOp(Ops.STORE, dtypes.void, (slot, nxt)))
        for r in reversed(rs):
            put(UOp(Ops.END, dtypes.void, (value[r],)))
        for m, slot in zip(group, slots):
            value[m] = put(UOp(Ops.LOAD, m.dtype, (slot,), next(read_ids)))

    emit_scope(())
    for i, r in enumerate(order):
        open_range(r)
        emit_scope(tuple(order[: i + 1]))
    for r in reversed(order):
        put(UOp(Ops.END, dtypes.void, (value[r],)))
    for s in ast.src:
        if s not in value:
            raise LinearizeError(f"{name}: store {s.op.name} was not placed")
    # values nothing reads (a fused sum's product, computed again inside its MULACC) are dropped
    used: set[UOp] = set()
    live: list[UOp] = []
    for u in reversed(prog):
        if u.op in GroupOp.ALU and u not in used:
            continue
        used.update(u.src)
        live.append(u)
    return Program(name, live[::-1])


def _first_lane(v: UOp) -> UOp:
    """The first GEP of a sum of WMMA elements (`_accumulating_wmmas`)."""
    while v.op is Ops.ADD:
        v = v.src[0]
    return v


def _accumulating_wmmas(topo: list[UOp], homes: dict[UOp, tuple[UOp, ...]]) -> dict[UOp, tuple[UOp, ...]]:
    """The chains of WMMAs (Opt TC) whose C operands are zero and whose D elements are only summed, element i of
    each by one float32 REDUCE (those REDUCEs run in one loop nest), as GEP(w1, i) or, where an UNROLL of the k tile
    loop made several lanes, GEP(w1, i) + GEP(w2, i) + ... (added left to right, expand._combine): every node of a
    chain (WMMAs, GEPs, ADDs) -> the chain's WMMAs in order. The accumulate step of those REDUCEs is the chain
    itself: w1's C operands the accumulators, each later WMMA's the one before's D (D = A B + C: no add per element
    after it, which would cost a tensor-core kernel as many instructions as its fragment loads; the sum keeps the
    order of the loop without the opts)."""
    readers: dict[UOp, list[UOp]] = {}
    for u in topo:
        for s in u.src:
            readers.setdefault(s, []).append(u)

    def lanes(v: UOp) -> list[UOp] | None:
        """The GEPs of WMMAs that v adds left to right (v one of them, or an ADD of such a sum and one more)."""
        if v.op is Ops.GEP and v.src[0].op is Ops.WMMA:
            return [v]
        if v.op is Ops.ADD and v.dtype == dtypes.float32 and len(readers.get(v, [])) == 1 and \
                v.src[1].op is Ops.GEP and v.src[1].src[0].op is Ops.WMMA and (left := lanes(v.src[0])) is not None:
            return [*left, v.src[1]]
        return None

    def spine(v: UOp) -> list[UOp]:
        """The GEPs and ADDs of a sum `lanes` took apart."""
        return [v] if v.op is Ops.GEP else [v, v.src[1], *spine(v.src[0])]

    out: dict[UOp, tuple[UOp, ...]] = {}
    by_chain: dict[tuple[UOp, ...], list[UOp]] = {}
    for red in topo:
        if red.op is Ops.REDUCE and red.arg is Ops.ADD and red.dtype == dtypes.float32 and \
                (ls := lanes(red.src[0])) is not None and len(readers.get(red.src[0], [])) == 1 and \
                len({g.arg for g in ls}) == 1:
            by_chain.setdefault(tuple(g.src[0] for g in ls), []).append(red)
    for chain, reds in by_chain.items():
        n = chain[0].dtype.count
        if len(set(chain)) != len(chain) or len(reds) != n or len({(homes[r], r.src[1:]) for r in reds}) != 1:
            continue
        if not all(all(c.op is Ops.CONST and c.arg == 0.0 for c in w.src[-n:]) and w.dtype.count == n and
                   len(readers.get(w, [])) == n for w in chain):
            continue
        nodes = [x for r in reds for x in spine(r.src[0])]
        if any(len(readers.get(g, [])) != 1 for g in nodes if g.op is Ops.GEP) or \
                {g.arg for g in nodes if g.op is Ops.GEP} != {(i,) for i in range(n)}:
            continue
        out.update((x, chain) for x in [*chain, *nodes])
    return out
