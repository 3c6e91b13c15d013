"""Campaigns: determinism, the planted bug end to end, crashes and hangs in isolated workers, reports."""

import json
import os
import stat
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from toy_fuzzer import ToyFuzzer

from fuzz import campaign
from fuzz.campaign import run_campaign
from fuzz.corpus import list_entries, load_entry
from fuzz.errors import BadInputError
from fuzz.minimize import minimize
from fuzz.registry import register
from fuzz.worker import check_case, generate_case, run_isolated

register("toy", "toy_fuzzer:ToyFuzzer")
register("segv-toy", "toy_fuzzer:SegvToyFuzzer")
register("crashy-toy", "toy_fuzzer:CrashyToyFuzzer")
register("slowmin-toy", "toy_fuzzer:SlowMinimizeToyFuzzer")
register("undecided-toy", "toy_fuzzer:UndecidedToyFuzzer")


def test_case_generation_depends_only_on_seed_and_index():
    a, b = ToyFuzzer(), ToyFuzzer()
    assert [generate_case(a, 7, i) for i in range(50)] == [generate_case(b, 7, i) for i in reversed(range(50))][::-1]
    assert [generate_case(a, 7, i) for i in range(50)] != [generate_case(a, 8, i) for i in range(50)]


def test_same_seed_gives_same_cases_and_verdicts_with_one_or_two_workers(tmp_path):
    one, two = [
        run_campaign(
            ["segv-toy", "toy"],
            cases=400,
            seed=5,
            workers=n,
            corpus_dir=tmp_path / str(n),
            report_dir=None,
            minimize_seconds=0,
        )
        for n in (1, 2)
    ]
    assert one.cases == two.cases == 400
    assert one.counts == two.counts
    assert one.per_fuzzer == two.per_fuzzer
    assert one.failures == two.failures
    assert {f.signature for f in one.findings} == {f.signature for f in two.findings}
    assert [(f.fuzzer, f.signature, f.case_index) for f in one.findings] == [
        (f.fuzzer, f.signature, f.case_index) for f in two.findings
    ]
    assert one.counts["crash"] > 0 and one.counts["invalid"] > 0


def test_workers_that_grew_retire_after_their_batch_and_no_case_is_lost_or_counted_twice(tmp_path, monkeypatch):
    from fuzz import worker

    def run(name: str):
        return run_campaign(["segv-toy", "toy"], cases=300, seed=6, workers=2, corpus_dir=tmp_path / name,
                            report_dir=None, minimize_seconds=0)

    kept = run("kept")
    retired = []
    retire = worker.WorkerPool._retire
    monkeypatch.setattr(worker.WorkerPool, "_retire", lambda self, slot: (retired.append(slot), retire(self, slot)))
    monkeypatch.setattr(worker, "RETIRE_GROWTH_MB", 0)  # every worker retires after every batch
    fresh = run("fresh")
    assert len(retired) >= 4
    assert fresh.cases == kept.cases == 300
    assert (fresh.counts, fresh.per_fuzzer, fresh.failures) == (kept.counts, kept.per_fuzzer, kept.failures)
    assert [(f.fuzzer, f.signature, f.case_index) for f in fresh.findings] == [
        (f.fuzzer, f.signature, f.case_index) for f in kept.findings
    ]
    assert fresh.worker_respawns == kept.worker_respawns  # a retirement is not counted as a death


def test_campaign_finds_confirms_minimizes_and_saves_planted_bug(tmp_path):
    result = run_campaign(
        ["toy"],
        cases=300,
        seed=1,
        workers=2,
        corpus_dir=tmp_path / "corpus",
        report_dir=tmp_path / "reports",
        minimize_seconds=60,
    )
    assert result.exit_code == 1
    [finding] = result.findings
    assert (finding.status, finding.signature, finding.new) == ("mismatch", "mismatch:has13", True)
    assert finding.duplicates == result.counts["mismatch"] - 1
    assert finding.size_after == 14 < finding.size_before
    entry = load_entry(finding.corpus_path)
    assert entry["case"] == {"xs": [13]}
    assert entry["signature"] == "mismatch:has13" and entry["verdict"]["status"] == "mismatch"
    assert entry["seed"] == 1 and entry["case_index"] == finding.case_index
    assert (entry["size_before"], entry["size_after"]) == (finding.size_before, 14)
    assert "mismatch:has13" in entry["reproducer"] and entry["created"].endswith("+00:00")


def test_second_campaign_reports_saved_bug_as_known(tmp_path):
    corpus = tmp_path / "corpus"
    first = run_campaign(["toy"], cases=200, seed=1, corpus_dir=corpus, report_dir=None, minimize_seconds=5)
    second = run_campaign(["toy"], cases=200, seed=2, corpus_dir=corpus, report_dir=None, minimize_seconds=5)
    assert first.exit_code == 1 and second.exit_code == 0
    [known] = second.findings
    assert not known.new and known.corpus_path == first.findings[0].corpus_path
    assert len(list_entries(corpus)) == 1


def test_segfault_and_hang_are_recorded_as_crash_and_timeout_and_campaign_finishes(tmp_path):
    result = run_campaign(
        ["crashy-toy"],
        cases=150,
        seed=3,
        workers=2,
        corpus_dir=tmp_path / "corpus",
        report_dir=tmp_path / "reports",
        timeout_s=0.3,
        minimize_seconds=60,  # ends as soon as nothing shrinks; the budget only matters on a slow machine
    )
    assert result.cases == 150
    assert result.counts["timeout"] >= 1 and result.counts["crash"] >= 1
    signatures = {f.signature: f for f in result.findings}
    assert {"crash:SIGSEGV", "timeout", "exception:ZeroDivisionError:toy_fuzzer.py:check"} <= set(signatures)
    assert signatures["crash:SIGSEGV"].status == "crash" and signatures["timeout"].status == "timeout"
    assert load_entry(signatures["crash:SIGSEGV"].corpus_path)["case"] == {"xs": [], "segv": True}
    assert result.worker_respawns >= result.counts["timeout"]


@pytest.mark.parametrize("package,where", [("oracles", ":reference"), ("engine", "")])
def test_a_worker_that_dies_inside_a_reference_is_signed_as_the_reference(tmp_path, package, where):
    """onnxruntime aborting in a session's run killed the worker like an engine crash (crash:SIGABRT); the
    faulthandler stack says where: the innermost of the project's frames in oracles/ signs it :reference."""
    import subprocess
    import sys

    from fuzz.worker import crash_verdict

    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "dies.py").write_text("import os\n\ndef run():\n    os.abort()\n")
    (tmp_path / "fuzz").mkdir(exist_ok=True)
    (tmp_path / "fuzz" / "__init__.py").write_text("")
    (tmp_path / "fuzz" / "check.py").write_text(f"from {package}.dies import run\n\ndef check():\n    run()\n")
    stack = tmp_path / "stack.txt"
    code = ("import faulthandler, sys, threading, time; f = open(sys.argv[1], 'w'); faulthandler.enable(f); "
            "threading.Thread(target=time.sleep, args=(5,), daemon=True).start(); "
            "import fuzz.check; fuzz.check.check()")
    proc = subprocess.run([sys.executable, "-c", code, str(stack)], cwd=tmp_path, capture_output=True)
    assert proc.returncode < 0
    v = crash_verdict(proc.returncode, stack.read_text())
    assert v.signature == f"crash:SIGABRT{where}", (v.signature, stack.read_text())
    assert crash_verdict(-11, "").signature == "crash:SIGSEGV"


def test_exception_in_check_becomes_crash_naming_type_and_innermost_frame():
    verdict = check_case(ToyFuzzer(), {"xs": [], "boom": True})
    assert verdict.status == "crash"
    assert verdict.signature == "exception:ZeroDivisionError:toy_fuzzer.py:check"
    assert "Traceback" in verdict.details["traceback"]


def test_isolated_check_survives_segfault_hang_and_memory_blowup():
    assert run_isolated("toy", {"xs": [13]}).signature == "mismatch:has13"
    assert run_isolated("toy", {"xs": [], "segv": True}).signature == "crash:SIGSEGV"
    assert run_isolated("toy", {"xs": [], "hang": True}, timeout_s=0.3).status == "timeout"
    blowup = run_isolated("toy", {"xs": [], "blowup": 16384}, memory_mb=2048)
    assert blowup.status == "crash" and "MemoryError" in blowup.signature


def test_seconds_budget_stops_the_campaign(tmp_path):
    result = run_campaign(["toy"], seconds=1.0, seed=0, corpus_dir=tmp_path, report_dir=None, minimize_seconds=0)
    assert result.cases > 0
    assert result.elapsed < 60  # about 1 s; a loaded machine may take longer to stop its workers, not a minute


def test_case_budget_is_split_between_fuzzers_round_robin(tmp_path):
    result = run_campaign(
        ["toy", "segv-toy"], cases=101, seed=0, corpus_dir=tmp_path, report_dir=None, minimize_seconds=0
    )
    assert result.per_fuzzer["toy"]["cases"] == 51 and result.per_fuzzer["segv-toy"]["cases"] == 50


def test_summary_json_and_junit_have_the_report_fields(tmp_path):
    result = run_campaign(
        ["toy"], cases=200, seed=1, corpus_dir=tmp_path / "corpus", report_dir=tmp_path / "r", minimize_seconds=5
    )
    summary = json.loads((tmp_path / "r" / result.campaign_id / "summary.json").read_text())
    for key in (
        "fuzzers",
        "seed",
        "budget",
        "cases",
        "cases_per_s",
        "elapsed",
        "counts",
        "timeouts",
        "flaky",
        "findings",
        "per_fuzzer",
        "coverage",
        "rules_hit",
    ):
        assert key in summary, key
    assert summary["budget"] == {"seconds": None, "cases": 200}
    assert set(summary["counts"]) == {"pass", "mismatch", "crash", "timeout", "invalid"}
    assert summary["coverage"]["checked"] == 200 and summary["rules_hit"] == 2
    [finding] = summary["findings"]
    assert {"signature", "status", "new", "corpus_path", "size_before", "size_after"} <= set(finding)
    suite = ET.parse(tmp_path / "r" / result.campaign_id / "junit.xml").getroot()
    assert suite.get("failures") == "1"
    assert suite.find("testcase/failure") is not None


def test_run_campaign_rejects_missing_budget(tmp_path):
    with pytest.raises(ValueError, match="budget"):
        run_campaign(["toy"], corpus_dir=tmp_path, report_dir=None)


def test_generation_goes_on_while_a_finding_is_minimized(tmp_path):
    from toy_fuzzer import SlowMinimizeToyFuzzer

    SlowMinimizeToyFuzzer.reduction_times.clear()
    t0 = time.monotonic()
    # generous budgets: on a loaded machine each isolated check of a reduction may take a good part of a second
    result = run_campaign(["slowmin-toy"], seconds=8.0, seed=1, corpus_dir=tmp_path, report_dir=None,
                          minimize_seconds=4.0)
    assert result.findings and result.findings[0].new
    times = SlowMinimizeToyFuzzer.reduction_times
    # every case with a 13 has at least 4 reductions, 0.4 s apart: the window spans >= 2 timeline samples (0.5 s)
    assert len(times) >= 4
    start, end = times[0] - t0, times[-1] - t0
    during = [s["cases"] for s in result.timeline if start <= s["t"] <= end]
    assert len(during) >= 2 and during[-1] > during[0]  # the workers kept fuzzing meanwhile
    assert result.triage_seconds >= 0.2


def test_inconclusive_verdicts_are_counted_but_are_not_findings(tmp_path):
    result = run_campaign(["undecided-toy"], cases=300, seed=3, corpus_dir=tmp_path, report_dir=None,
                          minimize_seconds=0)
    assert result.inconclusive > 0 and result.counts["timeout"] == result.inconclusive
    assert not result.findings and result.exit_code == 0 and not list_entries(tmp_path)
    assert result.to_dict()["inconclusive"] == result.inconclusive


class NonFiniteToyFuzzer(ToyFuzzer):
    """ToyFuzzer whose mismatches report non-finite numbers in their details."""

    def check(self, case):
        verdict = super().check(case)
        verdict.details.update(max_error=float("inf"), ratio=float("nan"), low=float("-inf"))
        return verdict


register("nonfinite-toy", "test_fuzz_campaign:NonFiniteToyFuzzer")


def _strict_load(path):
    def refuse(name):
        raise AssertionError(f"{path} is not strict JSON: {name}")

    return json.loads(Path(path).read_text(), parse_constant=refuse)


def test_every_json_written_is_strict_with_non_finite_numbers_as_strings(tmp_path):
    result = run_campaign(["nonfinite-toy"], cases=200, seed=1, corpus_dir=tmp_path / "c", report_dir=tmp_path / "r",
                          minimize_seconds=0)
    summary = _strict_load(tmp_path / "r" / result.campaign_id / "summary.json")
    [finding] = summary["findings"]
    details = _strict_load(finding["corpus_path"])["verdict"]["details"]
    assert (details["max_error"], details["ratio"], details["low"]) == ("Infinity", "NaN", "-Infinity")


@pytest.mark.parametrize("seconds", [float("nan"), float("inf"), -1.0, 0.0])
def test_non_finite_or_negative_budgets_are_rejected(tmp_path, seconds):
    with pytest.raises(ValueError, match="finite positive"):
        run_campaign(["toy"], seconds=seconds, corpus_dir=tmp_path, report_dir=None)


@pytest.mark.parametrize("which", ["corpus", "report"])
def test_unwritable_corpus_or_report_folder_fails_before_fuzzing_naming_it(tmp_path, which):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    folders = {"corpus_dir": tmp_path / "corpus", "report_dir": tmp_path / "reports"}
    folders[f"{which}_dir"] = blocker / "sub"
    t0 = time.monotonic()
    with pytest.raises(BadInputError, match=f"{which} directory {blocker / 'sub'}"):
        run_campaign(["toy"], seconds=600, **folders)
    assert time.monotonic() - t0 < 60  # not after the budget
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").iterdir())


def test_a_finding_that_cannot_be_saved_is_kept_in_the_report(tmp_path, monkeypatch, capsys):
    def disk_full(path, entry):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(campaign, "write_entry", disk_full)
    result = run_campaign(["toy"], cases=200, seed=1, corpus_dir=tmp_path / "c", report_dir=tmp_path / "r",
                          minimize_seconds=5)
    assert result.exit_code == 1
    summary = _strict_load(tmp_path / "r" / result.campaign_id / "summary.json")
    [finding] = summary["findings"]
    assert "No space left" in finding["save_error"] and 13 in finding["case"]["xs"]
    assert "cannot save finding mismatch:has13" in capsys.readouterr().err
    assert "NOT SAVED" in (tmp_path / "r" / result.campaign_id / "junit.xml").read_text()


def test_the_confirmed_case_is_in_the_corpus_before_minimization_starts(tmp_path, monkeypatch):
    seen = []

    def spy_minimize(name, case, signature, **kwargs):
        [entry] = list_entries(tmp_path / "c")
        seen.append(entry[1]["case"])
        return minimize(name, case, signature, **kwargs)

    monkeypatch.setattr(campaign, "minimize", spy_minimize)
    result = run_campaign(["toy"], cases=300, seed=1, corpus_dir=tmp_path / "c", report_dir=None,
                          minimize_seconds=60)
    [finding] = result.findings
    assert seen and seen[0] != {"xs": [13]} and 13 in seen[0]["xs"]  # saved as confirmed, not yet minimized
    assert load_entry(finding.corpus_path)["case"] == {"xs": [13]} and finding.minimized  # then replaced


def test_an_internal_error_still_writes_the_report_and_has_exit_status_3(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("harness bug")

    monkeypatch.setattr(campaign, "minimize", broken)
    with pytest.raises(RuntimeError, match="harness bug"):
        run_campaign(["toy"], cases=200, seed=1, corpus_dir=tmp_path / "c", report_dir=tmp_path / "r",
                     minimize_seconds=5)
    [path] = (tmp_path / "r").glob("*/summary.json")
    summary = _strict_load(path)
    assert summary["exit_code"] == 3 and "harness bug" in summary["error"] and summary["complete"]


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_report_and_corpus_files_get_the_umask_mode(tmp_path, umask):
    old = os.umask(umask)
    try:
        result = run_campaign(["toy"], cases=100, seed=1, corpus_dir=tmp_path / "c", report_dir=tmp_path / "r",
                              minimize_seconds=0)
    finally:
        os.umask(old)
    files = [Path(result.findings[0].corpus_path), *(tmp_path / "r" / result.campaign_id).iterdir()]
    assert len(files) == 4
    assert {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o666 & ~umask}
