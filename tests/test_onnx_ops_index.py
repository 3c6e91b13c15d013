"""The indexing, value-sized and signal ops of the ONNX fuzzer (fuzz/onnx/ops_index.py): each is drawn with its
attribute corners, a small clean campaign of them finds nothing, the table's types are onnx's (strict shape
inference), and importer bugs planted in engine.onnx_ops.OPS are found by a seeded campaign of these ops."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

import pytest

from fuzz.onnx import ops_index
from fuzz.onnx.case import infer_types, onnx_types
from fuzz.onnx.fuzzer import OnnxFuzzer
from fuzz.onnx.generate import gen_case

MINE = [s.name for s in ops_index.SPECS]


@pytest.fixture(scope="module")
def drawn() -> list[dict[str, Any]]:
    return [gen_case(random.Random(seed), ops=MINE) for seed in range(300)]


def _nodes(cases: list[dict[str, Any]]) -> dict[str, list[tuple[dict[str, Any], dict[str, Any]]]]:
    out: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = defaultdict(list)
    for case in cases:
        for n in case["nodes"]:
            out[n["op"]].append((n, case))
    return out


def _const(case: dict[str, Any], name: str) -> list[Any]:
    return next(t["data"] for t in case["initializers"] if t["name"] == name)


def test_every_op_is_drawn_with_its_attribute_corners(drawn):
    by_op = _nodes(drawn)
    for op in MINE:
        assert sum(1 for c in drawn if any(n["op"] == op for n in c["nodes"])) >= 3, op  # >= 1% of cases
    types = {id(c): infer_types(c) for c in drawn}

    def has(op: str, pred) -> bool:
        return any(pred(n, c, types[id(c)]) for n, c in by_op[op])

    assert has("Compress", lambda n, c, t: "axis" not in n["attrs"])
    assert has("Compress", lambda n, c, t: n["attrs"].get("axis", 0) < 0)
    assert has("Compress", lambda n, c, t: "axis" in n["attrs"] and t[n["inputs"][1]][0][0]
               < t[n["inputs"][0]][0][n["attrs"]["axis"]])  # a condition shorter than the axis
    assert has("Compress", lambda n, c, t: not any(_const(c, n["inputs"][1])))  # nothing kept
    assert has("ReverseSequence", lambda n, c, t: n["attrs"].get("time_axis") == 1)
    assert has("ReverseSequence", lambda n, c, t: 0 in _const(c, n["inputs"][1]))
    for red in ("add", "mul", "max", "min"):
        assert has("ScatterND", lambda n, c, t: n["attrs"].get("reduction") == red), red
    assert has("ScatterND", lambda n, c, t: min(_const(c, n["inputs"][1])) < 0)  # negative indices
    assert has("ScatterND", lambda n, c, t: t[n["inputs"][1]][0][-1] < len(t[n["inputs"][0]][0]))  # slices
    assert has("Unique", lambda n, c, t: n["attrs"].get("sorted") == 0 and "axis" in n["attrs"])
    assert has("Unique", lambda n, c, t: n["attrs"].get("axis", 0) < 0)
    assert has("Unique", lambda n, c, t: len(n["outputs"]) == 4)
    assert has("Unique", lambda n, c, t: len(n["outputs"]) == 1)
    assert has("NonMaxSuppression", lambda n, c, t: n["attrs"].get("center_point_box") == 1)
    assert has("NonMaxSuppression", lambda n, c, t: len(n["inputs"]) == 5 and "" in n["inputs"])
    for op in ("HannWindow", "HammingWindow", "BlackmanWindow"):
        assert has(op, lambda n, c, t: n["attrs"].get("periodic") == 0), op
        assert {n["attrs"].get("output_datatype") for n, _ in by_op[op]} >= {None, 1, 10, 11}, op
    assert has("MelWeightMatrix", lambda n, c, t: t[n["inputs"][0]][1] == "int32")
    assert has("DFT", lambda n, c, t: c["opset"] >= 20 and len(n["inputs"]) == 3)  # axis as an input
    assert has("DFT", lambda n, c, t: c["opset"] < 20 and n["attrs"].get("axis", 1) < 0)
    assert has("DFT", lambda n, c, t: n["attrs"].get("inverse") and n["attrs"].get("onesided"))  # irfft
    assert has("DFT", lambda n, c, t: not n["attrs"].get("inverse") and n["attrs"].get("onesided"))
    assert has("DFT", lambda n, c, t: t[n["inputs"][0]][0][-1] == 2 and len(n["inputs"]) > 1 and n["inputs"][1])
    assert has("STFT", lambda n, c, t: n["attrs"]["onesided"] == 1 and len(n["inputs"]) > 2 and n["inputs"][2])
    assert has("STFT", lambda n, c, t: t[n["inputs"][0]][0][-1] == 2)  # a complex signal
    assert has("STFT", lambda n, c, t: any(m["op"].endswith("Window") and n["inputs"][2] in m["outputs"]
                                           for m in c["nodes"]) if len(n["inputs"]) > 2 else False)


def test_table_types_are_what_onnx_infers(drawn):
    for case in drawn[:120]:
        types = infer_types(case)
        assert all(types[v] == t for v, t in onnx_types(case).items()), (case, onnx_types(case), types)


def _campaign(n: int, seed: int = 0) -> list[Any]:
    f = OnnxFuzzer(ops=MINE)
    out = []
    for s in range(seed, seed + n):
        v = f.check(f.generate(random.Random(s)))
        out.append(v)
    return out


def test_clean_campaign_finds_nothing():
    verdicts = _campaign(50)
    assert [v.signature for v in verdicts if v.status not in ("pass", "invalid")] == []
    assert sum(v.status == "pass" for v in verdicts) >= 45


# ---------------------------------------------------------------------------------------------- planted bugs
def _plant_attrs(op: str, attrs_fn):
    def plant(mp) -> None:
        import engine.onnx  # noqa: F401  (registers the signal ops into OPS)
        import engine.onnx_ops as ops

        orig = ops.OPS[op]
        mp.setitem(ops.OPS, op, lambda inp, attrs, *rest: orig(inp, attrs_fn(attrs), *rest))

    return plant


def reverse_sequence_ignores_lengths(mp) -> None:
    """ReverseSequence reverses the whole time axis of every batch row, whatever sequence_lens says."""
    import engine.onnx  # noqa: F401
    import engine.onnx_ops as ops

    orig = ops.OPS["ReverseSequence"]

    def planted(inp, attrs, *rest):
        full = inp[1] * 0 + inp[0].shape[attrs.get("time_axis", 0)]
        return orig([inp[0], full], attrs, *rest)

    mp.setitem(ops.OPS, "ReverseSequence", planted)


PLANTED = {
    "ReverseSequence": reverse_sequence_ignores_lengths,
    "ScatterND": _plant_attrs("ScatterND", lambda a: {**a, "reduction": "none"}),  # overwrites, never combines
    "DFT": _plant_attrs("DFT", lambda a: {**a, "inverse": 0}),  # a forward transform, whatever inverse says
    "Compress": _plant_attrs("Compress", lambda a: {k: v for k, v in a.items() if k != "axis"}),  # flattens
}


@pytest.mark.parametrize("op", sorted(PLANTED))
def test_planted_importer_bug_is_found(monkeypatch, op):
    PLANTED[op](monkeypatch)
    f = OnnxFuzzer(ops=MINE)
    for s in range(60):
        v = f.check(f.generate(random.Random(s)))
        if v.signature == f"mismatch:{op}":
            return
        assert v.status in ("pass", "invalid"), v  # nothing else goes wrong
    pytest.fail(f"the planted {op} bug was not found in 60 cases")
