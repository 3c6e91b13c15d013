"""The recurrent, attention, loss and quantized ops of the ONNX fuzzer's table (fuzz.onnx.ops_nn): each is drawn with
its attribute corners, its types agree with onnx's shape inference, a small campaign of them is clean, and importer
bugs planted in engine.onnx_ops.OPS are found by a seeded campaign restricted to them.

Attention and RotaryEmbedding (opset 23) and SwiGLU (28) lie above the opset cases are drawn at today
(fuzz.onnx.case.ORT_NEWEST_OPSET): the tests that need them raise that cap.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

import fuzz.onnx.case as onnx_case
import fuzz.onnx.generate as generate
from fuzz.onnx import ops_nn
from fuzz.onnx.case import infer_types, onnx_types
from fuzz.onnx.fuzzer import OnnxFuzzer
from fuzz.onnx.generate import gen_case

MINE = [s.name for s in ops_nn.SPECS]
TODAY = [s.name for s in ops_nn.SPECS if s.since <= 21]  # drawn at the opsets cases are drawn at today
NEW = ["Attention", "RotaryEmbedding", "SwiGLU"]


@pytest.fixture
def newer(monkeypatch):
    """Cases drawn up to opset 28 (onnxruntime 1.32 runs 23; onnx.reference stands in for SwiGLU at 28)."""
    monkeypatch.setattr(onnx_case, "ORT_NEWEST_OPSET", 28)


def _corners(nodes: list[dict[str, Any]]) -> set[str]:
    seen: set[str] = set()
    for n in nodes:
        op, a, ins = n["op"], n["attrs"], n["inputs"]
        seen.add(op)
        seen |= {f"{op}:{k}" for k in a}
        seen |= {f"{op}:{k}={v}" for k, v in a.items() if isinstance(v, (int, str))}
        seen |= {f"{op}:in{i}" for i, x in enumerate(ins) if x}
    return seen


def test_every_op_is_drawn_with_its_corners(newer):
    ops = Counter()
    corners: set[str] = set()
    for seed in range(400):
        case = gen_case(random.Random(seed), ops=MINE + ["Relu"])
        ops.update(n["op"] for n in case["nodes"])
        corners |= _corners(case["nodes"])
    assert all(ops[o] >= (2 if o == "SwiGLU" else 5) for o in MINE), ops  # SwiGLU: opset 28 alone
    want = {
        "RNN:direction=bidirectional", "RNN:direction=reverse", "RNN:activation_alpha", "RNN:clip", "RNN:in4",
        "RNN:in5", "RNN:layout=1", "RNN:_outputs=1", "GRU:linear_before_reset=1", "GRU:activation_beta", "GRU:in4",
        "LSTM:input_forget=1", "LSTM:in6", "LSTM:in7", "LSTM:_outputs=2", "LSTM:layout=1",
        "NegativeLogLikelihoodLoss:ignore_index", "NegativeLogLikelihoodLoss:reduction=none",
        "NegativeLogLikelihoodLoss:reduction=sum", "NegativeLogLikelihoodLoss:in2",
        "SoftmaxCrossEntropyLoss:_outputs=1", "SoftmaxCrossEntropyLoss:ignore_index",
        "SoftmaxCrossEntropyLoss:reduction=mean", "MatMulInteger:in2", "MatMulInteger:in3", "ConvInteger:group",
        "ConvInteger:in3", "QLinearConv:in8", "QLinearConv:group", "Attention:is_causal=1", "Attention:softcap",
        "Attention:scale", "Attention:q_num_heads", "Attention:in3", "Attention:in5", "Attention:qk_matmul_output_mode",
        "RotaryEmbedding:interleaved=1", "RotaryEmbedding:rotary_embedding_dim", "RotaryEmbedding:num_heads",
        "RotaryEmbedding:in3", "SwiGLU:alpha",
    }
    assert want <= corners, sorted(want - corners)


def test_today_ops_are_drawn_at_the_capped_opsets():
    ops = Counter()
    for seed in range(150):
        ops.update(n["op"] for n in gen_case(random.Random(seed), ops=TODAY)["nodes"])
    assert all(ops[o] >= 5 for o in TODAY) and not set(ops) & set(NEW), ops


def test_types_agree_with_onnx_shape_inference(newer):
    for seed in range(120):
        case = gen_case(random.Random(seed), ops=MINE + ["Relu"])
        types = infer_types(case)
        assert all(types[v] == t for v, t in onnx_types(case).items()), (seed, onnx_types(case), types)


def _campaign(ops: list[str], seeds: range, max_nodes: int = 3) -> Counter:
    f = OnnxFuzzer(ops=ops, max_nodes=max_nodes)
    out: Counter = Counter()
    for seed in seeds:
        out[f.check(f.generate(random.Random(seed))).signature or "pass"] += 1
    return out


def test_small_campaign_is_clean(monkeypatch):
    quick = [o for o in TODAY if o not in ("RNN", "GRU", "LSTM")]
    got = _campaign(quick, range(30)) + _campaign(["RNN", "GRU", "LSTM"], range(8), max_nodes=1)
    monkeypatch.setattr(onnx_case, "ORT_NEWEST_OPSET", 23)
    monkeypatch.setattr(generate, "draw_opset", lambda rng: 23)
    got += _campaign(["Attention", "RotaryEmbedding"], range(12))
    assert not [s for s in got if s.startswith(("mismatch", "crash", "ort-opt"))], got
    assert got["pass"] >= 40, got


# ---------------------------------------------------------------------------------------------- planted bugs
def _plant(mp, op: str, change) -> None:
    import engine.onnx  # noqa: F401  (registers the handlers of engine/onnx_ops_*.py)
    import engine.onnx_ops as eops

    orig = eops.OPS[op]
    mp.setitem(eops.OPS, op, lambda inp, attrs, *rest: orig(*change(list(inp), dict(attrs)), *rest))


def gru_ignores_linear_before_reset(mp) -> None:
    _plant(mp, "GRU", lambda inp, attrs: (inp, {**attrs, "linear_before_reset": 0}))


def loss_ignores_ignore_index(mp) -> None:
    _plant(mp, "NegativeLogLikelihoodLoss", lambda inp, attrs: (inp, {k: v for k, v in attrs.items()
                                                                      if k != "ignore_index"}))


def matmul_integer_drops_b_zero_point(mp) -> None:
    _plant(mp, "MatMulInteger", lambda inp, attrs: (inp[:3], attrs))


PLANTED = {"gru_ignores_linear_before_reset": (gru_ignores_linear_before_reset, "GRU", 1),
           "loss_ignores_ignore_index": (loss_ignores_ignore_index, "NegativeLogLikelihoodLoss", 3),
           "matmul_integer_drops_b_zero_point": (matmul_integer_drops_b_zero_point, "MatMulInteger", 3)}


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_planted_bug_is_found(monkeypatch, name):
    plant, op, max_nodes = PLANTED[name]
    plant(monkeypatch)
    f = OnnxFuzzer(ops=[op], max_nodes=max_nodes)
    for seed in range(30):
        v = f.check(f.generate(random.Random(seed)))
        if v.signature.startswith((f"mismatch:{op}", f"crash:{op}")):
            return
    pytest.fail(f"{name} was not found in 30 cases")
