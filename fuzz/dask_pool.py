"""Dask campaigns: batches of case indices are checked on a Dask cluster; the coordinator alone triages and saves.

The rule this module keeps: a batch is the unit of work and of loss. One Dask task checks one whole batch, in an
isolated process on its Dask worker (the same WorkerPool a local campaign uses, so a segfault, hang or memory
blow-up kills that process, never the Dask worker), and returns all its failures and counts at once. A Dask worker
lost mid-task loses its batch's results whole; Dask runs the task again elsewhere (and once Dask gives up on it,
this pool submits it again), so no case is lost and none is counted twice. Cases depend only on the seed and their
index, so the same seed gives the same cases and verdicts with 1 process, N processes or N Dask workers.

`--dask tcp://HOST:8786` uses a running cluster (`dask scheduler`, then `dask worker tcp://HOST:8786` on each
machine, each with this package installed); `--dask local:N` starts a LocalCluster of N one-thread processes.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
import uuid
from collections import Counter
from typing import Any

from fuzz.case import STATUSES, Verdict
from fuzz.errors import BadInputError
from fuzz.worker import Batch, BatchDone, CaseFailure, SlotPool, WorkerPool

LOCAL_PREFIX = "local:"
CONNECT_TIMEOUT_S = 30.0  # to reach a scheduler and see its first worker
SLOTS_PER_THREAD = 2  # batches handed to Dask per worker thread: the next one waits there, no round trip idle
MAX_RESUBMITS = 20  # of one batch after Dask gave up on it (KilledWorker): past that, the cluster is broken

_local = threading.local()  # per Dask worker thread: the isolated WorkerPool that checks its batches


def parse_dask_address(text: str) -> tuple[str, Any]:
    """("local", N) for "local:N", ("address", text) for a scheduler address; else BadInputError naming it."""
    if text.startswith(LOCAL_PREFIX):
        count = text[len(LOCAL_PREFIX) :]
        if not count.isdigit() or int(count) < 1:
            raise BadInputError(f"--dask {text}: local:N needs a positive number of workers N")
        return "local", int(count)
    if "://" in text or (":" in text and text.rsplit(":", 1)[1].isdigit()):
        return "address", text
    raise BadInputError(f"--dask {text}: give a scheduler address (tcp://HOST:8786) or local:N")


def check_batch(
    specs: dict[str, str], seed: int, timeout_s: float, memory_mb: int | None, fuzzer: str, start: int, stop: int
) -> dict[str, Any]:
    """Run on a Dask worker: check cases start..stop-1 in an isolated process; return failures, counts, coverage."""
    _allow_children()
    key = (tuple(sorted(specs.items())), seed, timeout_s, memory_mb)
    pool: WorkerPool | None = getattr(_local, "pool", None)
    if pool is None or _local.key != key:
        if pool is not None:
            pool.close()
        pool = WorkerPool(specs, seed, 1, timeout_s, memory_mb)
        _local.pool, _local.key = pool, key
    failures: list[tuple[str, int, Any, dict[str, Any]]] = []
    counts: Counter[str] = Counter()
    coverage: Counter[str] = Counter()
    respawns = pool.respawns
    t0 = time.perf_counter()
    todo: Batch | None = Batch(fuzzer, start, stop)
    while todo is not None:
        pool.submit(0, todo)
        todo = None
        while pool.busy():
            for event in pool.poll(0.1):
                if isinstance(event, CaseFailure):
                    failures.append((event.fuzzer, event.index, event.case, event.verdict.to_dict()))
                elif isinstance(event, BatchDone):  # (NewCoverage comes only from guided batches, never sent here)
                    counts.update(event.counts)
                    coverage.update(event.coverage)
                    todo = event.rest  # the worker died on a case: the rest of the batch goes on in a new one
    return {
        "failures": failures,
        "counts": {status: counts.get(status, 0) for status in STATUSES},
        "coverage": dict(coverage),
        "seconds": time.perf_counter() - t0,
        "respawns": pool.respawns - respawns,
    }


def _allow_children() -> None:
    """Dask starts its workers as daemonic processes, which multiprocessing forbids to start children.

    The isolated checkers need no daemon cleanup: they end with their parent (PR_SET_PDEATHSIG, orphan checks).
    """
    process = multiprocessing.current_process()
    if process.daemon:
        try:
            process.daemon = False
        except AssertionError:  # the flag's setter refuses once started; the flag itself is only read at start()
            process._config["daemon"] = False  # type: ignore[attr-defined]


class DaskPool(SlotPool):
    """The WorkerPool interface (idle_slots, submit, poll, in_flight, busy, close) over a Dask cluster."""

    def __init__(self, address: str, specs: dict[str, str], seed: int, timeout_s: float, memory_mb: int | None):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise BadInputError(
                f"--dask {address}: needs Dask's distributed scheduler: pip install -e '.[dask]'"
            ) from None
        kind, value = parse_dask_address(address)
        self.specs, self.seed, self.timeout_s, self.memory_mb = dict(specs), seed, timeout_s, memory_mb
        self.cluster: Any = None
        try:
            if kind == "local":
                self.cluster = LocalCluster(
                    n_workers=value,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,  # a restarted worker is handled here, not news for the terminal
                )
                self.client = Client(self.cluster)
            else:
                self.client = Client(value, timeout=CONNECT_TIMEOUT_S)
            self.client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as e:
            self._close_cluster()
            raise BadInputError(f"--dask {address}: cannot reach the Dask scheduler or any worker ({e})") from None
        self.workers = max(1, sum(self.client.nthreads().values()))
        self.size = SLOTS_PER_THREAD * self.workers
        self._futures: list[Any] = [None] * self.size
        self._batches: list[Batch | None] = [None] * self.size
        self._resubmits: Counter[Batch] = Counter()
        self.respawns = 0  # batches run again because their Dask worker was lost, plus isolated-process restarts

    def submit(self, slot: int, batch: Batch) -> None:
        assert self._batches[slot] is None, f"slot {slot} is busy"
        self._batches[slot] = batch
        self._futures[slot] = self.client.submit(
            check_batch,
            self.specs,
            self.seed,
            self.timeout_s,
            self.memory_mb,
            batch.fuzzer,
            batch.start,
            batch.stop,
            key=f"fuzz-batch-{batch.fuzzer}-{batch.start}-{batch.stop}-{uuid.uuid4().hex[:8]}",
            pure=False,
        )

    def poll(self, wait_s: float = 0.05) -> list[CaseFailure | BatchDone]:
        """Wait up to wait_s for a batch to end; return its failures and its BatchDone (lost batches run again)."""
        from distributed import wait

        events: list[CaseFailure | BatchDone] = []
        pending = [f for f in self._futures if f is not None]
        if not pending:
            return events
        try:
            wait(pending, timeout=wait_s, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return events
        for slot in range(self.size):
            future, batch = self._futures[slot], self._batches[slot]
            if future is None or batch is None or not future.done():
                continue
            self._futures[slot], self._batches[slot] = None, None
            if future.status == "finished":
                self._done(batch, future.result(), events)
            else:
                self._lost(slot, batch, future)
        return events

    def close(self) -> None:
        """Cancel what is still queued, disconnect, and stop a LocalCluster this pool started."""
        live = [f for f in self._futures if f is not None]
        try:
            if live:
                self.client.cancel(live)
            self.client.close()
        except Exception:  # closing must not hide why the campaign ended
            pass
        self._close_cluster()
        self._futures, self._batches = [None] * self.size, [None] * self.size

    # -- internals -------------------------------------------------------------------------------------------

    def _done(self, batch: Batch, out: dict[str, Any], events: list[CaseFailure | BatchDone]) -> None:
        for fuzzer, index, case, verdict in out["failures"]:
            events.append(CaseFailure(fuzzer, index, case, Verdict.from_dict(verdict)))
        self.respawns += out["respawns"]
        events.append(BatchDone(batch, out["counts"], out["coverage"], out["seconds"]))

    def _lost(self, slot: int, batch: Batch, future: Any) -> None:
        """A batch whose task failed: run it again if its worker was lost, else it is a harness bug."""
        from distributed import KilledWorker

        error = future.exception() if future.status == "error" else None
        if error is not None and not isinstance(error, (KilledWorker, OSError)):
            raise RuntimeError(f"Dask batch {batch.fuzzer} {batch.start}..{batch.stop} failed: {error!r}") from error
        self._resubmits[batch] += 1
        if self._resubmits[batch] > MAX_RESUBMITS:
            raise RuntimeError(f"Dask batch {batch.fuzzer} {batch.start}..{batch.stop} lost {MAX_RESUBMITS} times")
        self.respawns += 1
        self.submit(slot, batch)

    def _close_cluster(self) -> None:
        if self.cluster is not None:
            try:
                self.cluster.close()
            except Exception:
                pass
            self.cluster = None
