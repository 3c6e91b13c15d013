"""Regression tests for the blind spots the graph fuzzer's mutant analysis (bench/mutants_graph.py) found and closed:
each planted bug that a generator or reference fix relies on is caught on a small case that the fixed generator
draws, the clean engine passes the same case, and the generator keeps drawing what the fix added."""

from __future__ import annotations

import os
import random
import sys
from collections import OrderedDict

import numpy as np
import pytest

from engine import device
from fuzz.graphs import GraphFuzzer
from fuzz.graphs.case import infer_types, make_values
from fuzz.graphs.generate import gen_case
from oracles import numpy_ref as R
from oracles.compare import compare

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
import mutants_graph as MG  # noqa: E402


def _x(shape, dtype="float32", seed=1, domain="normal"):
    return {"shape": list(shape), "dtype": dtype, "seed": seed, "domain": domain}


def _case(inputs, nodes, seed=3):
    n = len(inputs)
    return {"inputs": inputs, "nodes": nodes, "outputs": [n + len(nodes) - 1], "realize": [], "seed": seed}


def _node(op, ins, **attrs):
    return {"op": op, "in": ins, "attrs": attrs}


# (mutant, case that the fixed generator can draw, modes to run, signature part the finding must have)
CASES = {
    "argmax_tie_takes_last": (  # exact ties were undefined in the reference
        _case([_x((3, 7), "int32", 5, "int_small")], [_node("argmax", [0], axis=1, keepdim=False)]), (), "numpy"),
    "float_floordiv_whole_quotient": (  # exact whole quotients were undefined; whole floats were never drawn
        _case([_x((4, 5), "float32", 1, "int_valued"), _x((4, 5), "float32", 2, "int_valued")],
              [_node("floordiv", [0, 1])]), (), "numpy"),
    "c_bfloat16_truncates": (  # one rounding of exact operands was held only to a tolerance of an ulp
        _case([_x((16,), "bfloat16", 1), _x((16,), "bfloat16", 2)], [_node("add", [0, 1])]), ("dev:CPU",),
        "device:CPU"),
    "c_float_to_int_saturates": (  # out-of-range float to int casts were undefined; no input was large
        _case([_x((16,), "float32", 1, "huge")], [_node("cast", [0], dtype="int8")]), ("dev:CPU",), "device:CPU"),
    "llvm_nan_to_bool_false": (  # no input held NaN
        _case([_x((16,), "float32", 5, "special")], [_node("cast", [0], dtype="bool")]), ("dev:CPU",),
        "device:LLVM"),
    "python_max_ignores_nan": (
        _case([_x((4, 8), "float32", 6, "special")], [_node("max", [0], axis=1, keepdim=False)]),
        ("dev:PYTHON",), "device:PYTHON"),
    "conv_width_dilation_ignored": (  # the sampler drew dilation on the first spatial axis only
        _case([_x((1, 2, 5, 7)), _x((2, 2, 2, 2), seed=2)],
              [_node("conv2d", [0, 1], stride=[1, 1], padding=[0, 0], dilation=[1, 2], groups=1)]), (), "numpy"),
    "cumsum_long_blocks_inclusive": (  # no axis was longer than 33
        _case([_x((300,), "float32", 4)], [_node("cumsum", [0], axis=0)]), (), "numpy"),
    "max_pool_pads_with_zero": (  # pooling read only 3+-dim values already in the pool: rare
        _case([_x((1, 1, 5, 4), "float32", 2)], [_node("max_pool2d", [0], kernel=[2, 3], stride=[2, 2],
                                                        padding=[1, 1])]), (), "numpy"),
    "small_int_sum_in_own_dtype": (  # int_small rows never overflow int8
        _case([_x((2, 5), "int8", 7, "int_edge")], [_node("sum", [0], axis=1, keepdim=False)]), (), "numpy"),
    "matmul_square_operand_transposed": (
        _case([_x((3, 4)), _x((4, 4), seed=2)], [_node("matmul", [0, 1])]), (), "numpy"),
    # the blind set (bench/mutants_graph_blind.py), 60 s campaigns on 16 cores: 8 of 12 found; these three were not
    "getitem_int_not_advanced": (  # no mixed integer and array indexing: x[1, :, idx] moves idx's dims first
        _case([_x((2, 3, 4)), {"shape": [2], "dtype": "int64", "seed": 3, "domain": "index:4"}],
              [_node("getitem_mixed", [0, 1], axis=2, ints={"0": 1})]), (), "numpy"),
    "llvm_int_extend_by_destination_sign": (  # an integer cast drew any dtype: int8 -> uint16 was rare
        _case([_x((16,), "int8", 7, "int_edge")], [_node("cast", [0], dtype="uint16")]), (), "numpy"),
    "upcast_tail_not_gated": (  # random opts offered only amounts that divide the loop
        _case([_x((2, 5))], [_node("add", [0, 0])]), (), "numpy"),
    # 60 s campaigns missed these until the integer-arithmetic, mixed-dtype, reduce-over-broadcast patterns and
    # the near_max domain (2026-12-06); the last three are of the third blind set (bench/mutants_graph_blind2.py)
    "c_mod_takes_divisor_sign": (  # signed // and % were drawn mostly on floats
        _case([_x((16,), "int32", 3, "int_small")], [_node("floordiv", [0], scalar=-3, reverse=False)]),
        ("dev:CPU",), "device:CPU"),
    "promote_int32_uint32_stays_32bit": (  # a dtype pair was drawn with the dtype weights: int32 with uint32 rare
        _case([_x((8,), "int32", 1, "int_edge"), _x((8,), "uint32", 2, "int_full")], [_node("add", [0, 1])]), (),
        "numpy"),
    "python_float_overflow_positive_inf": (  # no float16 value was near its maximum
        _case([_x((16,), "float16", 1, "near_max")], [_node("mul", [0], scalar=4, reverse=False)]), ("dev:PYTHON",),
        "device:PYTHON"),
    "unroll_invariant_lanes_deduped": (  # a reduce over a broadcast axis was rare
        _case([_x((8,))], [_node("unsqueeze", [0], axis=1), _node("expand", [1], shape=[8, 16]),
                           _node("sum", [2], axis=1, keepdim=False)], seed=4), ("randopt",), "opts"),
    # 2026-12-07: exact halves were never drawn (the `ties` domain); no case took tensor cores (the mixed-precision
    # matmul pattern; the fourth blind set, bench/mutants_graph_blind3.py)
    "round_half_away_from_zero": (
        _case([_x((32,), "float32", 1, "ties")], [_node("round", [0])]), (), "numpy"),
    "tc_tiles_floor_drops_tail": (
        _case([_x((16, 24), "float16", 1), _x((24, 8), "float16", 2)],
              [_node("cast", [0], dtype="float32"), _node("cast", [1], dtype="float32"), _node("matmul", [2, 3])]),
        ("dev:PYTHON_GPU",), "PYTHON_GPU"),
}


@pytest.mark.parametrize("name", sorted(set(CASES) - {"upcast_tail_not_gated"}))
def test_mutant_is_caught_on_a_case_the_generator_draws(monkeypatch, name):
    case, modes, expect = CASES[name]
    infer_types(case)
    fz = GraphFuzzer(modes=modes)
    assert fz.check(case).status == "pass"  # the clean engine
    MG.MUTANTS[name].plant(monkeypatch)
    for dev in list(device._INSTANCES.values()):  # programs compiled above, under the same source, are not reused
        monkeypatch.setattr(dev, "_compiled", OrderedDict())
    v = fz.check(case)
    assert v.status != "pass" and expect in v.signature, (v.signature, v.details.get("modes"))


def test_generator_draws_the_new_domains_long_axes_and_attributes():
    cases = [gen_case(random.Random(f"mut:{i}"), 10) for i in range(600)]
    doms = {i["domain"] for c in cases for i in c["inputs"]}
    assert {"int_valued", "ties", "special", "huge", "int_edge", "near_max"} <= doms, doms
    dims = [d for c in cases for s, _ in infer_types(c) for d in s]
    assert max(dims) >= 257
    nodes = [n for c in cases for n in c["nodes"]]
    assert any(n["op"] == "conv2d" and n["attrs"]["dilation"][1] == 2 for n in nodes)
    assert any(n["op"] in ("max_pool2d", "avg_pool2d") and any(n["attrs"]["padding"]) for n in nodes)
    # a select whose condition compares two values (the select-on-compare pattern)
    assert any(n["op"] == "where" and c["nodes"][n["in"][0] - len(c["inputs"])]["op"] in ("lt", "le", "gt", "ge",
                                                                                         "eq", "ne")
               for c in cases for n in c["nodes"] if n["in"][0] >= len(c["inputs"]))


def test_new_domains_hold_what_they_promise():
    sp = make_values(_x((4000,), "float32", 1, "special"))
    assert np.isnan(sp).any() and np.isposinf(sp).any() and np.isneginf(sp).any()
    assert (make_values(_x((50,), "float16", 1, "int_valued")) % 1 == 0).all()
    assert np.abs(make_values(_x((200,), "float32", 1, "huge"))).max() > 6e4
    edge = make_values(_x((200,), "int8", 1, "int_edge"))
    assert edge.min() == -128 and edge.max() == 127
    top = make_values(_x((200,), "float16", 1, "near_max")).astype(np.float64)
    assert np.isfinite(top).all() and (np.abs(top) >= 65504 / 4).all() and (top < 0).any() and (top > 0).any()


def test_reference_defines_exact_ties_whole_quotients_and_wrapping_casts():
    ties = R.argext(R.exact(np.array([[1, 3, 3, 0]], np.int32)), 1, False, True)
    assert ties.value.tolist() == [1] and not ties.undef.any()
    near = R.argext(R.Ref(np.array([[1.0, 3.0, 3.0]]), np.full((1, 3), 1e-9), np.zeros((1, 3), bool)), 1, False, True)
    assert near.undef.all()  # ties within the errors stay undefined
    nan_inf = R.argext(R.exact(np.array([[np.inf, 1.0, np.nan]], np.float32)), 1, False, True)
    assert nan_inf.value.tolist() == [2]  # the first NaN beats +inf, as numpy
    c = R.cast(R.exact(np.array([300.0, -300.0, np.nan, -np.inf, 1e30], np.float32)), "int8")
    assert c.value[:4].tolist() == [44, -44, -128, -128] and not c.undef[:4].any() and c.undef[4]
    r = R.cast(R.exact(np.array([1.0137], np.float32)), "bfloat16")
    assert r.rounded is not None and r.rounded.all()
    assert compare(np.array([1.0078125], R.NP_DTYPES["bfloat16"]), r) is not None  # truncated: caught
    assert compare(r.value.copy(), r) is None


def test_random_opts_offer_amounts_that_do_not_divide_the_loop(monkeypatch):
    """An opt the engine accepts must be right: random opts now and then offer an amount that does not divide its
    loop, which the engine refuses; with a bug that accepts one (an UPCAST tail never gated), some seed's random
    opts take it and the kernel's index proof fails."""
    case, _, _ = CASES["upcast_tail_not_gated"]
    infer_types(case)
    fz = GraphFuzzer(modes=("randopt",))
    seeds = [dict(case, seed=s) for s in range(60)]
    assert all(fz.check(c).status == "pass" for c in seeds)  # the clean engine refuses every such opt
    MG.MUTANTS["upcast_tail_not_gated"].plant(monkeypatch)
    bad = next((v for c in seeds if (v := fz.check(c)).status != "pass"), None)
    assert bad is not None and "opts" in bad.signature, bad


def test_reference_argmax_of_integers_is_exact_past_float64s_precision():
    # a campaign's false alarm (H100 host, 9,408 cases): uint64 2**64 - 2 and 2**64 - 1 are one float64, so the
    # reference took the first of them as the maximum while the engine (and numpy) took the second
    x = np.array([[0, 2**64 - 2, 2, 2**63, 2**64 - 1]], np.uint64)
    assert R.argext(R.exact(x), 1, False, True).value.tolist() == [4]
    assert R.argext(R.exact(x), None, False, False).value.tolist() == 0
    y = np.array([[2**63 - 1, -(2**63), 2**63 - 2]], np.int64)
    assert R.argext(R.exact(y), 1, True, True).value.tolist() == [[0]]
    assert R.argext(R.exact(y), 1, False, False).value.tolist() == [1]


def test_reference_leaves_a_narrow_sum_that_may_overflow_in_some_order_undefined():
    # a campaign's false alarm (H100 host): avg_pool2d of float8_e5m2 sums its windows in e5m2; with UNROLL the order
    # changed, 49152 + 16384 overflowed to inf and met a -inf (NaN), where the loop's order gave -inf
    import ml_dtypes

    x = R.exact(np.array([[49152.0, 16384.0, -np.inf], [1.0, 2.0, 3.0]]).astype(ml_dtypes.float8_e5m2))
    s = R.reduce(x, "sum", (1,), False, "float8_e5m2", acc="float8_e5m2")
    assert s.undef.tolist() == [True, False] and s.value[1] == 6
    assert not R.reduce(x, "sum", (1,), False, "float32").undef[1]
    # float32 sums of the same values accumulate in float32: no overflow, so -inf is defined
    assert not R.reduce(x, "sum", (1,), False, "float32", acc="float32").undef.any()


def test_reference_leaves_the_bits_of_a_nan_undefined():
    # a campaign's false alarm (dev box, seed 41): (x - mean) ** 2 of float8_e5m2 values with infinities is NaN, and
    # its bitcast to int8 was 0xFE in numpy (x86's inf - inf is a negative NaN) and 0x7E in the engine (its float8
    # conversion makes every NaN positive): IEEE 754 leaves an operation's NaN sign and payload open
    case = {"inputs": [{"domain": "special", "dtype": "float8_e5m2", "seed": 1839289208, "shape": [16, 8, 13]}],
            "nodes": [{"attrs": {"axis": 2, "keepdim": True}, "in": [0], "op": "mean"},
                      {"attrs": {}, "in": [0, 1], "op": "sub"}, {"attrs": {}, "in": [2, 2], "op": "mul"},
                      {"attrs": {"dtype": "int8"}, "in": [3], "op": "bitcast"}],
            "outputs": [4], "realize": [], "seed": 385583936}
    assert GraphFuzzer(modes=("base",)).check(case).status == "pass"
    from fuzz.graphs.ops import OPS

    x = np.array([np.nan, 1.5, -np.inf], np.float32)
    ref = OPS["bitcast"].ref([R.exact(x)], {"dtype": "int32"}, ((3,), "int32"))
    assert ref.undef.tolist() == [True, False, False]
