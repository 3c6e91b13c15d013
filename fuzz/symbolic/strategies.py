"""Hypothesis strategies for symbolic index expressions (the symbolic fuzzer's cases):

    from hypothesis import given
    from fuzz.symbolic.strategies import check, expressions

    @given(expressions())
    def test_simplify_is_sound(case):
        check(case)      # AssertionError if simplify changed a value, a bound is unsound, or it grew

`to_uop(case["expr"], case["vars"], int_dtype(case))` (fuzz.symbolic.expr) gives the expression as an engine UOp (some
cases are of a fixed-width int type, whose arithmetic wraps: README, the symbolic fuzzer).
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from fuzz.symbolic.fuzzer import SymbolicFuzzer
from fuzz.symbolic.generate import GenOptions, gen_case


def expressions(depth: int = 4, max_vars: int = 3) -> st.SearchStrategy[dict[str, Any]]:
    """Random symbolic cases: variable bounds and an expression over them."""
    opts = GenOptions(depth=depth, max_vars=max_vars)
    return st.randoms(use_true_random=False).map(lambda rng: gen_case(rng, opts))


_FUZZER: SymbolicFuzzer | None = None


def check(case: dict[str, Any]) -> None:
    """The symbolic fuzzer's check; AssertionError with its verdict unless it passes (Z3 timeouts pass)."""
    global _FUZZER
    if _FUZZER is None:
        _FUZZER = SymbolicFuzzer()
    verdict = _FUZZER.check(case)
    if verdict.status not in ("pass", "invalid") and not verdict.details.get("inconclusive"):
        raise AssertionError(f"{verdict.signature}: {json.dumps(verdict.details, default=repr)[:4000]}")
