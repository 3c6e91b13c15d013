"""Campaigns: generate and check cases in isolated workers, then confirm, deduplicate, minimize, save, report."""

from __future__ import annotations

import datetime
import math
import os
import queue
import signal
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from fuzz.base import Fuzzer
from fuzz.case import STATUSES, Verdict, case_hash
from fuzz.corpus import engine_version, entry_path, known_signatures, list_entries, make_entry, write_entry
from fuzz.errors import BadInputError
from fuzz.guided import ROUND_CASES, GuidedRounds
from fuzz.minimize import minimize
from fuzz.registry import fuzzer_spec, load_fuzzer
from fuzz.worker import (
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT_S,
    Batch,
    BatchDone,
    CaseFailure,
    NewCoverage,
    WorkerPool,
    generate_case,
    run_isolated,
)

BATCH_SECONDS = 0.2  # target wall time of one batch: long enough to amortize IPC, short enough to stop on time
MIN_BATCH, MAX_BATCH, FIRST_BATCH = 1, 4096, 2  # small first: a batch of slow cases overruns a short budget
MAX_CONFIRM_ATTEMPTS = 3  # per signature: after that, more flaky reports of it are only counted
MAX_FLAKY_LISTED = 100  # flaky signatures listed in the summary (all are counted)
MAX_FAILURE_LOG = 1000  # non-pass verdicts listed in the summary, lowest case indices first (all are counted)
TIMELINE_SECONDS = 0.5  # first interval between timeline samples in the summary
MAX_TIMELINE = 500  # past this many samples, every other one is dropped and the interval doubles
CHECKPOINT_SECONDS = 2.0  # summary.json and junit.xml are rewritten this often (and at each new finding)
INTERRUPT_GRACE_S = 2.0  # after Ctrl-C/SIGTERM, how long a finding under minimization may take to save its best
EXIT_INTERNAL_ERROR = 3


@dataclass
class Finding:
    """One confirmed failure signature of a campaign."""

    fuzzer: str
    signature: str
    status: str
    case_index: int
    new: bool
    corpus_path: str
    size_before: int
    size_after: int
    duplicates: int = 0
    minimize: dict[str, Any] | None = None
    minimized: bool = False  # False while (or if never) minimized: the corpus holds the case as confirmed
    save_error: str | None = None  # the finding could not be written to the corpus: its case is kept here
    case: dict[str, Any] | None = None


@dataclass
class CampaignResult:
    """Everything a campaign measured and found; `to_dict` is the report's summary.json."""

    campaign_id: str
    fuzzers: list[str]
    seed: int
    budget: dict[str, Any]
    workers: int
    cases: int = 0
    elapsed: float = 0.0
    fuzz_seconds: float = 0.0
    triage_seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    per_fuzzer: dict[str, dict[str, int]] = field(default_factory=dict)
    flaky: int = 0
    duplicates: int = 0
    inconclusive: int = 0  # verdicts whose oracle could not decide (e.g. a Z3 timeout): counted, not findings
    findings: list[Finding] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)  # every non-pass verdict, in case order
    generator_errors: list[dict[str, Any]] = field(default_factory=list)
    coverage: dict[str, int] = field(default_factory=dict)
    coverage_rules: list[str] = field(default_factory=list)  # every rule the fuzzers can hit, where they say
    coverage_unreachable: dict[str, str] = field(default_factory=dict)  # keys no case can reach: the reason each
    timeline: list[dict[str, float]] = field(default_factory=list)  # progress samples, see _Timeline
    engine_version: str = ""
    worker_respawns: int = 0
    interrupted: bool = False
    interrupted_by: str | None = None  # "SIGINT" or "SIGTERM"
    error: str | None = None  # an internal error of the harness ended the campaign (exit status 3)
    complete: bool = False  # False in the checkpoints written while the campaign runs
    command: str | None = None  # the command line that repeats this campaign, when run from the CLI
    corpus_dir: str = ""
    report_dir: str = ""
    settings: dict[str, Any] = field(default_factory=dict)  # per-case limits etc., what --resume needs again
    flaky_findings: list[dict[str, Any]] = field(default_factory=list)  # first flaky report of each signature
    resumed: int = 0  # how many times `fuzz run --resume` continued this campaign
    # where to continue after kill -9 or Ctrl-C: per fuzzer the next case index and the ranges not yet counted
    # ("progress"), and the failures seen but not yet triaged ("untriaged": [fuzzer, index, status, signature])
    resume: dict[str, Any] = field(default_factory=dict)
    guidance: dict[str, Any] = field(default_factory=dict)  # a guided campaign's rounds, pools, branch coverage

    @property
    def new_findings(self) -> list[Finding]:
        """Confirmed findings whose signature was not in the corpus before this campaign."""
        return [f for f in self.findings if f.new]

    @property
    def exit_code(self) -> int:
        """3 on an internal error, 128 + signal when interrupted (130, 143), else 1 on new findings, else 0."""
        if self.error is not None:
            return EXIT_INTERNAL_ERROR
        if self.interrupted:
            return 128 + signal.Signals[self.interrupted_by or "SIGINT"].value
        return 1 if self.new_findings else 0

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON summary of the campaign."""
        data = asdict(self)
        data["cases_per_s"] = round(self.cases / self.fuzz_seconds, 1) if self.fuzz_seconds > 0 else 0.0
        data["timeouts"] = self.counts.get("timeout", 0)
        data["crashes"] = self.counts.get("crash", 0)
        data["new_findings"] = len(self.new_findings)
        data["known_findings"] = len(self.findings) - len(self.new_findings)
        data["rules_hit"] = sum(1 for hits in self.coverage.values() if hits > 0)
        data["exit_code"] = self.exit_code if self.complete else None  # unknown until the campaign has ended
        return data


def campaign_id(fuzzers: list[str], seed: int, report_dir: str | os.PathLike[str]) -> str:
    """A readable, unique id: UTC time, fuzzers, seed (plus a counter if that directory exists)."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{'+'.join(fuzzers)}-seed{seed}"
    name, n = base, 1
    while (Path(report_dir) / name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


class _Scheduler:
    """Hands out batches round-robin among fuzzers; a case budget is split evenly up front, so it is exact."""

    def __init__(self, fuzzers: list[str], cases: int | None) -> None:
        self.fuzzers = fuzzers
        self.next_index = dict.fromkeys(fuzzers, 0)
        self.limit: dict[str, float] = dict.fromkeys(fuzzers, float("inf"))
        if cases is not None:
            for k, name in enumerate(fuzzers):
                self.limit[name] = cases // len(fuzzers) + (1 if k < cases % len(fuzzers) else 0)
        self.batch_size = dict.fromkeys(fuzzers, FIRST_BATCH)
        self.retries: deque[Batch] = deque()  # rests of batches whose worker died
        self.guided: GuidedRounds | None = None  # guided: batches stay inside the current round and carry its guide
        self._turn = 0

    def next_batch(self) -> Batch | None:
        if self.retries:
            batch = self.retries.popleft()  # always of the current round: a round closes only once all is counted
            return batch if self.guided is None else replace(batch, guide=self.guided.guide(batch.fuzzer))
        for _ in range(len(self.fuzzers)):
            name = self.fuzzers[self._turn % len(self.fuzzers)]
            self._turn += 1
            start = self.next_index[name]
            stop = int(min(start + self.batch_size[name], self.limit[name]))
            if self.guided is not None:
                stop = min(stop, self.guided.round_end(name))
            if stop > start:
                self.next_index[name] = stop
                return Batch(name, start, stop, self.guided.guide(name) if self.guided is not None else None)
        return None

    def exhausted(self) -> bool:
        return not self.retries and all(self.next_index[f] >= self.limit[f] for f in self.fuzzers)

    def adapt(self, done: BatchDone) -> None:
        """Size the next batches of this fuzzer to take about BATCH_SECONDS."""
        ran = sum(done.counts.values())
        if done.rest is None and ran > 0 and done.seconds > 0:
            rate = ran / done.seconds
            self.batch_size[done.batch.fuzzer] = max(MIN_BATCH, min(MAX_BATCH, int(rate * BATCH_SECONDS)))

    def state(self, in_flight: list[Batch]) -> dict[str, dict[str, Any]]:
        """Per fuzzer: the next case index, and the ranges below it not counted yet (in flight or to retry)."""
        pending = sorted([*in_flight, *self.retries], key=lambda b: (b.fuzzer, b.start))
        return {
            name: {"next": self.next_index[name], "pending": [[b.start, b.stop] for b in pending if b.fuzzer == name]}
            for name in self.fuzzers
        }

    def restore(self, state: dict[str, dict[str, Any]]) -> None:
        """Continue from `state`: the pending ranges run first, then new cases from the saved next index."""
        for name in self.fuzzers:
            saved = state.get(name, {"next": 0, "pending": []})
            self.next_index[name] = int(saved["next"])
            self.retries.extend(Batch(name, int(a), int(b)) for a, b in saved["pending"])

    def frontier(self, name: str, in_flight: list[Batch]) -> int:
        """Lowest case index of this fuzzer that may still be unchecked."""
        starts = [b.start for b in in_flight if b.fuzzer == name] + [b.start for b in self.retries if b.fuzzer == name]
        return min([self.next_index[name], *starts])


class _Progress:
    """A live status line on stderr (rich), only when asked for and stderr is a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.live = None
        self.last = 0.0
        if enabled and sys.stderr.isatty():
            from rich.console import Console
            from rich.live import Live

            self.live = Live(console=Console(stderr=True), auto_refresh=False, transient=True)
            self.live.start()

    def update(self, result: CampaignResult, seconds: float, stage: str = "") -> None:
        if self.live is None or time.monotonic() - self.last < 0.25:
            return
        self.last = time.monotonic()
        rate = result.cases / seconds if seconds > 0 else 0.0
        line = (
            f"[bold]fuzz[/] {'+'.join(result.fuzzers)}  {result.cases} cases  {rate:,.0f}/s  "
            f"findings {len(result.findings)}  crashes {result.counts['crash']}  "
            f"timeouts {result.counts['timeout']}  {seconds:,.0f}s {stage}"
        )
        self.live.update(line, refresh=True)

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()


class _Timeline:
    """Progress samples for the report's plots: elapsed seconds, cases, findings, timeouts, crashes so far."""

    def __init__(self, result: CampaignResult, t0: float) -> None:
        self.result, self.t0 = result, t0
        self.interval = TIMELINE_SECONDS
        self.next_at = t0
        if not result.timeline:
            self.sample(t0)  # the plots start from zero

    def sample(self, now: float, force: bool = False) -> None:
        """Record a sample if the interval has passed (or force); thin the list so it stays compact."""
        if now < self.next_at and not force:
            return
        self.next_at = now + self.interval
        result = self.result
        if force and len(result.timeline) > 1 and now - self.t0 - result.timeline[-1]["t"] < self.interval / 2:
            result.timeline.pop()  # the closing sample replaces one just before it: no spiky rate at the end
        result.timeline.append(
            {
                "t": round(now - self.t0, 3),
                "cases": result.cases,
                "findings": len(result.findings),
                "timeouts": result.counts["timeout"],
                "crashes": result.counts["crash"],
            }
        )
        if len(result.timeline) > MAX_TIMELINE:
            del result.timeline[1::2]
            self.interval *= 2


class _Triage:
    """Turns non-pass verdicts into findings: confirm, deduplicate, minimize, save as soon as done."""

    def __init__(
        self,
        result: CampaignResult,
        fuzzers: dict[str, Fuzzer],
        corpus_dir: Path,
        seed: int,
        timeout_s: float,
        memory_mb: int | None,
        minimize_seconds: float,
    ) -> None:
        self.result, self.fuzzers, self.corpus_dir, self.seed = result, fuzzers, corpus_dir, seed
        self.timeout_s, self.memory_mb, self.minimize_seconds = timeout_s, memory_mb, minimize_seconds
        self.known = {name: known_signatures(corpus_dir, name) for name in fuzzers}
        self.by_key: dict[tuple[str, str], Finding] = {}
        self.attempts: Counter[tuple[str, str]] = Counter()
        self.generator_signatures: set[str] = set()
        self.open: dict[tuple[str, int], CaseFailure] = {}  # seen, not yet triaged: what --resume triages again
        self.own_entries: set[Path] = set()  # entries a killed run of this campaign saved after its last checkpoint
        self.lock = threading.Lock()  # guards `result` against the campaign loop, which counts batches
        self.stop = threading.Event()  # set on interrupt: a minimization in progress saves what it has and ends

    def handle(self, failure: CaseFailure) -> None:
        """Triage one failure; it leaves `open` in the same locked step that counts it, so a checkpoint never
        shows it both counted and still to triage (a resume would count it twice)."""
        verdict, name = failure.verdict, failure.fuzzer
        if failure.case is None:  # generate() raised: a harness bug, reported but not a finding
            with self.lock:
                self._close(failure)
                if verdict.signature not in self.generator_signatures:
                    self.generator_signatures.add(verdict.signature)
                    self.result.generator_errors.append(
                        {"fuzzer": name, "case_index": failure.index, "verdict": verdict.to_dict()}
                    )
            return
        if verdict.details.get("inconclusive"):  # the oracle could not decide: not evidence of a bug
            with self.lock:
                self._close(failure)
                self.result.inconclusive += 1
            return
        key = (name, verdict.signature)
        if key in self.by_key:
            with self.lock:
                self._close(failure)
                self.by_key[key].duplicates += 1
                self.result.duplicates += 1
            return
        if self.attempts[key] >= MAX_CONFIRM_ATTEMPTS:
            with self.lock:
                self._close(failure)
                self.result.flaky += 1
            return
        self.attempts[key] += 1
        confirmed = run_isolated(name, failure.case, self.timeout_s, self.memory_mb)
        if confirmed.signature != verdict.signature:
            with self.lock:
                self._close(failure)
                self.result.flaky += 1
                listed = {(f["fuzzer"], f["signature"]) for f in self.result.flaky_findings}
                if key not in listed and len(listed) < MAX_FLAKY_LISTED:
                    self.result.flaky_findings.append(
                        {
                            "fuzzer": name,
                            "signature": verdict.signature,
                            "case_index": failure.index,
                            "confirmed_as": confirmed.signature or confirmed.status,
                        }
                    )
            return
        new = verdict.signature not in self.known[name]
        finding = self._record(failure, confirmed, new)
        if new and self.minimize_seconds > 0 and not self.stop.is_set():
            self._minimize(finding, failure.case, confirmed)

    def _close(self, failure: CaseFailure) -> None:
        """Mark a failure triaged (call with the lock held)."""
        self.open.pop((failure.fuzzer, failure.index), None)

    def _record(self, failure: CaseFailure, confirmed: Verdict, new: bool) -> Finding:
        """Save a new confirmed finding to the corpus at once (before minimizing it) and list it in the result."""
        name, case = failure.fuzzer, failure.case
        assert case is not None
        fuzzer = self.fuzzers[name]
        size = fuzzer.size(case)
        path = entry_path(self.corpus_dir, name, confirmed.signature)
        finding = Finding(name, confirmed.signature, confirmed.status, failure.index, new, str(path), size, size)
        if new:
            self.known[name].add(confirmed.signature)
            if path.exists() and path not in self.own_entries:  # another campaign sharing this corpus wrote it
                finding.minimized = True
            else:
                self._save(finding, case, confirmed)
        with self.lock:
            self._close(failure)
            self.by_key[(name, confirmed.signature)] = finding
            self.result.findings.append(finding)
            self.result.per_fuzzer[name]["findings"] += 1
        return finding

    def reminimize(self, finding: Finding) -> None:
        """Minimize (again) a restored finding whose minimization a kill cut short, from its corpus entry."""
        from fuzz.corpus import CorpusError, load_entry

        try:
            entry = load_entry(finding.corpus_path)
        except CorpusError:
            return
        if self.minimize_seconds > 0 and not self.stop.is_set():
            self._minimize(finding, entry["case"], Verdict.from_dict(entry["verdict"]))

    def _minimize(self, finding: Finding, case: dict[str, Any], confirmed: Verdict) -> None:
        """Shrink a saved finding and replace its corpus entry with the smaller case."""
        smaller, stats = minimize(
            finding.fuzzer,
            case,
            finding.signature,
            time_budget_s=self.minimize_seconds,
            timeout_s=self.timeout_s,
            memory_mb=self.memory_mb,
            should_stop=self.stop.is_set,
        )
        if stats["verdict"] is not None:
            self._save(finding, smaller, Verdict.from_dict(stats["verdict"]))
        with self.lock:
            finding.minimize = stats
            finding.size_after = stats["size_after"]
            finding.minimized = True

    def _save(self, finding: Finding, case: dict[str, Any], verdict: Verdict) -> None:
        """Write the finding's corpus entry atomically; if that fails, keep the case in the report instead."""
        fuzzer = self.fuzzers[finding.fuzzer]
        entry = make_entry(
            finding.fuzzer,
            case,
            verdict,
            seed=self.seed,
            case_index=finding.case_index,
            size_before=finding.size_before,
            size_after=fuzzer.size(case),
            reproducer=fuzzer.reproducer(case, verdict.signature, verdict.details),
        )
        try:
            write_entry(finding.corpus_path, entry)
        except OSError as e:  # never silently lost: the summary carries the case, the terminal says so
            with self.lock:
                finding.save_error = f"{finding.corpus_path}: {e.strerror or e}"
                finding.case = case
            print(f"fuzz: error: cannot save finding {finding.signature}: {finding.save_error}", file=sys.stderr)
        else:
            with self.lock:
                finding.save_error, finding.case = None, None


class _BackgroundTriage:
    """Runs `_Triage.handle` on a thread, in submission order; the campaign loop only enqueues failures."""

    def __init__(self, triage: _Triage) -> None:
        self.triage = triage
        self.todo: queue.Queue[CaseFailure | Finding | None] = queue.Queue()
        self.busy_seconds = triage.result.triage_seconds  # a resumed campaign's triage time goes on
        self.error: BaseException | None = None
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="fuzz-triage", daemon=True)
        self.thread.start()

    def submit(self, failures: list[CaseFailure] | list[Finding]) -> None:
        """Queue failures to triage (or restored findings to minimize again), handled in this order."""
        for failure in failures:
            self.todo.put(failure)

    def stage(self) -> str:
        n = self.todo.unfinished_tasks
        return f"(triage: {n} pending)" if n else ""

    def wait(self, timeout: float) -> bool:
        """True once everything submitted is handled (or the thread died; see raise_error)."""
        deadline = time.monotonic() + timeout
        while self.todo.unfinished_tasks and self.thread.is_alive():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def raise_error(self) -> None:
        """Re-raise, in the campaign's thread, an error the triage thread died of (a harness bug)."""
        if self.error is not None:
            raise RuntimeError(f"triage failed: {self.error!r}") from self.error

    def stop(self, grace_s: float = 0.0) -> None:
        """Drop what is queued; give the finding being handled up to grace_s to save its best case."""
        self.stopping = True
        self.triage.stop.set()
        self.todo.put(None)
        self.thread.join(grace_s)

    def _run(self) -> None:
        while True:
            failure = self.todo.get()
            try:
                if failure is None or self.stopping:
                    return
                t = time.monotonic()
                if isinstance(failure, Finding):
                    self.triage.reminimize(failure)
                else:
                    self.triage.handle(failure)
                self.busy_seconds += time.monotonic() - t
            except BaseException as e:  # noqa: BLE001 - reported through raise_error
                self.error = e
                return
            finally:
                self.todo.task_done()


def run_campaign(
    fuzzers: list[str],
    seconds: float | None = None,
    cases: int | None = None,
    seed: int = 0,
    workers: int = 1,
    corpus_dir: str | os.PathLike[str] = "corpus",
    report_dir: str | os.PathLike[str] | None = "reports",
    timeout_s: float | None = None,
    memory_mb: int | None = DEFAULT_MEMORY_MB,
    minimize_seconds: float = 30.0,
    progress: bool = False,
    command: str | None = None,
    dask: str | None = None,
    known: dict[str, Iterable[str]] | None = None,
    guided: bool = False,
    branch_coverage: bool = False,
    guided_round: int = ROUND_CASES,
) -> CampaignResult:
    """Run a seeded campaign of the named fuzzers for `seconds` and/or `cases` (whichever ends first).

    Ctrl-C or SIGTERM (in the main thread) stops it: the result says interrupted and the report is still
    written. Confirmed findings are saved as soon as confirmed, and summary.json is checkpointed while it runs.
    `dask` ("tcp://host:8786" or "local:N") checks the cases on a Dask cluster instead of local worker processes.
    `known`: per fuzzer, signatures to treat as known besides the corpus's own (`fuzz ci` fuzzes into a scratch
    corpus, knowing the real one's).
    `guided`: coverage-guided rounds of `guided_round` cases per fuzzer (fuzz.guided); `branch_coverage` adds the
    arcs of engine/symbolic.py to the keys that guide it.
    """
    _check_guided(guided, branch_coverage, guided_round, dask)
    specs = {name: fuzzer_spec(name) for name in fuzzers}
    instances = {name: load_fuzzer(spec, name) for name, spec in specs.items()}
    if timeout_s is None:  # the slowest fuzzer's own limit (a graph case compiles kernels several ways)
        timeout_s = max((f.timeout_s or DEFAULT_TIMEOUT_S for f in instances.values()), default=DEFAULT_TIMEOUT_S)
    _check_arguments(fuzzers, seconds, cases, timeout_s, minimize_seconds)
    if dask is not None:
        from fuzz.dask_pool import parse_dask_address

        parse_dask_address(dask)  # a bad address is bad input, before anything is written
    corpus = Path(corpus_dir)
    reports = Path(report_dir) if report_dir is not None else None
    result = CampaignResult(
        campaign_id(fuzzers, seed, reports or "."),
        list(fuzzers),
        seed,
        {"seconds": seconds, "cases": cases},
        workers,
        corpus_dir=str(corpus),
        engine_version=engine_version(),
        command=command,
        settings={
            "timeout_s": timeout_s,
            "memory_mb": memory_mb,
            "minimize_seconds": minimize_seconds,
            "dask": dask,
            "known": {name: sorted(set(sigs)) for name, sigs in (known or {}).items() if name in fuzzers},
            "guided": {"round_cases": guided_round, "branches": branch_coverage} if guided else None,
        },
    )
    check_writable(corpus, "corpus directory", [corpus / name for name in fuzzers])
    if reports is not None:
        result.report_dir = str(reports / result.campaign_id)
        check_writable(Path(result.report_dir), "report directory")
    result.coverage_rules = _coverage_rules(instances.values())
    result.coverage_unreachable = {k: why for f in instances.values() for k, why in f.unreachable_keys().items()}
    result.per_fuzzer = {name: {"cases": 0, **dict.fromkeys(STATUSES, 0), "findings": 0} for name in fuzzers}
    return _execute(result, specs, instances, progress, restored=False)


def resume_campaign(
    report_dir: str | os.PathLike[str],
    workers: int | None = None,
    progress: bool = False,
    dask: str | None = None,
) -> CampaignResult:
    """Continue a killed or interrupted campaign from the last checkpoint of its summary.json.

    Same fuzzers, seed, budget and limits; the case ranges it had not counted run again, the failures it had not
    triaged are triaged, and the report (the same folder) covers both parts. `workers` and `dask` may change:
    they do not change the cases nor the verdicts.
    """
    from fuzz.report import load_summary

    folder = Path(report_dir)
    folder = folder.parent if folder.name == "summary.json" else folder
    summary = load_summary(folder)
    where = folder / "summary.json"
    if not summary.get("settings") or "progress" not in summary.get("resume", {}):
        raise BadInputError(f"{where}: no resume state in this report (written before --resume existed?)")
    if summary.get("complete") and not summary.get("interrupted") and not summary.get("error"):
        raise BadInputError(f"{where}: campaign {summary.get('campaign_id')} is complete; nothing to resume")
    result = _result_from_summary(summary, where)
    result.report_dir = str(folder)
    result.workers = workers or result.workers
    if dask is not None or workers is not None:
        result.settings["dask"] = dask
    if result.settings.get("guided") and result.settings.get("dask") is not None:
        raise BadInputError("--dask: a guided campaign runs on local workers only (resume it without --dask)")
    if result.settings.get("dask") is not None:
        from fuzz.dask_pool import parse_dask_address

        parse_dask_address(result.settings["dask"])
    specs = {name: fuzzer_spec(name) for name in result.fuzzers}
    instances = {name: load_fuzzer(spec, name) for name, spec in specs.items()}
    check_writable(Path(result.corpus_dir), "corpus directory", [Path(result.corpus_dir) / n for n in result.fuzzers])
    check_writable(folder, "report directory")
    return _execute(result, specs, instances, progress, restored=True)


def _result_from_summary(summary: dict[str, Any], where: Path) -> CampaignResult:
    """The CampaignResult a checkpoint describes, ready to go on (interrupted/error/complete cleared)."""
    names = {f.name for f in fields(CampaignResult)}
    try:
        data = {k: v for k, v in summary.items() if k in names}
        data["findings"] = [Finding(**f) for f in summary["findings"]]
        result = CampaignResult(**data)
    except (TypeError, ValueError) as e:
        raise BadInputError(f"{where}: not a campaign checkpoint this version can resume ({e})") from None
    result.interrupted, result.interrupted_by, result.error, result.complete = False, None, None, False
    result.resumed += 1
    return result


def _execute(
    result: CampaignResult,
    specs: dict[str, str],
    instances: dict[str, Fuzzer],
    progress: bool,
    restored: bool,
) -> CampaignResult:
    """Run (or continue) the campaign `result` describes; the common part of run_campaign and resume_campaign."""
    settings = result.settings
    timeout_s, memory_mb = float(settings["timeout_s"]), settings["memory_mb"]
    corpus = Path(result.corpus_dir)
    triage = _Triage(result, instances, corpus, result.seed, timeout_s, memory_mb, float(settings["minimize_seconds"]))
    for name, signatures in settings.get("known", {}).items():
        triage.known[name].update(signatures)
    scheduler = _Scheduler(list(result.fuzzers), result.budget["cases"])
    scheduler.guided = _guided_rounds(result, restored)
    todo: list[Any] = _restore(result, triage, scheduler) if restored else []
    coverage: Counter[str] = Counter(result.coverage)
    display = _Progress(progress)
    t0 = time.monotonic() - result.elapsed  # a resumed campaign's clock goes on from its checkpoint
    timeline = _Timeline(result, t0)
    point = _ResumePoint(scheduler)
    checkpoint = _Checkpoint(result, triage, coverage, t0, point)
    checkpoint.write()
    # triage (confirm, minimize, save) runs in a thread beside generation: it mostly waits on its own
    # isolated processes, and the workers keep fuzzing meanwhile
    background = _BackgroundTriage(triage)
    background.submit(todo)
    error: Exception | None = None
    with _interrupts() as signals:
        try:
            seconds = result.budget["seconds"]
            deadline = t0 + seconds if seconds is not None else float("inf")
            _fuzz(result, specs, triage, background, coverage, deadline, display, timeline, checkpoint, point)
            result.fuzz_seconds = time.monotonic() - t0
            while not background.wait(0.1):  # the rest of the findings, after generation stopped
                display.update(result, time.monotonic() - t0, background.stage())
                checkpoint.maybe_write()
            background.raise_error()
        except KeyboardInterrupt as e:
            result.interrupted = True
            result.interrupted_by = e.args[0] if e.args and isinstance(e.args[0], str) else "SIGINT"
            result.fuzz_seconds = result.fuzz_seconds or time.monotonic() - t0
            background.stop(INTERRUPT_GRACE_S)  # what was saved stays saved (corpus writes are atomic)
        except Exception as e:  # a harness bug: still write the report, then let the caller see it
            error = e
            result.error = f"{type(e).__name__}: {e}"
            result.fuzz_seconds = result.fuzz_seconds or time.monotonic() - t0
            background.stop()
        finally:
            display.stop()
        signals.disarm()  # a second Ctrl-C must not tear the report being written
        if signals.late and not result.interrupted and error is None:
            result.interrupted, result.interrupted_by = True, signals.late
        _finish(result, triage, background, coverage, timeline, t0, point)
        if result.report_dir:
            from fuzz.report import write_report

            with triage.lock:
                summary = result.to_dict()
            write_report(summary, result.report_dir)
    if error is not None:
        raise error
    return result


def _restore(result: CampaignResult, triage: _Triage, scheduler: _Scheduler) -> list[Any]:
    """Set triage and scheduler up to continue `result`; return what to hand to triage first.

    Ranges not counted at the checkpoint run again, so their failures are dropped from the lists (they come back);
    failures seen but not triaged are triaged again from their regenerated case; a finding whose minimization was
    cut short is minimized again. Entries this campaign saved after its last checkpoint are its own, not known.
    """
    progress = result.resume["progress"]
    scheduler.restore(progress)
    pending = {name: progress.get(name, {}).get("pending", []) for name in result.fuzzers}

    def uncounted(name: str, index: int) -> bool:
        return any(a <= index < b for a, b in pending.get(name, []))

    result.failures = [f for f in result.failures if not uncounted(f["fuzzer"], f["case_index"])]
    untriaged = [u for u in result.resume.get("untriaged", []) if u[0] in pending and not uncounted(u[0], u[1])]
    for finding in result.findings:
        triage.by_key[(finding.fuzzer, finding.signature)] = finding
    triage.generator_signatures = {e["verdict"]["signature"] for e in result.generator_errors}
    own = {(u[0], u[1]) for u in untriaged}
    for name in result.fuzzers:
        for path, entry in list_entries(result.corpus_dir, name):
            if entry.get("seed") == result.seed and (name, entry.get("case_index")) in own:
                triage.known[name].discard(entry["signature"])
                triage.own_entries.add(path)
    todo: list[Any] = [f for f in result.findings if f.new and not f.minimized and not f.save_error]
    regenerate = {name: load_fuzzer(fuzzer_spec(name), name) for name in {u[0] for u in untriaged}}
    for name, index, status, signature, *rest in untriaged:
        try:  # a guided campaign saves the case (the pool of its round is gone)
            saved = rest[1] if len(rest) > 1 else None
            case: dict[str, Any] | None = saved or generate_case(regenerate[name], result.seed, index)
        except Exception:
            case = None
        details = {"inconclusive": True} if rest and rest[0] else {}
        failure = CaseFailure(name, index, case, Verdict(status, signature, details))
        triage.open[(name, index)] = failure
        todo.append(failure)
    return todo


def _check_guided(guided: bool, branch_coverage: bool, guided_round: int, dask: str | None) -> None:
    if branch_coverage and not guided:
        raise BadInputError("--branch-coverage guides a campaign: it needs --guided")
    if guided and dask is not None:
        raise BadInputError("--guided with --dask: guided campaigns run on local workers only (drop --dask)")
    if guided and guided_round < 1:
        raise BadInputError(f"--guided-round must be at least 1, got {guided_round}")


def _guided_rounds(result: CampaignResult, restored: bool) -> GuidedRounds | None:
    """The guided rounds of the campaign (restored from its checkpoint when resuming); None when not guided."""
    settings = result.settings.get("guided")
    if not settings:
        return None
    saved = result.resume.get("guided") if restored else None
    if saved:
        return GuidedRounds.from_state(saved, list(result.fuzzers))
    return GuidedRounds(list(result.fuzzers), int(settings["round_cases"]), bool(settings["branches"]))


def _check_arguments(
    fuzzers: list[str], seconds: float | None, cases: int | None, timeout_s: float, minimize_seconds: float
) -> None:
    if not fuzzers:
        raise ValueError("run_campaign needs at least one fuzzer")
    if seconds is None and cases is None:
        raise ValueError("run_campaign needs a budget: seconds, cases, or both")
    if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"the seconds budget must be a finite positive number, got {seconds}")
    if cases is not None and cases <= 0:
        raise ValueError(f"the cases budget must be positive, got {cases}")
    if not (math.isfinite(timeout_s) and timeout_s > 0):
        raise ValueError(f"the per-case timeout must be a finite positive number, got {timeout_s}")
    if not (math.isfinite(minimize_seconds) and minimize_seconds >= 0):
        raise ValueError(f"the minimization budget must be finite and not negative, got {minimize_seconds}")
    if len(set(fuzzers)) != len(fuzzers):
        raise ValueError(f"fuzzer listed twice: {fuzzers}")


def check_writable(path: Path, what: str, existing: Iterable[Path] = ()) -> None:
    """Create the directory path if needed and write a file there (and in each existing directory of `existing`).

    Raises BadInputError naming the directory, so a campaign fails before fuzzing, not when saving a finding.
    """
    for folder in [path, *(p for p in existing if p.exists())]:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as e:
            raise BadInputError(f"{what} {folder}: cannot write there ({e.strerror or e})") from None


def _fuzz(
    result: CampaignResult,
    specs: dict[str, str],
    triage: _Triage,
    background: _BackgroundTriage,
    coverage: Counter[str],
    deadline: float,
    display: _Progress,
    timeline: _Timeline,
    checkpoint: _Checkpoint,
    point: _ResumePoint,
) -> None:
    """The generation loop: keep the workers busy until the budget is spent, hand failures to triage in order."""
    fuzzers = result.fuzzers
    scheduler = point.scheduler
    pending: list[CaseFailure] = []
    with _make_pool(result, specs, triage) as pool:
        point.pool = pool
        try:
            _fuzz_loop(
                result, triage, background, coverage, deadline, display, timeline, checkpoint, pool, scheduler, pending
            )
        finally:
            point.freeze()  # before the pool closes: the batches in flight are the ones a resume runs again
        result.worker_respawns += pool.respawns
    background.submit(sorted(pending, key=_case_order(fuzzers)))


def _make_pool(result: CampaignResult, specs: dict[str, str], triage: _Triage) -> Any:
    """Local worker processes, or a Dask cluster's workers when the campaign's settings name one."""
    timeout_s, memory_mb, dask = triage.timeout_s, triage.memory_mb, result.settings.get("dask")
    if dask is None:
        return WorkerPool(specs, result.seed, result.workers, timeout_s, memory_mb)
    from fuzz.dask_pool import DaskPool

    pool = DaskPool(dask, specs, result.seed, timeout_s, memory_mb)
    result.workers = pool.workers
    return pool


def _fuzz_loop(
    result: CampaignResult,
    triage: _Triage,
    background: _BackgroundTriage,
    coverage: Counter[str],
    deadline: float,
    display: _Progress,
    timeline: _Timeline,
    checkpoint: _Checkpoint,
    pool: Any,
    scheduler: _Scheduler,
    pending: list[CaseFailure],
) -> None:
    fuzzers = result.fuzzers
    while True:
        out_of_time = time.monotonic() >= deadline
        if not out_of_time:
            for slot in pool.idle_slots():
                batch = scheduler.next_batch()
                if batch is None:
                    break
                pool.submit(slot, batch)
        if not pool.busy() and (out_of_time or scheduler.exhausted()):
            break
        for event in pool.poll(0.05):
            if isinstance(event, NewCoverage):
                if scheduler.guided is not None:
                    scheduler.guided.report(event.fuzzer, event.index, event.case, event.keys)
            elif isinstance(event, CaseFailure):
                pending.append(event)
                with triage.lock:
                    triage.open[(event.fuzzer, event.index)] = event
                    result.failures.append(_failure_record(event))
                    if len(result.failures) > 2 * MAX_FAILURE_LOG:  # keep the lowest case indices
                        _trim_failures(result.failures, fuzzers)
            else:
                with triage.lock:
                    _count_batch(result, event, coverage)
                scheduler.adapt(event)
                if event.rest is not None:
                    scheduler.retries.appendleft(event.rest)
        # Triage in case order per fuzzer, so "keep the first" does not depend on worker timing.
        frontier = {name: scheduler.frontier(name, pool.in_flight()) for name in fuzzers}
        if scheduler.guided is not None:
            with triage.lock:  # a checkpoint must see a round closed in one step
                for name in fuzzers:
                    scheduler.guided.maybe_close(name, frontier[name])
        ready = sorted((f for f in pending if f.index < frontier[f.fuzzer]), key=_case_order(fuzzers))
        if ready:
            pending[:] = [f for f in pending if f.index >= frontier[f.fuzzer]]
            background.submit(ready)
        background.raise_error()
        now = time.monotonic()
        display.update(result, now - checkpoint.t0, background.stage())
        timeline.sample(now)
        checkpoint.maybe_write()


def _finish(
    result: CampaignResult,
    triage: _Triage,
    background: _BackgroundTriage,
    coverage: Counter[str],
    timeline: _Timeline,
    t0: float,
    point: _ResumePoint,
) -> None:
    """Final figures of the result, in a stable order."""
    fuzzers = result.fuzzers
    with triage.lock:
        result.triage_seconds = round(background.busy_seconds, 3)
        result.resume = point.state(triage)
        timeline.sample(time.monotonic(), force=True)
        _trim_failures(result.failures, fuzzers)
        result.findings.sort(key=lambda f: (fuzzers.index(f.fuzzer), f.case_index))
        result.coverage = dict(sorted(coverage.items()))
        if point.scheduler.guided is not None:
            result.guidance = point.scheduler.guided.summary()
        result.elapsed = round(time.monotonic() - t0, 3)
        result.fuzz_seconds = round(result.fuzz_seconds, 3)
        result.complete = True


class _ResumePoint:
    """Where `fuzz run --resume` would continue: the scheduler's state, with the pool's batches in flight pending."""

    def __init__(self, scheduler: _Scheduler) -> None:
        self.scheduler = scheduler
        self.pool: Any = None
        self.frozen: dict[str, Any] | None = None

    def freeze(self) -> None:
        """Keep the state as it is now (the pool is about to close and forget its batches)."""
        self.frozen = self.progress()
        self.pool = None

    def progress(self) -> dict[str, Any]:
        if self.frozen is not None:
            return self.frozen
        return self.scheduler.state(self.pool.in_flight() if self.pool is not None else [])

    def state(self, triage: _Triage) -> dict[str, Any]:
        """The result's `resume` field (call with triage.lock held)."""
        untriaged = sorted(triage.open.values(), key=lambda f: (f.fuzzer, f.index))
        guided = self.scheduler.guided
        state: dict[str, Any] = {
            "progress": self.progress(),
            "untriaged": [
                [f.fuzzer, f.index, f.verdict.status, f.verdict.signature, bool(f.verdict.details.get("inconclusive"))]
                + ([f.case] if guided is not None else [])
                for f in untriaged
            ],
        }
        if guided is not None:
            state["guided"] = guided.state()
        return state


class _Checkpoint:
    """Rewrites summary.json and junit.xml while the campaign runs, so even `kill -9` leaves a readable report."""

    def __init__(
        self, result: CampaignResult, triage: _Triage, coverage: Counter[str], t0: float, point: _ResumePoint
    ) -> None:
        self.result, self.triage, self.coverage, self.t0, self.point = result, triage, coverage, t0, point
        self.lock = triage.lock
        self.next_at = 0.0
        self.findings_seen = 0

    def maybe_write(self) -> None:
        """Write if CHECKPOINT_SECONDS have passed or a finding was added since the last write."""
        now = time.monotonic()
        if now >= self.next_at or len(self.result.findings) != self.findings_seen:
            self.write()

    def write(self) -> None:
        result = self.result
        self.next_at = time.monotonic() + CHECKPOINT_SECONDS
        if not result.report_dir:
            return
        from fuzz.report import write_partial_report

        with self.lock:
            self.findings_seen = len(result.findings)
            result.elapsed = round(time.monotonic() - self.t0, 3)
            result.fuzz_seconds = result.elapsed
            result.coverage = dict(sorted(self.coverage.items()))
            result.resume = self.point.state(self.triage)
            summary = result.to_dict()
        write_partial_report(summary, result.report_dir)


class _Interrupts:
    """SIGINT and SIGTERM raise KeyboardInterrupt(signal name) once while armed; later ones are remembered."""

    def __init__(self) -> None:
        self.armed = True
        self.late: str | None = None

    def handle(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.armed:
            self.armed = False
            raise KeyboardInterrupt(name)
        self.late = self.late or name

    def disarm(self) -> None:
        self.armed = False


@contextmanager
def _interrupts() -> Iterator[_Interrupts]:
    """Handle SIGINT and SIGTERM alike for the campaign (only the main thread can install handlers)."""
    state = _Interrupts()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return
    previous = {sig: signal.signal(sig, state.handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield state
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _coverage_rules(fuzzers: Iterable[Fuzzer]) -> list[str]:
    """Every coverage key the fuzzers declare (the report lists the ones never hit)."""
    return sorted({str(k) for fuzzer in fuzzers for k in fuzzer.coverage_keys()})


def _failure_record(failure: CaseFailure) -> dict[str, Any]:
    verdict = failure.verdict
    return {
        "fuzzer": failure.fuzzer,
        "case_index": failure.index,
        "status": verdict.status,
        "signature": verdict.signature,
        "case_hash": case_hash(failure.case),
    }


def _trim_failures(failures: list[dict[str, Any]], fuzzers: list[str]) -> None:
    failures.sort(key=lambda f: (fuzzers.index(f["fuzzer"]), f["case_index"]))
    del failures[MAX_FAILURE_LOG:]


def _case_order(fuzzers: list[str]) -> Any:
    return lambda f: (fuzzers.index(f.fuzzer), f.index)


def _count_batch(result: CampaignResult, done: BatchDone, coverage: Counter[str]) -> None:
    ran = sum(done.counts.values())
    result.cases += ran
    stats = result.per_fuzzer[done.batch.fuzzer]
    stats["cases"] += ran
    for status, n in done.counts.items():
        result.counts[status] += n
        stats[status] += n
    coverage.update(done.coverage)
