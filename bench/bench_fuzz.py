"""Fuzzer throughput on one core: verified cases per second, in-process (no workers), with a time split.

Usage: python bench/bench_fuzz.py symbolic [--seconds S] [--seed N] [--wide]
       python bench/bench_fuzz.py symbolic --dask local:N [--seconds S]   (campaigns: Dask vs the process pool)
       python bench/bench_fuzz.py graphs [--seconds S | --cases N] [--seed N] [--base LLVM] [--no-gpu]
       python bench/bench_fuzz.py graphs --against OTHER_TREE [--cases N] [--repeat R]   (before/after, one run)
       python bench/bench_fuzz.py onnx [--seconds S] [--seed N]   (ONNX models checked per second)
       python bench/bench_fuzz.py symbolic --guided [--seconds S]   (coverage over time and time to each planted
                                                                    bug, with and without guidance)

graphs: `GraphFuzzer.generate` + `check` with the default mode mix (base + modes drawn per case at their rates,
fuzz.graphs.fuzzer.MODE_RATES), and the time split: generate, numpy reference, scheduling, codegen (opts, index
simplification, linearize), compile (per device), kernel runs, and the rest (tensor building, comparing); rates in
wall time and per CPU-second (this process and the C compiler: what one idle core gives on a shared machine).

Runs `SymbolicFuzzer.generate` + `check` in a loop: the default (exhaustive numpy proof for domains of at
most `SymbolicFuzzer().exhaustive_limit` points, Z3 otherwise), Z3 only (`exhaustive_limit=0`), and with
--wide the default with no domain narrowed by the generator; reports which share of the default run the
exhaustive oracle proved, and the time split (generate / simplify / verify-exh / verify-z3 / other).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import fuzz.symbolic.fuzzer as fuzzer_mod  # noqa: E402
from fuzz.symbolic.fuzzer import SymbolicFuzzer  # noqa: E402
from fuzz.symbolic.generate import GenOptions  # noqa: E402

TINYGRAD_PER_S = 108.0  # tinygrad's fuzz_symbolic on a comparable machine (the brief's reference)
TARGET_PER_S = 1000.0
ONNX_TARGET = 10.0  # ONNX models checked per second (issue 13)


class _Clock:
    """Accumulates the time spent inside wrapped functions."""

    def __init__(self) -> None:
        self.total: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def wrap(self, name: str, fn: Any) -> Any:
        def timed(*args: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kw)
            finally:
                self.total[name] = self.total.get(name, 0.0) + time.perf_counter() - t0
                self.calls[name] = self.calls.get(name, 0) + 1
        return timed


def run(seconds: float, seed: int, exhaustive_limit: int, wide_domains: float | None = None) -> dict[str, Any]:
    """Generate and check cases for `seconds`; counts, verdicts and the time split."""
    opts = GenOptions(depth=6, max_vars=3)
    if wide_domains is not None:  # the --wide row: no domain narrowed or capped
        opts.wide_domains, opts.max_wide_points = wide_domains, None
    fz = SymbolicFuzzer(opts, exhaustive_limit=exhaustive_limit)
    if exhaustive_limit == 0:
        fz.z3_quick_ms = fz.z3.timeout_ms  # Z3 only: its full limit before any exhaustive fallback
    clock = _Clock()
    orig_simplify, orig_check_all = fuzzer_mod.simplify, fuzzer_mod.check_all
    fuzzer_mod.simplify = clock.wrap("simplify", orig_simplify)
    fuzzer_mod.check_all = clock.wrap("exhaustive", orig_check_all)
    fz.z3.prove_all = clock.wrap("z3", fz.z3.prove_all)  # type: ignore[method-assign]
    rng = random.Random(seed)
    verdicts: dict[str, int] = {}
    n = 0
    t_gen = t_check = t_exh_cases = 0.0
    n_exh_cases = n_exh_calls = n_z3_calls = 0
    try:
        fz.check(fz.generate(random.Random(-1)))  # warm-up: Z3 context, numpy, imports
        clock.total.clear()
        clock.calls.clear()
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            t0 = time.perf_counter()
            case = fz.generate(rng)
            t1 = time.perf_counter()
            v = fz.check(case)
            t2 = time.perf_counter()
            if clock.calls.get("exhaustive", 0) > n_exh_calls and clock.calls.get("z3", 0) == n_z3_calls:
                t_exh_cases += t2 - t0
                n_exh_cases += 1
            n_exh_calls, n_z3_calls = clock.calls.get("exhaustive", 0), clock.calls.get("z3", 0)
            t_gen += t1 - t0
            t_check += t2 - t1
            verdicts[v.status] = verdicts.get(v.status, 0) + 1
            n += 1
        wall = time.perf_counter() - start
    finally:
        fuzzer_mod.simplify, fuzzer_mod.check_all = orig_simplify, orig_check_all
    return {"n": n, "wall": wall, "gen": t_gen, "check": t_check, "clock": clock, "verdicts": verdicts,
            "exh_cases": n_exh_cases, "exh_time": t_exh_cases}


def _row(label: str, r: dict[str, Any]) -> str:
    c = r["clock"].total
    simp, exh, z3 = c.get("simplify", 0.0), c.get("exhaustive", 0.0), c.get("z3", 0.0)
    other = r["check"] - simp - exh - z3
    w = r["wall"]
    parts = [r["gen"], simp, exh, z3, other]
    return f"{label:<22} {r['n']:>7} {r['n'] / w:>9.1f} " + " ".join(f"{100 * t / w:>9.1f}%" for t in parts)


def bench_symbolic(seconds: float, seed: int, wide: bool = False, runs: int = 1) -> None:
    """Print the table for the symbolic fuzzer; `wide` adds a row where no variable domain is narrowed.

    With runs > 1 the default mode runs that many times (seeds seed, seed+1, ...) and every rate is printed:
    one figure says little on a host whose speed drifts.
    """
    limit = SymbolicFuzzer().exhaustive_limit
    default = run(seconds, seed, limit)
    rates = [default["n"] / default["wall"]]
    for k in range(1, runs):
        r = run(seconds, seed + k, limit)
        rates.append(r["n"] / r["wall"])
    z3_only = run(seconds, seed, 0)
    unnarrowed = run(seconds, seed, limit, wide_domains=1.0) if wide else None
    print(f"symbolic fuzzer, depth 6, 3 variables, one core, {seconds:g} s per row, seed {seed}")
    print("time split, % of wall: generate, simplify (both calls of check), verify by the exhaustive oracle,")
    print("verify by Z3, other (case -> UOp, claims, verdicts)")
    cols = ["generate", "simplify", "verify-exh", "verify-z3", "other"]
    print(f"{'mode':<22} {'cases':>7} {'cases/s':>9} " + " ".join(f"{c:>10}" for c in cols))
    print(_row(f"default (exh<={limit})", default))
    print(_row("Z3 only", z3_only))
    if unnarrowed:
        print(_row("default, wide domains", unnarrowed))
    calls = default["clock"].calls
    exh, z3n = calls.get("exhaustive", 0), calls.get("z3", 0)
    n = default["n"]
    print()
    print(f"default run: {exh} of {n} cases ({100 * exh / max(n, 1):.0f}%) went to the exhaustive oracle, "
          f"{z3n} ({100 * z3n / max(n, 1):.0f}%) to Z3")
    tot = default["clock"].total
    if exh:
        print(f"  exhaustive proof: {1e3 * tot['exhaustive'] / exh:.2f} ms/case; "
              f"Z3 proof: {1e3 * tot.get('z3', 0) / max(z3n, 1):.2f} ms/case")
    if default["exh_cases"]:
        print(f"  cases proven by the exhaustive oracle alone: {default['exh_cases'] / default['exh_time']:.1f}/s "
              f"(generate + check time of those cases only)")
    print(f"  verdicts: {default['verdicts']}; Z3-only verdicts: {z3_only['verdicts']}")
    if runs > 1:
        print(f"default mode, {runs} runs (seeds {seed}..{seed + runs - 1}): "
              + ", ".join(f"{r:.0f}" for r in rates)
              + f" cases/s; min {min(rates):.0f}, median {statistics.median(rates):.0f}")
    print(f"reference: tinygrad fuzz_symbolic ~{TINYGRAD_PER_S:g}/s; target {TARGET_PER_S:g}/s")


GRAPH_REFERENCES = {"NNSmith": 0.7, "NeuRI": 8.7}  # models checked per second, as published
GRAPH_TARGET, GRAPH_MOONSHOT = 20.0, 50.0


def cpu_seconds() -> float:
    """CPU time of this process and of its waited-for children (the C compiler): on a shared machine, what one core
    spent, whatever else ran beside it."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class _SelfClock(_Clock):
    """Like _Clock, but each label gets only its own time: a wrapped call inside another (a realize point's
    compiles inside tensor building) is taken out of the outer label's time, so the rows add up to the total.
    `timer`: wall time (time.perf_counter) or CPU time (cpu_seconds)."""

    def __init__(self, timer: Any = time.perf_counter) -> None:
        super().__init__()
        self.timer = timer
        self._inner: list[float] = []  # per open wrapped call: the time of the wrapped calls inside it

    def wrap(self, name: str, fn: Any) -> Any:
        def timed(*args: Any, **kw: Any) -> Any:
            self._inner.append(0.0)
            t0 = self.timer()
            try:
                return fn(*args, **kw)
            finally:
                dt = self.timer() - t0
                inner = self._inner.pop()
                if self._inner:
                    self._inner[-1] += dt
                self.total[name] = self.total.get(name, 0.0) + dt - inner
                self.calls[name] = self.calls.get(name, 0) + 1
        return timed


def bench_graphs(seconds: float, seed: int, base: str, base_opt: int = 0, warm_cache: bool = False,
                 gpu: bool = True, cases: int | None = None) -> None:
    """Print graphs checked per second on one core with the default mode mix, and where the time goes.

    Rates in wall time and in CPU time (this process and the C compiler's): on a shared machine the CPU-time rate is
    what one idle core would give; the split is in CPU time. `cases`: check exactly that many (the same cases for a
    seed, to compare trees) instead of running for `seconds`. The C compiler's on-disk cache (UOPFUZZ_CACHE) and
    PoCL's kernel cache start empty unless `warm_cache`: a campaign's cases are new, so each of its kernels is
    compiled (a re-run of the same seed would find them all compiled)."""
    import tempfile

    if not warm_cache:
        os.environ["UOPFUZZ_CACHE"] = tempfile.mkdtemp(prefix="bench_fuzz_cache_")
        os.environ["POCL_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench_fuzz_pocl_")
    import engine.codegen.kernel as kernel_mod
    import engine.realize as realize_mod
    import fuzz.graphs.fuzzer as gf
    from engine.device import get_device

    clock = _SelfClock(cpu_seconds)
    patched: list[tuple[Any, str, Any]] = []
    if not gpu:
        patched.append((gf, "GPU_MODES", gf.GPU_MODES))
        gf.GPU_MODES = ()

    def patch(obj: Any, name: str, label: str) -> None:
        patched.append((obj, name, getattr(obj, name)))
        setattr(obj, name, clock.wrap(label, getattr(obj, name)))

    from engine.device import available

    names = ["CPU", "LLVM", "PYTHON"] + [m[4:] for m in gf.GPU_MODES[:2] if available(m[4:])]
    devices = {n: get_device(n) for n in names}
    patch(gf, "reference", "reference")
    patch(gf, "build", "build tensors")
    patch(gf, "compare", "compare")
    patch(gf, "make_values", "input values")
    patch(realize_mod, "schedule", "schedule")
    patch(kernel_mod.Kernel, "to_program", "codegen")
    patch(realize_mod, "_run", "run kernels")
    for name, dev in devices.items():
        if name != "PYTHON":  # the interpreter compiles nothing
            patch(type(dev), "render", f"render {name}")
            patch(type(dev), "compile", f"compile {name}")
            patch(type(dev), "compile_batch", f"compile {name}")  # a schedule's new kernels, compiled together
    fz = gf.GraphFuzzer(base=base, base_opt=base_opt)
    rng = random.Random(seed)
    todo = [fz.generate(rng) for _ in range(cases)] if cases is not None else None
    verdicts: dict[str, int] = {}
    n, t_gen = 0, 0.0
    try:
        fz.check(fz.generate(random.Random(-1)))  # warm-up: imports, the first compiles
        clock.total.clear()
        clock.calls.clear()
        start, cpu0 = time.perf_counter(), cpu_seconds()
        while (n < len(todo)) if todo is not None else (time.perf_counter() - start < seconds):
            t0 = cpu_seconds()
            case = todo[n] if todo is not None else fz.generate(rng)
            t_gen += cpu_seconds() - t0
            v = fz.check(case)
            verdicts[v.signature or v.status] = verdicts.get(v.signature or v.status, 0) + 1
            n += 1
        wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu0
    finally:
        for obj, name, orig in reversed(patched):
            setattr(obj, name, orig)
    tot = clock.total
    cache = "warm (kept)" if warm_cache else "cold (new UOPFUZZ_CACHE and POCL_CACHE_DIR)"
    share = f"{gf.EMULATED_GPU_RATE:.1%} of the cases: on the CPU"  # the rate the mix draws it at
    gpus = ", ".join(f"{m[4:]} ({share if gf._emulated(m[4:]) else 'every case'})"
                     for m in gf.GPU_MODES[:2] if available(m[4:])) if gpu else ""
    budget = f"{cases} cases" if cases is not None else f"{seconds:g} s"
    print(f"graph fuzzer, default mode mix (base {base} at LLVM_OPT {base_opt} + modes drawn per case"
          f"{', + ' + gpus if gpus else ', no GPU device'}), one core, "
          f"{budget}, seed {seed}, compile caches {cache}")
    print(f"{n} cases: {wall:.1f} s wall, {n / wall:.2f} graphs/s; {cpu:.1f} s CPU, {n / cpu:.2f} graphs per "
          f"CPU-second; verdicts {verdicts}")
    print("time split, % of CPU time, each part's own time (a realize point's kernels count as theirs, not "
          "building's):")
    rows = [("generate", t_gen)] + [(k, tot[k]) for k in sorted(tot, key=lambda k: -tot[k])]
    rows.append(("other (realize, checks)", cpu - t_gen - sum(tot.values())))
    for label, t in rows:
        calls = clock.calls.get(label, n if label == "generate" else 0)
        per = f"{1e3 * t / calls:8.2f} ms/call ({calls} calls)" if calls else ""
        print(f"  {label:<26} {100 * t / cpu:6.1f}%  {per}")
    refs = ", ".join(f"{k} {v:g}/s" for k, v in GRAPH_REFERENCES.items())
    print(f"reference: {refs}; target {GRAPH_TARGET:g}/s, moonshot {GRAPH_MOONSHOT:g}/s")


# checks `cases` graphs of a seed in the tree on sys.path[0] (cold caches) and prints wall and CPU seconds: the same
# few lines run against any tree, whatever its own bench script does
_GRAPHS_IN_TREE = """
import os, random, resource, sys, tempfile, time
os.environ["UOPFUZZ_CACHE"] = tempfile.mkdtemp(prefix="bench_fuzz_cache_")
os.environ["POCL_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench_fuzz_pocl_")
import fuzz.graphs.fuzzer as gf
if sys.argv[3] == "0":
    gf.GPU_MODES = ()
def cpu():
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
fz = gf.GraphFuzzer()
fz.check(fz.generate(random.Random(-1)))
rng = random.Random(int(sys.argv[2]))
cases = [fz.generate(rng) for _ in range(int(sys.argv[1]))]
t0, c0 = time.perf_counter(), cpu()
for c in cases:
    fz.check(c)
print(time.perf_counter() - t0, cpu() - c0)
"""


def bench_graphs_against(other: str, cases: int, seed: int, repeats: int, gpu: bool) -> None:
    """Before/after in one run: this tree and `other` (a checkout of another commit) check the same `cases` graphs,
    alternately `repeats` times each, in fresh processes with cold caches; medians of graphs/s, wall and CPU."""
    import subprocess

    trees = {"this tree": os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
             "other": os.path.abspath(other)}
    got: dict[str, list[tuple[float, float]]] = {k: [] for k in trees}
    for _ in range(repeats):
        for label, tree in trees.items():
            env = {**os.environ, "PYTHONPATH": tree}
            out = subprocess.run([sys.executable, "-c", _GRAPHS_IN_TREE, str(cases), str(seed), str(int(gpu))],
                                 cwd=tree, env=env, capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(f"bench in {tree} failed:\n{out.stderr[-3000:]}")
            wall, cpu = map(float, out.stdout.split()[-2:])
            got[label].append((wall, cpu))
    print(f"graph fuzzer, {cases} cases of seed {seed}, {'with' if gpu else 'no'} GPU devices, cold caches, "
          f"{repeats} alternating runs each (medians)")
    print(f"  {'tree':<12} {'graphs/s wall':>14} {'graphs/CPU-s':>13}   runs (wall/CPU s)")
    for label, runs in got.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        detail = ", ".join(f"{w:.1f}/{c:.1f}" for w, c in runs)
        print(f"  {label:<12} {cases / wall:14.2f} {cases / cpu:13.2f}   {detail}   {trees[label]}")


def bench_dask(fuzzer: str, seconds: float, seed: int, address: str) -> None:
    """Campaign throughput (`fuzz run`): the local process pool against Dask at 1 and N workers, same seed.

    "steady" counts from the first checked batch on, so the Dask cluster's start (and the workers' first imports)
    are left out; "start" is the time until then.
    """
    import tempfile

    from fuzz.campaign import run_campaign
    from fuzz.dask_pool import parse_dask_address

    kind, n = parse_dask_address(address)
    counts = sorted({1, n}) if kind == "local" else [os.cpu_count() or 1]  # a remote cluster: its own size
    print(f"{fuzzer} campaigns, {seconds:g} s each, seed {seed}, {os.cpu_count()} cores here")
    print(f"{'pool':<16} {'workers':>7} {'cases':>9} {'cases/s':>9} {'steady/s':>9} {'start s':>8} {'coord cpu':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for workers in counts:
            for dask in (None, f"local:{workers}" if kind == "local" else address):
                cpu = time.process_time()  # the coordinator's own CPU (its threads; not the workers')
                r = run_campaign([fuzzer], seconds=seconds, seed=seed, workers=workers, dask=dask,
                                 corpus_dir=os.path.join(tmp, "corpus"), report_dir=None, minimize_seconds=0)
                first = next((p for p in r.timeline if p["cases"] > 0), r.timeline[-1])
                last = r.timeline[-1]
                span = last["t"] - first["t"]
                steady = (last["cases"] - first["cases"]) / span if span > 0 else 0.0
                label = f"dask {dask}" if dask else "processes"
                print(f"{label:<16} {r.workers:>7} {r.cases:>9,} {r.cases / r.fuzz_seconds:>9,.0f} "
                      f"{steady:>9,.0f} {first['t']:>8.1f} {(time.process_time() - cpu) / r.elapsed:>8.0%}")


def _guided_run(seconds: float, seed: int, mode: str, traced: bool, signature: str | None = None) -> dict[str, Any]:
    """The guided-round algorithm in process (one worker, one batch per round): mode is "off", "rules" or "arcs"
    (what guides); traced: measure the arcs of engine/symbolic.py (every mode pays the tracer alike). Returns the
    samples (t, rules reached, arcs reached) and, with signature, the seconds until a case fails that way."""
    from fuzz.guided import ARC_PREFIX, ROUND_CASES, ArcTracer, GuidedRounds, guided_case, traced_file
    from fuzz.worker import case_rng

    f = SymbolicFuzzer()
    rounds = GuidedRounds(["symbolic"], ROUND_CASES, branches=mode == "arcs")
    tracer = ArcTracer(traced_file()) if traced else None
    rules: set[str] = set()
    arcs: set[str] = set()
    samples, found, i, t0 = [], None, 0, time.perf_counter()
    next_sample = 1.0
    while time.perf_counter() - t0 < seconds:
        guide = rounds.guide("symbolic")
        case = guided_case(f, seed, i, case_rng(seed, i), guide)[0] if mode != "off" else f.generate(case_rng(seed, i))
        if tracer is not None:
            with tracer.tracing():
                verdict = f.check(case)
        else:
            verdict = f.check(case)
        keys = [k for k, n in f.coverage().items() if n]
        case_arcs = tracer.take() if tracer is not None else []
        rules.update(keys)
        arcs.update(case_arcs)
        if mode != "off":
            rounds.report("symbolic", i, case, keys + (case_arcs if mode == "arcs" else []))
            rounds.maybe_close("symbolic", i + 1)
        i += 1
        now = time.perf_counter() - t0
        if signature is not None and verdict.signature == signature:
            found = now
            break
        if now >= next_sample:
            samples.append((now, len(rules), len(arcs)))
            next_sample *= 2
    samples.append((time.perf_counter() - t0, len(rules), len({a for a in arcs if a.startswith(ARC_PREFIX)})))
    return {"samples": samples, "found": found, "cases": i}


def bench_guided(seconds: float, seed: int) -> None:
    """Coverage over time with and without guidance (equal budget, same seed), and time to each planted bug of
    tests/test_symbolic_fuzzer.py."""
    import importlib.util
    import tempfile

    import engine.symbolic as sym
    from fuzz.campaign import run_campaign
    from fuzz.guided import branch_summary

    rules = len(SymbolicFuzzer().coverage_keys())
    print(f"symbolic, {seconds:g} s per mode, seed {seed}, one process; rules of {rules}, arcs of engine/symbolic.py "
          "(every mode traced alike)")
    print(f"{'guided by':<12} {'cases':>7}  rules/arcs reached at 1, 2, 4, 8, ... s and at the end")
    for mode in ("off", "rules", "arcs"):
        r = _guided_run(seconds, seed, mode, traced=True)
        points = "  ".join(f"{t:.0f}s:{n}/{a}" for t, n, a in r["samples"])
        print(f"{mode:<12} {r['cases']:>7}  {points}")
    print(f"engine/symbolic.py has {branch_summary(set())['lines_total']} executable lines")
    print(f"\ncampaigns (fuzz run, 1 worker, {seconds:g} s, untraced): the cost of guidance itself")
    with tempfile.TemporaryDirectory() as tmp:
        for guided in (False, True):
            r = run_campaign(["symbolic"], seconds=seconds, seed=seed, workers=1, corpus_dir=tmp, report_dir=None,
                             minimize_seconds=0, guided=guided)
            hit = sum(1 for n in r.coverage.values() if n)
            print(f"{'guided' if guided else 'unguided':<10} {r.cases:>8,} cases {r.cases / r.fuzz_seconds:>7,.0f}/s "
                  f"rules reached {hit}")
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "test_symbolic_fuzzer.py")
    spec = importlib.util.spec_from_file_location("planted_symbolic", path)
    assert spec is not None and spec.loader is not None
    planted = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(planted)
    bugs = [("fold_mod", planted._mod_fold_ignoring_sign, "mismatch:not-equal:fold_mod"),
            ("fold_div", planted._div_fold_ignoring_sign, "mismatch:not-equal:fold_div"),
            ("affine_simplify", planted._fast_path_dropping_constants, "mismatch:fast-path")]
    print(f"\nseconds (cases) to the first case of each planted bug, seeds {seed}..{seed + 4}, median; untraced")
    for target, bug, signature in bugs:
        real = getattr(sym, target)
        setattr(sym, target, bug)
        try:
            row = []
            for mode in ("off", "rules"):
                runs = [_guided_run(seconds, s, mode, traced=False, signature=signature) for s in range(seed, seed + 5)]
                times = sorted(r["found"] if r["found"] is not None else float("inf") for r in runs)
                cases = sorted(r["cases"] for r in runs)
                row.append(f"{mode}: {times[2]:.3f} s ({cases[2]})")
            print(f"{target:<16} " + "   ".join(row))
        finally:
            setattr(sym, target, real)


def bench_onnx(seconds: float, seed: int) -> None:
    """Print ONNX models checked per second on one core (generate, build, onnxruntime off and on, the engine on
    its base device, compare), and where the time goes."""
    import fuzz.onnx.fuzzer as of

    clock = _Clock()
    patched: list[tuple[Any, str, Any]] = []

    def patch(obj: Any, name: str, label: str) -> None:
        patched.append((obj, name, getattr(obj, name)))
        setattr(obj, name, clock.wrap(label, getattr(obj, name)))

    patch(of, "gen_case", "generate")
    patch(of, "to_model", "build model")
    patch(of, "feeds", "input values")
    patch(of, "run_ort", "onnxruntime")
    patch(of, "run_reference", "onnx.reference")
    patch(of, "run_engine", "engine")
    patch(of, "compare", "compare")
    fz = of.OnnxFuzzer()
    rng = random.Random(seed)
    verdicts: dict[str, int] = {}
    n = 0
    try:
        fz.check(fz.generate(random.Random(-1)))  # warm-up: imports, onnxruntime's start
        clock.total.clear()
        clock.calls.clear()
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            v = fz.check(fz.generate(rng))
            verdicts[v.signature or v.status] = verdicts.get(v.signature or v.status, 0) + 1
            n += 1
        wall = time.perf_counter() - start
    finally:
        for obj, name, orig in reversed(patched):
            setattr(obj, name, orig)
    print(f"onnx fuzzer (engine on {fz.device} at LLVM_OPT 0, onnxruntime optimizations off and on), one core, "
          f"{seconds:g} s, seed {seed}")
    print(f"{n} models in {wall:.1f} s: {n / wall:.2f} models/s; verdicts {verdicts}")
    print("time split, % of wall (the engine's share includes its import, schedule, codegen and compile):")
    tot = clock.total
    for label in sorted(tot, key=lambda k: -tot[k]):
        calls = clock.calls.get(label, 0)
        print(f"  {label:<16} {100 * tot[label] / wall:6.1f}%  {1e3 * tot[label] / max(calls, 1):8.2f} ms/call "
              f"({calls} calls)")
    print(f"  {'other':<16} {100 * (wall - sum(tot.values())) / wall:6.1f}%")
    print(f"reference: NNSmith ~0.7/s, NeuRI 8.7/s against onnxruntime; target {ONNX_TARGET:g}/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("fuzzer", choices=["symbolic", "graphs", "onnx"])
    ap.add_argument("--base", default="LLVM", help="graphs: the base device")
    ap.add_argument("--base-opt", type=int, default=0, help="graphs: LLVM's optimization level outside llvm-O2")
    ap.add_argument("--no-gpu", action="store_true",
                    help="graphs: leave the GPU devices (CUDA, OPENCL) out of the mode mix, as on a machine without "
                         "them")
    ap.add_argument("--warm-cache", action="store_true",
                    help="graphs: keep the C compiler's and PoCL's on-disk caches (default: start from empty ones)")
    ap.add_argument("--seconds", type=float, default=10.0, help="seconds per mode")
    ap.add_argument("--cases", type=int, help="graphs: check this many cases of the seed instead of --seconds")
    ap.add_argument("--against", metavar="TREE",
                    help="graphs: before/after in one run, this tree against TREE (a checkout of another commit)")
    ap.add_argument("--repeat", type=int, default=3, help="graphs --against: alternating runs of each tree")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", type=int, default=1, help="runs of the default mode (seeds seed, seed+1, ...)")
    ap.add_argument("--wide", action="store_true",
                    help="also run with the generator's domains left as drawn (GenOptions.wide_domains=1)")
    ap.add_argument("--dask", metavar="ADDRESS",
                    help="campaigns instead: cases/s of the process pool vs Dask (local:N or tcp://HOST:8786)")
    ap.add_argument("--guided", action="store_true",
                    help="symbolic: coverage over time and time to each planted bug, with and without guidance")
    args = ap.parse_args()
    if args.guided:
        bench_guided(args.seconds, args.seed)
        return
    if args.dask:
        bench_dask(args.fuzzer, args.seconds, args.seed, args.dask)
        return
    if args.fuzzer == "onnx":
        bench_onnx(args.seconds, args.seed)
        return
    if args.fuzzer == "graphs" and args.against:
        bench_graphs_against(args.against, args.cases or 150, args.seed, args.repeat, not args.no_gpu)
        return
    if args.fuzzer == "graphs":
        bench_graphs(args.seconds, args.seed, args.base, args.base_opt, args.warm_cache, not args.no_gpu, args.cases)
        return
    bench_symbolic(args.seconds, args.seed, args.wide, args.runs)


if __name__ == "__main__":
    main()
