"""Mutations of graph cases for coverage-guided campaigns: every result passes infer_types, or none is returned.

An edit changes one thing: a node's attributes (re-sampled for the same op over the same earlier values), an
input's dtype or data seed, a node added on top of the graph (it becomes the first output), or a node's op swapped
for another of the same kind and arity.
"""

from __future__ import annotations

import copy
import random
from typing import Any

from fuzz.graphs.case import BadCase, infer_types
from fuzz.graphs.generate import random_dtype
from fuzz.graphs.ops import OPS, TT, domain_for

MAX_TRIES = 8


def mutate_graph(case: dict[str, Any], rng: random.Random) -> dict[str, Any] | None:
    """A valid variation of a valid case (the argument is not changed), or None when MAX_TRIES edits all failed."""
    try:
        types = infer_types(case)
    except BadCase:
        return None
    for _ in range(MAX_TRIES):
        out = copy.deepcopy(case)
        edit = rng.choice((_resample_attrs, _input_dtype, _add_on_top, _add_on_top, _swap_op))
        if not edit(out, types, rng):
            continue
        try:
            infer_types(out)
        except BadCase:
            continue
        if out != case:
            return out
    return None


def _resample_attrs(case: dict[str, Any], types: list[TT], rng: random.Random) -> bool:
    if not case["nodes"]:
        return False
    k = rng.randrange(len(case["nodes"]))
    node = case["nodes"][k]
    vid = len(case["inputs"]) + k
    picked = OPS[node["op"]].sample(rng, types[:vid])
    if picked is None or not all(isinstance(s, int) for s in picked[0]):
        return False  # the sampler asked for a fresh input: the graph's numbering would shift
    node["in"], node["attrs"] = list(picked[0]), picked[1]
    return True


def _input_dtype(case: dict[str, Any], types: list[TT], rng: random.Random) -> bool:
    inp = rng.choice(case["inputs"])
    if rng.random() < 0.3:
        inp["seed"] = rng.getrandbits(31)  # other data, same program
        return True
    inp["dtype"] = random_dtype(rng)
    inp["domain"] = domain_for(rng, inp["dtype"])
    return True


def _add_on_top(case: dict[str, Any], types: list[TT], rng: random.Random) -> bool:
    names = list(OPS)
    op = rng.choices(names, [OPS[n].weight for n in names])[0]
    picked = OPS[op].sample(rng, types)
    if picked is None or not all(isinstance(s, int) for s in picked[0]):
        return False
    case["nodes"].append({"op": op, "in": list(picked[0]), "attrs": picked[1]})
    case["outputs"][0] = len(types)
    if len(set(case["outputs"])) != len(case["outputs"]):
        case["outputs"] = list(dict.fromkeys(case["outputs"]))
    return True


def _swap_op(case: dict[str, Any], types: list[TT], rng: random.Random) -> bool:
    if not case["nodes"]:
        return False
    node = rng.choice(case["nodes"])
    spec = OPS[node["op"]]
    same = [n for n, s in OPS.items() if s.kind == spec.kind and s.arity == spec.arity and n != node["op"]]
    if not same:
        return False
    node["op"] = rng.choice(same)  # same attributes: infer_types rejects the swap where they do not fit
    return True
