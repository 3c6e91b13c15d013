"""The ONNX fuzzer's math, bitwise and small tensor ops (fuzz.onnx.ops_math): every op drawn with its attribute
corners, a clean campaign without findings, and importer bugs planted in engine.onnx_ops.OPS that a seeded campaign
restricted to these ops finds within a few dozen models."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from fuzz.onnx.case import infer_types
from fuzz.onnx.fuzzer import OnnxFuzzer
from fuzz.onnx.generate import gen_case
from fuzz.onnx.ops_math import SPECS, TENSOR_DTYPES

MINE = [s.name for s in SPECS]


def _cases(n: int, ops: list[str] = MINE, start: int = 0) -> list[dict]:
    return [gen_case(random.Random(s), ops=ops) for s in range(start, start + n)]


def test_every_op_is_drawn_with_its_attribute_corners():
    nodes = [(c, n) for c in _cases(300) for n in c["nodes"]]
    ops = Counter(n["op"] for _, n in nodes)
    assert set(MINE) <= set(ops), set(MINE) - set(ops)

    def where(op: str, pred) -> bool:
        return any(n["op"] == op and pred(c, n) for c, n in nodes)

    types = {id(c): infer_types(c) for c, _ in nodes}
    assert where("Shrink", lambda c, n: n["attrs"].get("lambd", 0.5) < 0)
    assert where("Shrink", lambda c, n: n["attrs"].get("bias", 0.0) != 0)
    assert where("BitShift", lambda c, n: n["attrs"]["direction"] == "LEFT")
    assert where("BitShift", lambda c, n: n["attrs"]["direction"] == "RIGHT")
    for dt in ("uint8", "uint16"):
        assert where("BitShift", lambda c, n: types[id(c)][n["inputs"][0]][1] == dt)
    for dt in ("int8", "int64", "uint8", "uint16"):
        assert where("BitwiseXor", lambda c, n: types[id(c)][n["inputs"][0]][1] == dt) or \
            where("BitwiseNot", lambda c, n: types[id(c)][n["inputs"][0]][1] == dt)
    shape = lambda c, n: types[id(c)][n["inputs"][0]][0]  # noqa: E731
    assert where("EyeLike", lambda c, n: not -shape(c, n)[0] < n["attrs"].get("k", 0) < shape(c, n)[1])  # all zero
    assert where("EyeLike", lambda c, n: n["attrs"].get("k", 0) < 0)
    assert where("EyeLike", lambda c, n: TENSOR_DTYPES.get(n["attrs"].get("dtype", 0)) in ("uint32", "uint64"))
    assert where("Det", lambda c, n: len(shape(c, n)) > 2)
    assert where("Det", lambda c, n: len(shape(c, n)) == 2)
    assert where("Dropout", lambda c, n: len(n["outputs"]) == 2)  # the mask
    assert where("Dropout", lambda c, n: len(n["inputs"]) == 3)  # training_mode
    assert where("Dropout", lambda c, n: "ratio" in n["attrs"])  # Dropout-10, opset 11
    for op in ("Asin", "Tan", "Det"):
        assert where(op, lambda c, n: types[id(c)][n["inputs"][0]][1] == "float64")
        assert where(op, lambda c, n: types[id(c)][n["inputs"][0]][1] == "float16")


def test_a_clean_campaign_of_these_ops_has_no_finding():
    f = OnnxFuzzer(ops=MINE + ["Add", "Reshape", "Transpose"])
    verdicts = [f.check(c) for c in _cases(40, f.ops, start=500)]
    found = [(k, v.signature, v.details) for k, v in enumerate(verdicts) if v.status not in ("pass", "invalid")]
    assert not found, found
    assert sum(v.status == "pass" for v in verdicts) >= 35


# ---------------------------------------------------------------------------------------------- planted bugs
def shrink_ignores_bias(mp) -> None:
    import engine.onnx_ops as ops

    orig = ops.OPS["Shrink"]
    mp.setitem(ops.OPS, "Shrink", lambda inp, attrs, *rest: orig(inp, {**attrs, "bias": 0.0}, *rest))


def eyelike_ignores_k(mp) -> None:
    import engine.onnx_ops as ops

    orig = ops.OPS["EyeLike"]
    mp.setitem(ops.OPS, "EyeLike", lambda inp, attrs, *rest: orig(inp, {**attrs, "k": 0}, *rest))


def bitshift_always_left(mp) -> None:
    import engine.onnx_ops as ops

    orig = ops.OPS["BitShift"]
    mp.setitem(ops.OPS, "BitShift", lambda inp, attrs, *rest: orig(inp, {**attrs, "direction": "LEFT"}, *rest))


PLANTED = {"shrink_ignores_bias": (shrink_ignores_bias, "Shrink"),
           "eyelike_ignores_k": (eyelike_ignores_k, "EyeLike"),
           "bitshift_always_left": (bitshift_always_left, "BitShift")}


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_planted_importer_bug_is_found(monkeypatch, name):
    plant, op = PLANTED[name]
    plant(monkeypatch)
    f = OnnxFuzzer(ops=MINE)
    for seed in range(40):
        v = f.check(gen_case(random.Random(seed), ops=MINE))
        if v.status == "mismatch":
            assert v.signature == f"mismatch:{op}", (seed, v.signature, v.details)
            return
    pytest.fail(f"{name}: not found in 40 cases")
