"""Symbolic cases <-> engine UOps: the plain JSON expression format of oracles.c_int, both ways."""

from __future__ import annotations

from typing import Any

from engine.dtype import dtypes
from engine.uop import Ops, UOp

Expr = list[Any]

_BINARY = {"ADD": Ops.ADD, "SUB": Ops.SUB, "MUL": Ops.MUL, "IDIV": Ops.IDIV, "MOD": Ops.MOD, "MAX": Ops.MAX,
           "MIN": Ops.MIN, "CMPLT": Ops.CMPLT, "CMPLE": Ops.CMPLE, "CMPNE": Ops.CMPNE, "CMPEQ": Ops.CMPEQ,
           "AND": Ops.AND, "OR": Ops.OR, "XOR": Ops.XOR, "SHL": Ops.SHL, "SHR": Ops.SHR}
_NAMES = {v: k for k, v in _BINARY.items()}


def to_uop(expr: Expr, bounds: dict[str, list[int]]) -> UOp:
    """Build the engine UOp of a JSON expression (no simplification happens on construction)."""
    return to_uop_nodes(expr, bounds)[id(expr)]


def to_uop_nodes(expr: Expr, bounds: dict[str, list[int]]) -> dict[int, UOp]:
    """The UOp of every node of a JSON expression, keyed by id(node)."""
    done: dict[int, UOp] = {}
    stack: list[tuple[Any, bool]] = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if not isinstance(node, list) or not node or not isinstance(node[0], str):
            raise ValueError(f"malformed expression node {node!r}")
        op, args = node[0], node[1:]
        if op == "var":
            name = args[0]
            if name not in bounds:
                raise ValueError(f"variable {name!r} has no bounds")
            lo, hi = bounds[name]
            done[id(node)] = UOp.variable(name, lo, hi)
            continue
        if op == "const":
            v = args[0]
            done[id(node)] = UOp.const(dtypes.bool if isinstance(v, bool) else dtypes.index, v)
            continue
        if not ready:
            stack.append((node, True))
            stack.extend((a, False) for a in args)
            continue
        srcs = [done[id(a)] for a in args]
        if op in _BINARY:
            if len(srcs) != 2:
                raise ValueError(f"{op} takes 2 operands, got {len(srcs)}")
            done[id(node)] = srcs[0].alu(_BINARY[op], srcs[1])
        elif op == "NEG":
            done[id(node)] = -srcs[0]
        elif op == "NOT":
            done[id(node)] = srcs[0].logical_not()
        elif op == "WHERE":
            done[id(node)] = srcs[0].where(srcs[1], srcs[2])
        elif op == "CAST_BOOL":
            done[id(node)] = srcs[0].cast(dtypes.bool)
        elif op == "CAST_INT":
            done[id(node)] = srcs[0].cast(dtypes.index)
        else:
            raise ValueError(f"unknown op {op!r} in symbolic expression")
    return done


def to_expr(u: UOp) -> Expr:
    """The JSON expression of an engine UOp (shared subgraphs are written out in full)."""
    out: dict[UOp, Expr] = {}
    for x in u.toposort:
        s = [out[y] for y in x.src]
        if x.op is Ops.CONST:
            out[x] = ["const", x.arg]
        elif x.op is Ops.DEFINE_VAR:
            out[x] = ["var", x.arg[0]]
        elif x.op is Ops.CMPNE and x.src[1].op is Ops.CONST and x.src[1].arg is True:
            out[x] = ["NOT", s[0]]
        elif x.op in _NAMES:
            out[x] = [_NAMES[x.op], *s]
        elif x.op is Ops.NEG:
            out[x] = ["NEG", s[0]]
        elif x.op is Ops.WHERE:
            out[x] = ["WHERE", *s]
        elif x.op is Ops.CAST:
            out[x] = ["CAST_BOOL" if x.dtype == dtypes.bool else "CAST_INT", s[0]]
        else:
            raise ValueError(f"op {x.op.name} has no symbolic-expression form")
    return out[u]


def subexpressions(expr: Expr) -> list[Expr]:
    """Every node of the tree, parents before children."""
    out, stack = [], [expr]
    while stack:
        node = stack.pop()
        out.append(node)
        if node[0] not in ("var", "const"):
            stack.extend(reversed(node[1:]))
    return out
