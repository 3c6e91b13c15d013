"""Generic greedy delta-debugging: keep the first smaller reduction with the same signature, restart from it.

A candidate whose worker hung or died (timeout, a signal, out of memory) while the target is another failure is
checked once more before it is rejected: such a death can be the machine's (a fork that inherited a lock some
other thread held, a loaded box), and a rejected candidate is never tried again, so a transient death would leave
the saved case larger than it has to be."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fuzz.case import Verdict, case_hash
from fuzz.registry import get_fuzzer
from fuzz.worker import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S, IsolatedChecker

CheckFn = Callable[[dict[str, Any]], Verdict]


def minimize(
    fuzzer_name: str,
    case: dict[str, Any],
    signature: str,
    check_fn: CheckFn | None = None,
    time_budget_s: float = 30.0,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_mb: int | None = DEFAULT_MEMORY_MB,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Shrink case while its check keeps `signature`; return the smallest case found and stats.

    check_fn defaults to checking the candidates in an isolated worker process (a new one after a crash or a hang),
    so crashing cases are safe.
    should_stop, polled between candidates, ends the search early (an interrupted campaign) like the budget does.
    """
    if check_fn is None:
        with IsolatedChecker(fuzzer_name, timeout_s, memory_mb) as checker:
            return minimize(fuzzer_name, case, signature, checker.check, time_budget_s, timeout_s, memory_mb,
                            should_stop)
    fuzzer = get_fuzzer(fuzzer_name)
    check = check_fn
    t0 = time.monotonic()
    deadline = t0 + time_budget_s
    current, current_size = case, fuzzer.size(case)
    size_before = current_size
    seen = {case_hash(case)}
    steps = tried = 0
    verdict: Verdict | None = None
    out_of_time = False
    improved = True
    while improved and not out_of_time:
        improved = False
        for candidate in fuzzer.reductions(current):
            if time.monotonic() >= deadline or (should_stop is not None and should_stop()):
                out_of_time = True
                break
            key = case_hash(candidate)
            if key in seen:
                continue
            seen.add(key)
            try:
                fuzzer.validate(candidate)
                candidate_size = fuzzer.size(candidate)
            except ValueError:
                continue  # the minimizer only ever keeps valid cases
            if candidate_size >= current_size:
                continue
            tried += 1
            result = check(candidate)
            if result.signature != signature and _worker_death(result):
                result = check(candidate)
            if result.signature == signature:
                current, current_size, verdict = candidate, candidate_size, result
                steps += 1
                improved = True
                break
    stats = {
        "size_before": size_before,
        "size_after": current_size,
        "steps": steps,
        "candidates": tried,
        "seconds": round(time.monotonic() - t0, 3),
        "out_of_time": out_of_time,
        "verdict": verdict.to_dict() if verdict is not None else None,
    }
    return current, stats


def _worker_death(verdict: Verdict) -> bool:
    """A hang or death of the checking process itself, not a failure the case's code raised."""
    return verdict.status == "timeout" and verdict.signature == "timeout" or verdict.signature.startswith(
        ("crash:SIG", "crash:signal", "crash:exit", "oom")
    )
