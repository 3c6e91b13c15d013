"""The ONNX fuzzer: random models from the op table (fuzz.onnx.ops), run by the engine's importer and by
onnxruntime (oracles.ort_ref), and compared under its tolerance policy.

One check: onnxruntime runs the model with its graph optimizations off (the reference: every node as written)
and on; where onnxruntime has no kernel for an op or dtype, onnx's numpy ReferenceEvaluator is the reference.
The engine (engine.onnx) runs it on the base device: the one `DEVICE=` in the environment names (the engine's
own convention: `DEVICE=CUDA fuzz run onnx` on a GPU), else LLVM at optimization level 0 where llvmlite is
installed, else CPU. A difference is narrowed to the first node whose output differs: both sides are asked for every
intermediate value, and nodes are walked in graph order.

Signatures (what the minimizer keeps while it shrinks a case):
  mismatch:<Op>          the engine's value of the first differing node, an <Op>, is wrong
  crash:<Op>:<Error>     the engine raised at a node of type <Op> (an unsupported op is crash:<Op>:OnnxImportError)
  crash:engine:<Error>   the engine raised outside any node
  ort-opt:<Op>           onnxruntime with graph optimizations gives another result than without (an output of <Op>)
  invalid:case / invalid:reference   the case is malformed / no reference can run it (not findings)
"""

from __future__ import annotations

import os
import random
import re
from typing import Any, Iterable

import numpy as np

from fuzz.base import Fuzzer
from fuzz.case import Verdict
from fuzz.onnx import table
from fuzz.onnx.case import BadCase, feeds, infer_types, make_values, newest_opset, onnx_attrs, to_model, value_info
from fuzz.onnx.generate import gen_case
from fuzz.onnx.ops import fits
from fuzz.onnx.reduce import node_count, reductions, size
from fuzz.onnx.table import OPS
from oracles.ort_ref import ReferenceError, compare, magnitude, run_ort, run_reference

_NODE_OP = re.compile(r"node \S+ \((\w+)\)")


def base_device() -> str:
    """`DEVICE=` from the environment where set (a device that is not there fails every case, saying why), else
    LLVM where llvmlite is installed, else CPU."""
    from fuzz.graphs.fuzzer import device_available

    named = os.environ.get("DEVICE", "").strip().upper()
    return named or ("LLVM" if device_available("LLVM") else "CPU")


def reference_outputs(model: Any, inputs: dict[str, np.ndarray], outputs: list[str] | None = None
                      ) -> tuple[str, dict[str, np.ndarray]]:
    """(which reference, its outputs): onnxruntime without optimizations, else onnx's ReferenceEvaluator."""
    try:
        return "ort", run_ort(model, inputs, optimize=False, outputs=outputs)
    except ReferenceError as ort_error:
        opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
        if opset < 13:  # onnx.reference reads some old ops with their opset-13 defaults (Hardmax-11's axis as -1)
            raise ReferenceError(f"{ort_error}; onnx.reference is not used below opset 13") from None
        try:
            return "onnx.reference", run_reference(model, inputs, outputs)
        except ReferenceError as e:
            raise ReferenceError(f"{ort_error}; {e}") from None


def run_engine(model: Any, inputs: dict[str, np.ndarray], device: str, outputs: list[str] | None = None
               ) -> dict[str, np.ndarray]:
    """The model's outputs (or the named values) computed by the engine on `device`, LLVM at level 0."""
    import engine.onnx
    from fuzz.graphs.fuzzer import _llvm_opt

    with _llvm_opt(0), np.errstate(all="ignore"):
        return engine.onnx.load(model).run(inputs, device=device, outputs=outputs)


def precisions(case: dict[str, Any]) -> dict[str, str | None]:
    """Per value, the least precise float dtype it is computed through (None: no float on the way)."""
    rank = {"float16": 0, "float32": 1, "float64": 2}
    out: dict[str, str | None] = {t["name"]: t["dtype"] if t["dtype"] in rank else None
                                  for t in case["inputs"] + case["initializers"]}
    types = infer_types(case)
    for node in case["nodes"]:
        for o in node["outputs"]:
            seen = [p for p in (out.get(i) for i in node["inputs"] if i) if p] + \
                ([types[o][1]] if types[o][1] in rank else [])
            out[o] = min(seen, key=rank.__getitem__) if seen else None
    return out


# How an op carries its inputs' rounding errors (see term_scales): sums and the ops built on them (their result may
# cancel to far below the terms), maps whose slope is at most about one (an absolute error passes through), products
SUMS = {"Add", "Sub", "Sum", "Mean", "ReduceSum", "ReduceMean", "ReduceLogSumExp", "ReduceL1", "AveragePool",
        "GlobalAveragePool", "CumSum", "LayerNormalization", "InstanceNormalization", "BatchNormalization",
        "LogSoftmax", "Softmax"}
PASS_THROUGH = {"Abs", "Neg", "Relu", "LeakyRelu", "PRelu", "Clip", "Max", "Min", "Identity", "Reshape", "Flatten",
                "Squeeze", "Unsqueeze", "Transpose", "Expand", "Tile", "Concat", "Split", "Slice", "Pad", "Gather",
                "GatherElements", "GatherND", "ScatterElements", "Where", "MaxPool", "GlobalMaxPool", "ReduceMax",
                "ReduceMin", "Resize", "DepthToSpace", "SpaceToDepth", "Trilu", "TopK", "Cast", "CastLike", "Sigmoid",
                "Tanh", "Sin", "Cos", "Atan", "Erf", "Softsign", "Softplus", "HardSigmoid", "HardSwish", "Elu",
                "Selu", "Celu", "Gelu", "Mish"}
SUMS |= table.SUMS
PASS_THROUGH |= table.PASS_THROUGH
DOTS = {"MatMul", "Gemm", "Conv", "ConvTranspose", "Einsum"}


def term_scales(case: dict[str, Any], values: dict[str, np.ndarray]) -> dict[str, float]:
    """Per computed float value, the magnitude of the rounded terms it carries the error of: its own largest |value|
    (what the tolerance scales by), raised where a sum cancelled: a LayerNormalization's rows summed to ~0 are exact
    only to the rounding of the ~1-sized normalized values, not of the ~1e-7 result. Graph inputs and initializers
    are exact (no error to carry: a float16 sum of inputs is still held to its result's own rounding). Sums and maps
    of slope about one carry the largest scale of their inputs; a product carries each operand's scale times the
    other's magnitude; any other op starts again from its own magnitude. `values`: the reference's value of every
    graph input, initializer and node output."""
    scale: dict[str, float] = {}
    for node in case["nodes"]:
        ins = [i for i in node["inputs"] if i and np.asarray(values.get(i, 0)).dtype.kind == "f"]
        op = node["op"]
        if op in SUMS or op in PASS_THROUGH:
            terms = max((scale.get(i, 0.0) for i in ins), default=0.0)
        elif (op == "Mul" or op in DOTS) and len(ins) >= 2:
            a, b = ins[:2]
            terms = max([scale.get(a, 0.0) * magnitude(values[b]), scale.get(b, 0.0) * magnitude(values[a]),
                         *(scale.get(i, 0.0) for i in ins[2:])])
        else:
            terms = 0.0
        for o in node["outputs"]:
            if o in values:
                scale[o] = max(magnitude(values[o]), terms)
    return scale


def first_difference(values: list[str], got: dict[str, np.ndarray], want: dict[str, np.ndarray],
                     precision: dict[str, str | None] | None = None, scales: dict[str, float] | None = None
                     ) -> tuple[str, Any] | None:
    """The first value (in graph order) the engine computes differently, and how; None if all agree. `scales`: per
    value, the magnitude of its terms (term_scales), where known."""
    for name in values:
        if name in want and name in got:
            d = compare(got[name], want[name], (precision or {}).get(name), (scales or {}).get(name, 0.0))
            if d is not None:
                return name, d
    return None


class OnnxFuzzer(Fuzzer):
    """Random ONNX models: the engine's importer against onnxruntime (optimizations off and on)."""

    name = "onnx"
    timeout_s = 30.0

    def __init__(self, device: str | None = None, max_nodes: int = 6, ops: list[str] | None = None,
                 check_ort_opt: bool = True):
        self.device = device or base_device()
        self.max_nodes = max_nodes
        self.ops = ops  # only these ops (None: the whole table)
        self.check_ort_opt = check_ort_opt
        self._coverage: dict[str, int] = {}

    def generate(self, rng: random.Random) -> dict[str, Any]:
        return gen_case(rng, self.max_nodes, self.ops)

    def validate(self, case: Any) -> None:
        super().validate(case)
        infer_types(case)

    def reductions(self, case: dict[str, Any]) -> Iterable[dict[str, Any]]:
        return reductions(case)

    def size(self, case: dict[str, Any]) -> int:
        return size(case)

    def coverage(self) -> dict[str, int]:
        out, self._coverage = self._coverage, {}
        return out

    def coverage_keys(self) -> list[str]:
        top = newest_opset()  # the ops and opsets cases are drawn at with the installed onnx and onnxruntime
        return [f"op:{n}" for n, s in OPS.items() if s.drawn_at(top)] + [f"opset:{k}" for k in range(13, top + 1)]

    def reproducer(self, case: dict[str, Any], signature: str = "", details: dict[str, Any] | None = None) -> str:
        from fuzz.onnx.finding import reproducer_source

        return reproducer_source(case, signature, details or {}, self.device)

    def artifacts(self, case: dict[str, Any], verdict: Verdict) -> dict[str, bytes]:
        from fuzz.onnx.finding import finding_files

        return finding_files(case, verdict, self.device)

    # ------------------------------------------------------------------ checking
    def check(self, case: dict[str, Any]) -> Verdict:
        try:
            types = infer_types(case)
            model = to_model(case)
        except BadCase as e:
            return Verdict("invalid", "invalid:case", {"error": str(e)})
        for node in case["nodes"]:
            self._coverage[f"op:{node['op']}"] = self._coverage.get(f"op:{node['op']}", 0) + 1
        self._coverage[f"opset:{case['opset']}"] = self._coverage.get(f"opset:{case['opset']}", 0) + 1
        inputs = feeds(case)
        try:
            ref_name, want = reference_outputs(model, inputs)
        except ReferenceError as e:
            return Verdict("invalid", "invalid:reference", {"error": str(e)})
        if ref_name == "onnx.reference":  # the numpy evaluator has shape bugs of its own: held to the op table
            off = _off_table(case["outputs"], want, types)
            if off:
                return Verdict("invalid", "invalid:reference", {"error": off})
        details: dict[str, Any] = {"reference": ref_name, "device": self.device, "opset": case["opset"],
                                   "ops": [n["op"] for n in case["nodes"]]}
        try:
            got = run_engine(model, inputs, self.device)
        except Exception as e:
            m = _NODE_OP.search(str(e))
            where = m.group(1) if m else "engine"
            return Verdict("crash", f"crash:{where}:{type(e).__name__}",
                           {**details, "error": f"{type(e).__name__}: {str(e)[:2000]}"})
        bad = first_difference(case["outputs"], got, want, precisions(case))
        wide: dict[str, Any] = {}  # the reference with every value an output, run once where needed (_term_scales)
        if ref_name == "ort" and self.check_ort_opt:
            opt_verdict = self._check_ort_opt(case, model, inputs, want, got, details, wide)
            if opt_verdict is not None:
                return opt_verdict
        if bad is None:
            return Verdict("pass")
        if ref_name == "ort" and _reference_agrees(model, inputs, case["outputs"], got, precisions(case)):
            # onnxruntime drops float16 roundings where it wraps a kernel it lacks in casts: not the engine's fault
            return Verdict("invalid", "invalid:reference", {**details, "error": f"onnxruntime differs at {bad[0]} "
                                                            "from onnx.reference, which agrees with the engine"})
        return self._localize(case, model, inputs, bad, details, got, want, wide)

    def _check_ort_opt(self, case: dict[str, Any], model: Any, inputs: dict[str, np.ndarray],
                       want: dict[str, np.ndarray], got: dict[str, np.ndarray], details: dict[str, Any],
                       wide: dict[str, Any]) -> Verdict | None:
        try:
            opt = run_ort(model, inputs, optimize=True)
        except ReferenceError as e:
            return Verdict("crash", "ort-opt:crash", {**details, "error": str(e)})
        diff = first_difference(case["outputs"], opt, want, precisions(case))
        if diff is not None:  # held to the terms' rounding too, like the engine (a sum that cancels)
            try:
                diff = first_difference(case["outputs"], opt, want, precisions(case),
                                        _term_scales(case, inputs, wide)[0])
            except ReferenceError:
                pass
        if diff is None:
            return None
        name, d = diff
        op = _producer(case, name)["op"]
        engine_agrees = compare(got[name], want[name], precisions(case).get(name)) is None
        return Verdict("mismatch", f"ort-opt:{op}", {**details, "output": name, "kind": d.kind, **d.detail,
                                                     "engine_matches": "ort" if engine_agrees else "neither"})

    def _localize(self, case: dict[str, Any], model: Any, inputs: dict[str, np.ndarray], bad: tuple[str, Any],
                  details: dict[str, Any], got: dict[str, np.ndarray], want: dict[str, np.ndarray],
                  wide: dict[str, Any]) -> Verdict:
        """The first node whose value differs (every value made an output), held to the rounding of the terms each
        was formed from (term_scales): a result that cancelled passes there."""
        name, d = bad
        values = [o for n in case["nodes"] for o in n["outputs"]]
        try:
            scales, want_all, wide_ref = _term_scales(case, inputs, wide)
            if first_difference(case["outputs"], got, want, precisions(case), scales) is None:
                return Verdict("pass")  # every output is within the rounding of the terms it was formed from
            got_all = run_engine(to_model(case, outputs=values), inputs, self.device)
            first = first_difference(values, got_all, want_all, precisions(case), scales)
            if first is None and details["reference"] == "onnx.reference" and wide_ref == "ort":
                # onnxruntime could not load the model as it was but runs it with every value an output, and agrees
                # with the engine everywhere (a MaxPool ceil_mode shape it infers otherwise): onnx.reference is wrong
                return Verdict("invalid", "invalid:reference",
                               {**details, "error": f"onnx.reference differs from the engine at {name}; onnxruntime, "
                                                    "given every value as an output, agrees with the engine"})
            if first is not None:
                name, d = first
                off = _off_table([name], want_all, infer_types(case))
                if details["reference"] == "onnx.reference" and off:
                    return Verdict("invalid", "invalid:reference", {**details, "error": off})
                if details["reference"] == "onnx.reference" and _ort_agrees_on_node(
                        case, _producer(case, name), inputs, want_all, got_all):
                    return Verdict("invalid", "invalid:reference",
                                   {**details, "error": f"onnx.reference differs from onnxruntime and the engine "
                                                        f"at {_producer(case, name)['op']} ({name})"})
        except Exception as e:  # narrowing failed: blame the output's own node
            details["localize_error"] = f"{type(e).__name__}: {str(e)[:500]}"
        node = _producer(case, name)
        return Verdict("mismatch", f"mismatch:{node['op']}",
                       {**details, "value": name, "node": case["nodes"].index(node), "kind": d.kind, **d.detail,
                        "nodes": node_count(case)})


def _term_scales(case: dict[str, Any], inputs: dict[str, np.ndarray], memo: dict[str, Any]
                 ) -> tuple[dict[str, float], dict[str, np.ndarray], str]:
    """term_scales of every value of the case, from the reference asked for every node's outputs; those values, and
    which reference gave them (kept in `memo`: one check asks at most once)."""
    if "scales" not in memo:
        values = [o for n in case["nodes"] for o in n["outputs"]]
        ref_name, want_all = reference_outputs(to_model(case, outputs=values), inputs)
        known = {**inputs, **{t["name"]: make_values(t) for t in case["initializers"]}, **want_all}
        memo["scales"] = term_scales(case, known), want_all, ref_name
    return memo["scales"]


def _off_table(names: list[str], want: dict[str, np.ndarray], types: dict[str, Any]) -> str:
    """Why the reference's type of one of the named values is not the op table's ("" if every one is)."""
    for o in names:
        if str(want[o].dtype) != types[o][1] or not fits(want[o].shape, types[o][0]):
            return f"onnx.reference gives {o} the type {list(want[o].shape)} {want[o].dtype}, the op table " \
                   f"{list(types[o][0])} {types[o][1]}"
    return ""


def _reference_agrees(model: Any, inputs: dict[str, np.ndarray], outputs: list[str], got: dict[str, np.ndarray],
                      precision: dict[str, str | None]) -> bool:
    """Whether onnx's numpy ReferenceEvaluator agrees with the engine on every output."""
    try:
        ref = run_reference(model, inputs)
    except ReferenceError:
        return False
    return all(compare(got[o], ref[o], precision.get(o)) is None for o in outputs)


def _ort_agrees_on_node(case: dict[str, Any], node: dict[str, Any], inputs: dict[str, np.ndarray],
                        want_all: dict[str, np.ndarray], got_all: dict[str, np.ndarray]) -> bool:
    """Whether onnxruntime, given the node alone (on the reference's values of its inputs), agrees with the
    engine: then the numpy ReferenceEvaluator, not the engine, is wrong (it is where onnxruntime could not run
    the whole model)."""
    from onnx import helper, numpy_helper

    types = infer_types(case)
    consts = {t["name"]: t for t in case["initializers"]}
    graph_inputs, inits, node_feeds = [], [], {}
    for i in dict.fromkeys(x for x in node["inputs"] if x):
        value = inputs[i] if i in inputs else make_values(consts[i]) if i in consts else want_all[i]
        if i in consts and "data" in consts[i]:
            inits.append(numpy_helper.from_array(value, i))
            continue
        graph_inputs.append(value_info(i, types[i]))
        node_feeds[i] = np.asarray(value).astype(types[i][1])
    outs = [value_info(o, types[o]) for o in node["outputs"]]
    attrs = onnx_attrs(node)
    opsets = [helper.make_opsetid("", case["opset"])]
    model = helper.make_model(helper.make_graph([helper.make_node(node["op"], node["inputs"], node["outputs"],
                                                                  **attrs)], "node", graph_inputs, outs, inits),
                              opset_imports=opsets)
    model.ir_version = helper.find_min_ir_version_for(opsets)
    try:
        ort_out = run_ort(model, node_feeds)
    except ReferenceError:
        return False
    prec = precisions(case)
    return all(compare(got_all[o], ort_out[o], prec.get(o)) is None for o in node["outputs"] if o in got_all)


def _producer(case: dict[str, Any], value: str) -> dict[str, Any]:
    return next(n for n in case["nodes"] if value in n["outputs"])
