"""The devices the tensor tests run on: CPU always, and PYTHON and LLVM (both are test dependencies)."""

from engine.device import available

DEVICES = ["CPU"] + [d for d in ("PYTHON", "LLVM") if available(d)]
