"""The graph fuzzer: random tensor programs run by the engine across devices, opts and schedules, against numpy."""

from fuzz.graphs.fuzzer import GraphFuzzer

__all__ = ["GraphFuzzer"]
