"""Interrupted campaigns: Ctrl-C, SIGTERM and kill -9 never lose a confirmed finding nor leave a worker behind.

Every wait here polls for a file or a process with a generous deadline, never a fixed sleep: a loaded machine only
makes these tests slower, not red.
"""

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from fuzz.corpus import load_entry

TESTS = Path(__file__).resolve().parent
DEADLINE_S = 120.0  # for things that take well under a second on an idle machine


def _env():
    fuzzers = "slowmin-toy=toy_fuzzer:SlowMinimizeToyFuzzer,crashy-toy=toy_fuzzer:CrashyToyFuzzer"
    path = os.pathsep.join([str(TESTS.parent), str(TESTS), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "UOPFUZZ_FUZZERS": fuzzers, "PYTHONPATH": path}


def _start(tmp_path, fuzzer="slowmin-toy", *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "fuzz", "run", fuzzer, "--seconds", "600", "--seed", "1", "--no-progress",
         "--corpus", str(tmp_path / "corpus"), "--report", str(tmp_path / "r"), *extra],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(predicate, what, proc=None, timeout=DEADLINE_S):
    """Poll predicate until it returns something true; fail naming `what` after timeout (or if proc exits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"campaign exited ({proc.returncode}) before {what}: {proc.stderr.read()}")
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _summary(tmp_path):
    """The campaign's summary.json as written so far (None until there is one)."""
    paths = list((tmp_path / "r").glob("*/summary.json"))
    return json.loads(paths[0].read_text()) if paths else None


def _finding_under_minimization(tmp_path, proc):
    """Wait until the checkpoint lists a confirmed finding that is still being minimized; return that summary."""
    return wait_for(
        lambda: (s := _summary(tmp_path)) and s["findings"] and not s["findings"][0]["minimized"] and s,
        "a confirmed finding under minimization",
        proc,
    )


def _assert_finding_saved(summary):
    [finding] = summary["findings"]
    entry = load_entry(finding["corpus_path"])
    assert entry["signature"] == "mismatch:has13" and 13 in entry["case"]["xs"]
    return entry


def test_ctrl_c_during_triage_stops_promptly_and_writes_the_report(tmp_path):
    proc = _start(tmp_path)
    _finding_under_minimization(tmp_path, proc)  # its slow minimization (0.4 s per reduction) is under way
    proc.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    rc = proc.wait(timeout=DEADLINE_S)
    assert time.monotonic() - t0 < 60  # not the 600 s budget, nor the 30 s minimization budget on top
    summary = _summary(tmp_path)
    assert rc == 130 and summary["exit_code"] == 130 and summary["complete"]
    assert summary["interrupted"] and summary["interrupted_by"] == "SIGINT" and summary["cases"] > 0
    assert (tmp_path / "r" / summary["campaign_id"] / "report.html").exists()
    _assert_finding_saved(summary)


def test_sigterm_is_handled_like_ctrl_c_and_the_junit_file_says_so(tmp_path):
    proc = _start(tmp_path)
    _finding_under_minimization(tmp_path, proc)
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=DEADLINE_S)
    summary = _summary(tmp_path)
    assert rc == 143 and summary["exit_code"] == 143
    assert summary["interrupted"] and summary["interrupted_by"] == "SIGTERM"
    _assert_finding_saved(summary)
    suite = ET.parse(tmp_path / "r" / summary["campaign_id"] / "junit.xml").getroot()
    assert suite.get("errors") == "1" and "SIGTERM" in suite.find("testcase/error").get("message")
    properties = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert properties["interrupted"] == "true" and properties["exit_code"] == "143"


def test_kill_9_while_minimizing_keeps_the_confirmed_finding_and_a_readable_partial_report(tmp_path):
    proc = _start(tmp_path)
    _finding_under_minimization(tmp_path, proc)
    proc.kill()
    proc.wait(timeout=DEADLINE_S)
    summary = _summary(tmp_path)  # the last checkpoint: strict JSON, says it is partial
    assert summary["complete"] is False and summary["exit_code"] is None and summary["cases"] > 0
    entry = _assert_finding_saved(summary)
    assert entry["size_before"] == summary["findings"][0]["size_before"]
    suite = ET.parse(tmp_path / "r" / summary["campaign_id"] / "junit.xml").getroot()
    assert suite.get("errors") == "1" and suite.get("failures") == "1"


def _children(pid):
    """Pids of the live descendants of pid (from /proc)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            parents[int(stat.parent.name)] = int(fields[1])
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        kids = [p for p, pp in parents.items() if pp == parent]
        found.update(kids)
        todo.extend(kids)
    return found


def _alive(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_workers_die_with_a_killed_campaign(tmp_path):
    if not Path("/proc/self/stat").exists():
        import pytest

        pytest.skip("needs /proc")
    proc = _start(tmp_path, "crashy-toy", "--workers", "2", "--timeout", "0.5")
    workers = wait_for(lambda: len(kids := _children(proc.pid)) >= 2 and kids, "two workers", proc)
    wait_for(lambda: (s := _summary(tmp_path)) and s["counts"]["crash"] > 0, "a crashed worker", proc)
    workers |= _children(proc.pid)
    proc.kill()
    proc.wait(timeout=DEADLINE_S)
    wait_for(lambda: not any(_alive(pid) for pid in workers), "the workers to die")


def test_a_worker_whose_parent_is_already_gone_exits_at_once(tmp_path):
    """The race prctl alone leaves open: the campaign dies between fork and PR_SET_PDEATHSIG."""
    from fuzz.worker import _context, _worker_main

    ctx = _context()
    parent_end, child_end = ctx.Pipe()
    index, started, counts = ctx.RawArray("q", [-1]), ctx.RawArray("d", 1), ctx.RawArray("q", 5)
    wrong_parent = os.getpid() + 1_000_000  # never our pid: the worker must think it was orphaned
    args = (child_end, 0, index, started, counts, {}, 0, None, str(tmp_path / "stack.txt"), wrong_parent)
    worker = ctx.Process(target=_worker_main, args=args, daemon=True)
    worker.start()
    worker.join(DEADLINE_S)
    assert worker.exitcode == 0
    parent_end.close()


def test_sigterm_stops_any_command_like_ctrl_c_and_its_worker(tmp_path):
    from fuzz.case import Verdict
    from fuzz.corpus import make_entry, save_entry

    path = save_entry(tmp_path, make_entry("crashy-toy", {"xs": [], "hang": True}, Verdict("timeout", "timeout")))
    proc = subprocess.Popen([sys.executable, "-m", "fuzz", "repro", str(path), "--timeout", "600"], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    [worker] = wait_for(lambda: _children(proc.pid), "the repro worker", proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=DEADLINE_S) == 143
    assert "Traceback" not in proc.stderr.read()
    wait_for(lambda: not _alive(worker), "the repro worker to die")
