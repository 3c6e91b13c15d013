"""ONNX importer numerics the ONNX fuzzer's new op specs caught against onnxruntime (corpus/onnx keeps the cases):
the hyperbolic functions' overflow, cancellation and accuracy near 0, Shrink's float32 comparison and integer
inputs, and the quantized matmul's rounding before its zero point."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto as TP
from onnx import helper, numpy_helper

import engine.onnx

NP_TO_TP = {np.float32: TP.FLOAT, np.float64: TP.DOUBLE, np.float16: TP.FLOAT16, np.int32: TP.INT32,
            np.int8: TP.INT8, np.uint8: TP.UINT8}


def _model(op: str, x: np.ndarray, inits: list | None = None, names: list[str] | None = None, **attrs):
    tp = NP_TO_TP[x.dtype.type]
    node = helper.make_node(op, names or ["x"], ["y"], **attrs)
    out_tp = TP.UINT8 if op.startswith("QLinear") else tp
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", tp, list(x.shape))],
                              [helper.make_tensor_value_info("y", out_tp, None)], inits or [])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _both(model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = engine.onnx.load(model).run({"x": x}, device="CPU")["y"]
    return got, want


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
    got = engine.onnx.load(_model(op, x)).run({"x": x}, device="CPU")["y"]
    with np.errstate(all="ignore"):
        want = fn(x.astype(np.float64)).astype(dt)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=0)
    if op in ("Sinh", "Asinh", "Atanh"):  # odd functions keep a zero's sign
        assert np.array_equal(np.signbit(got[x == 0]), np.signbit(x[x == 0]))


def test_shrink_compares_and_shifts_in_float32_and_takes_integers():
    x = np.array([0.33, -0.33, 0.5, 2.0], np.float16)  # float16(0.33) is just above float32(0.33): shrunk
    got, want = _both(_model("Shrink", x, lambd=0.33, bias=0.1), x)
    np.testing.assert_array_equal(got, want)
    for dt in (np.int32, np.int8):
        xi = np.array([-3, 0, 3, -1, 1, 2, -128 if dt == np.int8 else -(2**20)], dt)
        got, want = _both(_model("Shrink", xi, lambd=1.0, bias=0.5), xi)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_qlinear_matmul_rounds_before_adding_the_zero_point():
    """acc * scale = 0.5 and 1.5 (ties): round to even first (0, 2), then add the odd zero point 1 (1, 3); rounding
    after the zero point gave 2 and 2 (onnx.reference does the same, so the fuzzer could not tell: onnxruntime)."""
    a = np.array([[1, 3]], np.uint8)
    inits = [numpy_helper.from_array(np.array(v, dt), n) for n, v, dt in
             (("as", 0.5, np.float32), ("az", 0, np.uint8), ("b", [[1, 0], [0, 1]], np.uint8), ("bs", 1.0, np.float32),
              ("bz", 0, np.uint8), ("ys", 1.0, np.float32), ("yz", 1, np.uint8))]
    model = _model("QLinearMatMul", a, inits, ["x", "as", "az", "b", "bs", "bz", "ys", "yz"])
    got, want = _both(model, a)
    np.testing.assert_array_equal(want, [[1, 3]])
    np.testing.assert_array_equal(got, want)
