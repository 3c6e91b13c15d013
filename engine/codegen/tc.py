"""Tensor cores: Opt("TC", axis, shape) rewrites a matmul-shaped reduce into warp-wide `mma.sync` instructions.

What applies: a kernel whose one REDUCE(ADD) in float32 sums a product CAST(a) * CAST(b), with a and b of one input
dtype of the shape (float16 or bfloat16 for m16n8k16, fp8 e4m3/e5m2 for m16n8k32 on sm_89 and up: exact in
float32), and three ranges chosen among the kernel's: an output loop m that a depends on and b does not, an output
loop n that b depends on and a does not, and a reduce range k of that REDUCE that both depend on (matmul: row,
column, inner; batched matmul: the batch stays a loop; conv2d: output pixel, output channel, input channel, the taps
stay reduce loops). `candidates` lists every (m, n, k) in a fixed order; the opt's axis picks one.

The rewrite (`apply_tc`), for a shape M x N x K (m16n8k16):
  m -> m_o * M + row, n -> n_o * N + col, k -> k_o * K + kk: m_o and n_o stay output loops, k_o the reduce loop;
  a new "warp" loop of 32 lanes (one warp; engine/codegen/gpu.py makes it thread index 0) holds the fragments, each
  lane its elements per the PTX ISA layout of mma.m16n8k16 (groupID = lane // 4, threadID_in_group = lane % 4):
    A (M x K, row): a_i at row g + 8*((i // 2) % 2), column 2t + i % 2 + 8*(i // 4), i = 0..7
    B (K x N, col): b_i at row 2t + i % 2 + 8*(i // 2), column g, i = 0..3
    C/D (M x N):    c_i at row g + 8*(i // 2), column 2t + i % 2, i = 0..3
  (m16n8k32, 8-bit inputs: a_i at row g + 8*((i // 4) % 2), column 4t + i % 4 + 16*(i // 8), i = 0..15;
   b_i at row 4t + i % 4 + 16*(i // 4), column g, i = 0..7; C/D as above)
  one WMMA UOp per lane takes (a_0..7, b_0..3, c_0..3 = 0) and gives the lane's d_0..3 (GEP i), each summed over k_o
  (and the REDUCE's other ranges) by its own REDUCE; every STORE becomes four, element i at (row_i, col_i).
Tails: a size that the tile does not divide rounds its outer loop up; the index is clamped to the last element (every
load stays in bounds), a K tail multiplies zeros (a and b both 0 there: a clamped value may be inf), and the stores
of rows or columns past the end are gated.
Semantics (what PYTHON_GPU computes, engine/runtime/python.py): d = c + sum of a * b over the tile's K in order,
each product and each partial sum rounded to float32; products of float16 or bfloat16 values are exact in float32,
so a kernel with TC differs from one without only by the order of the float32 additions.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.codegen.gpu import _gate
from engine.dtype import DType, dtypes
from engine.rewrite import substitute
from engine.uop import Ops, UOp

WARP = 32


@dataclass(frozen=True)
class TensorCoreShape:
    """One mma instruction: M x N x K, the input dtypes it takes and the fragment elements per lane."""

    name: str
    m: int
    n: int
    k: int
    inputs: tuple[str, ...]  # input dtype names (both operands of one dtype); accumulation is float32
    a_elems: int
    b_elems: int
    c_elems: int


SHAPES = {"m16n8k16": TensorCoreShape("m16n8k16", 16, 8, 16, ("float16", "bfloat16"), 8, 4, 4),
          "m16n8k32": TensorCoreShape("m16n8k32", 16, 8, 32, ("float8_e4m3fn", "float8_e5m2"), 16, 8, 4)}


def a_position(lane: UOp, i: int, k: int = 16) -> tuple[UOp, UOp]:
    """(row, column) of element i of lane's A fragment in the 16 x k tile (m16n8k16 or m16n8k32)."""
    g, t = lane // 4, lane % 4
    if k == 32:  # four 8-bit elements per register
        return g + 8 * ((i // 4) % 2), t * 4 + (i % 4 + 16 * (i // 8))
    return g + 8 * ((i // 2) % 2), t * 2 + (i % 2 + 8 * (i // 4))


def b_position(lane: UOp, i: int, k: int = 16) -> tuple[UOp, UOp]:
    """(row, column) of element i of lane's B fragment in the k x 8 tile."""
    g, t = lane // 4, lane % 4
    if k == 32:
        return t * 4 + (i % 4 + 16 * (i // 4)), g
    return t * 2 + (i % 2 + 8 * (i // 2)), g


def c_position(lane: UOp, i: int) -> tuple[UOp, UOp]:
    """(row, column) of element i of lane's C/D fragment in the 16 x 8 tile."""
    g, t = lane // 4, lane % 4
    return g + 8 * (i // 2), t * 2 + i % 2


@dataclass(frozen=True)
class Candidate:
    """A matmul-shaped reduce: the REDUCE, its operands (inside their casts) and the chosen ranges."""

    red: UOp
    a: UOp
    b: UOp
    m: UOp
    n: UOp
    k: UOp

    @property
    def dtype(self) -> DType:
        return self.a.dtype


_NARROW = ("float16", "bfloat16", "float8_e4m3fn", "float8_e5m2")


def _narrow(x: UOp) -> UOp | None:
    """A 16-bit or 8-bit float UOp whose value cast to float32 is x's: CAST(y) -> y; a select of such a cast and zero (a
    padded input: the pad of a cast tensor) -> the select of y and zero; else None."""
    if x.op is Ops.CAST and x.src[0].dtype.name in _NARROW:
        return x.src[0]
    if x.op is Ops.WHERE and x.src[2].op is Ops.CONST and x.src[2].arg == 0 and (y := _narrow(x.src[1])) is not None:
        return UOp(Ops.WHERE, y.dtype, (x.src[0], y, UOp.const(y.dtype, x.src[2].arg)))
    return None


def _operands(red: UOp) -> tuple[UOp, UOp] | None:
    """(a, b) of a float32 REDUCE(ADD) of a product of 16-bit or 8-bit float values a and b of one dtype (cast to
    float32, exactly: `_narrow`); else None."""
    if red.arg is not Ops.ADD or red.dtype != dtypes.float32:
        return None
    v = red.src[0]
    if v.op is not Ops.MUL:
        return None
    a, b = _narrow(v.src[0]), _narrow(v.src[1])
    if a is None or b is None or a.dtype != b.dtype:
        return None
    return a, b


def why_not(ast: UOp) -> str | None:
    """Why no range choice can make this kernel's reduce a tensor-core reduce (None: some may)."""
    reds = [u for u in ast.toposort if u.op is Ops.REDUCE]
    if len(reds) != 1:
        return f"{len(reds)} reduces (tensor cores need exactly one)"
    if _operands(reds[0]) is None:
        return "its reduce is not a float32 sum of products of 16-bit or 8-bit float values"
    if any(reds[0] not in s.toposort for s in ast.src):
        return "a store does not depend on the reduce"
    return None


def candidates(ast: UOp, order: list[UOp]) -> list[Candidate]:
    """Every (m, n, k) choice that makes the kernel's reduce matmul-shaped, in a fixed order (m, then n, then k)."""
    if why_not(ast) is not None:
        return []
    red = next(u for u in ast.toposort if u.op is Ops.REDUCE)
    ops = _operands(red)
    assert ops is not None
    a, b = ops
    in_a, in_b = set(a.toposort), set(b.toposort)
    outs = [r for r in order if r.op is Ops.RANGE and r.arg[1] == "loop" and r.src[0].op is Ops.CONST]
    ks = [r for r in red.src[1:] if r.op is Ops.RANGE and r.arg[1] == "reduce" and r.src[0].op is Ops.CONST]
    found: list[Candidate] = []
    for m in outs:
        if m not in in_a or m in in_b:
            continue
        for n in outs:
            if n not in in_b or n in in_a:
                continue
            found.extend(Candidate(red, a, b, m, n, k) for k in ks if k in in_a and k in in_b)
    return found


def _split(r: UOp, tile: int, kind: str) -> tuple[UOp, bool]:
    """The outer loop of r split by tile (the constant 0 when one tile covers it) and whether a tail is left."""
    size = r.src[0].arg
    outer = -(-size // tile)
    return (UOp.range(outer, r.arg[0], kind) if outer > 1 else UOp.const(dtypes.index, 0)), size % tile != 0


def apply_tc(ast: UOp, c: Candidate, shape: TensorCoreShape, lane_axis: int) -> tuple[UOp, dict[UOp, UOp], UOp]:
    """The kernel rewritten to use `shape` on candidate c: (new ast, old range -> its outer loop, the warp loop)."""
    lane = UOp.range(WARP, lane_axis, "warp")
    m_o, m_tail = _split(c.m, shape.m, "loop")
    n_o, n_tail = _split(c.n, shape.n, "loop")
    k_o, k_tail = _split(c.k, shape.k, "reduce")
    size_m, size_n, size_k = (r.src[0].arg for r in (c.m, c.n, c.k))

    def at(r: UOp, outer: UOp, tile: int, offset: UOp, tail: bool) -> tuple[UOp, UOp | None]:
        """(the index of r, clamped into its range, and the condition that it is inside, None if always)."""
        idx = outer * tile + offset
        if not tail:
            return idx, None
        return idx.minimum(r.src[0].arg - 1), idx < r.src[0].arg

    zero = UOp.const(c.dtype, 0.0)
    frag_a = []
    for i in range(shape.a_elems):
        row, col = a_position(lane, i, shape.k)
        mi, _ = at(c.m, m_o, shape.m, row, m_tail)  # rows past M feed only outputs that are not stored
        ki, kvalid = at(c.k, k_o, shape.k, col, k_tail)
        v = substitute(c.a, {c.m: mi, c.k: ki})
        frag_a.append(UOp(Ops.WHERE, c.dtype, (kvalid, v, zero)) if kvalid is not None else v)
    frag_b = []
    for i in range(shape.b_elems):
        row, col = b_position(lane, i, shape.k)
        ki, kvalid = at(c.k, k_o, shape.k, row, k_tail)
        ni, _ = at(c.n, n_o, shape.n, col, n_tail)
        v = substitute(c.b, {c.n: ni, c.k: ki})
        frag_b.append(UOp(Ops.WHERE, c.dtype, (kvalid, v, zero)) if kvalid is not None else v)
    acc = [UOp.const(dtypes.float32, 0.0)] * shape.c_elems
    wmma = UOp(Ops.WMMA, dtypes.float32.vec(shape.c_elems), (*frag_a, *frag_b, *acc), (shape.name, c.dtype.name))
    rest = [k_o if r is c.k else r for r in c.red.src[1:]]
    rest = [r for r in rest if r.op is Ops.RANGE]
    stores = []
    for i in range(shape.c_elems):
        d = UOp(Ops.GEP, dtypes.float32, (wmma,), (i,))
        red_i = UOp(Ops.REDUCE, dtypes.float32, (d, *rest), Ops.ADD) if rest else d
        row, col = c_position(lane, i)
        mi, mvalid = at(c.m, m_o, shape.m, row, m_tail)
        ni, nvalid = at(c.n, n_o, shape.n, col, n_tail)
        for s in ast.src:
            s = substitute(s, {c.red: red_i, c.m: mi, c.n: ni})
            live = [x for x in (mvalid, nvalid) if x is not None]
            if live:
                s = _gate(s, live[0] if len(live) == 1 else live[0] & live[1])
            stores.append(s)
    return UOp(Ops.SINK, ast.dtype, tuple(stores), ast.arg), {c.m: m_o, c.n: n_o}, lane

