"""A second blind set of planted bugs ("mutants") in the engine's symbolic layer, for a mutation test of the symbolic
fuzzer.

Written blind, like `bench/mutants_sym_blind.py`: from the engine's source alone (engine/symbolic.py, engine/uop.py,
engine/rewrite.py, engine/alu.py, engine/dtype.py), without reading the fuzzer, its oracles, the tests, the corpus or
the other mutant sets' bodies (only their names, to avoid planting the same bug twice). Each models a mistake a
compiler developer could ship: a side condition checked on the wrong operand, a wrap-around guard that consults
bounds the engine has already clamped into the dtype, the sign of a remainder taken from Python instead of C, an
interval formula that only holds for positive operands, a copy-pasted bound, a non-strict comparison read as a
strict one, an optimization in the affine fast path that forgets to scale what it hoists.

Each `name(p)` installs one bug through the `Patch` helpers of `bench/mutant_patch.py`: mostly `edit` (a one-line
source edit of an engine function, recompiled and swapped in by `__code__`, so every caller and rule table runs it),
once `edit_rule` (a rule of `engine.symbolic.symbolic` gets a new body). `p.undo()` removes it. The engine caches
bounds and canonical forms on interned UOps: run a mutant in a fresh process. Each docstring says what is wrong and
gives an expression whose simplification (or interval) becomes wrong (variables are index-typed unless said
otherwise; // and % truncate toward zero, fixed-width ints wrap). `MORE` maps the mutants' names to them.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mutant_patch import Patch, edit, edit_rule  # noqa: E402

import engine.symbolic as sym  # noqa: E402
import engine.uop as uop_mod  # noqa: E402


def div_split_ignores_rest_sign(p: Patch) -> None:
    """fold_div's split of the whole multiples of c off a numerator ((q*c + r)//c -> q + r//c) checks only that the
    numerator is on one side of 0, not that the rest r is on that side too.

    Truncation distributes over the split only when q*c + r and r have one sign; a rest of the other sign rounds the
    other way. Only numerators with a multiple-of-c term and a rest that can cross 0 change. Example: (a*4 + b)//4
    with a in [1, 5], b in [-3, 0] becomes a (b//4 is 0 by bounds); at a = 1, b = -1 it gives 1 instead of
    3//4 = 0."""
    edit(p, sym.fold_div, ("if (x.vmin >= 0 and rest.vmin >= 0) or (x.vmax <= 0 and rest.vmax <= 0):",
                           "if x.vmin >= 0 or x.vmax <= 0:"))


def div_split_rest_may_wrap(p: Patch) -> None:
    """fold_div's second wrap-around check (may the rest that is divided wrap in a fixed-width dtype?) is a copy of the
    first one: it asks again about the whole numerator's linear form instead of the rest's.

    A numerator that fits its dtype can leave a rest that does not (the negated part of a difference in an unsigned
    type). Index arithmetic is unaffected. Example: uint8 (y*4 - z)//4 with y in [1, 3], z in [0, 3] becomes
    y + (-z)//4; at y = 1, z = 1 it gives 1 + 255//4 = 64 instead of 3//4 = 0."""
    edit(p, sym.fold_div, ("if _wraps(x, rest_terms, const):", "if _wraps(x, terms, const):"))


def lt_const_moves_constant_in_fixed_width(p: Patch) -> None:
    """fold_cmp_const moves a sum's constant across `<` (x + k < c -> x < c - k) in signed fixed-width ints too: the
    guard refuses only unsigned dtypes, as if only unsigned arithmetic could wrap.

    In a wrapping int8, x + k may overflow, and then x + k < c and x < c - k disagree. Index comparisons are
    unaffected. Example: int8 (x + 100) < 0 with x in [0, 100] becomes x < -100, then False by bounds; at x = 28,
    x + 100 wraps to -128 and the comparison is True."""
    edit(p, sym.fold_cmp_const, ('if dt.kind != "x":', 'if dt.kind == "u":'))


def eq_gcd_ignores_wrap(p: Patch) -> None:
    """fold_cmp_const's ==/!= fold divides g*y == rhs through by the gcd g only when g*y cannot wrap, but the check
    asks whether x's bounds leave the dtype, and the engine clamps every fixed-width bound into the dtype's range:
    the guard never fires.

    Only fixed-width == / != with a common factor over a range that overflows change. Example: int8 y*4 == -16 with
    y in [0, 63] becomes y == -4, then False by bounds; at y = 60, y*4 wraps to -16 and it is True (likewise
    int16 y*4 == -16 at y = 16380)."""
    edit(p, sym.fold_cmp_const, ("if g > 1 and _wraps(x, terms, 0):",
                                 "if g > 1 and (x.vmin < dt.min or x.vmax > dt.max):"))


def div_lt_negative_divisor(p: Patch) -> None:
    """_div_lt (x//d < c -> x < c*d, or x < (c-1)*d + 1 for c <= 0) refuses only d == 0 instead of every d <= 0: the
    bounds it derives hold for positive divisors only (dividing by a negative d flips the inequality).

    Only comparisons of a quotient by a negative constant that fold_div leaves alone change. Example: x // -2 < 1
    with x in [-10, 10] becomes x < -2; at x = 0 it gives False instead of 0 < 1, True."""
    edit(p, sym._div_lt, ('if x.dtype.kind != "x" or d.arg <= 0:', 'if x.dtype.kind != "x" or d.arg == 0:'))


def mod_neg_divisor_takes_divisor_sign(p: Patch) -> None:
    """mod_neg_divisor (x % -c -> x % c, C's remainder takes the sign of the dividend) gives the remainder the sign of
    the divisor instead, -(x % c), as if x % -c in C were Python's.

    Only remainders by a negative constant change, wherever they are not 0 (a bare x % -3 keeps its form: -(x % 3)
    is one op larger). Example: (x % -3) + 5 with x in [0, 10] becomes 5 - x % 3; at x = 1 it gives 4 instead of
    6."""
    edit_rule(p, "mod_neg_divisor", "lambda x, c: -(x % (-c.arg))")


def mod_var_bounds_smallest_divisor(p: Patch) -> None:
    """The interval of a % b by a non-constant divisor bounds |a % b| by the smallest |b| in b's range minus 1 instead
    of the largest.

    |a % b| < |b| holds for the divisor actually used, which may be the largest. Only remainders by a variable whose
    range has more than one magnitude change (constant divisors take _mod_bounds). Example: (x % y) < 2 with
    x in [0, 20], y in [2, 8]: x % y gets the bounds [0, 1] and the comparison folds to True; at x = 7, y = 5 it is
    2 < 2, False."""
    edit(p, uop_mod._bounds, ("m = max(abs(blo), abs(bhi)) - 1", "m = min(abs(blo), abs(bhi)) - 1"))


def min_bounds_lower_takes_larger(p: Patch) -> None:
    """The interval of min(a, b) takes the larger of the two lower bounds (a copy of max's lower bound) instead of the
    smaller: [max(alo, blo), min(ahi, bhi)].

    min_by_bounds folds the non-overlapping cases away first, so only min of overlapping ranges with different lower
    bounds gets a lower bound too high. Example: min(x, y) < 3 with x in [0, 10], y in [5, 10]: min(x, y) gets the
    bounds [5, 10] and the comparison folds to False; at x = 0 it is 0 < 3, True."""
    edit(p, uop_mod._bounds, ("return (min(mm[0][0], mm[1][0]), min(mm[0][1], mm[1][1]))",
                              "return (max(mm[0][0], mm[1][0]), min(mm[0][1], mm[1][1]))"))


def and_bounds_one_side_nonnegative(p: Patch) -> None:
    """The interval of a & b is [0, min(ahi, bhi)] as soon as one operand is non-negative, not only when both are.

    With one non-negative operand the result is indeed in [0, that operand's max], but a negative operand's max says
    nothing about the bits it has set (-8 & 15 == 8). Only ANDs of a possibly negative value change. Example:
    (x & y) < 3 with x in [-8, 2], y in [0, 15]: x & y gets the bounds [0, 2] and the comparison folds to True; at
    x = -8, y = 15 it is 8 < 3, False."""
    edit(p, uop_mod._bounds, ("if op is _AND and mm[0][0] >= 0 and mm[1][0] >= 0:",
                              "if op is _AND and (mm[0][0] >= 0 or mm[1][0] >= 0):"))


def idiv_var_bounds_positive_formula(p: Patch) -> None:
    """The interval of a // b by a divisor range that excludes 0 is the textbook one for positive operands,
    [alo // bhi, ahi // blo], instead of the extremes of all four corner quotients.

    Right while a >= 0 and b > 0; a negative dividend's smallest quotient comes from the smallest divisor, a negative
    divisor reverses both. Example: (x // y) < -5 with x in [-10, 10], y in [1, 5]: x // y gets the bounds [-2, 10]
    and the comparison folds to False; at x = -10, y = 1 it is -10 < -5, True."""
    edit(p, uop_mod._bounds, ("corners = [_c_div(a, b) for a in (alo, ahi) for b in (blo, bhi)]",
                              "corners = [_c_div(alo, bhi), _c_div(ahi, blo)]"))


def valid_le_taken_as_strict(p: Patch) -> None:
    """_clause_bounds reads every `X <= c` clause as `X < c` (hi = c - 1), dropping the non-strict case.

    Index comparisons reach it as `<` already (le_to_lt), so only <= on fixed-width ints (int32 etc.) narrows a term
    one too far, and where(c, a, b) (or simplify_given_valid) simplifies `a` as if X == c could not happen. Example:
    int32 x in [0, 10]: where(x <= 5, x // 5, 7) becomes where(x <= 5, 0, 7); at x = 5 it gives 0 instead of 1."""
    edit(p, sym._clause_bounds, ("hi = b.arg - 1 if strict else b.arg", "hi = b.arg - 1"))


def fast_path_hoisted_constant_unscaled(p: Patch) -> None:
    """affine_simplify (the fast path for affine index expressions) hoists the constant out of a product over a sum,
    (s + k)*c -> (s)*c + k, without multiplying it by c.

    Only products of a sum of several terms with a constant, by a constant |c| >= 2, change, and only on the fast
    path (rule-hit counting turns it off). Example: (x + y + 1)*2 becomes (x + y)*2 + 1; at x = y = 0 it gives 1
    instead of 2."""
    edit(p, sym.affine_simplify, ("inner = build_sum(_INDEX, tx, cx)", "inner = build_sum(_INDEX, tx, 0)"),
         ("forms[n] = ({atom: 1}, 0)", "forms[n] = ({atom: 1}, cx)"))


MORE = {
    "div_split_ignores_rest_sign": div_split_ignores_rest_sign,
    "div_split_rest_may_wrap": div_split_rest_may_wrap,
    "lt_const_moves_constant_in_fixed_width": lt_const_moves_constant_in_fixed_width,
    "eq_gcd_ignores_wrap": eq_gcd_ignores_wrap,
    "div_lt_negative_divisor": div_lt_negative_divisor,
    "mod_neg_divisor_takes_divisor_sign": mod_neg_divisor_takes_divisor_sign,
    "mod_var_bounds_smallest_divisor": mod_var_bounds_smallest_divisor,
    "min_bounds_lower_takes_larger": min_bounds_lower_takes_larger,
    "and_bounds_one_side_nonnegative": and_bounds_one_side_nonnegative,
    "idiv_var_bounds_positive_formula": idiv_var_bounds_positive_formula,
    "valid_le_taken_as_strict": valid_le_taken_as_strict,
    "fast_path_hoisted_constant_unscaled": fast_path_hoisted_constant_unscaled,
}
