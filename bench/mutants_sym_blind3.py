"""A third blind set of planted bugs ("mutants") in the engine's symbolic layer, for a mutation test of the symbolic
fuzzer.

Written blind, like `bench/mutants_sym_blind.py` and `bench/mutants_sym_blind2.py`: from the engine's source alone
(engine/symbolic.py, engine/uop.py, engine/rewrite.py, engine/alu.py, engine/dtype.py) and blind2's file for the
format, without reading the fuzzer, its oracles, the tests, the corpus or the other mutant sets' bodies (only their
names, to avoid planting the same bug twice). Each models a mistake a compiler developer could ship: a side
condition that only holds for the common case (a divisor that divides, a non-negative operand), a period test done
with Python's floor division for C's truncating remainder, a rounding direction taken from the other side of a
comparison, an identity range one too wide, a wrap-around guard that only looks up, a bound copied from a sibling
op, a disjunction read as a conjunction, a sign slip in the affine fast path.

Each `name(p)` installs one bug through the `Patch` helpers of `bench/mutant_patch.py`: mostly `edit` (a one-line
source edit of an engine function, recompiled and swapped in by `__code__`, so every caller and rule table runs it),
three times `edit_rule` (a rule of `engine.symbolic.symbolic` gets a new body). `p.undo()` removes it. The engine
caches bounds and canonical forms on interned UOps: run a mutant in a fresh process. Each docstring says what is
wrong and gives an expression whose simplification (or interval) becomes wrong (variables are index-typed unless
said otherwise; // and % truncate toward zero, fixed-width ints wrap). `MORE` maps the mutants' names to them.

Evidence (each planted in a fresh process, every point of the variables' ranges evaluated with sym_infer on the
original and the simplified expression; a few unrelated expressions checked to stay right):
shown: (x % 6) % 4, x in [0, 20] -> x % 4; at x = 6 gives 2 instead of 0
shown: (x//4)*4 + (x%4)*2, x in [0, 20] -> x*2; at x = 4 gives 8 instead of 4
shown: y*2 < 5, y in [0, 5] -> y < 2; at y = 2 gives False instead of True
shown: x % 4, x in [-4, 0] -> x; at x = -4 gives -4 instead of 0
shown: (x % 4) < 0, x in [-7, -5] -> False; at x = -5 gives False instead of True
shown: min(min(x, 5), 3), x in [0, 10] -> min(x, 5); at x = 4 gives 4 instead of 3
shown: x >> 1, x in [-4, 4] -> x // 2; at x = -1 gives 0 instead of -1
shown: (x | y) < 7, x in [0, 5], y in [0, 6] -> True; at x = 5, y = 2 gives True instead of False
shown: ((uint8)x) < 10, int32 x in [-3, 5] -> True; at x = -1 gives True instead of False (255 < 10)
shown: uint8 (x - y) < 10, x, y in [0, 5] -> True; at x = 0, y = 1 gives True instead of False (255 < 10)
shown: where((x < 5) | (y < 3), x//5 + y//3, 9), x, y in [0, 9] -> where(.., 0, 9); at x = 7, y = 0 gives 0 instead of 1
shown: -(x + 3) + y, x, y in [0, 5] -> y - x + 3; at x = y = 0 gives 3 instead of -3
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mutant_patch import Patch, edit, edit_rule  # noqa: E402

import engine.symbolic as sym  # noqa: E402
import engine.uop as uop_mod  # noqa: E402


def nested_mod_divisor_not_multiple(p: Patch) -> None:
    """nested_mod ((x % m) % a -> x % a) checks that the inner modulus is at least as large as the outer one
    (m >= a) instead of that it is a multiple of it (m % a == 0).

    x % m keeps x's residue mod a only when a divides m. Only nested remainders by constants where m is not a multiple
    of a change. Example: (x % 6) % 4 with x in [0, 20] becomes x % 4; at x = 6 it gives 2 instead of 0."""
    edit_rule(p, "nested_mod", "lambda x, m, a: x % a if a.arg > 0 and m.arg > 0 and m.arg >= a.arg else None")


def divmod_recombine_ignores_scale(p: Patch) -> None:
    """_divmod_pair (canonical sums: (x//c)*c*k + (x%c)*k -> x*k) looks for the quotient with coefficient c instead of
    k*c: the scale k of the remainder term is not checked against the quotient's.

    With k = 1 both agree; a remainder term scaled by k != 1 next to an unscaled (x//c)*c is recombined as if both
    were scaled. Example: (x//4)*4 + (x%4)*2 with x in [0, 20] becomes x*2; at x = 4 it gives 8 instead of 4."""
    edit(p, sym._divmod_pair, ("if d is not None and c != 0 and terms.get(d) == k * c:",
                               "if d is not None and c != 0 and terms.get(d) == c:"))


def lt_gcd_floor_division(p: Patch) -> None:
    """fold_cmp_const divides g*y < rhs through by the common factor g with floor division on both sides
    (y < floor(rhs/g)) instead of rounding up (y < ceil(rhs/g)); the const-left form (rhs < g*y) is right.

    Only index comparisons of a sum with a common factor against a constant that is not a multiple of it change.
    Example: y*2 < 5 with y in [0, 5] becomes y < 2; at y = 2 it gives False instead of 4 < 5, True."""
    edit(p, sym.fold_cmp_const, ("rhs = -((-rhs) // g) if not const_left else rhs // g", "rhs = rhs // g"))


def mod_identity_neg_edge(p: Patch) -> None:
    """fold_mod's identity (x % c -> x when x already lies within one remainder range) admits x.vmin == -c on the
    non-positive side: -c <= x.vmin instead of -c < x.vmin.

    -c % c is 0, not -c. Only remainders of a non-positive value whose range reaches exactly -c change (the
    non-negative side, x.vmax < c, is right). Example: x % 4 with x in [-4, 0] becomes x; at x = -4 it gives -4
    instead of 0."""
    edit(p, sym.fold_mod, ("if 0 <= x.vmin and x.vmax < c or -c < x.vmin and x.vmax <= 0:",
                           "if 0 <= x.vmin and x.vmax < c or -c <= x.vmin and x.vmax <= 0:"))


def mod_bounds_one_period_negative(p: Patch) -> None:
    """_mod_bounds (the interval of a % c by a constant c > 0) takes its one-period case (the remainder grows with the
    dividend: [alo % c, ahi % c]) whenever alo // c == ahi // c, without requiring alo >= 0.

    With Python's floor division and modulo the test and the bounds hold for negative dividends in Python's
    semantics, not in C's, where a negative dividend has a negative remainder. Only remainders of a negative range
    that stays within one multiple of c change. Example: (x % 4) < 0 with x in [-7, -5]: x % 4 gets the bounds
    [1, 3] and the comparison folds to False; at x = -5 it is -1 < 0, True."""
    edit(p, uop_mod._mod_bounds, ("if alo >= 0 and alo // c == ahi // c:", "if alo // c == ahi // c:"))


def min_min_const_takes_larger(p: Patch) -> None:
    """min_min_const (min(min(x, a), b) -> min(x, min(a, b))) merges the two constants with max, copied from
    max_max_const.

    min_by_bounds already removes the outer min when b >= a; only nested mins whose outer constant is the smaller one
    and cuts x's range reach the rule. Example: min(min(x, 5), 3) with x in [0, 10] becomes min(x, 5); at x = 4 it
    gives 4 instead of 3."""
    edit_rule(p, "min_min_const", "lambda x, a, b: x.minimum(max(a.arg, b.arg))")


def shr_to_div_negative(p: Patch) -> None:
    """shr_to_div (x >> c -> x // 2**c) does not check that x is non-negative.

    An arithmetic right shift rounds toward minus infinity, // toward zero: they differ on negative odd multiples.
    Only shifts of a value that can be negative change. Example: x >> 1 with x in [-4, 4] becomes x // 2; at x = -1
    it gives 0 instead of -1."""
    edit_rule(p, "shr_to_div", "lambda x, c: x // (1 << c.arg) if 0 <= c.arg < x.dtype.bits else None")


def or_bounds_max_operand(p: Patch) -> None:
    """The interval of a | b for non-negative operands is taken as [0, max(ahi, bhi)], the AND rule with min
    swapped for max.

    An OR of non-negative values can exceed both (5 | 2 == 7): the sound bound is the next power of two minus 1.
    Only ORs of two values whose set bits can differ change (AND is unaffected). Example: (x | y) < 7 with x in
    [0, 5], y in [0, 6]: x | y gets the bounds [0, 6] and the comparison folds to True; at x = 5, y = 2 it is
    7 < 7, False."""
    edit(p, uop_mod._bounds, ("if op is _AND and mm[0][0] >= 0 and mm[1][0] >= 0:",
                              "if op in (_AND, _OR) and mm[0][0] >= 0 and mm[1][0] >= 0:"),
         ("return (0, min(mm[0][1], mm[1][1]))", "return (0, (min if op is _AND else max)(mm[0][1], mm[1][1]))"))


def cast_bounds_ignores_lower(p: Patch) -> None:
    """The interval of an integer cast keeps the source's bounds when they fit under the target's maximum, without
    checking the target's minimum.

    A negative value cast to an unsigned (or narrower signed) type wraps to a large one. Only casts of a value that
    can be below the target's minimum change. Example: int32 x in [-3, 5], ((uint8)x) < 10: the cast keeps the
    bounds [-3, 5] and the comparison folds to True; at x = -1 the cast is 255 and it is False."""
    edit(p, uop_mod._bounds, ("return (int(lo), int(hi)) if dt.min <= lo and hi <= dt.max else _dtype_range(dt)",
                              "return (int(lo), int(hi)) if hi <= dt.max else _dtype_range(dt)"))


def clamp_ignores_underflow(p: Patch) -> None:
    """_clamp (fixed-width bounds that leave the dtype could wrap: then only its whole range is sound) checks only
    for overflow above the dtype's maximum, not below its minimum.

    Index arithmetic has its own inline check; in fixed-width ints a difference or negation that can go below the
    minimum keeps an interval it does not have (unsigned subtraction wraps to large values). Example: uint8
    (x - y) < 10 with x, y in [0, 5]: x - y gets the bounds [-5, 5] and the comparison folds to True; at x = 0,
    y = 1 it is 255 < 10, False."""
    edit(p, uop_mod._clamp, ('if dt.kind in "xiu" and (lo < dt.min or hi > dt.max):',
                             'if dt.kind in "xiu" and hi > dt.max:'))


def valid_clauses_split_or(p: Patch) -> None:
    """_clauses (the conjuncts of a validity condition) splits OR as well as AND: where(c1 | c2, a, b) simplifies `a`
    as if both c1 and c2 held.

    Only where/valid conditions with a disjunction of bounding comparisons, whose `a` simplifies under the narrowed
    ranges, change. Example: where((x < 5) | (y < 3), x//5 + y//3, 9) with x, y in [0, 9] becomes
    where((x < 5) | (y < 3), 0, 9); at x = 7, y = 0 it gives 0 instead of 1."""
    edit(p, sym._clauses, ("if v.op is Ops.AND and v.dtype == dtypes.bool:",
                           "if v.op in (Ops.AND, Ops.OR) and v.dtype == dtypes.bool:"))


def fast_path_neg_keeps_constant(p: Patch) -> None:
    """affine_simplify (the fast path for affine index expressions) negates the terms of a negation but not its
    constant: -(s + k) gets the linear form -s + k.

    Only explicit negations of something with a constant part change, and only on the fast path (rule-hit counting
    turns it off; the rules' terms_of is right). Example: -(x + 3) + y with x, y in [0, 5] becomes y - x + 3; at
    x = y = 0 it gives 3 instead of -3."""
    edit(p, sym.affine_simplify, ("forms[n] = ({b: -k for b, k in ta.items()}, -ca)",
                                  "forms[n] = ({b: -k for b, k in ta.items()}, ca)"))


MORE = {
    "nested_mod_divisor_not_multiple": nested_mod_divisor_not_multiple,
    "divmod_recombine_ignores_scale": divmod_recombine_ignores_scale,
    "lt_gcd_floor_division": lt_gcd_floor_division,
    "mod_identity_neg_edge": mod_identity_neg_edge,
    "mod_bounds_one_period_negative": mod_bounds_one_period_negative,
    "min_min_const_takes_larger": min_min_const_takes_larger,
    "shr_to_div_negative": shr_to_div_negative,
    "or_bounds_max_operand": or_bounds_max_operand,
    "cast_bounds_ignores_lower": cast_bounds_ignores_lower,
    "clamp_ignores_underflow": clamp_ignores_underflow,
    "valid_clauses_split_or": valid_clauses_split_or,
    "fast_path_neg_keeps_constant": fast_path_neg_keeps_constant,
}
