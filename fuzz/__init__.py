"""The fuzzing harness: cases, verdicts, isolated workers, campaigns, corpus, minimizer, reports, CLI."""

from fuzz.base import Fuzzer
from fuzz.case import Verdict

__all__ = ["Fuzzer", "Verdict"]
