"""The fuzzer interface: what a fuzzer plugin implements so the generic harness can drive it."""

from __future__ import annotations

import abc
import random
from collections.abc import Iterable
from typing import Any

from fuzz.case import Verdict, canonical_json

REPRODUCER_TEMPLATE = '''#!/usr/bin/env python3
"""Reproducer for a {name} fuzzer finding ({signature}): exits 1 while the check still fails."""
import json
import sys

from fuzz.registry import get_fuzzer, register

register({name!r}, {spec!r})
CASE = json.loads({case_json!r})

verdict = get_fuzzer({name!r}).check(CASE)
print(verdict.status, verdict.signature)
sys.exit(0 if verdict.status == "pass" else 1)
'''


class Fuzzer(abc.ABC):
    """A fuzzer: generates JSON cases, checks them, and proposes smaller ones for the minimizer."""

    name: str = ""
    # the per-case time limit campaigns, repro and replay use when none is given (None: the harness default)
    timeout_s: float | None = None

    @abc.abstractmethod
    def generate(self, rng: random.Random) -> dict[str, Any]:
        """Return a new JSON-serializable case drawn from rng (same rng state, same case)."""

    @abc.abstractmethod
    def check(self, case: dict[str, Any]) -> Verdict:
        """Run the case against the thing under test and its reference; return the verdict."""

    def reductions(self, case: dict[str, Any]) -> Iterable[dict[str, Any]]:
        """Yield smaller candidate cases, most promising first (default: none)."""
        return ()

    def mutate(self, case: dict[str, Any], rng: random.Random) -> dict[str, Any]:
        """Return a variation of case (default: a freshly generated case)."""
        return self.generate(rng)

    def size(self, case: dict[str, Any]) -> int:
        """Return a measure of the case's size the minimizer drives down (default: canonical JSON length)."""
        return len(canonical_json(case))

    def reproducer(self, case: dict[str, Any], signature: str = "", details: dict[str, Any] | None = None) -> str:
        """Return standalone Python source that re-runs the check on case and exits 1 if it fails.

        `details` are the confirmed verdict's (e.g. a counterexample to embed); a reproducer must not run the
        check itself in the caller's process, where a hanging or crashing case would take the campaign down.
        """
        spec = f"{type(self).__module__}:{type(self).__qualname__}"
        return REPRODUCER_TEMPLATE.format(
            name=self.name, spec=spec, signature=signature or "failure", case_json=canonical_json(case)
        )

    def artifacts(self, case: dict[str, Any], verdict: Verdict) -> dict[str, bytes]:
        """Files saved beside the case's corpus entry, in a folder of the entry's name (default: none)."""
        return {}

    def coverage(self) -> dict[str, int]:
        """Return rule-hit counts gathered since the last call and reset them (default: no coverage)."""
        return {}

    def coverage_keys(self) -> list[str]:
        """Every key `coverage` can report (the report lists those never hit); default: unknown, []."""
        return []

    def unreachable_keys(self) -> dict[str, str]:
        """Coverage keys no case can reach, each with the reason (the report names them apart); default: none."""
        return {}

    def validate(self, case: Any) -> None:
        """Raise ValueError with a clear message if case is malformed (default: it must be a JSON object)."""
        if not isinstance(case, dict):
            raise ValueError(
                f"a {self.name or type(self).__name__} case must be a JSON object, got {type(case).__name__}"
            )
