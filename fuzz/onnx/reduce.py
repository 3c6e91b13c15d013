"""Smaller versions of an ONNX case, most promising first, for the generic minimizer (fuzz/minimize.py).

Every candidate is compacted (nodes, inputs and initializers the outputs do not need are dropped) and checked
against the op table (invalid ones are never offered): drop an output; make an output one of its node's inputs;
bypass a node (its readers read one of its inputs); replace a node by a fresh graph input of its type (cut the
subgraph above it); shrink a dimension of an input or a random initializer; reset an attribute to its default;
lower the opset; simplify random values (seed 0).
"""

from __future__ import annotations

import copy
from typing import Any, Iterator

from fuzz.case import distinct_valid
from fuzz.onnx.case import MIN_OPSET, BadCase, infer_types
from fuzz.onnx.table import OPS


def needed(case: dict[str, Any]) -> set[str]:
    """The names of the values the outputs depend on (nodes included by their outputs)."""
    need = set(case["outputs"])
    for node in reversed(case["nodes"]):
        if need & set(node["outputs"]):
            need.update(i for i in node["inputs"] if i)
    return need


def compact(case: dict[str, Any]) -> dict[str, Any]:
    """The same model without the nodes, inputs and initializers its outputs do not need."""
    need = needed(case)
    return {
        "opset": case["opset"],
        "inputs": [t for t in case["inputs"] if t["name"] in need],
        "initializers": [t for t in case["initializers"] if t["name"] in need],
        "nodes": [n for n in case["nodes"] if need & set(n["outputs"])],
        "outputs": list(case["outputs"]),
    }


def node_count(case: dict[str, Any]) -> int:
    """Nodes the outputs need (what a minimized case is measured by)."""
    need = needed(case)
    return sum(1 for n in case["nodes"] if need & set(n["outputs"]))


def _valid(case: dict[str, Any]) -> dict[str, Any] | None:
    try:
        c = compact(case)
        infer_types(c)
        return c
    except (BadCase, KeyError, IndexError, TypeError):
        return None


def _rename(case: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """Every reader of value `old` (nodes, outputs) reads `new` instead."""
    c = copy.deepcopy(case)
    for node in c["nodes"]:
        node["inputs"] = [new if i == old else i for i in node["inputs"]]
    c["outputs"] = list(dict.fromkeys(new if o == old else o for o in c["outputs"]))
    return c


def reductions(case: dict[str, Any]) -> Iterator[dict[str, Any]]:
    return distinct_valid(case, _candidates(case), _valid)


def _candidates(case: dict[str, Any]) -> Iterator[dict[str, Any]]:
    try:
        types = infer_types(case)
    except BadCase:
        return
    outs = case["outputs"]
    producer = {o: n for n in case["nodes"] for o in n["outputs"]}
    if len(outs) > 1:
        for k in range(len(outs)):
            yield {**case, "outputs": outs[:k] + outs[k + 1:]}
    for o in outs:  # an output moved up to one of its node's inputs (drops that node)
        if o in producer:
            for i in producer[o]["inputs"]:
                if i:
                    yield _rename(case, o, i)
    need = needed(case)
    live = [n for n in case["nodes"] if need & set(n["outputs"])]
    for node in reversed(live):  # a node bypassed: its readers read one of its inputs
        for i in dict.fromkeys(x for x in node["inputs"] if x):
            c = case
            for o in node["outputs"]:
                c = _rename(c, o, i)
            yield c
    for node in live:  # a node replaced by a fresh input of its type
        c = copy.deepcopy(case)
        for o in node["outputs"]:
            if o in need:
                shape, dt = types[o]
                dom = "bool" if dt == "bool" else "int_small" if dt.startswith("int") else "normal"
                c["inputs"].append({"name": o, "shape": list(shape), "dtype": dt, "seed": 1, "domain": dom})
        c["nodes"] = [n for n in c["nodes"] if n["outputs"] != node["outputs"]]
        yield c
    for key in ("inputs", "initializers"):  # smaller dimensions
        for k, t in enumerate(case[key]):
            if "data" in t:
                continue
            for d, size in enumerate(t["shape"]):
                for new_size in dict.fromkeys((1, size // 2, size - 1)):
                    if 0 < new_size < size:
                        c = copy.deepcopy(case)
                        c[key][k]["shape"][d] = new_size
                        yield c
    for k, node in enumerate(case["nodes"]):  # attributes back to their defaults, one at a time
        for name, default in OPS[node["op"]].defaults.items():
            if name in node["attrs"] and node["attrs"][name] != default:
                c = copy.deepcopy(case)
                if default is None:
                    del c["nodes"][k]["attrs"][name]
                else:
                    c["nodes"][k]["attrs"][name] = default
                yield c
    low = 13 if case["opset"] >= 13 else MIN_OPSET  # not across 13, where Softmax and the axes inputs changed
    for opset in dict.fromkeys((low, case["opset"] - 1)):  # an older opset, where the model means the same
        if low <= opset < case["opset"]:
            yield {**case, "opset": opset}
    for key in ("inputs", "initializers"):  # simpler values
        for k, t in enumerate(case[key]):
            if t.get("seed", 0) != 0:
                c = copy.deepcopy(case)
                c[key][k]["seed"] = 0
                yield c


def size(case: dict[str, Any]) -> int:
    """What the minimizer drives down, most significant first: nodes, tensors, elements, the opset, attributes
    away from their defaults, non-zero seeds; tensors and outputs count together (each reduction lowers one of them)."""
    tensors = case["inputs"] + case["initializers"]
    numel = min(sum(_numel(t["shape"]) for t in tensors), 10**5)
    seeds = min(sum(1 for t in tensors if t.get("seed", 0)), 7)
    attrs = min(sum(1 for n in case["nodes"] for k, v in n["attrs"].items()
                    if k in OPS[n["op"]].defaults and v != OPS[n["op"]].defaults[k]), 127)
    return ((node_count(case) * 100 + min(len(tensors) + len(case["outputs"]), 99)) * 10**5 + numel) * 10**4 + \
        (case["opset"] - 13) * 1024 + attrs * 8 + seeds


def _numel(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
