"""Renderers: linear programs to source code (C, LLVM IR)."""
