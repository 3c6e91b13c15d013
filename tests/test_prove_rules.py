"""fuzz prove-rules: every symbolic rule instantiated and proven with Z3; planted wrong rules caught."""

import json
import random

from engine.rewrite import PatternMatcher, UPat
from engine.symbolic import sym_infer, symbolic
from engine.uop import Ops
from fuzz.symbolic.expr import to_uop
from fuzz.symbolic.prove_rules import instantiate, main, prove_rules
from oracles.c_int import evaluate


def test_symbolic_rules_have_no_counterexample_and_most_are_proven():
    reports = prove_rules(symbolic, tries=40, seed=0)
    assert [r.rule for r in reports] == symbolic.names()
    bad = [(r.rule, r.counterexample or r.error) for r in reports if r.status in ("counterexample", "error")]
    assert not bad, bad
    never = [r.rule for r in reports if r.status == "never instantiated"]
    proven = [r.rule for r in reports if r.status == "proven"]
    assert len(proven) >= 0.6 * len(reports), f"only {len(proven)}/{len(reports)} proven; never instantiated: {never}"


def _check_real_counterexample(cx: dict) -> None:
    """The reported point is in bounds and the instance and the rewrite really differ there (C semantics)."""
    env, bounds = cx["values"], cx["bounds"]
    assert all(lo <= env[name] <= hi for name, (lo, hi) in bounds.items())
    original = evaluate(cx["original_expr"], env)
    rewritten = evaluate(cx["rewrite_expr"], env)
    assert original != rewritten
    assert (original, rewritten) == (cx["original_value"], cx["rewrite_value"])
    # the engine's own evaluator agrees on the instance
    assert sym_infer(to_uop(cx["original_expr"], bounds), env) == original


def test_planted_mod_rule_for_any_x_gets_a_counterexample():
    # (x*4 + 3) % 4 -> 3 holds only for x*4 + 3 >= 0: C's % takes the sign of the dividend
    wrong = PatternMatcher(
        [((UPat.var("x") * UPat.const(4) + UPat.const(3)) % UPat.const(4), lambda x: x.const_like(3), "mod_any_x")]
    )
    [report] = prove_rules(wrong, tries=30, seed=0)
    assert report.status == "counterexample" and report.fired > 0
    _check_real_counterexample(report.counterexample)


def test_planted_div_rule_ignoring_signs_gets_a_counterexample():
    # (x + c) // c -> x // c + 1 is wrong when x + c and x have different signs (truncation toward zero)
    wrong = PatternMatcher(
        [
            (
                (UPat.var("x") + UPat.cvar("c")) // UPat.cvar("c"),
                lambda x, c: x // c + 1 if c.arg != 0 else None,
                "div_shift",
            )
        ]
    )
    [report] = prove_rules(wrong, tries=60, seed=1)
    assert report.status == "counterexample"
    _check_real_counterexample(report.counterexample)


def test_sound_bound_dependent_rule_is_proven_not_flagged():
    ok = PatternMatcher(
        [
            (
                UPat.var("x") % UPat.cvar("c"),
                lambda x, c: x if c.arg > 0 and 0 <= x.vmin and x.vmax < c.arg else None,
                "mod_small",
            )
        ]
    )
    [report] = prove_rules(ok, tries=100, seed=0)
    assert report.status == "proven" and report.proven == report.fired > 0


def test_rule_that_never_matches_is_never_instantiated():
    never = PatternMatcher([(UPat.var("x") // UPat.const(0), lambda x: None, "div_by_zero_noop")])
    [report] = prove_rules(never, tries=10, seed=0)
    assert report.status == "never instantiated" and report.fired == 0


def test_instances_respect_named_captures_and_const_predicates():
    x = UPat.var("x")
    c = UPat(Ops.CONST, name="c", arg_pred=lambda a: isinstance(a, int) and a % 3 == 1)
    pat = UPat(Ops.ADD, src=(UPat(Ops.MUL, src=(x, x)), c))
    for i in range(30):
        u = instantiate(pat, random.Random(i))
        assert pat.match(u, {})
        assert u.src[0].src[0] is u.src[0].src[1] and u.src[1].arg % 3 == 1


def test_main_rejects_unknown_rule(capsys):
    assert main(["--rule", "no_such_rule"]) == 2
    assert "--rule no_such_rule" in capsys.readouterr().err


def test_main_rejects_bad_arguments(capsys):
    assert main(["--tries", "0"]) == 2
    assert "--tries" in capsys.readouterr().err
    assert main(["--matcher", "engine.symbolic:nothing"]) == 2
    assert "--matcher" in capsys.readouterr().err


def test_main_json_for_one_rule(capsys):
    assert main(["--json", "--tries", "5", "--rule", "fold_mod"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["rule"] for r in out] == ["fold_mod"]
    assert out[0]["status"] in ("proven", "never instantiated") and out[0]["tries"] == 5


def test_main_exits_1_on_a_counterexample(capsys):
    assert main(["--matcher", "tests.test_prove_rules:WRONG", "--tries", "20"]) == 1
    assert "counterexample" in capsys.readouterr().out


WRONG = PatternMatcher(
    [
        (
            UPat.var("x") // UPat.cvar("c"),
            lambda x, c: x.const_like(0) if c.arg > 0 and x.vmax < c.arg else None,
            "div_small_any_sign",
        )
    ]
)
