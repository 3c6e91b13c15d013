"""The ONNX node cases the conformance test does not run: a regular expression (matched against the whole case name)
mapped to why. Every entry must match at least one case (tests/test_onnx_conformance.py checks it)."""

EXCLUDE: dict[str, str] = {
}
