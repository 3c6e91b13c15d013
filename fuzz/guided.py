"""Coverage-guided campaigns: a seed pool of cases that reached new coverage, frozen per round, mutated.

The rule that keeps a guided campaign exactly repeatable with 1 or N workers (and across --resume): the cases of a
fuzzer run in rounds of `round_cases` case indices. A round's batches all carry the pool and the known coverage
keys as they were when the round began; the next round starts only once every case of this one is counted. Case i
of a round is a mutation of pool[j] or a fresh case, both drawn from case i's own random generator (a generated
case is the very case an unguided campaign has at that index). Case i joins the pool at the end of its round when
it reached a key that neither the known keys nor any case before i in the round reached; workers report each case
with the keys new to its batch, which is enough to decide that in index order whatever the batching.
"""

from __future__ import annotations

import copy
import random
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fuzz.base import Fuzzer

ROUND_CASES = 256  # case indices per round and fuzzer (a round ends at a barrier: every case of it counted)
MUTATE_SHARE = 0.5  # share of a guided round's cases that mutate a pool case (once the pool has one)
MAX_POOL = 512  # the pool keeps its newest cases
ARC_PREFIX = "arc:"  # coverage keys of branch coverage: arc:<from line>><to line> in the traced module


@dataclass(frozen=True)
class Guide:
    """What every batch of a guided round carries: the frozen pool, the keys known before the round."""

    round: int
    pool: tuple[dict[str, Any], ...]
    known: frozenset[str]
    branches: bool = False


def guided_case(
    fuzzer: Fuzzer, seed: int | str, index: int, rng: random.Random, guide: Guide
) -> tuple[dict[str, Any], int | None]:
    """Case `index` of a guided round and the pool index it mutates (None: generated); rng is the case's own."""
    if guide.pool:
        choose = random.Random(f"{seed}:{index}:guided")  # a generator of its own: rng stays the unguided case's
        if choose.random() < MUTATE_SHARE:
            j = choose.randrange(len(guide.pool))
            return fuzzer.mutate(copy.deepcopy(guide.pool[j]), rng), j
    return fuzzer.generate(rng), None


class GuidedRounds:
    """The coordinator's side: per fuzzer the current round, its pool and known keys, and the round's reports."""

    def __init__(self, fuzzers: list[str], round_cases: int = ROUND_CASES, branches: bool = False) -> None:
        if round_cases < 1:
            raise ValueError(f"a guided round needs at least 1 case, got {round_cases}")
        self.round_cases, self.branches = round_cases, branches
        self.round = dict.fromkeys(fuzzers, 0)
        self.pool: dict[str, list[dict[str, Any]]] = {name: [] for name in fuzzers}
        self.known: dict[str, set[str]] = {name: set() for name in fuzzers}
        self.reports: dict[str, dict[int, tuple[dict[str, Any], list[str]]]] = {name: {} for name in fuzzers}
        self.joined: dict[str, list[list[Any]]] = {name: [] for name in fuzzers}  # [round, case index, new keys]
        self._guides: dict[str, Guide] = {}

    def round_end(self, name: str) -> int:
        """First case index past the current round: no batch of this fuzzer may reach it before the round closes."""
        return (self.round[name] + 1) * self.round_cases

    def guide(self, name: str) -> Guide:
        """The (cached) guide of the current round's batches."""
        guide = self._guides.get(name)
        if guide is None or guide.round != self.round[name]:
            guide = Guide(self.round[name], tuple(self.pool[name]), frozenset(self.known[name]), self.branches)
            self._guides[name] = guide
        return guide

    def report(self, name: str, index: int, case: dict[str, Any], keys: list[str]) -> None:
        """A case of the current round reached keys its batch had not seen (a re-run batch reports the same)."""
        self.reports[name][index] = (case, keys)

    def maybe_close(self, name: str, frontier: int) -> bool:
        """Close the round once every case below its end is counted (frontier: the lowest index maybe unchecked)."""
        if frontier < self.round_end(name):
            return False
        known, pool = self.known[name], self.pool[name]
        for index in sorted(self.reports[name]):
            case, keys = self.reports[name][index]
            new = sorted(set(keys) - known)
            if new:
                known.update(new)
                pool.append(case)
                self.joined[name].append([self.round[name], index, new])
        del pool[:-MAX_POOL]
        self.reports[name].clear()
        self.round[name] += 1
        return True

    def state(self) -> dict[str, Any]:
        """What --resume needs (JSON): rounds, pools, known keys, the current rounds' reports."""
        return {
            "round_cases": self.round_cases,
            "branches": self.branches,
            "fuzzers": {
                name: {
                    "round": self.round[name],
                    "pool": self.pool[name],
                    "known": sorted(self.known[name]),
                    "reports": [[i, case, keys] for i, (case, keys) in sorted(self.reports[name].items())],
                    "joined": self.joined[name],
                }
                for name in self.round
            },
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], fuzzers: list[str]) -> GuidedRounds:
        """The rounds a checkpoint's state describes."""
        rounds = cls(fuzzers, int(state["round_cases"]), bool(state.get("branches")))
        for name, saved in state.get("fuzzers", {}).items():
            if name not in rounds.round:
                continue
            rounds.round[name] = int(saved["round"])
            rounds.pool[name] = list(saved["pool"])
            rounds.known[name] = set(saved["known"])
            rounds.reports[name] = {int(i): (case, list(keys)) for i, case, keys in saved["reports"]}
            rounds.joined[name] = list(saved.get("joined", []))
        return rounds

    def summary(self) -> dict[str, Any]:
        """The report's view: rounds, pool sizes, cases that joined, and the branch coverage when traced."""
        out: dict[str, Any] = {
            "round_cases": self.round_cases,
            "fuzzers": {
                name: {"rounds": self.round[name], "pool": len(self.pool[name]), "joined": len(self.joined[name])}
                for name in self.round
            },
        }
        if self.branches:
            arcs = {k for name in self.known for k in self.known[name] if k.startswith(ARC_PREFIX)}
            out["branch_coverage"] = branch_summary(arcs)
        return out


# ---------------------------------------------------------------------------------------------------------------
# Branch coverage of engine/symbolic.py: sys.settrace, limited to that file's frames (Python 3.11 has no
# sys.monitoring). Arcs are (line, next line) pairs inside one frame; entry and exit are lines 0 and -1.


def traced_file() -> str:
    """The file whose branches are traced (engine/symbolic.py)."""
    import engine.symbolic

    return str(Path(engine.symbolic.__file__).resolve())


class ArcTracer:
    """Records the arcs executed in one file's functions; everything else runs untraced after one call event."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.arcs: set[tuple[int, int]] = set()
        self._codes: dict[types.CodeType, bool] = {}

    def _global(self, frame: types.FrameType, event: str, arg: Any) -> Any:
        code = frame.f_code
        mine = self._codes.get(code)
        if mine is None:
            mine = self._codes[code] = code.co_filename == self.filename
        if not mine:
            return None
        last = [0]
        arcs = self.arcs

        def local(frame: types.FrameType, event: str, arg: Any) -> Any:
            if event == "line":
                arcs.add((last[0], frame.f_lineno))
                last[0] = frame.f_lineno
            elif event == "return":
                arcs.add((last[0], -1))
            return local

        return local

    @contextmanager
    def tracing(self) -> Iterator[None]:
        """Trace while inside (restores the previous trace function)."""
        previous = sys.gettrace()
        sys.settrace(self._global)
        try:
            yield
        finally:
            sys.settrace(previous)

    def take(self) -> list[str]:
        """The arcs since the last call, as coverage keys; resets them."""
        keys = [f"{ARC_PREFIX}{a}>{b}" for a, b in self.arcs]
        self.arcs = set()
        return keys


def executable_lines(filename: str) -> set[int]:
    """Lines of the file's compiled code (every nested function's too)."""
    source = Path(filename).read_text(encoding="utf-8")
    lines: set[int] = set()
    stack = [compile(source, filename, "exec")]
    while stack:
        code = stack.pop()
        lines.update(line for _, _, line in code.co_lines() if line is not None)
        stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return lines


def branch_summary(arc_keys: set[str]) -> dict[str, Any]:
    """Lines and arcs reached in the traced file, from arc keys."""
    filename = traced_file()
    lines_hit = {int(k[len(ARC_PREFIX) :].split(">")[1]) for k in arc_keys} - {-1}
    total = executable_lines(filename)
    reached = lines_hit & total
    return {
        "file": "engine/symbolic.py",
        "arcs": len(arc_keys),
        "lines": len(reached),
        "lines_total": len(total),
        "line_percent": round(100.0 * len(reached) / len(total), 1) if total else 0.0,
    }
