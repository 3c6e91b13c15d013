"""Regressions for ONNX importer bugs the ONNX fuzzer found in engine/onnx_ops_nn.py, onnx_ops.py and
onnx_ops_quant.py: each a small model run on the engine and on onnxruntime (the reference), which must agree."""

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
           opset: int, out: int | None = None) -> onnx.ModelProto:
    """One node; the inputs' types from their arrays, the outputs' `out` (default: the first input's)."""
    types = {k: helper.np_dtype_to_tensor_dtype(v.dtype) for k, v in inputs.items()}
    out = out or next(iter(types.values()), F)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info(k, types[k], list(v.shape)) for k, v in inputs.items()],
        [helper.make_tensor_value_info(o, out, None) for o in node.output],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = min(m.ir_version, 10)  # what the installed onnxruntime reads
    return m


def _check(node: onnx.NodeProto, inputs: dict[str, np.ndarray], inits: dict[str, np.ndarray] | None = None,
           opset: int = 13, tol: float = 1e-5, out: int | None = None) -> np.ndarray:
    m = _model(node, inputs, inits or {}, opset, out)
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


# ---------------------------------------------------------------------------------------------- engine/onnx_ops.py
@pytest.mark.parametrize("op,fn", [("Sinh", np.sinh), ("Cosh", np.cosh), ("Asinh", np.arcsinh),
                                   ("Acosh", np.arccosh), ("Atanh", np.arctanh)])
@pytest.mark.parametrize("dt,rtol", [(np.float32, 1e-5), (np.float64, 1e-13)])  # float32: as exp (sinh 88.9: 5e-6)
def test_hyperbolic_functions_stay_accurate_from_tiny_to_overflow(op, fn, dt, rtol):
    """Near 0 (e^x - e^-x and log(x + sqrt(x^2 + 1)) cancel), up to float32's overflow (sinh(89) = 2.2e38 is finite,
    e^89 is not), large negative Asinh (x + sqrt(x^2 + 1) cancels), past 1e19 (x^2 overflows) and the specials."""
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.standard_normal(64), rng.standard_normal(16) * 1e-5, [89.0, -89.0, 88.9, -300.0, 1e20,
                        -1e20, 0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.999, 2.0]])
    if op == "Acosh":
        x = np.abs(x) + 1
    if op == "Atanh":
        x = np.clip(x, -1, 1)
    x = x.astype(dt)
    got = load(_model(helper.make_node(op, ["x"], ["y"]), {"x": x}, {}, 13)).run({"x": x}, "CPU")["y"]
    with np.errstate(all="ignore"):
        want = fn(x.astype(np.float64)).astype(dt)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=0)
    if op in ("Sinh", "Asinh", "Atanh"):  # odd functions keep a zero's sign
        assert np.array_equal(np.signbit(got[x == 0]), np.signbit(x[x == 0]))


def test_shrink_compares_and_shifts_in_float32_and_takes_integers():
    x = np.array([0.33, -0.33, 0.5, 2.0], np.float16)  # float16(0.33) is just above float32(0.33): shrunk
    y = _check(helper.make_node("Shrink", ["x"], ["y"], lambd=0.33, bias=0.1), {"x": x}, tol=0)
    assert y[0] != 0  # the case that shows the float32 comparison
    for dt in (np.int32, np.int8):
        xi = np.array([-3, 0, 3, -1, 1, 2, -128 if dt == np.int8 else -(2**20)], dt)
        _check(helper.make_node("Shrink", ["x"], ["y"], lambd=1.0, bias=0.5), {"x": xi}, tol=0)


def test_qlinear_matmul_rounds_before_adding_the_zero_point():
    """acc * scale = 0.5 and 1.5 (ties): round to even first (0, 2), then add the odd zero point 1 (1, 3); rounding
    after the zero point gave 2 and 2 (onnx.reference does the same, so the fuzzer could not tell: onnxruntime)."""
    inits = {n: np.array(v, dt) for n, v, dt in
             (("as", 0.5, np.float32), ("az", 0, np.uint8), ("b", [[1, 0], [0, 1]], np.uint8), ("bs", 1.0, np.float32),
              ("bz", 0, np.uint8), ("ys", 1.0, np.float32), ("yz", 1, np.uint8))}
    node = helper.make_node("QLinearMatMul", ["x", "as", "az", "b", "bs", "bz", "ys", "yz"], ["y"])
    y = _check(node, {"x": np.array([[1, 3]], np.uint8)}, inits, tol=0)
    np.testing.assert_array_equal(y, [[1, 3]])
