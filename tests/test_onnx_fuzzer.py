"""The ONNX fuzzer end to end: generation from the op table (valid, deterministic, what onnx's shape inference
says), the onnxruntime oracle and its tolerance policy, the ort-opt signature, the onnx.reference fallback, the
reductions, and importer bugs planted in engine.onnx_ops.OPS that a seeded campaign must find, minimize to one
node, save with its files and reproduce.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

import oracles.ort_ref as ort_ref
from fuzz.campaign import run_campaign
from fuzz.cli import main as cli_main
from fuzz.corpus import load_entry
from fuzz.onnx.case import BadCase, feeds, infer_types, newest_opset, onnx_types, to_model
from fuzz.onnx.fuzzer import OnnxFuzzer
from fuzz.onnx.generate import gen_case
from fuzz.onnx.reduce import node_count, reductions, size
from fuzz.onnx.table import OPS


def _x(name: str, shape: list[int], dtype: str = "float32", seed: int = 1) -> dict:
    return {"name": name, "shape": shape, "dtype": dtype, "seed": seed, "domain": "normal"}


GEMM_CASE = {"opset": 17, "inputs": [_x("a", [3, 4])], "initializers": [_x("b", [5, 4], seed=2)],
             "nodes": [{"op": "Gemm", "inputs": ["a", "b"], "outputs": ["y"], "attrs": {"transB": 1}},
                       {"op": "Relu", "inputs": ["y"], "outputs": ["z"], "attrs": {}}],
             "outputs": ["z"]}


# ---------------------------------------------------------------------------------------------- planted bugs
def gemm_ignores_trans_b(mp) -> None:
    """Gemm multiplies by B as stored, whatever transB says."""
    import engine.onnx_ops as ops

    orig = ops.OPS["Gemm"]
    mp.setitem(ops.OPS, "Gemm", lambda inp, attrs, *rest: orig(inp, {**attrs, "transB": 0}, *rest))


def pad_reflect_as_constant(mp) -> None:
    """Pad in mode reflect fills with the constant (0) instead of mirroring."""
    import engine.onnx_ops as ops

    orig = ops.OPS["Pad"]

    def planted(inp, attrs, *rest):
        return orig(inp, {**attrs, "mode": "constant"} if attrs.get("mode") == "reflect" else attrs, *rest)

    mp.setitem(ops.OPS, "Pad", planted)


def softmax_axis_off_by_one(mp) -> None:
    """Softmax normalizes over the axis after the one it was given (the first one after the last)."""
    import engine.onnx_ops as ops

    orig = ops.OPS["Softmax"]

    def planted(inp, attrs, *rest):
        nd = max(inp[0].ndim, 1)
        return orig(inp, {**attrs, "axis": (attrs.get("axis", -1) % nd + 1) % nd}, *rest)

    mp.setitem(ops.OPS, "Softmax", planted)


PLANTED = {"gemm_ignores_trans_b": (gemm_ignores_trans_b, "Gemm"),
           "pad_reflect_as_constant": (pad_reflect_as_constant, "Pad"),
           "softmax_axis_off_by_one": (softmax_axis_off_by_one, "Softmax")}


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_planted_importer_bug_is_found_minimized_to_one_node_and_saved_with_its_files(tmp_path, monkeypatch, name):
    plant, op = PLANTED[name]
    plant(monkeypatch)  # forked campaign workers inherit the planted bug
    result = run_campaign(["onnx"], cases=200, seed=3, workers=2, corpus_dir=tmp_path / "corpus",
                          report_dir=None, minimize_seconds=600, timeout_s=30)  # never the limit
    found = [f for f in result.findings if f.signature.split(":")[1] == op]
    assert found, [f.signature for f in result.findings]
    assert result.exit_code == 1
    entry = load_entry(found[0].corpus_path)
    assert node_count(entry["case"]) == 1, entry["case"]
    assert [n["op"] for n in entry["case"]["nodes"]] == [op]
    assert entry["size_after"] < entry["size_before"]
    folder = Path(found[0].corpus_path).with_suffix("")
    model = onnx.load(str(folder / "model.onnx"))
    assert [n.op_type for n in model.graph.node] == [op]
    assert set(np.load(folder / "inputs.npz").files) == {t["name"] for t in entry["case"]["inputs"]}
    assert json.loads((folder / "verdict.json").read_text())["signature"] == found[0].signature
    assert cli_main(["repro", str(found[0].corpus_path)]) == 1
    monkeypatch.undo()
    assert cli_main(["repro", str(found[0].corpus_path)]) == 0  # the real importer passes it


def test_reproducer_script_is_standalone_and_fails_while_the_bug_exists(tmp_path, monkeypatch):
    f = OnnxFuzzer()
    assert f.check(GEMM_CASE).status == "pass"
    gemm_ignores_trans_b(monkeypatch)
    v = f.check(GEMM_CASE)
    assert v.signature.startswith(("mismatch:Gemm", "crash:Gemm")), v
    script = tmp_path / "repro.py"
    script.write_text(f.reproducer(GEMM_CASE, v.signature, v.details))
    assert "fuzz" not in script.read_text().replace("uopfuzz", "") and "oracles" not in script.read_text()
    # the script runs the engine in this process only through exec: the planted bug lives in this process
    with pytest.raises(SystemExit) as e:
        exec(compile(script.read_text(), str(script), "exec"), {"__name__": "__main__"})
    assert e.value.code == 1
    monkeypatch.undo()
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


# false alarms of the H100 campaigns (and of 3,000 local cases of these ops): a result that cancels to ~0 was held to
# the rounding of its own ~1e-7 magnitude, not of the ~1-sized terms it was summed from
CANCELLING = [
    {"opset": 18, "inputs": [_x("in1", [3, 3], seed=1164444503), _x("in2", [1], seed=213412181)],
     "initializers": [{"name": "c3", "shape": [2], "dtype": "int64", "data": [-1, -2]}],
     "nodes": [{"op": "LayerNormalization", "inputs": ["in1", "in2"], "outputs": ["v0"], "attrs": {}},
               {"op": "ReduceMean", "inputs": ["v0", "c3"], "outputs": ["v1"], "attrs": {"keepdims": 0}}],
     "outputs": ["v1"]},
    {"opset": 13, "inputs": [_x("in1", [5, 8], seed=1144610412)],
     "initializers": [{"name": "c2", "shape": [2], "dtype": "int64", "data": [0, -1]}],
     "nodes": [{"op": "ReduceMean", "inputs": ["in1"], "outputs": ["v0"], "attrs": {"axes": [-1]}},
               {"op": "Sub", "inputs": ["in1", "v0"], "outputs": ["v2"], "attrs": {}},
               {"op": "ReduceSum", "inputs": ["v2", "c2"], "outputs": ["v3"], "attrs": {"keepdims": 0}}],
     "outputs": ["v3"]},
]


@pytest.mark.parametrize("case", CANCELLING)
def test_a_result_that_cancels_is_held_to_the_rounding_of_its_terms(case):
    from fuzz.onnx.fuzzer import reference_outputs, run_engine, term_scales

    model, inputs = to_model(case), feeds(case)
    _, want = reference_outputs(model, inputs)
    got = run_engine(model, inputs, "LLVM")
    (out,) = case["outputs"]
    assert ort_ref.compare(got[out], want[out]) is not None  # its own magnitude: a false alarm
    values = [o for n in case["nodes"] for o in n["outputs"]]
    _, want_all = reference_outputs(to_model(case, outputs=values), inputs)
    scales = term_scales(case, {**inputs, **want_all})
    assert scales[out] > 1e3 * float(np.abs(want[out]).max()), scales  # the terms', not its own
    assert ort_ref.compare(got[out], want[out], scale=scales[out]) is None
    assert OnnxFuzzer(device="LLVM").check(case).status == "pass"
    assert "in1" not in scales  # graph inputs are exact: a sum of them keeps its own tolerance


# the H200 ONNX campaign's one engine finding (50,043 models): onnxruntime could not load it (MaxPool with ceil_mode:
# it infers another width, so the MatMul after it does not fit), so onnx.reference judged it, and its
# BatchNormalization is wrong there; onnxruntime loads the model with every value an output and agrees with the engine
REFERENCE_BN = {"initializers": [{"domain": "normal", "dtype": "float32", "name": "w3", "seed": 0, "shape": [3]},
                                 {"domain": "normal", "dtype": "float32", "name": "w4", "seed": 0, "shape": [3]},
                                 {"domain": "normal", "dtype": "float32", "name": "w5", "seed": 0, "shape": [3]},
                                 {"domain": "positive", "dtype": "float32", "name": "w6", "seed": 0, "shape": [3]}],
                "inputs": [{"domain": "normal", "dtype": "float32", "name": "in1", "seed": 0, "shape": [1, 1, 2, 3]},
                           {"domain": "normal", "dtype": "float32", "name": "in2", "seed": 0, "shape": [1, 3, 2, 1]}],
                "nodes": [{"attrs": {"ceil_mode": 1, "kernel_shape": [2, 2], "pads": [0, 1, 0, 1], "strides": [1, 2]},
                           "inputs": ["in1"],
                           "op": "MaxPool",
                           "outputs": ["v0"]},
                          {"attrs": {}, "inputs": ["v0", "in2"], "op": "MatMul", "outputs": ["v2"]},
                          {"attrs": {},
                           "inputs": ["v2", "w3", "w4", "w5", "w6"],
                           "op": "BatchNormalization",
                           "outputs": ["v3"]}],
                "opset": 13,
                "outputs": ["v3"]}


def test_a_difference_only_onnx_reference_sees_where_onnxruntime_runs_the_wide_model_is_the_reference():
    v = OnnxFuzzer(device="LLVM").check(REFERENCE_BN)
    assert v.signature == "invalid:reference" and "agrees with the engine" in v.details["error"], v


def test_first_differing_node_is_blamed_not_the_output():
    f = OnnxFuzzer()
    with pytest.MonkeyPatch.context() as mp:
        gemm_ignores_trans_b(mp)
        case = {**GEMM_CASE, "initializers": [_x("b", [4, 4], seed=2)]}  # square B: a wrong value, no crash
        v = f.check(case)
    assert v.signature == "mismatch:Gemm", v
    assert v.details["node"] == 0 and v.details["value"] == "y"


# ---------------------------------------------------------------------------------------------- generation
def test_generation_is_deterministic_json_and_valid():
    for seed in range(40):
        a, b = gen_case(random.Random(seed)), gen_case(random.Random(seed))
        assert a == b
        assert json.loads(json.dumps(a)) == a
        infer_types(a)
        onnx.checker.check_model(to_model(a))


def test_generator_reaches_every_op_every_opset_and_attribute_corners():
    ops, opsets, corners = set(), set(), set()
    for seed in range(1500):
        case = gen_case(random.Random(seed))
        opsets.add(case["opset"])
        for n in case["nodes"]:
            ops.add(n["op"])
            a = n["attrs"]
            corners.update(k for k in ("auto_pad", "ceil_mode", "dilations", "group", "count_include_pad",
                                       "num_outputs", "transA", "transB") if k in a)
            if any(isinstance(v, int) and v < 0 for k, v in a.items() if k == "axis"):
                corners.add("negative axis")
        if len(case["outputs"]) > 1:
            corners.add("several outputs")
    drawable = {n for n, s in OPS.items() if s.drawn_at(newest_opset())}  # SwiGLU (28) waits for onnxruntime
    assert ops == drawable, drawable - ops
    assert opsets == {11, 12} | set(range(13, newest_opset() + 1)), opsets
    assert corners == {"auto_pad", "ceil_mode", "dilations", "group", "count_include_pad", "num_outputs",
                       "transA", "transB", "negative axis", "several outputs"}


def test_op_table_shapes_agree_with_onnx_shape_inference():
    """The table's output types are what onnx infers (ceil_mode windows aside: onnx's inference does not drop a
    last window that starts in the end padding, which onnxruntime and the reference evaluator both do)."""
    for seed in range(150):
        case = gen_case(random.Random(seed))
        if any(n["attrs"].get("ceil_mode") for n in case["nodes"]):
            continue
        types = infer_types(case)
        assert all(types[v] == t for v, t in onnx_types(case).items()), (seed, onnx_types(case), types)


def test_bad_cases_are_rejected_naming_the_node():
    bad = json.loads(json.dumps(GEMM_CASE))
    bad["nodes"][0]["attrs"]["transB"] = 0  # (3,4) x (5,4): inner dims differ
    with pytest.raises(BadCase, match=r"node 0 \(Gemm\)"):
        infer_types(bad)
    with pytest.raises(BadCase, match="reads 'nope'"):
        infer_types({**GEMM_CASE, "nodes": [{**GEMM_CASE["nodes"][0], "inputs": ["a", "nope"]}]})
    with pytest.raises(BadCase, match="opset"):
        infer_types({**GEMM_CASE, "opset": 7})
    assert OnnxFuzzer().check(bad).signature == "invalid:case"


def test_reductions_are_valid_smaller_and_reach_one_node():
    case = gen_case(random.Random(11), max_nodes=6)
    cands = list(reductions(case))
    assert cands
    for c in cands[:60]:
        infer_types(c)
    assert all(size(c) != size(case) for c in cands)
    assert min(node_count(c) for c in cands) < node_count(case) or node_count(case) == 1
    lowered = [c for c in reductions(GEMM_CASE) if c["opset"] < GEMM_CASE["opset"]]
    assert lowered and size(lowered[0]) < size(GEMM_CASE)


# ---------------------------------------------------------------------------------------------- oracles
def test_tolerance_policy_exact_ints_nan_positions_and_scale():
    assert ort_ref.compare(np.array([1, 2]), np.array([1, 3])).kind == "value"
    assert ort_ref.compare(np.array([1.0, np.nan], np.float32), np.array([1.0, 2.0], np.float32)).kind == "nan"
    assert ort_ref.compare(np.array([np.inf], np.float32), np.array([1.0], np.float32)).kind == "inf"
    want = np.array([1000.0, 1e-3], np.float32)
    assert ort_ref.compare(want + np.float32(1e-3), want) is None  # within the output's scale
    assert ort_ref.compare(want * np.float32(1.01), want).kind == "value"
    assert ort_ref.compare(np.zeros(2, np.float16), np.zeros(2, np.float32)).kind == "dtype"


def test_ort_optimizations_disagreeing_get_their_own_signature(monkeypatch):
    real = ort_ref.run_ort

    def wrong_when_optimized(model, inputs, optimize=False, outputs=None):
        out = real(model, inputs, optimize, outputs)
        return {k: v + 1 if optimize else v for k, v in out.items()}

    monkeypatch.setattr("fuzz.onnx.fuzzer.run_ort", wrong_when_optimized)
    v = OnnxFuzzer().check(GEMM_CASE)
    assert v.signature == "ort-opt:Relu" and v.details["engine_matches"] == "ort", v


def test_reference_evaluator_stands_in_where_onnxruntime_cannot_run(monkeypatch):
    def refuses(*args, **kwargs):
        raise ort_ref.ReferenceError("onnxruntime cannot load the model: no kernel")

    monkeypatch.setattr("fuzz.onnx.fuzzer.run_ort", refuses)
    case = {**GEMM_CASE, "opset": 13}
    model = to_model(case)
    want = ort_ref.run_reference(model, feeds(case))
    assert want["z"].shape == (3, 5)
    v = OnnxFuzzer().check(case)
    assert v.status == "pass", v


def test_a_reference_evaluator_error_is_not_blamed_on_the_engine(monkeypatch):
    """Where onnxruntime cannot run the model, onnx.reference stands in; if it differs at a node that onnxruntime
    runs alone and agrees with the engine on, the evaluator is wrong (onnx 1.23's LpNormalization p=1 drops |x|)."""
    real_ort, real_ref = ort_ref.run_ort, ort_ref.run_reference

    def only_single_nodes(model, inputs, optimize=False, outputs=None):
        if len(model.graph.node) > 1:
            raise ort_ref.ReferenceError("onnxruntime cannot load the model: no kernel")
        return real_ort(model, inputs, optimize, outputs)

    def wrong_relu(model, inputs, outputs=None):
        return {k: v + 1 if k == "z" else v for k, v in real_ref(model, inputs, outputs).items()}

    monkeypatch.setattr("fuzz.onnx.fuzzer.run_ort", only_single_nodes)
    monkeypatch.setattr("fuzz.onnx.fuzzer.run_reference", wrong_relu)
    v = OnnxFuzzer().check(GEMM_CASE)
    assert v.signature == "invalid:reference" and "Relu" in v.details["error"], v


def test_a_reference_evaluator_shape_off_the_op_table_is_not_blamed_on_the_engine(monkeypatch):
    """onnx.reference stands in, and gives an intermediate value a shape the op table does not (onnx 1.23's
    GlobalMaxPool of float64): invalid:reference, not a mismatch of that node."""
    real_ref = ort_ref.run_reference

    def refuses(*args, **kwargs):
        raise ort_ref.ReferenceError("onnxruntime cannot load the model: no kernel")

    def wrong_shape(model, inputs, outputs=None):
        out = {k: v + 1 if k == "z" else v for k, v in real_ref(model, inputs, outputs).items()}
        if "y" in out:
            out["y"] = out["y"][:1]
        return out

    monkeypatch.setattr("fuzz.onnx.fuzzer.run_ort", refuses)
    monkeypatch.setattr("fuzz.onnx.fuzzer.run_reference", wrong_shape)
    v = OnnxFuzzer().check({**GEMM_CASE, "opset": 13})
    assert v.signature == "invalid:reference" and "gives y the type [1, 5]" in v.details["error"], v


def test_an_output_dtype_differing_from_onnxruntimes_is_a_mismatch_of_its_node(monkeypatch):
    import engine.onnx_ops as ops

    orig = ops.OPS["ConstantOfShape"]
    monkeypatch.setitem(ops.OPS, "ConstantOfShape", lambda inp, attrs, node: orig(inp, {}, node))  # float32 0
    case = {"opset": 17, "inputs": [], "initializers": [{"name": "s", "shape": [2], "dtype": "int64", "data": [2, 3]}],
            "nodes": [{"op": "ConstantOfShape", "inputs": ["s"], "outputs": ["y"],
                       "attrs": {"value": {"dtype": "int32", "data": [0]}}}], "outputs": ["y"]}
    v = OnnxFuzzer().check(case)
    assert v.signature == "mismatch:ConstantOfShape" and v.details["kind"] == "dtype", v
    assert (v.details["got"], v.details["want"]) == ("float32", "int32")


def test_a_value_made_dimension_is_unknown_to_the_model_and_compared_when_it_runs():
    case = {"opset": 17, "inputs": [{"name": "x", "shape": [3, 4], "dtype": "int64", "seed": 2, "domain": "grid"}],
            "initializers": [], "nodes": [{"op": "NonZero", "inputs": ["x"], "outputs": ["y"], "attrs": {}}],
            "outputs": ["y"]}
    assert infer_types(case)["y"] == ((2, -1), "int64")
    assert not to_model(case).graph.output[0].type.tensor_type.shape.dim[1].HasField("dim_value")
    assert ort_ref.compare(np.zeros((5, 2), np.int64), np.zeros((2, 5), np.int64)).kind == "shape"
    assert OnnxFuzzer().check(case).status == "pass"


def test_fmod_of_a_large_float16_quotient_is_exact():
    """A dequantized float16 (11488) mod 1.701: the engine's a - trunc(a / b) * b in float16 gave 0, not 1.6875 (a
    false mismatch:Mod once the generator drew DequantizeLinear with large zero points)."""
    case = {"opset": 21, "inputs": [{"name": "a", "shape": [3], "dtype": "float16", "seed": 0, "domain": "normal"},
                                    {"name": "b", "shape": [3], "dtype": "float16", "seed": 0, "domain": "positive"}],
            "initializers": [], "nodes": [{"op": "Mod", "inputs": ["a", "b"], "outputs": ["y"], "attrs": {"fmod": 1}}],
            "outputs": ["y"]}
    from fuzz.onnx.fuzzer import run_engine

    inputs = {"a": np.array([11488, -11496, 30000], np.float16), "b": np.array([1.701, 1.701, 0.3], np.float16)}
    got = run_engine(to_model(case), inputs, OnnxFuzzer().device)["y"]
    want = np.fmod(inputs["a"].astype(np.float64), inputs["b"].astype(np.float64)).astype(np.float16)
    assert np.array_equal(got, want), (got, want)


def test_tolerance_follows_the_least_precise_dtype_on_the_way():
    """Cast to float16, Pad, CastLike to float64: onnxruntime runs the float16 Pad in float32 and drops the casts
    around it, so the float64 result is only float16-exact (a false mismatch:CastLike before this rule)."""
    from fuzz.onnx.fuzzer import precisions

    case = {"opset": 17, "inputs": [_x("x", [4, 2])],
            "initializers": [{"name": "pads", "shape": [4], "dtype": "int64", "data": [0, 1, -1, 1]},
                             _x("like", [1], "float64")],
            "nodes": [{"op": "Cast", "inputs": ["x"], "outputs": ["h"], "attrs": {"to": "float16"}},
                      {"op": "Pad", "inputs": ["h", "pads"], "outputs": ["p"], "attrs": {}},
                      {"op": "CastLike", "inputs": ["p", "like"], "outputs": ["y"], "attrs": {}}],
            "outputs": ["y"]}
    assert precisions(case) == {"x": "float32", "pads": None, "like": "float64", "h": "float16", "p": "float16",
                                "y": "float16"}
    want = np.array([0.37667611, 1.0])
    got = want.astype(np.float16).astype(np.float64)
    assert ort_ref.compare(got, want).kind == "value"
    assert ort_ref.compare(got, want, "float16") is None
    assert OnnxFuzzer().check(case).status == "pass"


def test_the_engine_device_comes_from_DEVICE_in_the_environment(monkeypatch):
    """`DEVICE=CUDA fuzz run onnx` fuzzes the importer on a GPU: DEVICE (the engine's own convention) names the device
    every case runs on, and a case checks there (here the PYTHON emulator)."""
    monkeypatch.delenv("DEVICE", raising=False)
    assert OnnxFuzzer().device in ("LLVM", "CPU")
    monkeypatch.setenv("DEVICE", "python")
    fz = OnnxFuzzer()
    assert fz.device == "PYTHON"
    rng = random.Random(3)
    verdicts = [fz.check(gen_case(rng, 3)) for _ in range(4)]
    assert all(v.status in ("pass", "invalid") for v in verdicts), verdicts
    assert any(v.status == "pass" for v in verdicts)


def test_generator_draws_convtranspose_output_shape_and_same_pads_and_implicit_einsums():
    """The corners a blind importer-bug set showed were never drawn (2026-12-07): ConvTranspose's output_shape and
    SAME_UPPER / SAME_LOWER / VALID pads, Einsum equations without '->' (output: the letters used once, sorted),
    LRN; every such case is valid and the engine agrees with onnxruntime on a few of them."""
    seen: set[str] = set()
    picked = []
    rng = random.Random(0)
    for _ in range(400):
        case = gen_case(rng, 3, ["ConvTranspose", "Einsum", "LRN"])
        infer_types(case)
        for n in case["nodes"]:
            a = n["attrs"]
            new = {f"ConvTranspose:{k}" for k in ("output_shape", "auto_pad") if n["op"] == "ConvTranspose" and k in a}
            new |= {f"auto_pad:{a['auto_pad']}"} if "auto_pad" in a else set()
            new |= {"Einsum:implicit"} if n["op"] == "Einsum" and "->" not in a["equation"] else set()
            new |= {"LRN"} if n["op"] == "LRN" else set()
            if new - seen:
                picked.append(case)
            seen |= new
    assert seen >= {"ConvTranspose:output_shape", "ConvTranspose:auto_pad", "auto_pad:SAME_UPPER",
                    "auto_pad:SAME_LOWER", "auto_pad:VALID", "Einsum:implicit", "LRN"}, seen
    fz = OnnxFuzzer()
    verdicts = [fz.check(c) for c in picked]
    assert all(v.status == "pass" for v in verdicts), [(v.signature, v.details.get("error")) for v in verdicts]


def test_below_opset_13_onnx_reference_does_not_stand_in_for_onnxruntime():
    # Hardmax-11 of float64 (onnxruntime has no kernel): onnx.reference reads its axis as -1, opset 13's default,
    # and put 1 everywhere on a (1, 2, 1) input (a false alarm of a CUDA campaign); the engine's [1, 0] is right
    case = {"opset": 11, "initializers": [], "outputs": ["v0"],
            "inputs": [{"name": "in1", "shape": [1, 2, 1], "dtype": "float64", "seed": 0, "domain": "normal"}],
            "nodes": [{"op": "Hardmax", "inputs": ["in1"], "outputs": ["v0"], "attrs": {}}]}
    verdict = OnnxFuzzer().check(case)
    assert verdict.status == "invalid" and "not used below opset 13" in verdict.details["error"], verdict


def test_lrn_reads_no_value_computed_from_a_wide_input():
    # onnxruntime's LRN sums its window of squares as a running sum in float32: next to a value of ~200 the sum
    # cancels, off by ~1e-3 (a false alarm of a CUDA campaign; the engine matched the float64 formula)
    lrns = 0
    for seed in range(3000):
        case = gen_case(random.Random(f"lrn:{seed}"), ops=["LRN", "Relu", "Add", "Mul", "Conv"])
        wide = {t["name"] for t in case["inputs"] + case["initializers"] if t.get("domain") == "wide"}
        for n in case["nodes"]:
            if n["op"] == "LRN":
                lrns += 1
                assert n["inputs"][0] not in wide, case
            if any(i in wide for i in n["inputs"]):
                wide.update(n["outputs"])
    assert lrns > 200
