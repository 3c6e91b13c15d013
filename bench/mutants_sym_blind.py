"""A blind set of planted bugs ("mutants") in the engine's symbolic layer, for a mutation test of the symbolic fuzzer.

Written blind: from the engine's source alone (engine/symbolic.py, engine/uop.py, engine/rewrite.py, engine/alu.py,
engine/dtype.py), without reading the fuzzer, its oracles, the tests or the mutants of `bench/mutants_sym_onnx.py`,
so that the set measures the fuzzer against bugs written with no knowledge of the expressions it generates. Each
models a mistake a compiler developer could ship: a fold valid only for non-negative values applied to negative
ones, a rounding mode taken from Python instead of C, a guard dropped, an interval rule wrong at an edge, a cache
handed out without a copy, a fresh name that is not fresh, a DAG walk that dedups a shared node. None of them is one
of the mistakes `bench/mutants_sym_onnx.py` already plants.

Each `name(p)` installs one bug through the `Patch` helpers of `bench/mutant_patch.py`: mostly `edit` (a one-line
source edit of an engine function, recompiled and swapped in by `__code__`, so every caller and rule table runs it),
once `edit_rule` (a rule of `engine.symbolic.symbolic` gets a new body). `p.undo()` removes it. The engine caches
bounds and canonical forms on interned UOps: run a mutant in a fresh process. Each docstring says what is wrong and
gives an expression whose simplification becomes wrong (variables are index-typed unless said otherwise; // and %
truncate toward zero). `MORE` maps the mutants' names to them.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mutant_patch import Patch, edit, edit_rule  # noqa: E402

import engine.symbolic as sym  # noqa: E402
import engine.uop as uop_mod  # noqa: E402


def div_gcd_ignores_const(p: Patch) -> None:
    """fold_div divides the numerator and divisor by the gcd of the divisor and the coefficients, leaving the sum's
    constant out of the gcd (its `const // g` then floors).

    (k*x + c)//d -> (x + floor(c/g))//(d/g) is what floor division allows, and it agrees with truncation while the
    numerator is non-negative; where it can be negative the dropped fraction of the constant rounds the wrong way.
    Example: (x*2 + 1)//4 with x in [-4, 4] becomes x//2; at x = -2 it gives -1 instead of (-3)//4 = 0."""
    edit(p, sym.fold_div, ("g = math.gcd(c, const, *terms.values())", "g = math.gcd(c, *terms.values())"))


def div_const_rest_floor(p: Patch) -> None:
    """fold_div's split of the whole multiples of c off a numerator, when the remaining part is a constant r, adds
    r // c with Python's floor division instead of C's truncating c_div.

    The two agree for r and c of one sign; a negative remainder (numerator <= 0) or a negative divisor is off by one.
    Example: (x*4 - 1)//4 with x in [-5, 0] becomes x - 1 instead of x (at x = 0: -1 instead of (-1)//4 = 0)."""
    edit(p, sym.fold_div, ("build_sum(dt, quot, c_div(rest.arg, c))", "build_sum(dt, quot, rest.arg // c)"))


def mod_reduce_ignores_rest_sign(p: Patch) -> None:
    """fold_mod, for a numerator that is never negative, reduces every coefficient mod c and keeps the reduced sum
    without checking that the reduced sum is itself non-negative.

    Reducing coefficients mod c is sound only where C's % is the mathematical mod for both sums; a reduced sum that
    can go negative takes the sign of the dividend. Example: (a*4 + b) % 4 with a in [1, 5], b in [-3, 0] becomes b;
    at a = 1, b = -1 it gives -1 instead of 3 % 4 = 3."""
    edit(p, sym.fold_mod, ("if rest is not x and rest.vmin >= 0:", "if rest is not x:"))


def max_by_interval_dominance(p: Patch) -> None:
    """max(x, y) -> x when x's interval dominates y's (x.vmin >= y.vmin and x.vmax >= y.vmax) rather than when x is
    always at least y (x.vmin >= y.vmax).

    Overlapping intervals do not order the values. Example: max(x, y) with x in [2, 9], y in [0, 5] becomes x; at
    x = 2, y = 5 it gives 2 instead of 5."""
    edit_rule(p, "max_by_bounds", "lambda x, y: x if x.vmin >= y.vmin and x.vmax >= y.vmax else None")


def absorb_overwrites_coefficient(p: Patch) -> None:
    """_absorb (index sums: k * ((s)*c) -> (s)*(c*k)) stores the folded product with coefficient 1 instead of adding 1
    to the coefficient the same product base may already have in the sum.

    Only sums in which two products of one inner sum meet on one folded constant lose a term. Example:
    ((x+y)*2)*3 + (x+y)*6 becomes (x+y)*6 instead of (x+y)*12 (at x = 1, y = 0: 6 instead of 12); likewise
    ((x+y)*2)*3 - (x+y)*6 becomes (x+y)*6 instead of 0."""
    edit(p, sym._absorb, ("out[nb] = out.get(nb, 0) + 1", "out[nb] = 1"))


def terms_cache_aliased(p: Patch) -> None:
    """terms_of returns the linear form cached on the UOp itself instead of a copy, and canonical_sum's (x//c)*c + x%c
    recombination edits that dict in place: it pops the constant the recombination produced, so the cached form of
    the sum loses it.

    The first simplification is right; every later one that reads the cached form of that interned sum (simplifying
    it again, or a larger sum containing it) is off by the recombined constant. Example: E = ((x+3)//4)*4 + (x+3)%4
    with x in [0, 20]: simplify(E) is x + 3, then simplify(E) again gives x."""
    edit(p, sym.terms_of, ("return dict(terms), const", "return terms, const"))


def shr_bounds_truncate(p: Patch) -> None:
    """The interval of x >> k is computed with truncating division by 2**k (C's /) instead of flooring: an arithmetic
    shift right rounds toward minus infinity.

    Only dividends that can be negative and odd multiples get a lower bound one too high. Example: (x >> 1) < -2 with
    x in [-5, 5]: the bounds of x >> 1 become [-2, 2] and the comparison folds to False; at x = -5 it is -3 < -2,
    True."""
    edit(p, uop_mod._bounds, ("else (lo // k, hi // k)", "else (_c_div(lo, k), _c_div(hi, k))"))


def idiv_bounds_zero_edge(p: Patch) -> None:
    """The interval of x // y by a non-constant divisor takes the corner quotients when y's range merely touches 0
    (y.vmin >= 0 or y.vmax <= 0) instead of only when it excludes 0.

    With y = 0 a corner, the quotient by 0 (0) stands in for the quotient by 1 or -1, the largest in magnitude.
    Example: (x // y) < 4 with x in [0, 10], y in [0, 3]: x // y gets the bounds [0, 3] and the comparison folds to
    True; at x = 10, y = 1 it is 10 < 4, False."""
    edit(p, uop_mod._bounds, ("if blo > 0 or bhi < 0:", "if blo >= 0 or bhi <= 0:"))


def valid_fresh_name_reuse(p: Patch) -> None:
    """The fresh variables that stand for terms narrowed by a condition (where(c, a, b) simplifies a given c) are named
    by their position in the narrowing (__valid0, __valid1, ...) instead of by a global counter.

    UOps are interned, so two narrowings of different terms to the same range get the same "fresh" variable; nested,
    the inner one's substitution back maps the outer term's stand-in to the inner term. Example:
    where(x < 5, where(y < 5, x - y, 7), 9) with x, y in [0, 10]: both x and y become __valid0 in [0, 4], x - y
    becomes 0, and the result is where(x < 5, where(y < 5, 0, 7), 9); at x = 1, y = 2 it gives 0 instead of -1."""
    edit(p, sym._fresh, ('f"__valid{next(_gv_counter)}"', 'f"__valid{i}"'),
         ("for x, (lo, hi) in ranges.items()", "for i, (x, (lo, hi)) in enumerate(ranges.items())"))


def neg_product_atom_sign(p: Patch) -> None:
    """build_sum, for a sum whose terms are all negative and whose lead is a product of a sum -(s*c), writes it as
    s*c instead of s*-c: the sign is dropped when the constant is folded.

    Only sums with no positive term and no constant, led by a product of a sum, change. Example: -((x+y)*3) becomes
    (x+y)*3; at x = 1, y = 0 it gives 3 instead of -3 (0 - (x+y)*3 likewise)."""
    edit(p, sym.build_sum, ("UOp.const(dtype, -b.src[1].arg)", "UOp.const(dtype, b.src[1].arg)"))


def wraps_signed_no_overflow(p: Patch) -> None:
    """_wraps (may the linear form of a fixed-width sum differ from its wrapped value?) answers no for signed ints as
    for index, as if signed overflow could not happen (C's undefined behaviour); the engine's ints wrap (-fwrapv).

    div and mod are then folded through sums that overflow the signed dtype. Example: int8 x in [0, 100]:
    (x*2)//2 becomes x; at x = 100, x*2 wraps to -56 and (x*2)//2 is -28, not 100."""
    edit(p, sym._wraps, ('if dt.kind == "x":', 'if dt.kind in "xi":'))


def factors_dag_dedup(p: Patch) -> None:
    """_factors (flattening a product) skips a MUL node it has already expanded instead of refusing the shared
    product: a visited set, right for a DAG walk, drops the repeated factor of a product.

    Only products in which one interned sub-product occurs twice change. Example: (x*y)*(x*y) becomes x*y (and
    (x*2)*(x*2) becomes x*2); at x = 2, y = 3 it gives 6 instead of 36."""
    edit(p, sym._factors, ("return None", "continue"))


MORE = {
    "div_gcd_ignores_const": div_gcd_ignores_const,
    "div_const_rest_floor": div_const_rest_floor,
    "mod_reduce_ignores_rest_sign": mod_reduce_ignores_rest_sign,
    "max_by_interval_dominance": max_by_interval_dominance,
    "absorb_overwrites_coefficient": absorb_overwrites_coefficient,
    "terms_cache_aliased": terms_cache_aliased,
    "shr_bounds_truncate": shr_bounds_truncate,
    "idiv_bounds_zero_edge": idiv_bounds_zero_edge,
    "valid_fresh_name_reuse": valid_fresh_name_reuse,
    "neg_product_atom_sign": neg_product_atom_sign,
    "wraps_signed_no_overflow": wraps_signed_no_overflow,
    "factors_dag_dedup": factors_dag_dedup,
}
