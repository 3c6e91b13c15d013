"""The symbolic fuzzer: random index expressions, the engine's simplifier, and Z3 as the judge."""

from fuzz.symbolic.fuzzer import SymbolicFuzzer

__all__ = ["SymbolicFuzzer"]
