"""Symbolic cases <-> engine UOps: the plain JSON expression format of oracles.c_int, both ways.

A case's ints are of the engine's index type, or of the fixed-width type the case names (its "dtype": every
variable, int constant and cast to int of that type)."""

from __future__ import annotations

from typing import Any

from engine.dtype import DType, dtypes
from engine.uop import Ops, UOp
from oracles.c_int import FIXED_WIDTH, TRUNCS, check_node

Expr = list[Any]

_BINARY = {"ADD": Ops.ADD, "SUB": Ops.SUB, "MUL": Ops.MUL, "IDIV": Ops.IDIV, "MOD": Ops.MOD, "MAX": Ops.MAX,
           "MIN": Ops.MIN, "CMPLT": Ops.CMPLT, "CMPLE": Ops.CMPLE, "CMPNE": Ops.CMPNE, "CMPEQ": Ops.CMPEQ,
           "AND": Ops.AND, "OR": Ops.OR, "XOR": Ops.XOR, "SHL": Ops.SHL, "SHR": Ops.SHR}
_NAMES = {v: k for k, v in _BINARY.items()}
_COMPARISONS = frozenset({Ops.CMPLT, Ops.CMPLE, Ops.CMPNE, Ops.CMPEQ})
_BOOL = dtypes.bool


def int_dtype(case: dict[str, Any]) -> DType:
    """The engine dtype of a case's ints: index, or the fixed-width type it names."""
    name = case.get("dtype")
    return dtypes.index if name is None else getattr(dtypes, name)


def to_uop(expr: Expr, bounds: dict[str, list[int]], dtype: DType = dtypes.index) -> UOp:
    """Build the engine UOp of a JSON expression (no simplification happens on construction)."""
    return to_uop_nodes(expr, bounds, dtype=dtype)[id(expr)]


def to_uop_dag(expr: Expr, bounds: dict[str, list[int]], dtype: DType = dtypes.index) -> tuple[UOp, dict[UOp, Expr]]:
    """The UOp of a JSON expression, and for each distinct UOp in it one node of `expr` that builds it.

    The map is the memo `to_expr` takes: converting a rewritten UOp with it shares these very lists.
    """
    json_of: dict[UOp, Expr] = {}
    return to_uop_nodes(expr, bounds, json_of, dtype)[id(expr)], json_of


def to_uop_nodes(expr: Expr, bounds: dict[str, list[int]], json_of: dict[UOp, Expr] | None = None,
                 dtype: DType = dtypes.index) -> dict[int, UOp]:
    """The UOp of every node of a JSON expression, keyed by id(node), its ints of `dtype`; ValueError naming a
    malformed node.

    With `json_of`, each distinct UOp is also mapped to the first node that built it.
    """
    done: dict[int, UOp] = {}
    leaves: dict[tuple[str, Any, type], UOp] = {}
    # iterative post-order (no recursive closure: that would be a reference cycle left to the garbage collector)
    stack: list[tuple[Any, bool]] = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if not ready:
            if type(node) is list and len(node) == 3 and type(node[0]) is str and node[0] in _BINARY:  # no check_node
                args = node[1:]
            else:
                op, args = check_node(node)
                if op == "var" or op == "const":
                    key = (op, args[0], type(args[0]))  # True and 1 are different constants
                    u = leaves.get(key)
                    if u is None:
                        u = leaves[key] = _leaf(op, args[0], bounds, dtype)
                    done[id(node)] = u
                    continue
            stack.append((node, True))
            for a in reversed(args):
                if id(a) not in done:
                    stack.append((a, False))
            continue
        srcs = [done[id(a)] for a in node[1:]]
        bop = _BINARY.get(node[0]) if len(srcs) == 2 else None
        if bop is not None and srcs[0].dtype is srcs[1].dtype:  # same dtype: no UOp.alu promotion needed
            done[id(node)] = UOp(bop, _BOOL if bop in _COMPARISONS else srcs[0].dtype, (srcs[0], srcs[1]))
        else:
            done[id(node)] = _build_op(node[0], srcs, dtype)
    if json_of is not None:
        for node in subexpressions(expr):
            u = done[id(node)]
            if u not in json_of:
                json_of[u] = node
    return done


def _leaf(op: str, v: Any, bounds: dict[str, list[int]], dtype: DType) -> UOp:
    if op == "const":
        return UOp.const(dtypes.bool if isinstance(v, bool) else dtype, v)
    if v not in bounds:
        raise ValueError(f"variable {v!r} has no bounds")
    lo, hi = bounds[v]
    return UOp.variable(v, lo, hi, dtype)


def _build_op(op: str, srcs: list[UOp], dtype: DType) -> UOp:
    if op in _BINARY:
        return srcs[0].alu(_BINARY[op], srcs[1])
    if op == "NEG":
        return -srcs[0]
    if op == "NOT":
        return srcs[0].logical_not()
    if op == "WHERE":
        return srcs[0].where(srcs[1], srcs[2])
    if op in ("CAST_BOOL", "CAST_INT"):  # built as written: a cast to the operand's own dtype is kept (cast_same)
        return UOp(Ops.CAST, dtypes.bool if op == "CAST_BOOL" else dtype, (srcs[0],))
    if op in TRUNCS:
        return UOp(Ops.CAST, getattr(dtypes, op[6:].lower()), (srcs[0],))
    raise ValueError(f"unknown op {op!r} in symbolic expression")


def to_expr(u: UOp, memo: dict[UOp, Expr] | None = None, dtype: DType | None = None) -> Expr:
    """The JSON expression of an engine UOp: one list per distinct UOp, shared where the graph shares it; with
    `dtype`, ValueError for an int of another type (the JSON form has one int type).

    With `memo`, UOps converted before (e.g. the original's, when converting the simplified expression)
    give the same list objects, so evaluators that memoize by node identity do the shared work once.
    """
    out: dict[UOp, Expr] = {} if memo is None else memo
    for x in u.toposort:
        if x in out:
            continue
        if dtype is not None and x.dtype is not dtype and x.dtype is not _BOOL and not \
                (x.op is Ops.CAST and x.dtype.name in FIXED_WIDTH):
            raise ValueError(f"{x.op.name} of dtype {x.dtype.name} in an expression of {dtype.name}")
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
            kind = "CAST_BOOL" if x.dtype == dtypes.bool else "CAST_INT"
            if dtype is not None and x.dtype is not dtype and x.dtype.name in FIXED_WIDTH:
                kind = f"TRUNC_{x.dtype.name.upper()}"  # a cast through another fixed-width type
            out[x] = [kind, s[0]]
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
