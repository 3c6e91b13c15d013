"""Isolated execution: checks run in worker processes, so a segfault, hang or memory blow-up kills only a worker."""

from __future__ import annotations

import ctypes
import faulthandler
import multiprocessing
import os
import random
import re
import resource
import shutil
import signal
import tempfile
import time
import traceback
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Self

from fuzz.base import Fuzzer
from fuzz.case import STATUSES, Verdict
from fuzz.guided import ArcTracer, Guide, guided_case, traced_file
from fuzz.registry import fuzzer_spec, load_fuzzer

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MEMORY_MB = 4096
# a worker whose writable memory (what RLIMIT_DATA counts) grew by this much (or by half its memory limit, if less)
# since it started retires after its batch and a fresh one takes its place: caches a long campaign fills must not end
# in a false oom verdict
RETIRE_GROWTH_MB = 1024
MAX_STARTUP_FAILURES = 3  # consecutive worker deaths outside any case before the pool gives up
PR_SET_PDEATHSIG = 1  # linux/prctl.h

STATUS_SLOT = {status: k for k, status in enumerate(STATUSES)}


def _context() -> Any:
    """Fork where available: workers start in milliseconds and inherit the parent's imports."""
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method)


def case_rng(seed: int | str, index: int) -> random.Random:
    """Return the random generator for case `index` of a campaign: same seed and index, same case."""
    return random.Random(f"{seed}:{index}")


def generate_case(fuzzer: Fuzzer, seed: int | str, index: int, guide: Guide | None = None) -> dict[str, Any]:
    """Generate case `index` of the campaign with this seed (of a guided round when guide is set)."""
    if guide is not None:
        return guided_case(fuzzer, seed, index, case_rng(seed, index), guide)[0]
    return fuzzer.generate(case_rng(seed, index))


def exception_verdict(exc: BaseException, prefix: str = "exception") -> Verdict:
    """Turn an exception into a crash verdict whose signature names the type and the innermost frame.

    A MemoryError in a check (the worker's memory limit hit) gets its own kind: `oom:MemoryError:<where>`.
    """
    if prefix == "exception" and isinstance(exc, MemoryError):
        prefix = "oom"
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{os.path.basename(frames[-1].filename)}:{frames[-1].name}" if frames else "unknown"
    details = {
        "exception": f"{type(exc).__name__}: {exc}"[:2000],
        "traceback": "".join(traceback.format_exception(exc))[-20000:],
    }
    return Verdict("crash", f"{prefix}:{type(exc).__name__}:{where}", details)


def check_case(fuzzer: Fuzzer, case: dict[str, Any]) -> Verdict:
    """Run fuzzer.check(case); an exception escaping the check becomes a crash verdict."""
    try:
        verdict = fuzzer.check(case)
        if not isinstance(verdict, Verdict):
            raise TypeError(f"{fuzzer.name}.check returned {type(verdict).__name__}, not a Verdict")
        return verdict
    except BaseException as e:  # SystemExit, MemoryError and RecursionError are findings too
        return exception_verdict(e)


def exitcode_signature(exitcode: int | None) -> str:
    """Return the crash signature of a worker that died with this exit code (crash:SIGSEGV, crash:exit3)."""
    if exitcode is not None and exitcode < 0:
        try:
            return f"crash:{signal.Signals(-exitcode).name}"
        except ValueError:
            return f"crash:signal{-exitcode}"
    return f"crash:exit{exitcode}"


def timeout_verdict(timeout_s: float, stack: str = "") -> Verdict:
    """The verdict of a case that ran past its time limit (stack: where it was when stopped)."""
    details: dict[str, Any] = {"timeout_s": timeout_s}
    if stack:
        details["stack"] = stack
    return Verdict("timeout", "timeout", details)


def crash_verdict(exitcode: int | None, stack: str = "") -> Verdict:
    """The verdict of a case whose worker died (stack: the Python stack faulthandler wrote, if any). A death inside
    a reference (the innermost of the project's frames is in oracles/: onnxruntime aborting in a session's run) is
    signed crash:<SIGNAL>:reference, a finding about the reference, not the engine."""
    details: dict[str, Any] = {"exitcode": exitcode}
    if stack:
        details["stack"] = stack
    signature = exitcode_signature(exitcode)
    if _died_in_reference(stack):
        signature += ":reference"
    return Verdict("crash", signature, details)


_FRAME = re.compile(r'^\s*File "([^"]+)"')


def _died_in_reference(stack: str) -> bool:
    """Whether the innermost frame of this project (engine/, fuzz/, oracles/) in the crashing thread of a
    faulthandler stack is an oracle's."""
    lines = stack.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Current thread")), -1) + 1
    for line in lines[start:]:
        if line.startswith("Thread ") or (not line.strip() and start):
            break
        m = _FRAME.match(line)
        if m is None:
            continue
        parts = Path(m.group(1)).parts
        if "oracles" in parts:
            return True
        if "engine" in parts or "fuzz" in parts:
            return False
    return False


def _read_stack(path: str) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read(20000).strip()
    except OSError:
        return ""


def _stop_hung(proc: Any) -> None:
    """Ask a hung worker for its stack (SIGUSR1), then kill it."""
    try:
        os.kill(proc.pid, signal.SIGUSR1)
        time.sleep(0.05)
    except OSError:
        pass
    proc.kill()
    proc.join()


def _set_up_worker(memory_mb: int | None, stack_path: str, parent_pid: int) -> None:
    """Apply the memory limit, no core dumps, no Ctrl-C (the parent handles it), die with the parent.

    Python stacks of a fatal signal, or of SIGUSR1 (sent before killing a hung case), go to stack_path.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:  # PR_SET_PDEATHSIG: a SIGKILLed campaign must not leave orphan workers behind
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    exit_if_orphaned(parent_pid)  # the parent may have died before prctl took effect
    stack_file = open(stack_path, "w")  # stays open for the worker's life: faulthandler writes to its fd
    faulthandler.enable(stack_file)
    faulthandler.register(signal.SIGUSR1, stack_file)
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if memory_mb:  # on top of what the fork starts with (a big parent, e.g. a long pytest run, is not counted)
            limit = _data_size() + int(memory_mb) * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    except (ValueError, OSError):
        pass


def _data_size() -> int:
    """Bytes of writable private memory (heap, anonymous maps, stack) this process has mapped now, what RLIMIT_DATA
    counts (0 where /proc is missing).

    The memory limit is on this, not on the address space (RLIMIT_AS): a GPU driver reserves tens of GB of address
    space it never backs (cuInit failed under a 4 GB RLIMIT_AS, and every campaign worker silently lost CUDA), and
    the reservations are not writable private memory."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[5]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def exit_if_orphaned(parent_pid: int) -> None:
    """End this worker at once if the campaign that started it is gone (the fallback where prctl is missing)."""
    if os.getppid() != parent_pid:
        os._exit(0)


# ---------------------------------------------------------------------------------------------------------------
# Cases in an isolated process: one (confirm, repro) or many in turn (minimize)


def _checker_main(conn: Connection, spec: str, name: str, memory_mb: int | None, stack_path: str,
                  parent_pid: int) -> None:
    """IsolatedChecker's worker: check each case it is sent (None ends it), one verdict back for each."""
    _set_up_worker(memory_mb, stack_path, parent_pid)
    fuzzer: Fuzzer | Verdict
    try:
        fuzzer = load_fuzzer(spec, name)
    except BaseException as e:
        fuzzer = exception_verdict(e, "load")
    while True:
        try:
            case = conn.recv()
        except EOFError:
            return
        if case is None:
            return
        verdict = fuzzer if isinstance(fuzzer, Verdict) else check_case(fuzzer, case)
        conn.send(verdict.to_dict())


def run_isolated(
    fuzzer_name: str,
    case: dict[str, Any],
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_mb: int | None = DEFAULT_MEMORY_MB,
) -> Verdict:
    """Check one case in a fresh worker process; a death becomes a crash verdict, a hang a timeout verdict."""
    with IsolatedChecker(fuzzer_name, timeout_s, memory_mb) as checker:
        return checker.check(case)


class IsolatedChecker:
    """Cases checked one at a time in a long-lived worker process, with run_isolated's verdicts: a death is a crash
    verdict and a hang a timeout verdict, and the case after it gets a fresh process. A minimization checks hundreds
    of candidates: forking for each (run_isolated) cost 0.1-0.25 s a candidate from a large process, most of a
    symbolic finding's minimization. A worker checks at most CHECKS_PER_WORKER cases (what the caches of one case
    fill stays bounded: a minimization of an `oom` finding must not see a false one)."""

    CHECKS_PER_WORKER = 64

    def __init__(self, fuzzer_name: str, timeout_s: float = DEFAULT_TIMEOUT_S,
                 memory_mb: int | None = DEFAULT_MEMORY_MB) -> None:
        self.name, self.spec = fuzzer_name, fuzzer_spec(fuzzer_name)
        self.timeout_s, self.memory_mb = timeout_s, memory_mb
        self.proc: Any = None
        self.conn: Any = None
        self.stack_path = ""
        self.checks = 0  # cases the running worker has checked

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check(self, case: dict[str, Any]) -> Verdict:
        """The case's verdict, checked in the worker (started first where none is running)."""
        if self.checks >= self.CHECKS_PER_WORKER:
            self.close()
        if self.proc is None:
            ctx = _context()
            self.conn, child = ctx.Pipe(duplex=True)
            fd, self.stack_path = tempfile.mkstemp(prefix="fuzz-stack-", suffix=".txt")
            os.close(fd)
            self.proc = ctx.Process(target=_checker_main, daemon=True,
                                    args=(child, self.spec, self.name, self.memory_mb, self.stack_path, os.getpid()))
            self.proc.start()
            child.close()
            self.checks = 0
        self.checks += 1
        try:
            self.conn.send(case)
            if not self.conn.poll(self.timeout_s):
                _stop_hung(self.proc)
                verdict = timeout_verdict(self.timeout_s, _read_stack(self.stack_path))
                self.close()
                return verdict
            return Verdict.from_dict(self.conn.recv())
        except (EOFError, BrokenPipeError, ConnectionResetError):
            self.proc.join()
            verdict = crash_verdict(self.proc.exitcode, _read_stack(self.stack_path))
            self.close()
            return verdict

    def close(self) -> None:
        """End the worker (a later check starts another)."""
        if self.proc is None:
            return
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.conn.close()
        self.proc.join(1.0)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        os.unlink(self.stack_path)
        self.proc = self.conn = None


# ---------------------------------------------------------------------------------------------------------------
# A pool of long-lived workers running batches of case indices


@dataclass(frozen=True)
class Batch:
    """Cases start..stop-1 of one fuzzer (of a guided round when `guide` is set; not part of its identity)."""

    fuzzer: str
    start: int
    stop: int
    guide: Guide | None = field(default=None, compare=False, repr=False)

    def __len__(self) -> int:
        return self.stop - self.start


@dataclass
class CaseFailure:
    """A non-pass, non-invalid verdict reported by the pool (case is None if generate() itself failed)."""

    fuzzer: str
    index: int
    case: dict[str, Any] | None
    verdict: Verdict


@dataclass
class NewCoverage:
    """A case of a guided batch reached coverage keys its batch had not seen (fuzz.guided decides what joins)."""

    fuzzer: str
    index: int
    case: dict[str, Any]
    keys: list[str]


@dataclass
class BatchDone:
    """A batch has ended; `rest` holds the cases it did not reach because its worker died."""

    batch: Batch
    counts: dict[str, int]
    coverage: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    rest: Batch | None = None


PoolEvent = CaseFailure | NewCoverage | BatchDone  # what WorkerPool.poll returns


def _worker_main(
    conn: Connection,
    slot: int,
    index: Any,
    started: Any,
    counts: Any,
    specs: dict[str, str],
    seed: int | str,
    memory_mb: int | None,
    stack_path: str,
    parent_pid: int,
) -> None:
    """Worker loop: receive a batch, run its cases, publish progress in shared memory, report failures."""
    _set_up_worker(memory_mb, stack_path, parent_pid)
    fuzzers: dict[str, Fuzzer] = {}
    base = slot * len(STATUSES)
    retire_at = _data_size() + min(RETIRE_GROWTH_MB, (memory_mb or RETIRE_GROWTH_MB * 2) // 2) * 1024 * 1024
    while True:
        while not conn.poll(0.5):
            exit_if_orphaned(parent_pid)  # EOF may never come: later workers inherit this pipe's other end
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        name, start, stop, guide = message
        if name not in fuzzers:
            fuzzers[name] = load_fuzzer(specs[name], name)
        fuzzer = fuzzers[name]
        for k in range(len(STATUSES)):
            counts[base + k] = 0
        t0 = time.perf_counter()
        _take_coverage(fuzzer)  # hits from before the batch (a forked parent's own runs) are not its cases'
        watch = _GuidedBatch(fuzzer, guide) if guide is not None else None
        for i in range(start, stop):
            exit_if_orphaned(parent_pid)
            started[slot] = time.monotonic()  # written before the index, so the parent never sees a stale time
            index[slot] = i
            case: dict[str, Any] | None
            try:
                case = (
                    fuzzer.generate(case_rng(seed, i))
                    if guide is None
                    else guided_case(fuzzer, seed, i, case_rng(seed, i), guide)[0]
                )
            except BaseException as e:
                case, verdict = None, exception_verdict(e, "generate")
            else:
                verdict = check_case(fuzzer, case) if watch is None else watch.check(case)
            counts[base + STATUS_SLOT[verdict.status]] += 1
            if verdict.status not in ("pass", "invalid"):
                conn.send(("failure", name, i, case, verdict.to_dict()))
            if watch is not None and case is not None:
                new = watch.new_keys()
                if new:
                    conn.send(("new", name, i, case, new))
        index[slot] = -1
        coverage = _take_coverage(fuzzer) if watch is None else watch.coverage
        retire = _data_size() >= retire_at
        conn.send(("done", coverage, time.perf_counter() - t0, retire))
        if retire:
            return


def _take_coverage(fuzzer: Fuzzer) -> dict[str, int]:
    """The coverage gathered since the last take, and reset (what is counted next belongs to the cases checked
    next); {} where the fuzzer's coverage fails."""
    try:
        return dict(fuzzer.coverage())
    except Exception:
        return {}


class _GuidedBatch:
    """A worker's per-case coverage in a guided batch: the keys each case reached that the batch had not seen."""

    def __init__(self, fuzzer: Fuzzer, guide: Guide) -> None:
        self.fuzzer, self.seen = fuzzer, set(guide.known)
        self.coverage: dict[str, int] = {}
        self.tracer = ArcTracer(traced_file()) if guide.branches else None
        self._keys: list[str] = []

    def check(self, case: dict[str, Any]) -> Verdict:
        _take_coverage(self.fuzzer)  # the case's keys are its check's alone, not its generation's or mutation's
        if self.tracer is None:
            verdict = check_case(self.fuzzer, case)
        else:
            with self.tracer.tracing():
                verdict = check_case(self.fuzzer, case)
        hits = _take_coverage(self.fuzzer)
        for key, n in hits.items():
            self.coverage[key] = self.coverage.get(key, 0) + n
        self._keys = [k for k, n in hits.items() if n] + (self.tracer.take() if self.tracer is not None else [])
        return verdict

    def new_keys(self) -> list[str]:
        new = sorted(set(self._keys) - self.seen)
        self.seen.update(new)
        return new


class SlotPool:
    """Numbered slots that each run one batch at a time: what the local WorkerPool and fuzz.dask_pool.DaskPool
    share (a campaign drives either through idle_slots, submit, poll, in_flight, busy and close)."""

    size: int
    _batches: list[Batch | None]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        raise NotImplementedError

    def idle_slots(self) -> list[int]:
        """Slots with no batch in flight."""
        return [s for s in range(self.size) if self._batches[s] is None]

    def in_flight(self) -> list[Batch]:
        """Batches currently running."""
        return [b for b in self._batches if b is not None]

    def busy(self) -> bool:
        """True while any batch is in flight."""
        return any(b is not None for b in self._batches)


class WorkerPool(SlotPool):
    """Long-lived worker processes; the parent watches each one's current case to catch deaths and hangs."""

    def __init__(
        self,
        specs: dict[str, str],
        seed: int | str,
        workers: int = 1,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        memory_mb: int | None = DEFAULT_MEMORY_MB,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.specs, self.seed, self.size = dict(specs), seed, workers
        self.timeout_s, self.memory_mb = timeout_s, memory_mb
        self._ctx = _context()
        self._index = self._ctx.RawArray("q", [-1] * workers)
        self._started = self._ctx.RawArray("d", workers)
        self._counts = self._ctx.RawArray("q", workers * len(STATUSES))
        self._procs: list[Any] = [None] * workers
        self._conns: list[Connection | None] = [None] * workers
        self._batches: list[Batch | None] = [None] * workers
        self._batch_t0 = [0.0] * workers
        self._fuzzers: dict[str, Fuzzer] = {}  # parent-side instances, to regenerate a case that killed a worker
        self._startup_failures = 0
        self._stack_dir = tempfile.mkdtemp(prefix="fuzz-stacks-")
        self.respawns = 0
        self.retired = 0  # workers that ended themselves after a batch for having grown (see RETIRE_GROWTH_MB)

    def submit(self, slot: int, batch: Batch) -> None:
        """Start a batch on an idle slot, spawning its worker if needed."""
        assert self._batches[slot] is None, f"worker slot {slot} is busy"
        if self._procs[slot] is not None and not self._procs[slot].is_alive():
            self._procs[slot].join()
            self._discard(slot)  # died between batches
        if self._procs[slot] is None:
            self._spawn(slot)
        conn = self._conns[slot]
        assert conn is not None
        self._batches[slot], self._batch_t0[slot] = batch, time.perf_counter()
        try:
            conn.send((batch.fuzzer, batch.start, batch.stop, batch.guide))
        except OSError:  # it died just now: start a fresh one
            self._procs[slot].join()
            self._discard(slot)
            self._spawn(slot)
            conn = self._conns[slot]
            assert conn is not None
            conn.send((batch.fuzzer, batch.start, batch.stop, batch.guide))

    def poll(self, wait_s: float = 0.05) -> list[PoolEvent]:
        """Wait up to wait_s for worker messages, deaths and timeouts; return what happened."""
        events: list[PoolEvent] = []
        busy = [s for s in range(self.size) if self._batches[s] is not None]
        handles: list[Any] = [self._conns[s] for s in busy] + [self._procs[s].sentinel for s in busy]
        ready = set(wait(handles, timeout=wait_s)) if handles else set()
        for s in busy:
            if self._conns[s] in ready or self._procs[s].sentinel in ready:
                self._drain(s, events)
        self._kill_hung(events)
        return events

    def close(self) -> None:
        """Stop all workers (politely, then by force)."""
        for s in range(self.size):
            conn, proc = self._conns[s], self._procs[s]
            if proc is None:
                continue
            try:
                if self._batches[s] is None and conn is not None:
                    conn.send(None)
            except OSError:
                pass
        deadline = time.monotonic() + 1.0
        for s in range(self.size):
            proc = self._procs[s]
            if proc is None:
                continue
            if self._batches[s] is None:
                proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
            proc.join()
            self._discard(s)
        self._batches = [None] * self.size
        shutil.rmtree(self._stack_dir, ignore_errors=True)

    # -- internals -------------------------------------------------------------------------------------------

    def _spawn(self, slot: int) -> None:
        parent_end, child_end = self._ctx.Pipe()
        self._index[slot] = -1
        proc = self._ctx.Process(
            target=_worker_main,
            daemon=True,
            name=f"fuzz-worker-{slot}",
            args=(
                child_end,
                slot,
                self._index,
                self._started,
                self._counts,
                self.specs,
                self.seed,
                self.memory_mb,
                self._stack_path(slot),
                os.getpid(),
            ),
        )
        proc.start()
        child_end.close()
        self._procs[slot], self._conns[slot] = proc, parent_end

    def _stack_path(self, slot: int) -> str:
        return os.path.join(self._stack_dir, f"worker-{slot}.txt")

    def _retire(self, slot: int) -> None:
        proc = self._procs[slot]
        proc.join(5.0)
        if proc.is_alive():
            proc.kill()
            proc.join()
        self._discard(slot)
        self.retired += 1

    def _discard(self, slot: int) -> None:
        conn = self._conns[slot]
        if conn is not None:
            conn.close()
        self._procs[slot], self._conns[slot] = None, None

    def _batch_counts(self, slot: int) -> dict[str, int]:
        base = slot * len(STATUSES)
        return {status: int(self._counts[base + k]) for k, status in enumerate(STATUSES)}

    def _drain(self, slot: int, events: list[PoolEvent], hung_index: int | None = None) -> None:
        """Read every pending message of a worker; on EOF the worker has died."""
        conn = self._conns[slot]
        assert conn is not None
        try:
            while self._batches[slot] is not None and conn.poll():
                message = conn.recv()
                if message[0] == "failure":
                    _, name, i, case, verdict = message
                    events.append(CaseFailure(name, i, case, Verdict.from_dict(verdict)))
                elif message[0] == "new":
                    _, name, i, case, keys = message
                    events.append(NewCoverage(name, i, case, keys))
                else:
                    _, coverage, seconds, retire = message
                    batch = self._batches[slot]
                    assert batch is not None
                    events.append(BatchDone(batch, self._batch_counts(slot), coverage, seconds))
                    self._batches[slot] = None
                    self._startup_failures = 0
                    if retire:  # it has grown too big and ends itself: the next batch of this slot gets a fresh one
                        self._retire(slot)
        except (EOFError, OSError):
            self._lost_worker(slot, events, hung_index)

    def _kill_hung(self, events: list[PoolEvent]) -> None:
        now = time.monotonic()
        for s in range(self.size):
            if self._batches[s] is None or self._procs[s] is None:
                continue
            i = self._index[s]
            if i < 0 or now - self._started[s] <= self.timeout_s or self._index[s] != i:
                continue
            _stop_hung(self._procs[s])
            self._drain(s, events, hung_index=i)  # failures it sent before hanging, then EOF
            if self._batches[s] is not None:
                self._lost_worker(s, events, i)

    def _lost_worker(self, slot: int, events: list[PoolEvent], hung_index: int | None) -> None:
        """A worker died (or was killed for hanging): record its current case and hand back the rest."""
        proc, batch = self._procs[slot], self._batches[slot]
        proc.join()
        exitcode = proc.exitcode
        self._discard(slot)
        self.respawns += 1
        self._batches[slot] = None
        if batch is None:
            return
        counts = self._batch_counts(slot)
        current = hung_index if hung_index is not None else int(self._index[slot])
        if current < 0:  # died outside any case: while loading the fuzzer, or after its last case
            done = sum(counts.values())
            self._startup_failures += 1
            if done < len(batch) and self._startup_failures >= MAX_STARTUP_FAILURES:
                raise RuntimeError(
                    f"fuzz worker for {batch.fuzzer!r} keeps dying before running a case "
                    f"({exitcode_signature(exitcode)})"
                )
            rest = replace(batch, start=batch.start + done) if done < len(batch) else None
            events.append(BatchDone(batch, counts, {}, time.perf_counter() - self._batch_t0[slot], rest))
            return
        stack = _read_stack(self._stack_path(slot))
        verdict = timeout_verdict(self.timeout_s, stack) if hung_index is not None else crash_verdict(exitcode, stack)
        counts[verdict.status] += 1
        events.append(CaseFailure(batch.fuzzer, current, self._regenerate(batch, current), verdict))
        rest = replace(batch, start=current + 1) if current + 1 < batch.stop else None
        events.append(BatchDone(batch, counts, {}, time.perf_counter() - self._batch_t0[slot], rest))

    def _regenerate(self, batch: Batch, index: int) -> dict[str, Any] | None:
        """Generate in the parent the case a dead worker was on (generation is deterministic)."""
        name = batch.fuzzer
        try:
            if name not in self._fuzzers:
                self._fuzzers[name] = load_fuzzer(self.specs[name], name)
            return generate_case(self._fuzzers[name], self.seed, index, batch.guide)
        except Exception:
            return None
