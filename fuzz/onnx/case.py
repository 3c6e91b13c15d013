"""ONNX cases: plain JSON, validated against the op table, turned into a ModelProto (onnx.helper) and input arrays.

A case:
  {"opset": 18,
   "inputs":       [{"name": "in1", "shape": [2, 3], "dtype": "float32", "seed": 17, "domain": "normal"}, ...],
   "initializers": [{"name": "w2", "shape": [3, 4], "dtype": "float32", "seed": 5, "domain": "normal"},
                    {"name": "c3", "shape": [2], "dtype": "int64", "data": [0, -1]}, ...],
   "nodes":        [{"op": "Gemm", "inputs": ["in1", "w2"], "outputs": ["v0"], "attrs": {"transB": 1}}, ...],
   "outputs":      ["v0"]}
A node reads only values defined before it ("" is an omitted optional input). Attributes whose name starts
with "_" are the fuzzer's own notes (Split's output count before opset 18) and never reach the model; a dtype
attribute (Cast's `to`, QuantizeLinear's `output_dtype`) holds the dtype's name, a tensor attribute (ConstantOfShape's
`value`) {"dtype": ..., "data": [...]}. A dimension of -1 in a value's type depends on the values (NonZero's count).
Domains of random values: normal, unit (-1..1), positive (0.25..4; integers 1..8), int_small (-8..8), bool,
index:N (-N..N-1), grid (the integers -2..2: ties for ArgMax, TopK and comparisons), halves (-3..3 in steps of
0.5: Round's ties).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from fuzz.onnx.ops import NEWEST_OPSET, TT, Ctx
from fuzz.onnx.table import OPS

MAX_NUMEL = 1 << 14  # per value: keeps a check fast
MAX_NODES = 48
MIN_OPSET = 11  # opsets 11 and 12 draw the ops of fuzz.onnx.ops.OLD_OPSETS
ORT_NEWEST_OPSET: int | None = None  # the newest opset onnxruntime runs; None: from its version (ort_newest_opset)
DTYPES = ("float32", "float16", "float64", "int32", "int64", "bool", "uint8", "int8", "uint16", "int16")
DOMAINS = ("normal", "unit", "positive", "int_small", "bool", "grid", "halves", "wide", "special")
DTYPE_ATTRS = {"Cast": ("to",), "QuantizeLinear": ("output_dtype",)}  # attributes that name a dtype
TENSOR_ATTRS = {"ConstantOfShape": ("value",)}  # attributes that hold a tensor


class BadCase(ValueError):
    """A case that does not describe a valid model (the message names the node, input or initializer)."""


def newest_opset() -> int:
    """The newest opset cases are drawn for: what the op table, the installed onnx and onnxruntime all know."""
    import onnx

    return min(NEWEST_OPSET, ORT_NEWEST_OPSET or ort_newest_opset(), onnx.defs.onnx_opset_version())


@functools.cache
def ort_newest_opset() -> int:
    """The newest opset the installed onnxruntime runs (kernels for its ops): 21 up to 1.20 (1.19 is the lowest
    release allowed), 22 from 1.21, 23 (Attention, RotaryEmbedding, RMSNormalization) from 1.23."""
    import onnxruntime

    version = tuple(int(p) for p in onnxruntime.__version__.split(".")[:2] if p.isdigit())
    return 23 if version >= (1, 23) else 22 if version >= (1, 21) else 21


def _shape(v: Any, what: str) -> tuple[int, ...]:
    if not isinstance(v, list) or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in v):
        raise BadCase(f"{what}: shape must be a list of non-negative integers, got {v!r}")
    if len(v) > 6 or math.prod(v) > MAX_NUMEL:
        raise BadCase(f"{what}: shape {v} is over 6 dims or over {MAX_NUMEL} elements")
    return tuple(v)


def _check_tensor(t: Any, what: str, constant_ok: bool) -> TT:
    if not isinstance(t, dict) or not isinstance(t.get("name"), str) or not t["name"]:
        raise BadCase(f"{what} must be an object with a non-empty string 'name'")
    what = f"{what} {t['name']!r}"
    random_keys, const_keys = {"name", "shape", "dtype", "seed", "domain"}, {"name", "shape", "dtype", "data"}
    if set(t) != random_keys and not (constant_ok and set(t) == const_keys):
        raise BadCase(f"{what} must have exactly the keys {sorted(random_keys)}"
                      + (f" or {sorted(const_keys)}" if constant_ok else ""))
    shape = _shape(t["shape"], what)
    if t["dtype"] not in DTYPES:
        raise BadCase(f"{what}: dtype {t['dtype']!r} is not one of {', '.join(DTYPES)}")
    if "data" in t:
        if not isinstance(t["data"], list) or len(t["data"]) != math.prod(shape) or \
                not all(isinstance(x, (int, float)) for x in t["data"]):
            raise BadCase(f"{what}: data must be {math.prod(shape)} numbers")
    else:
        if not isinstance(t["seed"], int) or not 0 <= t["seed"] < 2**63:
            raise BadCase(f"{what}: seed must be an integer in [0, 2^63)")
        dom = t["domain"]
        if not isinstance(dom, str) or not (dom in DOMAINS or (dom.startswith("index:") and dom[6:].isdigit())):
            raise BadCase(f"{what}: unknown domain {dom!r}")
    return shape, t["dtype"]


def constants(case: dict[str, Any]) -> dict[str, list[Any]]:
    """The data of the constant initializers, by name (what shape rules read: axes, pads, shapes)."""
    return {t["name"]: list(t["data"]) for t in case["initializers"] if "data" in t}


def infer_types(case: Any) -> dict[str, TT]:
    """(shape, dtype) of every value by name; BadCase naming the input, initializer or node that does not fit."""
    if not isinstance(case, dict) or set(case) != {"opset", "inputs", "initializers", "nodes", "outputs"}:
        raise BadCase("an onnx case is an object with exactly opset, inputs, initializers, nodes and outputs")
    opset = case["opset"]
    if not isinstance(opset, int) or not MIN_OPSET <= opset <= newest_opset():
        raise BadCase(f"opset {opset!r} is not in {MIN_OPSET}..{newest_opset()}")
    for key in ("inputs", "initializers", "nodes", "outputs"):
        if not isinstance(case[key], list):
            raise BadCase(f"{key!r} must be a list")
    if len(case["nodes"]) > MAX_NODES:
        raise BadCase(f"{len(case['nodes'])} nodes: at most {MAX_NODES}")
    types: dict[str, TT] = {}

    def define(name: str, t: TT, what: str) -> None:
        if name in types:
            raise BadCase(f"{what}: value {name!r} is defined twice")
        types[name] = t

    for t in case["inputs"]:
        define(t["name"] if isinstance(t, dict) else "", _check_tensor(t, "input", False), "input")
    for t in case["initializers"]:
        define(t["name"] if isinstance(t, dict) else "", _check_tensor(t, "initializer", True), "initializer")
    ctx = Ctx(types, constants(case), opset)
    for k, node in enumerate(case["nodes"]):
        if not isinstance(node, dict) or set(node) != {"op", "inputs", "outputs", "attrs"}:
            raise BadCase(f"node {k} must be an object with exactly op, inputs, outputs and attrs")
        op = node["op"]
        where = f"node {k} ({op})"
        if op not in OPS:
            raise BadCase(f"node {k}: unknown op {op!r}")
        if not OPS[op].drawn_at(opset):
            raise BadCase(f"{where}: the fuzzer does not draw {op} at opset {opset} (from {OPS[op].since}"
                          f"{f', and from {OPS[op].old} to 12' if OPS[op].old else ''})")
        ins, outs, attrs = node["inputs"], node["outputs"], node["attrs"]
        if not isinstance(ins, list) or not all(isinstance(i, str) for i in ins) or not ins or not ins[0]:
            raise BadCase(f"{where}: inputs must be a non-empty list of names, the first one given")
        if not isinstance(outs, list) or not outs or not all(isinstance(o, str) and o for o in outs):
            raise BadCase(f"{where}: outputs must be a non-empty list of names")
        if not isinstance(attrs, dict):
            raise BadCase(f"{where}: attrs must be an object")
        for i in ins:
            if i and i not in types:
                raise BadCase(f"{where} reads {i!r}, which is not defined before it")
        try:
            got = OPS[op].infer(ctx, ins, attrs)
        except (ValueError, KeyError, TypeError, IndexError) as e:
            raise BadCase(f"{where}: {type(e).__name__}: {e}") from None
        if len(got) != len(outs):
            raise BadCase(f"{where} makes {len(got)} values, the node names {len(outs)} outputs")
        for name, (shape, dt) in zip(outs, got):
            if math.prod(shape) > MAX_NUMEL:
                raise BadCase(f"{where}: output {name!r} of shape {list(shape)} is over {MAX_NUMEL} elements")
            define(name, (tuple(shape), dt), where)
    outputs = case["outputs"]
    if not outputs or not all(isinstance(o, str) and o in types for o in outputs) or len(set(outputs)) != len(outputs):
        raise BadCase(f"outputs {outputs!r} must name distinct defined values")
    inputs_named = {t["name"] for t in case["inputs"]} | {t["name"] for t in case["initializers"]}
    if any(o in inputs_named for o in outputs):
        raise BadCase("an output names an input or initializer: outputs are values nodes compute")
    return types


def onnx_attrs(node: dict[str, Any]) -> dict[str, Any]:
    """A node's attributes as onnx.helper.make_node takes them: the fuzzer's notes dropped, dtype names as
    TensorProto numbers, tensor attributes as TensorProtos."""
    from onnx import helper, numpy_helper

    attrs = {a: v for a, v in node["attrs"].items() if not a.startswith("_")}
    for a in DTYPE_ATTRS.get(node["op"], ()):
        if a in attrs:
            attrs[a] = helper.np_dtype_to_tensor_dtype(np.dtype(attrs[a]))
    for a in TENSOR_ATTRS.get(node["op"], ()):
        if a in attrs:
            attrs[a] = numpy_helper.from_array(np.asarray(attrs[a]["data"]).astype(attrs[a]["dtype"]))
    return attrs


def value_info(name: str, t: TT) -> Any:
    """An onnx ValueInfoProto of a value's type (a -1 dimension unknown)."""
    from onnx import helper

    shape, dt = t
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(dt)),
                                         [None if n < 0 else n for n in shape])


def make_values(t: dict[str, Any]) -> np.ndarray:
    """The array of an input or initializer, from its data or its shape, dtype, seed and domain."""
    shape, dt = tuple(t["shape"]), np.dtype(t["dtype"])
    if "data" in t:
        return np.asarray(t["data"]).astype(dt).reshape(shape)
    rng = np.random.default_rng(t["seed"])
    dom = t["domain"]
    if dom == "bool" or dt == np.bool_:
        v: np.ndarray = rng.random(shape) < 0.5
    elif dom.startswith("index:"):
        n = int(dom[6:])
        v = rng.integers(-n, n, shape) if n else np.zeros(shape, np.int64)
    elif dom == "grid":
        v = rng.integers(-2, 3, shape)
    elif dom == "halves":
        v = rng.integers(-6, 7, shape) / 2
    elif dt.kind in "iu":
        v = rng.integers(1, 9, shape) if dom == "positive" else rng.integers(-8, 9, shape)
    elif dom == "positive":
        v = rng.uniform(0.25, 4.0, shape)
    elif dom == "unit":
        v = rng.uniform(-1.0, 1.0, shape)
    elif dom == "special":  # a quarter of the entries infinities, NaN or signed zeros (read by IsInf only)
        v = rng.standard_normal(shape)
        v = np.where(rng.random(shape) < 0.25, rng.choice(np.array([np.inf, -np.inf, np.nan, 0.0, -0.0]), shape), v)
    elif dom == "wide":  # magnitudes up to ~300: exp and sums of squares overflow, logsumexp needs its shift
        v = rng.standard_normal(shape) * 10.0 ** rng.uniform(0.0, 2.5, shape)
    else:
        v = rng.standard_normal(shape)
    return np.asarray(v).astype(dt)


def onnx_types(case: dict[str, Any]) -> dict[str, TT]:
    """Every node output's type as onnx's strict shape inference gives it (a dimension it leaves open: -1): what
    the op table's rules (infer_types) must agree with."""
    import onnx

    values = [o for n in case["nodes"] for o in n["outputs"]]
    inferred = onnx.shape_inference.infer_shapes(to_model(case, outputs=values), strict_mode=True)
    out: dict[str, TT] = {}
    for vi in inferred.graph.output:
        shape = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in vi.type.tensor_type.shape.dim)
        out[vi.name] = (shape, str(onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)))
    return out


def feeds(case: dict[str, Any]) -> dict[str, np.ndarray]:
    """The graph inputs' arrays by name."""
    return {t["name"]: make_values(t) for t in case["inputs"]}


def to_model(case: dict[str, Any], outputs: list[str] | None = None) -> Any:
    """The case as an onnx ModelProto; `outputs` (default: the case's) may name any value (intermediates too)."""
    import onnx
    from onnx import helper, numpy_helper

    types = infer_types(case)
    nodes = [helper.make_node(n["op"], n["inputs"], n["outputs"], name=f"n{k}_{n['op']}", **onnx_attrs(n))
             for k, n in enumerate(case["nodes"])]
    inits = [numpy_helper.from_array(make_values(t), t["name"]) for t in case["initializers"]]
    graph = helper.make_graph(nodes, "uopfuzz", [value_info(t["name"], types[t["name"]]) for t in case["inputs"]],
                              [value_info(o, types[o]) for o in (case["outputs"] if outputs is None else outputs)],
                              inits)
    opsets = [helper.make_opsetid("", case["opset"])]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="uopfuzz")
    model.ir_version = helper.find_min_ir_version_for(opsets)
    onnx.checker.check_model(model)
    return model
