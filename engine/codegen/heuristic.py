"""The default opts of a CPU kernel that reduces (a matmul, a conv, a pooled or normalized row): register tiles.

The rule, from what the loads inside the reduce loops do when an output loop steps (their stride along it):
  1. the vector loop is the output loop along which the most of those loads read adjacent elements (stride 1),
     less those that gather (another stride), with no load whose address is not affine in it; its lanes fill a
     64-byte vector (16 float32, 8 float64) or fewer where that does not divide the loop (at least 4). Opt VECTOR:
     the C renderer runs the lanes as SIMD. A loop whose addresses are affine only in its blocks (i // B and i % B,
     B in BLOCKS: a weight packed in blocks of B output channels, engine/onnx_ops.py) counts with the strides of
     i % B, its lanes and vectors side by side making up one block.
  2. the tile: the vector loop's outer part is upcast by u1 (vectors side by side) and a second output loop by u2,
     one along which the vector loads do not move (each vector loaded is used u2 times, each scalar of the other
     operand u1 times), with u1 * u2 accumulators, at most TILE_MAX (AVX-512 has 32 vector registers; the loads
     need some). Larger tiles first, then the squarer (fewer loads per multiply).
  3. the output loop with the most iterations left goes outermost (the C renderer runs it in parallel), where
     every reduce depends on every output loop (else the scheduler's order keeps fused reduces out of loops).
  4. a small innermost reduce loop (a conv's kernel width) is unrolled.
A kernel where no output loop reads adjacent memory keeps the scalar heuristic (engine.codegen.kernel): upcast a
contiguous innermost output loop, or split a contiguous reduce into independent accumulators.

The plan is a list of (op, axis, amount) in the order to apply them, the axes as Kernel.apply_opt reads them then.
"""

from __future__ import annotations

from typing import Any

from engine.rewrite import substitute
from engine.symbolic import simplify, terms_of
from engine.uop import Ops, UOp

VECTOR_BYTES = 64  # one AVX-512 register
TILE_MAX = 24  # accumulators of a register tile
UNROLL_MAX = 7  # an innermost reduce loop up to this size is unrolled (a conv's 7x7 kernel)
BLOCKS = (32, 16)  # the blocks of a loop whose addresses are affine in its blocks (rule 1; engine/onnx_ops.py packs
# constant weights in the first that divides their output channels)

Plan = list[tuple[str, int, Any]]  # (op, axis, amount): amount a lane count, a factor or a permutation


def stride(index: UOp, r: UOp) -> int | None:
    """How far `index` moves when range r steps: its coefficient in the affine index, 0 if r does not occur, None if
    r occurs inside a non-affine part (a division, a modulo, a product of ranges)."""
    return strides_of(index, [r])[0]


def strides_of(index: UOp, ranges: list[UOp]) -> list[int | None]:
    """stride(index, r) for each of `ranges` (the index simplified once)."""
    terms = _linear(simplify(index))
    inside = {x for b in terms if b.op is not Ops.RANGE for x in b.toposort}
    return [None if r in inside else terms.get(r, 0) for r in ranges]


def blocked_strides(indexes: list[UOp], r: UOp) -> tuple[int, list[int]] | None:
    """(B, the stride of each index along r % B) for the first B of BLOCKS that divides r's size where every index is
    affine in r // B and r % B (a buffer packed in blocks of B along r); None where there is none."""
    n = _size(r)
    for b in BLOCKS:
        if n % b or n == b:
            continue
        outer, lane = UOp.range(n // b, -2, "loop"), UOp.range(b, -3, "loop")
        split = outer * b + lane
        found = [strides_of(substitute(ix, {r: split}), [lane, outer]) for ix in indexes]
        if all(s is not None for st in found for s in st):
            return b, [st[0] for st in found]  # type: ignore[misc]
    return None


def _linear(u: UOp, scale: int = 1, out: dict[UOp, int] | None = None) -> dict[UOp, int]:
    """{base: coefficient} of an integer expression, constant multiples of sums distributed ((a + 2b) * 3 gives
    a: 3, b: 6; terms_of keeps such a product one base), the constant dropped."""
    out = {} if out is None else out
    terms, _ = terms_of(u)
    for b, k in terms.items():
        if b.op is Ops.MUL and b.src[1].op is Ops.CONST and type(b.src[1].arg) is int and \
                b.src[0].op in (Ops.ADD, Ops.SUB):
            _linear(b.src[0], scale * k * b.src[1].arg, out)
        else:
            out[b] = out.get(b, 0) + scale * k
    return out


def _size(r: UOp) -> int:
    return r.src[0].arg if r.src[0].op is Ops.CONST else 0


def reduce_loads(ast: UOp) -> list[UOp]:
    """The INDEXes of buffer loads that run inside a reduce loop (what the tile reuses)."""
    inside: list[UOp] = []
    for u in ast.toposort:
        if u.op is Ops.REDUCE:
            rs = set(u.src[1:])
            inside.extend(x for x in u.src[0].toposort if x.op is Ops.INDEX and x.src[0].op is Ops.DEFINE_GLOBAL
                          and rs & set(x.src[1].toposort))
    return list(dict.fromkeys(inside))


def _lanes(n: int, itemsize: int) -> int:
    return next((w for w in (VECTOR_BYTES // max(itemsize, 4), 8, 4) if w <= VECTOR_BYTES // max(itemsize, 4)
                 and n % w == 0), 0)


def _row_split(n: int) -> int:
    """The most rows of a loop of n a tile can take: all of a short loop, else its largest divisor up to 8."""
    return n if n <= 8 else max(d for d in range(1, 9) if n % d == 0)


def _tile(outer: int, rows: int, has_rows: bool) -> tuple[int, int]:
    """(u1, u2): vectors side by side (dividing `outer`) and rows (dividing `rows`, or all of a short loop)."""
    best = (1, 1)
    for u1 in (4, 3, 2, 1):
        if outer % u1:
            continue
        for u2 in (range(min(rows, 8), 0, -1) if has_rows else (1,)):
            if (rows % u2 and u2 != rows) or u1 * u2 > TILE_MAX:
                continue
            if (u1 * u2, -abs(u1 - u2)) > (best[0] * best[1], -abs(best[0] - best[1])):
                best = (u1, u2)
    if not has_rows:  # no loop to share the vectors with: more of them side by side
        best = (next(u for u in (8, 6, 4, 3, 2, 1) if outer % u == 0), 1)
    return best


def _reduces_use_every_loop(ast: UOp, order: list[UOp], reduce_ranges: list[UOp]) -> bool:
    """Whether every reduce depends on every output loop: then the loop order places none of them better (the
    scheduler put the loops a fused reduce depends on outermost, so it runs once per value: keep that order)."""
    own = set(reduce_ranges)
    return all(set(order) <= set(u.src[0].toposort) - own for u in ast.toposort if u.op is Ops.REDUCE)


def cpu_plan(order: list[UOp], reduce_ranges: list[UOp], ast: UOp) -> Plan | None:
    """The vectorized register-tile plan of a CPU kernel (`order`: its output loops), or None where no output loop
    reads adjacent memory inside the reduce."""
    loads = reduce_loads(ast)
    if not reduce_ranges or not loads:
        return None
    strides = {(ld, r): st for ld in loads for r, st in zip(order, strides_of(ld.src[1], order))}
    best: tuple[int, int, int, int] | None = None  # (adjacent loads - gathers, lanes, position, block)
    lane_strides: dict[int, dict[UOp, int | None]] = {}  # position -> each load's stride along its lanes
    for i, r in enumerate(order):
        if r.arg[1] != "loop" or not _size(r):
            continue
        block, along = _size(r), {ld: strides[(ld, r)] for ld in loads}
        if any(s is None for s in along.values()):
            if (blocked := blocked_strides([ld.src[1] for ld in loads], r)) is None:
                continue
            block, along = blocked[0], dict(zip(loads, blocked[1]))
        lane_strides[i] = along
        adjacent = [ld for ld in loads if along[ld] == 1]
        gathers = sum(along[ld] not in (0, 1) for ld in loads)
        if not adjacent:
            continue
        lanes = _lanes(block, max(ld.src[0].dtype.scalar.itemsize for ld in adjacent))
        if lanes and (best is None or (len(adjacent) - gathers, lanes) > best[:2]):
            best = (len(adjacent) - gathers, lanes, i, block)
    if best is None:
        return None
    _, lanes, vi, block = best
    v = order[vi]
    vloads = [ld for ld in loads if lane_strides[vi][ld] == 1]
    rows = [(i, r) for i, r in enumerate(order) if i != vi and r.arg[1] == "loop" and _size(r) > 1
            and all(strides[(ld, r)] == 0 for ld in vloads)]
    ri, row = max(rows, key=lambda x: (_row_split(_size(x[1])), x[0]), default=(-1, None))  # ties: the inner
    outer = _size(v) // lanes
    # a blocked loop: the vectors side by side stay within one block
    u1, u2 = _tile(outer if block == _size(v) else block // lanes, _size(row) if row is not None else 1,
                   row is not None)
    # the loop run in parallel (the outermost) is the one with the most iterations left after the tile
    left = [_size(r) // (lanes * u1 if i == vi else u2 if i == ri else 1) for i, r in enumerate(order)]
    first = max(range(len(order)), key=lambda i: (left[i], -i))
    plan: Plan = []
    if left[first] > left[0] and _reduces_use_every_loop(ast, order, reduce_ranges):
        perm = [first] + [i for i in range(len(order)) if i != first]
        plan.append(("REORDER", 0, tuple(perm)))
        vi, ri = perm.index(vi), perm.index(ri) if row is not None else -1
    plan.append(("VECTOR", vi, lanes))
    # positions after VECTOR: the vector loop's outer part stays at vi (gone if it had one iteration)
    pos = list(range(len(order)))
    if outer == 1:
        pos.remove(vi)
    if u1 > 1:
        plan.append(("UPCAST", pos.index(vi), u1))
        if outer == u1:
            pos.remove(vi)
    if row is not None and u2 > 1:
        plan.append(("UPCAST", pos.index(ri), u2))
    rr = reduce_ranges
    if 1 < _size(rr[-1]) <= UNROLL_MAX:
        plan.append(("UNROLL", len(rr) - 1, _size(rr[-1])))
    return plan



TC_MIN_USE = 0.5  # tensor cores only where the tiles' padding leaves at least this share of their products useful


def tc_choice(order: list[UOp], ast: UOp, shapes: tuple[str, ...]) -> tuple[int, str, int, int] | None:
    """Opt TC for a GPU kernel with a matmul-shaped reduce on a device with tensor cores: (candidate, shape, axis id
    of its m loop, of its n loop) for the candidate (engine/codegen/tc.py) whose tiles waste the least, then the
    largest M*N*K; None where no candidate takes a shape or the padding wastes more than TC_MIN_USE allows."""
    from engine.codegen import tc

    best = None
    for name in shapes:
        shape = tc.SHAPES[name]
        for i, c in enumerate(tc.candidates(ast, order)):
            if c.dtype.name not in shape.inputs:
                continue
            sizes = [r.src[0].arg for r in (c.m, c.n, c.k)]
            padded = [-(-s // t) * t for s, t in zip(sizes, (shape.m, shape.n, shape.k))]
            use = sizes[0] * sizes[1] * sizes[2] / (padded[0] * padded[1] * padded[2])
            key = (use, sizes[0] * sizes[1] * sizes[2])
            if use >= TC_MIN_USE and (best is None or key > best[0]):
                best = key, (i, name, c.m.arg[0], c.n.arg[0])
    return best[1] if best is not None else None
