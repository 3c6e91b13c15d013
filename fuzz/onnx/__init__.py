"""The ONNX fuzzer: random models from an op-spec table, run by the engine's importer against onnxruntime."""

from fuzz.onnx.fuzzer import OnnxFuzzer

__all__ = ["OnnxFuzzer"]
