"""A fifth blind set of planted bugs ("mutants") in the engine's symbolic layer, for a mutation test of the symbolic
fuzzer.

Written blind, like the earlier blind sets: from the engine's source alone (engine/symbolic.py, engine/uop.py,
engine/rewrite.py, engine/alu.py, engine/dtype.py) and blind4's file for the format, without reading the fuzzer, its
oracles, the tests, the corpus or the other mutant sets' bodies (only their names, to avoid planting the same bug
twice: none of these touches a rule, interval case or helper line that those names touch). Each models a mistake a
compiler developer could ship: a constant folded in its operands' dtype instead of its result's, an interval test
written loose at its edge, a bound copied from the neighbouring op (an `or` for an `and`, an upper end subtracted
from an upper end), a shift's interval not clamped to its dtype, a signed maximum one too large, a min decided by
comparing the wrong ends of two ranges, two `where` folds and a `!= False` fold that get a negation wrong, a term
taken instead of popped, a constant dropped on the affine fast path.

Each `name(p)` installs one bug through the `Patch` helpers of `bench/mutant_patch.py`: mostly `edit` (a one-line
source edit of an engine function, recompiled and swapped in by `__code__`, so every caller and rule table runs it),
four times `edit_rule` (a rule of `engine.symbolic.symbolic` gets a new body). `p.undo()` removes it. The engine
caches bounds and canonical forms on interned UOps: run a mutant in a fresh process. Each docstring says what is
wrong and gives an expression whose simplification (or interval) becomes wrong (variables are index-typed unless
said otherwise; // and % truncate toward zero, fixed-width ints wrap). Unless a docstring says otherwise, the
example shows both with and without rule-hit counting (the affine fast path off and on). `MORE` maps the mutants'
names to them.

Evidence (each planted in a fresh process, every point of the variables' ranges evaluated with sym_infer on the
original and the simplified expression, with rule-hit counting off and on; 12 unrelated expressions checked to stay
right under every mutant):
shown: (int8)(x*0 + 200), int32 x in [-3, 3] -> 200; at x = 0 gives 200 instead of -56 (where(True, 7, 9) + x -> x + 1)
shown: y <= x, x in [0, 5], y in [5, 9] -> False; at x = y = 5 gives False instead of True
shown: (x < 3) & (y < 100), x, y in [0, 9] -> True; at x = 3, y = 0 gives True instead of False
shown: min(x, y), x in [0, 5], y in [3, 9] -> x; at x = 4, y = 3 gives 4 instead of 3
shown: where(x < 3, False, True), x in [0, 9] -> x < 3; at x = 0 gives True instead of False
shown: where(!(x < 3), x, 7), x in [0, 9] -> where(x < 3, x, 7); at x = 0 gives 0 instead of 7
shown: int8 (x + y) < 0, int8 x, y in [0, 64] -> False; at x = y = 64 gives False instead of True (128 wraps to -128)
shown: int32 (x - y) < 3, int32 x in [0, 5], y in [0, 3] -> True; at x = 3, y = 0 gives True instead of False
shown: int8 (x << 4) < 0, int8 x in [0, 15] -> False; at x = 8 gives False instead of True (128 wraps to -128)
shown: ((x - y) - y) - x*2, x, y in [0, 5] -> ((y*-2) - x) - y*2; at x = 0, y = 1 gives -4 instead of -2
shown: (x + y + 3)*2, x, y in [0, 5] -> (x + y)*2 (fast path only); at x = y = 0 gives 0 instead of 6
shown: (x < 3) != False, x in [0, 9] -> !(x < 3); at x = 0 gives False instead of True
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mutant_patch import Patch, edit, edit_rule  # noqa: E402

import engine.dtype as dtype_mod  # noqa: E402
import engine.symbolic as sym  # noqa: E402
import engine.uop as uop_mod  # noqa: E402


def const_fold_in_source_dtype(p: Patch) -> None:
    """_const_fold (all-constant ALU -> the constant) computes the value in the first operand's dtype instead of the
    result's.

    Same thing for arithmetic (operands and result share a dtype) and comparisons (True comes back as 1, a true
    bool again); wrong where the two differ: a cast of a constant is not wrapped into the target type, and a
    where(c, a, b) over constants is computed as a bool, so its value becomes 0 or 1 (a where whose condition only
    its bounds decide is folded by those first). Example: (int8)(x*0 + 200) with int32 x in [-3, 3] becomes 200; at
    every x it gives 200 instead of -56 (and where(True, 7, 9) + x becomes x + 1)."""
    edit(p, sym._const_fold, ("return UOp.const(x.dtype, exec_alu(x.op, x.dtype, tuple(s.arg for s in x.src)))",
                              "return UOp.const(x.dtype, exec_alu(x.op, x.src[0].dtype, tuple(s.arg for s in x.src)))"))


def le_bounds_touching_false(p: Patch) -> None:
    """The interval of a <= b (_bool_bounds) decides it False as soon as a's minimum reaches b's maximum
    (alo >= bhi, the test of a < b one case up) instead of only when it exceeds it (alo > bhi).

    Only <= comparisons whose operands' ranges meet in exactly one point change (index comparisons with a constant
    become < first; those between two variables, and fixed-width ones, stay <=). Example: x >= y (y <= x) with
    x in [0, 5], y in [5, 9] folds to False; at x = y = 5 it is True."""
    edit(p, uop_mod._bool_bounds, ("if alo > bhi:", "if alo >= bhi:"))


def and_bounds_lower_uses_or(p: Patch) -> None:
    """The interval of a bool a & b (_bool_bounds) takes its lower end as alo or blo (the OR line's, below) instead
    of alo and blo: one operand that is always True makes the conjunction always True.

    Only conjunctions with an operand decided True change (and_true would drop that operand, but the bounds fold
    runs first, on the conjunction before its operands are rewritten). Example: (x < 3) & (y < 100) with x, y in
    [0, 9] folds to True; at x = 5 it is False."""
    edit(p, uop_mod._bool_bounds, ("return (bool(mm[0][0] and mm[1][0]), bool(mm[0][1] and mm[1][1]))",
                                   "return (bool(mm[0][0] or mm[1][0]), bool(mm[0][1] and mm[1][1]))"))


def min_by_bounds_compares_maxima(p: Patch) -> None:
    """min_by_bounds (min(x, y) -> x where x never exceeds y) tests x.vmax <= y.vmax, the two maxima, instead of
    x.vmax <= y.vmin.

    Right where y's range is one value or x lies under all of it; only minima whose operands' ranges overlap with x's
    the lower one change. Example: min(x, y) with x in [0, 5], y in [3, 9] becomes x; at x = 5, y = 3 it gives 5
    instead of 3."""
    edit_rule(p, "min_by_bounds", "lambda x, y: x if x.vmax <= y.vmax else None")


def where_false_true_keeps_condition(p: Patch) -> None:
    """where_false_true (where(c, False, True) -> !c) returns c, as its neighbour where_true_false does, dropping
    the negation.

    Only bool wheres with the constant arms False, True change. Example: where(x < 3, False, True) with x in [0, 9]
    becomes x < 3; at x = 0 it gives True instead of False."""
    edit_rule(p, "where_false_true", "lambda c: c")


def where_not_arms_unswapped(p: Patch) -> None:
    """where_not (where(!c, a, b) -> where(c, b, a)) drops the negation without swapping the arms: where(c, a, b).

    Only wheres whose condition is a negation (x != True) with two different arms change. Example:
    where(!(x < 3), x, 7) with x in [0, 9] becomes where(x < 3, x, 7); at x = 0 it gives 0 instead of 7."""
    edit_rule(p, "where_not", "lambda c, a, b: UOp(Ops.WHERE, a.dtype, (c, a, b))")


def int_max_one_too_large(p: Patch) -> None:
    """DType.max of a signed integer type is 2**(bits-1) instead of 2**(bits-1) - 1 (the unsigned formula's
    shape without its -1).

    Every interval clamp and wrap test then takes the value 2**(bits-1) as representable: an int8 sum or product
    whose range reaches exactly 128 keeps that range though it wraps to -128 there. Index arithmetic keeps its own
    int64 limits. Example: int8 (x + y) < 0 with int8 x, y in [0, 64] folds to False; at x = y = 64 the sum wraps to
    -128 and it is True."""
    edit(p, dtype_mod.DType.max.fget, ("return (1 << (self.bits - 1)) - 1", "return 1 << (self.bits - 1)"))


def sub_bounds_upper_subtracts_upper(p: Patch) -> None:
    """The interval of a fixed-width a - b (_bounds) takes its upper end as ahi - bhi (the ADD line's shape, one
    up) instead of ahi - blo.

    Index subtractions take the inlined interval of _fill_bounds and are right; only fixed-width subtractions whose
    right operand can be below its maximum change. Example: int32 (x - y) < 3 with int32 x in [0, 5], y in [0, 3]
    folds to True; at x = 5, y = 0 it is 5 < 3, False."""
    edit(p, uop_mod._bounds, ("return _clamp(dt, mm[0][0] - mm[1][1], mm[0][1] - mm[1][0])",
                              "return _clamp(dt, mm[0][0] - mm[1][1], mm[0][1] - mm[1][1])"))


def shl_bounds_unclamped(p: Patch) -> None:
    """The interval of x << k (_bounds) is [lo * 2**k, hi * 2**k] without the clamp to the dtype (the SHR case next
    to it needs none).

    The shift wraps in a fixed-width type: the interval must fall back to the dtype's range once it overflows.
    shl_to_mul rewrites the shift, but a comparison over it is folded by its bounds first. Example: int8
    (x << 4) < 0 with int8 x in [0, 15] folds to False; at x = 8 the shift gives -128 and it is True."""
    edit(p, uop_mod._bounds, ("return _clamp(dt, lo * k, hi * k) if op is _SHL else (lo // k, hi // k)",
                              "return (lo * k, hi * k) if op is _SHL else (lo // k, hi // k)"))


def sum_negative_lead_not_removed(p: Patch) -> None:
    """build_sum, for a sum of only negative terms and no constant, reads the term it leads with (x*-k) from the
    list instead of popping it, so that term is subtracted again after it.

    Only sums whose terms are all negative and whose constant is 0 change (a constant leads otherwise), and only
    where the input was not smaller than the wrong result (simplify keeps the smaller one). Example:
    ((x - y) - y) - x*2 with x, y in [0, 5] becomes ((y*-2) - x) - y*2; at x = 0, y = 1 it gives -4 instead of
    -2."""
    edit(p, sym.build_sum, ("b, k = neg.pop(lead)", "b, k = neg[lead]"))


def fast_path_product_atom_drops_constant(p: Patch) -> None:
    """affine_simplify (the fast path for affine index expressions) builds the sum inside a product base,
    (s') * c for (sum of several terms) * c, from the sum's terms without its constant.

    Only on the fast path (rule-hit counting turns it off; the rules keep (s)*c whole), and only products of a sum
    of two or more terms with a constant part. Example: (x + y + 3)*2 with x, y in [0, 5] becomes (x + y)*2; at
    x = y = 0 it gives 0 instead of 6."""
    edit(p, sym.affine_simplify, ("inner = build_sum(_INDEX, tx, cx)", "inner = build_sum(_INDEX, tx, 0)"))


def ne_false_taken_as_not(p: Patch) -> None:
    """ne_false (b != False -> b, for a bool b) returns !b, as if `!= False` were the negation (which the engine
    writes b != True).

    Only bool comparisons with a constant False change. Example: (x < 3) != False with x in [0, 9] becomes !(x < 3);
    at x = 0 it gives False instead of True."""
    edit_rule(p, "ne_false", "lambda x: _not(x)")


MORE = {
    "const_fold_in_source_dtype": const_fold_in_source_dtype,
    "le_bounds_touching_false": le_bounds_touching_false,
    "and_bounds_lower_uses_or": and_bounds_lower_uses_or,
    "min_by_bounds_compares_maxima": min_by_bounds_compares_maxima,
    "where_false_true_keeps_condition": where_false_true_keeps_condition,
    "where_not_arms_unswapped": where_not_arms_unswapped,
    "int_max_one_too_large": int_max_one_too_large,
    "sub_bounds_upper_subtracts_upper": sub_bounds_upper_subtracts_upper,
    "shl_bounds_unclamped": shl_bounds_unclamped,
    "sum_negative_lead_not_removed": sum_negative_lead_not_removed,
    "fast_path_product_atom_drops_constant": fast_path_product_atom_drops_constant,
    "ne_false_taken_as_not": ne_false_taken_as_not,
}
