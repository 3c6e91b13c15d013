"""Exhaustive reference for symbolic expressions on small domains: every point evaluated at once with numpy.

On a finite domain, checking every point is a proof, and for small domains it is far cheaper than Z3.
Semantics are those of `oracles.c_int` (C truncation, sign of the dividend); values are exact int64,
and an expression whose intermediate values could leave int64 raises `Overflow` (use Z3 instead).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from oracles.c_int import check_bounds, check_node, shift_amount
from oracles.z3_ref import ProofResult

Expr = list[Any]
_LIMIT = 1 << 62


class Overflow(Exception):
    """An intermediate value might not fit in int64: this oracle cannot answer exactly."""


def domain_size(bounds: Mapping[str, Sequence[int]]) -> int:
    """Number of points in the box of variable bounds."""
    return math.prod(max(hi - lo + 1, 0) for lo, hi in check_bounds(bounds).values())


def grid(bounds: Mapping[str, Sequence[int]]) -> dict[str, np.ndarray]:
    """Every point of the domain, one flat int64 array per variable."""
    checked = check_bounds(bounds)
    names = sorted(checked)
    axes = [np.arange(lo, hi + 1, dtype=np.int64) for lo, hi in (checked[n] for n in names)]
    if not axes:
        return {}
    mesh = np.meshgrid(*axes, indexing="ij")
    return {n: m.ravel() for n, m in zip(names, mesh)}


def _mag(a: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int64)).max()) if a.size else 0


def evaluate_all(expr: Expr, env: Mapping[str, np.ndarray], npoints: int,
                 memo: dict[int, tuple[np.ndarray, np.ndarray]] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(values, defined) at every point; memo keeps every node's result under id(node)."""
    memo = {} if memo is None else memo
    stack: list[tuple[Expr, bool]] = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if id(node) in memo:
            continue
        op, args = check_node(node)
        if op == "var":
            memo[id(node)] = (env[args[0]], np.ones(npoints, dtype=bool))
            continue
        if op == "const":
            v = args[0]
            arr = np.full(npoints, v, dtype=bool if isinstance(v, bool) else np.int64)
            memo[id(node)] = (arr, np.ones(npoints, dtype=bool))
            continue
        if not ready:
            stack.append((node, True))
            stack.extend((a, False) for a in args if isinstance(a, list) and id(a) not in memo)
            continue
        memo[id(node)] = _apply(op, args, memo, npoints)
    return memo[id(expr)]


def _apply(op: str, args: list, memo: dict, npoints: int) -> tuple[np.ndarray, np.ndarray]:
    if op in ("SHL", "SHR"):
        x, d = memo[id(args[0])]
        k = shift_amount(op, args[1])
        x = x.astype(np.int64)
        if op == "SHL":
            if _mag(x) >= _LIMIT >> k:
                raise Overflow(op)
            return x << k, d
        return x >> k, d
    vals = [memo[id(a)][0] for a in args]
    defined = memo[id(args[0])][1]
    for a in args[1:]:
        defined = defined & memo[id(a)][1]
    if op == "WHERE":
        c, a, b = vals
        cd = memo[id(args[0])][1]
        ad, bd = memo[id(args[1])][1], memo[id(args[2])][1]
        if a.dtype != b.dtype:
            a, b = a.astype(np.int64), b.astype(np.int64)
        return np.where(c, a, b), cd & np.where(c, ad, bd)
    if op == "NOT":
        return ~vals[0], defined
    if op in ("AND", "OR", "XOR"):
        f = {"AND": np.logical_and, "OR": np.logical_or, "XOR": np.logical_xor}[op]
        return f(vals[0], vals[1]), defined
    if op == "CAST_BOOL":
        return vals[0] != 0, defined
    ints = [v.astype(np.int64) if v.dtype == np.bool_ else v for v in vals]
    if op in ("CAST_INT",):
        return ints[0], defined
    if op == "NEG":
        return -ints[0], defined
    a, b = ints
    if op == "ADD":
        if _mag(a) + _mag(b) >= _LIMIT:
            raise Overflow(op)
        return a + b, defined
    if op == "SUB":
        if _mag(a) + _mag(b) >= _LIMIT:
            raise Overflow(op)
        return a - b, defined
    if op == "MUL":
        if _mag(a) * _mag(b) >= _LIMIT:
            raise Overflow(op)
        return a * b, defined
    if op in ("IDIV", "MOD"):
        nz = b != 0
        bs = np.where(nz, b, 1)
        q = np.abs(a) // np.abs(bs)
        q = np.where((a < 0) != (bs < 0), -q, q)
        return (q if op == "IDIV" else a - bs * q), defined & nz
    if op == "MAX":
        return np.maximum(a, b), defined
    if op == "MIN":
        return np.minimum(a, b), defined
    cmp = {"CMPLT": np.less, "CMPLE": np.less_equal, "CMPNE": np.not_equal, "CMPEQ": np.equal}[op]
    return cmp(a, b), defined


def _point(env: Mapping[str, np.ndarray], i: int) -> dict[str, int]:
    return {n: int(v[i]) for n, v in env.items()}


def check_all(bounds: Mapping[str, Sequence[int]], original: Expr, simplified: Expr,
              ranges: Sequence[tuple[Expr, int | None, int | None]] = ()) -> ProofResult:
    """The claims of `Z3Checker.prove_all`, decided by evaluating every point (raises Overflow if inexact)."""
    env = grid(bounds)
    n = domain_size(bounds)
    memo: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    o, od = evaluate_all(original, env, n, memo)
    s, sd = evaluate_all(simplified, env, n, memo)
    bad = od & (~sd | (o.astype(np.int64) != s.astype(np.int64)))
    if bad.any():
        i = int(np.argmax(bad))
        reason = "simplified divides by zero" if not sd[i] else f"original = {o[i]!r}, simplified = {s[i]!r}"
        return ProofResult("counterexample", _point(env, i), reason)
    for node, lo, hi in ranges:
        v, d = evaluate_all(node, env, n, memo)
        v = v.astype(np.int64)
        out = np.zeros(n, dtype=bool)
        if lo is not None:
            out |= v < lo
        if hi is not None:
            out |= v > hi
        out &= d
        if out.any():
            i = int(np.argmax(out))
            return ProofResult("counterexample", _point(env, i), f"value {int(v[i])} outside [{lo}, {hi}]")
    return ProofResult("proven", None, f"all {n} points checked")
