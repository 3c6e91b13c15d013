"""The mutant catalogue of bench/mutants_sym_onnx.py, and the fuzzers' former blind spots it exposed.

Each blind-spot test plants one bug in a forked child (the engine caches bounds and canonical forms on interned UOps:
this process stays clean) and checks generated cases directly, no campaign: the generator must now draw the shape
that exposes the bug within a few dozen (ONNX) or a few thousand (symbolic) cases.
"""

import importlib.util
import inspect
import random
import sys
from pathlib import Path

import numpy as np
import pytest

import engine.dtype as dtype_mod
import engine.onnx_ops as onnx_ops
import engine.symbolic as sym
import engine.uop as uop_mod
from fuzz.onnx.case import make_values
from fuzz.onnx.generate import gen_case as gen_onnx
from fuzz.symbolic.expr import subexpressions
from fuzz.symbolic.generate import GenOptions, gen_case

_path = Path(__file__).resolve().parent.parent / "bench" / "mutants_sym_onnx.py"
_spec = importlib.util.spec_from_file_location("mutants_sym_onnx", _path)
mutants = sys.modules.setdefault("mutants_sym_onnx", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(mutants)


def _engine_state() -> dict:
    """Every function body and ONNX handler a mutant may change."""
    state = {("OPS", k): v for k, v in onnx_ops.OPS.items()}
    for mod in (sym, uop_mod, onnx_ops):
        for k, v in vars(mod).items():
            if inspect.isfunction(v):
                state[(mod.__name__, k)] = v.__code__
    for r in sym.symbolic.rules:
        state[("rule", r.name)] = r.fn.__code__
    for k, v in vars(dtype_mod.DType).items():  # DType's properties (its limits)
        if isinstance(v, property) and v.fget is not None:
            state[("DType", k)] = v.fget.__code__
    return state


def test_catalogue_has_at_least_15_documented_mutants_per_fuzzer():
    by = {"symbolic": 0, "onnx": 0}
    for m in mutants.MUTANTS.values():
        by[m.fuzzer] += 1
        assert len(m.doc) > 30, m.name  # says what real bug it models
    assert by["symbolic"] >= 15 and by["onnx"] >= 15, by


@pytest.mark.parametrize("name", sorted(mutants.MUTANTS))
def test_mutant_changes_the_engine_and_undo_restores_it(name):
    before = _engine_state()
    p = mutants.Patch()
    mutants.MUTANTS[name].install(p)
    try:
        planted = _engine_state()
    finally:
        p.undo()
    assert planted != before  # the edit took (a stale old text raises ValueError instead)
    assert _engine_state() == before


def test_edit_refuses_a_text_the_function_does_not_hold_once():
    p = mutants.Patch()
    with pytest.raises(ValueError, match="occurs 0 times"):
        mutants.edit(p, sym.fold_div, ("no such line", "x"))
    with pytest.raises(ValueError, match="parameters"):
        mutants.edit_rule(p, "div_self", "lambda y: y")
    assert not p._undo


def _first_failure(name, n, **kw):
    out = mutants.in_child(mutants.first_failure, name, n, "t", kw.get("ops"), kw.get("options"))
    assert not (isinstance(out, dict) and "error" in out), out
    return out


# ---------------------------------------------------------------------------------------------- symbolic
def test_symbolic_generator_draws_the_shapes_the_blind_spots_needed():
    cases = [gen_case(random.Random(f"g:{i}")) for i in range(3000)]
    nodes = [n for c in cases for n in subexpressions(c["expr"])]
    # before: 89, 1 and 8 of these in the same 3000 cases (too few to find the mutants in a 20 s campaign)
    same = sum(n[0] in ("IDIV", "MOD") and n[1] == n[2] and n[1][0] != "const" for n in nodes)  # x//x
    pairs = sum(n[0] == "ADD" and {s[0] for s in n[1:]} == {"MUL"} and {s[1][0] for s in n[1:]} == {"IDIV", "MOD"}
                for n in nodes)  # (a//c)*(c*k) + (a%c)*k
    guarded = sum(n[0] == "WHERE" and n[1][0] == "AND" and n[1][1][0] == "NOT" for n in nodes)  # where(!(t<c) & ..)
    assert same > 200 and pairs > 200 and guarded > 100, (same, pairs, guarded)


def test_div_self_for_a_range_holding_zero_is_found():
    found = _first_failure("div_self_includes_zero", 3000)
    assert found and found[1] == "mismatch:not-equal:div_self", found


def test_divmod_recombination_with_an_unscaled_constant_is_found():
    found = _first_failure("divmod_recombine_unscaled_constant", 3000)
    assert found and found[1] == "mismatch:not-equal:canonical_sum", found


def test_given_valid_narrowing_one_step_too_far_is_found():
    # guarded WHERE only (the default mix finds it too, in ~10k cases: a 20 s campaign on one core)
    options = GenOptions(bool_ops=1.0, guarded_where=1.0, depth=3)
    found = _first_failure("valid_negated_bound_off_by_one", 3000, options=options)
    assert found and found[1] == "mismatch:not-equal:where_given_valid", found


# ---------------------------------------------------------------------------------------------- ONNX
def test_onnx_grid_domain_gives_ties():
    v = make_values({"name": "x", "shape": [64], "dtype": "float32", "seed": 3, "domain": "grid"})
    assert set(v.tolist()) <= {-2.0, -1.0, 0.0, 1.0, 2.0} and len(set(v.tolist())) == 5


@pytest.mark.parametrize("name,ops,signature", [
    ("transpose_default_perm_identity", ["Transpose"], "mismatch:Transpose"),
    ("argmax_select_last_index_ignored", ["ArgMax", "ArgMin"], "mismatch:Arg"),
    ("trilu_k_ignored", ["Trilu"], "mismatch:Trilu"),
    ("div_integer_floors", ["Div"], "mismatch:Div"),
    ("clip_applies_max_before_min", ["Clip"], "mismatch:Clip"),
    ("where_condition_shaped_like_values", ["Where"], "crash:Where"),
    ("matmul_batch_from_first_operand", ["MatMul"], "crash:MatMul"),
    ("pow_through_exp_log", ["Pow"], "mismatch:Pow"),
    ("nonzero_argwhere_layout", ["NonZero"], "mismatch:NonZero"),
    ("quantize_wraps_instead_of_saturating", ["QuantizeLinear"], "mismatch:QuantizeLinear"),
    ("constant_of_shape_value_dtype_ignored", ["ConstantOfShape"], "mismatch:ConstantOfShape"),
])
def test_onnx_sampler_covers_what_the_mutant_breaks(name, ops, signature):
    found = _first_failure(name, 40, ops=ops)
    assert found and found[1].startswith(signature), found


def test_onnx_long_float16_sums_expose_float16_accumulation():
    # ReduceSum alone: a 20 s campaign of every op still draws too few long float16 sums that cancel to find it
    found = _first_failure("reduce_float16_accumulates_in_float16", 100, ops=["ReduceSum"])
    assert found and found[1] == "mismatch:ReduceSum", found


def _nodes(op, n=150):
    cases = [gen_onnx(random.Random(f"r:{i}"), ops=[op]) for i in range(n)]
    return cases, [(c, nd) for c in cases for nd in c["nodes"] if nd["op"] == op]


def test_onnx_samplers_draw_the_corners_the_survivors_needed():
    _, transposes = _nodes("Transpose")
    assert sum("perm" not in nd["attrs"] for _, nd in transposes) > 0.3 * len(transposes)  # the default perm
    _, trilus = _nodes("Trilu")
    consts = lambda c: {t["name"]: t.get("data") for t in c["initializers"]}  # noqa: E731
    assert sum(len(nd["inputs"]) > 1 and consts(c)[nd["inputs"][1]] != [0] for c, nd in trilus) > 0.6 * len(trilus)
    argmax_cases, _ = _nodes("ArgMax")
    assert any(t["domain"] == "grid" for c in argmax_cases for t in c["inputs"])  # ties
    _, clips = _nodes("Clip")
    assert any(len(nd["inputs"]) == 3 and nd["inputs"][1] and consts(c)[nd["inputs"][1]] > consts(c)[nd["inputs"][2]]
               for c, nd in clips)  # min > max
    div_cases, _ = _nodes("Div")
    assert any(t["dtype"].startswith("int") for c in div_cases for t in c["inputs"] + c["initializers"])


def test_onnx_samplers_broadcast_from_either_side():
    from fuzz.onnx.case import infer_types
    from fuzz.onnx.ops import broadcast

    def shapes(op):
        out = []
        for c, nd in _nodes(op)[1]:
            t = infer_types(c)
            out.append([t[v][0] for v in nd["inputs"] + nd["outputs"]])
        return out

    # a Where condition that broadcasts both values; a MatMul B whose batch dims broadcast A's
    assert any(broadcast(x, y) != out for _, x, y, out in shapes("Where"))
    assert any(len(b) >= 3 and out[:-2] != a[:-2] for a, b, out in shapes("MatMul"))


def _value(case, name):
    """The array of a graph input or initializer (None for a value a node computes)."""
    t = next((t for t in case["inputs"] + case["initializers"] if t["name"] == name), None)
    return None if t is None else make_values(t)


def test_onnx_pow_draws_negative_bases_with_integral_exponents():
    drawn = [(c, nd) for c, nd in _nodes("Pow")[1] if all(_value(c, i) is not None for i in nd["inputs"])]
    odd = 0  # a negative base to an odd power: exp(b * log(a)) is NaN there, C's pow is negative
    for c, nd in drawn:
        a, b = np.broadcast_arrays(*(_value(c, i).astype(np.float64) for i in nd["inputs"]))
        odd += bool(((a < 0) & (np.abs(b) % 2 == 1)).any())
    assert odd > 0.2 * len(drawn), (odd, len(drawn))


def test_onnx_quantize_draws_values_past_both_ends_of_the_integer_range():
    from fuzz.onnx.case import infer_types

    low = high = 0
    cases = _nodes("QuantizeLinear")[1]
    for c, nd in cases:
        x, scale, *zp = nd["inputs"]
        if _value(c, x) is None:
            continue
        xv, s = _value(c, x).astype(np.float64), _value(c, scale).astype(np.float64)
        z = _value(c, zp[0]).astype(np.float64) if zp else np.zeros_like(s)
        if s.ndim:  # one scale per element along axis
            where = [1] * xv.ndim
            where[nd["attrs"].get("axis", 1) % xv.ndim] = -1
            s, z = s.reshape(where), z.reshape(where)
        y = np.round(xv / s) + z
        info = np.iinfo(infer_types(c)[nd["outputs"][0]][1])
        low, high = low + bool((y < info.min).any()), high + bool((y > info.max).any())
    assert low > 0.2 * len(cases) and high > 0.2 * len(cases), (low, high, len(cases))


def test_onnx_constant_of_shape_fills_with_every_dtype_and_nonzero_has_a_value_made_shape():
    from fuzz.onnx.case import infer_types
    from fuzz.onnx.ops import FILLS, UNKNOWN

    values = [nd["attrs"].get("value") for _, nd in _nodes("ConstantOfShape")[1]]
    assert {v["dtype"] for v in values if v} == set(FILLS)
    assert any(v and v["dtype"] == "int64" and abs(v["data"][0]) > 2**24 for v in values)  # past float32's integers
    nonzeros = _nodes("NonZero", 20)[1]
    assert nonzeros and all(infer_types(c)[nd["outputs"][0]][0][1] == UNKNOWN for c, nd in nonzeros)
