"""Smaller candidates of a symbolic case, biggest cuts first (the minimizer keeps those with the same failure)."""

from __future__ import annotations

import copy
from typing import Any, Iterator

from fuzz.symbolic.expr import int_dtype, to_uop_nodes
from oracles.c_int import check_int_types, expr_size, is_bool_expr, variables

Expr = list[Any]


def _paths(expr: Expr, prefix: tuple[int, ...] = ()) -> Iterator[tuple[tuple[int, ...], Expr]]:
    stack = [(prefix, expr)]
    while stack:
        path, node = stack.pop()
        yield path, node
        if node[0] not in ("var", "const"):
            for i in range(len(node) - 1, 0, -1):
                stack.append((path + (i,), node[i]))


def _replace(expr: Expr, path: tuple[int, ...], new: Expr) -> Expr:
    if not path:
        return new
    out = copy.copy(expr)
    out[path[0]] = _replace(expr[path[0]], path[1:], new)
    return out


def _const_shrinks(v: int) -> list[int]:
    out = [0, 1] if abs(v) > 1 else ([0] if v != 0 else [])
    if abs(v) > 2:
        out += [v // 2 if v > 0 else -((-v) // 2), v - 1 if v > 0 else v + 1]
    if v < 0:
        out.append(-v)
    return [c for c in dict.fromkeys(out) if c != v]


def _bound_shrinks(lo: int, hi: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    if lo < 0 < hi:
        out += [(0, hi), (lo, 0)]
    mid = lo + (hi - lo) // 2
    if hi - lo > 1:
        out += [(lo, mid), (mid, hi)]
    if hi > lo:
        out += [(lo + 1, hi), (lo, hi - 1), (lo, lo), (hi, hi)]
    return [b for b in dict.fromkeys(out) if b != (lo, hi)]


def _ranges(case: dict[str, Any]) -> dict[int, tuple[int, int]]:
    """The engine's range of every integer node (by id), for the cut that puts a fresh variable in its place: a
    wrong range only makes a candidate the minimizer rejects (it must still fail the same way)."""
    try:
        nodes = to_uop_nodes(case["expr"], case["vars"], dtype=int_dtype(case))
    except (ValueError, OverflowError):
        return {}
    out = {}
    for key, u in nodes.items():
        lo, hi = u.vmin, u.vmax
        if type(lo) is int and type(hi) is int and lo <= hi:
            out[key] = (lo, hi)
    return out


def reductions(case: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Candidates: a subtree replaced by a child, a constant, a variable, or a fresh variable ranging over the
    subtree's values (the outer rule usually needs only that range); smaller constants; narrower bounds. A
    fixed-width case's candidates keep its constants and ranges in its type; casts through a fixed-width type stay
    read through CAST_INT."""
    for smaller in _reductions(case):
        try:
            check_int_types(case.get("dtype"), smaller["vars"], smaller["expr"])
        except ValueError:
            continue
        yield smaller


def _reductions(case: dict[str, Any]) -> Iterator[dict[str, Any]]:
    expr, bounds = case["expr"], case["vars"]
    names = sorted(bounds)
    ranges = _ranges(case)
    fresh = next(f"r{k}" for k in range(len(names) + 1) if f"r{k}" not in bounds)
    for path, node in _paths(expr):
        if node[0] in ("var", "const"):
            continue
        want_bool = is_bool_expr(node)
        for child in node[1:]:
            if is_bool_expr(child) == want_bool:
                yield {**case, "expr": _replace(expr, path, child)}
        repl: list[Expr] = [["const", False], ["const", True]] if want_bool else \
            [["const", 0], ["const", 1]] + [["var", n] for n in names]
        for r in repl:
            yield {**case, "expr": _replace(expr, path, r)}
        if not want_bool and id(node) in ranges:
            lo, hi = ranges[id(node)]
            yield {**case, "expr": _replace(expr, path, ["var", fresh]), "vars": {**bounds, fresh: [lo, hi]}}
            for c in dict.fromkeys((lo, hi)):
                if c not in (0, 1):
                    yield {**case, "expr": _replace(expr, path, ["const", c])}
    for path, node in _paths(expr):
        if node[0] == "const" and not isinstance(node[1], bool):
            for v in _const_shrinks(node[1]):
                yield {**case, "expr": _replace(expr, path, ["const", v])}
    used = variables(expr)
    if set(bounds) - used:
        yield {**case, "vars": {n: b for n, b in bounds.items() if n in used}}
    for n in names:
        for lo, hi in _bound_shrinks(*bounds[n]):
            yield {**case, "vars": {**bounds, n: [lo, hi]}}


def case_size(case: dict[str, Any]) -> int:
    """Nodes first, then the widths of the variables' ranges, then the magnitude of constants."""
    consts = sum(min(abs(n[1]), 999) for _, n in _paths(case["expr"]) if n[0] == "const" and not isinstance(n[1], bool))
    widths = sum(min(hi - lo, 9999) for lo, hi in case["vars"].values())
    return expr_size(case["expr"]) * 10**8 + widths * 10**3 + consts
