"""Importer bugs the ONNX fuzzer found, each checked against onnxruntime on its minimized one-node model."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from onnx import numpy_helper as nh

from engine.onnx import load


def _both(node, feeds: dict[str, np.ndarray], inits: list, out_type: int = TensorProto.FLOAT, opset: int = 18):
    def vi(name: str, v: np.ndarray):
        return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)

    g = helper.make_graph([node], "found", [vi(k, v) for k, v in feeds.items()],
                          [helper.make_tensor_value_info("y", out_type, None)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    want = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    return want, load(m).run(feeds)["y"]


def _i64(name: str, v: list[int]):
    return nh.from_array(np.array(v, np.int64), name)


@pytest.mark.parametrize("start, end, step", [(-100, -2**31, -1), (-100, 2, -1), (7, -100, -2), (-5, 100, 1)])
def test_slice_clamps_like_onnx_not_like_python(start, end, step):
    """A negative step with a start before the axis begins at element 0 (ONNX clamps to [0, n-1]); Python's
    slice.indices gave an empty result."""
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    node = helper.make_node("Slice", ["x", "s", "e", "a", "st"], ["y"])
    want, got = _both(node, {"x": x}, [_i64("s", [start]), _i64("e", [end]), _i64("a", [1]), _i64("st", [step])])
    assert got.shape == want.shape and np.array_equal(got, want)


def test_pad_crop_larger_than_the_axis_is_paid_by_the_other_side():
    """ONNX pads, then crops. Checked against numpy: onnxruntime 1.19 (the lowest allowed) overflows on this node."""
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    g = helper.make_graph([helper.make_node("Pad", ["x", "p"], ["y"])], "pad",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [_i64("p", [0, 5, 0, -7])])
    got = load(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])).run({"x": x})["y"]
    want = np.pad(x, ((0, 0), (5, 0)))[:, :-7]
    assert got.shape == want.shape == (3, 2) and np.array_equal(got, want)


def test_thresholded_relu_compares_a_float16_input_with_the_float32_alpha():
    x = np.arange(-8, 8, dtype=np.float16) * np.float16(0.1)
    node = helper.make_node("ThresholdedRelu", ["x"], ["y"], alpha=0.3)  # 0.3 rounds up in float16
    want, got = _both(node, {"x": x}, [], TensorProto.FLOAT16)
    assert np.array_equal(got, want)
