"""Pure-Python reference for symbolic index expressions in the plain JSON format, with C integer semantics.

An expression is a nested list: ``["var", name]``, ``["const", int | bool]`` or ``[OP, arg, ...]``.
Integers are unbounded; IDIV truncates toward zero and MOD takes the sign of the dividend (C); by a zero
divisor both give 0 (numpy's result, which the engine's kernels compute on every device).
Where an int is expected a bool is accepted as 0/1 (as in C); where a bool is expected only a bool is. AND, OR and
XOR of bools are logical, of two ints bitwise (two's complement).

A case may instead be of a fixed-width integer type (FIXED_WIDTH: int8 ... uint32): every int value is of that
type, constants and variable ranges lie in it, and each +, -, *, negation, //, % and << wraps its result to the
type's width (two's complement: INT_MIN // -1 is INT_MIN); >> of a signed value is arithmetic. Any case may cast
through a fixed-width type: ["CAST_INT", ["TRUNC_INT32", x]] is x wrapped into int32, then into the case's type.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

Expr = list[Any]
Value = int | bool

INT_BINARY = ("ADD", "SUB", "MUL", "IDIV", "MOD", "MAX", "MIN")
COMPARISONS = ("CMPLT", "CMPLE", "CMPNE", "CMPEQ")
BOOL_BINARY = ("AND", "OR", "XOR")
SHIFTS = ("SHL", "SHR")
# op -> number of operands; operand types are checked by the evaluators
# TRUNC_<type>: an int cast to a fixed-width type (wrapped into it); a fixed-width case's CAST_INT of it wraps the
# value back into the case's type (the engine's CAST to int8, then to the case's type)
TRUNCS = ("TRUNC_INT8", "TRUNC_UINT8", "TRUNC_INT16", "TRUNC_UINT16", "TRUNC_INT32", "TRUNC_UINT32")
ARITY: dict[str, int] = {
    **{op: 2 for op in INT_BINARY + COMPARISONS + BOOL_BINARY + SHIFTS},
    **{op: 1 for op in TRUNCS},
    "NEG": 1,
    "NOT": 1,
    "CAST_BOOL": 1,
    "CAST_INT": 1,
    "WHERE": 3,
}


# fixed-width integer types of a case: name -> (bits, signed)
FIXED_WIDTH: dict[str, tuple[int, bool]] = {"int8": (8, True), "uint8": (8, False), "int16": (16, True),
                                            "uint16": (16, False), "int32": (32, True), "uint32": (32, False)}


def int_range(dtype: str) -> tuple[int, int]:
    """The values of a fixed-width type; ValueError naming an unknown one."""
    if dtype not in FIXED_WIDTH:
        raise ValueError(f"unknown integer type {dtype!r}; known: {', '.join(FIXED_WIDTH)}")
    bits, signed = FIXED_WIDTH[dtype]
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def wrap_int(v: int, dtype: str) -> int:
    """v brought into a fixed-width type modulo 2**bits."""
    bits, signed = FIXED_WIDTH[dtype]
    v &= (1 << bits) - 1
    return v - (1 << bits) if signed and v >> (bits - 1) else v


def check_int_types(dtype: str | None, bounds: Mapping[str, Sequence[int]], expr: Expr) -> None:
    """Validate the int types of a case: every TRUNC_<type> read through CAST_INT; for a fixed-width case (`dtype`)
    also variable ranges and int constants in the type and shifts below its width. ValueError naming the variable or
    the node."""
    if dtype is not None:
        lo, hi = int_range(dtype)
        bits = FIXED_WIDTH[dtype][0]
        for name, (a, b) in check_bounds(bounds).items():
            if a < lo or b > hi:
                raise ValueError(f"variable {name!r}: range [{a}, {b}] is not in {dtype} [{lo}, {hi}]")
    stack = [expr]
    while stack:
        node = stack.pop()
        op, args = check_node(node)
        if op == "const":
            if dtype is not None and not isinstance(args[0], bool) and not lo <= args[0] <= hi:
                raise ValueError(f"constant {args[0]} is not in {dtype} [{lo}, {hi}]")
        elif op in SHIFTS and dtype is not None and shift_amount(op, args[1]) >= bits:
            raise ValueError(f"{op}: a shift by {args[1][1]} is not below {dtype}'s {bits} bits")
        elif op != "var":
            if op in TRUNCS and node is expr:
                raise ValueError(f"{op}: a cast to another type must be read through CAST_INT")
            for a in args:
                if isinstance(a, (list, tuple)) and a and a[0] in TRUNCS and op != "CAST_INT":
                    raise ValueError(f"{a[0]} under {op}: a cast to another type must be read through CAST_INT")
            stack.extend(args)


def c_div(a: int, b: int) -> int:
    """C integer division: truncates toward zero; 0 when b == 0."""
    if b == 0:
        return 0
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def c_mod(a: int, b: int) -> int:
    """C remainder: sign of the dividend, a == c_div(a, b) * b + c_mod(a, b); 0 when b == 0."""
    if b == 0:
        return 0
    return a - b * c_div(a, b)


def check_node(expr: Any) -> tuple[str, list[Any]]:
    """Split a node into (op, operands); raise ValueError naming the op for a malformed node or wrong arity."""
    if not isinstance(expr, (list, tuple)) or not expr or not isinstance(expr[0], str):
        raise ValueError(f"malformed expression node {expr!r}: expected [OP, arg, ...]")
    op, args = expr[0], list(expr[1:])
    if op == "var":
        if len(args) != 1 or not isinstance(args[0], str):
            raise ValueError(f"var: expected ['var', name], got {expr!r}")
    elif op == "const":
        if len(args) != 1 or not isinstance(args[0], (int, bool)):
            raise ValueError(f"const: expected ['const', int | bool], got {expr!r}")
    elif op not in ARITY:
        raise ValueError(f"unknown op {op!r} in {expr!r}")
    elif len(args) != ARITY[op]:
        raise ValueError(f"{op}: expected {ARITY[op]} operand(s), got {len(args)}")
    return op, args


def shift_amount(op: str, arg: Any) -> int:
    """The shift of SHL/SHR, which must be a ['const', k] node with int k >= 0."""
    if not (isinstance(arg, (list, tuple)) and len(arg) == 2 and arg[0] == "const"):
        raise ValueError(f"{op}: shift must be a constant node, got {arg!r}")
    k = arg[1]
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"{op}: shift must be a non-negative int constant, got {k!r}")
    return k


def _as_bool(op: str, v: Value) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"{op}: expected a bool operand, got int {v!r}")
    return v


def evaluate(expr: Expr, env: Mapping[str, int], dtype: str | None = None) -> Value:
    """Evaluate an expression at one point (defined everywhere: division by zero gives 0); `dtype`: the fixed-width
    type of its ints (each int result wrapped to it), None for unbounded ints."""
    op, args = check_node(expr)
    if op == "var":
        if args[0] not in env:
            raise ValueError(f"var: unbound variable {args[0]!r}")
        return int(env[args[0]])
    if op == "const":
        return args[0]
    if op == "WHERE":
        # only the taken branch is evaluated: a division in the other one does not matter
        cond = _as_bool(op, evaluate(args[0], env, dtype))
        a = evaluate(args[1] if cond else args[2], env, dtype)
        other_is_bool = is_bool_expr(args[2] if cond else args[1])
        return a if isinstance(a, bool) and other_is_bool else int(a)
    if op in SHIFTS:
        x, k = int(evaluate(args[0], env, dtype)), shift_amount(op, args[1])
        return _wrapped(x * 2**k if op == "SHL" else x >> k, dtype)  # Python's >> is floor division by 2**k
    vals = [evaluate(a, env, dtype) for a in args]
    if op in BOOL_BINARY and not any(isinstance(v, bool) for v in vals):  # two ints: bitwise
        a, b = (int(v) for v in vals)  # Python's ints are two's complement of unbounded width, as C's of theirs
        return _wrapped({"AND": a & b, "OR": a | b, "XOR": a ^ b}[op], dtype)
    if op in BOOL_BINARY or op == "NOT":
        bs = [_as_bool(op, v) for v in vals]
        if op == "NOT":
            return not bs[0]
        return {"AND": bs[0] and bs[1], "OR": bs[0] or bs[1], "XOR": bs[0] != bs[1]}[op]
    if op == "CAST_INT":
        return _wrapped(int(vals[0]), dtype)
    if op in TRUNCS:
        return wrap_int(int(vals[0]), op[6:].lower())
    if op == "CAST_BOOL":
        return vals[0] != 0
    ints = [int(v) for v in vals]  # bools promote to 0/1 like C
    if op == "NEG":
        return _wrapped(-ints[0], dtype)
    a, b = ints
    if op in _RING:
        return _wrapped(_RING[op](a, b), dtype)
    if op == "MAX":
        return max(a, b)
    if op == "MIN":
        return min(a, b)
    return {"CMPLT": a < b, "CMPLE": a <= b, "CMPNE": a != b, "CMPEQ": a == b}[op]


_RING = {"ADD": lambda a, b: a + b, "SUB": lambda a, b: a - b, "MUL": lambda a, b: a * b, "IDIV": c_div,
         "MOD": c_mod}


def _wrapped(v: int, dtype: str | None) -> int:
    return v if dtype is None else wrap_int(v, dtype)


def is_bool_expr(expr: Expr) -> bool:
    """Whether the expression's static type is bool (a WHERE with one int branch is int)."""
    op, args = check_node(expr)
    if op == "const":
        return isinstance(args[0], bool)
    if op == "WHERE":
        return is_bool_expr(args[1]) and is_bool_expr(args[2])
    if op in BOOL_BINARY:  # and/or/xor of two ints is bitwise, an int (an int with a bool is an error)
        return is_bool_expr(args[0]) or is_bool_expr(args[1])
    return op in COMPARISONS or op in ("NOT", "CAST_BOOL")


def check_bounds(bounds: Mapping[str, Sequence[int]]) -> dict[str, tuple[int, int]]:
    """Validate a bounds dict {name: [lo, hi]} (inclusive ints); raise ValueError naming the variable."""
    out: dict[str, tuple[int, int]] = {}
    for name, b in bounds.items():
        if len(b) != 2 or any(isinstance(v, bool) or not isinstance(v, int) for v in b):
            raise ValueError(f"bounds of {name!r}: expected [lo, hi] ints, got {b!r}")
        out[name] = (b[0], b[1])
    return out


def iter_domain(bounds: Mapping[str, Sequence[int]]) -> Iterator[dict[str, int]]:
    """Yield every env of a bounds dict (nothing if some range is empty; one {} for no variables)."""
    checked = check_bounds(bounds)
    names = sorted(checked)
    ranges = [range(checked[n][0], checked[n][1] + 1) for n in names]
    for values in itertools.product(*ranges):
        yield dict(zip(names, values))


def expr_size(expr: Expr) -> int:
    """Number of nodes (vars and consts count one each)."""
    op, args = check_node(expr)
    if op in ("var", "const"):
        return 1
    return 1 + sum(expr_size(a) for a in args)


def variables(expr: Expr) -> set[str]:
    """Names of the variables an expression mentions."""
    op, args = check_node(expr)
    if op == "var":
        return {args[0]}
    if op == "const":
        return set()
    return set().union(*(variables(a) for a in args))
