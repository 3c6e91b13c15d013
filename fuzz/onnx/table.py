"""The ONNX fuzzer's op table: the core ops (fuzz.onnx.ops, which also holds the shared sampling helpers) and the
themed modules beside it, each a list of OpSpec and the ops of it that keep exact inputs exact, sum their terms or
pass an error through (what fuzz.onnx.generate and fuzz.onnx.fuzzer's tolerance need to know of an op)."""

from __future__ import annotations

from fuzz.onnx import ops, ops_index, ops_math, ops_nn, ops_norm
from fuzz.onnx.ops import OpSpec

_MORE = (ops_math, ops_norm, ops_index, ops_nn)
OP_LIST: list[OpSpec] = [*ops.OP_LIST, *(s for m in _MORE for s in m.SPECS)]
OPS: dict[str, OpSpec] = {s.name: s for s in OP_LIST}
if len(OPS) != len(OP_LIST):
    raise RuntimeError("an ONNX op is specified twice in the fuzzer's op table")
THEMED: frozenset[str] = frozenset(s.name for m in _MORE for s in m.SPECS)
THEMED_WEIGHT = 0.5  # how often a themed op is drawn against a core op's 1.0 (fuzz.onnx.generate.WEIGHTS): at 1.0
# the 60 themed ops took a third of the nodes, and a core op's rarer corners were found several times later
EXACT: frozenset[str] = frozenset().union(*(m.EXACT for m in _MORE))
SUMS: frozenset[str] = frozenset().union(*(m.SUMS for m in _MORE))
PASS_THROUGH: frozenset[str] = frozenset().union(*(m.PASS_THROUGH for m in _MORE))
