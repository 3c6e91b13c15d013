"""The symbolic fuzzer end to end, including planted bugs it must find, minimize, save and reproduce."""

import gc
import json
import random

import pytest

import engine.symbolic as sym
from engine.uop import Ops, UOp
from fuzz.campaign import run_campaign
from fuzz.cli import main as cli_main
from fuzz.corpus import load_entry
from fuzz.symbolic import SymbolicFuzzer
from fuzz.symbolic.expr import int_dtype, subexpressions, to_expr, to_uop
from fuzz.symbolic.generate import DECIDABLE_POINTS, GenOptions, gen_case
from oracles.c_int import FIXED_WIDTH, c_mod, evaluate, int_range
from oracles.exhaustive import Evaluation, check_all, domain_size
from oracles.z3_ref import ProofResult


def _mod_fold_ignoring_sign(x: UOp, c: int):
    """Planted bug: reduce coefficients mod c without checking that the numerator is nonnegative."""
    if 0 <= x.vmin and x.vmax < c:
        return x
    terms, const = sym.terms_of(x)
    rest = sym.build_sum(x.dtype, {b: k % c for b, k in terms.items()}, const % c)
    return None if rest is x else UOp(Ops.MOD, x.dtype, (rest, UOp.const(x.dtype, c)))


def _div_fold_ignoring_sign(x: UOp, c: int):
    """Planted bug: split whole multiples out of a division whatever the signs."""
    terms, const = sym.terms_of(x)
    quot = {b: k // c for b, k in terms.items() if k % c == 0}
    if not quot or c <= 0:
        return None
    rest = sym.build_sum(x.dtype, {b: k for b, k in terms.items() if k % c != 0}, const)
    div = UOp(Ops.IDIV, x.dtype, (rest, UOp.const(x.dtype, c)))
    return UOp(Ops.ADD, x.dtype, (sym.build_sum(x.dtype, quot, 0), div))


def test_generation_is_deterministic_and_valid():
    f = SymbolicFuzzer()
    a = [f.generate(random.Random(f"3:{i}")) for i in range(50)]
    b = [f.generate(random.Random(f"3:{i}")) for i in range(50)]
    assert a == b
    for case in a:
        f.validate(case)
        dtype = int_dtype(case)
        assert to_expr(to_uop(case["expr"], case["vars"], dtype), dtype=dtype) == case["expr"]  # an exact round trip


def test_generator_covers_negative_bounds_symbolic_divisors_and_bools():
    f = SymbolicFuzzer()
    cases = [f.generate(random.Random(f"4:{i}")) for i in range(300)]
    text = json.dumps(cases)
    assert any(lo < 0 < hi for c in cases for lo, hi in c["vars"].values())
    assert any(op in text for op in ('"WHERE"', '"AND"', '"OR"', '"CMPLT"'))
    assert any(e[0] in ("IDIV", "MOD") and e[2][0] == "var" for c in cases for e in subexpressions(c["expr"]))
    assert any(e[0] == "const" and isinstance(e[1], int) and not isinstance(e[1], bool) and e[1] < 0
               for c in cases for e in subexpressions(c["expr"]))


def test_generator_narrows_most_wide_domains_and_keeps_a_few_for_z3():
    opts = GenOptions()
    cases = [gen_case(random.Random(f"5:{i}"), opts) for i in range(2000)]
    wide = sum(domain_size(c["vars"]) > opts.max_points for c in cases)
    assert 0 < wide < 0.03 * len(cases)
    assert any(hi - lo >= 500 for c in cases for lo, hi in c["vars"].values())  # one wide variable still occurs
    keep_all = [gen_case(random.Random(f"5:{i}"), GenOptions(wide_domains=1.0, max_wide_points=None))
                for i in range(2000)]
    assert sum(domain_size(c["vars"]) > opts.max_points for c in keep_all) > 2 * wide
    # by default even the wide ones stay decidable by evaluation once Z3 gives up, and some still need Z3 first
    assert all(domain_size(c["vars"]) <= DECIDABLE_POINTS for c in cases)
    assert any(domain_size(c["vars"]) > SymbolicFuzzer().exhaustive_limit for c in cases)
    assert any(domain_size(c["vars"]) > DECIDABLE_POINTS for c in keep_all)


def test_narrowed_domains_fit_and_keep_their_signs():
    cases = [gen_case(random.Random(f"6:{i}"), GenOptions(max_points=64, wide_domains=0.0)) for i in range(500)]
    assert all(domain_size(c["vars"]) <= 64 for c in cases)
    ranges = [b for c in cases for b in c["vars"].values()]
    assert any(lo < 0 < hi for lo, hi in ranges) and any(hi < 0 for lo, hi in ranges)
    assert any(lo > 0 for lo, hi in ranges)




_real_affine_simplify = sym.affine_simplify


def _fast_path_dropping_constants(u: UOp):
    """Planted bug: the affine fast path loses the last term (or the constant) of a sum."""
    out = _real_affine_simplify(u)
    if out is not None and out.op in (Ops.ADD, Ops.SUB):
        return out.src[0]
    return out


def test_correct_engine_passes_a_seeded_campaign(tmp_path):
    result = run_campaign(["symbolic"], cases=300, seed=11, workers=1, corpus_dir=tmp_path / "c", report_dir=None,
                          minimize_seconds=5)
    assert result.counts["pass"] >= 299, result.counts
    assert not [f for f in result.findings if f.status == "mismatch"]


def test_check_reports_each_failure_kind_with_its_own_signature(monkeypatch):
    f = SymbolicFuzzer()
    case = {"vars": {"x": [-5, 5]}, "expr": ["MOD", ["ADD", ["MUL", ["var", "x"], ["const", 4]], ["const", 3]],
                                             ["const", 4]]}
    assert f.check(case).status == "pass"
    monkeypatch.setattr(sym, "fold_mod", _mod_fold_ignoring_sign)
    v = f.check(case)
    assert (v.status, v.signature) == ("mismatch", "mismatch:not-equal:fold_mod")
    x = v.details["counterexample"]["x"]
    assert x < 0 and c_mod(x * 4 + 3, 4) != 3  # a real counterexample under C semantics


def test_unsound_bounds_are_found(monkeypatch):
    import engine.uop as uop_mod

    # planted: bounds of x % c forget negative dividends
    monkeypatch.setattr(uop_mod, "_mod_bounds", lambda alo, ahi, c: (0, c - 1))
    f = SymbolicFuzzer()
    v = f.check({"vars": {"x": [-7, 7]}, "expr": ["ADD", ["MOD", ["var", "x"], ["const", 4]], ["const", 100]]})
    assert v.status == "mismatch" and v.signature.startswith("mismatch:bounds:")


def test_a_value_past_int64_is_overflow_not_an_unsound_bound():
    # the engine saturates index bounds at int64's limits; a product past them overflows the index dtype (a false
    # alarm of a campaign once shared subterms made squares of wide sums); a bound short of the limit still counts
    big = -28296857266374144
    f = SymbolicFuzzer()
    product = ["MUL", ["var", "r"], ["var", "y"]]
    for expr in (product, ["IDIV", product, ["const", 2]]):  # a half of the saturated interval bounds a wrapped value
        v = f.check({"vars": {"r": [big, big], "y": [325, 326]}, "expr": expr})
        assert v.status == "pass", v


def test_generator_shares_subterms_like_terms_zero_divisors_and_equal_ranges():
    cases = [gen_case(random.Random(f"5:{i}")) for i in range(400)]

    def shared(e: list) -> bool:
        seen: list = []
        for s in subexpressions(e):
            if s[0] not in ("var", "const") and s in seen:
                return True
            seen.append(s)
        return False

    assert sum(shared(c["expr"]) for c in cases) > 40
    assert any(e[0] in ("IDIV", "MOD") and e[2][0] == "var" and c["vars"][e[2][1]][0] <= 0 <= c["vars"][e[2][1]][1]
               for c in cases for e in subexpressions(c["expr"]))
    assert sum(len(c["vars"]) > 1 and len({tuple(r) for r in c["vars"].values()}) == 1 for c in cases) > 20


_real_wraps = sym._wraps


def _signed_sums_never_wrap(x: UOp, terms, const):
    """Planted: a linear form of a signed fixed-width int is taken to equal its value, as if it could not wrap
    (int8 (x*2)//2 folds to x; at x = 100, x*2 wraps to -56)."""
    return False if x.dtype.scalar.kind == "i" else _real_wraps(x, terms, const)


@pytest.mark.parametrize("target,planted,signature,cases", [
    ("fold_mod", _mod_fold_ignoring_sign, "mismatch:not-equal:fold_mod", 400),
    ("fold_div", _div_fold_ignoring_sign, "mismatch:not-equal:fold_div", 400),
    ("affine_simplify", _fast_path_dropping_constants, "mismatch:fast-path", 400),
    # one case in 300 exposes it (an int8 ... int32 sum that wraps under a division): 1,500 cases
    ("_wraps", _signed_sums_never_wrap, "mismatch:not-equal:fold_div", 1500),
])
def test_planted_bug_is_found_minimized_saved_and_reproduced(tmp_path, monkeypatch, capsys, target, planted,
                                                             signature, cases):
    monkeypatch.setattr(sym, target, planted)  # forked workers inherit the planted rule
    corpus = tmp_path / "corpus"
    result = run_campaign(["symbolic"], cases=cases, seed=3, workers=2, corpus_dir=corpus,
                          report_dir=tmp_path / "reports", minimize_seconds=600)  # never the limit: see below
    assert result.exit_code == 1
    found = [f for f in result.findings if f.signature == signature]
    assert found, [f.signature for f in result.findings]
    entry = load_entry(found[0].corpus_path)
    case = entry["case"]
    minimized = to_uop(case["expr"], case["vars"], int_dtype(case))
    # at most 9 UOps: a wrong fold inside a condition keeps the where and its two arms (an int case stays int), as
    # where(((x + -1) % 3) < 0, x, y) is, 1-minimal (checked below)
    assert len(minimized.toposort) <= 9, minimized.render()
    assert entry["size_after"] < entry["size_before"]
    # no single reduction of the saved case still fails the same way: it is 1-minimal. That holds only where the
    # minimization ran to its end, so the budget above must never bind: ~3 s in a fresh process, but each candidate is
    # checked in a fork of this one, and late in the suite (a process of ~1 GB) on a loaded 2-core box a fork costs
    # 0.1-0.25 s: a 90 s budget ran out one step early on CI
    assert not found[0].minimize["out_of_time"], found[0].minimize
    f = SymbolicFuzzer()
    for smaller in f.reductions(case):  # what the minimizer tries
        if f.size(smaller) < f.size(case):
            assert f.check(smaller).signature != signature
    assert cli_main(["repro", str(found[0].corpus_path)]) == 1
    monkeypatch.undo()
    assert cli_main(["repro", str(found[0].corpus_path)]) == 0  # with the real rule it passes


def test_reproducer_is_standalone_and_fails_while_the_bug_exists(tmp_path, monkeypatch):
    monkeypatch.setattr(sym, "fold_mod", _mod_fold_ignoring_sign)
    f = SymbolicFuzzer()
    case = {"vars": {"x": [-5, 5]}, "expr": ["MOD", ["ADD", ["MUL", ["var", "x"], ["const", 4]], ["const", 3]],
                                             ["const", 4]]}
    verdict = f.check(case)
    assert verdict.details.get("counterexample")
    src = f.reproducer(case, "mismatch:not-equal:fold_mod", verdict.details)
    script = tmp_path / "repro.py"
    script.write_text(src)
    ns = {"__name__": "__main__"}
    with pytest.raises(SystemExit) as e:
        exec(compile(src, str(script), "exec"), ns)
    assert e.value.code == 1
    monkeypatch.undo()
    with pytest.raises(SystemExit) as e:
        exec(compile(src, str(script), "exec"), {"__name__": "__main__"})
    assert e.value.code == 0


def test_z3_gets_a_short_limit_where_evaluating_every_point_can_take_over(monkeypatch):
    f = SymbolicFuzzer(exhaustive_limit=0)
    limits = []

    def undecided(*args, timeout_ms=None):
        limits.append(timeout_ms)
        return ProofResult("unknown", None, "z3: timeout")

    monkeypatch.setattr(f.z3, "prove_all", undecided)
    expr = ["ADD", ["MOD", ["var", "x"], ["const", 4]], ["var", "y"]]
    assert f.check({"vars": {"x": [-50, 50], "y": [0, 9]}, "expr": expr}).status == "pass"  # 1010 points
    assert limits == [f.z3_quick_ms]
    v = f.check({"vars": {"x": [0, 10**6], "y": [0, 10**6]}, "expr": expr})  # too many points to evaluate
    assert (v.status, v.signature) == ("timeout", "timeout:z3") and limits[1:] == [None]
    assert v.details["inconclusive"]  # counted and listed by campaigns, but not a finding


def test_bad_case_is_rejected_with_a_clear_message():
    f = SymbolicFuzzer()
    with pytest.raises(ValueError, match="empty range"):
        f.validate({"vars": {"x": [3, 1]}, "expr": ["var", "x"]})
    with pytest.raises(ValueError, match="unknown op"):
        f.validate({"vars": {"x": [0, 1]}, "expr": ["FROB", ["var", "x"]]})
    for bad in (["ADD", ["var", "x"]], [["ADD"], ["var", "x"], ["var", "x"]], ["ADD", ["var", "x"], 3]):
        with pytest.raises(ValueError, match="ADD|malformed"):
            f.check({"vars": {"x": [0, 1]}, "expr": bad})  # check builds its UOps from unvalidated nodes
    for leaf, message in ((["var", ["x"]], "var: expected"), (["const", 1.5], "const: expected"),
                          (["var", "q"], "'q' has no bounds")):
        with pytest.raises(ValueError, match=message):
            f.check({"vars": {"x": [0, 1]}, "expr": ["ADD", ["var", "x"], leaf]})


def test_symbolic_fuzzer_declares_every_rule_for_coverage():
    from engine.symbolic import symbolic
    from fuzz.registry import fuzzer_spec, load_fuzzer

    keys = load_fuzzer(fuzzer_spec("symbolic"), "symbolic").coverage_keys()
    assert set(keys) == set(symbolic.names()) and "fold_mod" in keys


def test_reproducer_never_runs_the_check_in_the_callers_process(monkeypatch):
    # a case whose check hangs (a timeout finding) must not hang the campaign that saves its reproducer
    def hang(self, case):
        raise AssertionError("reproducer ran check() in-process")

    monkeypatch.setattr(SymbolicFuzzer, "check", hang)
    case = {"vars": {"x": [0, 5]}, "expr": ["ADD", ["var", "x"], ["const", 1]]}
    src = SymbolicFuzzer().reproducer(case, "timeout", {"reason": "worker timed out"})
    assert "env = {}" in src and "timeout" in src


def test_checking_cases_leaves_no_reference_cycles():
    """Cyclic garbage waits for the collector, which then costs a large share of a campaign's time:
    UOp caches (terms, toposorts) and the case -> UOp builder must be freed by reference counting alone."""
    fz = SymbolicFuzzer()
    rng = random.Random(11)
    cases = [fz.generate(rng) for _ in range(60)]
    fz.check(cases[0])  # warm-up: solver and module caches are created once
    gc.collect()
    gc.disable()
    try:
        for case in cases:
            fz.check(case)
        leaked = gc.collect()
    finally:
        gc.enable()
    assert leaked == 0


def test_fast_path_that_disagrees_with_the_rules_is_a_finding(monkeypatch):
    f = SymbolicFuzzer()
    case = {"vars": {"x": [0, 9], "y": [0, 9]}, "expr": ["ADD", ["ADD", ["var", "y"], ["var", "x"]], ["const", 3]]}
    assert f.check(case).status == "pass"
    monkeypatch.setattr(sym, "affine_simplify", _fast_path_dropping_constants)
    v = f.check(case)
    assert (v.status, v.signature) == ("mismatch", "mismatch:fast-path")
    assert v.details["fast"] == "(x+y)"


def _fixed_width_cases(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [gen_case(rng, GenOptions(fixed_width=1.0)) for _ in range(n)]


def test_fixed_width_cases_cover_every_type_and_its_edges_and_stay_checkable_point_by_point():
    cases = _fixed_width_cases(400)
    f = SymbolicFuzzer()
    assert {c["dtype"] for c in cases} == set(FIXED_WIDTH)
    for c in cases:
        f.validate(c)
        assert domain_size(c["vars"]) <= f.fallback_limit
    at_edge = sum(any(b in int_range(c["dtype"]) for r in c["vars"].values() for b in r) for c in cases)
    assert at_edge > 150  # ranges reaching the type's minimum or maximum, where its arithmetic wraps
    assert sum("dtype" in gen_case(random.Random(i)) for i in range(1000)) in range(80, 250)  # the default mix


def test_wrapping_oracles_agree_with_each_other_and_with_twos_complement():
    # the two oracles of fixed-width cases, numpy over the domain and Python at one point, written independently
    rng = random.Random(5)
    for c in _fixed_width_cases(150, seed=1):
        ev = Evaluation(c["vars"], [c["expr"]], c["dtype"])
        for _ in range(10):
            env = {n: rng.randint(lo, hi) for n, (lo, hi) in c["vars"].items()}
            got = ev.at(c["expr"], env)
            if got is not None:
                assert got == evaluate(c["expr"], env, c["dtype"]), (c, env)
    x = ["var", "x"]
    for dtype, expr, at, want in [
        ("int8", ["IDIV", ["MUL", x, ["const", 2]], ["const", 2]], 100, -28),  # 200 wraps to -56
        ("uint8", ["NEG", x], 5, 251),
        ("int8", ["IDIV", x, ["const", -1]], -128, -128),  # INT_MIN // -1 wraps to INT_MIN
        ("int8", ["MOD", x, ["const", -1]], -128, 0),
        ("uint16", ["SHL", x, ["const", 4]], 0x1234, 0x2340),
        ("int32", ["ADD", x, ["const", 1]], 2**31 - 1, -2**31),
        ("uint32", ["MUL", x, x], 2**32 - 1, 1),  # (2**32 - 1)**2 = 1 modulo 2**32: past int64 before wrapping
        ("int16", ["SHR", x, ["const", 3]], -32768, -4096),
    ]:
        assert evaluate(expr, {"x": at}, dtype) == want, (dtype, expr)
        assert Evaluation({"x": [at, at]}, [expr], dtype).at(expr, {"x": at}) == want, (dtype, expr)


def test_fixed_width_case_errors_name_what_is_wrong():
    f = SymbolicFuzzer()
    x = ["var", "x"]
    for case, words in [
        ({"vars": {"x": [0, 3]}, "expr": ["ADD", x, ["const", 200]], "dtype": "int8"}, "constant 200 is not in int8"),
        ({"vars": {"x": [-1, 3]}, "expr": x, "dtype": "uint8"}, "variable 'x'"),
        ({"vars": {"x": [0, 3]}, "expr": ["SHL", x, ["const", 8]], "dtype": "uint8"}, "8 bits"),
        ({"vars": {"x": [0, 3]}, "expr": x, "dtype": "int128"}, "unknown integer type 'int128'"),
        ({"vars": {"x": [0, 2**20], "y": [0, 2**20]}, "expr": x, "dtype": "int32"}, "every point"),
    ]:
        with pytest.raises(ValueError, match=words.replace("(", r"\(")):
            f.validate(case)


@pytest.mark.parametrize("dtype,expr,bounds", [
    # each was folded as if the ints could not wrap (found by the fuzzer's fixed-width cases; corpus/symbolic)
    ("uint8", ["CMPNE", ["ADD", ["var", "x"], ["const", 1]], ["const", 0]], {"x": [255, 255]}),  # rhs -1 unwrapped
    ("int16", ["CMPEQ", ["MUL", ["var", "x"], ["const", 4]], ["const", -16]], {"x": [32760, 32767]}),  # 4x wraps
    ("uint8", ["IDIV", ["ADD", ["MUL", ["var", "y"], ["const", 8]], ["NEG", ["var", "x"]]], ["const", 8]],
     {"x": [1, 2], "y": [8, 8]}),  # the rest -x wraps though 64 - x does not
    ("uint16", ["MOD", ["ADD", ["var", "x"], ["SUB", ["var", "y"], ["const", 1]]], ["const", 5]],
     {"x": [32757, 32757], "y": [32774, 32775]}),
])
def test_fixed_width_folds_respect_wrapping(dtype, expr, bounds):
    case = {"vars": bounds, "expr": expr, "dtype": dtype}
    assert SymbolicFuzzer().check(case).status == "pass"
    u = to_uop(expr, bounds, int_dtype(case))
    simplified = sym.simplify(u)
    assert check_all(bounds, expr, to_expr(simplified), (), dtype).status == "proven", simplified.render()


def test_casts_through_fixed_width_types_are_generated_and_their_bounds_checked(monkeypatch):
    import engine.uop as uop_mod

    cases = _fixed_width_cases(300, seed=4)
    assert sum(any(n[0].startswith("TRUNC_") for n in subexpressions(c["expr"])) for c in cases) > 60
    f = SymbolicFuzzer()
    narrowed = ["CMPLT", ["CAST_INT", ["TRUNC_INT8", ["var", "x"]]], ["const", 0]]  # int8 of 0..300 wraps below 0
    assert f.check({"vars": {"x": [0, 300]}, "dtype": "int16", "expr": narrowed}).status == "pass"
    assert f.check({"vars": {"x": [0, 300]}, "expr": narrowed}).status == "pass"  # index -> int8 -> index
    real = uop_mod._bounds

    def keeps_the_source_interval(u):  # planted: an int-to-int cast keeps its source's bounds
        return u.src[0].__dict__["_mm"] if u.op is Ops.CAST and u.dtype.kind in "iu" else real(u)

    monkeypatch.setattr(uop_mod, "_bounds", keeps_the_source_interval)
    v = f.check({"vars": {"x": [0, 299]}, "dtype": "int16", "expr": narrowed})  # new UOps: bounds not cached yet
    assert v.signature in ("mismatch:bounds:CAST", "mismatch:not-equal:bounds_fold"), v
    v = f.check({"vars": {"x": [0, 298]}, "expr": narrowed})
    assert v.signature in ("mismatch:bounds:CAST", "mismatch:not-equal:bounds_fold"), v
    index_cases = [gen_case(random.Random(i), GenOptions(index_casts=1.0, fixed_width=0.0)) for i in range(200)]
    assert sum(any(n[0].startswith("TRUNC_") for n in subexpressions(c["expr"])) for c in index_cases) > 40
    with pytest.raises(ValueError, match="read through CAST_INT"):
        bare = ["ADD", ["TRUNC_INT8", ["var", "x"]], ["const", 1]]
        f.validate({"vars": {"x": [0, 3]}, "dtype": "int16", "expr": bare})


def _fast_path_constant_unscaled(u: UOp):
    """planted in the fast path: (s + k) * c taken as s*c + k (the constant of a scaled sum not multiplied)."""
    if u.op is Ops.MUL and u.src[1].op is Ops.CONST and u.src[0].op in (Ops.ADD, Ops.SUB) and \
            u.src[1].arg not in (0, 1):
        terms, k = sym.terms_of(u.src[0])
        if k and len(terms) >= 2:
            return sym.build_sum(u.dtype, terms, 0) * u.src[1].arg + k
    return None


def test_affine_cases_take_the_fast_path_through_scaled_sums_and_a_bug_there_is_found(monkeypatch):
    """An eighth of the index cases are affine (sums scaled and nested, what kernels' index math is), the expressions
    simplify takes through affine_simplify rather than the rules; a bug in that path is found in a seeded campaign."""
    rng = random.Random(0)
    cases = [gen_case(rng) for _ in range(2000)]
    affine = [c for c in cases if sym.simplify_fast(to_uop(c["expr"], c["vars"])) is not None]
    scaled = [c for c in affine if any(u.op is Ops.MUL and u.src[0].op in (Ops.ADD, Ops.SUB)
                                       for u in to_uop(c["expr"], c["vars"]).toposort)]
    assert len(affine) > 200 and len(scaled) > 50, (len(affine), len(scaled))
    roots = [u for u in (to_uop(c["expr"], c["vars"]) for c in scaled)
             if _fast_path_constant_unscaled(u) is not None]  # the planted bug's form at the root
    assert len(roots) >= 5, len(roots)
    monkeypatch.setattr(sym, "affine_simplify", _fast_path_constant_unscaled)
    f = SymbolicFuzzer()
    found = [v for v in (f.check(c) for c in scaled) if v.status == "mismatch"]
    assert found and all(v.signature == "mismatch:fast-path" for v in found), [v.signature for v in found]


def test_bitwise_ints_are_generated_and_every_oracle_computes_them_in_twos_complement(monkeypatch):
    """and/or/xor of ints (x & 7, negative masks, two terms) are bitwise in c_int and the numpy evaluation (Z3
    declines them: the evaluation decides); the generator draws them; a planted AND bound that ignores a negative
    operand is found."""
    import engine.uop as uop_mod
    from engine.dtype import dtypes
    from fuzz.symbolic.generate import is_bool
    from oracles.z3_ref import Z3Checker

    x, y = ["var", "x"], ["var", "y"]
    bounds = {"x": [-9, 9], "y": [-3, 12]}
    z3c = Z3Checker()
    for op, fn in (("AND", lambda a, b: a & b), ("OR", lambda a, b: a | b), ("XOR", lambda a, b: a ^ b)):
        e = [op, x, y]
        ev = Evaluation(bounds, [e])
        got = {(a, b): evaluate(e, {"x": a, "y": b}) for a in range(-9, 10) for b in range(-3, 13)}
        assert all(v == fn(a, b) == ev.at(e, {"x": a, "y": b}) for (a, b), v in got.items())
        # Z3 declines them at once (Int terms through bit-vectors time out): the evaluation decides
        assert z3c.prove_all(bounds, e, e, [(e, -1, 1)]).status == "unknown"
        assert z3c.prove_in_bounds(bounds, ["ADD", e, x], 0, 1).status == "unknown"

    def nodes(e):
        if isinstance(e, list) and e[0] not in ("var", "const"):
            yield e
            for a in e[1:]:
                yield from nodes(a)
    rng = random.Random(0)
    cases = [gen_case(rng) for _ in range(1500)]
    bitwise = [c for c in cases if any(n[0] in ("AND", "OR", "XOR") and not is_bool(n) for n in nodes(c["expr"]))]
    assert len(bitwise) > 40, len(bitwise)
    f = SymbolicFuzzer()
    assert all(f.check(c).status == "pass" for c in bitwise[:40])
    orig = uop_mod._bounds

    def and_bounds_one_side(u):  # planted: [0, the smaller maximum] as soon as one operand is >= 0
        if u.op is Ops.AND and u.dtype is not dtypes.bool and (u.src[0].vmin >= 0 or u.src[1].vmin >= 0):
            return 0, min(u.src[0].vmax, u.src[1].vmax)
        return orig(u)
    monkeypatch.setattr(uop_mod, "_bounds", and_bounds_one_side)  # new variable ranges: no bounds cached yet
    v = f.check({"vars": {"x": [-8, 2], "y": [0, 15]}, "expr": ["CMPLT", ["AND", x, y], ["const", 3]]})
    assert v.status == "mismatch", v
