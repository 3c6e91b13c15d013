"""Tests for the Z3 reference (oracles/z3_ref.py) and the pure-Python C-integer evaluator (oracles/c_int.py)."""

import copy

import numpy as np
import pytest
import z3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oracles.c_int import c_div, c_mod, evaluate, expr_size, is_bool_expr, iter_domain
from oracles.exhaustive import Evaluation, Overflow, check_all
from oracles.z3_ref import Z3Checker, to_z3

X, Y = ["var", "x"], ["var", "y"]


def C(v):
    return ["const", v]


@pytest.fixture(scope="module")
def checker():
    return Z3Checker(timeout_ms=2000)


# --- C integer semantics -------------------------------------------------------------------------------------


def test_c_div_mod_known_cases():
    assert c_div(-7, 2) == -3 and c_mod(-7, 2) == -1
    assert c_div(7, -2) == -3 and c_mod(7, -2) == 1
    assert c_div(-7, -2) == 3 and c_mod(-7, -2) == -1
    assert c_div(7, 2) == 3 and c_mod(7, 2) == 1
    # by a zero divisor both give 0 (numpy's result, what the engine's kernels compute)
    assert c_div(1, 0) == c_mod(1, 0) == c_div(-7, 0) == c_mod(-7, 0) == 0


def test_c_div_mod_reconstruct_dividend():
    for a in range(-20, 21):
        for b in [b for b in range(-7, 8) if b != 0]:
            assert c_div(a, b) * b + c_mod(a, b) == a
            assert abs(c_mod(a, b)) < abs(b) and (c_mod(a, b) == 0 or (c_mod(a, b) < 0) == (a < 0))


def test_z3_encoding_of_constant_idiv_mod_matches_c():
    for a in range(-20, 21):
        for b in [b for b in range(-7, 8) if b != 0]:
            q, qd = to_z3(["IDIV", C(a), C(b)], {})
            r, rd = to_z3(["MOD", C(a), C(b)], {})
            assert z3.simplify(q).as_long() == c_div(a, b), (a, b)
            assert z3.simplify(r).as_long() == c_mod(a, b), (a, b)
            assert z3.is_true(z3.simplify(qd)) and z3.is_true(z3.simplify(rd))


def test_z3_encoding_of_variable_idiv_mod_matches_c():
    # the general (non-constant divisor) encoding, instantiated at every point
    x, y = z3.Int("x"), z3.Int("y")
    q, qd = to_z3(["IDIV", X, Y], {"x": x, "y": y})
    r, _ = to_z3(["MOD", X, Y], {"x": x, "y": y})
    for a in range(-20, 21):
        for b in range(-7, 8):  # by 0: 0 (c_int)
            sub = [(x, z3.IntVal(a)), (y, z3.IntVal(b))]
            assert z3.simplify(z3.substitute(q, *sub)).as_long() == c_div(a, b), (a, b)
            assert z3.simplify(z3.substitute(r, *sub)).as_long() == c_mod(a, b), (a, b)
            assert z3.is_true(z3.simplify(z3.substitute(qd, *sub)))


def test_z3_encoding_of_constant_divisor_with_variable_dividend(checker):
    # x IDIV 3 and x MOD -3 must reconstruct x with C's signs: solver check over negative dividends
    x = z3.Int("x")
    for b in (3, -3, 1, -1):
        q, _ = to_z3(["IDIV", X, C(b)], {"x": x})
        r, _ = to_z3(["MOD", X, C(b)], {"x": x})
        for a in range(-10, 11):
            assert z3.simplify(z3.substitute(q, (x, z3.IntVal(a)))).as_long() == c_div(a, b)
            assert z3.simplify(z3.substitute(r, (x, z3.IntVal(a)))).as_long() == c_mod(a, b)


def test_shr_is_floor_and_shl_multiplies(checker):
    assert evaluate(["SHR", C(-7), C(1)], {}) == -4
    assert evaluate(["SHL", C(-3), C(2)], {}) == -12
    assert checker.prove_equal({"x": [-9, 9]}, ["SHL", X, C(3)], ["MUL", X, C(8)]).proven
    res = checker.prove_equal({"x": [-9, 9]}, ["SHR", X, C(1)], ["IDIV", X, C(2)])
    assert res.status == "counterexample" and res.counterexample["x"] < 0 and res.counterexample["x"] % 2 == 1


def test_evaluate_rejects_unknown_op_and_wrong_arity():
    with pytest.raises(ValueError, match="FOO"):
        evaluate(["FOO", C(1)], {})
    with pytest.raises(ValueError, match="ADD"):
        evaluate(["ADD", C(1)], {})
    with pytest.raises(ValueError, match="AND"):
        evaluate(["AND", C(1), C(True)], {})
    with pytest.raises(ValueError, match="NEG"):
        to_z3(["NEG", C(1), C(2)], {})
    assert evaluate(["MOD", X, ["SUB", X, X]], {"x": 3}) == 0 == evaluate(["IDIV", X, ["SUB", X, X]], {"x": 3})


def test_evaluate_where_skips_untaken_branch_and_helpers():
    e = ["WHERE", ["CMPNE", Y, C(0)], ["IDIV", X, Y], C(7)]
    assert evaluate(e, {"x": 5, "y": 0}) == 7
    assert evaluate(e, {"x": -5, "y": 2}) == -2
    assert expr_size(e) == 8
    assert list(iter_domain({"x": [0, 1], "y": [-1, -1]})) == [{"x": 0, "y": -1}, {"x": 1, "y": -1}]
    assert list(iter_domain({})) == [{}] and list(iter_domain({"x": [1, 0]})) == []


# --- prove_equal ------------------------------------------------------------------------------------------------


def test_prove_equal_true_identities(checker):
    assert checker.prove_equal({"x": [-10, 10]}, ["ADD", X, C(0)], X).proven
    assert checker.prove_equal({"x": [0, 10]}, ["IDIV", ["ADD", ["MUL", X, C(4)], C(3)], C(4)], X).proven
    bx = {"x": [-10, 10], "y": [-3, 3]}
    div_mod = ["ADD", ["MUL", ["IDIV", X, Y], Y], ["MOD", X, Y]]
    # C's (x/y)*y + x%y == x, for every sign (by 0 both are 0)
    assert checker.prove_equal(bx, ["WHERE", ["CMPEQ", Y, C(0)], X, div_mod], X).proven
    assert checker.prove_equal({"x": [-10, 10], "y": [1, 3]}, ["IDIV", ["MUL", X, Y], Y], X).proven
    res = checker.prove_equal(bx, ["IDIV", ["MUL", X, Y], Y], X)  # x*0 // 0 is 0, not x
    assert res.status == "counterexample" and res.counterexample["y"] == 0 and res.counterexample["x"] != 0


def test_prove_equal_false_identity_gives_negative_counterexample(checker):
    orig, simp = ["IDIV", ["ADD", ["MUL", X, C(4)], C(3)], C(4)], X
    res = checker.prove_equal({"x": [-5, 5]}, orig, simp)
    assert res.status == "counterexample" and res.counterexample["x"] < 0
    assert evaluate(orig, res.counterexample) != evaluate(simp, res.counterexample)


def test_prove_equal_mod_is_not_identity_past_divisor(checker):
    res = checker.prove_equal({"x": [0, 9]}, ["MOD", X, C(4)], X)
    assert res.status == "counterexample" and res.counterexample["x"] >= 4
    assert checker.prove_equal({"x": [0, 3]}, ["MOD", X, C(4)], X).proven


def test_prove_equal_compares_bool_with_int_as_0_1(checker):
    assert checker.prove_equal({}, C(True), C(1)).proven
    assert checker.prove_equal({}, C(True), C(2)).status == "counterexample"
    # the identical-tree fast path must not take the invalid ['const', 1] in a bool position for True
    with pytest.raises(ValueError, match="AND"):
        checker.prove_equal({}, ["AND", C(True), C(True)], ["AND", C(1), C(True)])
    res = checker.prove_equal({"x": [-1, 1]}, ["CMPLT", X, C(0)], C(False))
    assert res.status == "counterexample" and res.counterexample == {"x": -1}


def test_counterexample_is_complete(checker):
    res = checker.prove_equal({"x": [2, 5], "y": [-4, -3], "z": [7, 8]}, X, ["ADD", X, C(1)])
    assert res.status == "counterexample" and set(res.counterexample) == {"x", "y", "z"}
    assert 7 <= res.counterexample["z"] <= 8 and -4 <= res.counterexample["y"] <= -3


def test_unbounded_variable_is_rejected(checker):
    with pytest.raises(ValueError, match="y"):
        checker.prove_equal({"x": [0, 1]}, ["ADD", X, Y], X)


# --- division by zero: 0, as the engine's kernels compute it ------------------------------------------------------


def test_division_by_a_possibly_zero_divisor_is_checked_at_zero_too(checker):
    b = {"x": [-6, 6], "y": [-2, 2]}
    assert checker.prove_equal(b, ["IDIV", X, Y], ["IDIV", X, Y]).proven
    assert checker.prove_equal(b, ["IDIV", X, Y], ["ADD", ["IDIV", X, Y], C(0)]).proven
    assert checker.prove_equal(b, ["IDIV", X, Y], ["IDIV", X, ["MUL", Y, C(1)]]).proven
    zero = {"x": [-6, 6], "y": [0, 0]}
    assert checker.prove_equal(zero, ["IDIV", X, Y], C(0)).proven
    assert checker.prove_equal(zero, ["MOD", X, Y], C(0)).proven
    res = checker.prove_equal(zero, ["MOD", X, Y], X)  # x % 0 is 0, not x (a - b * q would say x)
    assert res.status == "counterexample" and res.counterexample["x"] != 0


def test_a_rewrite_that_changes_the_value_at_a_zero_divisor_is_a_counterexample(checker):
    b = {"x": [-6, 6], "y": [-2, 2]}
    res = checker.prove_equal(b, X, ["IDIV", ["MUL", X, Y], Y])
    assert res.status == "counterexample" and res.counterexample["y"] == 0
    guarded = ["WHERE", ["CMPNE", Y, C(0)], ["IDIV", X, Y], C(0)]
    flipped = ["WHERE", ["CMPEQ", Y, C(0)], C(0), ["IDIV", X, Y]]
    assert checker.prove_equal(b, guarded, flipped).proven
    assert checker.prove_equal(b, guarded, ["IDIV", X, Y]).proven  # the guard gives what x // 0 gives
    res = checker.prove_equal(b, ["WHERE", ["CMPNE", Y, C(0)], ["IDIV", X, Y], C(1)], ["IDIV", X, Y])
    assert res.status == "counterexample" and res.counterexample["y"] == 0
    assert checker.prove_all(b, guarded, ["IDIV", X, Y]).proven
    assert checker.prove_all(b, ["MOD", X, Y], ["WHERE", ["CMPEQ", Y, C(0)], C(0), ["MOD", X, Y]]).proven
    assert checker.prove_all(b, ["MOD", X, Y], ["WHERE", ["CMPEQ", Y, C(0)], X, ["MOD", X, Y]]).status == \
        "counterexample"


def test_prove_in_bounds(checker):
    b = {"x": [-7, 7]}
    assert checker.prove_in_bounds(b, ["MOD", X, C(4)], -3, 3).proven
    res = checker.prove_in_bounds(b, ["MOD", X, C(4)], 0, 3)
    assert res.status == "counterexample" and c_mod(res.counterexample["x"], 4) < 0
    assert checker.prove_in_bounds(b, ["IDIV", X, C(2)], None, 3).proven
    assert checker.prove_in_bounds(b, ["IDIV", X, C(2)], -2, None).status == "counterexample"
    assert checker.prove_in_bounds(b, ["CMPLT", X, C(0)], 0, 1).proven
    assert checker.prove_in_bounds(b, ["CMPLT", X, C(9)], 0, 0).status == "counterexample"
    # x IDIV 0 is 0
    assert checker.prove_in_bounds({"x": [-7, 7], "y": [0, 0]}, ["IDIV", X, Y], 0, 0).proven
    assert checker.prove_in_bounds({"x": [-7, 7], "y": [0, 0]}, ["IDIV", X, Y], 100, 100).status == "counterexample"
    assert checker.prove_in_bounds({"x": [-7, 7], "y": [0, 2]}, ["IDIV", X, Y], -7, 7).proven


def test_prove_implies(checker):
    b = {"x": [-5, 5]}
    assert checker.prove_implies(b, ["CMPLT", X, C(0)], ["CMPLT", X, C(1)]).proven
    res = checker.prove_implies(b, ["CMPLT", X, C(1)], ["CMPLT", X, C(0)])
    assert res.status == "counterexample" and res.counterexample["x"] == 0


def test_unknown_results_are_counted():
    # a nonlinear query over huge ranges with a tiny timeout: whatever Z3 says, an "unknown" is counted
    c = Z3Checker(timeout_ms=1)
    big = {"x": [-(10**30), 10**30], "y": [-(10**30), 10**30], "z": [-(10**30), 10**30]}
    cube = ["ADD", ["MUL", ["MUL", X, X], X], ["MUL", ["MUL", Y, Y], Y]]
    res = c.prove_equal(big, cube, ["MUL", ["MUL", ["var", "z"], ["var", "z"]], ["var", "z"]])
    assert res.status in ("unknown", "counterexample")
    assert c.timeouts == (1 if res.status == "unknown" else 0)


# --- property tests ---------------------------------------------------------------------------------------------

INT_OPS = ["ADD", "SUB", "MUL", "IDIV", "MOD", "MAX", "MIN"]
CMP_OPS = ["CMPLT", "CMPLE", "CMPNE", "CMPEQ"]


@st.composite
def int_exprs(draw, depth=3):
    """Random int expressions over x, y (divisors may be zero: definedness is part of what is checked)."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from([X, Y]) | st.integers(-4, 4).map(C))
    kind = draw(st.sampled_from(["bin", "bin", "bin", "neg", "where", "shift", "cast"]))
    if kind == "bin":
        return [draw(st.sampled_from(INT_OPS)), draw(int_exprs(depth - 1)), draw(int_exprs(depth - 1))]
    if kind == "neg":
        return ["NEG", draw(int_exprs(depth - 1))]
    if kind == "where":
        return ["WHERE", draw(bool_exprs(depth - 1)), draw(int_exprs(depth - 1)), draw(int_exprs(depth - 1))]
    if kind == "shift":
        return [draw(st.sampled_from(["SHL", "SHR"])), draw(int_exprs(depth - 1)), C(draw(st.integers(0, 2)))]
    return ["CAST_INT", draw(bool_exprs(depth - 1))]


@st.composite
def bool_exprs(draw, depth=2):
    """Random bool expressions: comparisons of int expressions and their boolean combinations."""
    if depth == 0 or draw(st.integers(0, 2)) == 0:
        return [draw(st.sampled_from(CMP_OPS)), draw(int_exprs(0)), draw(int_exprs(0))]
    kind = draw(st.sampled_from(["cmp", "logic", "not", "cast"]))
    if kind == "cmp":
        return [draw(st.sampled_from(CMP_OPS)), draw(int_exprs(depth - 1)), draw(int_exprs(depth - 1))]
    if kind == "logic":
        return [draw(st.sampled_from(["AND", "OR", "XOR"])), draw(bool_exprs(depth - 1)), draw(bool_exprs(depth - 1))]
    if kind == "not":
        return ["NOT", draw(bool_exprs(depth - 1))]
    return ["CAST_BOOL", draw(int_exprs(depth - 1))]


@st.composite
def small_bounds(draw):
    names = draw(st.sampled_from([["x"], ["x", "y"]]))
    out = {}
    for n in names:
        lo = draw(st.integers(-4, 4))
        out[n] = [lo, lo + draw(st.integers(0, 5))]
    if "y" not in out:
        out["y"] = [draw(st.integers(-2, 2))] * 2  # y appears in generated expressions: pin it
    return out


def _value(expr, env):
    try:
        return True, evaluate(expr, env)
    except ZeroDivisionError:
        return False, None


def _exhaustively_equal(bounds, original, simplified):
    for env in iter_domain(bounds):
        ok_o, vo = _value(original, env)
        if not ok_o:
            continue
        ok_s, vs = _value(simplified, env)
        if not ok_s or int(vo) != int(vs):
            return False
    return True


PROPERTY_SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(small_bounds(), int_exprs() | bool_exprs())
def test_expression_equals_itself(checker, bounds, e):
    assert checker.prove_equal(bounds, e, e).proven
    padded = ["AND", e, C(True)] if is_bool_expr(e) else ["ADD", e, C(0)]
    res = checker.prove_equal(bounds, e, padded)
    assert res.status in ("proven", "unknown"), res


def _rewrite(draw, e):
    """A related expression: sometimes a sound rewrite, often an unsound one, so both verdicts occur."""
    rule = draw(st.integers(0, 5))
    c = C(draw(st.integers(-3, 3)))
    if rule == 0:
        return ["SUB", ["ADD", e, c], c]
    if rule == 1:
        return ["ADD", ["MUL", ["IDIV", e, c], c], ["MOD", e, c]]
    if rule == 2:
        return ["MOD", ["ADD", e, c], c]
    if rule == 3:
        return ["IDIV", ["MUL", e, c], c]
    if rule == 4:
        return ["NEG", ["NEG", e]]
    return draw(int_exprs())


@PROPERTY_SETTINGS
@given(st.data(), small_bounds(), int_exprs())
def test_z3_verdicts_agree_with_exhaustive_evaluation(checker, data, bounds, original):
    simplified = _rewrite(data.draw, original)
    res = checker.prove_equal(bounds, original, simplified)
    if res.status == "proven":
        assert _exhaustively_equal(bounds, original, simplified)
    elif res.status == "counterexample":
        cex = res.counterexample
        assert set(cex) == set(bounds)
        assert all(lo <= cex[n] <= hi for n, (lo, hi) in bounds.items())
        ok_o, vo = _value(original, cex)
        ok_s, vs = _value(simplified, cex)
        assert ok_o and (not ok_s or int(vo) != int(vs))
        assert not _exhaustively_equal(bounds, original, simplified)


# --- the exhaustive numpy oracle (oracles/exhaustive.py) ----------------------------------------------------------


def _nodes(expr):
    out, stack = [], [expr]
    while stack:
        n = stack.pop()
        out.append(n)
        if n[0] not in ("var", "const"):
            stack.extend(n[1:2] if n[0] in ("SHL", "SHR") else n[1:])
    return out


@PROPERTY_SETTINGS
@given(small_bounds(), int_exprs() | bool_exprs())
def test_exhaustive_values_definedness_and_intervals_match_c_int(bounds, e):
    ev = Evaluation(bounds, [e])
    for env in iter_domain(bounds):
        for node in _nodes(e):
            ok, want = _value(node, env)
            got = ev.at(node, env)
            assert (got is not None) == ok, (node, env)
            if ok:
                assert int(got) == int(want) and isinstance(got, bool) == isinstance(want, bool), (node, env, got)
                lo, hi = ev.interval(node)
                assert lo <= int(want) <= hi, (node, env, want, lo, hi)


def test_exhaustive_intervals_hold_for_every_op_and_sign_pattern():
    ranges = [[-5, -2], [-3, 4], [0, 6], [2, 7], [0, 0], [-1, -1]]
    for bx in ranges:
        for by in ranges:
            bounds = {"x": bx, "y": by}
            exprs = [[op, X, Y] for op in INT_OPS] + [["NEG", X], ["SHL", X, C(2)], ["SHR", X, C(1)]]
            ev = Evaluation(bounds, exprs)
            for e in exprs:
                lo, hi = ev.interval(e)
                for env in iter_domain(bounds):
                    ok, v = _value(e, env)
                    assert not ok or lo <= v <= hi, (e, bounds, env, v, lo, hi)


def test_exhaustive_c_division_by_constants_and_by_a_zero_crossing_variable():
    bounds = {"x": [-20, 20], "y": [-7, 7]}
    exprs = {b: (["IDIV", X, C(b)], ["MOD", X, C(b)]) for b in range(-7, 8) if b != 0}
    var_div, var_mod = ["IDIV", X, Y], ["MOD", X, Y]
    ev = Evaluation(bounds, [*(e for pair in exprs.values() for e in pair), var_div, var_mod])
    for env in iter_domain(bounds):
        a, b = env["x"], env["y"]
        for k, (q, r) in exprs.items():
            assert (ev.at(q, env), ev.at(r, env)) == (c_div(a, k), c_mod(a, k)), (a, k)
        want = (0, 0) if b == 0 else (c_div(a, b), c_mod(a, b))
        assert (ev.at(var_div, env), ev.at(var_mod, env)) == want, (a, b)


def test_exhaustive_widens_to_int64_and_refuses_what_int64_cannot_hold():
    bounds = {"x": [-3, 3]}
    big = ["MOD", ["MUL", X, C(2**40 + 1)], C(2**35 - 3)]
    ev = Evaluation(bounds, [big])
    assert ev.dt == np.int64
    assert [ev.at(big, {"x": v}) for v in range(-3, 4)] == [c_mod(v * (2**40 + 1), 2**35 - 3) for v in range(-3, 4)]
    assert Evaluation(bounds, [["ADD", X, C(5)]]).dt == np.int32
    const = ["MUL", C(2**20), C(2**20)]  # constants alone beyond int32 are exact too
    assert Evaluation(bounds, [const]).at(const, {"x": 0}) == 2**40
    with pytest.raises(Overflow):
        Evaluation(bounds, [["MUL", ["MUL", X, C(2**40)], C(2**40)]])


def _true_range(bounds, e):
    vals = [int(v) for ok, v in (_value(e, env) for env in iter_domain(bounds)) if ok]
    return (min(vals), max(vals)) if vals else (0, 0)


@PROPERTY_SETTINGS
@given(st.data(), small_bounds(), int_exprs())
def test_check_all_agrees_with_z3_prove_all_on_equality_and_bounds(checker, data, bounds, original):
    simplified = _rewrite(data.draw, original)
    lo, hi = _true_range(bounds, original)
    claims = [(original, lo + data.draw(st.sampled_from([0, 0, 1])), hi - data.draw(st.sampled_from([0, 0, 1])))]
    exh = check_all(bounds, original, simplified, claims)
    # the same verdict when nothing is shared by identity (the tree written out twice)
    assert check_all(bounds, copy.deepcopy(original), copy.deepcopy(simplified), claims).status == exh.status
    ref = checker.prove_all(bounds, original, simplified, claims)
    if ref.status != "unknown":
        assert exh.status == ref.status, (exh, ref)
    if exh.status == "counterexample":
        env = exh.counterexample
        ok_o, vo = _value(original, env)
        ok_s, vs = _value(simplified, env)
        bad_eq = ok_o and (not ok_s or int(vo) != int(vs))
        bad_range = ok_o and not claims[0][1] <= int(vo) <= claims[0][2]
        assert bad_eq or bad_range, (env, exh.reason)


def test_check_all_names_the_failing_point_and_skips_equality_for_the_same_node():
    bounds = {"x": [-5, 5]}
    e = ["MOD", X, C(4)]
    res = check_all(bounds, e, ["MOD", X, C(-4)], [(e, 0, 3)])  # equal under C semantics; bounds wrong below 0
    assert res.status == "counterexample" and res.counterexample["x"] < 0 and "outside [0, 3]" in res.reason
    res = check_all(bounds, C(1), ["IDIV", X, X])  # equal where x != 0; 0 // 0 is 0
    assert res.status == "counterexample" and res.counterexample == {"x": 0} and "simplified = 0" in res.reason
    assert check_all(bounds, ["MOD", C(7), ["SUB", X, X]], C(0)).status == "proven"  # 7 % 0 is 0
    for bad in (["ADD", X], [["ADD"], X, X], ["ADD", X, 3], ["FROB", X, X], ["var", "q"]):
        with pytest.raises(ValueError, match="ADD|malformed|FROB|'q'"):
            check_all(bounds, bad, bad)


def test_check_all_bounds_claims_tighter_than_its_own_intervals_get_the_full_pass():
    bounds = {"x": [0, 2]}
    e = ["MOD", ["ADD", X, C(1)], C(4)]  # values 1..3; the oracle's own interval is [0, 3]
    assert Evaluation(bounds, [e]).interval(e) == (0, 3)
    assert check_all(bounds, e, e, [(e, 1, 3)]).status == "proven"  # true, though not implied by [0, 3]
    res = check_all(bounds, e, e, [(e, 2, 3)])
    assert res.status == "counterexample" and res.counterexample == {"x": 0} and "outside [2, 3]" in res.reason
    assert check_all(bounds, e, e, [(e, 0, 3), (e, None, 5), (e, -1, None)]).status == "proven"
