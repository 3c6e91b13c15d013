"""Exhaustive reference for symbolic expressions on small domains: every point evaluated at once with numpy.

On a finite domain, checking every point is a proof, and for small domains it is far cheaper than Z3.
Semantics are those of `oracles.c_int` (C truncation, sign of the dividend, 0 by a zero divisor). Each distinct
node (by identity: pass the original and the simplified expression with shared subtrees to share the work) is
evaluated once, on the variables it depends on only (numpy broadcasting over one axis per variable, no meshgrid).
Values are
exact: an interval pass (this module's own, over Python ints) bounds every intermediate value and picks int32
when it provably fits, int64 otherwise; beyond int64 it raises `Overflow` (use Z3 instead).

A fixed-width case (`dtype`, oracles.c_int.FIXED_WIDTH) is evaluated in int64 and every int result wrapped to the
type: numpy's int64 +, - and * are exact modulo 2**64, hence modulo 2**bits (bits <= 32), and the operands of //
and % are wrapped values, whose quotient int64 holds exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from oracles.c_int import ARITY, FIXED_WIDTH, SHIFTS, TRUNCS, check_bounds, check_node, int_range, shift_amount
from oracles.z3_ref import ProofResult

Expr = list[Any]
Interval = tuple[int, int]
# every intermediate value stays below twice a node's magnitude (see _divide), so these leave a factor 2 spare
_INT32_SAFE = 1 << 30
_INT64_SAFE = 1 << 62
_BLOCK_POINTS = 1 << 14  # up to this domain size, bounds claims are checked in one block (see _spans)


class Overflow(Exception):
    """An intermediate value might not fit in int64: this oracle cannot answer exactly."""


def domain_size(bounds: Mapping[str, Sequence[int]]) -> int:
    """Number of points in the box of variable bounds."""
    return math.prod(max(hi - lo + 1, 0) for lo, hi in check_bounds(bounds).values())


def _mag(iv: tuple[int, int]) -> int:
    return max(-iv[0], iv[1])


def _and(a: Any, b: Any) -> Any:
    """Conjunction of definedness masks, None meaning defined everywhere."""
    if a is None:
        return b
    return a if b is None else a & b


class _TooWide(Exception):
    """Some value might not fit the dtype tried: evaluate again with a wider one."""


_ARITH = {"ADD": np.add, "SUB": np.subtract, "MUL": np.multiply, "MAX": np.maximum, "MIN": np.minimum}
_CMP = {"CMPLT": np.less, "CMPLE": np.less_equal, "CMPNE": np.not_equal, "CMPEQ": np.equal}
_LOGIC = {"AND": np.logical_and, "OR": np.logical_or, "XOR": np.logical_xor}
_BITWISE = {"AND": np.bitwise_and, "OR": np.bitwise_or, "XOR": np.bitwise_xor}
_UNARY = ("NEG", "NOT", "CAST_BOOL", "CAST_INT", *TRUNCS)
_INT_BINARY = frozenset(("ADD", "SUB", "MUL", "MAX", "MIN", "IDIV", "MOD"))
_BOOL = np.dtype(np.bool_)  # dtype objects of builtin types are singletons: compared with `is`


def _interval(op: str, a: Interval, b: Interval) -> Interval:
    """A sound interval of a binary int op's result from its operands' intervals (exact Python ints)."""
    if op == "ADD":
        return a[0] + b[0], a[1] + b[1]
    if op == "SUB":
        return a[0] - b[1], a[1] - b[0]
    if op == "MUL":
        ends = (a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1])
        return min(ends), max(ends)
    if op == "MAX":
        return max(a[0], b[0]), max(a[1], b[1])
    if op == "MIN":
        return min(a[0], b[0]), min(a[1], b[1])
    if op == "IDIV":
        if a[0] >= 0 and b[0] >= 1:
            return a[0] // b[1], a[1] // b[0]
        return -_mag(a), _mag(a)  # |a / b| <= |a| wherever b != 0
    m = min(_mag(a), max(_mag(b) - 1, 0))  # MOD: |r| <= |a| and |r| < |b|, with the sign of a
    return (0 if a[0] >= 0 else -m), (0 if a[1] <= 0 else m)


def _bit_interval(op: str, a: Interval, b: Interval) -> Interval:
    """A sound interval of a bitwise and/or/xor of two ints: with both >= 0, and is at most the smaller maximum and
    or/xor below the next power of two; an and with one operand >= 0 lies in [0, its maximum]; else the n-bit range
    that holds both operands holds the result."""
    if a[0] >= 0 and b[0] >= 0:
        return (0, min(a[1], b[1])) if op == "AND" else (0, (1 << max(a[1], b[1]).bit_length()) - 1)
    if op == "AND" and (a[0] >= 0 or b[0] >= 0):
        return 0, a[1] if a[0] >= 0 else b[1]
    n = max(_mag(a), _mag(b)).bit_length()
    return -(1 << n), (1 << n) - 1


class Evaluation:
    """Values, definedness masks and sound intervals of every node of some expressions over the whole domain.

    Axis i of `shape` is variable `names[i]`; `memo[id(node)]` is (values broadcastable to `shape`, defined
    mask or None for everywhere, lo, hi). Raises Overflow where int64 might not hold a value exactly.
    """

    def __init__(self, bounds: Mapping[str, Sequence[int]], roots: Sequence[Expr], dtype: str | None = None) -> None:
        self.bounds = check_bounds(bounds)
        self.names = sorted(self.bounds)
        self.shape = tuple(self.bounds[n][1] - self.bounds[n][0] + 1 for n in self.names)
        self.width = FIXED_WIDTH[dtype] if dtype is not None else None  # (bits, signed) of a fixed-width case
        if dtype is not None:
            self.tmin, self.tmax = int_range(dtype)
            with np.errstate(over="ignore"):  # int64 wraps on purpose: the results are wrapped to the type
                self._run(roots, np.int64, 1 << 80)
            return
        try:
            self._run(roots, np.int32, _INT32_SAFE)
        except _TooWide:
            try:
                self._run(roots, np.int64, _INT64_SAFE)
            except _TooWide as e:
                raise Overflow(f"{e} might not fit in int64") from None

    def _run(self, roots: Sequence[Expr], dt: type, limit: int) -> None:
        self.dt, self.limit = dt, limit
        self.sign_shift = dt(np.iinfo(dt).bits - 1)
        self.axes: dict[str, Any] = {}
        for i, name in enumerate(self.names):
            lo, hi = self.bounds[name]
            if _mag((lo, hi)) >= limit:
                raise _TooWide(f"variable {name!r}")
            shape = [-1 if j == i else 1 for j in range(len(self.names))]
            self.axes[name] = np.arange(lo, hi + 1, dtype=dt).reshape(shape)
        self.memo: dict[int, tuple[Any, Any, int, int]] = {}
        for r in roots:
            self._eval(r)

    def _eval(self, node: Any) -> tuple[Any, Any, int, int]:
        """The memo entry of a node, evaluating it (operands first) the first time it is seen."""
        r = self.memo.get(id(node))
        if r is not None:
            return r
        if isinstance(node, (list, tuple)) and len(node) > 1 and type(node[0]) is str and \
                ARITY.get(node[0]) == len(node) - 1:
            r = self._node(node[0], node)
            self._check_fits(node[0], r[2], r[3])
        else:
            op, args = check_node(node)  # a leaf, or a malformed node (raises, naming it)
            r = self._leaf(op, args[0])
        self.memo[id(node)] = r
        return r

    def _fit(self, v: Any, defined: Any, lo: int, hi: int, to: str | None = None) -> tuple[Any, Any, int, int]:
        """An int result as its case holds it: wrapped to its fixed-width type (or to `to`) where its interval
        leaves the type."""
        if to is None:
            if self.width is None:
                return v, defined, lo, hi
            (bits, signed), tmin, tmax = self.width, self.tmin, self.tmax
        else:
            (bits, signed), (tmin, tmax) = FIXED_WIDTH[to], int_range(to)
        if tmin <= lo and hi <= tmax:
            return v, defined, lo, hi
        if 1 << bits > 2 * self.limit:  # int32 evaluation of a cast to a 32-bit type that wraps: in int64 instead
            raise _TooWide(f"a cast to {to}")
        half = self.dt(1 << (bits - 1))
        mask = self.dt((1 << bits) - 1)
        return (((v + half) & mask) - half if signed else v & mask), defined, tmin, tmax

    def _check_fits(self, op: str, lo: int, hi: int) -> None:
        if lo <= -self.limit or hi >= self.limit:
            raise _TooWide(f"{op} values in [{lo}, {hi}]")

    def _leaf(self, op: str, v: Any) -> tuple[Any, Any, int, int]:
        if op == "var":
            if v not in self.axes:
                raise ValueError(f"var: variable {v!r} has no bounds")
            lo, hi = self.bounds[v]
            return self.axes[v], None, lo, hi
        if isinstance(v, bool):
            return np.bool_(v), None, int(v), int(v)
        if abs(v) >= self.limit:
            raise _TooWide(f"constant {v}")
        return self.dt(v), None, v, v

    def _int(self, v: Any) -> Any:
        return v.astype(self.dt) if v.dtype is _BOOL else v

    def _node(self, op: str, node: Sequence[Any]) -> tuple[Any, Any, int, int]:
        x = self._eval(node[1])
        if op in _INT_BINARY:  # the common case first
            y = self._eval(node[2])
            defined = y[1] if x[1] is None else x[1] if y[1] is None else x[1] & y[1]
            lo, hi = _interval(op, x[2:], y[2:])
            self._check_fits(op, lo, hi)  # before numpy computes a value that wraps
            a = x[0] if x[0].dtype is not _BOOL else x[0].astype(self.dt)
            b = y[0] if y[0].dtype is not _BOOL else y[0].astype(self.dt)
            if op in _ARITH:
                return self._fit(_ARITH[op](a, b), defined, lo, hi)
            q, defined = self._divide(a, b, x[2], y[2], y[3], defined)
            if op == "IDIV":
                return self._fit(q, defined, lo, hi)
            r = a - q * b
            return self._fit(np.where(b != 0, r, self.dt(0)) if y[2] <= 0 <= y[3] else r, defined, lo, hi)
        if op in SHIFTS:
            k = shift_amount(op, node[2])
            xv, lo, hi = self._int(x[0]), x[2], x[3]
            if op == "SHL":
                self._check_fits(op, lo << k, hi << k)
                return self._fit(xv << self.dt(k), x[1], lo << k, hi << k)
            return xv >> self.dt(k), x[1], lo >> k, hi >> k  # >> on signed ints is floor, as in c_int
        if op in _UNARY:
            if op == "NEG":
                return self._fit(-self._int(x[0]), x[1], -x[3], -x[2])
            if op == "NOT":
                return np.logical_not(x[0]), x[1], 0, 1
            if op == "CAST_BOOL":
                return x[0] != 0, x[1], 0, 1
            if op != "CAST_INT":  # TRUNC_<type>
                return self._fit(self._int(x[0]), x[1], x[2], x[3], op[6:].lower())
            return self._fit(self._int(x[0]), x[1], x[2], x[3])
        y = self._eval(node[2])
        if op == "WHERE":
            return self._where(x, y, self._eval(node[3]))
        defined = _and(x[1], y[1])
        if op in _CMP:
            return _CMP[op](self._int(x[0]), self._int(y[0])), defined, 0, 1
        if x[0].dtype is _BOOL or y[0].dtype is _BOOL:
            return _LOGIC[op](x[0], y[0]), defined, 0, 1
        lo, hi = _bit_interval(op, x[2:], y[2:])  # ints: bitwise, the same bits in int32/int64 as unbounded
        return self._fit(_BITWISE[op](self._int(x[0]), self._int(y[0])), defined, lo, hi)

    def _where(self, c: tuple, a: tuple, b: tuple) -> tuple[Any, Any, int, int]:
        av, bv = a[0], b[0]
        if av.dtype is not _BOOL or bv.dtype is not _BOOL:
            av, bv = self._int(av), self._int(bv)
        ad, bd = a[1], b[1]
        # a division in the branch not taken does not matter
        branch = ad if ad is bd else np.where(c[0], True if ad is None else ad, True if bd is None else bd)
        return np.where(c[0], av, bv), _and(c[1], branch), min(a[2], b[2]), max(a[3], b[3])

    def _divide(self, a: Any, b: Any, alo: int, blo: int, bhi: int, defined: Any) -> tuple[Any, Any]:
        """C's truncating quotient (and where it is defined) from numpy's floor division; 0 by a zero divisor."""
        dt = self.dt
        if blo <= 0 <= bhi:  # the divisor may be 0: divide by 1 there, then give 0
            nz = b != 0
            b1 = np.where(nz, b, dt(1))
            q = a // b1
            q = q + (((a - q * b1) != 0) & ((a ^ b1) < 0)).astype(dt)  # floor to truncation, as below
            return np.where(nz, q, dt(0)), defined
        if alo >= 0 and blo >= 1:
            return a // b, defined  # floor is truncation here
        if blo == bhi and blo != 0:
            # one divisor n: (a + (|n| - 1 if a < 0 else 0)) // |n| truncates; a >> (bits - 1) is 0 or -1
            n = dt(abs(blo))
            q = (a + ((a >> self.sign_shift) & (n - dt(1)))) // n
            return (q if blo > 0 else -q), defined
        q = a // b
        # floor is one below truncation where the quotient is negative and inexact
        return q + (((a - q * b) != 0) & ((a ^ b) < 0)).astype(dt), defined

    def value(self, node: Expr) -> tuple[Any, Any]:
        """(values, defined) of an evaluated node, broadcastable to the domain's shape; defined None: everywhere."""
        v = self.memo[id(node)]
        return v[0], v[1]

    def interval(self, node: Expr) -> Interval:
        """This oracle's own sound bounds of an evaluated node (bools as 0/1)."""
        v = self.memo[id(node)]
        return v[2], v[3]

    def point(self, mask: Any) -> dict[str, int]:
        """The first point of the domain where a (broadcastable) mask holds."""
        full = np.broadcast_to(mask, self.shape)
        idx = np.unravel_index(int(np.argmax(full)), self.shape)
        return {n: self.bounds[n][0] + int(i) for n, i in zip(self.names, idx)}

    def at(self, node: Expr, env: Mapping[str, int]) -> int | bool | None:
        """The value of an evaluated node at one point (None where it divides by zero)."""
        v, d = self.memo[id(node)][:2]
        idx = tuple(env[n] - self.bounds[n][0] for n in self.names)
        if d is not None and not np.broadcast_to(d, self.shape)[idx]:
            return None
        x = np.broadcast_to(v, self.shape)[idx]
        return bool(x) if v.dtype == np.bool_ else int(x)


def _range(v: Any, d: Any) -> tuple[int, int] | None:
    """(min, max) of the values at defined points (None if no point is defined), bools as 0/1."""
    if d is not None:
        v, d = np.broadcast_arrays(v, d)
        v = v[d]
        if v.size == 0:
            return None
    return int(np.minimum.reduce(v, axis=None)), int(np.maximum.reduce(v, axis=None))


def _spans(ev: Evaluation, nodes: list[Expr]) -> dict[int, tuple[int, int]]:
    """(min, max) of the nodes defined everywhere, from one block: one reduction for all instead of two each."""
    plain = list({id(x): x for x in nodes if ev.value(x)[1] is None}.values())
    if not plain:
        return {}
    block: np.ndarray = np.empty((len(plain), *ev.shape), dtype=ev.dt)
    for i, x in enumerate(plain):
        block[i] = ev.value(x)[0]
    flat = block.reshape(len(plain), -1)
    return {id(x): (lo, hi) for x, lo, hi in zip(plain, flat.min(axis=1).tolist(), flat.max(axis=1).tolist())}


def check_all(bounds: Mapping[str, Sequence[int]], original: Expr, simplified: Expr,
              ranges: Sequence[tuple[Expr, int | None, int | None]] = (), dtype: str | None = None) -> ProofResult:
    """The claims of `Z3Checker.prove_all`, decided by evaluating every point (raises Overflow if inexact); `dtype`:
    the fixed-width type of the case's ints (None: unbounded ints).

    Nodes are shared by identity: give `simplified` the same list objects as `original` where they agree
    (`simplified is original` skips the equality check).
    """
    n = domain_size(bounds)
    if n == 0:
        return ProofResult("proven", None, "empty domain")
    ev = Evaluation(bounds, [original, simplified, *(node for node, _, _ in ranges)], dtype)
    if simplified is not original:
        o, od = ev.value(original)
        s, sd = ev.value(simplified)
        if o.dtype != s.dtype:
            o, s = ev._int(o), ev._int(s)
        bad = o != s if sd is None else np.logical_not(sd) | (o != s)
        bad = _and(od, bad)
        if bad.any():
            env = ev.point(bad)
            got = ev.at(simplified, env)
            if got is None:
                return ProofResult("counterexample", env, "simplified divides by zero")
            return ProofResult("counterexample", env, f"original = {ev.at(original, env)!r}, simplified = {got!r}")
    bad = _first_unsound(ev, ranges, n)
    return bad[1] if bad is not None else ProofResult("proven", None, f"all {n} points checked")


def first_unsound(bounds: Mapping[str, Sequence[int]], ranges: Sequence[tuple[Expr, int | None, int | None]],
                  dtype: str | None = None) -> tuple[int, ProofResult] | None:
    """The first of the claims (node, lo, hi) whose node leaves [lo, hi] somewhere in the domain, as (its position,
    a counterexample); None if every claim holds. One evaluation of all the nodes (raises Overflow if inexact)."""
    ev = Evaluation(bounds, [node for node, _, _ in ranges], dtype)
    return _first_unsound(ev, ranges, domain_size(bounds))


def _first_unsound(ev: Evaluation, ranges: Sequence[tuple[Expr, int | None, int | None]],
                   n: int) -> tuple[int, ProofResult] | None:
    # a claim this oracle's own sound interval already satisfies needs no pass over the values (bools: 0 or 1)
    claims = [(i, node, lo, hi) for i, (node, lo, hi) in enumerate(ranges) if not (
        (lo is None or ev.memo[id(node)][2] >= lo) and (hi is None or ev.memo[id(node)][3] <= hi))]
    spans = _spans(ev, [node for _, node, _, _ in claims]) if n <= _BLOCK_POINTS else {}
    for i, node, lo, hi in claims:
        v, d = ev.value(node)
        span = spans[id(node)] if id(node) in spans else _range(v, d)
        if span is None or (lo is None or span[0] >= lo) and (hi is None or span[1] <= hi):
            continue
        out = (v < lo if lo is not None else False) | (v > hi if hi is not None else False)
        env = ev.point(_and(d, out))
        return i, ProofResult("counterexample", env, f"value {int(ev.at(node, env) or 0)} outside [{lo}, {hi}]")
    return None
