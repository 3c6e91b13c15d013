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


def _uops_to_match_against():
    """Every UOp of a few hundred random index/bool expressions, plus odd shapes (same sources, one source)."""
    import random

    rng = random.Random(5)
    xs = [UOp.variable(n, lo, hi) for n, lo, hi in (("x", -4, 9), ("y", 0, 7), ("z", 1, 3))]
    out = []
    for _ in range(150):
        e = rng.choice(xs)
        for _ in range(rng.randint(1, 6)):
            other = rng.choice(xs + [UOp.const(dtypes.index, rng.randint(-3, 9))])
            op = rng.choice(["+", "-", "*", "//", "%", "max", "min", "where", "neg", "same"])
            if op == "where":
                e = (e < other).where(e, other)
            elif op == "neg":
                e = -e
            elif op == "same":
                e = e + e if rng.random() < 0.5 else e.maximum(e)
            elif op in ("max", "min"):
                e = e.maximum(other) if op == "max" else e.minimum(other)
            else:
                e = {"+": e + other, "-": other - e, "*": e * other, "//": e // other, "%": e % other}[op]
        out.extend(e.toposort)
    b = UOp.variable("x", -4, 9) < 3
    out += [b & b, b | UOp.const(dtypes.bool, True), b.ne(True).ne(True), b.where(True, False)]
    return list(dict.fromkeys(out))


def _recorder(names: set, calls: list):
    """A rule function taking exactly `names` that records each call's captures and rejects the match."""
    params = sorted(names)
    env = {"calls": calls}
    exec(f"def f({', '.join(params)}):\n    calls.append(({''.join(f'id({n}), ' for n in params)}))\n", env)
    return env["f"]


def test_generated_matching_visits_exactly_the_generic_matches_in_order():
    from engine.codegen.kernel import kernel_rules
    from engine.rewrite import Rule, _compile
    from engine.symbolic import symbolic

    extra = [UPat(Ops.ADD, src=[UPat.var("a"), UPat.var("a")]), UPat(Ops.ADD, src=[UPat.var("a"), UPat.cvar("c")]),
             UPat(Ops.MAX, src=[UPat(Ops.ADD, src=(UPat.var("a"), UPat.cvar("c"))), UPat.var("a")]),
             UPat(Ops.WHERE, src=(UPat.var("c"),), allow_any_len=True, name="w"),
             UPat((Ops.ADD, Ops.MUL), src=[UPat(Ops.ADD, src=[UPat.var("a"), UPat.var("b")]), UPat.var("c")])]
    pats = [r.pat for r in symbolic.rules + kernel_rules.rules] + extra
    uops = _uops_to_match_against()
    compiled = matched = 0
    for pat in pats:
        calls: list = []
        rule = Rule(pat, _recorder(pat.names(), calls), "record")  # every match is rejected: all are visited
        compiled += _compile(pat, rule.fn, rule.params, False) is not None
        for u in uops:
            calls.clear()
            assert rule.apply(u, None) is None
            fast = list(calls)
            calls.clear()
            rule._generic_apply(u, None)
            assert fast == calls, (pat, u.render())
            matched += len(fast)
    assert compiled >= len(pats) - 2  # all but the nested-commutative extra (and at most one more) compile
    assert matched > 2000


def test_large_rewrites_pause_the_cyclic_collector_and_restore_it(monkeypatch):
    import gc

    import engine.rewrite as rw

    monkeypatch.setattr(rw, "_GC_PAUSE_AFTER", 500)
    seen = []

    def note(x):
        seen.append(gc.isenabled())

    x = UOp.variable("x", 0, 9)
    chain = x
    for _ in range(1000):  # bottom_up: the rule runs at each node's first visit, top down
        chain = chain + 1
    pm = PatternMatcher([(UPat(Ops.ADD, name="x"), note, "note")])
    assert gc.isenabled()
    graph_rewrite(chain, pm, bottom_up=True)
    assert gc.isenabled() and seen[0] and not seen[-1]  # paused part-way, enabled again after

    def boom(x):
        if not gc.isenabled():
            raise RuntimeError("rule failed")

    with pytest.raises(RuntimeError):
        graph_rewrite(chain, PatternMatcher([(UPat(Ops.ADD, name="x"), boom, "boom")]))
    assert gc.isenabled()  # restored on the way out of an error too

    gc.disable()
    try:  # a caller that turned it off keeps it off
        graph_rewrite(chain, pm)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_candidate_tables_share_one_entry_for_source_ops_no_rule_names():
    x, y = UOp.variable("x", 0, 9), UOp.variable("y", 0, 9)
    pm = PatternMatcher([(UPat(Ops.ADD, src=(UPat(Ops.MUL, name="m"), UPat.var("b"))), lambda m, b: m.src[0] + b,
                          "mul_first")])
    assert pm.rewrite((x * 3) + y) is x + y
    for other in (x - y, x // 2, x % 3, -x, x.maximum(y)):  # ops no rule names: one shared key, no match
        assert pm.rewrite(other + y) is None
    assert pm.rewrite(y + (x * 3)) is None  # MUL named in position 0 only: position 1 still decides
    keys = [k for k in pm._candidates[0][Ops.ADD] if isinstance(k, tuple)]
    assert len(keys) == 3  # (MUL, other), (other, other), (other, MUL)


def test_generated_rule_applications_return_what_the_generic_loop_returns():
    from engine.codegen.kernel import kernel_rules
    from engine.rewrite import Rule
    from engine.symbolic import symbolic

    calls = []

    def record(**kw):  # a rule function that rejects its first match: the second order of a commutative must run
        calls.append(tuple(sorted((k, id(v)) for k, v in kw.items())))
        return None if len(calls) % 2 else kw.get("a", kw.get("x"))

    extra = [Rule(UPat(Ops.ADD, src=[UPat.var("a"), UPat.var("b")]), lambda a, b, ctx: record(a=a, b=b), "comm"),
             Rule(UPat(Ops.MUL, src=[UPat(Ops.ADD, src=[UPat.var("a"), UPat.var("b")]), UPat.var("c")]),
                  lambda a, b, c: record(a=a, b=b, c=c), "nested_comm")]
    uops = _uops_to_match_against()
    fired = 0
    for rule in symbolic.rules + kernel_rules.rules + extra:
        if rule.direct:
            continue
        for u in uops:
            calls.clear()
            try:
                got = rule.apply(u, None)
            except Exception as e:  # noqa: BLE001 -- a rule that needs a real ctx must fail the same way
                got = type(e)
            first = list(calls)
            calls.clear()
            try:
                want = rule._generic_apply(u, None)
            except Exception as e:  # noqa: BLE001
                want = type(e)
            assert got is want and first == calls, (rule.name, u.render())
            fired += got is not None
    assert fired > 150
