"""The symbolic fuzzer: random index expressions, simplified by the engine, proven with C semantics.

The proof evaluates every point of the domain (oracles.exhaustive) where it has at most `exhaustive_limit`
points, else asks Z3 (oracles.z3_ref); either way a pass is a proof. The original and the simplified
expression are handed over as one DAG (a list per distinct UOp), so shared subterms are evaluated once.

Checks, each with its own signature:
  mismatch:not-equal:<rule>    Z3 finds values where simplified != original; <rule> is the first rewrite
                               step that is wrong on its own (found by replaying the simplification)
  mismatch:bounds:<op>         a vmin/vmax interval that the value leaves; <op> of the smallest such node
  mismatch:not-idempotent      simplify(simplify(e)) is not simplify(e)
  mismatch:grows               simplify(e) has more UOps than e
  mismatch:fast-path           engine.symbolic.affine_simplify (what simplify uses for affine expressions) and
                               the rules give different results (the check itself runs the rules)
  timeout:z3                   Z3 could not decide within its time limit (inconclusive: counted and listed, never
                               dropped, but not a finding)
  mismatch:dtype               the simplified expression of a fixed-width case holds an int of another type

A case may name a fixed-width integer type ("dtype": int8 ... uint32, oracles.c_int.FIXED_WIDTH): its ints wrap,
as the engine's kernels compute them (index math assumes no wrap; values in tensors of these types do), and the
generator keeps such domains small enough to check every point (oracles.exhaustive); Z3 is not asked.
"""

from __future__ import annotations

import random
from typing import Any, Iterable, Sequence

import engine.symbolic as engine_symbolic
from engine.dtype import dtypes
from engine.rewrite import RuleStats, trace_rewrites, track_rules
from engine.symbolic import simplify, symbolic
from engine.uop import Ops, UOp
from fuzz.base import Fuzzer
from fuzz.case import Verdict, canonical_json
from fuzz.symbolic.expr import int_dtype, subexpressions, to_expr, to_uop, to_uop_dag, to_uop_nodes
from fuzz.symbolic.generate import DECIDABLE_POINTS, GenOptions, gen_case, mutate_case
from fuzz.symbolic.reduce import case_size, reductions
from oracles.c_int import check_bounds, check_int_types, check_node, expr_size
from oracles.exhaustive import Overflow, check_all, domain_size, first_unsound
from oracles.z3_ref import ProofResult, Z3Checker

REPRO = '''#!/usr/bin/env python3
"""uopfuzz symbolic finding: {signature}. Exits 1 while the engine still gets it wrong."""
import sys

from engine.dtype import dtypes
from engine.rewrite import track_rules
from engine.symbolic import simplify, sym_infer
from engine.uop import PYRENDER_NAMES

expr = eval({src!r}, dict(PYRENDER_NAMES))
simplified = simplify(expr)
print("original:  ", expr.render())
print("simplified:", simplified.render())
problems = []
with track_rules():  # counting rule hits: every expression goes through the rules, none takes a fast path
    by_rules = simplify(expr)
if by_rules is not simplified:
    problems.append(f"the fast path gives {{simplified.render()}}, the rules {{by_rules.render()}}")
if simplify(simplified) is not simplified:
    problems.append("simplify is not idempotent")
if simplified.op_count() > expr.op_count():
    problems.append(f"simplify grew the expression: {{expr.op_count()}} -> {{simplified.op_count()}} UOps")
env = {env!r}
if env:
    try:
        want = sym_infer(expr, env)
    except ZeroDivisionError:
        want = None
    if want is not None:
        try:
            got = sym_infer(simplified, env)
        except ZeroDivisionError:
            got = "division by zero"
        if got != want:
            problems.append(f"at {{env}}: original = {{want}}, simplified = {{got}}")
        overflow = set()  # intervals saturated at int64's limits, and what is computed from them: not checked
        LIMITS = {{dtypes.index.min, dtypes.index.max}}
        for node in expr.toposort:
            if {{node.vmin, node.vmax}} & LIMITS or any(s in overflow for s in node.src):
                overflow.add(node)
            elif node.dtype.kind in "xb":
                try:
                    v = sym_infer(node, env)
                except ZeroDivisionError:
                    continue
                if not node.vmin <= v <= node.vmax:
                    problems.append(f"at {{env}}: {{node.render()}} = {{v}} outside [{{node.vmin}}, {{node.vmax}}]")
for p in problems:
    print("FAIL:", p)
sys.exit(1 if problems else 0)
'''


# rules of engine.symbolic no symbolic case can fire, and why (the campaign report lists them apart from the rules
# that were merely not reached); tests/test_guided.py checks that every other rule is reachable
UNREACHABLE_RULES = {
    "and_false": "shadowed by bounds_fold, earlier in the table: x & False has the interval [False, False] and is "
    "folded to False before and_false is tried",
    "or_true": "shadowed by bounds_fold, earlier in the table: x | True has the interval [True, True] and is folded "
    "to True before or_true is tried",
}


class SymbolicFuzzer(Fuzzer):
    """Symbolic index expressions vs. Z3 (C semantics): equality, bounds, idempotence, no growth."""

    name = "symbolic"

    def __init__(self, options: GenOptions | None = None, z3_timeout_ms: int = 2000,
                 exhaustive_limit: int = 1 << 19):
        self.options = options or GenOptions()
        # domains of at most this many points are verified by evaluating every point (a proof, and cheaper)
        self.exhaustive_limit = exhaustive_limit
        # ...and up to this many once Z3 gave up: a Z3 query that ran z3_quick_ms costs more than that
        self.fallback_limit = DECIDABLE_POINTS
        self.z3_quick_ms = min(250, z3_timeout_ms)
        self._z3: Z3Checker | None = None
        self._z3_timeout_ms = z3_timeout_ms

    @property
    def z3(self) -> Z3Checker:
        """One solver per process, reused for every check."""
        if self._z3 is None:
            self._z3 = Z3Checker(self._z3_timeout_ms)
        return self._z3

    def generate(self, rng: random.Random) -> dict[str, Any]:
        return gen_case(rng, self.options)

    def mutate(self, case: dict[str, Any], rng: random.Random) -> dict[str, Any]:
        """One or two random edits of case (see generate.mutate_case); a fresh case if the result is malformed."""
        before = canonical_json(case)
        for k in range(4):  # one edit, sometimes two; again while an edit changed nothing (an op for itself)
            case = mutate_case(case, rng, self.options)
            if canonical_json(case) != before and (k > 0 or rng.random() < 0.7):
                break
        try:
            self.validate(case)
            to_uop(case["expr"], case["vars"], int_dtype(case))
        except ValueError:
            return self.generate(rng)
        return case

    def validate(self, case: Any) -> None:
        self._validate_vars(case)
        for node in subexpressions(case["expr"]):
            check_node(node)

    def _validate_vars(self, case: Any) -> None:
        """Everything `validate` checks but the expression's nodes (to_uop checks those as it builds)."""
        super().validate(case)
        if set(case) - {"vars", "expr", "dtype"} or "vars" not in case or "expr" not in case:
            raise ValueError(f"a symbolic case has keys 'vars', 'expr' and optionally 'dtype', got {sorted(case)}")
        bounds = check_bounds(case["vars"])
        for name, (lo, hi) in bounds.items():
            if lo > hi:
                raise ValueError(f"variable {name!r} has an empty range [{lo}, {hi}]")
        check_int_types(case.get("dtype"), bounds, case["expr"])
        if "dtype" in case:
            if domain_size(bounds) > self.fallback_limit:
                raise ValueError(f"a {case['dtype']} case is checked at every point: at most {self.fallback_limit} "
                                 f"points, got {domain_size(bounds)}")

    def reductions(self, case: dict[str, Any]) -> Iterable[dict[str, Any]]:
        for smaller in reductions(case):
            try:  # a fixed-width candidate whose fresh variable spans the type has too many points to check
                self._validate_vars(smaller)
            except ValueError:
                continue
            yield smaller

    def size(self, case: dict[str, Any]) -> int:
        return case_size(case)

    def coverage(self) -> dict[str, int]:
        return RuleStats.take()

    def coverage_keys(self) -> list[str]:
        return symbolic.names()

    def unreachable_keys(self) -> dict[str, str]:
        return dict(UNREACHABLE_RULES)

    def check(self, case: dict[str, Any]) -> Verdict:
        self._validate_vars(case)
        bounds, expr, wrap = case["vars"], case["expr"], case.get("dtype")
        dtype = int_dtype(case)
        # one list per distinct UOp, shared by both sides: the oracles evaluate shared subterms once
        original, dag = to_uop_dag(expr, bounds, dtype)
        with track_rules():
            simplified = simplify(original)
            again = simplify(simplified)
        if simplified.op_count() > original.op_count():
            return Verdict("mismatch", "mismatch:grows", _details(expr, original, simplified))
        if again is not simplified:
            return Verdict("mismatch", "mismatch:not-idempotent",
                           {**_details(expr, original, simplified), "again": again.render()})
        fast = engine_symbolic.simplify_fast(original)  # the path simplify takes outside rule counting
        if fast is not None and fast is not simplified:
            return Verdict("mismatch", "mismatch:fast-path",
                           {**_details(expr, original, simplified), "fast": fast.render()})
        overflow = _may_overflow(original, simplified)
        claims = [(node, _num(u.vmin), _num(u.vmax)) for u, node in dag.items()
                  if u.op is not Ops.CONST and u.op is not Ops.DEFINE_VAR and u not in overflow]
        try:
            sexpr = expr if simplified is original else to_expr(simplified, dag, dtype)
        except ValueError as e:
            return Verdict("mismatch", "mismatch:dtype", {**_details(expr, original, simplified), "error": str(e)})
        if simplified is not original and simplified not in overflow:
            claims.append((sexpr, _num(simplified.vmin), _num(simplified.vmax)))
        res = self._prove(bounds, expr, sexpr, claims, wrap)
        if res.status == "proven":
            return Verdict("pass", "", {})
        details = _details(expr, original, simplified)
        if res.status == "unknown":
            return Verdict("timeout", "timeout:z3", {**details, "reason": res.reason, "inconclusive": True})
        return self._classify(bounds, expr, original, simplified, to_expr(simplified, dtype=dtype), details, wrap)

    # ------------------------------------------------------------ helpers
    def _prove(self, bounds: dict, expr: list, sexpr: list, claims: list, wrap: str | None = None) -> ProofResult:
        """Every point for small domains (and fixed-width cases, `wrap`), Z3 otherwise.

        Up to `fallback_limit` points evaluating every point still beats a Z3 query that runs long, so there
        Z3 gets `z3_quick_ms` and its unknowns get the exhaustive check (and a full Z3 try if that overflows).
        """
        if wrap is not None:
            return check_all(bounds, expr, sexpr, claims, wrap)
        size = domain_size(bounds)
        if size <= self.exhaustive_limit:
            try:
                return check_all(bounds, expr, sexpr, claims)
            except Overflow:
                pass
        fallback = size <= self.fallback_limit
        res = self.z3.prove_all(bounds, expr, sexpr, claims, timeout_ms=self.z3_quick_ms if fallback else None)
        if res.status == "unknown" and fallback:
            try:
                return check_all(bounds, expr, sexpr, claims)
            except Overflow:
                return self.z3.prove_all(bounds, expr, sexpr, claims)
        return res

    def _equal(self, bounds: dict, a: list, b: list, wrap: str | None) -> ProofResult:
        if wrap is not None:
            return check_all(bounds, a, b, (), wrap)
        return self._or_every_point(self.z3.prove_equal(bounds, a, b), bounds, a, b, ())

    def _in_bounds(self, bounds: dict, node: list, lo: int | None, hi: int | None, wrap: str | None) -> ProofResult:
        if wrap is None:
            return self._or_every_point(self.z3.prove_in_bounds(bounds, node, lo, hi), bounds, node, node,
                                        [(node, lo, hi)])
        return check_all(bounds, node, node, [(node, lo, hi)], wrap)

    def _or_every_point(self, res: ProofResult, bounds: dict, a: list, b: list,
                        claims: Sequence[tuple[list, int | None, int | None]]) -> ProofResult:
        """Z3's answer, or where it has none (it declines and/or/xor of ints) the evaluation of every point of a
        domain of up to `fallback_limit` points."""
        if res.status != "unknown" or domain_size(bounds) > self.fallback_limit:
            return res
        try:
            return check_all(bounds, a, b, claims)
        except Overflow:
            return res

    def _classify(self, bounds: dict, expr: list, original: UOp, simplified: UOp, sexpr: list,
                  details: dict[str, Any], wrap: str | None = None) -> Verdict:
        eq = self._equal(bounds, expr, sexpr, wrap)
        if eq.status == "counterexample":
            rule = self._culprit_rule(bounds, original, wrap)
            return Verdict("mismatch", f"mismatch:not-equal:{rule}",
                           {**details, "counterexample": eq.counterexample, "reason": eq.reason, "rule": rule})
        # the smallest node (children first) whose interval is unsound
        uops = to_uop_nodes(expr, bounds, dtype=int_dtype({"dtype": wrap} if wrap else {}))
        overflow = _may_overflow(original, simplified)
        nodes = [node for node in reversed(subexpressions(expr)) if uops[id(node)] not in overflow]
        found: Iterable[tuple[Any, ProofResult]]
        if wrap is not None:  # every point: all nodes in one evaluation, the first unsound one (children first)
            bad = first_unsound(bounds, [(n, _num(uops[id(n)].vmin), _num(uops[id(n)].vmax)) for n in nodes], wrap)
            found = [(nodes[bad[0]], bad[1])] if bad is not None else []
        else:
            found = ((n, self._in_bounds(bounds, n, _num(uops[id(n)].vmin), _num(uops[id(n)].vmax), wrap))
                     for n in nodes)
        for node, r in found:
            u = uops[id(node)]
            if r.status == "counterexample":
                return Verdict("mismatch", f"mismatch:bounds:{u.op.name}",
                               {**details, "counterexample": r.counterexample, "node": u.render(),
                                "interval": [_num(u.vmin), _num(u.vmax)], "reason": r.reason})
        r = self._in_bounds(bounds, sexpr, _num(simplified.vmin), _num(simplified.vmax), wrap)
        if r.status == "counterexample" and simplified not in overflow:
            return Verdict("mismatch", f"mismatch:bounds:{simplified.op.name}",
                           {**details, "counterexample": r.counterexample, "node": simplified.render(),
                            "interval": [_num(simplified.vmin), _num(simplified.vmax)], "reason": r.reason})
        return Verdict("timeout", "timeout:z3", {**details, "reason": "combined query failed, parts undecided",
                                                  "inconclusive": True})

    def _culprit_rule(self, bounds: dict, original: UOp, wrap: str | None = None) -> str:
        """Replay the simplification and name the first rewrite step that is wrong on its own."""
        with trace_rewrites() as steps:
            simplify(original)
        for rule, before, after in steps:
            try:
                dtype = int_dtype({"dtype": wrap} if wrap else {})
                r = self._equal(bounds, to_expr(before, dtype=dtype), to_expr(after, dtype=dtype), wrap)
            except ValueError:
                continue  # a step on variables the case does not bound (e.g. given-valid renaming)
            if r.status == "counterexample":
                return rule
        return "unattributed"

    def reproducer(self, case: dict[str, Any], signature: str = "", details: dict[str, Any] | None = None) -> str:
        original = to_uop(case["expr"], case["vars"], int_dtype(case))
        env = dict((details or {}).get("counterexample") or {})
        return REPRO.format(signature=signature or "failure", src=original.pyrender(), env=env)


def _details(expr: list, original: UOp, simplified: UOp) -> dict[str, Any]:
    """What a finding records about the expression (built only for failures: rendering is not free)."""
    return {"original": original.render(), "simplified": simplified.render(),
            "uops": [original.op_count(), simplified.op_count()], "nodes": expr_size(expr)}


INT64_LIMITS = (dtypes.index.min, dtypes.index.max)  # where the engine's index intervals saturate


def _num(v: Any) -> int | None:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, float):
        return None  # unbounded
    return v


def _may_overflow(*roots: UOp) -> set[UOp]:
    """The UOps whose value may pass int64, and every UOp computed from one: the engine saturates such an interval
    at int64's limits, so what is derived from it bounds a wrapped value (no index of a real buffer overflows;
    their intervals are not checked)."""
    out: set[UOp] = set()
    for root in roots:
        for u in root.toposort:
            if u.vmin in INT64_LIMITS or u.vmax in INT64_LIMITS or any(s in out for s in u.src):
                out.add(u)
    return out
