"""Graph cases: plain JSON, validated against the op table, turned into input arrays, reference values and
engine tensors.

A case:
  {"inputs":  [{"shape": [3, 4], "dtype": "float32", "seed": 17, "domain": "normal"}, ...],
   "nodes":   [{"op": "add", "in": [0, 1], "attrs": {}}, ...],
   "outputs": [5, 3],          # values realized together (several: a multi-output schedule)
   "realize": [4],             # values realized on their own before the outputs (optional)
   "seed":    123}             # drives the random opts of the opts mode
Values are numbered inputs first, then nodes: node k is value len(inputs) + k. A node only reads earlier values.
Domains: normal, unit (-1..1), wide (normal times 10^-3..10^3), positive (0.25..4), int_small (-8..8, 0..16
unsigned), int_full (every bit pattern), int_edge (the dtype's limits and their neighbours, -1, 0, 1 and small
values), bool, shift (0..7), nonneg_small (0..3), index:N (-N..N-1), int_valued (whole floats -8..8: exact ties
and quotients), ties (multiples of 1/2 to 1/16 up to 40: halves for round and the float-to-int casts, midpoints
between neighbouring float8 and float16 values for a cast's round-half-to-even), special (normal with a quarter NaN,
+-inf, +-0.0), huge (+-10^2..10^5.5).
"""

from __future__ import annotations

import math
import random
from typing import Any

import ml_dtypes
import numpy as np

from fuzz.graphs.ops import ALL_DTYPES, OPS, TT, run_op
from oracles import numpy_ref as R
from oracles.numpy_ref import NP_DTYPES, Ref

MAX_NUMEL = 1 << 16  # per value: keeps a check fast and the PYTHON device usable
MAX_NODES = 64
DOMAINS = ("normal", "unit", "wide", "positive", "int_small", "int_full", "int_edge", "bool", "shift", "nonneg_small",
           "int_valued", "ties", "special", "huge", "near_max")


class BadCase(ValueError):
    """A case that does not describe a valid program (the message names the node or input)."""


def _int_list(v: Any, what: str) -> list[int]:
    if not isinstance(v, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        raise BadCase(f"{what} must be a list of integers, got {v!r}")
    return v


def infer_types(case: Any) -> list[TT]:
    """(shape, dtype) of every value; BadCase naming the input or node that does not fit."""
    if not isinstance(case, dict) or not {"inputs", "nodes", "outputs"} <= set(case):
        raise BadCase("a graph case is an object with 'inputs', 'nodes' and 'outputs'")
    extra = set(case) - {"inputs", "nodes", "outputs", "realize", "seed"}
    if extra:
        raise BadCase(f"a graph case has unknown keys {sorted(extra)}")
    types: list[TT] = []
    if not isinstance(case["inputs"], list) or not isinstance(case["nodes"], list):
        raise BadCase("'inputs' and 'nodes' must be lists")
    if len(case["nodes"]) > MAX_NODES:
        raise BadCase(f"{len(case['nodes'])} nodes: at most {MAX_NODES}")
    for k, inp in enumerate(case["inputs"]):
        if not isinstance(inp, dict) or set(inp) != {"shape", "dtype", "seed", "domain"}:
            raise BadCase(f"input {k} must have exactly shape, dtype, seed and domain")
        shape = tuple(_int_list(inp["shape"], f"input {k} shape"))
        if any(d < 0 for d in shape) or len(shape) > 6 or math.prod(shape) > MAX_NUMEL:
            raise BadCase(f"input {k}: shape {list(shape)} is negative, over 6 dims or over {MAX_NUMEL} elements")
        if inp["dtype"] not in ALL_DTYPES:
            raise BadCase(f"input {k}: unknown dtype {inp['dtype']!r}")
        if not isinstance(inp["seed"], int) or not 0 <= inp["seed"] < 2**63:
            raise BadCase(f"input {k}: seed must be an integer in [0, 2^63)")
        dom = inp["domain"]
        if not isinstance(dom, str) or (dom not in DOMAINS and not _index_domain(dom)):
            raise BadCase(f"input {k}: unknown domain {dom!r}")
        types.append((shape, inp["dtype"]))
    for k, node in enumerate(case["nodes"]):
        vid = len(case["inputs"]) + k
        if not isinstance(node, dict) or set(node) - {"op", "in", "attrs"} or "op" not in node:
            raise BadCase(f"node {k} must be an object with op, in and attrs")
        op = node["op"]
        if op not in OPS:
            raise BadCase(f"node {k}: unknown op {op!r}")
        ins = _int_list(node.get("in", []), f"node {k} ({op}) inputs")
        if any(not 0 <= i < vid for i in ins):
            raise BadCase(f"node {k} ({op}) reads {ins}: only values 0..{vid - 1} exist before it")
        spec = OPS[op]
        if (spec.arity is not None and len(ins) != spec.arity) or not ins:
            raise BadCase(f"node {k} ({op}) takes {spec.arity or 'one or more'} inputs, got {len(ins)}")
        attrs = node.get("attrs", {})
        if not isinstance(attrs, dict):
            raise BadCase(f"node {k} ({op}): attrs must be an object")
        try:
            shape, dt = spec.infer([types[i] for i in ins], attrs)
        except (ValueError, KeyError, TypeError, IndexError) as e:
            raise BadCase(f"node {k} ({op}): {type(e).__name__}: {e}") from None
        if math.prod(shape) > MAX_NUMEL:
            raise BadCase(f"node {k} ({op}): result of {math.prod(shape)} elements is over {MAX_NUMEL}")
        types.append((tuple(shape), dt))
    _check_in_place(case)
    outs = _int_list(case["outputs"], "outputs")
    mids = _int_list(case.get("realize", []), "realize")
    if not outs or any(not 0 <= i < len(types) for i in outs + mids) or len(set(outs)) != len(outs):
        raise BadCase(f"outputs {outs} / realize {mids} must name distinct existing values")
    return types


def _check_in_place(case: dict[str, Any]) -> None:
    """assign/setitem write into an input (or into an earlier in-place node's result: the same tensor); after
    that, nothing reads the written value itself (later nodes read the in-place node, which is the same tensor
    afterwards), and no output or realize point names it."""
    n_in = len(case["inputs"])
    written: dict[int, int] = {}
    in_place = {n_in + k for k, node in enumerate(case["nodes"]) if OPS[node["op"]].kind == "inplace"}
    for k, node in enumerate(case["nodes"]):
        bad = [i for i in node["in"] if i in written]
        if bad:
            raise BadCase(f"node {k} ({node['op']}) reads input {bad[0]}, written in place by node {written[bad[0]]}")
        if OPS[node["op"]].kind == "inplace":
            target = node["in"][0]
            if target >= n_in and target not in in_place:
                raise BadCase(f"node {k} ({node['op']}) writes in place into value {target}, which is not an input")
            written[target] = k
    named = [i for i in list(case["outputs"]) + list(case.get("realize", [])) if i in written]
    if named:
        raise BadCase(f"input {named[0]} is written in place by node {written[named[0]]}: name that node instead")


def _index_domain(dom: str) -> bool:
    return dom.startswith("index:") and dom[6:].isdigit()


def make_values(inp: dict[str, Any]) -> np.ndarray:
    """The array of one input, from its shape, dtype, seed and domain (same case, same arrays)."""
    shape, dt, dom = tuple(inp["shape"]), inp["dtype"], inp["domain"]
    rng = np.random.default_rng(inp["seed"])
    npdt = NP_DTYPES[dt]
    with np.errstate(all="ignore"):
        if dom == "bool" or dt == "bool":
            v: np.ndarray = rng.random(shape) < 0.5
        elif _index_domain(dom):
            n = int(dom[6:])
            v = rng.integers(-n, n, shape) if n else np.zeros(shape, np.int64)
        elif dom == "int_full" and npdt.kind in "iu":
            v = rng.integers(0, 256, shape + (npdt.itemsize,), dtype=np.uint8).view(npdt).reshape(shape)
        elif dom == "int_edge" and npdt.kind in "iu":
            info = np.iinfo(npdt)
            small = (0, 1, 2, 3) if npdt.kind == "u" else (0, 1, 2, -1, -2, -3)
            edges = np.array([int(info.min), int(info.min) + 1, int(info.max) - 1, int(info.max), *small,
                              int(info.max) // 2, int(info.max) // 2 + 1, int(info.min) // 2], npdt)
            v = edges[rng.integers(0, len(edges), shape)]
        elif dom in ("int_small", "int_full", "int_edge"):
            lo = 0 if npdt.kind == "u" else -8
            v = rng.integers(lo, lo + 17, shape)
        elif dom == "shift":
            v = rng.integers(0, 8, shape)
        elif dom == "nonneg_small":
            v = rng.integers(0, 4, shape)
        elif dom == "int_valued":
            v = rng.integers(-8, 9, shape).astype(np.float64)
        elif dom == "ties":
            v = rng.integers(-80, 81, shape) / 2.0 ** rng.integers(1, 5, shape)
        elif dom == "special":
            v = rng.standard_normal(shape)
            hit = rng.random(shape) < 0.25
            v = np.where(hit, rng.choice(np.array([np.nan, np.inf, -np.inf, 0.0, -0.0]), shape), v)
        elif dom == "near_max" and R.is_float(dt):
            # within a factor 4 of the dtype's largest finite value: a sum or product overflows, and its sign
            # and the dtype's overflow rule (inf, or NaN for e4m3fn) decide the result
            top = float(ml_dtypes.finfo(npdt).max)
            v = rng.choice(np.array([-1.0, 1.0]), shape) * top * rng.uniform(0.25, 1.0, shape)
        elif dom == "huge":
            v = rng.choice(np.array([-1.0, 1.0]), shape) * 10.0 ** rng.uniform(2, 5.5, shape)
        elif dom == "positive":
            v = rng.uniform(0.25, 4.0, shape)
        elif dom == "unit":
            v = rng.uniform(-1.0, 1.0, shape)
        elif dom == "wide":
            v = rng.standard_normal(shape) * 10.0 ** rng.uniform(-3, 3, shape)
        else:
            v = rng.standard_normal(shape)
        return np.asarray(v).astype(npdt)


def needed(case: dict[str, Any]) -> list[bool]:
    """Which values the outputs and realize points depend on."""
    n_in = len(case["inputs"])
    need = [False] * (n_in + len(case["nodes"]))
    for i in list(case["outputs"]) + list(case.get("realize", [])):
        need[i] = True
    for k in range(len(case["nodes"]) - 1, -1, -1):
        if need[n_in + k]:
            for i in case["nodes"][k]["in"]:
                need[i] = True
    return need


def reference(case: dict[str, Any], arrays: list[np.ndarray], types: list[TT]) -> list[Ref | None]:
    """The numpy reference of every value the outputs need (None for the others)."""
    need = needed(case)
    refs: list[Ref | None] = [R.exact(a) if need[k] else None for k, a in enumerate(arrays)]
    n_in = len(arrays)
    for k, node in enumerate(case["nodes"]):
        if not need[n_in + k]:
            refs.append(None)
            continue
        ins = [refs[i] for i in node["in"]]
        out = OPS[node["op"]].ref(ins, node.get("attrs", {}), types[n_in + k])  # type: ignore[arg-type]
        want_shape, want_dt = types[n_in + k]
        if out.shape != tuple(want_shape) or out.dtype != want_dt:
            raise AssertionError(f"reference of node {k} ({node['op']}) gave {out.shape} {out.dtype}, "
                                 f"the op table says {want_shape} {want_dt}")
        refs.append(out)
    return refs


def build(case: dict[str, Any], arrays: list[np.ndarray], device: str, realize_mid: Any = None) -> list[Any]:
    """Engine tensors of every needed value (lazy). `realize_mid(tensor)` realizes the case's realize points."""
    from engine.tensor import Tensor

    need = needed(case)
    vals: list[Any] = [Tensor(a, device=device) if need[k] else None for k, a in enumerate(arrays)]
    mids = set(case.get("realize", []))
    n_in = len(arrays)
    for k, node in enumerate(case["nodes"]):
        if not need[n_in + k]:
            vals.append(None)
            continue
        t = run_op(OPS[node["op"]], [vals[i] for i in node["in"]], node.get("attrs", {}))
        if n_in + k in mids and realize_mid is not None:
            realize_mid(t)
        vals.append(t)
    return vals


def realize_groups(case: dict[str, Any]) -> list[list[int]]:
    """The separate mode's order (positions in case["outputs"]): half the cases one output at a time, last first;
    the others the outputs shuffled into random groups, realized one group after another (a tensor realized after
    an in-place write that another group did, or with a twin of its UOp realized before it). Drawn from the case's
    seed and its number of outputs."""
    n = len(case["outputs"])
    rng = random.Random(f"{case.get('seed', 0)}:groups:{n}")
    order = list(range(n))[::-1]
    if n < 2 or rng.random() < 0.5:
        return [[i] for i in order]
    rng.shuffle(order)
    groups: list[list[int]] = []
    for i in order:
        if groups and rng.random() < 0.5:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def op_count(case: dict[str, Any]) -> int:
    """Nodes the outputs need (what a minimized case is measured by)."""
    n_in = len(case["inputs"])
    return sum(needed(case)[n_in:])
