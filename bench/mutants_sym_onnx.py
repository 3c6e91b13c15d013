"""Mutation analysis of the symbolic and ONNX fuzzers: realistic bugs planted in the engine, each hunted by a seeded
campaign. A mutant that no campaign finds is a blind spot of the fuzzer (its generator, samplers or oracle).

Usage: python bench/mutants_sym_onnx.py [--fuzzer symbolic|onnx|all] [--seconds S] [--only NAME,NAME] [--seed N]
                                        [--workers N] [--list] [--markdown]

Each mutant is a function that installs one bug through a `Patch` (a small monkeypatch: attributes, dict items and
function bodies, all undone by `undo`). Most are one-line edits of the engine's own source (`edit`: the function's
body is recompiled with the line changed and swapped in by `__code__`, so every reference to it, rule tables
included, runs the bug); the rest wrap an ONNX handler. Every mutant runs in a forked child (the engine caches
bounds and canonical forms on interned UOps: a child starts clean), whose campaign workers inherit the bug. A
clean campaign with the same seed and budget runs first; signatures it also reports do not count as kills.
Columns: found, seconds to the first failing case (its index's share of the campaign's time), the signature, the
minimized case's size in nodes (expression nodes, ONNX nodes).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import engine.onnx  # noqa: E402,F401 - registers every handler (Resize lives in its own module)
import engine.onnx_ops as onnx_ops  # noqa: E402
import engine.symbolic as sym  # noqa: E402
import engine.uop as uop_mod  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mutant_patch import Patch, edit, edit_rule  # noqa: E402


def wrap_op(p: Patch, op: str, planted: Callable[[Callable, list, dict, Any], Any]) -> None:
    """Replace the ONNX handler of `op` by planted(original, inputs, attrs, node)."""
    orig = onnx_ops.OPS[op]
    p.setitem(onnx_ops.OPS, op, lambda inp, attrs, node: planted(orig, inp, attrs, node))


# ---------------------------------------------------------------------------------------------- the catalogue
@dataclass(frozen=True)
class Mutant:
    name: str
    fuzzer: str  # "symbolic" or "onnx"
    install: Callable[[Patch], None]
    blind: bool = False  # from a set written blind to the fuzzer (bench/mutants_onnx_blind.py, mutants_sym_blind.py)

    @property
    def doc(self) -> str:
        return " ".join((self.install.__doc__ or "").split())


MUTANTS: dict[str, Mutant] = {}


def mutant(fuzzer: str) -> Callable[[Callable[[Patch], None]], Callable[[Patch], None]]:
    def deco(fn: Callable[[Patch], None]) -> Callable[[Patch], None]:
        MUTANTS[fn.__name__] = Mutant(fn.__name__, fuzzer, fn)
        return fn
    return deco


# ---------------------------------------------------------------- symbolic: folds
@mutant("symbolic")
def div_fold_checks_only_the_rest(p: Patch) -> None:
    """fold_div splits (a*c + r)//c into a + r//c checking only that r keeps one sign, not the whole numerator:
    wrong for numerators whose range crosses 0 (C truncates toward 0)."""
    edit(p, sym.fold_div, ("if not quot or (x.vmin < 0 and x.vmax > 0):", "if not quot:"),
         ("if (x.vmin >= 0 and rest.vmin >= 0) or (x.vmax <= 0 and rest.vmax <= 0):",
          "if rest.vmin >= 0 or rest.vmax <= 0:"))


@mutant("symbolic")
def mod_fold_one_period_early(p: Patch) -> None:
    """fold_mod reduces coefficients mod c once the numerator is > -c (an off-by-one-period sign check): a numerator
    that dips just below 0 keeps C's negative remainder, the fold gives a positive one."""
    edit(p, sym.fold_mod, ("if x.vmin >= 0:  # nonnegative", "if x.vmin > -c:  # nonnegative"))


@mutant("symbolic")
def nested_mod_without_divisibility(p: Patch) -> None:
    """(x % m) % a -> x % a without checking that a divides m ((x%6)%4 is not x%4)."""
    edit_rule(p, "nested_mod", "lambda x, m, a: x % a if a.arg > 0 and m.arg > 0 else None")


@mutant("symbolic")
def shr_fold_on_negatives(p: Patch) -> None:
    """x >> c -> x // 2**c without x >= 0: an arithmetic shift floors, C division truncates (-1 >> 1 is -1)."""
    edit_rule(p, "shr_to_div", "lambda x, c: x // (1 << c.arg) if 0 <= c.arg < x.dtype.bits else None")


@mutant("symbolic")
def le_to_lt_off_by_one(p: Patch) -> None:
    """x <= c -> x < c (the +1 forgotten): wrong exactly at the range edge x == c."""
    edit_rule(p, "le_to_lt", "lambda x, c: x < c.arg if x.dtype.kind == 'x' else None")


@mutant("symbolic")
def lt_const_floor_instead_of_ceil(p: Patch) -> None:
    """g*y < r -> y < floor(r/g) instead of ceil(r/g) when dividing a comparison by the common factor."""
    edit(p, sym.fold_cmp_const, ("rhs = -((-rhs) // g) if not const_left else rhs // g",
                                 "rhs = rhs // g if not const_left else rhs // g"))


@mutant("symbolic")
def eq_fold_ignores_divisibility(p: Patch) -> None:
    """g*y == r -> y == r//g without checking that g divides r (x*2 == 3 becomes x == 1)."""
    edit(p, sym.fold_cmp_const, ("if rhs % g != 0:  # g*y == rhs has no solution", "if False:"))


@mutant("symbolic")
def div_lt_assumes_floor(p: Patch) -> None:
    """x//d < c -> x < c*d for every c: true for floor division, wrong for C's truncation when c <= 0."""
    edit(p, sym._div_lt, ("bound = c.arg * d.arg if c.arg > 0 else (c.arg - 1) * d.arg + 1", "bound = c.arg * d.arg"))


@mutant("symbolic")
def div_self_includes_zero(p: Patch) -> None:
    """x // x -> 1 when x >= 0 (0 // 0 is 0 here, as in numpy), instead of only when x is never 0."""
    edit_rule(p, "div_self", "lambda x: x.const_like(1) if x.vmin >= 0 or x.vmax < 0 else None")


@mutant("symbolic")
def max_max_const_takes_min(p: Patch) -> None:
    """max(max(x, a), b) -> max(x, min(a, b)): the constants combined with the wrong operator."""
    edit_rule(p, "max_max_const", "lambda x, a, b: x.maximum(min(a.arg, b.arg))")


@mutant("symbolic")
def product_distribution_drops_constant_scale(p: Patch) -> None:
    """(x*a + b)*c -> x*(a*c) + b: the constant of the distributed sum is not scaled."""
    edit(p, sym.canonical_product, ("{b: k * const for b, k in terms.items()}, c0 * const)",
                                    "{b: k * const for b, k in terms.items()}, c0)"))


@mutant("symbolic")
def sum_merges_variables_with_equal_ranges(p: Patch) -> None:
    """Like terms matched by a key that leaves out the variable's name: x + y -> x*2 when both range over the same
    interval."""
    edit(p, sym._add_terms, ("for b, k in tb.items():\n        k = out.get(b, 0) + sign * k",
                             "for b, k in tb.items():\n"
                             "        b = next((o for o in out if o.op is b.op is _DEFINE_VAR and "
                             "o.arg[1:] == b.arg[1:]), b)\n        k = out.get(b, 0) + sign * k"))


@mutant("symbolic")
def fast_path_negation_keeps_constant(p: Patch) -> None:
    """The affine fast path negates a form's terms but not its constant: -(x + 3) -> -x + 3."""
    edit(p, sym.affine_simplify, ("forms[n] = ({b: -k for b, k in ta.items()}, -ca)",
                                  "forms[n] = ({b: -k for b, k in ta.items()}, ca)"))


@mutant("symbolic")
def mod_fold_identity_edge_inclusive(p: Patch) -> None:
    """x % c -> x when 0 <= x <= c (the range test inclusive at the top): wrong for x == c exactly."""
    edit(p, sym.fold_mod, ("if 0 <= x.vmin and x.vmax < c or", "if 0 <= x.vmin and x.vmax <= c or"))


@mutant("symbolic")
def divmod_recombine_any_coefficient(p: Patch) -> None:
    """(x//c)*j + (x%c)*k recombined to x*k whenever both terms are there, without checking j == k*c."""
    edit(p, sym._divmod_pair, ("if d is not None and c != 0 and terms.get(d) == k * c:",
                               "if d is not None and c != 0 and d in terms:"))


@mutant("symbolic")
def divmod_recombine_unscaled_constant(p: Patch) -> None:
    """((x+b)//c)*c*k + ((x+b)%c)*k -> x*k + b: the numerator's constant is not multiplied by k."""
    edit(p, sym._recombine_divmod, ("terms[one] = terms.get(one, 0) + k * sub_const",
                                    "terms[one] = terms.get(one, 0) + sub_const"))


@mutant("symbolic")
def const_lt_ceil_instead_of_floor(p: Patch) -> None:
    """r < g*y -> ceil(r/g) < y (the rounding of the other side): wrong where g does not divide r."""
    edit(p, sym.fold_cmp_const, ("rhs = -((-rhs) // g) if not const_left else rhs // g",
                                 "rhs = -((-rhs) // g) if not const_left else -((-rhs) // g)"))


@mutant("symbolic")
def div_lt_nonpositive_bound_off_by_one(p: Patch) -> None:
    """x//d < c for c <= 0 -> x < (c-1)*d (the +1 forgotten): wrong at x == (c-1)*d."""
    edit(p, sym._div_lt, ("(c.arg - 1) * d.arg + 1", "(c.arg - 1) * d.arg"))


@mutant("symbolic")
def product_through_negation_loses_sign(p: Patch) -> None:
    """(-(s*2))*3 -> s*6: flattening a product through a negation forgets to flip the constant's sign."""
    edit(p, sym._factors, ("elif through_neg and f.op is _NEG:\n            const = -const",
                           "elif through_neg and f.op is _NEG:\n            const = const"))


@mutant("symbolic")
def small_sum_shortcut_ignores_order(p: Patch) -> None:
    """The canonical-sum shortcut accepts a + b in either order: x + y and y + x stay two forms of one sum."""
    edit(p, sym._small_canonical, ("return x.op is _SUB or not b.key < a.key", "return True"))


@mutant("symbolic")
def mod_bounds_one_period_by_width(p: Patch) -> None:
    """Bounds of x % c from one period whenever the range is narrower than c, even where it crosses a multiple of c
    (then the remainder wraps around to 0 inside the range)."""
    edit(p, uop_mod._mod_bounds, ("if alo >= 0 and alo // c == ahi // c:", "if alo >= 0 and ahi - alo < c:"))


@mutant("symbolic")
def ne_bounds_touching_ranges_disjoint(p: Patch) -> None:
    """x != y decided True when the ranges only touch (ahi == blo): the disjointness test is inclusive."""
    edit(p, uop_mod._bool_bounds, ("if ahi < blo or bhi < alo:", "if ahi <= blo or bhi <= alo:"))


@mutant("symbolic")
def valid_not_equal_taken_as_equal(p: Patch) -> None:
    """A validity clause not (x == c) read as x == c: the negation of an equality is dropped."""
    edit(p, sym._clause_bounds, ("if c.op is Ops.CMPEQ:\n        if neg:\n            return None",
                                 "if c.op is Ops.CMPEQ:\n        if False:\n            return None"))


@mutant("symbolic")
def wraps_check_ignores_underflow(p: Patch) -> None:
    """Fixed-width ints: a linear form counts as wrapping only above the dtype's maximum, not below its minimum
    (uint16 (-x) % 26 folded as if it were index math). Symbolic cases are index-typed: a known blind spot."""
    edit(p, sym._wraps, ("return lo < dt.min or hi > dt.max", "return hi > dt.max"))


@mutant("symbolic")
def cast_bounds_ignore_truncation(p: Patch) -> None:
    """Bounds of an int-to-int cast keep the source's interval even when it does not fit the target (a cast to int8
    of 0..300 wraps). Symbolic cases cast only to index and bool: a known blind spot."""
    edit(p, uop_mod._bounds, ("return (int(lo), int(hi)) if dt.min <= lo and hi <= dt.max else _dtype_range(dt)",
                              "return (int(lo), int(hi))"))


# ---------------------------------------------------------------- symbolic: given a validity condition
@mutant("symbolic")
def valid_negated_bound_off_by_one(p: Patch) -> None:
    """not (x < c) read as x >= c + 1: simplifying under that condition narrows x past its valid range."""
    edit(p, sym._clause_bounds, ("return (a, hi + 1, None) if neg else (a, None, hi)",
                                 "return (a, hi + 2, None) if neg else (a, None, hi)"))


@mutant("symbolic")
def valid_or_taken_as_and(p: Patch) -> None:
    """A validity condition's OR split into clauses as if it were AND: both sides' bounds are assumed."""
    edit(p, sym._clauses, ("if v.op is Ops.AND and v.dtype == dtypes.bool:",
                           "if v.op in (Ops.AND, Ops.OR) and v.dtype == dtypes.bool:"))


# ---------------------------------------------------------------- symbolic: bounds (vmin/vmax)
@mutant("symbolic")
def mul_bounds_ignore_negative_ranges(p: Patch) -> None:
    """Bounds of a*b as [alo*blo, ahi*bhi]: right for nonnegative ranges, unsound once either crosses 0."""
    edit(p, uop_mod._fill_bounds, ("lo, hi = min(c0, c1, c2, c3), max(c0, c1, c2, c3)", "lo, hi = c0, c3"))


@mutant("symbolic")
def idiv_bounds_for_negative_constants(p: Patch) -> None:
    """The index fast path for x // c bounds (monotone for c > 0) taken for every nonzero constant c."""
    edit(p, uop_mod._fill_bounds, ("if (op is _IDIV or op is _MOD) and src[1].op is _CONST and src[1].arg > 0:",
                                   "if (op is _IDIV and src[1].op is _CONST and src[1].arg != 0) or "
                                   "(op is _MOD and src[1].op is _CONST and src[1].arg > 0):"))


@mutant("symbolic")
def idiv_bounds_floor_division(p: Patch) -> None:
    """Bounds of a // b (symbolic or negative divisor) from Python's floor division instead of C's truncation."""
    edit(p, uop_mod._bounds, ("corners = [_c_div(a, b) for a in (alo, ahi) for b in (blo, bhi)]",
                              "corners = [a // b for a in (alo, ahi) for b in (blo, bhi)]"))


@mutant("symbolic")
def mod_bounds_one_period_for_negatives(p: Patch) -> None:
    """Bounds of x % c from one period (alo%c, ahi%c) also for negative dividends, where C's % is negative."""
    edit(p, uop_mod._mod_bounds, ("if alo >= 0 and alo // c == ahi // c:", "if alo // c == ahi // c:"))


@mutant("symbolic")
def mod_bounds_assume_nonnegative(p: Patch) -> None:
    """Bounds of a % b for a symbolic or negative divisor start at 0: C's remainder takes the dividend's sign."""
    edit(p, uop_mod._bounds, ("lo = 0 if alo >= 0 else max(alo, -m)", "lo = 0"))


@mutant("symbolic")
def max_bounds_swapped_for_negatives(p: Patch) -> None:
    """Bounds of max(a, b) computed as min's when the first operand can be negative."""
    edit(p, uop_mod._bounds, ("return (max(mm[0][0], mm[1][0]), max(mm[0][1], mm[1][1]))",
                              "return (max(mm[0][0], mm[1][0]), max(mm[0][1], mm[1][1])) if mm[0][0] >= 0 else "
                              "(min(mm[0][0], mm[1][0]), min(mm[0][1], mm[1][1]))"))


@mutant("symbolic")
def where_bounds_arms_swapped(p: Patch) -> None:
    """Bounds of where(c, a, b) with a decided condition take the other arm's interval."""
    edit(p, uop_mod._bounds, ("return a if c[0] else b\n        return (min(a[0], b[0]), max(a[1], b[1]))",
                              "return b if c[0] else a\n        return (min(a[0], b[0]), max(a[1], b[1]))"))


@mutant("symbolic")
def lt_bounds_edge_inclusive(p: Patch) -> None:
    """x < y decided True when x's maximum only reaches y's minimum (<= taken for <): wrong at the range edge."""
    edit(p, uop_mod._bool_bounds, ("if ahi < blo:\n            return (True, True)\n        if alo >= bhi:",
                                   "if ahi <= blo:\n            return (True, True)\n        if alo >= bhi:"))


@mutant("symbolic")
def or_bounds_use_and(p: Patch) -> None:
    """The upper bound of a | b computed as a's and b's (an AND/OR mix-up): a | b 'never true' if one side never is."""
    edit(p, uop_mod._bool_bounds, ("return (bool(mm[0][0] or mm[1][0]), bool(mm[0][1] or mm[1][1]))",
                                   "return (bool(mm[0][0] or mm[1][0]), bool(mm[0][1] and mm[1][1]))"))


@mutant("symbolic")
def cast_bool_bounds_ignore_negatives(p: Patch) -> None:
    """bool(x) decided True only from x > 0: a range below 0 is taken as 'maybe False' -- sound -- but a range
    [lo, 0] with lo < 0 is decided False (x != 0 is True for negative x)."""
    edit(p, uop_mod._bool_bounds, ("if lo == hi == 0:\n            return (False, False)",
                                   "if hi == 0:\n            return (False, False)"))


# ---------------------------------------------------------------- ONNX: attributes and their defaults
def _near(v: Any, ref: float) -> bool:
    return isinstance(v, float) and abs(v - ref) < 1e-6


@mutant("onnx")
def gemm_bias_needs_explicit_beta(p: Patch) -> None:
    """Gemm adds C only when beta was given: with beta at its default (1.0) the bias is dropped."""
    wrap_op(p, "Gemm", lambda orig, inp, a, node: orig(inp[:2] if a.get("beta", 1.0) == 1.0 else inp, a, node))


@mutant("onnx")
def gemm_alpha_ignored(p: Patch) -> None:
    """Gemm never scales A*B by alpha."""
    edit(p, onnx_ops._gemm, ("if alpha != 1.0:", "if False:"))


@mutant("onnx")
def leaky_relu_default_alpha(p: Patch) -> None:
    """LeakyRelu's default alpha taken from another framework (0.2, TensorFlow's) instead of ONNX's 0.01."""
    wrap_op(p, "LeakyRelu", lambda orig, inp, a, node: orig(inp, {**a, "alpha": 0.2} if _near(a["alpha"], 0.01)
                                                             else a, node))


@mutant("onnx")
def elu_alpha_ignored(p: Patch) -> None:
    """Elu always uses alpha = 1 (the default), whatever the attribute says."""
    wrap_op(p, "Elu", lambda orig, inp, a, node: orig(inp, {**a, "alpha": 1.0}, node))


@mutant("onnx")
def hard_sigmoid_pytorch_default(p: Patch) -> None:
    """HardSigmoid's default alpha is PyTorch's 1/6 instead of ONNX's 0.2."""
    wrap_op(p, "HardSigmoid", lambda orig, inp, a, node: orig(inp, {**a, "alpha": 1 / 6}
                                                              if _near(a["alpha"], 0.2) else a, node))


@mutant("onnx")
def transpose_default_perm_identity(p: Patch) -> None:
    """Transpose without perm keeps the axes in order instead of reversing them."""
    edit(p, onnx_ops._transpose, ("list(range(x.ndim))[::-1]", "list(range(x.ndim))"))


@mutant("onnx")
def reduce_noop_with_empty_axes_ignored(p: Patch) -> None:
    """Reduce* with no axes reduces everything even when noop_with_empty_axes=1 says pass the input through."""
    edit(p, onnx_ops._reduce_axes, ('return None if attrs.get("noop_with_empty_axes", 0) else tuple(range(ndim))',
                                    "return tuple(range(ndim))"))


@mutant("onnx")
def reduce_mean_keepdims_ignored(p: Patch) -> None:
    """ReduceMean drops the reduced axes whatever keepdims says (keepdims read as 0)."""
    wrap_op(p, "ReduceMean", lambda orig, inp, a, node: orig(inp, {**a, "keepdims": 0}, node))


@mutant("onnx")
def argmax_select_last_index_ignored(p: Patch) -> None:
    """ArgMax/ArgMin return the first of tied extremes even with select_last_index=1."""
    for op in ("ArgMax", "ArgMin"):
        wrap_op(p, op, lambda orig, inp, a, node: orig(inp, {**a, "select_last_index": 0}, node))


@mutant("onnx")
def cumsum_exclusive_ignored(p: Patch) -> None:
    """CumSum with exclusive=1 still includes each element in its own sum."""
    edit(p, onnx_ops._cumsum, ("if excl:", "if False:"))


@mutant("onnx")
def cumsum_reverse_not_flipped_back(p: Patch) -> None:
    """CumSum with reverse=1 flips the input but forgets to flip the result back."""
    edit(p, onnx_ops._cumsum, ("return out.flip(a) if rev else out", "return out"))


@mutant("onnx")
def avgpool_count_include_pad_ignored(p: Patch) -> None:
    """AveragePool divides by the count of real elements even with count_include_pad=1."""
    edit(p, onnx_ops._avgpool, ('if attrs.get("count_include_pad", 0):', "if False:"))


@mutant("onnx")
def maxpool_ceil_mode_ignored(p: Patch) -> None:
    """MaxPool rounds its output size down even with ceil_mode=1 (the last partial window is dropped)."""
    wrap_op(p, "MaxPool", lambda orig, inp, a, node: orig(inp, {**a, "ceil_mode": 0}, node))


@mutant("onnx")
def conv_transpose_output_padding_ignored(p: Patch) -> None:
    """ConvTranspose ignores output_padding (the output is that much short at the end)."""
    edit(p, onnx_ops._conv_transpose, ('op_ = attrs.get("output_padding") or [0] * n', "op_ = [0] * n"))


@mutant("onnx")
def resize_half_pixel_as_asymmetric(p: Patch) -> None:
    """Resize treats the default coordinate_transformation_mode half_pixel as asymmetric (no half-pixel offset)."""
    wrap_op(p, "Resize", lambda orig, inp, a, node: orig(inp, {**a, "coordinate_transformation_mode": "asymmetric"}
                                                         if a.get("coordinate_transformation_mode") == "half_pixel"
                                                         else a, node))


@mutant("onnx")
def depth_to_space_crd_as_dcr(p: Patch) -> None:
    """DepthToSpace ignores mode=CRD and always rearranges depth-column-row."""
    wrap_op(p, "DepthToSpace", lambda orig, inp, a, node: orig(inp, {**a, "mode": "DCR"}, node))


@mutant("onnx")
def batchnorm_epsilon_ignored(p: Patch) -> None:
    """BatchNormalization divides by sqrt(var) without epsilon."""
    edit(p, onnx_ops._batchnorm, ('eps = attrs.get("epsilon", 1e-5)', "eps = 0.0"))


@mutant("onnx")
def layernorm_normalizes_one_axis(p: Patch) -> None:
    """LayerNormalization normalizes over the given axis only, not over it and every axis after it."""
    edit(p, onnx_ops._layernorm, ("axes = tuple(range(a, x.ndim))", "axes = (a,)"))


@mutant("onnx")
def softmax_opset11_semantics(p: Patch) -> None:
    """Softmax at opset 13+ computed with the opset-11 rule (the input flattened to 2-D at axis, normalized over
    every axis from axis on): the same only when axis is the last one."""
    def planted(orig: Callable, inp: list, a: dict, node: Any) -> Any:
        old = onnx_ops.Node(node.op_type, 12, node.device, node.n_outputs, node.run_graph, node.narrow)
        return orig(inp, a, old)
    wrap_op(p, "Softmax", planted)


@mutant("onnx")
def trilu_k_ignored(p: Patch) -> None:
    """Trilu ignores its diagonal offset input k (always the main diagonal)."""
    edit(p, onnx_ops._trilu, ("k = _scalar(inp[1], 0) if len(inp) > 1 else 0", "k = 0"))


@mutant("onnx")
def mod_integer_sign_of_dividend(p: Patch) -> None:
    """Integer Mod with fmod=0 takes the dividend's sign (C's %) instead of the divisor's."""
    edit(p, onnx_ops._mod, ('return _cmod(a, b) if attrs.get("fmod", 0) else a % b', "return _cmod(a, b)"))


@mutant("onnx")
def div_integer_floors(p: Patch) -> None:
    """Integer Div floors (numpy's //) instead of truncating toward zero as ONNX runtimes do."""
    wrap_op(p, "Div", lambda orig, inp, a, node: inp[0] // inp[1] if not inp[0].dtype.is_float
            else orig(inp, a, node))


# ---------------------------------------------------------------- ONNX: axes, inputs by opset, broadcasting
@mutant("onnx")
def concat_negative_axis_off_by_one(p: Patch) -> None:
    """Concat normalizes a negative axis as axis + rank - 1 (one axis too far left)."""
    edit(p, onnx_ops._concat, ('axis = _ax(attrs["axis"], ts[0].ndim)',
                               'axis = _ax(attrs["axis"] - (attrs["axis"] < 0), ts[0].ndim)'))


@mutant("onnx")
def flatten_negative_axis_off_by_one(p: Patch) -> None:
    """Flatten normalizes a negative axis as axis + rank - 1."""
    edit(p, onnx_ops._flatten, ("a = a + x.ndim if a < 0 else a", "a = a + x.ndim - 1 if a < 0 else a"))


@mutant("onnx")
def slice_negative_step_end_clamped_to_0(p: Patch) -> None:
    """Slice with a negative step clamps an end before the axis to 0 instead of -1: the first element is lost."""
    edit(p, onnx_ops._slice, ("min(max(e, -1), n - 1)", "min(max(e, 0), n - 1)"))


@mutant("onnx")
def slice_steps_ignored(p: Patch) -> None:
    """Slice ignores its steps input (the opset-1 signature had none)."""
    edit(p, onnx_ops._slice, ("steps = steps or [1] * len(starts)", "steps = [1] * len(starts)"))


@mutant("onnx")
def split_sizes_input_ignored(p: Patch) -> None:
    """Split ignores the split sizes input and splits evenly."""
    edit(p, onnx_ops._split, ('sizes = (_ints(inp[1]) if len(inp) > 1 else None) if node.opset >= 13 else '
                              'attrs.get("split")', "sizes = None"))


@mutant("onnx")
def squeeze_axes_input_ignored(p: Patch) -> None:
    """Squeeze reads axes only from the attribute (before opset 13), so the axes input is ignored and every size-1
    axis is squeezed."""
    edit(p, onnx_ops._squeeze, ("axes = _axes_of(inp, attrs, node, 13)", 'axes = attrs.get("axes")'))


@mutant("onnx")
def clip_missing_min_shifts_max(p: Patch) -> None:
    """Clip drops its empty optional inputs before reading them: with only max given, max is taken as min."""
    edit(p, onnx_ops._clip, ("x = inp[0]", "inp = [t for t in inp if t is not None]\n    x = inp[0]"))


@mutant("onnx")
def gather_negative_indices_clamped(p: Patch) -> None:
    """Gather clamps negative indices to 0 instead of counting them from the end."""
    edit(p, onnx_ops._gather, ("np.where(i < 0, i + n, i)", "np.where(i < 0, 0, i)"),
         ("idx = (idx < 0).where(idx + n, idx)", "idx = (idx < 0).where(idx * 0, idx)"))


@mutant("onnx")
def onehot_negative_indices_not_wrapped(p: Patch) -> None:
    """OneHot gives an all-off row for a negative index instead of counting it from depth."""
    edit(p, onnx_ops._onehot, ("i = (i < 0).where(i + depth, i)", "pass"))


@mutant("onnx")
def expand_takes_shape_literally(p: Patch) -> None:
    """Expand broadcasts to the shape input as written, not to its broadcast with the input's shape (a 1 in
    `shape` where the input has n > 1, or fewer dims than the input)."""
    edit(p, onnx_ops._expand, ("return x.broadcast_to(_broadcast_shape(x.shape, shape))",
                               "return x.broadcast_to(shape)"))


@mutant("onnx")
def unsqueeze_negative_axes_by_input_rank(p: Patch) -> None:
    """Unsqueeze normalizes negative axes against the input's rank instead of the output's (rank + len(axes))."""
    edit(p, onnx_ops._unsqueeze, ("n = x.ndim + len(axes)",
                                  "n = x.ndim + (0 if any(a < 0 for a in axes) else len(axes))"))


@mutant("onnx")
def onehot_negative_axis_by_input_rank(p: Patch) -> None:
    """OneHot normalizes a negative axis against the indices' rank instead of the output's (one more)."""
    edit(p, onnx_ops._onehot, ('a = _ax(attrs.get("axis", -1), n)',
                               'a = _ax(attrs.get("axis", -1), n - (attrs.get("axis", -1) < -1))'))


@mutant("onnx")
def split_num_outputs_floor(p: Patch) -> None:
    """Split into num_outputs parts with floor(n/k) per part instead of ceil: an uneven split loses its tail."""
    edit(p, onnx_ops._split, ("step = -(-n // k)", "step = n // k or 1"))


@mutant("onnx")
def pad_negative_pads_ignored(p: Patch) -> None:
    """Pad treats negative pads (crops) as 0."""
    edit(p, onnx_ops._pad, ("if any(b < 0 or e < 0 for b, e in pp):", "if False:"))


@mutant("onnx")
def clip_applies_max_before_min(p: Patch) -> None:
    """Clip takes the minimum with max first, then the maximum with min: the same unless min > max, where ONNX gives
    max everywhere."""
    edit(p, onnx_ops._clip, ("out = x if lo is None else x.maximum(lo)\n    return (out if hi is None else "
                             "out.minimum(hi)).cast(x.dtype)",
                             "out = x if hi is None else x.minimum(hi)\n    return (out if lo is None else "
                             "out.maximum(lo)).cast(x.dtype)"))


@mutant("onnx")
def maxpool_pads_with_zero(p: Patch) -> None:
    """MaxPool pads with 0 instead of the dtype's minimum: a window over the padding of negative values gives 0."""
    edit(p, onnx_ops._maxpool, ("xp = x.pad(pp, value=x.dtype.min) if", "xp = x.pad(pp) if"))


@mutant("onnx")
def avgpool_counts_ceil_mode_tail_as_pad(p: Patch) -> None:
    """AveragePool with count_include_pad=1 and ceil_mode=1 also counts the cells past the end that only ceil_mode
    adds (only the explicit pads count)."""
    edit(p, onnx_ops._avgpool, ("ones = ones.pad([(0, e) for e in extra])",
                                "ones = Tensor.ones(tuple(n + e for n, e in zip(ones.shape, extra)), x.dtype, "
                                "x.device)"))


@mutant("onnx")
def conv_transpose_pads_swapped(p: Patch) -> None:
    """ConvTranspose reads pads as (end, begin) instead of (begin, end): wrong for asymmetric pads."""
    edit(p, onnx_ops._conv_transpose, ("pads = [(pl[j], pl[j + n]) for j in range(n)]",
                                       "pads = [(pl[j + n], pl[j]) for j in range(n)]"))


@mutant("onnx")
def variadic_max_reads_two_inputs(p: Patch) -> None:
    """Max of three or more inputs reads only the first two."""
    wrap_op(p, "Max", lambda orig, inp, a, node: orig(inp[:2], a, node))


@mutant("onnx")
def gelu_tanh_approximation_ignored(p: Patch) -> None:
    """Gelu computes the exact (erf) form even with approximate="tanh"."""
    edit(p, onnx_ops._gelu, ('if attrs.get("approximate", "none") == "tanh":', "if False:"))


@mutant("onnx")
def topk_largest_ignored(p: Patch) -> None:
    """TopK always returns the largest values, even with largest=0."""
    wrap_op(p, "TopK", lambda orig, inp, a, node: orig(inp, {**a, "largest": 1}, node))


@mutant("onnx")
def where_condition_shaped_like_values(p: Patch) -> None:
    """Where takes its output shape from the two values and broadcasts the condition to it: a condition that itself
    broadcasts the values (a larger shape) fails."""
    def planted(orig: Callable, inp: list, a: dict, node: Any) -> Any:
        from engine.tensor import _broadcast_shape

        c, x, y = inp[:3]
        return orig([c.broadcast_to(_broadcast_shape(x.shape, y.shape)), x, y], a, node)
    wrap_op(p, "Where", planted)


@mutant("onnx")
def matmul_batch_from_first_operand(p: Patch) -> None:
    """MatMul takes the batch dims from A and broadcasts B to them: a B whose batch dims broadcast A's fails."""
    def planted(orig: Callable, inp: list, a: dict, node: Any) -> Any:
        x, w = inp[:2]
        if w.ndim >= 3:
            w = w.broadcast_to(tuple(x.shape[:-2]) + tuple(w.shape[-2:]))
        return orig([x, w], a, node)
    wrap_op(p, "MatMul", planted)


@mutant("onnx")
def reduce_float16_accumulates_in_float16(p: Patch) -> None:
    """Reductions of float16 accumulate in float16 (onnxruntime sums in float32 and rounds once)."""
    edit(p, onnx_ops._reduce, ('if dt in (dtypes.float16, dtypes.bfloat16) and kind not in ("max", "min"):',
                               "if False:"))


# sets written blind to the fuzzers' generators (their authors saw only the engine and the names above): a second
# ONNX set and a second symbolic one, then a third and a fourth of each (2026-12-07)


def _load_blind(file: str, fuzzer: str) -> None:
    spec = importlib.util.spec_from_file_location(file[:-3], os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                                          file))
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    for name, fn in mod.MORE.items():
        MUTANTS[name] = Mutant(name, fuzzer, fn, blind=True)


_load_blind("mutants_onnx_blind.py", "onnx")
_load_blind("mutants_sym_blind.py", "symbolic")
_load_blind("mutants_onnx_blind2.py", "onnx")
_load_blind("mutants_sym_blind2.py", "symbolic")
_load_blind("mutants_onnx_blind3.py", "onnx")
_load_blind("mutants_sym_blind3.py", "symbolic")
_load_blind("mutants_onnx_blind4.py", "onnx")
_load_blind("mutants_sym_blind4.py", "symbolic")
_load_blind("mutants_onnx_blind5.py", "onnx")
_load_blind("mutants_sym_blind5.py", "symbolic")


# ---------------------------------------------------------------------------------------------- running
def _node_count(fuzzer: str, case: dict[str, Any]) -> int:
    if fuzzer == "onnx":
        return len(case["nodes"])
    from oracles.c_int import expr_size

    return expr_size(case["expr"])


def hunt(name: str, seconds: float | None, seed: int, workers: int, minimize_seconds: float,
         cases: int | None = None) -> dict[str, Any]:
    """Install mutant `name` ("clean:<fuzzer>" for none) in this process and run one seeded campaign."""
    from fuzz.campaign import run_campaign
    from fuzz.corpus import load_entry

    fuzzer = name.split(":", 1)[1] if name.startswith("clean:") else MUTANTS[name].fuzzer
    p = Patch()
    if not name.startswith("clean:"):
        MUTANTS[name].install(p)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            r = run_campaign([fuzzer], seconds=seconds, cases=cases, seed=seed, workers=workers,
                             corpus_dir=os.path.join(tmp, "c"), report_dir=None, minimize_seconds=minimize_seconds)
            findings = []
            for f in sorted(r.findings, key=lambda f: f.case_index):
                size = None
                try:
                    size = _node_count(fuzzer, load_entry(f.corpus_path)["case"])
                except Exception:  # noqa: BLE001 - a finding not saved keeps its size unknown
                    pass
                t_first = r.elapsed * (f.case_index + 1) / max(r.cases, 1)
                findings.append({"signature": f.signature, "case_index": f.case_index, "t_first": round(t_first, 1),
                                 "nodes": size, "minimized": f.minimized})
    finally:
        p.undo()
    return {"name": name, "fuzzer": fuzzer, "cases": r.cases, "elapsed": round(r.elapsed, 1), "findings": findings}


def first_failure(name: str, n: int, seed: str = "m", ops: list[str] | None = None,
                  options: Any = None) -> tuple[int, str] | None:
    """Install mutant `name` in this process, check n generated cases of its fuzzer (ONNX: only `ops`, if given;
    symbolic: with GenOptions `options`): (index, signature) of the first that fails, else None. No campaign: a
    direct check for tests (run it in_child)."""
    import random

    mu = MUTANTS[name]
    p = Patch()
    mu.install(p)
    try:
        if mu.fuzzer == "symbolic":
            from fuzz.symbolic import SymbolicFuzzer

            f: Any = SymbolicFuzzer(options)
            gen = f.generate
        else:
            from fuzz.onnx.fuzzer import OnnxFuzzer
            from fuzz.onnx.generate import gen_case

            f = OnnxFuzzer()
            gen = (lambda rng: gen_case(rng, ops=ops)) if ops else f.generate
        for i in range(n):
            v = f.check(gen(random.Random(f"{seed}:{i}")))
            if v.status in ("mismatch", "crash"):
                return i, v.signature
        return None
    finally:
        p.undo()


def in_child(fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args) in a forked child (the parent's engine state stays clean); its result, or a dict with 'error'."""
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, fn, args))
    proc.start()
    send.close()
    try:
        out = recv.recv()
    except EOFError:
        out = {"error": f"child died (exit {proc.exitcode})"}
    proc.join()
    return out


def _child(conn: Any, fn: Callable[..., Any], args: tuple) -> None:
    try:
        conn.send(fn(*args))
    except BaseException as e:  # noqa: BLE001 - reported as the row's error
        conn.send({"error": f"{type(e).__name__}: {e}"})
    conn.close()


def hunt_forked(name: str, seconds: float | None, seed: int, workers: int, minimize_seconds: float,
                cases: int | None = None) -> dict[str, Any]:
    """hunt() in a forked child: the parent's engine state stays clean."""
    return {"name": name, **in_child(hunt, name, seconds, seed, workers, minimize_seconds, cases)}


def verdict(row: dict[str, Any], clean: set[str]) -> dict[str, Any] | None:
    """The first finding of a mutant's campaign that the clean campaign did not also report."""
    return next((f for f in row.get("findings", []) if f["signature"] not in clean), None)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fuzzer", choices=("symbolic", "onnx", "all"), default="all")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--only", default="", help="comma-separated mutant names")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=1, help="mutants hunted at a time (each --workers cores)")
    ap.add_argument("--blind", action="store_true",
                    help="only the blind sets (bench/mutants_onnx_blind*.py, mutants_sym_blind*.py)")
    ap.add_argument("--minimize-seconds", type=float, default=10.0)
    ap.add_argument("--list", action="store_true", help="list the mutants and what each models")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--json", default="", help="also write the rows to this file")
    args = ap.parse_args(argv)
    names = [m.name for m in MUTANTS.values() if args.fuzzer in ("all", m.fuzzer) and (not args.blind or m.blind)]
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in MUTANTS]
        if unknown:
            print(f"mutants_sym_onnx: unknown mutant(s) {unknown}; --list names them", file=sys.stderr)
            return 2
        names = wanted
    if args.list:
        for n in names:
            print(f"{MUTANTS[n].fuzzer:9s} {n:45s} {MUTANTS[n].doc}")
        return 0
    fuzzers = sorted({MUTANTS[n].fuzzer for n in names})
    t0 = time.time()
    clean: dict[str, set[str]] = {}
    for fz in fuzzers:
        row = hunt_forked(f"clean:{fz}", args.seconds, args.seed, args.workers, args.minimize_seconds)
        clean[fz] = {f["signature"] for f in row.get("findings", [])}
        print(f"clean {fz}: {row.get('cases')} cases, findings {sorted(clean[fz])} {row.get('error', '')}",
              flush=True)
    rows = []

    def one(n: str) -> dict[str, Any]:
        return hunt_forked(n, args.seconds, args.seed, args.workers, args.minimize_seconds)

    # --jobs: mutants at a time (each hunt is its own forked process; the threads only wait on them)
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        done = list(pool.map(one, names)) if args.jobs > 1 else None
    for i, n in enumerate(names):
        row = done[i] if done is not None else one(n)
        row["kill"] = verdict(row, clean[MUTANTS[n].fuzzer])
        rows.append(row)
        k = row["kill"]
        print(f"{MUTANTS[n].fuzzer:9s} {n:45s} " + (f"FOUND {k['t_first']:5.1f}s {k['signature']} ({k['nodes']} nodes)"
              if k else f"survived {row.get('error', '')}") + f"  [{row.get('cases')} cases]", flush=True)
    _table(rows, args, time.time() - t0)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


def _table(rows: list[dict[str, Any]], args: argparse.Namespace, wall: float) -> None:
    killed = sum(1 for r in rows if r["kill"])
    md = args.markdown
    head = ("fuzzer", "mutant", "found", "t_first s", "signature", "nodes", "cases")
    print()
    if md:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
    else:
        print(f"{head[0]:9s} {head[1]:45s} {head[2]:5s} {head[3]:>9s} {head[4]:42s} {head[5]:>5s} {head[6]:>6s}")
    for r in rows:
        k = r["kill"]
        cells = (MUTANTS[r["name"]].fuzzer, r["name"], "yes" if k else "NO", f"{k['t_first']:.1f}" if k else "-",
                 k["signature"] if k else r.get("error", "-"), str(k["nodes"]) if k else "-", str(r.get("cases")))
        if md:
            print("| " + " | ".join(f"`{c}`" if i in (1, 4) and c != "-" else c for i, c in enumerate(cells)) + " |")
        else:
            print(f"{cells[0]:9s} {cells[1]:45s} {cells[2]:5s} {cells[3]:>9s} {cells[4]:42s} {cells[5]:>5s} "
                  f"{cells[6]:>6s}")
    by: dict[str, tuple[int, int]] = {}
    for r in rows:
        fz = MUTANTS[r["name"]].fuzzer
        a, b = by.get(fz, (0, 0))
        by[fz] = (a + bool(r["kill"]), b + 1)
    rates = ", ".join(f"{fz} {a}/{b}" for fz, (a, b) in sorted(by.items()))
    print(f"\nkill rate {killed}/{len(rows)} ({rates}); {args.seconds:g} s per campaign, seed {args.seed}, "
          f"{args.workers} worker(s); {platform.node()} ({os.cpu_count()} cores), "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; wall {wall:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
