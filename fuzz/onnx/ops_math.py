"""More of the ONNX op table (fuzz.onnx.table): elementwise math, bitwise, activation and small tensor ops,
in the form of fuzz.onnx.ops (each op a sampler and a type rule)."""

from __future__ import annotations

from fuzz.onnx.ops import OpSpec

SPECS: list[OpSpec] = []
EXACT: frozenset[str] = frozenset()  # ops whose result is bit-exact given exact inputs (fuzz.onnx.generate.EXACT_OPS)
SUMS: frozenset[str] = frozenset()  # ops that sum their inputs' terms (fuzz.onnx.fuzzer.SUMS)
PASS_THROUGH: frozenset[str] = frozenset()  # maps of slope about one (fuzz.onnx.fuzzer.PASS_THROUGH)
