"""Random symbolic index expressions: the shapes index arithmetic takes in real kernels, and the corners."""

from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass
from typing import Any

from oracles.c_int import FIXED_WIDTH, TRUNCS, int_range, wrap_int

Expr = list[Any]


# domains up to this many points are evaluated point by point when Z3 cannot decide quickly (~60 ms at the cap)
DECIDABLE_POINTS = 1 << 22


@dataclass
class GenOptions:
    """Knobs of the generator; the defaults cover tinygrad's fuzz_symbolic (depth 6, 3 variables) and more."""

    depth: int = 6
    max_vars: int = 3
    max_const: int = 64
    negative_bounds: float = 0.35  # chance a variable's range reaches below zero
    symbolic_divisor: float = 0.15  # chance a div/mod divides by a variable (with a range excluding 0...)
    zero_divisor: float = 0.2  # ...or, with this chance per variable, any range: x // 0 is 0, as the engine defines
    bool_ops: float = 0.25  # chance a node is a comparison / where / and-or
    # chance of the corner forms some rules need: bool constants in AND/OR/XOR/CMPEQ/CMPNE, WHERE with constant
    # bool arms, casts (also to the operand's own dtype), shifts by constants
    corner_forms: float = 0.08
    guarded_where: float = 0.35  # chance a WHERE guards an arm that changes value at its condition's edge
    divmod_pairs: float = 0.06  # chance a div/mod node is a (a//c)*(c*k) + (a%c)*k pair (canonical_sum recombines)
    # ...of which this share are near misses the rule must leave alone: the quotient's coefficient c*k + 1, c (the
    # remainder alone scaled) or 2*c*k
    divmod_near_miss: float = 0.35
    clamps: float = 0.3  # chance a MAX/MIN node bounds an operand twice by constants: clamps, nested maxes and mins
    same_operands: float = 0.03  # chance a binary node reads one subterm twice (x//x is 1 only where x != 0)
    # chance a case has a subterm copied over another (one interned UOp read in two places, as index math reads one
    # row offset in several loads: cached forms and fresh names shared across contexts, repeated factors of a product)
    shared_subterms: float = 0.2
    like_terms: float = 0.08  # chance an ADD/SUB node is a*k1 + (a*k2)*k3: like terms of one compound term
    same_ranges: float = 0.15  # chance every variable of a case gets one range (terms alike but for their names)
    # variable ranges are up to ~1000 wide, so three of them can span 10**9 points; the exhaustive oracle proves
    # a case of up to this many points in about a millisecond, Z3 takes 3-100 ms: wider domains are narrowed...
    max_points: int = 1 << 16
    wide_domains: float = 0.2  # ...except with this chance (those beyond SymbolicFuzzer.exhaustive_limit go to Z3)
    # chance a case is of a fixed-width int type (oracles.c_int.FIXED_WIDTH): its arithmetic wraps, what the rules
    # for tensor values (not indices) must respect; ranges and constants then often sit at the type's edges
    fixed_width: float = 0.15
    # chance an index case is affine: sums, differences, negations and products by constants, sums scaled and nested
    # (the index math of real kernels), which simplify takes through its fast path (affine_simplify), not the rules
    affine: float = 0.12
    # chance an int node is a bitwise and/or/xor of ints (x & (2**k - 1) is x % 2**k for x >= 0; negative masks, two
    # terms): their bounds and folds matter to tensor values and to index math lowered to bit operations
    bitwise: float = 0.04
    # chance an index case casts through a fixed-width type (index -> int32 -> index, as 32-bit index math would): a
    # cast that can wrap must not keep its operand's bounds
    index_casts: float = 0.1
    # wide domains still stop at this many points, where every point can be evaluated once Z3 gives up: every
    # default case is decided, at most Z3's short budget plus one evaluation (unless values overflow int64, when
    # Z3 gets its full budget); None: no cap
    max_wide_points: int | None = DECIDABLE_POINTS


VAR_NAMES = ["x", "y", "z", "w", "u", "v"]
_INT_OPS = ["ADD", "ADD", "SUB", "MUL", "MUL", "IDIV", "IDIV", "MOD", "MOD", "MAX", "MIN", "NEG"]


def _const(rng: random.Random, opts: GenOptions) -> int:
    r = rng.random()
    if r < 0.15:
        return 0
    if r < 0.3:
        return rng.choice([1, -1, 2, 4, 8, 16])
    v = rng.randint(1, opts.max_const)
    return -v if rng.random() < 0.2 else v


def _multipliers(expr: Expr) -> list[int]:
    """Constants that multiply something in expr: index math divides by these (e.g. (x*4+y)//4)."""
    out, stack = [], [expr]
    while stack:
        n = stack.pop()
        if n[0] == "MUL":
            out += [abs(a[1]) for a in n[1:] if a[0] == "const" and not isinstance(a[1], bool) and abs(a[1]) > 1]
        if n[0] not in ("var", "const"):
            stack.extend(n[1:])
    return out


def _divisor(rng: random.Random, opts: GenOptions, divisor_vars: list[str], numerator: Expr) -> Expr:
    if divisor_vars and rng.random() < opts.symbolic_divisor:
        return ["var", rng.choice(divisor_vars)]
    mults = _multipliers(numerator)
    if mults and rng.random() < 0.5:  # divide by a multiplier or one of its factors
        m = rng.choice(mults)
        return ["const", rng.choice([d for d in range(2, m + 1) if m % d == 0])]
    d = rng.choice([2, 3, 4, 4, 5, 6, 7, 8, 8, 16, 32, rng.randint(1, opts.max_const)])
    return ["const", -d if rng.random() < 0.15 else d]  # a negative divisor: C truncates, the folds must too


def gen_int(rng: random.Random, depth: int, names: list[str], opts: GenOptions, divisor_vars: list[str]) -> Expr:
    """A random int-valued expression of at most `depth` levels."""
    if depth <= 0 or rng.random() < 0.12:
        return ["var", rng.choice(names)] if rng.random() < 0.75 else ["const", _const(rng, opts)]
    if rng.random() < opts.bool_ops * 0.5:
        if rng.random() < opts.guarded_where:
            return _guarded_where(rng, depth, names, opts, divisor_vars)
        cond = gen_bool(rng, depth - 1, names, opts, divisor_vars)
        return ["WHERE", cond, gen_int(rng, depth - 1, names, opts, divisor_vars),
                gen_int(rng, depth - 1, names, opts, divisor_vars)]
    if rng.random() < opts.bitwise:
        a = gen_int(rng, depth - 1, names, opts, divisor_vars)
        bits = rng.randint(1, 8)
        mask = rng.choice(((1 << bits) - 1, -(1 << bits), 1 << bits, _const(rng, opts)))
        b = ["const", mask] if rng.random() < 0.6 else gen_int(rng, depth - 1, names, opts, divisor_vars)
        return [rng.choice(("AND", "AND", "OR", "XOR")), a, b]
    if rng.random() < opts.corner_forms:
        return _int_corner(rng, depth, names, opts, divisor_vars)
    op = rng.choice(_INT_OPS)
    a = gen_int(rng, depth - 1, names, opts, divisor_vars)
    if op == "NEG":
        return ["NEG", a]
    if rng.random() < opts.same_operands:  # x//x, x%x, x-x, max(x, x): the rules for one value on both sides
        return [op, a, copy.deepcopy(a)]
    if op in ("IDIV", "MOD"):
        if rng.random() < opts.divmod_pairs:  # (a//c)*(c*k) + (a%c)*k: index math split and put back together
            c = rng.choice([2, 3, 4, 4, 8, 16, rng.randint(2, opts.max_const)])
            coef = rng.choice([1, 1, 2, 3, -1, -2])
            if rng.random() < 0.5:
                a = ["ADD", a, ["const", _const(rng, opts)]]
            qk = c * coef if rng.random() >= opts.divmod_near_miss else rng.choice((c * coef + 1, c, 2 * c * coef))
            quot = ["MUL", ["IDIV", a, ["const", c]], ["const", qk]]
            rem = ["MUL", ["MOD", copy.deepcopy(a), ["const", c]], ["const", coef]]
            return ["ADD", quot, rem] if rng.random() < 0.5 else ["ADD", rem, quot]
        if rng.random() < 0.35:  # the shape of real index math: (a*(c*m) + b) // c
            c = rng.choice([2, 3, 4, 4, 8, 16, rng.randint(2, opts.max_const)])
            b = gen_int(rng, depth - 2, names, opts, divisor_vars)
            scaled = ["MUL", a, ["const", c * rng.choice([1, 1, 2, 3, -1])]]
            return [op, ["ADD", scaled, b] if rng.random() < 0.7 else ["ADD", b, scaled], ["const", c]]
        return [op, a, _divisor(rng, opts, divisor_vars, a)]
    if op in ("ADD", "SUB") and rng.random() < opts.like_terms:  # half the time one scale reached two ways
        k1, k2, k3 = _const(rng, opts), _const(rng, opts), _const(rng, opts)
        twice: Expr = ["MUL", copy.deepcopy(a), ["const", k2]]
        if rng.random() < 0.6:
            twice = ["MUL", twice, ["const", k3]]
            k1 = k2 * k3 if rng.random() < 0.5 else k1
        plain = ["MUL", a, ["const", k1]] if rng.random() < 0.7 else a
        return [op, plain, twice] if rng.random() < 0.5 else [op, twice, plain]
    if op in ("MAX", "MIN") and rng.random() < opts.clamps:  # min(max(a, lo), hi), min(min(a, c1), c2), ...
        inner = [rng.choice(("MAX", "MIN")), a, ["const", _const(rng, opts)]]
        return [op, inner, ["const", _const(rng, opts)]] if rng.random() < 0.7 else [op, ["const", _const(rng, opts)],
                                                                                   inner]
    if op == "MUL" and rng.random() < 0.8:
        k = ["const", _const(rng, opts)]
        return ["MUL", a, k] if rng.random() < 0.8 else ["MUL", k, a]
    b = gen_int(rng, depth - 1, names, opts, divisor_vars) if rng.random() < 0.7 else ["const", _const(rng, opts)]
    return [op, a, b]


def gen_affine(rng: random.Random, depth: int, names: list[str], opts: GenOptions) -> Expr:
    """An affine index expression: +, -, negation and products by constants, often of sums ((x + y + 3)*4 - z),
    constants on either side."""
    if depth <= 0 or rng.random() < 0.15:
        return ["var", rng.choice(names)] if rng.random() < 0.7 else ["const", _const(rng, opts)]
    r = rng.random()
    if r < 0.35:
        a, b = gen_affine(rng, depth - 1, names, opts), gen_affine(rng, depth - 1, names, opts)
        return [rng.choice(("ADD", "ADD", "SUB")), a, b]
    if r < 0.45:
        return ["NEG", gen_affine(rng, depth - 1, names, opts)]
    k = ["const", rng.choice((2, 3, 4, 8, 16, -1, -2, -3, 1, _const(rng, opts)))]
    if r < 0.8:  # a sum (with a constant part, often) scaled
        terms = [gen_affine(rng, depth - 2, names, opts) for _ in range(rng.randint(2, 3))]
        if rng.random() < 0.6:
            terms.append(["const", _const(rng, opts)])
        rng.shuffle(terms)
        total = terms[0]
        for t in terms[1:]:
            total = [rng.choice(("ADD", "ADD", "SUB")), total, t]
        inner = total
    else:
        inner = gen_affine(rng, depth - 1, names, opts)
    return ["MUL", inner, k] if rng.random() < 0.85 else ["MUL", k, inner]


def _guarded_where(rng: random.Random, depth: int, names: list[str], opts: GenOptions,
                   divisor_vars: list[str]) -> Expr:
    """where(t < c, ...t near c..., b): an arm that changes value at the edge its condition draws (the shape of a
    padded load, what given-valid simplification narrows: a range narrowed one step too far shows up here)."""
    t = gen_int(rng, rng.choice((0, 0, 1, 2)), names, opts, divisor_vars)
    c = _const(rng, opts)
    # <= as often as <: index math reaches the clause as < (le_to_lt), fixed-width ints keep their <=
    cmp = rng.choice(["CMPLT", "CMPLT", "CMPLE", "CMPLE", "CMPNE", "CMPEQ"])
    cond: Expr = [cmp, t, ["const", c]]
    negated = rng.random() < 0.4
    if negated:
        cond = ["NOT", cond]
    # a negated clause narrows only inside an AND: where(not c, a, b) is rewritten to where(c, b, a) first
    if rng.random() < (0.7 if negated else 0.3):
        cond = ["AND", cond, gen_bool(rng, max(depth - 2, 1), names, opts, divisor_vars)]
    edge = c + rng.choice((-1, 0, 0, 1))
    r = rng.random()
    if r < 0.35:
        arm: Expr = [rng.choice(["MAX", "MIN"]), copy.deepcopy(t), ["const", edge]]
    elif r < 0.7:
        arm = [rng.choice(["IDIV", "MOD"]), ["ADD", copy.deepcopy(t), ["const", -edge]],
               ["const", rng.choice((2, 3, 4, 8))]]
    elif r < 0.85:
        arm = ["WHERE", [rng.choice(["CMPLT", "CMPLE"]), copy.deepcopy(t), ["const", edge]],
               gen_int(rng, max(depth - 2, 0), names, opts, divisor_vars),
               gen_int(rng, max(depth - 2, 0), names, opts, divisor_vars)]
    else:  # a nested guard of another term at the same edge, around an arm that reads both terms
        t2 = gen_int(rng, rng.choice((0, 0, 1)), names, opts, divisor_vars)
        both: Expr = [rng.choice(["ADD", "SUB", "MAX", "MIN"]), copy.deepcopy(t), copy.deepcopy(t2)]
        arm = ["WHERE", [cmp, t2, ["const", c]], both,
               gen_int(rng, max(depth - 2, 0), names, opts, divisor_vars)]
    if rng.random() < 0.3:
        arm = ["ADD", arm, gen_int(rng, max(depth - 3, 0), names, opts, divisor_vars)]
    other = gen_int(rng, max(depth - 2, 0), names, opts, divisor_vars)
    return ["WHERE", cond, arm, other] if rng.random() < 0.75 else ["WHERE", ["NOT", cond], other, arm]


def gen_bool(rng: random.Random, depth: int, names: list[str], opts: GenOptions, divisor_vars: list[str]) -> Expr:
    """A random bool-valued expression: comparisons joined by and/or/not."""
    r = rng.random()
    if depth > 1 and r < 0.25:
        return [rng.choice(["AND", "OR"]), gen_bool(rng, depth - 1, names, opts, divisor_vars),
                gen_bool(rng, depth - 1, names, opts, divisor_vars)]
    if depth > 1 and r < 0.3:
        return ["NOT", gen_bool(rng, depth - 1, names, opts, divisor_vars)]
    if depth > 1 and r < 0.3 + opts.corner_forms:
        return _bool_corner(rng, depth, names, opts, divisor_vars)
    a = gen_int(rng, max(depth - 1, 0), names, opts, divisor_vars)
    b = ["const", _const(rng, opts)] if rng.random() < 0.7 else gen_int(rng, max(depth - 2, 0), names, opts,
                                                                         divisor_vars)
    return [rng.choice(["CMPLT", "CMPLT", "CMPLE", "CMPNE", "CMPEQ"]), a, b]


def _int_corner(rng: random.Random, depth: int, names: list[str], opts: GenOptions, divisor_vars: list[str]) -> Expr:
    """A shift by a constant (shl_to_mul, shr_to_div), a div/mod by 0, 1 or -1, or a cast to int (of an int or a
    bool)."""
    r = rng.random()
    if r < 0.45:
        a = gen_int(rng, depth - 1, names, opts, divisor_vars)
        return [rng.choice(["SHL", "SHR"]), a, ["const", rng.choice([0, 1, 1, 2, 2, 3, 4, 5])]]
    if r < 0.6:  # C leaves x/0 undefined; the cases define it as 0, as the engine's div_by_0 does
        return [rng.choice(["IDIV", "MOD"]), gen_int(rng, depth - 1, names, opts, divisor_vars),
                ["const", rng.choice([0, 1, -1])]]
    if r < 0.8:
        return ["CAST_INT", gen_int(rng, depth - 1, names, opts, divisor_vars)]  # the same dtype: cast_same
    return ["CAST_INT", gen_bool(rng, depth - 1, names, opts, divisor_vars)]


def _bool_corner(rng: random.Random, depth: int, names: list[str], opts: GenOptions, divisor_vars: list[str]) -> Expr:
    """Bool forms with constant operands: and/or/xor/==/!= with True or False, where with bool arms, casts."""
    r = rng.random()
    a = gen_bool(rng, depth - 1, names, opts, divisor_vars)
    if r < 0.55:
        k = ["const", rng.random() < 0.5]
        op = rng.choice(["AND", "OR", "XOR", "XOR", "CMPEQ", "CMPNE"])
        return [op, a, k] if rng.random() < 0.7 else [op, k, a]
    if r < 0.6:
        return ["XOR", a, gen_bool(rng, depth - 1, names, opts, divisor_vars)]
    if r < 0.65:  # and_not, or_not
        return [rng.choice(["AND", "OR"]), a, ["NOT", a]]
    if r < 0.85:
        t = rng.random() < 0.5
        return ["WHERE", a, ["const", t], ["const", not t]]
    if r < 0.93:
        return ["CAST_BOOL", a]  # the same dtype: cast_same
    return ["CAST_BOOL", gen_int(rng, depth - 1, names, opts, divisor_vars)]


def _narrow(bounds: dict[str, list[int]], max_points: int, edges: tuple[int, ...] = ()) -> None:
    """Halve the widest range until the domain has at most max_points points, keeping each range's sign, or the end
    it has at one of `edges` (a fixed-width type's limits, where its arithmetic wraps)."""
    while math.prod(hi - lo + 1 for lo, hi in bounds.values()) > max_points:
        name = max(bounds, key=lambda n: bounds[n][1] - bounds[n][0])
        lo, hi = old = bounds[name]
        if hi in edges:
            bounds[name] = [hi - (hi - lo) // 2, hi]
        elif lo in edges:
            bounds[name] = [lo, lo + (hi - lo) // 2]
        elif lo < 0 < hi:  # zero-crossing stays zero-crossing
            bounds[name] = [min(-1, -(-lo // 2)), max(1, hi // 2)]
        elif lo >= 0:  # a range keeps the end nearest zero (index ranges start at 0 or 1)
            bounds[name] = [lo, lo + (hi - lo) // 2]
        else:
            bounds[name] = [hi - (hi - lo) // 2, hi]
        if bounds[name] == old:  # nothing left to halve
            return


def gen_case(rng: random.Random, opts: GenOptions | None = None) -> dict[str, Any]:
    """A symbolic case: variable bounds and an expression over them (and sometimes a fixed-width int type)."""
    opts = opts or GenOptions()
    n = rng.randint(1, opts.max_vars)
    names = [VAR_NAMES[i] if i < len(VAR_NAMES) else f"v{i}" for i in range(n)]
    dtype = rng.choice(list(FIXED_WIDTH)) if rng.random() < opts.fixed_width else None
    bounds: dict[str, list[int]] = {}
    for nm in names:
        if dtype is not None and rng.random() < 0.5:
            bounds[nm] = _edge_range(rng, dtype)
            continue
        if rng.random() < opts.negative_bounds:
            lo = -rng.randint(1, 40)
            hi = rng.randint(lo, 40)
        else:
            lo = rng.choice([0, 0, 0, 1, rng.randint(0, 20)])
            hi = lo + rng.choice([0, 1, 3, 7, 15, 31, rng.randint(0, 100), rng.randint(0, 1000)])
        bounds[nm] = [lo, hi]
    if rng.random() < opts.same_ranges:
        for nm in names[1:]:
            bounds[nm] = list(bounds[names[0]])
    if math.prod(hi - lo + 1 for lo, hi in bounds.values()) > opts.max_points:
        if rng.random() >= opts.wide_domains:
            _narrow(bounds, opts.max_points)
        elif opts.max_wide_points is not None:
            _narrow(bounds, opts.max_wide_points)
    divisor_vars = [nm for nm, (lo, hi) in bounds.items() if lo > 0 or hi < 0 or rng.random() < opts.zero_divisor]
    if dtype is None and rng.random() < opts.affine:
        expr = gen_affine(rng, opts.depth, names, opts)
    elif rng.random() < opts.bool_ops * 0.4:
        expr = gen_bool(rng, opts.depth, names, opts, divisor_vars)
    else:
        expr = gen_int(rng, opts.depth, names, opts, divisor_vars)
    if rng.random() < opts.shared_subterms:
        for _ in range(rng.randint(1, 2)):
            _share_subterm(expr, rng)
    if dtype is None:
        if rng.random() < opts.index_casts:
            expr = _add_truncs(expr, rng, ["TRUNC_INT32", "TRUNC_UINT32", *TRUNCS])
        return {"vars": bounds, "expr": expr}
    expr = _add_truncs(expr, rng, [t for t in TRUNCS if t != f"TRUNC_{dtype.upper()}"])
    fit_fixed_width(expr, bounds, dtype, rng, opts.max_points)
    return {"vars": bounds, "expr": expr, "dtype": dtype}


def _add_truncs(expr: Expr, rng: random.Random, truncs: list[str]) -> Expr:
    """Casts through other fixed-width types (`truncs`): most casts to the case's own int type read their operand
    through one (CAST_INT(TRUNC_UINT8(x))), and now and then an int subterm gets one (a narrowing or widening cast,
    whose bounds must allow for the wrap)."""
    seen: set[int] = set()  # a node may be read twice (x | !x): one cast each
    for parent, k, node in _nodes_with_parents(expr):
        if node[0] == "CAST_INT" and id(node) not in seen and not is_bool(node[1]) and rng.random() < 0.7:
            node[1] = [rng.choice(truncs), node[1]]
        seen.add(id(node))
    if rng.random() < 0.3:
        ints = [(p, k, n) for p, k, n in _nodes_with_parents(expr)
                if not is_bool(n) and n[0] not in TRUNCS and
                not (p is not None and (p[0] in ("SHL", "SHR") and k == 2 or p[0] in TRUNCS))]
        if ints:
            parent, k, node = rng.choice(ints)
            wrapped: Expr = ["CAST_INT", [rng.choice(truncs), node]]
            if parent is None:
                return wrapped
            parent[k] = wrapped
    return expr


def _edge_range(rng: random.Random, dtype: str) -> list[int]:
    """A variable range of a fixed-width type where its arithmetic wraps: all of it, or a stretch at either end
    or across the middle (a signed type's 0, an unsigned type's half)."""
    tmin, tmax = int_range(dtype)
    width = rng.choice([0, 1, 3, 15, 63, rng.randint(0, 300)])
    r = rng.random()
    if r < 0.25 and tmax - tmin < 1 << 16:
        return [tmin, tmax]
    if r < 0.55:
        return [max(tmin, tmax - width), tmax]
    if r < 0.75:
        return [tmin, min(tmax, tmin + width)]
    mid = (tmin + tmax + 1) // 2
    return [max(tmin, mid - width // 2 - 1), min(tmax, mid + width // 2)]


def _edge_constant(rng: random.Random, dtype: str) -> int:
    """A constant at a wrap point of a fixed-width type."""
    tmin, tmax = int_range(dtype)
    bits = FIXED_WIDTH[dtype][0]
    return rng.choice([tmax, tmin, tmax - rng.randint(0, 8), tmin + rng.randint(0, 8), 1 << (bits - 2),
                       (tmax + 1) // 2 + rng.randint(-2, 2), -1, (1 << (bits // 2)) + rng.randint(-1, 1)])


def fit_fixed_width(expr: Expr, bounds: dict[str, list[int]], dtype: str, rng: random.Random,
                    max_points: int) -> None:
    """Make a case valid for a fixed-width type (in place): constants wrapped into it (some moved to its edges),
    shifts below its width, ranges cut to it, the domain narrowed to `max_points`."""
    tmin, tmax = int_range(dtype)
    bits = FIXED_WIDTH[dtype][0]
    for parent, k, node in _nodes_with_parents(expr):
        if node[0] != "const" or isinstance(node[1], bool):
            continue
        if parent is not None and parent[0] in ("SHL", "SHR") and k == 2:
            node[1] %= bits
        else:
            node[1] = wrap_int(_edge_constant(rng, dtype) if rng.random() < 0.2 else node[1], dtype)
    for name, (lo, hi) in bounds.items():
        lo, hi = min(max(lo, tmin), tmax), min(max(hi, tmin), tmax)
        bounds[name] = [lo, max(lo, hi)]
    _narrow(bounds, max_points, (tmin, tmax))


def _share_subterm(expr: Expr, rng: random.Random) -> None:
    """Copy one compound int subterm of expr over another int subterm elsewhere (not a shift's count)."""
    nodes = _nodes_with_parents(expr)[1:]
    sources = [n for _, _, n in nodes if n[0] not in ("var", "const") and not is_bool(n)]
    targets = [(p, k, n) for p, k, n in nodes if not is_bool(n) and not (p[0] in ("SHL", "SHR") and k == 2)]
    if sources and len(targets) > 1:
        src = rng.choice(sources)
        parent, k, _ = rng.choice([t for t in targets if t[2] is not src])
        parent[k] = copy.deepcopy(src)


_SWAPS = [("ADD", "SUB", "MUL", "MAX", "MIN"), ("IDIV", "MOD"), ("CMPLT", "CMPLE", "CMPNE", "CMPEQ"),
          ("AND", "OR", "XOR"), ("SHL", "SHR"), TRUNCS]


def mutate_case(case: dict[str, Any], rng: random.Random, opts: GenOptions | None = None) -> dict[str, Any]:
    """A variation of a case (the caller's copy is changed): a subterm replaced by a fresh one, a constant, a
    variable's range or an operator changed. The expression may need re-validating (see SymbolicFuzzer.mutate)."""
    opts = opts or GenOptions()
    bounds, expr = case["vars"], case["expr"]
    if "dtype" in case and rng.random() < 0.1:  # another fixed-width type: the same expression wraps elsewhere
        case["dtype"] = rng.choice(list(FIXED_WIDTH))
    names = sorted(bounds)
    divisor_vars = [nm for nm, (lo, hi) in bounds.items() if lo > 0 or hi < 0]
    nodes = _nodes_with_parents(expr)
    r = rng.random()
    if r < 0.4:  # a subterm (not the root, which keeps its type) replaced by a fresh one of the same type
        subterms = [(p, k, n) for p, k, n in nodes[1:] if not (p[0] in ("SHL", "SHR") and k == 2)]  # shifts: consts
        if subterms:
            parent, k, node = rng.choice(subterms)
            depth = rng.randint(1, 3)
            bool_node = is_bool(node)
            parent[k] = (gen_bool if bool_node else gen_int)(rng, depth, names, opts, divisor_vars)
    elif r < 0.6:  # a constant
        consts = [(p, k, n) for p, k, n in nodes if n[0] == "const" and p is not None]
        if consts:
            parent, k, node = rng.choice(consts)
            if isinstance(node[1], bool):
                parent[k] = ["const", not node[1]]
            elif not (parent[0] in ("SHL", "SHR") and k == 2):
                parent[k] = ["const", _const(rng, opts)]
            else:
                parent[k] = ["const", rng.randint(0, 5)]
    elif r < 0.8:  # a variable's range
        name = rng.choice(names)
        lo = rng.choice([0, 0, 1, -rng.randint(1, 40), rng.randint(0, 20)])
        bounds[name] = [lo, lo + rng.choice([0, 1, 3, 7, 15, 31, rng.randint(0, 100)])]
        _narrow(bounds, opts.max_points)
    else:  # an operator, for another of the same kind
        ops = [(p, k, n) for p, k, n in nodes if any(n[0] in group for group in _SWAPS)]
        if ops:
            _, _, node = rng.choice(ops)
            group = next(g for g in _SWAPS if node[0] in g)
            node[0] = rng.choice(group)
    if "dtype" in case:
        fit_fixed_width(expr, bounds, case["dtype"], rng, opts.max_points)
    return case


def _nodes_with_parents(expr: Expr) -> list[tuple[Any, int, Expr]]:
    """Every node with its parent and its index there (the root's parent is None), parents first."""
    out: list[tuple[Any, int, Expr]] = [(None, 0, expr)]
    stack = [expr]
    while stack:
        node = stack.pop()
        if node[0] in ("var", "const"):
            continue
        for k in range(1, len(node)):
            out.append((node, k, node[k]))
            stack.append(node[k])
    return out


def is_bool(expr: Expr) -> bool:
    """Whether a generated expression is bool-valued (a WHERE is bool when its arms are)."""
    op = expr[0]
    if op == "const":
        return isinstance(expr[1], bool)
    if op == "var":
        return False
    if op == "WHERE":
        return is_bool(expr[2]) and is_bool(expr[3])
    if op in ("AND", "OR", "XOR"):  # of two ints: bitwise, an int
        return is_bool(expr[1]) or is_bool(expr[2])
    return op in ("CMPLT", "CMPLE", "CMPNE", "CMPEQ", "NOT", "CAST_BOOL")
