"""Devices: runtimes that compile and launch programs (CPU, LLVM, PYTHON)."""
