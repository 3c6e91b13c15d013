"""Hypothesis strategies for tensor programs, so engine changes can be property-tested:

    from hypothesis import given
    from fuzz.graphs.strategies import check, graphs

    @given(graphs(max_nodes=6))
    def test_engine_matches_numpy(case):
        check(case)                      # raises AssertionError naming the mode, the kernels and the difference

The cases are the graph fuzzer's (JSON, replayable with `fuzz repro`); Hypothesis drives the generator's random
choices, so it can shrink a failing program toward fewer nodes and smaller shapes.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from hypothesis import strategies as st

from fuzz.graphs.fuzzer import GraphFuzzer
from fuzz.graphs.generate import gen_case


def graphs(max_nodes: int = 8) -> st.SearchStrategy[dict[str, Any]]:
    """Random valid graph cases of up to `max_nodes` ops."""
    return st.randoms(use_true_random=False).map(lambda rng: gen_case(rng, max_nodes))


def check(case: dict[str, Any], modes: Iterable[str] | None = ("base", "noopt", "unfused"), base: str = "LLVM"
          ) -> None:
    """Run the case the graph fuzzer's way (`modes`: which configurations besides base; None: the fuzzer's mix);
    AssertionError with the verdict if the engine disagrees with numpy or with itself."""
    verdict = GraphFuzzer(base=base, modes=modes).check(case)
    if verdict.status not in ("pass", "invalid"):
        raise AssertionError(f"{verdict.signature}: {json.dumps(verdict.details, default=repr)[:4000]}\n"
                             f"case: {json.dumps(case)}")
