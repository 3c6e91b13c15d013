"""The generic minimizer: greedy over reductions, same signature only, within its time budget."""

from toy_fuzzer import ToyFuzzer

from fuzz.case import Verdict
from fuzz.minimize import minimize
from fuzz.registry import register
from fuzz.worker import check_case

register("toy", "toy_fuzzer:ToyFuzzer")


def _in_process(case):
    return check_case(ToyFuzzer(), case)


def test_minimize_shrinks_planted_bug_to_single_13():
    case, stats = minimize("toy", {"xs": [20, 4, 13, 17, 9]}, "mismatch:has13", check_fn=_in_process)
    assert case == {"xs": [13]}
    assert (stats["size_before"], stats["size_after"]) == (68, 14)
    assert stats["steps"] == 4 and stats["candidates"] >= stats["steps"]
    assert stats["verdict"]["signature"] == "mismatch:has13" and not stats["out_of_time"]


def test_minimize_only_accepts_candidates_with_the_same_signature():
    def check(case):  # a different failure below two elements: the minimizer must not cross over to it
        if len(case["xs"]) < 2:
            return Verdict("mismatch", "mismatch:short")
        return Verdict("mismatch", "mismatch:has13") if 13 in case["xs"] else Verdict("pass")

    case, stats = minimize("toy", {"xs": [5, 13, 8, 2]}, "mismatch:has13", check_fn=check)
    assert case == {"xs": [13, 0]}
    assert stats["size_after"] == 15


def test_minimize_returns_original_case_when_budget_is_zero():
    case, stats = minimize("toy", {"xs": [13, 1]}, "mismatch:has13", check_fn=_in_process, time_budget_s=0)
    assert case == {"xs": [13, 1]} and stats["steps"] == 0 and stats["out_of_time"]


def test_minimize_returns_case_unchanged_when_no_reduction_keeps_the_failure():
    case, stats = minimize("toy", {"xs": [13]}, "mismatch:has13", check_fn=_in_process)
    assert case == {"xs": [13]} and stats["steps"] == 0 and stats["verdict"] is None


def test_minimize_checks_segfaulting_candidates_in_isolation_by_default():
    case, stats = minimize("toy", {"xs": [5, 7], "segv": True}, "crash:SIGSEGV", time_budget_s=20)
    assert case == {"xs": [], "segv": True}
    assert stats["size_after"] == 0 and stats["verdict"]["status"] == "crash"


def test_a_worker_death_is_checked_again_before_the_candidate_is_rejected():
    # the first check of {"xs": [13]} hangs (a fork that inherited a held lock, a loaded box): rejected for good,
    # the saved case would keep an element it does not need
    hung = []

    def check(case):
        if case == {"xs": [13]} and not hung:
            hung.append(case)
            return Verdict("timeout", "timeout", {"timeout_s": 10})
        return _in_process(case)

    case, stats = minimize("toy", {"xs": [20, 13]}, "mismatch:has13", check_fn=check)
    assert hung and case == {"xs": [13]}


def test_a_failure_the_case_raises_is_not_checked_twice():
    calls = []

    def check(case):
        calls.append(case)
        if case["xs"] == [13]:
            return Verdict("crash", "exception:ValueError:x.py:f")
        return _in_process(case)

    case, _ = minimize("toy", {"xs": [20, 13]}, "mismatch:has13", check_fn=check)
    assert case["xs"] != [13]  # rejected: it fails another way
    assert calls.count({"xs": [13]}) == 1


def test_isolated_checker_keeps_one_worker_and_replaces_it_after_a_crash_or_a_hang():
    from fuzz.worker import IsolatedChecker

    with IsolatedChecker("toy", timeout_s=2.0) as checker:
        assert checker.check({"xs": [13]}).signature == "mismatch:has13"
        pid = checker.proc.pid
        assert checker.check({"xs": [1, 2]}).status == "pass" and checker.proc.pid == pid  # the same process
        assert checker.check({"xs": [], "segv": True}).signature == "crash:SIGSEGV"
        assert checker.proc is None  # the dead worker is gone; the next case starts another
        assert checker.check({"xs": [13]}).signature == "mismatch:has13" and checker.proc.pid != pid
        assert checker.check({"xs": [], "hang": True}).status == "timeout"
        assert checker.check({"xs": [2]}).status == "pass"
        pid = checker.proc.pid
        for _ in range(checker.CHECKS_PER_WORKER):  # a bounded number of cases a worker, then a fresh one
            assert checker.check({"xs": [2]}).status == "pass"
        assert checker.proc.pid != pid
    assert checker.proc is None
