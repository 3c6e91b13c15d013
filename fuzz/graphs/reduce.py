"""Smaller versions of a graph case, most promising first, for the generic minimizer (fuzz/minimize.py).

Every candidate is a valid case (checked against the op table; invalid ones are never offered) with unused
nodes and inputs dropped: drop an output or a realize point; make an output one of its node's inputs; rewire a
node's consumers to one of its inputs (drop the node); replace a node by a fresh input of its shape and dtype
(cut the subgraph above it); shrink every dimension of an input, drop its size-1 axes; reset attributes to
their defaults; make an input float32; simplify an input's values.
"""

from __future__ import annotations

import copy
from typing import Any, Iterator

from fuzz.case import distinct_valid
from fuzz.graphs.case import BadCase, infer_types, needed
from fuzz.graphs.ops import OPS


def compact(case: dict[str, Any]) -> dict[str, Any]:
    """The same program without the nodes and inputs its outputs do not need."""
    need = needed(case)
    n_in = len(case["inputs"])
    ids: dict[int, int] = {}
    inputs: list[Any] = []
    for k, inp in enumerate(case["inputs"]):
        if need[k]:
            ids[k] = len(inputs)
            inputs.append(inp)
    for k in range(len(case["nodes"])):
        if need[n_in + k]:
            ids[n_in + k] = len(ids)
    out: dict[str, Any] = {"inputs": inputs, "nodes": [], "outputs": [ids[o] for o in case["outputs"]],
                           "realize": [ids[r] for r in case.get("realize", []) if r in ids],
                           "seed": case.get("seed", 0)}
    for k, node in enumerate(case["nodes"]):
        if need[n_in + k]:
            out["nodes"].append({**node, "in": [ids[i] for i in node["in"]]})
    return out


def _valid(case: dict[str, Any]) -> dict[str, Any] | None:
    try:
        c = compact(case)
        infer_types(c)
        return c
    except (BadCase, KeyError, IndexError):
        return None


def _replace_value(case: dict[str, Any], old: int, new: int) -> dict[str, Any]:
    """Every reader of value `old` (nodes, outputs, realize points) reads `new` instead."""
    c = copy.deepcopy(case)
    for node in c["nodes"]:
        node["in"] = [new if i == old else i for i in node["in"]]
    c["outputs"] = list(dict.fromkeys(new if o == old else o for o in c["outputs"]))
    c["realize"] = [r for r in (new if r == old else r for r in c.get("realize", [])) if r not in c["outputs"]]
    return c


def _as_input(case: dict[str, Any], vid: int, shape: tuple[int, ...], dtype: str) -> dict[str, Any]:
    """Value `vid` (a node) replaced by a fresh input of the same type: inputs are numbered first, so every
    value id from the end of the inputs on moves up by one."""
    c = copy.deepcopy(case)
    n_in = len(c["inputs"])

    def shift(i: int) -> int:
        return n_in if i == vid else i + 1 if i >= n_in else i

    dom = "bool" if dtype == "bool" else "int_small" if dtype[0] in "iu" else "normal"
    c["inputs"].append({"shape": list(shape), "dtype": dtype, "seed": 1, "domain": dom})
    for node in c["nodes"]:
        node["in"] = [shift(i) for i in node["in"]]
    c["outputs"] = [shift(o) for o in c["outputs"]]
    c["realize"] = [shift(r) for r in c.get("realize", [])]
    return c


def reductions(case: dict[str, Any]) -> Iterator[dict[str, Any]]:
    return distinct_valid(case, _candidates(case), _valid)


def _candidates(case: dict[str, Any]) -> Iterator[dict[str, Any]]:
    try:
        types = infer_types(case)
    except BadCase:
        return
    n_in = len(case["inputs"])
    outs = case["outputs"]
    if len(outs) > 1:
        for k in range(len(outs)):
            yield {**case, "outputs": outs[:k] + outs[k + 1:]}
    if case.get("realize"):
        yield {**case, "realize": []}
    need = needed(case)
    live = [n_in + k for k in range(len(case["nodes"])) if need[n_in + k]]
    # outputs moved up to one of their inputs (drops everything below)
    for o in outs:
        if o >= n_in:
            for i in case["nodes"][o - n_in]["in"]:
                yield _replace_value(case, o, i)
    # a node bypassed: its consumers read one of its inputs
    for vid in reversed(live):
        for i in case["nodes"][vid - n_in]["in"]:
            yield _replace_value(case, vid, i)
    # a node replaced by a fresh input (its subgraph cut off)
    for vid in live:
        shape, dt = types[vid]
        yield _as_input(case, vid, shape, dt)
    # smaller inputs
    for k, inp in enumerate(case["inputs"]):
        for d, size in enumerate(inp["shape"]):
            for new_size in dict.fromkeys((1, size // 2, size - 1)):
                if 0 < new_size < size:
                    c = copy.deepcopy(case)
                    c["inputs"][k]["shape"][d] = new_size
                    yield c
        for d, size in enumerate(inp["shape"]):  # a size-1 axis dropped, anywhere (ops reading it may not fit)
            if size == 1:
                c = copy.deepcopy(case)
                del c["inputs"][k]["shape"][d]
                yield c
    # attributes back to their defaults, one at a time
    for k, node in enumerate(case["nodes"]):
        for key, val in OPS[node["op"]].defaults.items():
            if node.get("attrs", {}).get(key, val) != val:
                c = copy.deepcopy(case)
                c["nodes"][k]["attrs"][key] = val
                yield c
        if "scalar" in node.get("attrs", {}) and node["attrs"]["scalar"] not in (1, 2):
            c = copy.deepcopy(case)
            c["nodes"][k]["attrs"]["scalar"] = 2 if isinstance(node["attrs"]["scalar"], int) else 2.0
            yield c
    # simpler dtypes and values
    for k, inp in enumerate(case["inputs"]):
        if inp["dtype"] != "float32":
            c = copy.deepcopy(case)
            c["inputs"][k]["dtype"] = "float32"
            c["inputs"][k]["domain"] = "normal" if not inp["domain"].startswith("index") else inp["domain"]
            yield c
        if inp["seed"] != 0:
            c = copy.deepcopy(case)
            c["inputs"][k]["seed"] = 0
            yield c
