"""Kill campaigns at random moments (kill -9, SIGTERM, SIGINT) while findings are under triage; check nothing is lost.

    python bench/kill_loop.py --kills 36 [--seed 0] [--min-s 0.5] [--max-s 6]

Each round starts `fuzz run` on a toy fuzzer whose workers crash, hang and restart, with findings that take a while
to minimize, and kills it after a random delay. Then it checks that
- every finding whose minimization had started (logged by the fuzzer's reductions(), which the campaign calls only
  for a confirmed new finding) and every finding its last summary.json lists is in the corpus, as a valid entry;
- summary.json is readable strict JSON: complete with exit 130/143 after SIGINT/SIGTERM, a checkpoint after kill -9;
- no process of the campaign (found by an environment tag every descendant inherits) is alive 5 s later.
Prints one table; it decides nothing for the test suite (tests/test_fuzz_signals.py does that).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from toy_fuzzer import CrashyToyFuzzer  # noqa: E402

LOG_VAR, TAG_VAR = "KILL_LOOP_LOG", "KILL_LOOP_TAG"
SIGNALS = (signal.SIGKILL, signal.SIGTERM, signal.SIGINT)


def expected_signature(case: dict[str, Any]) -> str:
    """The signature ToyFuzzer.check gives case, computed without running it (it may segfault or hang)."""
    if case.get("segv"):
        return "crash:SIGSEGV"
    if case.get("hang"):
        return "timeout"
    if case.get("boom"):
        return "exception:ZeroDivisionError:toy_fuzzer.py:check"
    return "mismatch:has13"


class TriageLogToyFuzzer(CrashyToyFuzzer):
    """The crashy toy fuzzer with slow reductions that log each finding under minimization to $KILL_LOOP_LOG."""

    name = "killtoy"
    reduction_delay = 0.2

    def reductions(self, case: dict[str, Any]) -> Any:
        with open(os.environ[LOG_VAR], "a") as f:  # one short line per append: no torn lines between threads
            f.write(expected_signature(case) + "\n")
            f.flush()
            os.fsync(f.fileno())
        for candidate in super().reductions(case):
            time.sleep(self.reduction_delay)
            yield candidate


def tagged_pids(tag: str) -> list[int]:
    """Live processes whose environment holds KILL_LOOP_TAG=tag (the campaign and everything it started)."""
    found = []
    needle = f"{TAG_VAR}={tag}".encode()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if needle not in (proc / "environ").read_bytes().split(b"\0"):
                continue
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            found.append(int(proc.name))
    return found


def one_round(k: int, sig: signal.Signals, delay: float, workdir: Path) -> dict[str, Any]:
    from fuzz.corpus import CorpusError, load_entry

    tag = uuid.uuid4().hex
    log = workdir / "minimizing.log"
    log.touch()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]),
        "UOPFUZZ_FUZZERS": "killtoy=kill_loop:TriageLogToyFuzzer",
        LOG_VAR: str(log),
        TAG_VAR: tag,
    }
    command = [sys.executable, "-m", "fuzz", "run", "killtoy", "--seconds", "600", "--seed", str(k), "--workers", "2",
               "--timeout", "0.5", "--no-progress", "--corpus", str(workdir / "corpus"), "--report",
               str(workdir / "reports")]
    with open(workdir / "stderr.txt", "w") as err:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=err)
        time.sleep(delay)
        under_triage = bool(log.read_text().strip())
        proc.send_signal(sig)
        rc = proc.wait(timeout=300)
    deadline = time.monotonic() + 5.0
    while (left := tagged_pids(tag)) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in left:  # report them, then clean up after ourselves
        os.kill(pid, signal.SIGKILL)
    confirmed = set(log.read_text().split())
    summary: dict[str, Any] | None = None
    summary_ok = False
    paths = list((workdir / "reports").glob("*/summary.json"))
    if paths:
        try:
            summary = json.loads(paths[0].read_text(), parse_constant=lambda name: 1 / 0)
            summary_ok = True
        except (ValueError, ZeroDivisionError):
            summary_ok = False
    if summary is not None:
        confirmed |= {f["signature"] for f in summary["findings"] if f["new"]}
        if sig == signal.SIGKILL:
            summary_ok = summary_ok and summary.get("complete") is False
        else:
            summary_ok = summary_ok and summary.get("complete") and summary["exit_code"] == rc
    saved = set()
    for path in (workdir / "corpus").glob("*/*.json"):
        try:
            saved.add(load_entry(path)["signature"])
        except CorpusError:
            pass
    return {
        "signal": sig.name,
        "rc": rc,
        "delay": delay,
        "under_triage": under_triage,
        "summary": summary is not None,
        "summary_ok": summary_ok or summary is None,  # None: killed before the campaign started (during startup)
        "confirmed": len(confirmed),
        "lost": sorted(confirmed - saved),
        "left_behind": len(left),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=36)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-s", type=float, default=0.5, help="earliest kill, seconds after the start")
    parser.add_argument("--max-s", type=float, default=6.0, help="latest kill")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    rounds = []
    for k in range(args.kills):
        sig = SIGNALS[k % len(SIGNALS)]
        workdir = Path(tempfile.mkdtemp(prefix="kill-loop-"))
        try:
            r = one_round(k, sig, round(rng.uniform(args.min_s, args.max_s), 2), workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        rounds.append(r)
        print(f"{k:3d} {r['signal']:8s} after {r['delay']:5.2f} s: exit {r['rc']:4d}, {r['confirmed']} confirmed, "
              f"lost {r['lost'] or 0}, left behind {r['left_behind']}, summary {'ok' if r['summary_ok'] else 'BAD'}"
              f"{'' if r['summary'] else ' (none: killed during startup)'}", flush=True)
    print()
    by_signal: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rounds:
        by_signal[r["signal"]].append(r)
    header = ("signal", "kills", "under triage", "confirmed", "lost", "left behind", "bad summary", "exit codes")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, rs in [*by_signal.items(), ("all", rounds)]:
        codes = Counter(r["rc"] for r in rs)
        print(f"| {name} | {len(rs)} | {sum(r['under_triage'] for r in rs)} | {sum(r['confirmed'] for r in rs)} | "
              f"{sum(len(r['lost']) for r in rs)} | {sum(r['left_behind'] for r in rs)} | "
              f"{sum(not r['summary_ok'] for r in rs)} | {', '.join(f'{c}: {n}' for c, n in sorted(codes.items()))} |")
    bad = sum(len(r["lost"]) + r["left_behind"] + (not r["summary_ok"]) for r in rounds)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
