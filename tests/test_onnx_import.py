"""The ONNX importer (engine/onnx.py, engine/onnx_ops.py) against onnxruntime on small models built with onnx.helper:
per op family, attribute defaults, opset differences, load sources, external data, and its errors."""

from __future__ import annotations

import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from devices import DEVICES
from onnx import TensorProto, helper, numpy_helper

import engine.runtime.llvm as llvm_rt
from engine import onnx_ops
from engine.onnx import SUPPORTED_OPS, OnnxImportError, OnnxModel, load

F, I64 = TensorProto.FLOAT, TensorProto.INT64


def _ort_newest() -> int:
    """The newest opset both the installed onnx and onnxruntime run (onnxruntime 1.19, the lowest allowed, stops
    at 21 while onnx 1.17 knows 22)."""
    for v in range(onnx.defs.onnx_opset_version(), 20, -1):
        g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", v)])
        m.ir_version = 8
        try:
            ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
            return v
        except Exception:
            continue
    return 21


NEWEST = _ort_newest()


@pytest.fixture(autouse=True)
def _fast_llvm(monkeypatch):
    monkeypatch.setattr(llvm_rt, "OPT_LEVEL", 0)  # kernels compile in ~1 ms; the level does not change results


def _rand(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _model(nodes, inputs, outputs, inits=(), opset=NEWEST) -> onnx.ModelProto:
    """A model of `nodes`; inputs/outputs are (name, elem type, shape) triples, inits numpy arrays by name."""
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
        [numpy_helper.from_array(v, k) for k, v in dict(inits).items()])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = min(m.ir_version, 10)  # what the installed onnxruntime reads
    return m


def _ort(m: onnx.ModelProto, feeds: dict) -> dict:
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds)))


def _check(m: onnx.ModelProto, feeds: dict, device: str = "LLVM", tol: float = 1e-5) -> dict:
    """Run on the engine and on onnxruntime; every output must agree (same dtype and shape)."""
    got = load(m).run(feeds, device)
    want = _ort(m, feeds)
    assert set(got) == set(want)
    for k, w in want.items():
        g = got[k]
        assert g.dtype == w.dtype, (k, g.dtype, w.dtype)
        assert g.shape == w.shape, (k, g.shape, w.shape)
        np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=tol, atol=tol, err_msg=k)
    return got


def _unary_model(op, shape=(2, 3, 4), dtype=F, opset=NEWEST, **attrs):
    return _model([helper.make_node(op, ["x"], ["y"], **attrs)], [("x", dtype, shape)], [("y", dtype, None)],
                  opset=opset)


# ------------------------------------------------------------------------------------------- op families
@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "PRelu"])
def test_binary_float_ops_broadcast_like_onnxruntime(op):
    m = _model([helper.make_node(op, ["a", "b"], ["y"])], [("a", F, (2, 3, 4)), ("b", F, (3, 1))], [("y", F, None)])
    a, b = np.abs(_rand((2, 3, 4))) + 0.5, _rand((3, 1), 1)
    _check(m, {"a": a, "b": b})


@pytest.mark.parametrize("op,fmod", [("Div", None), ("Mod", 0), ("Mod", 1), ("BitShift", None)])
def test_integer_division_and_mod_follow_onnx_not_numpy(op, fmod):
    attrs = {"fmod": fmod} if fmod is not None else {"direction": "RIGHT"} if op == "BitShift" else {}
    dt = TensorProto.UINT32 if op == "BitShift" else TensorProto.INT32
    m = _model([helper.make_node(op, ["a", "b"], ["y"], **attrs)], [("a", dt, (6,)), ("b", dt, (6,))],
               [("y", dt, None)])
    npdt = np.uint32 if op == "BitShift" else np.int32
    a = np.array([7, -7, 7, -7, 9, 0], npdt) if op != "BitShift" else np.array([7, 64, 255, 1, 9, 0], npdt)
    b = np.array([2, 2, -2, -2, 3, 5], npdt) if op != "BitShift" else np.array([1, 2, 3, 0, 1, 5], npdt)
    _check(m, {"a": a, "b": b})


@pytest.mark.parametrize("op", ["Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"])
def test_comparisons_give_bool(op):
    m = _model([helper.make_node(op, ["a", "b"], ["y"])], [("a", F, (3, 4)), ("b", F, (4,))],
               [("y", TensorProto.BOOL, None)])
    a = np.round(_rand((3, 4))).astype(np.float32)
    _check(m, {"a": a, "b": a[1].copy()})


@pytest.mark.parametrize("op", ["And", "Or", "Xor"])
def test_logic_ops(op):
    B = TensorProto.BOOL
    m = _model([helper.make_node(op, ["a", "b"], ["y"]), helper.make_node("Not", ["y"], ["z"])],
               [("a", B, (2, 3)), ("b", B, (2, 3))], [("y", B, None), ("z", B, None)])
    r = np.random.default_rng(0)
    _check(m, {"a": r.random((2, 3)) > 0.5, "b": r.random((2, 3)) > 0.5})


UNARY = ["Abs", "Neg", "Floor", "Ceil", "Round", "Exp", "Sin", "Cos", "Tan", "Atan", "Sinh", "Cosh", "Asinh",
         "Sigmoid", "Tanh", "Erf", "Sign", "Relu", "Softplus", "Softsign", "Identity", "Reciprocal"]


@pytest.mark.parametrize("op", UNARY)
def test_unary_math(op):
    _check(_unary_model(op), {"x": _rand((2, 3, 4)) * 2}, tol=2e-5)


@pytest.mark.parametrize("op", ["Sqrt", "Log", "Acosh"])
def test_unary_math_on_its_domain(op):
    _check(_unary_model(op), {"x": np.abs(_rand((2, 3, 4))) + 1.0}, tol=2e-5)


@pytest.mark.parametrize("op", ["Asin", "Acos", "Atanh"])
def test_inverse_trig_inside_minus_one_one(op):
    _check(_unary_model(op), {"x": np.tanh(_rand((2, 3, 4)))}, tol=5e-5)


@pytest.mark.parametrize("op,attrs", [
    ("LeakyRelu", {}), ("LeakyRelu", {"alpha": 0.3}), ("Elu", {}), ("Elu", {"alpha": 2.0}), ("Selu", {}),
    ("Celu", {}), ("Celu", {"alpha": 0.5}), ("HardSigmoid", {}), ("HardSigmoid", {"alpha": 0.5, "beta": 0.1}),
    ("HardSwish", {}), ("Mish", {}), ("ThresholdedRelu", {}), ("ThresholdedRelu", {"alpha": 0.1}), ("Gelu", {}),
    ("Gelu", {"approximate": "tanh"}), ("Shrink", {}), ("Shrink", {"lambd": 0.2, "bias": 0.1}),
])
def test_activations_with_default_and_given_attributes(op, attrs):
    _check(_unary_model(op, **attrs), {"x": _rand((2, 3, 4)) * 2}, tol=2e-5)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("opset,axis", [(11, None), (11, 0), (13, None), (13, 1), (NEWEST, -3)])
def test_softmax_family_axis_rules_change_at_opset_13(op, opset, axis):
    attrs = {} if axis is None else {"axis": axis}
    _check(_unary_model(op, opset=opset, **attrs), {"x": _rand((2, 3, 4))})


def test_cast_and_castlike():
    m = _model([helper.make_node("Cast", ["x"], ["i"], to=TensorProto.INT32),
                helper.make_node("CastLike", ["i", "h"], ["y"])],
               [("x", F, (5,)), ("h", TensorProto.FLOAT16, (1,))],
               [("i", TensorProto.INT32, None), ("y", TensorProto.FLOAT16, None)])
    _check(m, {"x": np.array([1.7, -1.7, 0.2, 300.5, -2.5], np.float32), "h": np.zeros(1, np.float16)})


def test_clip_min_max_as_inputs_and_as_attributes():
    new = _model([helper.make_node("Clip", ["x", "lo", ""], ["y"])], [("x", F, (6,))], [("y", F, None)],
                 {"lo": np.array(-0.5, np.float32)})
    old = _model([helper.make_node("Clip", ["x"], ["y"], max=0.5)], [("x", F, (6,))], [("y", F, None)], opset=6)
    x = _rand((6,))
    assert (_check(new, {"x": x})["y"] >= -0.5).all()
    got = load(old).run({"x": x}, "LLVM")["y"]
    np.testing.assert_array_equal(got, np.minimum(x, 0.5))


# ------------------------------------------------------------------------------------------- products, nn
@pytest.mark.parametrize("ta,tb,alpha,beta,c", [(0, 0, 1.0, 1.0, True), (1, 0, 0.5, 2.0, True),
                                                (0, 1, 1.0, 1.0, False), (1, 1, 2.0, 0.5, True)])
def test_gemm_transposes_and_scales(ta, tb, alpha, beta, c):
    a, b = _rand((4, 3) if ta else (3, 4)), _rand((5, 4) if tb else (4, 5), 1)
    ins = ["a", "b", "c"] if c else ["a", "b"]
    m = _model([helper.make_node("Gemm", ins, ["y"], transA=ta, transB=tb, alpha=alpha, beta=beta)],
               [("a", F, a.shape), ("b", F, b.shape)], [("y", F, None)], {"c": _rand((5,), 2)} if c else {})
    _check(m, {"a": a, "b": b})


@pytest.mark.parametrize("sa,sb", [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((4,), (2, 4, 3)), ((2, 1, 3, 4), (5, 4, 2))])
def test_matmul_batches_and_vectors(sa, sb):
    m = _model([helper.make_node("MatMul", ["a", "b"], ["y"])], [("a", F, sa), ("b", F, sb)], [("y", F, None)])
    _check(m, {"a": _rand(sa), "b": _rand(sb, 1)})


@pytest.mark.parametrize("eq,shapes", [("ij,jk->ik", [(3, 4), (4, 2)]), ("bij->bji", [(2, 3, 4)]),
                                       ("ii->i", [(3, 3)]), ("i,i", [(4,), (4,)])])
def test_einsum(eq, shapes):
    names = [f"x{i}" for i in range(len(shapes))]
    m = _model([helper.make_node("Einsum", names, ["y"], equation=eq)], [(n, F, s) for n, s in zip(names, shapes)],
               [("y", F, None)])
    _check(m, {n: _rand(s, i) for i, (n, s) in enumerate(zip(names, shapes))})


@pytest.mark.parametrize("attrs", [{}, {"pads": [1, 1, 1, 1]}, {"strides": [2, 2], "auto_pad": "SAME_UPPER"},
                                   {"dilations": [2, 1], "pads": [2, 1, 2, 1]},
                                   {"auto_pad": "SAME_LOWER"}, {"group": 2, "pads": [0, 1, 2, 0]}])
def test_conv_padding_strides_dilations_groups(attrs):
    w = _rand((4, 4 // attrs.get("group", 1), 3, 3), 1)
    m = _model([helper.make_node("Conv", ["x", "w", "b"], ["y"], **attrs)], [("x", F, (1, 4, 7, 6))],
               [("y", F, None)], {"w": w, "b": _rand((4,), 2)})
    _check(m, {"x": _rand((1, 4, 7, 6))}, tol=1e-4)


def test_conv1d_and_conv3d():
    for shape, k in (((1, 2, 9), (3,)), ((1, 2, 4, 5, 3), (2, 3, 2))):
        m = _model([helper.make_node("Conv", ["x", "w"], ["y"], strides=[2] * len(k))], [("x", F, shape)],
                   [("y", F, None)], {"w": _rand((3, 2) + k, 1)})
        _check(m, {"x": _rand(shape)}, tol=1e-4)


@pytest.mark.parametrize("attrs", [{}, {"strides": [2, 2], "pads": [1, 0, 0, 1]}, {"output_padding": [1, 1],
                                   "strides": [2, 2]}, {"group": 2}, {"strides": [2, 2], "auto_pad": "SAME_UPPER"},
                                   {"output_shape": [9, 8], "strides": [2, 2]}])
def test_conv_transpose(attrs):
    g = attrs.get("group", 1)
    m = _model([helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], **attrs)], [("x", F, (1, 4, 4, 4))],
               [("y", F, None)], {"w": _rand((4, 6 // g, 3, 3), 1), "b": _rand((6,), 2)})
    _check(m, {"x": _rand((1, 4, 4, 4))}, tol=1e-4)


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
@pytest.mark.parametrize("attrs", [{"kernel_shape": [2, 2]}, {"kernel_shape": [3, 3], "strides": [2, 2],
                                   "pads": [1, 1, 1, 1]}, {"kernel_shape": [3, 2], "ceil_mode": 1, "strides": [2, 2]},
                                   {"kernel_shape": [3, 3], "auto_pad": "SAME_UPPER", "strides": [2, 2]},
                                   {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1}])
def test_pooling(op, attrs):
    if op == "MaxPool":
        attrs = {k: v for k, v in attrs.items() if k != "count_include_pad"}
    m = _unary_model(op, shape=(1, 2, 7, 6), **attrs)
    _check(m, {"x": _rand((1, 2, 7, 6))})


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"])
def test_global_pooling(op):
    _check(_unary_model(op, shape=(2, 3, 4, 5), opset=13), {"x": _rand((2, 3, 4, 5))})


def test_batch_instance_layer_group_normalization():
    x = _rand((2, 4, 3, 3))
    c = {f"{k}{i}": np.abs(_rand((4,), i)) + 0.5 for i, k in enumerate("sbmv")}
    nodes = [helper.make_node("BatchNormalization", ["x", "s0", "b1", "m2", "v3"], ["bn"]),
             helper.make_node("InstanceNormalization", ["x", "s0", "b1"], ["inn"], epsilon=1e-3),
             helper.make_node("LayerNormalization", ["x", "ls", "lb"], ["ln"], axis=-2),
             helper.make_node("GroupNormalization", ["x", "s0", "b1"], ["gn"], num_groups=2),
             helper.make_node("LpNormalization", ["x"], ["lp"], axis=1)]
    m = _model(nodes, [("x", F, x.shape)], [(n, F, None) for n in ("bn", "inn", "ln", "gn", "lp")],
               dict(c, ls=_rand((3, 3), 5), lb=_rand((3, 3), 6)))
    _check(m, {"x": x}, tol=1e-4)


# ------------------------------------------------------------------------------------------- reductions
REDUCE = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
          "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"]


@pytest.mark.parametrize("op", REDUCE)
@pytest.mark.parametrize("opset", [13, NEWEST])
def test_reductions_take_axes_as_attribute_or_input_by_opset(op, opset):
    """ReduceSum takes axes as an input from opset 13, the others from 18: before that it is an attribute."""
    as_input = opset >= (13 if op == "ReduceSum" else 18)
    x = np.abs(_rand((2, 3, 4))) + 0.1
    if as_input:
        node = helper.make_node(op, ["x", "axes"], ["y"], keepdims=0)
        inits = {"axes": np.array([0, -1], np.int64)}
    else:
        node, inits = helper.make_node(op, ["x"], ["y"], keepdims=0, axes=[0, -1]), {}
    m = _model([node], [("x", F, x.shape)], [("y", F, None)], inits, opset=opset)
    assert _check(m, {"x": x}, tol=1e-4)["y"].shape == (3,)


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMax"])
def test_reduction_defaults_all_axes_keepdims_and_noop(op):
    """Checked against numpy: onnxruntime 1.19 (the lowest allowed) rejects noop_with_empty_axes without axes."""
    x = _rand((2, 3))
    m = _model([helper.make_node(op, ["x"], ["y"]), helper.make_node(op, ["x"], ["z"], noop_with_empty_axes=1)],
               [("x", F, x.shape)], [("y", F, None), ("z", F, None)])
    got = load(m).run({"x": x}, "LLVM")
    want = {"ReduceSum": np.sum, "ReduceMax": np.max}[op](x, keepdims=True)
    assert got["y"].shape == (1, 1) and got["z"].shape == (2, 3)
    np.testing.assert_allclose(got["y"], want, rtol=1e-6)
    np.testing.assert_array_equal(got["z"], x)


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("attrs", [{}, {"axis": -1, "keepdims": 0}, {"axis": 1, "select_last_index": 1}])
def test_argmax_argmin(op, attrs):
    x = np.array([[1, 3, 3, 0], [2, 2, 1, 1], [0, 5, 5, 5]], np.float32)
    m = _model([helper.make_node(op, ["x"], ["y"], **attrs)], [("x", F, x.shape)], [("y", I64, None)])
    _check(m, {"x": x})


@pytest.mark.parametrize("attrs", [{}, {"exclusive": 1}, {"reverse": 1}, {"exclusive": 1, "reverse": 1}])
def test_cumsum(attrs):
    m = _model([helper.make_node("CumSum", ["x", "ax"], ["y"], **attrs)], [("x", F, (3, 4))], [("y", F, None)],
               {"ax": np.array(1, np.int64)})
    _check(m, {"x": _rand((3, 4))})


# ------------------------------------------------------------------------------------------- movement, indexing
def test_shape_ops_chain_reshape_flatten_squeeze_unsqueeze_transpose_expand():
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Reshape", ["x", "shp"], ["r"]),
             helper.make_node("Flatten", ["x"], ["f"], axis=2),
             helper.make_node("Unsqueeze", ["x", "ax"], ["u"]),
             helper.make_node("Squeeze", ["u", "ax"], ["q"]),
             helper.make_node("Transpose", ["x"], ["t"]),
             helper.make_node("Transpose", ["x"], ["t2"], perm=[1, 0, 2]),
             helper.make_node("Expand", ["x", "ex"], ["e"]),
             helper.make_node("Size", ["x"], ["n"])]
    outs = [("s", I64, None), ("r", F, None), ("f", F, None), ("u", F, None), ("q", F, None), ("t", F, None),
            ("t2", F, None), ("e", F, None), ("n", I64, None)]
    m = _model(nodes, [("x", F, (2, 1, 4))], outs, {"shp": np.array([0, -1], np.int64),
                                                    "ax": np.array([0, -1], np.int64),
                                                    "ex": np.array([3, 1, 2, 1], np.int64)})
    _check(m, {"x": _rand((2, 1, 4))})


def test_squeeze_axes_attribute_before_opset_13():
    m = _model([helper.make_node("Squeeze", ["x"], ["y"], axes=[1])], [("x", F, (2, 1, 1))], [("y", F, None)],
               opset=11)
    assert load(m).run({"x": _rand((2, 1, 1))}, "LLVM")["y"].shape == (2, 1)


def test_concat_split_slice_pad_tile():
    nodes = [helper.make_node("Concat", ["x", "x"], ["c"], axis=-1),
             helper.make_node("Split", ["c", "sp"], ["s0", "s1"], axis=1),
             helper.make_node("Split", ["x"], ["h0", "h1"], axis=0, num_outputs=2),
             helper.make_node("Slice", ["c", "st", "en", "axs", "steps"], ["sl"]),
             helper.make_node("Pad", ["x", "pads", "pv"], ["p"]),
             helper.make_node("Pad", ["x", "pads"], ["pr"], mode="reflect"),
             helper.make_node("Pad", ["x", "pads"], ["pe"], mode="edge"),
             helper.make_node("Tile", ["x", "reps"], ["t"])]
    inits = {"sp": np.array([1, 2], np.int64), "st": np.array([-1, 0], np.int64),
             "en": np.array([-100, 2], np.int64), "axs": np.array([2, 0], np.int64),
             "steps": np.array([-2, 1], np.int64), "pads": np.array([0, 1, 2, 1, 0, 1], np.int64),
             "pv": np.array(1.5, np.float32), "reps": np.array([1, 2, 2], np.int64)}
    outs = ["c", "s0", "s1", "h0", "h1", "sl", "p", "pr", "pe", "t"]
    m = _model(nodes, [("x", F, (3, 3, 3))], [(n, F, None) for n in outs], inits)
    _check(m, {"x": _rand((3, 3, 3))})


def test_gather_family_and_scatter_family():
    nodes = [helper.make_node("Gather", ["x", "gi"], ["g"], axis=1),
             helper.make_node("GatherElements", ["x", "ge"], ["ge_out"], axis=0),
             helper.make_node("GatherND", ["x", "gn"], ["gn_out"]),
             helper.make_node("ScatterElements", ["x", "ge", "u"], ["se"], axis=0, reduction="add"),
             helper.make_node("ScatterND", ["x", "gn", "un"], ["sn"])]
    inits = {"gi": np.array([[2, -1], [0, 0]], np.int64), "ge": np.array([[1, 0, 2], [0, 2, 1]], np.int64),
             "gn": np.array([[1, 0], [2, 2]], np.int64), "u": _rand((2, 3), 3), "un": _rand((2,), 4)}
    outs = ["g", "ge_out", "gn_out", "se", "sn"]
    m = _model(nodes, [("x", F, (3, 3))], [(n, F, None) for n in outs], inits)
    _check(m, {"x": _rand((3, 3))})


def test_gather_with_runtime_indices():
    m = _model([helper.make_node("Gather", ["x", "i"], ["y"])], [("x", F, (4, 2)), ("i", I64, (3,))],
               [("y", F, None)])
    _check(m, {"x": _rand((4, 2)), "i": np.array([3, -4, 1], np.int64)})


def test_where_range_constant_of_shape_onehot_trilu_topk():
    nodes = [helper.make_node("Where", ["cond", "x", "zero"], ["w"]),
             helper.make_node("Range", ["r0", "r1", "r2"], ["r"]),
             helper.make_node("ConstantOfShape", ["shp"], ["cs"], value=numpy_helper.from_array(np.array([2.5],
                                                                                                  np.float32))),
             helper.make_node("OneHot", ["oi", "depth", "ov"], ["oh"]),
             helper.make_node("Trilu", ["x"], ["tu"]),
             helper.make_node("Trilu", ["x", "k"], ["tl"], upper=0),
             helper.make_node("TopK", ["x", "kk"], ["tv", "ti"], axis=1, largest=0),
             helper.make_node("Constant", [], ["cst"], value_floats=[1.0, 2.0])]
    inits = {"zero": np.zeros(1, np.float32), "r0": np.array(1, np.int64), "r1": np.array(10, np.int64),
             "r2": np.array(3, np.int64), "shp": np.array([2, 2], np.int64), "oi": np.array([0, 2, -1], np.int64),
             "depth": np.array(3, np.int64), "ov": np.array([0.0, 5.0], np.float32), "k": np.array(-1, np.int64),
             "kk": np.array([2], np.int64)}
    outs = [("w", F, None), ("r", I64, None), ("cs", F, None), ("oh", F, None), ("tu", F, None), ("tl", F, None),
            ("tv", F, None), ("ti", I64, None), ("cst", F, None)]
    m = _model(nodes, [("cond", TensorProto.BOOL, (3, 3)), ("x", F, (3, 3))], outs, inits)
    r = np.random.default_rng(1)
    _check(m, {"cond": r.random((3, 3)) > 0.5, "x": _rand((3, 3))})


def test_depth_space_and_resize():
    nodes = [helper.make_node("DepthToSpace", ["x"], ["d"], blocksize=2, mode="CRD"),
             helper.make_node("SpaceToDepth", ["d"], ["s"], blocksize=2),
             helper.make_node("Resize", ["x", "", "sc"], ["rn"], mode="nearest"),
             helper.make_node("Resize", ["x", "", "sc"], ["rl"], mode="linear"),
             helper.make_node("Resize", ["x", "", "", "sz"], ["ra"], mode="linear",
                              coordinate_transformation_mode="align_corners")]
    inits = {"sc": np.array([1, 1, 2, 1.5], np.float32), "sz": np.array([1, 4, 3, 5], np.int64)}
    m = _model(nodes, [("x", F, (1, 4, 2, 3))], [(n, F, None) for n in ("d", "s", "rn", "rl", "ra")], inits)
    _check(m, {"x": _rand((1, 4, 2, 3))})


def test_quantize_dequantize_linear():
    U8 = TensorProto.UINT8
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["q"]),
             helper.make_node("DequantizeLinear", ["q", "s", "zp"], ["dq"])]
    m = _model(nodes, [("x", F, (2, 5))], [("q", U8, None), ("dq", F, None)],
               {"s": np.array(0.05, np.float32), "zp": np.array(100, np.uint8)}, opset=21)
    _check(m, {"x": _rand((2, 5)) * 4})


# ------------------------------------------------------------------------------------------- the model API
def _mlp() -> onnx.ModelProto:
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], transB=1, name="fc1"),
             helper.make_node("Relu", ["h"], ["a"], name="act"),
             helper.make_node("MatMul", ["a", "w2"], ["y"], name="fc2")]
    return _model(nodes, [("x", F, ("batch", 4))], [("y", F, ("batch", 2))],
                  {"w1": _rand((8, 4), 1), "b1": _rand((8,), 2), "w2": _rand((8, 2), 3)})


def test_inputs_outputs_and_opset_are_declared_ones():
    mm = load(_mlp())
    assert mm.inputs == [("x", ("batch", 4), np.dtype(np.float32))]
    assert mm.outputs == [("y", ("batch", 2), np.dtype(np.float32))]
    assert mm.opset == NEWEST


def test_symbolic_dims_take_the_fed_size_and_intermediates_can_be_asked_for():
    mm = load(_mlp())
    x = _rand((3, 4))
    got = mm.run({"x": x}, outputs=["h", "y"], device="LLVM")
    assert got["h"].shape == (3, 8) and got["y"].shape == (3, 2)
    ref = _ort(_mlp(), {"x": x})["y"]
    np.testing.assert_allclose(got["y"], ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_every_device_gives_onnxruntime_result(device):
    _check(_mlp(), {"x": _rand((2, 4))}, device=device)


def test_path_bytes_and_modelproto_load_the_same_model(tmp_path):
    m = _mlp()
    path = tmp_path / "mlp.onnx"
    onnx.save(m, path)
    x = {"x": _rand((2, 4))}
    outs = [load(src).run(x, "LLVM")["y"] for src in (m, m.SerializeToString(), str(path), path)]
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])


def test_external_data_files_are_read(tmp_path):
    m = _mlp()
    onnx.save(_mlp(), path := tmp_path / "ext.onnx", save_as_external_data=True, all_tensors_to_one_file=True,
              location="weights.bin", size_threshold=0)
    assert (tmp_path / "weights.bin").exists()
    x = {"x": _rand((2, 4))}
    want = load(m).run(x, "LLVM")["y"]
    np.testing.assert_array_equal(load(path).run(x, "LLVM")["y"], want)
    proto = onnx.load(path, load_external_data=False)  # tensors still point at weights.bin
    np.testing.assert_array_equal(load(proto, path_hint=str(path)).run(x, "LLVM")["y"], want)
    os.remove(tmp_path / "weights.bin")
    with pytest.raises(OnnxImportError, match="ext.onnx"):
        load(path)


def test_handlers_are_looked_up_when_a_node_runs(monkeypatch):
    mm = load(_mlp())
    x = {"x": _rand((2, 4))}
    before = mm.run(x, "LLVM")["y"]
    monkeypatch.setitem(onnx_ops.OPS, "Relu", lambda inp, attrs, node: inp[0])  # a planted bug: Relu does nothing
    after = mm.run(x, "LLVM")["y"]
    assert not np.allclose(before, after)


def test_supported_ops_cover_the_issue_list():
    want = {"Add", "Cast", "CastLike", "Relu", "PRelu", "Gelu", "Softmax", "Hardmax", "MatMul", "Gemm", "Einsum",
            "Conv", "ConvTranspose", "MaxPool", "GlobalAveragePool", "LpNormalization", "GroupNormalization",
            "ReduceLogSumExp", "ArgMin", "CumSum", "Pad", "GatherND", "ScatterND", "Resize", "Trilu", "OneHot",
            "TopK", "Clip", "Mod", "IsInf", "QuantizeLinear", "DequantizeLinear", "Dropout", "Range"}
    assert want <= SUPPORTED_OPS


# ------------------------------------------------------------------------------------------- errors
def test_unsupported_op_names_node_and_op(tmp_path):
    m = _model([helper.make_node("Relu", ["x"], ["h"], name="first"), helper.make_node("RandomNormalLike", ["h"],
                                                                                     ["y"])],
               [("x", F, (2, 2))], [("y", F, None)])
    with pytest.raises(OnnxImportError, match=r"node #1 \(RandomNormalLike\): unsupported op 'RandomNormalLike'"):
        load(m)
    path = tmp_path / "rand.onnx"
    onnx.save(m, path)
    with pytest.raises(OnnxImportError, match=r"rand\.onnx: node #1 \(RandomNormalLike\)"):
        load(path)


def test_unknown_domain_is_unsupported():
    node = helper.make_node("FusedGemm", ["x"], ["y"], domain="com.microsoft")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", F, (2,))],
                              [helper.make_tensor_value_info("y", F, (2,))])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    with pytest.raises(OnnxImportError, match="FusedGemm.*com.microsoft"):
        load(m)


def test_truncated_and_garbage_files_give_one_clear_error(tmp_path):
    data = _mlp().SerializeToString()
    for name, blob in (("trunc.onnx", data[: len(data) // 2]), ("garbage.onnx", b"\xff\x00 not onnx at all"),
                       ("empty.onnx", b"")):
        p = tmp_path / name
        p.write_bytes(blob)
        with pytest.raises(OnnxImportError, match=name.replace(".", r"\.")):
            load(p)
    with pytest.raises(OnnxImportError, match="no such file"):
        load(tmp_path / "missing.onnx")
    with pytest.raises(OnnxImportError, match="expected a path"):
        load(3)


def test_wrong_feeds_give_one_clear_error():
    mm = load(_mlp())
    with pytest.raises(OnnxImportError, match=r"graph input 'x': expected dtype float32, got float64"):
        mm.run({"x": np.zeros((2, 4))})
    with pytest.raises(OnnxImportError, match=r"graph input 'x': expected shape"):
        mm.run({"x": np.zeros((2, 5), np.float32)})
    with pytest.raises(OnnxImportError, match=r"graph input 'x': expected rank 2"):
        mm.run({"x": np.zeros(4, np.float32)})
    with pytest.raises(OnnxImportError, match="missing from the feeds"):
        mm.run({})
    with pytest.raises(OnnxImportError, match="'z' is not a graph input"):
        mm.run({"x": np.zeros((2, 4), np.float32), "z": np.zeros(1)})
    with pytest.raises(OnnxImportError, match="no value named 'nope'"):
        mm.run({"x": np.zeros((2, 4), np.float32)}, outputs=["nope"])


def test_shape_errors_inside_a_node_name_the_node():
    m = _model([helper.make_node("Add", ["a", "b"], ["y"], name="bad_add")], [("a", F, None), ("b", F, None)],
               [("y", F, None)])
    with pytest.raises(OnnxImportError, match=r"node bad_add \(Add\)"):
        load(m).run({"a": np.zeros((2, 3), np.float32), "b": np.zeros((4,), np.float32)}, "LLVM")


def test_dangling_input_is_reported_at_load():
    graph = helper.make_graph([helper.make_node("Relu", ["ghost"], ["y"], name="r")], "g",
                              [helper.make_tensor_value_info("x", F, (2,))],
                              [helper.make_tensor_value_info("y", F, (2,))])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(OnnxImportError, match=r"node r \(Relu\): input 'ghost'"):
        load(m)


def test_model_type():
    assert isinstance(load(_mlp()), OnnxModel)


def test_if_and_loop_run_subgraphs_that_read_the_outer_scope():
    """Subgraphs read outer values (`k`, computed by a node only the subgraph uses): the node must still run."""
    then_g = helper.make_graph([helper.make_node("Mul", ["x", "k"], ["t"])], "then", [],
                               [helper.make_tensor_value_info("t", F, None)])
    else_g = helper.make_graph([helper.make_node("Sub", ["x", "k"], ["e"])], "else", [],
                               [helper.make_tensor_value_info("e", F, None)])
    body = helper.make_graph(
        [helper.make_node("Add", ["acc_in", "k"], ["acc_out"]), helper.make_node("Identity", ["c_in"], ["c_out"]),
         helper.make_node("Cast", ["i"], ["i_f"], to=F), helper.make_node("Mul", ["acc_out", "i_f"], ["scan"])],
        "body", [helper.make_tensor_value_info("i", I64, []), helper.make_tensor_value_info("c_in", TensorProto.BOOL,
                                                                                           []),
                 helper.make_tensor_value_info("acc_in", F, None)],
        [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []), helper.make_tensor_value_info("acc_out", F,
                                                                                                     None),
         helper.make_tensor_value_info("scan", F, None)])
    nodes = [helper.make_node("Abs", ["x"], ["k"]),
             helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g),
             helper.make_node("Loop", ["trips", "", "x"], ["acc", "scans"], body=body)]
    m = _model(nodes, [("x", F, (3,)), ("cond", TensorProto.BOOL, ())], [("y", F, None), ("acc", F, None),
                                                                         ("scans", F, None)],
               {"trips": np.array(4, np.int64)})
    for c in (True, False):
        got = _check(m, {"x": _rand((3,)), "cond": np.array(c)})
        assert got["scans"].shape == (4, 3)


def test_sub_byte_ints_round_trip_and_other_ops_on_them_are_refused():
    import ml_dtypes

    I4 = TensorProto.INT4
    m = _model([helper.make_node("Cast", ["x"], ["q"], to=I4), helper.make_node("Cast", ["q"], ["y"], to=F)],
               [("x", F, (5,))], [("q", I4, None), ("y", F, None)])
    got = load(m).run({"x": np.array([-9.0, -8.0, 3.7, 7.0, 8.0], np.float32)}, "LLVM")
    assert got["q"].dtype == ml_dtypes.int4
    np.testing.assert_array_equal(got["y"], [0, -8, 3, 7, 0])  # truncated; outside int4's range: 0
    bad = _model([helper.make_node("Neg", ["q"], ["y"], name="neg")], [("q", I4, (2,))], [("y", I4, None)])
    with pytest.raises(OnnxImportError, match=r"node neg \(Neg\): input 'q' has the sub-byte type INT4"):
        load(bad).run({"q": np.array([1, 2], ml_dtypes.int4)}, "LLVM")


SMALL_FLOATS = [(n, getattr(TensorProto, e)) for n, e in (("float8_e4m3fnuz", "FLOAT8E4M3FNUZ"),
                                                           ("float8_e5m2fnuz", "FLOAT8E5M2FNUZ"),
                                                           ("float4_e2m1fn", "FLOAT4E2M1"))
                if hasattr(TensorProto, e)]  # float4 needs onnx >= 1.18


@pytest.mark.parametrize("name,elem", SMALL_FLOATS)
def test_small_float_casts_round_like_ml_dtypes(name, elem):
    """Held in float32, rounded onto the format's grid: the same values as ml_dtypes' own conversion (ties to even,
    subnormals, and beyond the largest finite value NaN without saturation, the largest value with it)."""
    import ml_dtypes

    npt = getattr(ml_dtypes, name)
    r = np.random.default_rng(3)
    x = np.concatenate([r.standard_normal(300) * s for s in (1e-3, 0.1, 1, 30, 1e4)]).astype(np.float32)
    x = np.concatenate([x, np.array([0.25, 0.75, -3.5, 1e9, -1e9, np.nan], np.float32)])
    m = _model([helper.make_node("Cast", ["x"], ["s"], to=elem), helper.make_node("Cast", ["x"], ["n"], to=elem,
                                                                                  saturate=0)],
               [("x", F, x.shape)], [("s", elem, None), ("n", elem, None)])
    got = load(m).run({"x": x}, "LLVM")
    assert got["s"].dtype == npt and got["n"].dtype == npt
    big = float(ml_dtypes.finfo(npt).max)
    inside = np.abs(x) <= big
    want = x.astype(npt).astype(np.float32)
    np.testing.assert_array_equal(got["s"].astype(np.float32)[inside], want[inside])
    assert (np.abs(got["s"].astype(np.float32)[~inside & ~np.isnan(x)]) == big).all()
    if name != "float4_e2m1fn":  # float4 has no NaN: it always saturates
        np.testing.assert_array_equal(got["n"].astype(np.float32), x.astype(npt).astype(np.float32))


def test_sequences_are_lists_and_optionals_may_be_none():
    nodes = [helper.make_node("SequenceConstruct", ["a", "b"], ["s"]),
             helper.make_node("SequenceInsert", ["s", "a"], ["s2"]),
             helper.make_node("SequenceAt", ["s2", "i"], ["at"]),
             helper.make_node("ConcatFromSequence", ["s2"], ["cat"], axis=0),
             helper.make_node("SequenceLength", ["s2"], ["n"])]
    seq_t = helper.make_tensor_sequence_value_info("s2", F, None)
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("a", F, (2, 3)),
                                           helper.make_tensor_value_info("b", F, (1, 3))],
                              [seq_t, helper.make_tensor_value_info("at", F, None),
                               helper.make_tensor_value_info("cat", F, None),
                               helper.make_tensor_value_info("n", I64, None)],
                              [numpy_helper.from_array(np.array(-2, np.int64), "i")])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    feeds = {"a": _rand((2, 3)), "b": _rand((1, 3), 1)}
    got = load(m).run(feeds, "LLVM")
    want = _ort(m, feeds)
    assert isinstance(got["s2"], list) and len(got["s2"]) == 3
    for g, w in zip(got["s2"], want["s2"]):
        np.testing.assert_array_equal(g, w)
    for k in ("at", "cat", "n"):
        np.testing.assert_allclose(got[k], want[k], rtol=1e-6)


@pytest.mark.parametrize("op", ["HardSwish", "Mish", "Celu"])
def test_an_op_without_a_handler_runs_its_onnx_function_body(op, monkeypatch):
    """onnx defines these by a function body; with the handler gone the importer expands the body instead."""
    monkeypatch.delitem(onnx_ops.OPS, op)
    m = _unary_model(op)
    _check(m, {"x": _rand((2, 3, 4)) * 3}, tol=2e-5)
    monkeypatch.delitem(onnx_ops.OPS, "Det")
    with pytest.raises(OnnxImportError, match="unsupported op 'Det'"):  # no handler and no function body
        load(_unary_model("Det", shape=(2, 2)))


def test_det_pivots_and_gives_zero_for_singular_matrices():
    x = _rand((3, 4, 4))
    x[1, 0] = 0.0  # a zero first pivot: the row exchange must happen
    x[2, 3] = x[2, 1] * 2  # singular
    got = _check(_unary_model("Det", shape=(3, 4, 4)), {"x": x}, tol=1e-4)["y"]
    assert abs(got[2]) < 1e-4


@pytest.mark.skipif(not hasattr(TensorProto, "FLOAT8E8M0"), reason="the installed onnx has no FLOAT8E8M0 (>= 1.18)")
@pytest.mark.parametrize("mode", ["up", "down", "nearest"])
@pytest.mark.parametrize("saturate", [0, 1])
def test_e8m0_casts_match_onnx_bit_rule(mode, saturate):
    from onnx.numpy_helper import to_float8e8m0

    E8 = TensorProto.FLOAT8E8M0
    r = np.random.default_rng(5)
    x = np.concatenate([np.exp2(r.uniform(-130, 127.9, 400)) * r.choice([1, -1], 400),
                        [0.0, 1.0, 1.5, 3.0, 2.0 ** 127 * 1.9, np.inf, np.nan]]).astype(np.float32)
    m = _model([helper.make_node("Cast", ["x"], ["y"], to=E8, saturate=saturate, round_mode=mode)],
               [("x", F, x.shape)], [("y", E8, None)])
    got = load(m).run({"x": x}, "LLVM")["y"]
    want = to_float8e8m0(x, saturate=bool(saturate), round_mode=mode)
    np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))


@pytest.mark.parametrize("mode", ["TF", "IDF", "TFIDF"])
def test_tfidf_vectorizer_modes(mode):
    node = helper.make_node("TfIdfVectorizer", ["x"], ["y"], mode=mode, min_gram_length=1, max_gram_length=2,
                            max_skip_count=1, ngram_counts=[0, 3], ngram_indexes=[0, 1, 2, 3, 4],
                            pool_int64s=[2, 3, 5, 2, 3, 5, 4], weights=[0.5, 1.0, 2.0, 3.0, 0.25])
    m = _model([node], [("x", TensorProto.INT32, (2, 6))], [("y", F, None)])
    _check(m, {"x": np.array([[2, 3, 5, 4, 2, 3], [5, 5, 4, 1, 2, 0]], np.int32)})


def test_constant_weights_are_packed_in_column_blocks_and_batch_norm_folds(monkeypatch):
    # conv (64 output channels) -> batch norm -> matmul with a constant (64, 96) weight -> gemm with transB:
    # weights held in blocks of 32 output channels (the kernels vectorize one block a tile), the constant batch
    # norm a scale and shift (no square root left in a kernel); results as onnxruntime's
    from engine import Tensor
    from engine.realize import capture_kernels
    from engine.uop import Ops

    w = _rand((64, 8, 3, 3), 1)
    c = {"w": w, "s": np.abs(_rand((64,), 2)) + 0.5, "b": _rand((64,), 3), "m": _rand((64,), 4),
         "v": np.abs(_rand((64,), 5)) + 0.5, "mw": _rand((36, 96), 6), "gw": _rand((48, 96), 7)}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["bn"]),
             helper.make_node("Reshape", ["bn", "shape"], ["r"]),
             helper.make_node("MatMul", ["r", "mw"], ["mm"]),
             helper.make_node("Gemm", ["mm", "gw"], ["y"], transB=1)]
    m = _model(nodes, [("x", F, (1, 8, 6, 6))], [("y", F, None)], dict(c, shape=np.array([64, 36], np.int64)))
    with capture_kernels() as log:
        _check(m, {"x": _rand((1, 8, 6, 6))}, device="CPU", tol=1e-3)
    assert any(o[0] == "VECTOR" for k in log for o in k["opts"])
    x = Tensor(_rand((1, 64, 2, 2)))
    folded = onnx_ops.OPS["BatchNormalization"]([x, *(onnx_ops.const(c[k], "CPU") for k in "sbmv")], {}, None)
    assert Ops.SQRT not in {u.op for u in folded.uop.toposort}
    unfolded = onnx_ops.OPS["BatchNormalization"]([x, *(Tensor(c[k]) for k in "sbmv")], {}, None)
    np.testing.assert_allclose(folded.numpy(), unfolded.numpy(), rtol=1e-5, atol=1e-5)
    packed = onnx_ops._pack_columns(w, 0, "CPU")
    [buf] = [u for u in packed.uop.toposort if u.op is Ops.BUFFER]
    assert buf.arg.size == w.size and all(u.op is not Ops.CONTIGUOUS for u in packed.uop.toposort)
    np.testing.assert_array_equal(packed.numpy(), w)
    held = buf.arg.numpy()
    np.testing.assert_array_equal(held.reshape(2, 8, 3, 3, 32)[1, 5, 2, 0], w[32:64, 5, 2, 0])  # one block row
    for shape, axis in [((10, 3, 3, 3), 0), ((48, 5, 1, 1), 0), ((5, 7), 1), ((768, 64), 1)]:  # no block, 16, ...
        a = _rand(shape, 8)
        np.testing.assert_array_equal(onnx_ops._pack_columns(a, axis, "CPU").numpy(), a)
