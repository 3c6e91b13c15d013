"""A fourth blind set of planted bugs ("mutants") in the engine's symbolic layer, for a mutation test of the symbolic
fuzzer.

Written blind, like the earlier blind sets: from the engine's source alone (engine/symbolic.py, engine/uop.py,
engine/rewrite.py, engine/alu.py, engine/dtype.py) and blind3's file for the format, without reading the fuzzer, its
oracles, the tests, the corpus or the other mutant sets' bodies (only their names, to avoid planting the same bug
twice: none of these touches a rule, interval case or helper line that those names touch). Each models a mistake a
compiler developer could ship: an interval that assumes both factors non-negative, a bound copied from the line
above or read from the wrong end of an operand, a strict test written loose at an interval's edge, a guard against a
zero divisor written as `>= 0`, a dtype equality weakened to a kind test, a right-hand side not wrapped back into a
fixed-width type, a rewrite that forgets its off-by-one adjustment or the sign of a -1 factor, a sign slip in the
affine fast path, an off-by-one in the parsing of a negated validity clause.

Each `name(p)` installs one bug through the `Patch` helpers of `bench/mutant_patch.py`: mostly `edit` (a one-line
source edit of an engine function, recompiled and swapped in by `__code__`, so every caller and rule table runs it),
three times `edit_rule` (a rule of `engine.symbolic.symbolic` gets a new body). `p.undo()` removes it. The engine
caches bounds and canonical forms on interned UOps: run a mutant in a fresh process. Each docstring says what is
wrong and gives an expression whose simplification (or interval) becomes wrong (variables are index-typed unless
said otherwise; // and % truncate toward zero, fixed-width ints wrap). Unless a docstring says otherwise, the
example shows both with and without rule-hit counting (the affine fast path off and on). `MORE` maps the mutants'
names to them.

Evidence (each planted in a fresh process, every point of the variables' ranges evaluated with sym_infer on the
original and the simplified expression, with rule-hit counting off and on; 12 unrelated expressions checked to stay
right under every mutant):
shown: (x*y) < 0, x in [-3, 2], y in [0, 4] -> False; at x = -1, y = 1 gives False instead of True
shown: max(x, y) < 4, x in [0, 3], y in [0, 10] -> True; at x = 0, y = 4 gives True instead of False
shown: where(x < 5, x + 3, 0) < 1, x in [0, 9] -> False; at x = 5 gives False instead of True
shown: x != y, x in [0, 5], y in [5, 9] -> True; at x = y = 5 gives True instead of False
shown: (bool)x, x in [0, 5] -> True; at x = 0 gives True instead of False
shown: (int8)x, int32 x in [0, 200] -> x; at x = 128 gives 128 instead of -128
shown: x // x, x in [0, 5] -> 1; at x = 0 gives 1 instead of 0
shown: uint8 (x + 250) == 4, x in [0, 20] -> False; at x = 10 gives False instead of True (260 wraps to 4)
shown: 3 <= x, x in [0, 9] -> 3 < x; at x = 3 gives False instead of True
shown: (x*y)*-1, x, y in [0, 5] -> x*y; at x = y = 1 gives 1 instead of -1
shown: x - (y + 3), x, y in [0, 5] -> x - y + 3 (fast path only); at x = y = 0 gives 3 instead of -3
shown: where(!(3 < x) & (y < 5), x // 3, 9), x, y in [0, 9] -> where(.., 0, 9); at x = 3, y = 0 gives 0 instead of 1
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mutant_patch import Patch, edit, edit_rule  # noqa: E402

import engine.symbolic as sym  # noqa: E402
import engine.uop as uop_mod  # noqa: E402


def mul_bounds_monotone_corners(p: Patch) -> None:
    """The inlined interval of an index product of two non-constant factors (_fill_bounds) takes only two corners,
    [alo*blo, ahi*bhi], as if the product grew with both factors, instead of the min and max of all four.

    That holds while both factors are non-negative (the common case of index products); a factor that can be
    negative makes alo*bhi or ahi*blo the extreme one. Products by a constant and fixed-width products (`_bounds`)
    are right. Example: (x*y) < 0 with x in [-3, 2], y in [0, 4]: x*y gets the bounds [0, 8] and the comparison
    folds to False; at x = -1, y = 1 it is -1 < 0, True."""
    edit(p, uop_mod._fill_bounds, ("lo, hi = min(c0, c1, c2, c3), max(c0, c1, c2, c3)",
                                   "lo, hi = min(c0, c3), max(c0, c3)"))


def max_bounds_upper_uses_other_lower(p: Patch) -> None:
    """The interval of max(a, b) takes its upper bound as max(ahi, blo), the second operand's lower bound read
    instead of its upper one (as if b were a constant).

    Right where b's range is one value or lies under a's maximum; only maxima whose second operand can exceed the
    first's maximum change. Example: max(x, y) < 4 with x in [0, 3], y in [0, 10]: max(x, y) gets the bounds
    [0, 3] and the comparison folds to True; at x = 0, y = 4 it is 4 < 4, False."""
    edit(p, uop_mod._bounds, ("return (max(mm[0][0], mm[1][0]), max(mm[0][1], mm[1][1]))",
                              "return (max(mm[0][0], mm[1][0]), max(mm[0][1], mm[1][0]))"))


def where_bounds_lower_takes_max(p: Patch) -> None:
    """The interval of an integer where(c, a, b) with an undecided condition takes its lower bound as the larger of
    the branches' lower bounds (max, copied from MAX's interval two lines up) instead of the smaller.

    Right where the branches' minima are equal (padding with 0 around a non-negative value); only wheres whose
    branch with the smaller minimum can be taken change. Example: where(x < 5, x + 3, 0) < 1 with x in [0, 9]: the
    where gets the bounds [3, 8] and the comparison folds to False; at x = 5 the where is 0 and 0 < 1 is True."""
    edit(p, uop_mod._bounds, ("return (min(a[0], b[0]), max(a[1], b[1]))",
                              "return (max(a[0], b[0]), max(a[1], b[1]))"))


def ne_bounds_touching_intervals(p: Patch) -> None:
    """The interval of a != b and a == b (_bool_bounds) decides them as soon as the operands' ranges touch
    (ahi <= blo or bhi <= alo) instead of only when they are disjoint (ahi < blo or bhi < alo).

    Ranges that share exactly one end value can still be equal there. Only equality tests whose operands' ranges
    meet in one point change. Example: x != y with x in [0, 5], y in [5, 9] folds to True; at x = y = 5 it is
    False (and x == 5 with x in [0, 5] folds to False)."""
    edit(p, uop_mod._bool_bounds, ("if ahi < blo or bhi < alo:", "if ahi <= blo or bhi <= alo:"))


def cast_to_bool_bounds_zero_edge(p: Patch) -> None:
    """The interval of an integer cast to bool (_bool_bounds) is decided True when the source is non-negative
    (lo >= 0) instead of positive (lo > 0).

    Zero casts to False. Only bool casts of a value whose range starts at exactly 0 change (a range above or below
    0, or exactly 0, is right). Example: (bool)x with x in [0, 5] folds to True; at x = 0 it is False."""
    edit(p, uop_mod._bool_bounds, ("if lo > 0 or hi < 0:", "if lo >= 0 or hi < 0:"))


def cast_same_ignores_width(p: Patch) -> None:
    """cast_same (a cast to the type the value already has -> the value) compares the dtypes' kinds (signed,
    unsigned, index) instead of the dtypes, so a cast between two widths of one kind is dropped.

    A widening cast keeps the value, a narrowing one wraps it. Only narrowing casts between signed types (or between
    unsigned types) of values outside the narrower range change. Example: (int8)x with int32 x in [0, 200] becomes
    x; at x = 128 it gives 128 instead of -128."""
    edit_rule(p, "cast_same", "lambda u, x: x if u.dtype.kind == x.dtype.kind else None")


def div_self_zero_divisor(p: Patch) -> None:
    """div_self (x // x -> 1 where x cannot be 0) tests x.vmin >= 0 instead of x.vmin > 0 for the positive side.

    x // 0 is 0 in the engine's semantics (numpy's result), not 1. Only self-divisions of a value whose range starts
    at exactly 0 change. Example: x // x with x in [0, 5] becomes 1; at x = 0 it gives 1 instead of 0."""
    edit_rule(p, "div_self", "lambda x: x.const_like(1) if x.vmin >= 0 or x.vmax < 0 else None")


def eq_const_rhs_unwrapped(p: Patch) -> None:
    """fold_cmp_const, for == and != in fixed-width ints, moves the sum's constant to the right side (c - k0)
    without wrapping the result back into the dtype.

    x + k0 == c holds modulo 2**bits: with c - k0 outside the dtype's range the unwrapped constant is one x never
    equals (and the interval test then folds the comparison). Index sums and moves that stay in range are right.
    Example: uint8 (x + 250) == 4 with x in [0, 20] becomes x == -246 and folds to False; at x = 10 it is
    260 wrapped to 4, so True."""
    edit(p, sym.fold_cmp_const, ("rhs = _wrap(dt, rhs)", "rhs = rhs"))


def le_to_lt_left_keeps_constant(p: Patch) -> None:
    """le_to_lt_left (c <= x -> c - 1 < x, index only) keeps c on the left instead of c - 1: c <= x becomes c < x.

    Only a constant-left <= (the form x >= c is built in) changes, and only at x == c. Example: 3 <= x with x in
    [0, 9] becomes 3 < x; at x = 3 it gives False instead of True."""
    edit_rule(p, "le_to_lt_left", "lambda x, c: UOp(Ops.CMPLT, dtypes.bool, (c, x)) if x.dtype.kind == 'x' else None")


def product_neg_one_dropped(p: Patch) -> None:
    """canonical_product folds a product's constants and multiplies the factors by the folded constant unless it is
    1, but drops a folded constant of -1 as well (its negation is lost), as if -1 were a unit like 1.

    Only products whose constants multiply to exactly -1 change (other constants, and negations that the sum rules
    take, are right). On the affine fast path a variable times -1 is right; a product of two non-constant factors
    times -1 shows on both paths. Example: (x*y)*-1 with x, y in [0, 5] becomes x*y; at x = y = 1 it gives 1
    instead of -1."""
    edit(p, sym.canonical_product, ("acc = UOp(Ops.NEG, x.dtype, (acc,))", "pass"))


def fast_path_sub_adds_constant(p: Patch) -> None:
    """affine_simplify (the fast path for affine index expressions) adds the constant of a subtraction's right
    operand instead of subtracting it: a - (s + k) gets the linear form a - s + k (its terms are negated right).

    Only subtractions of something with a constant part change, and only on the fast path (rule-hit counting turns
    it off; the rules' terms_of is right). Example: x - (y + 3) with x, y in [0, 5] becomes x - y + 3; at x = y = 0
    it gives 3 instead of -3."""
    edit(p, sym.affine_simplify, ("forms[n] = (_add_terms(ta, tb, sign), ca + sign * cb)",
                                  "forms[n] = (_add_terms(ta, tb, sign), ca + cb)"))


def valid_negated_const_left_off_by_one(p: Patch) -> None:
    """_clause_bounds (the range a validity clause gives its term) reads a negated constant-left comparison
    !(c < x) / !(c <= x) as x <= c - 1 both times, instead of x <= c for the strict one.

    !(c <= x) is x < c, right; !(c < x) is x <= c, and the value x = c is dropped from the narrowed range. Only
    where/valid conditions with a negated strict `c < x` clause (inside a conjunction: a top-level negation is
    swapped away by where_not) whose `a` simplifies differently without x = c change. Example:
    where(!(3 < x) & (y < 5), x // 3, 9) with x, y in [0, 9] becomes where(.., 0, 9); at x = 3, y = 0 it gives 0
    instead of 1."""
    edit(p, sym._clause_bounds, ("return (b, None, lo - 1) if neg else (b, lo, None)",
                                 "return (b, None, a.arg - 1) if neg else (b, lo, None)"))


MORE = {
    "mul_bounds_monotone_corners": mul_bounds_monotone_corners,
    "max_bounds_upper_uses_other_lower": max_bounds_upper_uses_other_lower,
    "where_bounds_lower_takes_max": where_bounds_lower_takes_max,
    "ne_bounds_touching_intervals": ne_bounds_touching_intervals,
    "cast_to_bool_bounds_zero_edge": cast_to_bool_bounds_zero_edge,
    "cast_same_ignores_width": cast_same_ignores_width,
    "div_self_zero_divisor": div_self_zero_divisor,
    "eq_const_rhs_unwrapped": eq_const_rhs_unwrapped,
    "le_to_lt_left_keeps_constant": le_to_lt_left_keeps_constant,
    "product_neg_one_dropped": product_neg_one_dropped,
    "fast_path_sub_adds_constant": fast_path_sub_adds_constant,
    "valid_negated_const_left_off_by_one": valid_negated_const_left_off_by_one,
}
