"""Z3 reference for symbolic index expressions: proves equalities and bounds, or finds a counterexample.

Expressions are the plain JSON format of `oracles.c_int`. Division and modulo follow C (truncation),
which is not what Z3's Int `/` and `%` do (Euclidean), so both are encoded explicitly below; by a zero divisor
both give 0 (`oracles.c_int`). Each term comes with a "defined" condition, which that makes always true: the
queries keep it so that a partial op could be added without changing them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import z3

from oracles.c_int import (
    BOOL_BINARY,
    COMPARISONS,
    SHIFTS,
    TRUNCS,
    Expr,
    check_bounds,
    check_node,
    evaluate,
    int_range,
    is_bool_expr,
    shift_amount,
)

Bounds = Mapping[str, Sequence[int]]
_TRUE = z3.BoolVal(True)


@dataclass(frozen=True)
class ProofResult:
    """Outcome of one query: "proven" | "counterexample" | "unknown", with the point that breaks it."""

    status: str
    counterexample: dict[str, int] | None = None
    reason: str = ""

    @property
    def proven(self) -> bool:
        """True when the claim holds for every in-bounds point."""
        return self.status == "proven"


def _and(a: z3.BoolRef, b: z3.BoolRef) -> z3.BoolRef:
    """Conjunction that keeps trivially-true definedness conditions out of the term."""
    if z3.is_true(a):
        return b
    if z3.is_true(b):
        return a
    return z3.And(a, b)


def _to_int(t: z3.ExprRef) -> z3.ArithRef:
    """An int view of a term: bools become 0/1 (as in C)."""
    return z3.If(t, z3.IntVal(1), z3.IntVal(0)) if z3.is_bool(t) else t


def _to_bool(op: str, t: z3.ExprRef) -> z3.BoolRef:
    if not z3.is_bool(t):
        raise ValueError(f"{op}: expected a bool operand, got int term {t}")
    return t


def c_div_term(a: z3.ArithRef, b: z3.ArithRef) -> z3.ArithRef:
    """C truncating division in Z3; 0 where b == 0."""
    if z3.is_int_value(b) and b.as_long() != 0:
        # constant divisor: Z3's a / n is floor for n > 0, so truncate by dividing |a| and restoring the sign
        n = b.as_long()
        pos = z3.If(a >= 0, a / abs(n), -((-a) / abs(n)))
        return pos if n > 0 else -pos
    abs_a = z3.If(a >= 0, a, -a)
    abs_b = z3.If(b >= 0, b, -b)
    q = abs_a / abs_b  # non-negative by positive: Euclidean == floor == truncation
    return z3.If(b == 0, z3.IntVal(0), z3.If((a >= 0) == (b >= 0), q, -q))


def c_mod_term(a: z3.ArithRef, b: z3.ArithRef) -> z3.ArithRef:
    """C remainder in Z3: a - b * trunc(a / b), so the sign follows the dividend (0 where b == 0)."""
    r = a - b * c_div_term(a, b)
    if z3.is_int_value(b):
        return r if b.as_long() != 0 else z3.IntVal(0)
    return z3.If(b == 0, z3.IntVal(0), r)


def to_z3(expr: Expr, zvars: Mapping[str, z3.ArithRef],
          memo: dict[int, tuple[z3.ExprRef, z3.BoolRef]] | None = None) -> tuple[z3.ExprRef, z3.BoolRef]:
    """The Z3 term of an expression and the condition under which it is defined (every op is total today).

    With `memo`, the term of every node is kept there under id(node), so callers can state claims on subterms.
    """
    if memo is None:
        return _to_z3(expr, zvars, None)
    key = id(expr)
    if key not in memo:
        memo[key] = _to_z3(expr, zvars, memo)
    return memo[key]


def _to_z3(expr: Expr, zvars: Mapping[str, z3.ArithRef],
           memo: dict[int, tuple[z3.ExprRef, z3.BoolRef]] | None) -> tuple[z3.ExprRef, z3.BoolRef]:
    op, args = check_node(expr)
    if op == "var":
        if args[0] not in zvars:
            raise ValueError(f"var: variable {args[0]!r} has no bounds")
        return zvars[args[0]], _TRUE
    if op == "const":
        v = args[0]
        return (z3.BoolVal(v), _TRUE) if isinstance(v, bool) else (z3.IntVal(v), _TRUE)
    if op == "WHERE":
        (c, cd), (a, ad), (b, bd) = (to_z3(x, zvars, memo) for x in args)
        c = _to_bool(op, c)
        if not (z3.is_bool(a) and z3.is_bool(b)):
            a, b = _to_int(a), _to_int(b)
        # a division inside the branch not taken does not matter
        defined = ad if z3.eq(ad, bd) else z3.If(c, ad, bd)
        return z3.If(c, a, b), _and(cd, defined)
    if op in SHIFTS:
        x, xd = to_z3(args[0], zvars, memo)
        k = shift_amount(op, args[1])
        # SHR is an arithmetic shift: floor division, which is what Z3's `/` does for a positive divisor
        return (_to_int(x) * 2**k if op == "SHL" else _to_int(x) / 2**k), xd
    terms = [to_z3(a, zvars, memo) for a in args]
    defined = terms[0][1]
    for _, d in terms[1:]:
        defined = _and(defined, d)
    vals = [t for t, _ in terms]
    if op in BOOL_BINARY or op == "NOT":
        bs = [_to_bool(op, v) for v in vals]
        if op == "NOT":
            return z3.Not(bs[0]), defined
        return {"AND": z3.And, "OR": z3.Or, "XOR": z3.Xor}[op](bs[0], bs[1]), defined
    if op == "CAST_INT":
        return _to_int(vals[0]), defined
    if op in TRUNCS:  # wrapped into the type: Z3's mod is never negative for a positive modulus
        lo, hi = int_range(op[6:].lower())
        return (_to_int(vals[0]) - lo) % (hi - lo + 1) + lo, defined
    if op == "CAST_BOOL":
        return (vals[0] if z3.is_bool(vals[0]) else vals[0] != 0), defined
    ints = [_to_int(v) for v in vals]
    if op == "NEG":
        return -ints[0], defined
    a, b = ints
    if op in COMPARISONS:
        return {"CMPLT": a < b, "CMPLE": a <= b, "CMPNE": a != b, "CMPEQ": a == b}[op], defined
    if op == "IDIV":
        return c_div_term(a, b), defined
    if op == "MOD":
        return c_mod_term(a, b), defined
    if op == "MAX":
        return z3.If(a >= b, a, b), defined
    if op == "MIN":
        return z3.If(a <= b, a, b), defined
    return {"ADD": a + b, "SUB": a - b, "MUL": a * b}[op], defined


def _sym(name: str) -> str:
    return "|" + name.replace("|", "_").replace("\\", "_") + "|"


def _lit(v: int) -> str:
    return str(v) if v >= 0 else f"(- {-v})"


class _SmtText:
    """SMT-LIB text of expressions, one define-fun per node, with the same C semantics as `to_z3`."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.memo: dict[int, tuple[str, str, bool]] = {}

    def _define(self, sort: str, body: str) -> str:
        name = f"t{len(self.lines)}"
        self.lines.append(f"(define-fun {name} () {sort} {body})")
        return name

    @staticmethod
    def as_int(t: str, is_bool: bool) -> str:
        return f"(ite {t} 1 0)" if is_bool else t

    def _and(self, *ds: str) -> str:
        parts = [d for d in ds if d != "true"]
        if not parts:
            return "true"
        return parts[0] if len(parts) == 1 else self._define("Bool", f"(and {' '.join(parts)})")

    def _cdiv(self, a: str, b: str, bconst: int | None) -> str:
        if bconst is not None and bconst != 0:
            n = abs(bconst)
            pos = f"(ite (>= {a} 0) (div {a} {n}) (- (div (- {a}) {n})))"
            return self._define("Int", pos if bconst > 0 else f"(- {pos})")
        q = f"(div (abs {a}) (abs {b}))"
        return self._define("Int", f"(ite (= {b} 0) 0 (ite (= (>= {a} 0) (>= {b} 0)) {q} (- {q})))")

    def node(self, expr: Expr) -> tuple[str, str, bool]:
        """(term, defined, is_bool) of an expression node."""
        key = id(expr)
        if key in self.memo:
            return self.memo[key]
        op, args = check_node(expr)
        if op == "var":
            out = (_sym(args[0]), "true", False)
        elif op == "const":
            v = args[0]
            out = (("true" if v else "false"), "true", True) if isinstance(v, bool) else (_lit(v), "true", False)
        else:
            out = self._op(op, args)
        self.memo[key] = out
        return out

    def _op(self, op: str, args: list) -> tuple[str, str, bool]:
        if op in SHIFTS:
            x, xd, xb = self.node(args[0])
            k = shift_amount(op, args[1])
            xi = self.as_int(x, xb)
            body = f"(* {xi} {2**k})" if op == "SHL" else f"(div {xi} {2**k})"
            return self._define("Int", body), xd, False
        subs = [self.node(a) for a in args]
        defined = self._and(*(d for _, d, _ in subs))
        if op == "WHERE":
            (c, cd, cb), (a, ad, ab), (b, bd, bb) = subs
            _to_bool_text(op, cb)
            both_bool = ab and bb
            if not both_bool:
                a, b = self.as_int(a, ab), self.as_int(b, bb)
            branch_def = ad if ad == bd else f"(ite {c} {ad} {bd})"
            d = self._and(cd, self._define("Bool", branch_def) if branch_def not in ("true",) else "true")
            return self._define("Bool" if both_bool else "Int", f"(ite {c} {a} {b})"), d, both_bool
        if op in BOOL_BINARY or op == "NOT":
            for _, _, isb in subs:
                _to_bool_text(op, isb)
            if op == "NOT":
                return self._define("Bool", f"(not {subs[0][0]})"), defined, True
            return self._define("Bool", f"({op.lower()} {subs[0][0]} {subs[1][0]})"), defined, True
        if op == "CAST_INT":
            return self.as_int(subs[0][0], subs[0][2]), defined, False
        if op in TRUNCS:
            lo, hi = int_range(op[6:].lower())
            x = self.as_int(subs[0][0], subs[0][2])
            return self._define("Int", f"(+ (mod (- {x} {_lit(lo)}) {hi - lo + 1}) {_lit(lo)})"), defined, False
        if op == "CAST_BOOL":
            t, _, isb = subs[0]
            return (t if isb else self._define("Bool", f"(not (= {t} 0))")), defined, True
        ints = [self.as_int(t, isb) for t, _, isb in subs]
        if op == "NEG":
            return self._define("Int", f"(- {ints[0]})"), defined, False
        a, b = ints
        if op in COMPARISONS:
            body = {"CMPLT": f"(< {a} {b})", "CMPLE": f"(<= {a} {b})", "CMPNE": f"(not (= {a} {b}))",
                    "CMPEQ": f"(= {a} {b})"}[op]
            return self._define("Bool", body), defined, True
        if op in ("IDIV", "MOD"):
            bnode = args[1]
            bconst = bnode[1] if bnode[0] == "const" and not isinstance(bnode[1], bool) else None
            q = self._cdiv(a, b, bconst)  # by 0: 0, so a - b * q is a and MOD needs its own case
            if op == "IDIV":
                return q, defined, False
            r = f"(- {a} (* {b} {q}))" if bconst not in (None, 0) else f"(ite (= {b} 0) 0 (- {a} (* {b} {q})))"
            return self._define("Int", r), defined, False
        body = {"ADD": f"(+ {a} {b})", "SUB": f"(- {a} {b})", "MUL": f"(* {a} {b})",
                "MAX": f"(ite (>= {a} {b}) {a} {b})", "MIN": f"(ite (<= {a} {b}) {a} {b})"}[op]
        return self._define("Int", body), defined, False


_NO_BITWISE = "z3: bitwise and/or/xor of ints is not encoded (Int terms through bit-vectors time out); the caller's " \
    "evaluation of every point decides"


def _int_bitwise(*exprs: Expr) -> bool:
    """Whether an expression has an and/or/xor of ints (bitwise), which the queries decline: Z3 mixing Int terms
    with bit-vector conversions did not decide x & y in [-16, 16] over 300 points within 20 s."""
    stack = list(exprs)
    while stack:
        e = stack.pop()
        if isinstance(e, (list, tuple)) and e and e[0] not in ("var", "const"):
            if e[0] in BOOL_BINARY and not is_bool_expr(e):
                return True
            stack.extend(e[1:])
    return False


def _to_bool_text(op: str, is_bool: bool) -> None:
    if not is_bool:
        raise ValueError(f"{op}: expected a bool operand, got an int term")


def _same_tree(a: object, b: object) -> bool:
    """Structural equality that tells True from 1 (Python's == does not)."""
    if a is b:
        return True
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_tree(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _differs(x: int | bool, y: int | bool) -> bool:
    """Whether two values differ (bools as bools; a bool against an int as 0/1)."""
    return int(x) != int(y)


def _defined_at(expr: Expr, env: Mapping[str, int]) -> tuple[bool, int | bool | None]:
    try:
        return True, evaluate(expr, env)
    except ZeroDivisionError:
        return False, None


class Z3Checker:
    """One reusable Z3 solver answering equality, bounds and implication queries over bounded variables."""

    def __init__(self, timeout_ms: int = 2000) -> None:
        self.timeout_ms = timeout_ms
        self.solver = z3.Solver()
        self.solver.set("timeout", timeout_ms)
        self.timeouts = 0  # queries that ended "unknown" (timeout or Z3 gave up)
        self.queries = 0  # queries that reached the solver
        self._vars: dict[str, z3.ArithRef] = {}

    def _zvars(self, bounds: dict[str, tuple[int, int]]) -> dict[str, z3.ArithRef]:
        for name in bounds:
            if name not in self._vars:
                self._vars[name] = z3.Int(name)
        return {name: self._vars[name] for name in bounds}

    def _find(self, bounds: dict[str, tuple[int, int]], zvars: dict[str, z3.ArithRef], bad: z3.BoolRef) -> ProofResult:
        """Search for an in-bounds point satisfying `bad`; none means the claim is proven."""
        self.queries += 1
        self.solver.push()
        try:
            for name, (lo, hi) in bounds.items():
                self.solver.add(zvars[name] >= lo, zvars[name] <= hi)
            self.solver.add(bad)
            return self._check(bounds, zvars)
        finally:
            self.solver.pop()

    def _check(self, bounds: dict[str, tuple[int, int]], zvars: Mapping[str, z3.ArithRef]) -> ProofResult:
        """Run the solver on what was added since push: proven, a complete counterexample, or unknown."""
        res = self.solver.check()
        if res == z3.unsat:
            return ProofResult("proven", None, "no in-bounds counterexample")
        if res == z3.sat:
            model = self.solver.model()
            cex = {}
            for name, (lo, _) in bounds.items():
                val = model.eval(zvars[name], model_completion=True)
                cex[name] = val.as_long() if z3.is_int_value(val) else lo
            return ProofResult("counterexample", cex, "")
        self.timeouts += 1
        return ProofResult("unknown", None, f"z3: {self.solver.reason_unknown()}")

    def _confirm(
        self, result: ProofResult, bounds: dict[str, tuple[int, int]], why_bad: Callable[[dict[str, int]], str | None]
    ) -> ProofResult:
        """Re-check a Z3 counterexample with the pure-Python evaluator, so an encoding bug fails loudly."""
        if result.status != "counterexample":
            return result
        cex = result.counterexample or {}
        in_bounds = all(lo <= cex[n] <= hi for n, (lo, hi) in bounds.items())
        reason = why_bad(cex) if in_bounds else None
        if reason is None:
            raise RuntimeError(f"z3_ref: Z3 counterexample {cex} is not confirmed by c_int.evaluate (oracle bug)")
        return ProofResult("counterexample", cex, reason)

    def prove_equal(self, bounds: Bounds, original: Expr, simplified: Expr) -> ProofResult:
        """Prove that wherever `original` is defined in bounds, `simplified` is defined and equal to it."""
        if _int_bitwise(original, simplified):
            return ProofResult("unknown", None, _NO_BITWISE)
        checked = check_bounds(bounds)
        zvars = self._zvars(checked)
        o, od = to_z3(original, zvars)
        if _same_tree(original, simplified):
            return ProofResult("proven", None, "identical expressions")
        s, sd = to_z3(simplified, zvars)
        if z3.is_bool(o) and z3.is_bool(s):
            differ = o != s
        else:
            differ = _to_int(o) != _to_int(s)
        result = self._find(checked, zvars, z3.And(od, z3.Or(z3.Not(sd), differ)))

        def why_bad(env: dict[str, int]) -> str | None:
            ok_o, vo = _defined_at(original, env)
            ok_s, vs = _defined_at(simplified, env)
            if not ok_o or vo is None:
                return None
            if not ok_s or vs is None:
                return f"simplified divides by zero where original = {vo!r}"
            return f"original = {vo!r}, simplified = {vs!r}" if _differs(vo, vs) else None

        return self._confirm(result, checked, why_bad)

    def prove_in_bounds(self, bounds: Bounds, expr: Expr, lo: int | None, hi: int | None) -> ProofResult:
        """Prove lo <= expr <= hi wherever expr is defined in bounds (bools as 0/1; None is unbounded)."""
        if _int_bitwise(expr):
            return ProofResult("unknown", None, _NO_BITWISE)
        checked = check_bounds(bounds)
        zvars = self._zvars(checked)
        e, ed = to_z3(expr, zvars)
        e = _to_int(e)
        outside = ([e < lo] if lo is not None else []) + ([e > hi] if hi is not None else [])
        if not outside:
            return ProofResult("proven", None, "no bounds to check")
        result = self._find(checked, zvars, z3.And(ed, z3.Or(*outside)))

        def why_bad(env: dict[str, int]) -> str | None:
            ok, v = _defined_at(expr, env)
            if not ok or v is None:
                return None
            bad = (lo is not None and int(v) < lo) or (hi is not None and int(v) > hi)
            return f"value {v!r} outside [{lo}, {hi}]" if bad else None

        return self._confirm(result, checked, why_bad)

    def prove_all(self, bounds: Bounds, original: Expr, simplified: Expr,
                  ranges: Sequence[tuple[Expr, int | None, int | None]] = (),
                  timeout_ms: int | None = None) -> ProofResult:
        """One query for the common case: `simplified` equals `original` and every (subexpr, lo, hi) holds.

        Built as SMT-LIB text (one parse instead of thousands of Python API calls). On a counterexample,
        call prove_equal / prove_in_bounds to learn which claim failed. `timeout_ms` overrides the
        checker's limit for this query (a caller with another way to decide it can give up sooner).
        """
        if _int_bitwise(original, simplified, *(node for node, _, _ in ranges)):
            return ProofResult("unknown", None, _NO_BITWISE)
        checked = check_bounds(bounds)
        zvars = self._zvars(checked)
        smt = _SmtText()
        o, od, ob = smt.node(original)
        bad: list[str] = []
        if not _same_tree(original, simplified):
            s, sd, sb = smt.node(simplified)
            differ = f"(not (= {o} {s}))" if ob and sb else f"(not (= {smt.as_int(o, ob)} {smt.as_int(s, sb)}))"
            bad.append(f"(and {od} (or (not {sd}) {differ}))")
        for node, lo, hi in ranges:
            e, ed, eb = smt.node(node)
            e = smt.as_int(e, eb)
            outside = ([f"(< {e} {_lit(lo)})"] if lo is not None else []) + \
                ([f"(> {e} {_lit(hi)})"] if hi is not None else [])
            if outside:
                bad.append(f"(and {ed} (or {' '.join(outside)}))")
        if not bad:
            return ProofResult("proven", None, "nothing to prove")
        decls = [f"(assert (and (>= {_sym(n)} {_lit(lo)}) (<= {_sym(n)} {_lit(hi)})))"
                 for n, (lo, hi) in checked.items()]
        script = "\n".join(decls + smt.lines + [f"(assert (or false {' '.join(bad)}))"])
        return self._find_text(checked, zvars, script, timeout_ms)

    def _find_text(self, bounds: dict[str, tuple[int, int]], zvars: dict[str, z3.ArithRef], script: str,
                   timeout_ms: int | None = None) -> ProofResult:
        """`_find` for a claim given as an SMT-LIB script."""
        self.queries += 1
        self.solver.push()
        if timeout_ms is not None:
            self.solver.set("timeout", timeout_ms)
        try:
            self.solver.add(z3.parse_smt2_string(script, decls={_sym(n)[1:-1]: v for n, v in zvars.items()}))
            return self._check(bounds, zvars)
        finally:
            self.solver.pop()
            if timeout_ms is not None:
                self.solver.set("timeout", self.timeout_ms)

    def prove_implies(self, bounds: Bounds, a: Expr, b: Expr) -> ProofResult:
        """Prove that wherever bool `a` is defined and true in bounds, bool `b` is defined and true."""
        if _int_bitwise(a, b):
            return ProofResult("unknown", None, _NO_BITWISE)
        checked = check_bounds(bounds)
        zvars = self._zvars(checked)
        za, ad = to_z3(a, zvars)
        zb, bd = to_z3(b, zvars)
        za, zb = _to_bool("prove_implies", za), _to_bool("prove_implies", zb)
        result = self._find(checked, zvars, z3.And(ad, za, z3.Or(z3.Not(bd), z3.Not(zb))))

        def why_bad(env: dict[str, int]) -> str | None:
            ok_a, va = _defined_at(a, env)
            if not (ok_a and va):
                return None
            ok_b, vb = _defined_at(b, env)
            if not ok_b:
                return "a holds but b divides by zero"
            return "a holds but b is false" if not vb else None

        return self._confirm(result, checked, why_bad)
