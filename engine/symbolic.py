"""The integer index algebra: rules that simplify index expressions, soundly.

Semantics are C's (engine.alu): IDIV truncates toward zero, MOD takes the sign of the dividend, fixed-width
ints wrap; by a zero divisor both give 0 (numpy's result, what every device computes). A rule may only fire where
it cannot change the value for any input inside the variables' bounds; folds that depend on signs (div/mod) check
`vmin`/`vmax` first.

Canonical forms (so that equal sums become the same UOp):
  - sums: terms flattened through ADD/SUB/NEG and multiplication by constants, like terms combined, sorted by
    `UOp.key`; positive terms first joined by ADD, negative terms then joined by SUB, the constant last;
  - products: factors flattened, sorted, the constant last; `(x*a + b)*c` distributes to `x*(a*c) + b*c`.
`simplify()` is idempotent and never increases `op_count()`. For affine index expressions it computes the rules'
result directly from linear forms (`affine_simplify`), unless rule hits are being counted.
"""

from __future__ import annotations

import itertools
import math
import operator
from typing import Any

from engine.alu import c_div, exec_alu, wrap
from engine.dtype import DType, dtypes
from engine.rewrite import PatternMatcher, RuleStats, UPat, graph_rewrite, substitute
from engine.uop import LEAF_OPS, GroupOp, Ops, UOp, existing, missing_below

INT_KINDS = "xiu"


def _is_int(u: UOp) -> bool:
    return u.dtype.kind in INT_KINDS and u.dtype.count == 1 and not u.dtype.ptr


def _int_const(u: UOp) -> bool:
    return u.op is Ops.CONST and u.dtype.kind in INT_KINDS


# ---------------------------------------------------------------- sums and products
# enum members as module globals for the hot paths below: `Ops.X` goes through EnumType.__getattr__ on 3.11
_CONST, _ADD, _SUB, _NEG, _MUL, _MOD, _IDIV = Ops.CONST, Ops.ADD, Ops.SUB, Ops.NEG, Ops.MUL, Ops.MOD, Ops.IDIV
_INDEX = dtypes.index
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1
_DEFINE_VAR = Ops.DEFINE_VAR
_SAFE = 1 << 60  # fast paths and atom folding stay below this magnitude: clear of index wrap-around


def _wrap(dtype: DType, v: Any) -> Any:
    """`wrap`, with a fast path for index values that are already in range."""
    if dtype is _INDEX and type(v) is int and _I64_MIN <= v <= _I64_MAX:
        return v
    return wrap(dtype, v)


def _src_terms(s: UOp) -> tuple[dict[UOp, int], int]:
    t = s.__dict__["_terms"]
    return ({s: 1}, 0) if t is None else t


def _add_terms(ta: dict[UOp, int], tb: dict[UOp, int], sign: int) -> dict[UOp, int]:
    """ta + sign*tb as a new dict without zero coefficients (neither input is changed)."""
    if not tb:
        return ta if sign == 1 else dict(ta)
    out = dict(ta)
    for b, k in tb.items():
        k = out.get(b, 0) + sign * k
        if k:
            out[b] = k
        else:
            del out[b]
    return out


def _terms_rule(x: UOp) -> tuple[dict[UOp, int], int] | None:
    """terms_of for one node, from its sources' cached terms (see terms_of); None for a base (itself, once).

    A base is not cached as {x: 1}: a dict on x holding x would be a reference cycle.
    """
    op = x.op
    if op is _CONST:
        return {}, x.arg if not isinstance(x.arg, float) else 0
    if op is _ADD or op is _SUB:
        (ta, ca), (tb, cb) = _src_terms(x.src[0]), _src_terms(x.src[1])
        sign = 1 if op is _ADD else -1
        return _add_terms(ta, tb, sign), ca + sign * cb
    if op is _NEG:
        ta, ca = _src_terms(x.src[0])
        return {b: -k for b, k in ta.items()}, -ca
    if op is _MUL and x.src[1].op is _CONST and x.src[0].op is not _ADD and x.src[0].op is not _SUB:
        ta, ca = _src_terms(x.src[0])
        c = x.src[1].arg
        return ({b: k * c for b, k in ta.items()} if c else {}), ca * c
    return None


def _term_sources(x: UOp) -> tuple[UOp, ...]:
    """The sources whose terms x's terms are made of (none for a constant or a base)."""
    op = x.op
    if op is _ADD or op is _SUB:
        return x.src
    if op is _NEG or (op is _MUL and x.src[1].op is _CONST and x.src[0].op is not _ADD and x.src[0].op is not _SUB):
        return x.src[:1]
    return ()


def _fill_terms(root: UOp) -> tuple[dict[UOp, int], int] | None:
    """_terms_rule for root and the nodes its terms are made of, sources first.

    A base's terms do not depend on its sources: the walk stops there (its sources may never need theirs).
    """
    for x in missing_below(root, "_terms", _term_sources):
        x.__dict__["_terms"] = _terms_rule(x)
    return root.__dict__["_terms"]


def terms_of(u: UOp) -> tuple[dict[UOp, int], int]:
    """Decompose an integer expression into {base: coefficient} and a constant: u == sum(k*base) + const.

    Flattens ADD, SUB, NEG and multiplication by a constant (not into a sum: (a+b)*2 stays one base).
    Cached per UOp; the caller gets its own copy of the dict.
    """
    d = u.__dict__
    t = d["_terms"] if "_terms" in d else _fill_terms(u)
    if t is None:
        return {u: 1}, 0
    terms, const = t
    return dict(terms), const


def _scaled(base: UOp, k: int) -> UOp:
    if k == 1:
        return base
    if k == -1:
        return UOp(_NEG, base.dtype, (base,))
    return UOp(_MUL, base.dtype, (base, UOp.const(base.dtype, k)))


def _is_product_atom(b: UOp) -> bool:
    """(a sum) * c with |c| >= 2: one base of a canonical sum (terms_of does not distribute into it)."""
    return b.op is _MUL and b.src[1].op is _CONST and (b.src[0].op is _ADD or b.src[0].op is _SUB) and \
        type(b.src[1].arg) is int and abs(b.src[1].arg) >= 2


def _absorb(dtype: DType, terms: dict[UOp, int]) -> dict[UOp, int]:
    """Index sums: k * ((s)*c) -> (s)*(c*k) for |k| >= 2, as canonical_product would flatten it anyway.

    Not for k == -1: `t - (s)*c` keeps (s)*c, which the expression may share. Coefficients that meet on one atom add
    up and are absorbed again.
    """
    if dtype is not _INDEX or not any(b.op is _MUL and (k > 1 or k < -1) and _is_product_atom(b)
                                      for b, k in terms.items()):
        return terms
    out = dict(terms)
    todo = [b for b, k in out.items() if (k > 1 or k < -1) and _is_product_atom(b)]
    while todo:
        b = todo.pop()
        k = out.get(b, 1)
        if -1 <= k <= 1:
            continue
        c = b.src[1].arg * k
        if not -_SAFE < c < _SAFE:
            continue  # leave huge products to the generic rules
        del out[b]
        nb = UOp(_MUL, dtype, (b.src[0], UOp.const(dtype, c)))
        out[nb] = out.get(nb, 0) + 1
        if not -1 <= out[nb] <= 1:
            todo.append(nb)
    return out


_uop_key = operator.attrgetter("key")


def _term_key(t: tuple[UOp, Any]) -> tuple:
    return t[0].key


def build_sum(dtype: DType, terms: dict[UOp, int], const: int) -> UOp:
    """The canonical UOp of sum(k*base) + const.

    The result and every partial sum inside it are marked canonical (canonical_sum skips them) unless a term
    could still change: a constant base, or an (x//c, x%c) pair that recombines.
    """
    const = _wrap(dtype, const)
    terms = _absorb(dtype, terms)
    if dtype is _INDEX and (not terms or (min(terms.values()) >= _I64_MIN and max(terms.values()) <= _I64_MAX)):
        items = list(terms.items())  # index coefficients in range: _wrap would return each as it is
    else:
        items = [(b, _wrap(dtype, k)) for b, k in terms.items()]
    if len(items) > 1:  # a sort key is a walk over the whole term: none for one term
        items.sort(key=_term_key)
    mark = not any(b.op is _CONST or b.op is _MOD for b, _ in items) or not _recombinable(terms)
    acc: UOp | None = None
    neg = []
    for b, k in items:
        # the dtype's minimum stays added: -k wraps back to k, and "acc - b*k" would be rewritten forever
        # (found by the graph fuzzer: int8 (x << 7) - 16 hung the simplifier)
        if k > 0 or (k < 0 and _wrap(dtype, -k) == k):
            t = _scaled(b, k)
            acc = t if acc is None else _marked(UOp(_ADD, dtype, (acc, t)), mark)
        elif k < 0:
            neg.append((b, -k))
    if acc is None and neg and const != 0:
        acc, const = UOp.const(dtype, const), 0  # c - x is smaller than -x + c
    if acc is None and neg:  # all negative: lead with x*-k (one op) rather than -x (one op, then one more MUL)
        lead = next((i for i, (_, k) in enumerate(neg) if k != 1), 0)
        b, k = neg.pop(lead)
        if k == 1 and dtype is _INDEX and _is_product_atom(b) and -_SAFE < b.src[1].arg < _SAFE:
            acc = UOp(_MUL, dtype, (b.src[0], UOp.const(dtype, -b.src[1].arg)))  # s*-c, not -(s*c)
        else:
            acc = _scaled(b, -k)
    if acc is None:
        return UOp.const(dtype, const)
    for b, k in neg:
        acc = _marked(UOp(_SUB, dtype, (acc, _scaled(b, k))), mark)
    return acc if const == 0 else _marked(UOp(_ADD, dtype, (acc, UOp.const(dtype, const))), mark)


def _marked(u: UOp, mark: bool) -> UOp:
    if mark:
        u.__dict__["_canon"] = True
    return u


def _divmod_pair(terms: dict[UOp, int]) -> tuple[UOp, UOp, int, int] | None:
    """A term (x%c)*k whose partner (x//c)*(k*c) is also in `terms`: (mod, div, k, c), else None."""
    for m, k in terms.items():
        if m.op is not _MOD or not _int_const(m.src[1]):
            continue
        c = m.src[1].arg
        d = existing(_IDIV, m.dtype, m.src)  # a division nobody built cannot be a term
        if d is not None and c != 0 and terms.get(d) == k * c:
            return m, d, k, c
    return None


def _recombinable(terms: dict[UOp, int]) -> bool:
    return _divmod_pair(terms) is not None


def _recombine_divmod(terms: dict[UOp, int]) -> bool:
    """(x//c)*c*k + (x%c)*k -> x*k, valid for C semantics (x == (x//c)*c + x%c). Returns True if it changed."""
    pair = _divmod_pair(terms)
    if pair is None:
        return False
    m, d, k, _ = pair
    del terms[m], terms[d]
    sub, sub_const = terms_of(m.src[0])
    for b, kb in sub.items():
        terms[b] = terms.get(b, 0) + k * kb
    one = UOp.const(m.dtype, 1)
    terms[one] = terms.get(one, 0) + k * sub_const
    return True


def _plain_base(u: UOp) -> bool:
    """A base of sums (terms_of keeps it whole) that is not a constant and not a remainder (x%c may recombine)."""
    return u.op is not _CONST and u.op is not _MOD and not _term_sources(u)


def _index_int(c: UOp) -> bool:
    return c.dtype is _INDEX and type(c.arg) is int and _I64_MIN <= c.arg <= _I64_MAX


def _small_canonical(x: UOp) -> bool:
    """x is an index sum of one of the shapes build_sum returns unchanged for x's own terms: `-a`, `a + c`,
    `a*k + c`, `a - b` and `a + b` (a before b in key order), with bases a != b, k >= 2, c != 0.

    Exactly what canonical_sum would find by rebuilding (tested); it saves the rebuild for the many small sums an
    expression starts with.
    """
    if x.dtype is not _INDEX:
        return False
    src = x.src
    a = src[0]
    if x.op is _NEG:
        return _plain_base(a) and not _is_product_atom(a)
    b = src[1]
    if b.op is _CONST:
        if x.op is not _ADD or not _index_int(b) or b.arg == 0:
            return False
        if a.op is _MUL and a.src[1].op is _CONST:  # a*k + c
            k = a.src[1]
            if a.dtype is not _INDEX or not _index_int(k) or k.arg < 2:
                return False
            a = a.src[0]
            return _plain_base(a) and not _is_product_atom(a)
        return _plain_base(a)
    if a is b or not _plain_base(a) or not _plain_base(b):
        return False
    return x.op is _SUB or not b.key < a.key  # equal keys keep their order (a stable sort)


def canonical_sum(x: UOp) -> UOp | None:
    """Flatten, combine and sort an integer sum; None if already canonical."""
    d = x.__dict__
    if "_canon" in d:
        return None
    if _small_canonical(x):
        d["_canon"] = True
        return None
    terms, const = terms_of(x)
    if _recombine_divmod(terms):  # the only way a constant base (the 1 it adds to) gets into `terms`
        while _recombine_divmod(terms):
            pass
        one = UOp.const(x.dtype, 1)
        if one in terms:
            const += terms.pop(one)
    out = build_sum(x.dtype, terms, const)
    if out is x:
        d["_canon"] = True  # structural: the next canonical_sum on x returns at once
        return None
    return out


def _factors(x: UOp, through_neg: bool) -> tuple[list[UOp], Any] | None:
    """The non-constant factors of a product and the product of its constants; None if a product is shared."""
    factors: list[UOp] = []
    const = 1
    stack = [x]
    expanded: set[UOp] = set()
    while stack:
        f = stack.pop()
        if f.op is _MUL:
            if f in expanded:  # a shared product ((b*b)*(b*b)): flattening would turn the DAG into a tree
                return None
            expanded.add(f)
            stack.extend(f.src)
        elif f.op is _CONST:
            const *= f.arg
        elif through_neg and f.op is _NEG:
            const = -const
            stack.append(f.src[0])
        else:
            factors.append(f)
    return factors, const


def canonical_product(x: UOp) -> UOp | None:
    """Flatten a product, fold its constants, sort its factors; None if already canonical."""
    a, b = x.src
    if b.op is _CONST and a.op is not _MUL and a.op is not _CONST and a.op is not _ADD and a.op is not _SUB and \
            a.op is not _NEG and b.dtype is x.dtype and b.arg not in (0, 1, -1) and _wrap(x.dtype, b.arg) == b.arg:
        return None  # base * constant: the canonical form of a scaled term
    flat = _factors(x, False)
    if flat is None:
        return None
    factors, const = flat
    if const != 1 and any(f.op is _NEG for f in factors):
        # -f is f * -1 (in wrapping ints too): (-(s*2))*3 -> s*-6. Only where a constant takes the sign: (-x)*y
        # stays, its -x may be shared
        flat = _factors(x, True)
        if flat is None:
            return None
        factors, const = flat
    const = _wrap(x.dtype, const)
    if const == 0:
        return UOp.const(x.dtype, 0)
    if len(factors) == 1 and factors[0].op in (Ops.ADD, Ops.SUB) and const != 1:
        terms, c0 = terms_of(factors[0])
        if len(terms) == 1:  # (x*a + b)*c -> x*(a*c) + b*c: never larger
            return build_sum(x.dtype, {b: k * const for b, k in terms.items()}, c0 * const)
    if len(factors) > 1:
        factors.sort(key=_uop_key)
    if not factors:
        return UOp.const(x.dtype, const)
    acc = factors[0]
    for f in factors[1:]:
        acc = UOp(Ops.MUL, x.dtype, (acc, f))
    if const == -1:
        acc = UOp(Ops.NEG, x.dtype, (acc,))
    elif const != 1:
        acc = UOp(Ops.MUL, x.dtype, (acc, UOp.const(x.dtype, const)))
    return None if acc is x else acc


# ---------------------------------------------------------------- div and mod
def _wraps(x: UOp, terms: dict[UOp, int], const: int) -> bool:
    """Whether the linear form sum(k*b) + const may differ from x's value: outside index arithmetic (which never
    leaves int64), + - * wrap in the dtype, so the form equals x only where its interval fits the dtype.
    Division and modulo are not ring operations: they may only be folded through a form that does not wrap."""
    dt = x.dtype.scalar
    if dt.kind == "x":
        return False
    lo = hi = const
    for b, k in terms.items():
        lo, hi = lo + min(k * b.vmin, k * b.vmax), hi + max(k * b.vmin, k * b.vmax)
    return lo < dt.min or hi > dt.max


def fold_div(x: UOp, c: int) -> UOp | None:
    """x // c for a constant c != 0 where the bounds of x make it sound."""
    dt = x.dtype
    terms, const = terms_of(x)
    if _wraps(x, terms, const):  # (found by the graph fuzzer: uint16 (-x) % 26 was folded to (x*25) % 26)
        return None
    if c < 0 and not all(k % c == 0 for k in terms.values()):
        return None
    if all(k % c == 0 for k in terms.values()) and const % c == 0:  # exact: (a*c + b*c)//c -> a + b
        return build_sum(dt, {b: k // c for b, k in terms.items()}, const // c)
    g = math.gcd(c, const, *terms.values())
    if g > 1:  # (x*2 + 2)//4 -> (x + 1)//2: the same rational, so the same truncation
        return UOp(Ops.IDIV, dt, (build_sum(dt, {b: k // g for b, k in terms.items()}, const // g),
                                  UOp.const(dt, c // g)))
    # split off the terms that are whole multiples of c: needs the numerator and the rest on one side of 0
    quot = {b: k // c for b, k in terms.items() if k % c == 0}
    if not quot or (x.vmin < 0 and x.vmax > 0):
        return None
    rest_terms = {b: k for b, k in terms.items() if k % c != 0}
    if _wraps(x, rest_terms, const):  # the rest is divided: it must not wrap either (uint8 64 + -x: -x wraps)
        return None
    rest = build_sum(dt, rest_terms, const)
    if (x.vmin >= 0 and rest.vmin >= 0) or (x.vmax <= 0 and rest.vmax <= 0):
        if rest.op is _CONST:
            return build_sum(dt, quot, c_div(rest.arg, c))
        d = UOp(Ops.IDIV, dt, (rest, UOp.const(dt, c)))
        quot[d] = quot.get(d, 0) + 1  # rest//c may also be a term of x already
        return build_sum(dt, quot, 0)
    return None


def fold_mod(x: UOp, c: int) -> UOp | None:
    """x % c for a constant c > 0 where the bounds of x make it sound."""
    dt = x.dtype
    if 0 <= x.vmin and x.vmax < c or -c < x.vmin and x.vmax <= 0:
        return x
    terms, const = terms_of(x)
    if _wraps(x, terms, const):
        return None
    if all(k % c == 0 for k in terms.values()) and const % c == 0:
        return UOp.const(dt, 0)
    if x.vmin >= 0:  # nonnegative: C's % is the math mod, so coefficients reduce mod c
        if 0 <= const < c and all(0 <= k < c for k in terms.values()):
            return None  # nothing to reduce (rebuilding would only canonicalize x, which its own rules do)
        rest_terms = {b: k % c for b, k in terms.items()}
        if _wraps(x, rest_terms, const % c):  # the rest is taken mod c: its form must not wrap
            return None
        rest = build_sum(dt, rest_terms, const % c)
        if rest is not x and rest.vmin >= 0:
            return UOp(Ops.MOD, dt, (rest, UOp.const(dt, c)))
    elif x.vmax <= 0:  # nonpositive: drop whole multiples of c if the rest stays nonpositive
        if const % c != 0 and all(k % c != 0 for k in terms.values()):
            return None  # nothing to drop
        rest_terms = {b: k for b, k in terms.items() if k % c != 0}
        if _wraps(x, rest_terms, const if const % c else 0):
            return None
        rest = build_sum(dt, rest_terms, const if const % c else 0)
        if rest is not x and rest.vmax <= 0:
            return UOp(Ops.MOD, dt, (rest, UOp.const(dt, c)))
    return None


# ---------------------------------------------------------------- comparisons
def fold_cmp_const(op: Ops, x: UOp, c: int, const_left: bool) -> UOp | None:
    """x < c, c < x, x == c, x != c: move the sum's constant across, divide by the common factor."""
    terms, k0 = terms_of(x)
    if not terms:
        return None
    dt = x.dtype
    base = build_sum(dt, terms, 0)
    rhs = c - k0
    if op in (Ops.CMPEQ, Ops.CMPNE):
        # fixed-width ints: x == c is x - k0 == c - k0 modulo 2**bits (the right side wrapped), but g*y == rhs is
        # y == rhs/g only where g*y does not wrap (int16: y*4 == -16 also at y = 16380)
        rhs = _wrap(dt, rhs)
        g = math.gcd(*terms.values())
        if g > 1 and _wraps(x, terms, 0):
            g = 1
        if g > 1:
            if rhs % g != 0:  # g*y == rhs has no solution
                return UOp.const(dtypes.bool, op is Ops.CMPNE)
            base, rhs = build_sum(dt, {b: k // g for b, k in terms.items()}, 0), rhs // g
        if base is x and rhs == c:
            return None
        return UOp(op, dtypes.bool, (base, UOp.const(dt, rhs)))
    if dt.kind != "x":
        return None  # moving constants in fixed-width ints can overflow; only index arithmetic
    g = math.gcd(*terms.values())
    if g > 1:
        base = build_sum(dt, {b: k // g for b, k in terms.items()}, 0)
        # g*y < rhs <=> y < ceil(rhs/g) ; rhs < g*y <=> floor(rhs/g) < y
        rhs = -((-rhs) // g) if not const_left else rhs // g
    if base is x and rhs == c:
        return None
    srcs = (UOp.const(dt, rhs), base) if const_left else (base, UOp.const(dt, rhs))
    return UOp(Ops.CMPLT, dtypes.bool, srcs)


def _div_lt(x: UOp, d: UOp, c: UOp) -> UOp | None:
    """x//d < c with d > 0 -> x < c*d (c > 0) or x < (c-1)*d + 1 (c <= 0): truncation, exactly."""
    if x.dtype.kind != "x" or d.arg <= 0:
        return None
    bound = c.arg * d.arg if c.arg > 0 else (c.arg - 1) * d.arg + 1
    return UOp(Ops.CMPLT, dtypes.bool, (x, UOp.const(x.dtype, bound)))


# ---------------------------------------------------------------- generic folds
def _const_fold(x: UOp) -> UOp | None:
    if not x.src or x.dtype.count != 1:
        return None
    for s in x.src:
        if s.op is not _CONST:
            return None
    try:
        return UOp.const(x.dtype, exec_alu(x.op, x.dtype, tuple(s.arg for s in x.src)))
    except (ValueError, OverflowError):
        return None  # a shift out of range: leave it for the kernel


_BOUNDED_OPS = GroupOp.ALU | {Ops.CAST, Ops.DEFINE_VAR, Ops.RANGE, Ops.SPECIAL}
_RANGE = Ops.RANGE


def _bounds_fold(x: UOp) -> UOp | None:
    """The rule's pattern admits only scalar int/bool values of the ops in _BOUNDED_OPS."""
    if x.op is _RANGE and x.src[0].vmax < 1:
        return None  # an empty loop has no value to fold to
    lo, hi = x.bounds
    return UOp.const(x.dtype, lo) if lo == hi else None


def _not(x: UOp) -> UOp:
    if x.op is Ops.CMPNE and x.src[1].op is Ops.CONST and x.src[1].arg is True:
        return x.src[0]
    return UOp(Ops.CMPNE, dtypes.bool, (x, UOp.const(dtypes.bool, True)))


ints = tuple(d for d in (dtypes.index, dtypes.int8, dtypes.int16, dtypes.int32, dtypes.int64, dtypes.uint8,
                         dtypes.uint16, dtypes.uint32, dtypes.uint64))
x_, y_, c_ = UPat.var("x", ints), UPat.var("y", ints), UPat.cvar("c", ints)
b_ = UPat.var("x", dtypes.bool)
TRUE, FALSE = UPat.const(True, dtypes.bool), UPat.const(False, dtypes.bool)

symbolic = PatternMatcher([
    # all-constant ALU -> the constant, with C semantics
    # (only tried where the first source is a constant: the candidate tables skip it for every other node)
    (UPat(GroupOp.ALU | {Ops.CAST}, src=(UPat(Ops.CONST),), allow_any_len=True, name="x"), _const_fold, "const_fold"),
    # ---- identities
    (UPat((Ops.IDIV, Ops.MOD), src=(x_, UPat.const(0))), lambda x: x.const_like(0), "div_by_0"),
    (x_ // UPat.const(1), lambda x: x, "div_by_1"),
    (x_ // UPat.const(-1), lambda x: -x, "div_by_neg1"),
    (x_ % UPat(Ops.CONST, arg_pred=lambda a: a in (1, -1)), lambda x: x.const_like(0), "mod_by_1"),
    (UPat(Ops.IDIV, src=(x_, x_)), lambda x: x.const_like(1) if x.vmin > 0 or x.vmax < 0 else None, "div_self"),
    (UPat(Ops.MOD, src=(x_, x_)), lambda x: x.const_like(0) if x.vmin > 0 or x.vmax < 0 else None, "mod_self"),
    (UPat((Ops.MAX, Ops.MIN), src=(UPat.var("x"), UPat.var("x"))), lambda x: x, "minmax_self"),
    (UPat(Ops.CAST, name="u", src=(UPat.var("x"),)), lambda u, x: x if u.dtype == x.dtype else None, "cast_same"),
    # ---- canonical sums and products
    (UPat((Ops.ADD, Ops.SUB, Ops.NEG), dtype=ints, name="x"), canonical_sum, "canonical_sum"),
    (UPat(Ops.MUL, dtype=ints, name="x"), canonical_product, "canonical_product"),
    # an int/bool value whose bounds meet -> that constant. After the canonical forms: a sum's interval only
    # narrows when it is canonicalized, so folding there loses nothing, and the input's own intervals are never
    # computed for a node the canonical rules replace anyway
    (UPat(_BOUNDED_OPS, dtype=ints + (dtypes.bool,), name="x"), _bounds_fold, "bounds_fold"),
    (UPat(Ops.SHL, src=(x_, c_)), lambda x, c: x * (1 << c.arg) if 0 <= c.arg < x.dtype.bits else None, "shl_to_mul"),
    (UPat(Ops.SHR, src=(x_, c_)),
     lambda x, c: x // (1 << c.arg) if x.vmin >= 0 and 0 <= c.arg < x.dtype.bits else None, "shr_to_div"),
    # ---- div and mod
    (UPat(Ops.IDIV, src=(UPat(Ops.IDIV, src=(x_, UPat.cvar("a", ints))), UPat.cvar("b", ints))),
     lambda x, a, b: x // (a.arg * b.arg) if a.arg > 0 and b.arg > 0 else None, "nested_div"),
    (UPat(Ops.MOD, src=(UPat(Ops.MOD, src=(x_, UPat.cvar("m", ints))), UPat.cvar("a", ints))),
     lambda x, m, a: x % a if a.arg > 0 and m.arg > 0 and m.arg % a.arg == 0 else None, "nested_mod"),
    (x_ % UPat(Ops.CONST, dtype=ints, name="c", arg_pred=lambda a: a < 0), lambda x, c: x % (-c.arg),
     "mod_neg_divisor"),
    (UPat(Ops.IDIV, src=(x_, c_)), lambda x, c: fold_div(x, c.arg) if c.arg != 0 else None, "fold_div"),
    (UPat(Ops.MOD, src=(x_, c_)), lambda x, c: fold_mod(x, c.arg) if c.arg > 0 else None, "fold_mod"),
    # ---- min and max decided by bounds
    (UPat(Ops.MAX, src=[x_, y_]), lambda x, y: x if x.vmin >= y.vmax else None, "max_by_bounds"),
    (UPat(Ops.MIN, src=[x_, y_]), lambda x, y: x if x.vmax <= y.vmin else None, "min_by_bounds"),
    (UPat(Ops.MAX, src=(UPat(Ops.MAX, src=(x_, UPat.cvar("a"))), UPat.cvar("b"))),
     lambda x, a, b: x.maximum(max(a.arg, b.arg)), "max_max_const"),
    (UPat(Ops.MIN, src=(UPat(Ops.MIN, src=(x_, UPat.cvar("a"))), UPat.cvar("b"))),
     lambda x, a, b: x.minimum(min(a.arg, b.arg)), "min_min_const"),
    # ---- comparisons
    (UPat(Ops.CMPLE, src=(x_, c_)), lambda x, c: x < (c.arg + 1) if x.dtype.kind == "x" else None, "le_to_lt"),
    (UPat(Ops.CMPLE, src=(c_, x_)), lambda x, c: UOp(Ops.CMPLT, dtypes.bool, (c.const_like(c.arg - 1), x))
     if x.dtype.kind == "x" else None, "le_to_lt_left"),
    (UPat(Ops.CMPLT, src=(UPat(Ops.IDIV, src=(x_, UPat.cvar("d", ints))), c_)), _div_lt, "div_lt"),
    (UPat(Ops.CMPLT, src=(x_, c_)), lambda x, c: fold_cmp_const(Ops.CMPLT, x, c.arg, False), "lt_const"),
    (UPat(Ops.CMPLT, src=(c_, x_)), lambda x, c: fold_cmp_const(Ops.CMPLT, x, c.arg, True), "const_lt"),
    (UPat((Ops.CMPEQ, Ops.CMPNE), name="u", src=(x_, c_)),
     lambda u, x, c: fold_cmp_const(u.op, x, c.arg, False), "eq_const"),
    (UPat(Ops.CMPLT, src=(x_, x_)), lambda x: UOp.const(dtypes.bool, False), "lt_self"),
    (UPat(Ops.CMPNE, src=(x_, x_)), lambda x: UOp.const(dtypes.bool, False), "ne_self"),
    (UPat(Ops.CMPEQ, src=(x_, x_)), lambda x: UOp.const(dtypes.bool, True), "eq_self"),
    # ---- booleans
    (UPat(Ops.AND, src=[b_, TRUE]), lambda x: x, "and_true"),
    (UPat(Ops.AND, src=[b_, FALSE]), lambda x: UOp.const(dtypes.bool, False), "and_false"),
    (UPat(Ops.OR, src=[b_, FALSE]), lambda x: x, "or_false"),
    (UPat(Ops.OR, src=[b_, TRUE]), lambda x: UOp.const(dtypes.bool, True), "or_true"),
    (UPat(Ops.XOR, src=[b_, FALSE]), lambda x: x, "xor_false"),
    (UPat((Ops.AND, Ops.OR), src=(b_, b_)), lambda x: x, "andor_self"),
    (UPat(Ops.CMPNE, src=(UPat(Ops.CMPNE, src=(b_, TRUE)), TRUE)), lambda x: x, "not_not"),
    (UPat(Ops.CMPNE, src=[b_, FALSE]), lambda x: x, "ne_false"),
    (UPat(Ops.CMPEQ, src=[b_, TRUE]), lambda x: x, "eq_true"),
    (UPat(Ops.AND, src=[b_, UPat(Ops.CMPNE, src=(b_, TRUE))]), lambda x: UOp.const(dtypes.bool, False), "and_not"),
    (UPat(Ops.OR, src=[b_, UPat(Ops.CMPNE, src=(b_, TRUE))]), lambda x: UOp.const(dtypes.bool, True), "or_not"),
    # ---- where
    (UPat(Ops.WHERE, src=(UPat.cvar("c", dtypes.bool), UPat.var("a"), UPat.var("b"))),
     lambda c, a, b: a if c.arg else b, "where_const"),
    (UPat(Ops.WHERE, src=(UPat.var(), UPat.var("a"), UPat.var("a"))), lambda a: a, "where_same"),
    (UPat(Ops.WHERE, src=(UPat(Ops.CMPNE, src=(UPat.var("c"), TRUE)), UPat.var("a"), UPat.var("b"))),
     lambda c, a, b: UOp(Ops.WHERE, a.dtype, (c, b, a)), "where_not"),
    (UPat(Ops.WHERE, src=(UPat.var("c"), TRUE, FALSE)), lambda c: c, "where_true_false"),
    (UPat(Ops.WHERE, src=(UPat.var("c"), FALSE, TRUE)), lambda c: _not(c), "where_false_true"),
    (UPat(Ops.WHERE, src=(UPat.var("c"), UPat(Ops.WHERE, src=(UPat.var("c"), UPat.var("a"), UPat.var())),
                          UPat.var("b"))), lambda c, a, b: UOp(Ops.WHERE, a.dtype, (c, a, b)), "where_where_then"),
    (UPat(Ops.WHERE, src=(UPat.var("c"), UPat.var("a"), UPat(Ops.WHERE, src=(UPat.var("c"), UPat.var(),
                                                                                UPat.var("b"))))),
     lambda c, a, b: UOp(Ops.WHERE, a.dtype, (c, a, b)), "where_where_else"),
    (UPat(Ops.WHERE, name="w", src=(UPat.var("c", dtypes.bool), UPat.var("a"), UPat.var("b"))),
     lambda w, c, a, b: _where_given_valid(w, c, a, b), "where_given_valid"),
], late=("where_given_valid",))


# ---------------------------------------------------------------- given a validity condition
def _clauses(valid: UOp) -> list[UOp]:
    out, stack = [], [valid]
    while stack:
        v = stack.pop()
        if v.op is Ops.AND and v.dtype == dtypes.bool:
            stack.extend(v.src)
        else:
            out.append(v)
    return out


def _clause_bounds(clause: UOp) -> tuple[UOp, int | None, int | None] | None:
    """(X, lo, hi) if the clause says lo <= X <= hi for an integer X, else None."""
    neg = clause.op is Ops.CMPNE and clause.src[1].op is Ops.CONST and clause.src[1].arg is True
    c = clause.src[0] if neg else clause
    if c.op not in (Ops.CMPLT, Ops.CMPLE, Ops.CMPEQ) or len(c.src) != 2:
        return None
    a, b = c.src
    strict = c.op is Ops.CMPLT
    if c.op is Ops.CMPEQ:
        if neg:
            return None
        if _int_const(b) and _is_int(a) and a.op is not Ops.CONST:
            return (a, b.arg, b.arg)
        return None
    if _int_const(b) and _is_int(a) and a.op is not Ops.CONST:  # a < b or a <= b
        hi = b.arg - 1 if strict else b.arg
        return (a, hi + 1, None) if neg else (a, None, hi)
    if _int_const(a) and _is_int(b) and b.op is not Ops.CONST:  # a < b or a <= b with const a
        lo = a.arg + 1 if strict else a.arg
        return (b, None, lo - 1) if neg else (b, lo, None)
    return None


_gv_counter = itertools.count()


def _reads_memory(u: UOp) -> bool:
    """Whether an INDEX or LOAD is at or below u (cached per UOp: a walk per WHERE would be quadratic in depth)."""
    return u._fill("_reads_mem",
                   lambda x: x.op in (Ops.INDEX, Ops.LOAD) or any(s.__dict__["_reads_mem"] for s in x.src))


def _ranges(valid: UOp, only_tighter: bool) -> dict[UOp, list[Any]] | None:
    """The ranges `valid` bounds its terms to; None if valid can never hold.

    only_tighter: only terms the clauses narrow (a fresh variable with the term's own range tells the rules nothing
    new, and sparing the substitution spares simplify_given_valid two simplify calls).
    """
    ranges: dict[UOp, list[Any]] = {}
    for clause in _clauses(valid):
        cb = _clause_bounds(clause)
        if cb is None:
            continue
        x, lo, hi = cb
        r = ranges.setdefault(x, [x.vmin, x.vmax])
        if lo is not None:
            r[0] = max(r[0], lo)
        if hi is not None:
            r[1] = min(r[1], hi)
    if any(lo > hi for lo, hi in ranges.values()):
        return None
    return {x: r for x, r in ranges.items() if (r[0], r[1]) != x.bounds} if only_tighter else ranges


def _fresh(ranges: dict[UOp, list[Any]]) -> dict[UOp, UOp]:
    """A fresh variable for each term, with its range."""
    return {x: UOp.variable(f"__valid{next(_gv_counter)}", lo, hi, x.dtype) for x, (lo, hi) in ranges.items()}


def _narrowing(valid: UOp, only_tighter: bool = False) -> dict[UOp, UOp] | None:
    """Fresh variables for the terms `valid` bounds, with the tighter ranges; None if valid can never hold."""
    ranges = _ranges(valid, only_tighter)
    return None if ranges is None else _fresh(ranges)


def simplify_given_valid(valid: UOp, expr: UOp) -> UOp:
    """Simplify `expr` where it is only used when `valid` holds (e.g. inside a padded region).

    Each bounded term X of `valid` is replaced by a fresh variable with X's tighter range, the result is
    simplified, and X put back: sound, since every value X takes under `valid` lies in that range.
    """
    fresh = _narrowing(valid, only_tighter=True)
    return _simplify_narrowed(expr, fresh) if fresh else expr  # empty: nothing to narrow, or valid never holds


def _simplify_narrowed(expr: UOp, fresh: dict[UOp, UOp], fixed: bool = False) -> UOp:
    """simplify_given_valid once its narrowing (term -> fresh variable with the tighter range) is known.

    fixed: expr is a fixed point of the rules (a rewritten source); then a narrowed form that simplifies to itself
    gives expr back at once (putting the terms back rebuilds expr, whose simplify is expr).
    """
    narrowed = substitute(expr, fresh)
    if narrowed is expr:
        return expr
    simple = simplify(narrowed)
    if fixed and simple is narrowed:
        return expr
    return simplify(substitute(simple, {v: x for x, v in fresh.items()}))


def bounds_given_valid(valid: UOp, expr: UOp) -> tuple[Any, Any] | None:
    """(vmin, vmax) of `expr` wherever `valid` holds; None if valid can never hold."""
    fresh = _narrowing(valid)
    if fresh is None:
        return None
    narrowed = simplify(substitute(expr, fresh)) if fresh else expr
    return narrowed.vmin, narrowed.vmax


def _where_given_valid(w: UOp, c: UOp, a: UOp, b: UOp) -> UOp | None:
    """where(c, a, b): simplify `a` knowing c; fires only if that makes the graph strictly smaller.

    Not through memory access: WHERE computes both branches, so a load inside `a` runs even where c is false;
    its address and gate must stay as they are (INDEX simplifies under its own gate instead).
    """
    if c.op is Ops.CONST:
        return None
    ranges = _ranges(c, only_tighter=True)  # before the walk over `a`: most conditions narrow nothing
    if not ranges or _reads_memory(a):
        return None
    a2 = _simplify_narrowed(a, _fresh(ranges), fixed=True)  # a is a rewritten source: a fixed point
    if a2 is a:
        return None
    # compare in the form the rules leave it in: simplify() may have kept a smaller non-canonical input that the
    # rewrite around us would canonicalize again (and grow), which would let this rule fire forever
    a2 = graph_rewrite(a2, symbolic, bottom_up=True)
    out = UOp(Ops.WHERE, w.dtype, (c, a2, b))
    return out if a2 is not a and out.op_count() < w.op_count() else None


# ---------------------------------------------------------------- the affine fast path
_AFFINE_OPS = frozenset({Ops.ADD, Ops.SUB, Ops.NEG, Ops.MUL})
_AFFINE_NODES = _AFFINE_OPS | {Ops.CONST, Ops.DEFINE_VAR, Ops.RANGE}  # anything else makes affine_simplify decline
_NO_TERMS: dict[UOp, int] = {}


def _affine_leaf(n: UOp) -> bool:
    """A variable or loop index that takes at least two values (no rule rewrites it)."""
    if n.op is _DEFINE_VAR:
        return n.arg[1] < n.arg[2]
    return n.op is Ops.RANGE and n.src[0].op is _CONST and type(n.src[0].arg) is int and n.src[0].arg >= 2


def affine_simplify(u: UOp) -> UOp | None:
    """What graph_rewrite(u, symbolic, bottom_up=True) returns, for affine index expressions, without rewriting.

    The domain: index-typed +, -, negation and products by a literal constant, over constants, variables and loop
    indices. Each node gets its linear form {base: k} + c; `(sum of several terms) * c` with |c| >= 2 stays one
    base, `(s') * c` with s' the canonical sum of s, as the rules keep it. Where the rules canonicalize a node on
    its own (the root; a product whose factor is written as a sum, which its parent's sum takes as one base),
    build_sum does here what their canonical_sum does there: it folds a coefficient k (|k| >= 2) into a product
    base, (s')*(c*k). The result is build_sum of the root's form.

    None (the rules decide) outside the domain and where the rules' result depends on the order they fire in:
    a product base left with coefficient -1 (a partial sum rebuilt on its own may turn it into (s')*-c), two
    different products becoming the same base, a product over a sum not written as a sum (a negated sum), a sum
    times +-1 or a constant on the left of a sum, values near the index type's limits.
    Checked against the rules on every affine case the symbolic fuzzer generates (mismatch:fast-path) and in
    tests/test_symbolic.py. A difference would not be unsound (both are correct simplifications), only two
    canonical forms for one expression.
    """
    forms: dict[UOp, tuple[dict[UOp, int], int]] = {}  # node -> (terms, constant); form dicts are never mutated
    origin: dict[UOp, UOp] = {}  # product base -> the raw product it stands for
    stack = [u]
    while stack:
        n = stack[-1]
        if n in forms:
            stack.pop()
            continue
        if n.dtype is not _INDEX:
            return None
        op = n.op
        if op is _CONST:
            if type(n.arg) is not int or not -_SAFE < n.arg < _SAFE:
                return None
            forms[n] = (_NO_TERMS, n.arg)
            stack.pop()
            continue
        if op is _DEFINE_VAR:
            if n.arg[1] >= n.arg[2]:
                return None  # one value: bounds_fold makes it a constant
            forms[n] = ({n: 1}, 0)
            stack.pop()
            continue
        if op not in _AFFINE_OPS:
            if not _affine_leaf(n):
                return None
            forms[n] = ({n: 1}, 0)
            stack.pop()
            continue
        src = n.src
        pending = False
        for s in src:
            if s not in forms:
                if s.op not in _AFFINE_NODES:
                    return None  # declined when it is reached anyway: say so before walking the rest
                stack.append(s)
                pending = True
        if pending:
            continue
        stack.pop()
        if op is _ADD or op is _SUB:
            (ta, ca), (tb, cb) = forms[src[0]], forms[src[1]]
            sign = 1 if op is _ADD else -1
            forms[n] = (_add_terms(ta, tb, sign), ca + sign * cb)
        elif op is _NEG:
            ta, ca = forms[src[0]]
            forms[n] = ({b: -k for b, k in ta.items()}, -ca)
        else:  # MUL
            a, b = src
            if b.op is _CONST:
                (tx, cx), c = forms[a], b.arg
            elif a.op is _CONST:
                (tx, cx), c = forms[b], a.arg
                if len(tx) > 1 or any(t.op is _MUL for t in tx):
                    return None  # c * (sum), c * (product base): the rules flatten it as a product
            else:
                return None  # not a product by a literal constant
            if c == 0:
                forms[n] = (_NO_TERMS, 0)
            elif len(tx) <= 1:  # one term: distributed, (x*a + b)*c -> x*(a*c) + b*c
                t = {b: k * c for b, k in tx.items()}
                cx *= c
                if not -_SAFE < cx < _SAFE or any(not -_SAFE < k < _SAFE for k in t.values()):
                    return None
                if (a.op is _ADD or a.op is _SUB) and any(t_.op is _MUL for t_ in t):
                    # (a sum) * c is a base of its parent's sum: the rules canonicalize it on its own first, which
                    # folds c into a product base here rather than together with the parent's coefficient (for
                    # c = +-1 they take other routes, not followed here)
                    if c == 1 or c == -1:
                        return None
                    t, cx = terms_of(build_sum(_INDEX, t, cx))
                    if any(t_.op is _MUL and origin.setdefault(t_, n) is not n for t_ in t):
                        return None  # the folded base also comes from another product
                forms[n] = (t, cx)
            else:
                if c == 1 or c == -1 or not -_SAFE < c < _SAFE or a.op not in (_ADD, _SUB) or \
                        any(k == -1 and t.op is _MUL for t, k in tx.items()):
                    return None
                inner = build_sum(_INDEX, tx, cx)
                if inner.op is not _ADD and inner.op is not _SUB:
                    return None
                atom = UOp(_MUL, _INDEX, (inner, UOp.const(_INDEX, c)))
                if origin.setdefault(atom, n) is not n:
                    return None  # two products that become one base: the rules merge them in an order-dependent way
                forms[n] = ({atom: 1}, 0)
    terms, const = forms[u]
    # sums only add: coefficients stay exact Python ints, and the rules' canonical_sum takes them as they are
    # unless the final ones leave the safe range
    if not -_SAFE < const < _SAFE or \
            any(not -_SAFE < k < _SAFE or (k == -1 and b.op is _MUL) for b, k in terms.items()):
        return None
    return build_sum(_INDEX, terms, const)


def simplify(u: UOp) -> UOp:
    """The symbolic simplification of `u` (idempotent; never increases op_count).

    Canonical sums can undo sharing ((x+y)+(x+y) is 2 ops, x*2+y*2 is 3): then the input is kept as it was.
    Affine index expressions take affine_simplify (the same result, without rewriting) unless rule hits are being
    counted or traced (engine.rewrite.RuleStats): then every expression goes through the rules.
    """
    out = None if RuleStats.enabled else affine_simplify(u)
    return _no_larger(u, out if out is not None else graph_rewrite(u, symbolic, bottom_up=True))


def simplify_fast(u: UOp) -> UOp | None:
    """What simplify(u) returns when it takes the affine fast path; None where that path declines."""
    out = affine_simplify(u)
    return None if out is None else _no_larger(u, out)


def _no_larger(u: UOp, out: UOp) -> UOp:
    if out is u or out.op in LEAF_OPS:  # nothing to count: the same graph, or a constant or variable (0 ops)
        return out
    return out if u.has_ops(out.op_count()) else u


def sym_infer(u: UOp, values: dict[Any, int]) -> Any:
    """Evaluate an expression with variables bound to `values` (by name) and loops and launch indices (RANGE and
    SPECIAL UOps, by the UOp), C semantics."""
    env: dict[UOp, Any] = {}
    for x in u.toposort:
        if x.op is Ops.CONST:
            env[x] = x.arg
        elif x.op is Ops.DEFINE_VAR:
            env[x] = values[x.arg[0]]
        elif x.op in (Ops.RANGE, Ops.SPECIAL):
            env[x] = values[x]
        else:
            env[x] = exec_alu(x.op, x.dtype, tuple(env[s] for s in x.src))
    return env[u]


__all__ = ["simplify", "simplify_fast", "affine_simplify", "simplify_given_valid", "symbolic", "terms_of", "build_sum",
           "fold_div", "fold_mod", "c_div", "sym_infer"]
