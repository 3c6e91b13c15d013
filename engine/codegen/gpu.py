"""GPU kernel shape: output loops become launch indices, grouped reduces share work through workgroup memory.

The rule: on a GPU every output loop the kernel's reduces all depend on runs in parallel; the others (a softmax's
column loop, which its row max and sum do not depend on) stay loops inside a thread, so no reduce is recomputed
per thread. Parallel loops map to launch indices (`SPECIAL`):
  "local" loops (from Opt LOCAL) and "group" loops (from Opt GROUP) -> lidxD (thread in a workgroup);
  the "warp" loop (from Opt TC: a tensor core's 32 lanes) -> lidx0, innermost, so that its lanes are one warp;
  the other parallel loops -> gidxD (workgroup in the grid).
Dimension 0 is the innermost loop. More than three grid loops, or a grid dimension 1 or 2 above 65535, are merged
into one index (the inner dimension) and recovered with // and %. At most three workgroup loops, MAX_THREADS
threads in all, at most 64 in dimension 2 (CUDA's limits, which OpenCL devices also meet).

Group loops of one size share one thread index. A grouped reduce REDUCE(v, outer, g) (g a "group" loop of n)
becomes: each thread's partial REDUCE(v, outer) stored to temp[g] (in its row: threads of other "local" indices
hold other partials) in workgroup memory (DEFINE_LOCAL), a BARRIER,
then every thread combines temp[0..n) in a loop; the kernel's stores that depend on the combined value are gated by
g == 0 (one writer). Only a reduce that runs once per thread can be grouped (a barrier in a loop would also need one
before temp is reused): its value depends on no loop but the parallel ones.

Every thread of the group holds the combined value, so a serial loop after it need not run in one thread: the
innermost serial loop s whose size the group's n divides (`spread_loop`: a softmax's or layernorm's column loop) is
strided over the group's threads, s = s' * n + g, and the stores inside it are written by every thread, each its own
elements (adjacent threads, adjacent elements), instead of by thread 0 alone."""

from __future__ import annotations

import math

from engine.dtype import dtypes
from engine.rewrite import substitute
from engine.uop import Ops, UOp

MAX_THREADS = 1024
MAX_GRID_YZ = 65535
MAX_GRID_X = (1 << 31) - 1
MAX_LOCAL_Z = 64


class LaunchError(ValueError):
    """The kernel's parallel loops do not fit a GPU launch (too many threads or workgroups)."""


def _gate(store: UOp, cond: UOp) -> UOp:
    """The STORE with `cond` added to its INDEX's validity (no write where it is false)."""
    idx = store.src[0]
    valid = cond if len(idx.src) < 3 else idx.src[2] & cond
    return UOp(Ops.STORE, store.dtype, (UOp(Ops.INDEX, idx.dtype, (idx.src[0], idx.src[1], valid)), store.src[1]),
               store.arg)


def loop_deps(ast: UOp) -> dict[UOp, frozenset[UOp]]:
    """The RANGEs each UOp's value depends on (a REDUCE does not depend on its own ranges)."""
    deps: dict[UOp, frozenset[UOp]] = {}
    for u in ast.toposort:
        if u.op is Ops.RANGE:
            deps[u] = frozenset({u})
            continue
        d = frozenset().union(*(deps[s] for s in u.src)) if u.src else frozenset()
        deps[u] = d - frozenset(u.src[1:]) if u.op is Ops.REDUCE else d
    return deps


def groupable(ast: UOp, order: list[UOp], r: UOp) -> str | None:
    """Why the reduces over range r cannot be grouped (None: they can): their value must depend only on
    parallel output loops, so that their barrier runs once per thread."""
    deps = loop_deps(ast)
    serial = serial_loops(ast, order)
    for u in ast.toposort:
        if u.op is Ops.REDUCE and r in u.src[1:]:
            if any(s.arg[1] == "group" for s in u.src[1:]):
                return "it is in a reduce already grouped"
            bad = [x for x in deps[u] if x not in order or x in serial]
            if bad:
                return f"its reduce runs inside loop {bad[0].arg[0]}"
    return None


def spread_loop(ast: UOp, order: list[UOp]) -> UOp | None:
    """The serial loop a grouped kernel strides over its group's threads: the innermost serial output loop whose size
    the group divides, where every group loop has one size (one thread index). None where there is none."""
    groups = {u for u in ast.toposort if u.op is Ops.RANGE and u.arg[1] == "group"}
    sizes = {_size(g) for g in groups}
    if len(sizes) != 1:
        return None
    n = sizes.pop()
    serial = serial_loops(ast, order)
    return next((r for r in reversed(order) if r in serial and _size(r) % n == 0), None)


def group_reduces(ast: UOp, next_axis: int, local: list[UOp], spread: UOp | None = None) -> tuple[UOp, UOp | None]:
    """Rewrite every REDUCE over a "group" loop into partials in workgroup memory, a barrier and a combine.
    `local`: the kernel's "local" loops; threads that differ in them hold different partials, so each has its row
    of temp (temp[row * n + g]). `spread` (from `spread_loop`): the serial loop to stride over the group's threads.
    Returns the new AST and the loop that replaces `spread` (None when nothing was spread)."""
    row: UOp = UOp.const(dtypes.index, 0)
    rows = 1
    for r in local:
        row, rows = row * _size(r) + r, rows * _size(r)
    done: dict[UOp, UOp] = {}
    gate: dict[UOp, UOp] = {}  # each UOp -> the condition its stores need (g == 0 of the grouped reduces it reads)
    n_temps = 0
    for u in ast.toposort:
        src = tuple(done[s] for s in u.src)
        conds = [gate[s] for s in u.src if s in gate]
        groups = [r for r in src[1:] if r.op is Ops.RANGE and r.arg[1] == "group"] if u.op is Ops.REDUCE else []
        if len(groups) > 1:
            raise LaunchError(f"a reduce over {len(groups)} group loops (one at most)")
        if groups:
            g = groups[0]
            rest = [r for r in src[1:] if r is not g]
            partial = UOp(Ops.REDUCE, u.dtype, (src[0], *rest), u.arg) if rest else src[0]
            temp = UOp(Ops.DEFINE_LOCAL, u.dtype.pointer(_size(g) * rows), (), n_temps)
            st = UOp(Ops.STORE, dtypes.void, (UOp(Ops.INDEX, temp.dtype, (temp, row * _size(g) + g)), partial))
            bar = UOp(Ops.BARRIER, temp.dtype, (temp, st))
            j = UOp.range(_size(g), next_axis + n_temps, "reduce")
            n_temps += 1
            part = UOp(Ops.LOAD, u.dtype, (UOp(Ops.INDEX, temp.dtype, (bar, row * _size(g) + j)),))
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
    stores = [_gate(done[s], gate[s]) if s in gate and s not in spread_in else done[s] for s in ast.src]
    out = UOp(Ops.SINK, ast.dtype, tuple(stores), ast.arg)
    if not spread_in:
        return out, None
    assert spread is not None
    g = min((u for u in out.toposort if u.op is Ops.RANGE and u.arg[1] == "group"), key=lambda r: r.arg)
    outer = UOp.range(_size(spread) // _size(g), spread.arg[0], spread.arg[1])
    return substitute(out, {spread: outer * _size(g) + g}), outer


def check_grouped(ast: UOp, order: list[UOp]) -> None:
    """Raise LaunchError where a grouped reduce's partial is stored inside a loop (after group_reduces and the
    kernel's simplification): each iteration would rewrite its workgroup memory while other threads may still read
    the last one's partials. GROUP refuses a reduce inside a loop when applied (groupable), but a later UPCAST can
    make a loop serial: the lanes of a padded conv whose reduces, simplified, do not all read it."""
    deps = loop_deps(ast)
    serial = serial_loops(ast, order)
    for u in ast.toposort:
        if u.op is Ops.STORE and u.src[0].op is Ops.INDEX and u.src[0].src[0].op is Ops.DEFINE_LOCAL:
            bad = [x for x in deps[u] if x.arg[1] not in ("group", "local") and (x not in order or x in serial)]
            if bad:
                raise LaunchError(f"a grouped reduce runs inside loop {bad[0].arg[0]} (its workgroup memory would be "
                                  f"rewritten while read)")


def serial_loops(ast: UOp, order: list[UOp]) -> set[UOp]:
    """Output "loop"s that some reduce does not depend on: they stay loops inside a thread (not recomputed)."""
    deps = loop_deps(ast)
    keep: set[UOp] = set()
    for red in (u for u in ast.toposort if u.op is Ops.REDUCE):
        keep |= {r for r in order if r.arg[1] == "loop" and r not in deps[red]}
    return keep


def _size(r: UOp) -> int:
    return r.src[0].arg


def _dims(loops: list[UOp], prefix: str, limits: list[int]) -> tuple[dict[UOp, UOp], list[int]]:
    """Map loops (outermost first) to SPECIALs prefix0.. (0 innermost), merging inner ones past the limits."""
    groups = [[r] for r in loops]
    # merge the two innermost groups while there are too many or an outer dimension is too large
    while len(groups) > 3 or any(math.prod(map(_size, grp)) > limits[len(groups) - 1 - i]
                                 for i, grp in enumerate(groups[:-1])):
        groups[-2:] = [groups[-2] + groups[-1]]
    mapping: dict[UOp, UOp] = {}
    sizes: list[int] = []
    for d, grp in enumerate(reversed(groups)):
        total = math.prod(map(_size, grp))
        if total > limits[d]:
            raise LaunchError(f"{prefix} dimension {d} of {total} exceeds {limits[d]}")
        sp = UOp(Ops.SPECIAL, dtypes.index, (UOp.const(dtypes.index, total),), f"{prefix}{d}")
        stride = total
        for r in grp:
            stride //= _size(r)
            v = sp if stride == 1 else sp // stride
            mapping[r] = v % _size(r) if r is not grp[0] else v
        sizes.append(total)
    return mapping, sizes + [1] * (3 - len(sizes))


def to_launch(ast: UOp, order: list[UOp]) -> tuple[UOp, list[UOp], tuple[int, ...], tuple[int, ...]]:
    """Replace the parallel output loops by launch indices: (ast, loops left serial, global size, local size)."""
    serial = serial_loops(ast, order)
    glob = [r for r in order if r.arg[1] in ("loop", "global") and r not in serial]
    local = [r for r in order if r.arg[1] == "local"]
    groups = sorted({u for u in ast.toposort if u.op is Ops.RANGE and u.arg[1] == "group"}, key=lambda r: r.arg)
    # group loops of one size share a thread index: each reduce's parts are independent of the others'
    by_size = {_size(g): g for g in reversed(groups)}
    local += [by_size[_size(g)] for g in groups if by_size[_size(g)] is g]
    local += [r for r in order if r.arg[1] == "warp"]  # innermost: consecutive threads, one warp
    if len(local) > 3:
        raise LaunchError(f"{len(local)} workgroup loops (three at most)")
    threads = math.prod(map(_size, local))
    if threads > MAX_THREADS:
        raise LaunchError(f"{threads} threads in a workgroup exceed {MAX_THREADS}")
    gmap, gsize = _dims(glob, "gidx", [MAX_GRID_X, MAX_GRID_YZ, MAX_GRID_YZ])
    lmap, lsize = _dims(local, "lidx", [MAX_THREADS, MAX_THREADS, MAX_LOCAL_Z])
    lmap |= {g: lmap[by_size[_size(g)]] for g in groups}
    ast = substitute(ast, gmap | lmap)
    return ast, [r for r in order if r in serial], tuple(gsize), tuple(lsize)
