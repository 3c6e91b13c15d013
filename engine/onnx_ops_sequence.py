"""ONNX sequence and optional values: a sequence is a Python list of Tensors, an empty optional is None.
A handler returns a list of its outputs, so one sequence output is returned as a one-element list.

Registered into engine.onnx_ops.OPS when engine.onnx imports this module. Positions (SequenceAt, Insert, Erase)
are static values; negative ones count from the end. SequenceMap runs its body once per position.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.onnx_ops import OPS, Attrs, Inputs, Node, _ax, _scalar, const, op
from engine.tensor import Tensor


def _seq(v: Any, what: str = "input") -> list[Tensor]:
    if not isinstance(v, list):
        raise TypeError(f"{what} is not a sequence")
    return v


def _pos(t: Tensor | None, n: int, default: int, insert: bool = False) -> int:
    p = default if t is None else int(_scalar(t))
    lim = n + 1 if insert else n
    if not -lim <= p < lim:
        raise IndexError(f"position {p} out of range for a sequence of {n}")
    return p + n if p < 0 else p


@op("SequenceEmpty")
def _sequence_empty(inp: Inputs, attrs: Attrs, node: Node) -> list[list[Tensor]]:
    return [[]]


@op("SequenceConstruct")
def _sequence_construct(inp: Inputs, attrs: Attrs, node: Node) -> list[list[Tensor]]:
    return [list(inp)]


@op("SequenceLength")
def _sequence_length(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    return const(np.int64(len(_seq(inp[0]))), node.device)


@op("SequenceAt")
def _sequence_at(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    s = _seq(inp[0])
    return s[_pos(inp[1], len(s), 0)]


@op("SequenceInsert")
def _sequence_insert(inp: Inputs, attrs: Attrs, node: Node) -> list[list[Tensor]]:
    s = list(_seq(inp[0]))
    s.insert(_pos(inp[2] if len(inp) > 2 else None, len(s), len(s), insert=True), inp[1])
    return [s]


@op("SequenceErase")
def _sequence_erase(inp: Inputs, attrs: Attrs, node: Node) -> list[list[Tensor]]:
    s = list(_seq(inp[0]))
    del s[_pos(inp[1] if len(inp) > 1 else None, len(s), len(s) - 1)]
    return [s]


@op("ConcatFromSequence")
def _concat_from_sequence(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    s = _seq(inp[0])
    if attrs.get("new_axis", 0):
        return Tensor.stack(s, _ax(attrs["axis"], s[0].ndim + 1))
    return OPS["Concat"](s, attrs, node)


@op("SplitToSequence")
def _split_to_sequence(inp: Inputs, attrs: Attrs, node: Node) -> list[list[Tensor]]:
    x = inp[0]
    a = _ax(attrs.get("axis", 0), x.ndim)
    split = inp[1] if len(inp) > 1 else None
    if split is None:
        parts = x.split(1, a)
        return [[p.squeeze(a) for p in parts] if not attrs.get("keepdims", 1) else list(parts)]
    sizes = np.asarray(_scalar(split) if split.ndim == 0 else split.numpy()).reshape(-1).tolist()
    if split.ndim == 0:  # one size: equal chunks, the last one shorter
        k = int(sizes[0])
        n = x.shape[a]
        sizes = [min(k, n - i) for i in range(0, n, k)]
    return [list(x.split([int(v) for v in sizes], a))]


@op("SequenceMap")
def _sequence_map(inp: Inputs, attrs: Attrs, node: Node) -> list[list[Tensor]]:
    assert node.run_graph is not None
    first = _seq(inp[0])
    outs: list[list[Tensor]] | None = None
    for i in range(len(first)):
        args = [v[i] if isinstance(v, list) else v for v in inp]
        res = node.run_graph(attrs["body"], args)
        if outs is None:
            outs = [[] for _ in res]
        for acc, r in zip(outs, res):
            acc.append(r)
    return outs if outs is not None else [[] for _ in range(node.n_outputs)]


@op("Optional")
def _optional(inp: Inputs, attrs: Attrs, node: Node) -> list[Any]:
    return [inp[0] if inp else None]


@op("OptionalHasElement")
def _optional_has_element(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    return const(np.bool_(bool(inp) and inp[0] is not None), node.device)


@op("OptionalGetElement")
def _optional_get_element(inp: Inputs, attrs: Attrs, node: Node) -> list[Any]:
    if not inp or inp[0] is None:
        raise ValueError("the optional is empty")
    return [inp[0]]


