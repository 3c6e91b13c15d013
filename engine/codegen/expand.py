"""Expand "upcast" and "unroll" loops into straight-line lanes before linearizing.

  upcast range u of n:  every STORE that depends on u becomes n STOREs with u = 0..n-1. Reduces inside become
                        n reduces over the same RANGEs, which the linearizer runs in one loop with n accumulators
                        (register tiling: the lanes are independent and the C compiler vectorizes them).
  unroll range k of n:  a REDUCE over (..., k, ...) becomes a REDUCE over the other ranges of the n lane values
                        combined with the reduce op (k = 0..n-1); for a float32 sum of products, a chain of
                        MULACC in order of k (the linearizer puts the accumulator at its start: the same fma chain
                        as without the unroll).
  accum range k of n:   a REDUCE over (..., k, ...) becomes n REDUCEs over the other ranges (n independent
                        accumulators in one loop), combined with the reduce op after the loop.
"""

from __future__ import annotations

from typing import Callable

from engine.dtype import DType, dtypes
from engine.rewrite import substitute
from engine.uop import Ops, UOp


def _lanes(u: UOp, r: UOp) -> list[UOp]:
    n = r.src[0].arg
    return [substitute(u, {r: UOp.const(dtypes.index, c)}) for c in range(n)]


def _combine(red: UOp, lanes: list[UOp]) -> UOp:
    out = lanes[0]
    for lane in lanes[1:]:
        out = UOp(red.arg, red.dtype, (out, lane))
    return out


def fused_sum(red: UOp) -> bool:
    """Whether a REDUCE accumulates its products with fused multiply-adds: a float32 sum (its MUL values become
    MULACC, one rounding each; engine/codegen/linearize.py)."""
    return red.arg is Ops.ADD and red.dtype == dtypes.float32


def _chain(red: UOp, lanes: list[UOp]) -> UOp:
    """Unrolled lanes of a reduce combined in order: for a fused sum, each later product as a MULACC onto the lanes
    before it (so that the accumulator, added first by the linearizer, sees the same fma chain as without the
    unroll), else with the reduce op."""
    if not fused_sum(red):
        return _combine(red, lanes)
    out = lanes[0]
    for lane in lanes[1:]:
        out = onto(out, lane)
    return out


def onto(acc: UOp, value: UOp, src: Callable[[UOp], UOp] = lambda x: x,
         make: Callable[[Ops, DType, tuple[UOp, ...]], UOp] = lambda op, dt, s: UOp(op, dt, s)) -> UOp:
    """acc + value for a fused sum: a product becomes MULACC(a, b, acc), a chain of MULACC its first product
    MULACC onto acc (so acc + the chain is the chain run from acc), anything else an ADD. `src` maps value's
    operands to what the new UOps take, `make` builds each (the linearizer: its placed values, put in order)."""
    dt = acc.dtype
    if value.op is Ops.MUL and value.dtype == dt:
        return make(Ops.MULACC, dt, (src(value.src[0]), src(value.src[1]), acc))
    if value.op is Ops.MULACC and value.dtype == dt:
        return make(Ops.MULACC, dt, (src(value.src[0]), src(value.src[1]), onto(acc, value.src[2], src, make)))
    return make(Ops.ADD, dt, (acc, src(value)))


def expand_unrolls(ast: UOp) -> UOp:
    """Replace each REDUCE's "unroll" and "accum" ranges by explicit lanes."""
    done: dict[UOp, UOp] = {}
    for u in ast.toposort:
        new_src = tuple(done[s] for s in u.src)
        if u.op is Ops.REDUCE and any(r.op is Ops.RANGE and r.arg[1] in ("unroll", "accum") for r in new_src[1:]):
            value, ranges = new_src[0], list(new_src[1:])
            for r in [r for r in ranges if r.arg[1] == "unroll"]:
                value = _chain(u, _lanes(value, r))
                ranges.remove(r)
            accums = [r for r in ranges if r.arg[1] == "accum"]
            rest = [r for r in ranges if r.arg[1] != "accum"]
            parts = [value]
            for r in accums:
                parts = [lane for p in parts for lane in _lanes(p, r)]
            reduced = [UOp(Ops.REDUCE, u.dtype, (p, *rest), u.arg) if rest else p for p in parts]
            done[u] = _combine(u, reduced)
        else:
            done[u] = u if new_src == u.src else UOp(u.op, u.dtype, new_src, u.arg)
    return done[ast]


def expand_upcasts(ast: UOp, upcasts: list[UOp]) -> UOp:
    """Replicate the kernel's STOREs over every value of the upcast ranges."""
    stores = list(ast.src)
    for r in upcasts:
        stores = [lane for s in stores for lane in (_lanes(s, r) if r in s.toposort else [s])]
    return UOp(Ops.SINK, ast.dtype, tuple(stores), ast.arg)
