"""fuzz prove-rules: instantiate every rewrite rule's pattern at random and prove each firing with Z3.

For each rule, its `UPat` is filled in many times with fresh bounded variables (index or bool), small random
sub-expressions and sampled constants; only that one rule is applied, at the top, and wherever it fires Z3
proves the rewrite equal to the instance for every value inside the variables' bounds (C semantics).
A rule is "proven" (fired, every firing proven), "counterexample", "unknown" (Z3 gave up), "error" (the rule
raised on an instance it matched) or "never instantiated" (never fired in the tries).
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

from engine.dtype import DType, dtypes
from engine.rewrite import PatternMatcher, Rule, UPat
from engine.uop import Ops, UOp
from fuzz.errors import BadInputError
from fuzz.symbolic.expr import to_expr, to_uop
from fuzz.symbolic.generate import GenOptions, gen_case
from oracles.c_int import evaluate
from oracles.z3_ref import Z3Checker

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
INT, BOOL = "int", "bool"
_DTYPE = {INT: dtypes.index, BOOL: dtypes.bool}

# the ops the JSON expression format (and so the Z3 reference) can express, by the kind of value they produce
_BOOL_OPS = frozenset({Ops.CMPLT, Ops.CMPLE, Ops.CMPNE, Ops.CMPEQ, Ops.AND, Ops.OR, Ops.XOR})
_INT_OPS = frozenset({Ops.ADD, Ops.SUB, Ops.MUL, Ops.IDIV, Ops.MOD, Ops.MAX, Ops.MIN, Ops.NEG, Ops.SHL, Ops.SHR})
_EITHER_OPS = frozenset({Ops.WHERE, Ops.CAST, Ops.CONST})
_ARITY = {Ops.NEG: 1, Ops.CAST: 1, Ops.WHERE: 3}
_POWERS_OF_TWO = [1 << k for k in range(1, 7)]


class _Skip(Exception):
    """This pattern cannot be instantiated with index/bool values (or not this time)."""


@dataclass
class RuleReport:
    """What happened to one rule: how often it fired, how many firings were proven, and one example."""

    rule: str
    tries: int
    fired: int = 0
    proven: int = 0
    counterexamples: int = 0
    unknown: int = 0
    errors: int = 0
    example: dict[str, Any] | None = None
    counterexample: dict[str, Any] | None = None
    error: str | None = None

    @property
    def status(self) -> str:
        """proven | counterexample | error | unknown | never instantiated."""
        if self.counterexamples:
            return "counterexample"
        if self.errors:
            return "error"
        if self.fired == 0:
            return "never instantiated"
        if self.unknown:
            return "unknown"
        return "proven"

    def to_json(self) -> dict[str, Any]:
        """A plain dict for --json (with the status)."""
        return {**asdict(self), "status": self.status}


# ---------------------------------------------------------------- pattern instantiation
class Instantiator:
    """Builds one random UOp matching a pattern's shape; variables get fresh names and random bounds."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.vars: list[UOp] = []
        self.captures: dict[str, UOp] = {}

    # ------------------------------------------------------------ leaves
    def bounds(self) -> tuple[int, int]:
        """Random inclusive bounds: positive-only, negative-only or zero-crossing, of varied widths."""
        rng = self.rng
        width = rng.choice([0, 1, 2, 3, 5, 7, 15, 31, 100, rng.randint(0, 1000)])
        r = rng.random()
        if r < 0.45:
            lo = rng.choice([0, 0, 1, rng.randint(0, 40)])
            return lo, lo + width
        if r < 0.65:
            hi = -rng.choice([0, 0, 1, rng.randint(0, 40)])
            return hi - width, hi
        lo = -rng.randint(1, max(1, width))
        return lo, max(lo + width, rng.randint(0, 40))

    def var(self) -> UOp:
        """A variable of this instance: sometimes one already used (so like terms meet), usually a fresh one."""
        if self.vars and self.rng.random() < 0.35:
            return self.rng.choice(self.vars)
        v = UOp.variable(f"v{len(self.vars)}", *self.bounds())
        self.vars.append(v)
        return v

    def int_value(self) -> int:
        """A sampled constant: zero, +-1, powers of two, small and medium values, some negative."""
        rng = self.rng
        r = rng.random()
        if r < 0.12:
            return 0
        if r < 0.25:
            return rng.choice([1, -1])
        if r < 0.5:
            return rng.choice(_POWERS_OF_TWO) * (-1 if rng.random() < 0.2 else 1)
        if r < 0.8:
            return rng.randint(-10, 10)
        return rng.randint(-100, 100)

    def divisor(self) -> int:
        """A nonzero constant divisor, mostly positive."""
        v = self.int_value()
        return v if v != 0 else self.rng.choice([2, 3, 4])

    def const(self, pat: UPat, kind: str) -> UOp:
        """A constant satisfying the pattern's `arg` and `arg_pred`."""
        if pat.arg is not None:
            return UOp.const(_DTYPE[BOOL if isinstance(pat.arg, bool) else kind], pat.arg)
        sample = (lambda: self.rng.random() < 0.5) if kind == BOOL else self.int_value
        candidates = [sample() for _ in range(60)]
        candidates += [True, False] if kind == BOOL else list(range(-70, 71))
        for v in candidates:
            try:
                ok = pat.arg_pred is None or pat.arg_pred(v)
            except Exception:  # a predicate written for other values
                ok = False
            if ok:
                return UOp.const(_DTYPE[kind], v)
        raise _Skip("no constant satisfies the pattern's arg_pred")

    def free_int(self, depth: int = 2) -> UOp:
        """A variable or a small expression over one (so that bound-dependent rules get exercised)."""
        rng = self.rng
        r = rng.random()
        if depth <= 0 or r < 0.4:
            return self.var()
        if r < 0.45:
            return UOp.const(dtypes.index, self.int_value())
        x = self.var() if rng.random() < 0.6 else self.free_int(depth - 1)
        shape = rng.choice(["mul_add", "mul", "div", "mod", "max", "min", "add_var", "sub_var", "sum", "sum"])
        if shape == "sum":  # x*k + y*m + c: the shape div/mod folds split
            return x * self.int_value() + self.var() * self.int_value() + self.int_value()
        if shape == "mul_add":
            return x * self.int_value() + self.int_value()
        if shape == "mul":
            return x * self.int_value()
        if shape == "div":
            return x // self.divisor()
        if shape == "mod":
            return x % self.divisor()
        if shape == "max":
            return x.maximum(self.int_value())
        if shape == "min":
            return x.minimum(self.int_value())
        return x + self.var() if shape == "add_var" else x - self.var()

    def near(self, x: UOp) -> UOp:
        """A constant inside (or just outside) the bounds of x, so that comparisons with it can go either way."""
        lo, hi = x.vmin, x.vmax
        if self.rng.random() < 0.3 or not (isinstance(lo, int) and isinstance(hi, int)):
            return UOp.const(dtypes.index, self.int_value())
        return UOp.const(dtypes.index, self.rng.randint(lo - 1, hi + 1))

    def free_bool(self) -> UOp:
        """A small condition: a comparison of a variable, sometimes negated or joined with another."""
        rng = self.rng
        r = rng.random()
        if r < 0.05:
            return UOp.const(dtypes.bool, rng.random() < 0.5)
        x = self.free_int(1)
        c = self.near(x)
        cmp = rng.choice([x < c, c < x, x <= c, x.eq(c), x.ne(c), x < self.var()])
        if r < 0.2:
            return cmp.logical_not()
        if r < 0.35:
            y = self.var()
            other = y < self.near(y)
            return cmp & other if rng.random() < 0.5 else cmp | other
        return cmp

    def free(self, kind: str) -> UOp:
        """A leaf for a pattern with no op: a value of the given kind."""
        return self.free_bool() if kind == BOOL else self.free_int()

    # ------------------------------------------------------------ nodes
    def fixed_kind(self, pat: UPat) -> str | None:
        """The only kind of value this pattern can match, or None if it can match both."""
        if pat.name is not None and pat.name in self.captures:
            return BOOL if self.captures[pat.name].dtype == dtypes.bool else INT
        kinds = _allowed_kinds(pat)
        return next(iter(kinds)) if len(kinds) == 1 else None

    def choose_kind(self) -> str:
        """INT mostly, BOOL sometimes, where either would do."""
        return INT if self.rng.random() < 0.7 else BOOL

    def child_hints(self, op: Ops, kind: str, srcs: tuple[UPat | None, ...]) -> list[str]:
        """The kind each source of `op` should have, given the result kind and what the source patterns fix."""
        n = len(srcs)
        if op in _INT_OPS or op in (Ops.CMPLT, Ops.CMPLE):
            return [INT] * n
        if op in (Ops.AND, Ops.OR, Ops.XOR):
            return [BOOL] * n
        fixed = [self.fixed_kind(p) if p is not None else None for p in srcs]
        if op in (Ops.CMPNE, Ops.CMPEQ):
            shared = next((k for k in fixed if k), None) or self.choose_kind()
            return [shared] * n
        if op is Ops.WHERE:
            branch = next((k for k in fixed[1:] if k), None) or kind
            return [BOOL, branch, branch]
        return [self.choose_kind()] * n  # CAST: from either kind

    def make(self, op: Ops, kind: str, children: list[UOp]) -> UOp:
        """The UOp of `op` on `children` (no simplification), with its result dtype."""
        if op in _BOOL_OPS:
            dtype: DType = dtypes.bool
        elif op is Ops.WHERE:
            dtype = children[1].dtype
        else:
            dtype = _DTYPE[kind]
        return UOp(op, dtype, tuple(children))

    def random_node(self, op: Ops, kind: str) -> UOp:
        """`op` over random sources: all constants sometimes (for constant folding), else free leaves."""
        n = _ARITY.get(op, 2)
        hints = self.child_hints(op, kind, (None,) * n)
        all_const = self.rng.random() < 0.3
        children = []
        for i, hint in enumerate(hints):
            if op in (Ops.SHL, Ops.SHR) and i == 1:
                children.append(UOp.const(dtypes.index, self.rng.randint(0, 5)))
            elif op in (Ops.IDIV, Ops.MOD) and i == 1 and (all_const or self.rng.random() < 0.8):
                children.append(UOp.const(dtypes.index, self.divisor()))
            elif all_const:
                value = self.rng.random() < 0.5 if hint == BOOL else self.int_value()
                children.append(UOp.const(_DTYPE[hint], value))
            else:
                children.append(self.free(hint))
        return self.make(op, kind, children)

    def build(self, pat: UPat, hint: str | None = None) -> UOp:
        """A UOp of the pattern's shape (named captures are reused wherever the name repeats)."""
        if pat.name is not None and pat.name in self.captures:
            return self.captures[pat.name]
        kinds = _allowed_kinds(pat)
        if not kinds:
            raise _Skip(f"{pat!r} matches no index or bool value")
        kind = hint if hint in kinds else (next(iter(kinds)) if len(kinds) == 1 else self.choose_kind())
        if pat.ops is None:
            if pat.src is not None:
                raise _Skip(f"{pat!r}: sources without an op")
            u = self.free(kind)
        else:
            ops = sorted(o for o in pat.ops if kind in _kinds_of_op(o))
            if not ops:
                raise _Skip(f"{pat!r}: no supported op gives a {kind}")
            op = self.rng.choice(ops)
            if op is Ops.CONST:
                u = self.const(pat, kind)
            elif pat.src is None:
                u = self.random_node(op, kind)
            else:
                if _ARITY.get(op, 2) != len(pat.src):
                    raise _Skip(f"{pat!r}: {op.name} with {len(pat.src)} sources")
                hints = self.child_hints(op, kind, pat.src)
                children = [self.build(p, h) for p, h in zip(pat.src, hints)]
                if pat.commutative:
                    self.rng.shuffle(children)
                u = self.make(op, kind, children)
        if pat.name is not None:
            self.captures[pat.name] = u
        return u


def _kinds_of_op(op: Ops) -> frozenset[str]:
    if op in _BOOL_OPS:
        return frozenset({BOOL})
    if op in _INT_OPS:
        return frozenset({INT})
    return frozenset({INT, BOOL}) if op in _EITHER_OPS else frozenset()


def _allowed_kinds(pat: UPat) -> set[str]:
    """The kinds of value (index int, bool) that this pattern's dtype and op constraints allow."""
    kinds = {INT, BOOL}
    if pat.dtypes is not None:
        kinds = {k for k in kinds if _DTYPE[k] in pat.dtypes}
    if pat.ops is not None:
        kinds &= set().union(*(_kinds_of_op(o) for o in pat.ops))
    return kinds


def instantiate(pat: UPat, rng: random.Random) -> UOp:
    """A random UOp of the pattern's shape; a pattern with no op or sources gets a small random expression."""
    if pat.ops is None and pat.src is None:
        case = gen_case(rng, GenOptions(depth=rng.randint(1, 3), max_vars=2, max_const=16, fixed_width=0.0))
        u = to_uop(case["expr"], case["vars"])
        if pat.dtypes is not None and u.dtype not in pat.dtypes:
            raise _Skip(f"{pat!r}: generated a {u.dtype.name}")
        return u
    return Instantiator(rng).build(pat)


# ---------------------------------------------------------------- proving
def _bounds_of(*uops: UOp) -> dict[str, list[int]]:
    """The variables of the expressions with their bounds; a name bound twice differently is an error."""
    out: dict[str, list[int]] = {}
    for u in uops:
        for x in u.toposort:
            if x.op is Ops.DEFINE_VAR:
                name, lo, hi = x.arg
                if out.setdefault(name, [lo, hi]) != [lo, hi]:
                    raise ValueError(f"variable {name!r} appears with bounds {out[name]} and {[lo, hi]}")
    return out


def _value(expr: list, env: dict[str, int]) -> Any:
    try:
        return evaluate(expr, env)
    except ZeroDivisionError:
        return "undefined (division by zero)"


def _better_example(current: dict[str, Any] | None, instance: UOp, out: UOp) -> dict[str, Any]:
    """Keep the most telling proven firing: one over variables if there is one, then the shortest."""
    text = f"{instance.render()}  ->  {out.render()}"
    has_variables = bool(instance.variables)
    if current is not None and (not current["has_variables"], len(current["text"])) <= (not has_variables, len(text)):
        return current
    return {"text": text, "instance": instance.render(), "rewrite": out.render(), "has_variables": has_variables}


def _single(rule: Rule) -> PatternMatcher:
    return PatternMatcher([(rule.pat, rule.fn, rule.name)])


def prove_rule(rule: Rule, tries: int, seed: int, checker: Z3Checker) -> RuleReport:
    """Instantiate one rule `tries` times, apply it alone, and prove every firing."""
    report = RuleReport(rule.name, tries)
    pm = _single(rule)
    seen: dict[tuple[UOp, UOp], str] = {}
    for i in range(tries):
        rng = random.Random(f"{seed}:{rule.name}:{i}")
        try:
            instance = instantiate(rule.pat, rng)
        except _Skip:
            continue
        try:
            out = pm.rewrite(instance)
        except Exception as e:  # the rule crashed on an instance it matched
            report.errors += 1
            if report.error is None:
                report.error = f"{instance.render()}: {type(e).__name__}: {e}"
            continue
        if out is None:
            continue
        report.fired += 1
        status = seen.get((instance, out))
        if status is None:
            status = _prove(report, instance, out, checker)
            seen[(instance, out)] = status
        if status == "proven":
            report.proven += 1
            report.example = _better_example(report.example, instance, out)
        elif status == "unknown":
            report.unknown += 1
        else:
            report.counterexamples += 1
    return report


def _prove(report: RuleReport, instance: UOp, out: UOp, checker: Z3Checker) -> str:
    """Prove one firing; keep the smallest counterexample in the report. Returns the proof status."""
    try:
        bounds = _bounds_of(instance, out)
        original, rewritten = to_expr(instance), to_expr(out)
    except ValueError as e:  # the rewrite left the expression format (an op Z3 cannot check)
        if report.error is None:
            report.error = f"cannot check {instance.render()} -> {out.render()}: {e}"
        return "unknown"
    result = checker.prove_equal(bounds, original, rewritten)
    size = len(instance.render()) + len(out.render())
    if result.status == "counterexample" and (report.counterexample is None or size < report.counterexample["size"]):
        env = result.counterexample or {}
        report.counterexample = {
            "instance": instance.render(),
            "rewrite": out.render(),
            "bounds": bounds,
            "values": env,
            "original_value": _value(original, env),
            "rewrite_value": _value(rewritten, env),
            "original_expr": original,
            "rewrite_expr": rewritten,
            "size": size,
        }
    return result.status


def prove_rules(
    matcher: PatternMatcher, tries: int, seed: int, rule: str | None = None, timeout_ms: int = 1000
) -> list[RuleReport]:
    """Instantiate and prove every rule of `matcher` (or only the one named `rule`)."""
    rules = [r for r in matcher.rules if rule is None or r.name == rule]
    if rule is not None and not rules:
        raise BadInputError(f"--rule {rule}: no rule of that name (known: {', '.join(matcher.names())})")
    checker = Z3Checker(timeout_ms=timeout_ms)
    return [prove_rule(r, tries, seed, checker) for r in rules]


# ---------------------------------------------------------------- command line
def load_matcher(spec: str) -> PatternMatcher:
    """The PatternMatcher named `module:attr`; BadInputError naming --matcher if it is not one."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise BadInputError(f"--matcher {spec}: expected module:attr, e.g. engine.symbolic:symbolic")
    try:
        matcher = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise BadInputError(f"--matcher {spec}: {e}") from None
    if not isinstance(matcher, PatternMatcher):
        raise BadInputError(f"--matcher {spec}: is a {type(matcher).__name__}, not a PatternMatcher")
    return matcher


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The arguments of `fuzz prove-rules`."""
    parser = argparse.ArgumentParser(
        prog="fuzz prove-rules", description="Instantiate every rewrite rule's pattern at random; prove each firing."
    )
    parser.add_argument(
        "--matcher",
        default="engine.symbolic:symbolic",
        metavar="MODULE:ATTR",
        help="the PatternMatcher to check (default engine.symbolic:symbolic)",
    )
    parser.add_argument("--tries", type=_positive_int, default=200, metavar="N", help="instances per rule (200)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--rule", metavar="NAME", help="check only the rule with this name")
    parser.add_argument(
        "--timeout-ms", type=_positive_int, default=1000, metavar="MS", help="Z3 time limit per proof (default 1000)"
    )
    parser.add_argument("--json", action="store_true", help="print the reports as a JSON list")
    return parser


def _example_text(r: RuleReport) -> str:
    if r.counterexample is not None:
        cx = r.counterexample
        return (
            f"{cx['instance']}  ->  {cx['rewrite']}  at {cx['values']}: "
            f"{cx['original_value']!r} vs {cx['rewrite_value']!r}"
        )
    if r.error is not None:
        return r.error
    return r.example["text"] if r.example else ""


def print_table(reports: list[RuleReport], seconds: float) -> None:
    """The reports as a rich table, with a one-line summary."""
    from rich.table import Table

    from fuzz.report import report_console

    colors = {
        "proven": "green",
        "counterexample": "bold red",
        "error": "red",
        "unknown": "yellow",
        "never instantiated": "dim",
    }
    table = Table(title="rewrite rules proven with Z3")
    for column in ("rule", "fired", "proven", "unknown", "status", "example"):
        table.add_column(column, overflow="fold")
    for r in reports:
        table.add_row(
            r.rule, str(r.fired), str(r.proven), str(r.unknown), f"[{colors[r.status]}]{r.status}[/]", _example_text(r)
        )
    console = report_console()
    console.print(table)
    counts = {s: sum(r.status == s for r in reports) for s in colors}
    console.print(
        f"{len(reports)} rules: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n) + f" ({seconds:.1f} s)",
        highlight=False,
    )


def main(argv: list[str]) -> int:
    """Entry point of `fuzz prove-rules`: 0 all sound, 1 a counterexample (or crash), 2 bad arguments."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # argparse: --help exits 0, usage errors 2
        return e.code if isinstance(e.code, int) else EXIT_BAD_INPUT
    start = time.perf_counter()
    try:
        matcher = load_matcher(args.matcher)
        reports = prove_rules(matcher, args.tries, args.seed, args.rule, args.timeout_ms)
    except BadInputError as e:
        print(f"fuzz prove-rules: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.json:
        print(json.dumps([r.to_json() for r in reports], indent=1, default=str))
    else:
        print_table(reports, time.perf_counter() - start)
    failed = any(r.status in ("counterexample", "error") for r in reports)
    return EXIT_FAILED if failed else EXIT_OK
