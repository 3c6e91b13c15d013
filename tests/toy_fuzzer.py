"""A toy fuzzer for the harness tests: lists of ints with a planted bug, a segfault and a hang on demand."""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from typing import Any, Iterable

from fuzz.base import Fuzzer
from fuzz.case import Verdict


class ToyFuzzer(Fuzzer):
    """Cases {"xs": [ints], "segv": bool, "hang": bool, "boom": bool}; 13 in xs is the planted bug."""

    name = "toy"
    max_len = 6
    max_int = 20
    p_segv = 0.0  # probability that generate() asks check() to segfault
    p_hang = 0.0  # ... to hang
    p_boom = 0.0  # ... to raise an exception
    p_invalid = 0.0  # ... to produce a case check() calls invalid

    def __init__(self) -> None:
        self._hits: Counter[str] = Counter()

    def generate(self, rng: random.Random) -> dict[str, Any]:
        case: dict[str, Any] = {"xs": [rng.randint(0, self.max_int) for _ in range(rng.randint(0, self.max_len))]}
        for flag, p in (
            ("segv", self.p_segv),
            ("hang", self.p_hang),
            ("boom", self.p_boom),
            ("invalid", self.p_invalid),
        ):
            if rng.random() < p:
                case[flag] = True
        return case

    def check(self, case: dict[str, Any]) -> Verdict:
        xs = case["xs"]
        self._hits["checked"] += 1
        if case.get("invalid"):
            return Verdict("invalid", "invalid:flag")
        if case.get("undecided"):
            return Verdict("timeout", "timeout:oracle", {"inconclusive": True})
        if case.get("segv"):
            os.kill(os.getpid(), signal.SIGSEGV)
        if case.get("hang"):
            while True:
                time.sleep(0.01)
        if case.get("boom"):
            raise ZeroDivisionError("boom")
        if case.get("blowup"):
            _ = bytearray(case["blowup"] << 20)
        if 13 in xs:
            self._hits["found13"] += 1
            return Verdict("mismatch", "mismatch:has13", {"position": xs.index(13)})
        return Verdict("pass")

    def reductions(self, case: dict[str, Any]) -> Iterable[dict[str, Any]]:
        xs = case["xs"]
        for i in range(len(xs)):  # drop one element
            yield {**case, "xs": xs[:i] + xs[i + 1 :]}
        for i, x in enumerate(xs):  # shrink one element towards 0
            for smaller in (0, x // 2, x - 1):
                if 0 <= smaller < x:
                    yield {**case, "xs": xs[:i] + [smaller] + xs[i + 1 :]}

    def size(self, case: dict[str, Any]) -> int:
        return len(case["xs"]) + sum(abs(x) for x in case["xs"])

    def coverage(self) -> dict[str, int]:
        hits, self._hits = dict(self._hits), Counter()
        return hits

    def validate(self, case: Any) -> None:
        super().validate(case)
        if not isinstance(case.get("xs"), list) or not all(isinstance(x, int) for x in case["xs"]):
            raise ValueError("a toy case needs 'xs', a list of ints")


class SegvToyFuzzer(ToyFuzzer):
    """The toy fuzzer with segfaults, exceptions and invalid cases, but no hangs (fast and deterministic)."""

    p_segv = 0.03
    p_boom = 0.03
    p_invalid = 0.05


class CrashyToyFuzzer(ToyFuzzer):
    """The toy fuzzer with segfaults and hangs switched on."""

    p_segv = 0.05
    p_hang = 0.02
    p_boom = 0.05
    p_invalid = 0.05


def echo_command(argv: list[str]) -> int:
    """A fuzzer-specific CLI command for the EXTRA_COMMANDS hook test: prints argv, exits with len(argv)."""
    print("echo", *argv)
    return len(argv)


class SlowMinimizeToyFuzzer(ToyFuzzer):
    """ToyFuzzer whose reductions take a while (they run in the campaign's process, during triage)."""

    name = "slowmin-toy"
    reduction_delay = 0.4
    reduction_times: list[float] = []  # time.monotonic() of each reduction produced, for the tests

    def reductions(self, case: dict[str, Any]) -> Iterable[dict[str, Any]]:
        for candidate in super().reductions(case):
            time.sleep(self.reduction_delay)
            self.reduction_times.append(time.monotonic())
            yield candidate


class UndecidedToyFuzzer(ToyFuzzer):
    """ToyFuzzer whose oracle cannot decide some cases (inconclusive timeouts) and has no 13 bug."""

    name = "undecided-toy"
    max_int = 12

    def generate(self, rng: random.Random) -> dict[str, Any]:
        case = super().generate(rng)
        if rng.random() < 0.1:
            case["undecided"] = True
        return case


class SlowToyFuzzer(ToyFuzzer):
    """ToyFuzzer whose checks take 3 ms, with some exceptions: a campaign long enough to kill mid-run."""

    name = "slow-toy"
    p_boom = 0.02
    check_delay = 0.003

    def check(self, case: dict[str, Any]) -> Verdict:
        time.sleep(self.check_delay)
        return super().check(case)


class DaskKillerToyFuzzer(ToyFuzzer):
    """ToyFuzzer that, once (a marker file in $TOY_KILL_ONCE_DIR), kills the Dask worker that runs its check.

    The check runs in an isolated process whose parent is the Dask worker: losing that worker loses the batch.
    """

    name = "killer-toy"

    def check(self, case: dict[str, Any]) -> Verdict:
        folder = os.environ.get("TOY_KILL_ONCE_DIR")
        if folder and case["xs"][:1] == [7]:
            try:
                os.close(os.open(os.path.join(folder, "killed"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                pass
            else:
                os.kill(os.getppid(), signal.SIGKILL)
                time.sleep(5)  # dies with its parent (PR_SET_PDEATHSIG)
        return super().check(case)


class OomToyFuzzer(ToyFuzzer):
    """ToyFuzzer where some cases allocate 16 GB: under a worker memory limit they end in MemoryError."""

    name = "oom-toy"

    def generate(self, rng: random.Random) -> dict[str, Any]:
        case = super().generate(rng)
        if rng.random() < 0.05:
            case["blowup"] = 16384
        return case


class FlakyToyFuzzer(ToyFuzzer):
    """ToyFuzzer whose case {"once": PATH} fails the first time it is checked (it creates PATH), then passes."""

    name = "flaky-toy"

    def check(self, case: dict[str, Any]) -> Verdict:
        if case.get("once"):
            try:
                os.close(os.open(case["once"], os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return Verdict("pass")
            return Verdict("mismatch", "mismatch:once")
        return super().check(case)
