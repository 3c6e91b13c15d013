"""Regressions for ONNX importer bugs the ONNX fuzzer found in engine/onnx_ops_nn.py: each a small model run on the
engine and on onnxruntime (the reference), which must agree."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import engine.runtime.llvm as llvm_rt
from engine.onnx import load

F = TensorProto.FLOAT


@pytest.fixture(autouse=True)
def _fast_llvm(monkeypatch):
    monkeypatch.setattr(llvm_rt, "OPT_LEVEL", 0)


def _model(node: onnx.NodeProto, inputs: dict[str, np.ndarray], inits: dict[str, np.ndarray],
           opset: int) -> onnx.ModelProto:
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info(k, F, list(v.shape)) for k, v in inputs.items()],
        [helper.make_tensor_value_info(o, F, None) for o in node.output],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = min(m.ir_version, 10)  # what the installed onnxruntime reads
    return m


def _check(node: onnx.NodeProto, inputs: dict[str, np.ndarray], inits: dict[str, np.ndarray] | None = None,
           opset: int = 13, tol: float = 1e-5) -> np.ndarray:
    m = _model(node, inputs, inits or {}, opset)
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    want = dict(zip(node.output, sess.run(list(node.output), inputs)))
    got = load(m).run(inputs, "CPU")
    for k, w in want.items():
        assert got[k].shape == w.shape, (k, got[k].shape, w.shape)
        np.testing.assert_allclose(got[k].astype(np.float64), w.astype(np.float64), rtol=tol, atol=tol,
                                   equal_nan=True, err_msg=k)
    return want[node.output[0]]


def test_maxunpool_duplicate_indices_write_once():
    # overlapping MaxPool windows repeat an index: the value is written once (the last one), not summed
    node = helper.make_node("MaxUnpool", ["x", "i"], ["y"], kernel_shape=[2, 2], strides=[1, 1])
    idx = np.array([[[[0, 0], [5, 5]]]], np.int64)
    y = _check(node, {"x": np.array([[[[1, 3], [2, 7]]]], np.float32)}, {"i": idx})
    assert y[0, 0, 0, 0] == 3 and y[0, 0, 1, 2] == 7


def test_maxunpool_larger_output_shape_follows_onnxs_node_test():
    """A larger output_shape: ONNX's node test (maxunpool_export_with_output_shape) reads the indices in the inferred
    shape and pads zeros after it; onnxruntime reads them in output_shape. The engine follows the node test (the
    fuzzer draws output_shape as the inferred one only)."""
    node = helper.make_node("MaxUnpool", ["x", "i", "s"], ["y"], kernel_shape=[2, 2], strides=[2, 2])
    inits = {"i": np.array([0, 3, 10, 15], np.int64).reshape(1, 1, 2, 2), "s": np.array([1, 1, 5, 5], np.int64)}
    x = np.array([[[[1, 2], [3, 4]]]], np.float32)
    y = load(_model(node, {"x": x}, inits, 13)).run({"x": x}, device="LLVM")["y"]
    want = np.zeros((4, 4), np.float32)
    want.reshape(-1)[[0, 3, 10, 15]] = [1, 2, 3, 4]
    np.testing.assert_array_equal(y[0, 0], np.pad(want, ((0, 1), (0, 1))))


@pytest.mark.parametrize("opset", [11, 15, 16])
def test_roi_align_default_transformation_follows_the_opset(opset):
    # RoiAlign-10 (opsets 10..15) shifts by no half pixel; from 16 the default is half_pixel
    node = helper.make_node("RoiAlign", ["x", "r", "b"], ["y"], output_height=2, output_width=2)
    inits = {"r": np.array([[0.3, 0.2, 3.1, 2.7]], np.float32), "b": np.array([0], np.int64)}
    _check(node, {"x": np.arange(25, dtype=np.float32).reshape(1, 1, 5, 5)}, inits, opset=opset)


@pytest.mark.parametrize("shape", [(1, 1, 1, 4), (1, 1, 4, 1), (1, 1, 1, 1)])
def test_deform_conv_moves_along_an_axis_of_size_one(shape):
    kh, kw = (1, 2) if shape[3] > 1 else (2, 1) if shape[2] > 1 else (1, 1)
    oh, ow = shape[2] - kh + 1, shape[3] - kw + 1
    node = helper.make_node("DeformConv", ["x", "w", "o"], ["y"])
    x = np.arange(1, 1 + np.prod(shape), dtype=np.float32).reshape(shape)
    w = np.ones((1, 1, kh, kw), np.float32)
    off = np.full((1, 2 * kh * kw, oh, ow), 0.7, np.float32)
    _check(node, {"x": x, "w": w, "o": off}, opset=19)
    off2 = np.random.default_rng(0).uniform(-1.5, 1.5, off.shape).astype(np.float32)
    _check(node, {"x": x, "w": w, "o": off2}, opset=19)


@pytest.mark.parametrize("align", [0, 1])
def test_grid_sample_cubic_border_clamps_only_the_taps(align):
    node = helper.make_node("GridSample", ["x", "g"], ["y"], mode="cubic", padding_mode="border",
                            align_corners=align)
    x = (np.arange(6, dtype=np.float32) ** 2).reshape(1, 1, 1, 6)
    gx = np.array([-1.3, -1.05, -0.95, -0.5, 0.2, 0.95, 1.02, 1.3], np.float32)
    g = np.stack([gx, np.zeros_like(gx)], -1).reshape(1, 1, len(gx), 2)
    _check(node, {"x": x, "g": g}, opset=20, tol=1e-4)
    x2 = np.random.default_rng(1).standard_normal((1, 2, 3, 4)).astype(np.float32)
    g2 = np.random.default_rng(2).uniform(-1.4, 1.4, (1, 3, 5, 2)).astype(np.float32)
    _check(node, {"x": x2, "g": g2}, opset=20, tol=1e-4)


@pytest.mark.parametrize("op", ["HannWindow", "HammingWindow", "BlackmanWindow"])
def test_symmetric_window_of_one_point_is_nan(op):
    node = helper.make_node(op, ["n"], ["y"], periodic=0)
    m = _model(node, {}, {"n": np.array(1, np.int64)}, 17)
    got = load(m).run({}, "CPU")["y"]
    want = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {})[0]
    assert got.shape == want.shape == (1,) and np.isnan(got).all() and np.isnan(want).all()


def _rnn(kind: str, acts: list[str], alpha: list[float] | None, beta: list[float] | None = None,
         clip: float | None = None, direction: str = "bidirectional") -> None:
    g = {"RNN": 1, "GRU": 3, "LSTM": 4}[kind]
    nd, t, b, i, h = 2 if direction == "bidirectional" else 1, 3, 2, 3, 4
    rng = np.random.default_rng(0)
    attrs: dict = {"hidden_size": h, "activations": acts, "direction": direction}
    for k, v in (("activation_alpha", alpha), ("activation_beta", beta), ("clip", clip)):
        if v is not None:
            attrs[k] = v
    node = helper.make_node(kind, ["x", "w", "r"], ["y", "yh"], **attrs)
    inits = {"w": rng.uniform(-1, 1, (nd, g * h, i)).astype(np.float32),
             "r": rng.uniform(-1, 1, (nd, g * h, h)).astype(np.float32)}
    _check(node, {"x": 2 * rng.standard_normal((t, b, i)).astype(np.float32)}, inits, opset=14, tol=1e-4)


def test_rnn_alphas_go_only_to_the_functions_that_take_one():
    _rnn("RNN", ["Tanh", "LeakyRelu"], [0.3])
    _rnn("RNN", ["HardSigmoid", "LeakyRelu"], [0.3, 0.4], [0.1])
    _rnn("RNN", ["LeakyRelu", "LeakyRelu"], [0.3])  # the second is past the list: LeakyRelu's default


def test_gru_and_lstm_alphas_in_order():
    _rnn("GRU", ["Sigmoid", "LeakyRelu", "HardSigmoid", "Elu"], [0.4, 0.3, 0.7], [0.6])
    _rnn("LSTM", ["Sigmoid", "Affine", "ThresholdedRelu", "HardSigmoid", "Tanh", "ScaledTanh"],
         [0.8, -0.2, 0.25, 1.5], [0.3, 0.45, 0.9], clip=2.5)
