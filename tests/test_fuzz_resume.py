"""Campaigns that survive: kill -9 mid-run, then `fuzz run --resume` finishes the same campaign; per-worker limits."""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from toy_fuzzer import SlowToyFuzzer, ToyFuzzer

from fuzz.case import STATUSES
from fuzz.cli import main
from fuzz.corpus import load_entry
from fuzz.registry import register
from fuzz.worker import check_case, generate_case

TESTS = Path(__file__).resolve().parent
DEADLINE_S = 120.0
CASES, SEED = 4000, 3

register("slow-toy", "toy_fuzzer:SlowToyFuzzer")
register("toy", "toy_fuzzer:ToyFuzzer")
register("crashy-toy", "toy_fuzzer:CrashyToyFuzzer")
register("oom-toy", "toy_fuzzer:OomToyFuzzer")


def _env():
    path = os.pathsep.join([str(TESTS.parent), str(TESTS), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "UOPFUZZ_FUZZERS": "slow-toy=toy_fuzzer:SlowToyFuzzer", "PYTHONPATH": path}


def _fuzz(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "fuzz", *args], env=_env(), text=True, **kw)


def _expected():
    """Counts and failures of the whole campaign, computed here case by case (no sleep, no isolation)."""
    gen, fast = SlowToyFuzzer(), ToyFuzzer()
    counts, failures = Counter(), []
    for i in range(CASES):
        verdict = check_case(fast, generate_case(gen, SEED, i))
        counts[verdict.status] += 1
        if verdict.status not in ("pass", "invalid"):
            failures.append((i, verdict.signature))
    return {s: counts.get(s, 0) for s in STATUSES}, failures


def _wait_for(predicate, what, proc):
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc.poll() is not None:
            raise AssertionError(f"campaign exited ({proc.returncode}) before {what}")
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _checkpoint(reports):
    paths = list(reports.glob("*/summary.json"))
    try:
        return json.loads(paths[0].read_text()) if paths else None
    except (OSError, ValueError):
        return None


def test_kill_9_then_resume_checks_every_case_once_and_saves_each_finding_once(tmp_path):
    corpus, reports = tmp_path / "corpus", tmp_path / "r"
    proc = _fuzz(
        "run",
        "slow-toy",
        "--cases",
        str(CASES),
        "--seed",
        str(SEED),
        "--workers",
        "2",
        "--no-progress",
        "--minimize-seconds",
        "2",
        "--corpus",
        str(corpus),
        "--report",
        str(reports),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    first = _wait_for(
        lambda: (s := _checkpoint(reports)) and s["cases"] > 0 and s["findings"] and s, "a checkpoint", proc
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait(DEADLINE_S)
    before = _checkpoint(reports)
    assert not before["complete"] and 0 < before["cases"] < CASES, "the kill came too late to test a resume"
    saved = {f["signature"]: f["corpus_path"] for f in first["findings"]}
    folder = reports / before["campaign_id"]

    done = _fuzz("run", "--resume", str(folder), "--json", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = done.communicate(timeout=DEADLINE_S)
    assert done.returncode == 1, err  # the campaign's new findings
    summary = json.loads(out)
    counts, failures = _expected()
    assert summary["complete"] and summary["resumed"] == 1 and summary["seed"] == SEED
    assert summary["cases"] == CASES and summary["counts"] == counts  # every case counted exactly once
    assert [(f["case_index"], f["signature"]) for f in summary["failures"]] == failures
    first_of = {}
    for index, signature in failures:
        first_of.setdefault(signature, index)
    assert {f["signature"]: f["case_index"] for f in summary["findings"]} == first_of  # each once, the first case
    assert summary["duplicates"] == len(failures) - len(first_of) and summary["flaky"] == 0
    files = sorted((corpus / "slow-toy").glob("*.json"))
    assert len(files) == len(first_of)  # no finding saved twice
    assert {load_entry(p)["signature"] for p in files} == set(first_of)
    for signature, path in saved.items():  # what the killed run saved is still there
        assert load_entry(path)["signature"] == signature
    assert json.loads((folder / "summary.json").read_text())["complete"]


def test_resume_refuses_a_complete_campaign_and_a_budget(tmp_path, capsys):
    args = ["--corpus", str(tmp_path / "c"), "--report", str(tmp_path / "r"), "--json"]
    assert main(["run", "toy", "--cases", "50", "--seed", "1", "--minimize-seconds", "0", *args]) == 1
    folder = tmp_path / "r" / json.loads(capsys.readouterr().out)["campaign_id"]
    assert main(["run", "--resume", str(folder)]) == 2
    assert "is complete; nothing to resume" in capsys.readouterr().err
    assert main(["run", "--resume", str(folder), "--cases", "10"]) == 2
    assert "give none" in capsys.readouterr().err
    assert main(["run", "--resume", str(tmp_path / "nothing")]) == 2
    assert "no such report summary" in capsys.readouterr().err


def test_resume_continues_an_interrupted_campaign_from_its_report(tmp_path, capsys):
    """A checkpoint as Ctrl-C leaves it: resumed, the campaign ends with exactly the cases a full run has."""
    args = ["--corpus", str(tmp_path / "c"), "--report", str(tmp_path / "r"), "--minimize-seconds", "0", "--json"]
    assert main(["run", "toy", "--cases", "300", "--seed", "5", *args]) == 1
    full = json.loads(capsys.readouterr().out)
    for path in (tmp_path / "c" / "toy").glob("*.json"):
        path.unlink()
    summary_path = tmp_path / "r" / full["campaign_id"] / "summary.json"
    cut = dict(
        full,
        cases=0,
        counts=dict.fromkeys(STATUSES, 0),
        failures=[],
        findings=[],
        duplicates=0,
        per_fuzzer={"toy": {"cases": 0, **dict.fromkeys(STATUSES, 0), "findings": 0}},
        interrupted=True,
        interrupted_by="SIGINT",
        resume={"progress": {"toy": {"next": 100, "pending": [[0, 100]]}}, "untriaged": []},
    )
    summary_path.write_text(json.dumps(cut))
    assert main(["run", "--resume", str(summary_path.parent), "--json", "--workers", "2"]) == 1
    resumed = json.loads(capsys.readouterr().out)
    assert resumed["cases"] == 300 and resumed["counts"] == full["counts"] and resumed["workers"] == 2
    assert [f["signature"] for f in resumed["findings"]] == [f["signature"] for f in full["findings"]]
    assert resumed["failures"] == full["failures"] and not resumed["interrupted"]


def test_memory_limit_option_turns_a_blowup_into_an_oom_verdict(tmp_path, capsys):
    from fuzz.case import Verdict
    from fuzz.corpus import make_entry, save_entry

    args = ["--corpus", str(tmp_path / "c"), "--report", str(tmp_path / "r"), "--minimize-seconds", "0", "--json"]
    assert main(["run", "oom-toy", "--cases", "100", "--seed", "1", "--memory-mb", "1024", *args]) == 1
    summary = json.loads(capsys.readouterr().out)
    [oom] = [f for f in summary["findings"] if f["signature"].startswith("oom:")]
    assert oom["signature"] == "oom:MemoryError:toy_fuzzer.py:check" and oom["status"] == "crash"
    case = {"xs": [], "blowup": 16384}  # 16 GB
    path = save_entry(tmp_path, make_entry("toy", case, Verdict("crash", oom["signature"])))
    assert main(["repro", str(path), "--memory-mb", "1024", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["verdict"]["signature"] == oom["signature"]


def test_timeout_option_turns_a_hang_into_a_timeout_finding(tmp_path, capsys):
    args = ["--corpus", str(tmp_path / "c"), "--report", str(tmp_path / "r"), "--minimize-seconds", "0", "--json"]
    t0 = time.monotonic()
    assert main(["run", "crashy-toy", "--cases", "120", "--seed", "2", "--timeout", "0.3", *args]) == 1
    summary = json.loads(capsys.readouterr().out)
    hangs = [f for f in summary["findings"] if f["status"] == "timeout"]
    assert summary["counts"]["timeout"] >= 1 and hangs and hangs[0]["signature"] == "timeout"
    entry = load_entry(hangs[0]["corpus_path"])
    assert entry["verdict"]["details"]["timeout_s"] == 0.3 and entry["case"].get("hang")
    assert time.monotonic() - t0 < 60


def test_resume_triages_what_the_checkpoint_left_open_and_keeps_its_own_saved_entry(tmp_path, capsys):
    """Killed after saving a finding but before the checkpoint that lists it: resumed, the failure is triaged
    again, the entry it saved is its own (rewritten and minimized, not called "known"), and still one file."""
    args = ["--corpus", str(tmp_path / "c"), "--report", str(tmp_path / "r"), "--json"]
    assert main(["run", "toy", "--cases", "200", "--seed", "5", "--minimize-seconds", "0", *args]) == 1
    full = json.loads(capsys.readouterr().out)
    [finding] = full["findings"]
    path = Path(finding["corpus_path"])
    saved = load_entry(path)
    assert saved["case"] == generate_case(ToyFuzzer(), 5, finding["case_index"])  # as confirmed, not minimized
    summary_path = tmp_path / "r" / full["campaign_id"] / "summary.json"
    open_failure = ["toy", finding["case_index"], "mismatch", "mismatch:has13", False]
    cut = dict(
        full,
        findings=[],
        duplicates=0,
        complete=False,
        exit_code=None,
        resume={"progress": full["resume"]["progress"], "untriaged": [open_failure]},
    )
    cut["per_fuzzer"]["toy"]["findings"] = 0
    cut["settings"]["minimize_seconds"] = 5.0  # the killed campaign's budget: it was minimizing when killed
    summary_path.write_text(json.dumps(cut))
    assert main(["run", "--resume", str(summary_path.parent), "--json"]) == 1
    resumed = json.loads(capsys.readouterr().out)
    [again] = resumed["findings"]
    assert again["new"] and again["case_index"] == finding["case_index"] and again["minimized"]
    assert resumed["cases"] == 200 and resumed["counts"] == full["counts"]
    assert list(path.parent.iterdir()) == [path] and load_entry(path)["case"]["xs"] == [13]  # minimized in place


def test_worker_memory_limit_counts_writable_memory_not_reserved_address_space(tmp_path):
    """A worker's --memory-mb limit is on writable private memory (RLIMIT_DATA): a GPU driver's address-space
    reservation (cuInit maps tens of GB it never backs) must not fail under it, while an allocation past it must.
    Under the old RLIMIT_AS limit every campaign worker on a GPU host silently lost CUDA."""
    code = f"""
import mmap, os, sys
import numpy as np
from fuzz.worker import _set_up_worker
_set_up_worker(256, {str(tmp_path / 'stacks')!r}, os.getppid())
reserved = mmap.mmap(-1, 16 << 30, flags=mmap.MAP_PRIVATE, prot=0)  # PROT_NONE: 16 GB, never backed
try:
    np.ones(512 << 20, np.uint8)
except MemoryError:
    print("reserved ok, allocation refused")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "reserved ok, allocation refused", out.stderr[-2000:]
