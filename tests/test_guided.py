"""Coverage-guided campaigns: valid mutations, the same cases with 1 or 2 workers and across --resume, a pool
that grows on new coverage, and a symbolic generator that reaches every rule the engine can fire."""

import copy
import json
import random

import pytest

import engine.symbolic as sym
from engine.rewrite import RuleStats, track_rules
from engine.symbolic import simplify, symbolic
from fuzz.campaign import resume_campaign, run_campaign
from fuzz.cli import main
from fuzz.errors import BadInputError
from fuzz.graphs.case import infer_types
from fuzz.graphs.fuzzer import GraphFuzzer
from fuzz.graphs.mutate import mutate_graph
from fuzz.guided import ArcTracer, Guide, GuidedRounds, branch_summary, guided_case, traced_file
from fuzz.symbolic import SymbolicFuzzer
from fuzz.symbolic.expr import int_dtype, to_uop
from fuzz.symbolic.fuzzer import UNREACHABLE_RULES
from fuzz.worker import case_rng

CORNER_RULES = ["and_false", "cast_same", "eq_true", "ne_false", "or_true", "shl_to_mul", "shr_to_div",
                "where_false_true", "where_true_false", "xor_false"]


def _fold_mod_off_by_one(x, c):
    """Planted bug: a mod of a small nonnegative sum folds to the sum plus one."""
    if 0 <= x.vmin and x.vmax < c and x.op is not sym.Ops.CONST:
        return x + 1
    return None


def test_symbolic_mutations_are_valid_and_differ_from_their_parent():
    f = SymbolicFuzzer()
    changed = 0
    for i in range(300):
        parent = f.generate(random.Random(i))
        child = f.mutate(copy.deepcopy(parent), random.Random(-1 - i))
        f.validate(child)
        to_uop(child["expr"], child["vars"], int_dtype(child))  # builds: every node well-formed, shifts by constants
        changed += child != parent
    assert changed >= 270  # a few edits give the case back (a range redrawn as it was)


def test_symbolic_mutation_is_deterministic_for_its_rng():
    f = SymbolicFuzzer()
    parent = f.generate(random.Random(7))
    a = f.mutate(copy.deepcopy(parent), random.Random(1))
    b = f.mutate(copy.deepcopy(parent), random.Random(1))
    assert a == b


def test_graph_mutations_pass_infer_types_and_leave_the_parent_alone():
    f = GraphFuzzer()
    for i in range(30):
        parent = f.generate(random.Random(i))
        before = json.dumps(parent, sort_keys=True)
        child = mutate_graph(parent, random.Random(-1 - i))
        assert json.dumps(parent, sort_keys=True) == before
        assert child is not None and child != parent
        infer_types(child)


def test_half_of_the_guided_cases_mutate_pool_cases_and_the_rest_are_the_unguided_cases():
    f = SymbolicFuzzer()
    pool = tuple(f.generate(random.Random(f"p{i}")) for i in range(4))
    guide = Guide(1, pool, frozenset())
    picks = [guided_case(f, 9, i, case_rng(9, i), guide) for i in range(200)]
    mutated = [i for i, (_, j) in enumerate(picks) if j is not None]
    assert 70 <= len(mutated) <= 130
    for i, (case, j) in enumerate(picks):
        if j is None:
            assert case == f.generate(case_rng(9, i))
    assert guided_case(f, 9, 3, case_rng(9, 3), Guide(0, (), frozenset()))[0] == f.generate(case_rng(9, 3))


def test_pool_takes_the_first_case_of_each_new_key_in_index_order_whatever_the_report_order():
    def close(order):
        rounds = GuidedRounds(["toy"], round_cases=10)
        reports = {3: ({"c": 3}, ["a", "b"]), 1: ({"c": 1}, ["a"]), 7: ({"c": 7}, ["b", "c"]), 8: ({"c": 8}, ["c"])}
        for i in order:
            rounds.report("toy", i, *reports[i])
        assert not rounds.maybe_close("toy", 9)  # a case of the round may still be unchecked
        assert rounds.maybe_close("toy", 10)
        return rounds

    a, b = close([1, 3, 7, 8]), close([8, 7, 3, 1])
    assert a.pool["toy"] == b.pool["toy"] == [{"c": 1}, {"c": 3}, {"c": 7}]
    assert a.known["toy"] == {"a", "b", "c"} and a.round["toy"] == 1 and a.round_end("toy") == 20
    assert a.guide("toy").pool == tuple(a.pool["toy"]) and a.guide("toy").known == frozenset("abc")
    again = GuidedRounds.from_state(json.loads(json.dumps(a.state())), ["toy"])
    assert again.state() == a.state()


def _guided(tmp_path, workers, cases=600, name="run"):
    return run_campaign(["symbolic"], cases=cases, seed=11, workers=workers, corpus_dir=tmp_path / f"c-{name}",
                        report_dir=tmp_path / f"r-{name}", minimize_seconds=0, guided=True, guided_round=150)


def test_guided_campaign_has_the_same_pool_coverage_and_verdicts_with_one_or_two_workers(tmp_path):
    one, two = _guided(tmp_path, 1, name="one"), _guided(tmp_path, 2, name="two")
    state1, state2 = one.resume["guided"], two.resume["guided"]
    assert state1 == state2
    assert one.coverage == two.coverage and one.counts == two.counts and one.cases == two.cases == 600
    symbolic_state = state1["fuzzers"]["symbolic"]
    assert symbolic_state["round"] == 4 and len(symbolic_state["pool"]) >= 10  # the pool grew on new keys
    assert one.guidance["fuzzers"]["symbolic"]["pool"] == len(symbolic_state["pool"])


def test_guided_campaign_resumed_mid_round_ends_as_an_uninterrupted_one(tmp_path):
    full = _guided(tmp_path, 1, name="full")
    part = _guided(tmp_path, 1, cases=400, name="part")  # stops in the middle of round 2 (cases 300..449)
    assert part.resume["guided"]["fuzzers"]["symbolic"]["reports"]  # that round's reports are in the checkpoint
    summary_path = tmp_path / "r-part" / part.campaign_id / "summary.json"
    summary = json.loads(summary_path.read_text())
    summary.update(complete=False, interrupted=True, interrupted_by="SIGINT", budget={"seconds": None, "cases": 600})
    summary_path.write_text(json.dumps(summary))
    resumed = resume_campaign(summary_path.parent, workers=2)
    assert resumed.resume["guided"] == full.resume["guided"]
    assert resumed.coverage == full.coverage and resumed.counts == full.counts


def test_guided_campaign_finds_a_planted_bug(tmp_path, monkeypatch):
    monkeypatch.setattr(sym, "fold_mod", _fold_mod_off_by_one)
    result = run_campaign(["symbolic"], cases=300, seed=2, workers=1, corpus_dir=tmp_path / "c",
                          report_dir=None, minimize_seconds=0, guided=True, guided_round=100)
    assert "mismatch:not-equal:fold_mod" in {f.signature for f in result.findings}


def test_guided_options_that_cannot_work_are_refused_clearly(tmp_path):
    with pytest.raises(BadInputError, match="--branch-coverage.*--guided"):
        run_campaign(["symbolic"], cases=10, branch_coverage=True, report_dir=None, corpus_dir=tmp_path)
    with pytest.raises(BadInputError, match="--dask"):
        run_campaign(["symbolic"], cases=10, guided=True, dask="local:1", report_dir=None, corpus_dir=tmp_path)
    assert main(["run", "symbolic", "--cases", "5", "--guided-round", "5", "--corpus", str(tmp_path)]) == 2


def test_branch_coverage_records_arcs_of_engine_symbolic_only():
    f = SymbolicFuzzer()
    tracer = ArcTracer(traced_file())
    with tracer.tracing():
        f.check(f.generate(random.Random(4)))
    arcs = set(tracer.take())
    assert arcs and not tracer.take()
    summary = branch_summary(arcs)
    assert summary["file"] == "engine/symbolic.py" and 0 < summary["lines"] <= summary["lines_total"]


def test_generator_reaches_every_rule_the_engine_can_fire():
    """The corner rules (bool constants, same-dtype casts, shifts, where with constant arms) and every other rule
    but the unreachable ones, within a few seconds of cases."""
    f = SymbolicFuzzer()
    reached = set()
    RuleStats.take()
    for i in range(8000):
        f.check(f.generate(random.Random(f"1:{i}")))
        reached.update(k for k, n in f.coverage().items() if n)
    assert set(CORNER_RULES) - set(UNREACHABLE_RULES) <= reached
    assert set(symbolic.names()) - set(UNREACHABLE_RULES) == reached - set(UNREACHABLE_RULES)


@pytest.mark.parametrize("rule,expr", [
    ("and_false", ["AND", ["CMPLT", ["var", "x"], ["const", 3]], ["const", False]]),
    ("or_true", ["OR", ["CMPLT", ["var", "x"], ["const", 3]], ["const", True]]),
])
def test_unreachable_rules_are_shadowed_as_the_report_says(rule, expr):
    assert rule in UNREACHABLE_RULES and rule in symbolic.names()
    RuleStats.take()
    with track_rules():
        simplify(to_uop(expr, {"x": [0, 9]}))
    fired = RuleStats.take()
    assert rule not in fired and "bounds_fold" in fired  # if this fails, the rule became reachable: update the dict


def test_branch_guided_campaign_is_the_same_with_one_or_two_workers(tmp_path):
    runs = [run_campaign(["symbolic"], cases=240, seed=4, workers=w, corpus_dir=tmp_path / f"c{w}", report_dir=None,
                         minimize_seconds=0, guided=True, branch_coverage=True, guided_round=80) for w in (1, 2)]
    assert runs[0].resume["guided"] == runs[1].resume["guided"]
    assert any(k.startswith("arc:") for k in runs[0].resume["guided"]["fuzzers"]["symbolic"]["known"])
    assert runs[0].guidance["branch_coverage"]["lines"] > 100


@pytest.mark.parametrize("guided", [False, True])
def test_hits_counted_before_a_campaign_are_not_its_coverage(tmp_path, guided):
    """Workers fork from the parent: rule hits the parent counted (a test before, a check run in-process) must not
    show in the campaign's coverage nor, guided, steer its pool."""
    def run(name):
        return run_campaign(["symbolic"], cases=120, seed=5, workers=1, corpus_dir=tmp_path / f"c-{name}",
                            report_dir=None, minimize_seconds=0, guided=guided, guided_round=40)

    RuleStats.take()
    clean = run("clean")
    RuleStats.hits.update({"canonical_sum": 1000, "where_true_false": 3})
    try:
        stale = run("stale")
    finally:
        RuleStats.take()
    assert stale.coverage == clean.coverage and stale.resume.get("guided") == clean.resume.get("guided")
