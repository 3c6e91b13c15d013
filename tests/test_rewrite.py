import pytest

from engine.dtype import dtypes
from engine.rewrite import PatternMatcher, RuleStats, UPat, graph_rewrite, substitute, track_rules
from engine.uop import Ops, UOp


def test_upat_commutative_matching_and_captures():
    x = UOp.variable("x", 0, 10)
    pat = UPat(Ops.ADD, src=[UPat.var("a"), UPat.cvar("c")])
    assert pat.match(x + 3, {})[0]["a"] is x
    assert pat.match(UOp.const(dtypes.index, 3) + x, {})[0]["c"].arg == 3
    ordered = UPat(Ops.ADD, src=(UPat.var("a"), UPat.cvar("c")))
    assert ordered.match(UOp.const(dtypes.index, 3) + x, {}) == []


def test_upat_same_name_must_be_same_uop():
    x, y = UOp.variable("x", 0, 10), UOp.variable("y", 0, 10)
    pat = UPat(Ops.SUB, src=(UPat.var("a"), UPat.var("a")))
    assert pat.match(x - x, {}) and not pat.match(x - y, {})


def test_upat_arg_predicate_and_dtype():
    pat = UPat(Ops.CONST, dtype=dtypes.index, arg_pred=lambda a: a > 2)
    assert pat.match(UOp.const(dtypes.index, 3), {})
    assert not pat.match(UOp.const(dtypes.index, 2), {})
    assert not pat.match(UOp.const(dtypes.int32, 3), {})


def test_graph_rewrite_reaches_fixed_point():
    x = UOp.variable("x", 0, 10)
    pm = PatternMatcher([(UPat(Ops.ADD, src=[UPat.var("a"), UPat.const(0)]), lambda a: a),
                         (UPat(Ops.MUL, src=[UPat.var("a"), UPat.const(1)]), lambda a: a + 0)])
    assert graph_rewrite((x * 1 + 0) * 1, pm) is x


def test_graph_rewrite_bottom_up_sees_parents_first():
    x = UOp.variable("x", 0, 10)
    seen = []
    pm = PatternMatcher([(UPat(Ops.NEG, name="n"), lambda n: seen.append(n))])
    graph_rewrite(-(-x), pm, bottom_up=True)
    assert seen[0] is -(-x)
    seen.clear()
    graph_rewrite(-(-x), pm)
    assert seen[0] is -x


def test_graph_rewrite_million_deep_chain_has_no_recursion_error():
    x = UOp.variable("x", 0, 10)
    u = x
    for _ in range(1_000_000):
        u = UOp(Ops.NEG, dtypes.index, (u,))
    pm = PatternMatcher([(UPat(Ops.NEG, src=(UPat(Ops.NEG, src=(UPat.var("a"),)),)), lambda a: a)])
    assert graph_rewrite(u, pm) is x
    assert graph_rewrite(UOp(Ops.NEG, dtypes.index, (u,)), pm) is -x


def test_rule_hits_are_counted_under_stable_names():
    x = UOp.variable("x", 0, 10)
    pm = PatternMatcher([(UPat(Ops.ADD, src=[UPat.var("a"), UPat.const(0)]), lambda a: a, "add_zero"),
                         (UPat(Ops.MUL, src=[UPat.var("a"), UPat.const(1)]), lambda a: a)])
    RuleStats.take()
    with track_rules():
        graph_rewrite((x + 0) * 1 + 0, pm)
    hits = RuleStats.take()
    assert hits["add_zero"] == 2
    assert [n for n in hits if n != "add_zero"][0].startswith("test_rewrite.py:")
    assert "add_zero" in pm.names() and len((pm + pm).names()) == 4
    graph_rewrite(x + 0, pm)
    assert RuleStats.take() == {}  # off outside track_rules


def test_substitute():
    x, y = UOp.variable("x", 0, 10), UOp.variable("y", 0, 10)
    assert substitute(x * 2 + 1, {x: y}) is y * 2 + 1


def test_late_rules_see_rewritten_sources_in_bottom_up_mode():
    x = UOp.variable("x", 0, 10)
    seen: list[UOp] = []

    def late(u: UOp) -> None:
        seen.append(u)  # records what the late rule is offered; never rewrites

    pm = PatternMatcher([
        (UPat(Ops.ADD, src=[UPat.var("a"), UPat.const(0)]), lambda a: a, "add_zero"),
        (UPat(Ops.MUL, name="u"), late, "late_mul"),
    ], late=("late_mul",))
    root = (x + 0) * 3
    assert graph_rewrite(root, pm, bottom_up=True) is x * 3
    assert seen == [x * 3]  # only after (x+0) became x, never the unrewritten node
    seen.clear()
    graph_rewrite(root, pm)  # the default order tries every rule after the sources anyway
    assert seen == [x * 3]


def test_late_rule_names_must_exist():
    with pytest.raises(ValueError, match="late rules not in the table"):
        PatternMatcher([(UPat(Ops.ADD, name="u"), lambda u: None, "a")], late=("b",))


def test_candidate_rules_are_filtered_by_source_ops_without_changing_matches():
    x, y = UOp.variable("x", 0, 10), UOp.variable("y", 0, 10)
    pm = PatternMatcher([(UPat(Ops.ADD, src=[UPat(Ops.MUL, name="m"), UPat.var("b")]), lambda m, b: m.src[0] + b,
                          "drop_scale")])
    assert pm.rewrite(x * 3 + y) is x + y
    assert pm.rewrite(y + x * 3) is x + y  # the commutative order is still tried
    assert pm.rewrite(x + y) is None  # no MUL source: the rule is not a candidate
