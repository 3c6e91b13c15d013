"""Speed of the symbolic engine: microseconds per `simplify()` and `graph_rewrite` UOps per second.

Usage: python bench/bench_symbolic.py [--count N] [--seed S] [--depth D] [--skip-graph] [--rules-only] [--tinygrad]

--tinygrad also times tinygrad's own simplify() on the very same expressions, in the same loop (each expression is
translated to tinygrad UOps before either clock starts): the like-for-like form of the brief's "a third of tinygrad".
It needs tinygrad 0.14 (`pip install tinygrad==0.14.0`, no dependencies; the `bench` extra).

Every expression is built fresh and simplified once (UOps are interned and cache their bounds, so timing a
second simplify of the same object would time a cache). Each expression is dropped before the next is built.
Before timing, 50 expressions of another seed are simplified (the matcher's per-op candidate tables fill on
first use: a one-off cost of ~15 ms that would otherwise land on the first timed expression).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import random
import statistics
import sys
import time
from typing import Any, Callable, Iterator

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from engine.dtype import dtypes  # noqa: E402
from engine.rewrite import PatternMatcher, UPat, graph_rewrite, track_rules  # noqa: E402
from engine.symbolic import affine_simplify, simplify, symbolic  # noqa: E402
from engine.uop import Ops, UOp  # noqa: E402

DEPTH = 6
WARMUP = 50  # expressions of another seed simplified before timing a family
# tinygrad 0.14 on a comparable machine, microseconds per simplify (the brief's reference)
TINYGRAD_US = {"simple": 35.0, "complex": 352.0, "div-heavy": 48.0}


def _variables(rng: random.Random, n: int, negative: float = 0.0) -> list[UOp]:
    out = []
    for i in range(n):
        hi = rng.choice([1, 3, 7, 9, 15, 16, 31, 64, 100, 255, 1000])
        lo = -rng.randint(1, 40) if rng.random() < negative else 0
        out.append(UOp.variable("xyzw"[i], lo, hi))
    return out


def gen_simple(rng: random.Random, depth: int, vs: list[UOp]) -> UOp:
    """+, - and * by constants over the variables."""
    if depth <= 0:
        return rng.choice(vs) if rng.random() < 0.8 else UOp.const(dtypes.index, rng.randint(-8, 16))
    a = gen_simple(rng, depth - 1, vs)
    r = rng.random()
    if r < 0.3:
        return a * rng.choice([-3, -2, -1, 2, 3, 4, 5, 8, 16])
    if r < 0.5:
        return a + rng.randint(-16, 16)
    b = gen_simple(rng, rng.randint(0, depth - 1), vs)
    return a + b if r < 0.8 else a - b


def gen_complex(rng: random.Random, depth: int, vs: list[UOp]) -> UOp:
    """Every integer op: + - * // % max min, comparisons and where."""
    if depth <= 0:
        return rng.choice(vs) if rng.random() < 0.8 else UOp.const(dtypes.index, rng.randint(-8, 16))
    a = gen_complex(rng, depth - 1, vs)
    r = rng.random()
    if r < 0.12:
        return a + rng.randint(-8, 8)
    if r < 0.24:
        return a * rng.randint(-4, 4)
    if r < 0.36:
        return a // rng.randint(1, 9)
    if r < 0.48:
        return a % rng.randint(1, 9)
    if r < 0.54:
        return a.maximum(rng.randint(-10, 10)) if rng.random() < 0.5 else a.minimum(rng.randint(-10, 10))
    b = gen_complex(rng, rng.randint(0, depth - 1), vs)
    if r < 0.74:
        return a + b
    if r < 0.80:
        return a - b
    if r < 0.84:
        return a * b
    if r < 0.88:
        return a.maximum(b) if rng.random() < 0.5 else a.minimum(b)
    cmp = rng.choice([a < b, a <= rng.randint(-5, 20), a.ne(b), a.eq(rng.randint(0, 9)), b < a])
    return cmp.where(a, b)


def gen_div(rng: random.Random, depth: int, vs: list[UOp]) -> UOp:
    """Nested // and % by constants over sums of scaled variables."""
    if depth <= 0:
        acc = UOp.const(dtypes.index, rng.randint(0, 12))
        for v in rng.sample(vs, rng.randint(1, len(vs))):
            acc = v * rng.choice([1, 2, 3, 4, 6, 8, 12, 16, 32]) + acc
        return acc
    a = gen_div(rng, depth - 1, vs)
    r = rng.random()
    if r < 0.35:
        return a // rng.choice([2, 3, 4, 5, 6, 8, 12, 16, 32])
    if r < 0.7:
        return a % rng.choice([2, 3, 4, 5, 6, 8, 12, 16, 32])
    if r < 0.85:
        return a * rng.choice([2, 3, 4, 8]) + rng.choice(vs)
    return a + gen_div(rng, 0, vs)


FAMILIES: dict[str, Callable[[random.Random, int, list[UOp]], UOp]] = {
    "simple": gen_simple, "complex": gen_complex, "div-heavy": gen_div}


def tinygrad_translator() -> Callable[[UOp], Any]:
    """A function that rebuilds one of our index expressions as tinygrad 0.14 UOps, the way tinygrad's own Python
    operators spell it (`a - b` is its `a + b*-1`, `-a` its `a*-1`, `//` and `%` its floor division and modulo),
    wherever that means the same: // and % of a numerator that cannot be negative by a positive constant agree with
    C's truncation; elsewhere they become tinygrad's C-semantics CDIV and CMOD.
    """
    try:
        from tinygrad.dtype import dtypes as tdtypes  # type: ignore[import-not-found]
        from tinygrad.uop.ops import Ops as TOps  # type: ignore[import-not-found]
        from tinygrad.uop.ops import UOp as TUOp
    except ImportError as e:
        raise SystemExit(f"--tinygrad: tinygrad is not importable ({e}); pip install tinygrad==0.14.0") from None
    index = TUOp.variable("_probe", 0, 1).dtype  # the dtype tinygrad gives variables (its index type)
    same = {Ops.ADD: lambda a, b: a + b, Ops.SUB: lambda a, b: a - b, Ops.MUL: lambda a, b: a * b,
            Ops.MAX: lambda a, b: a.maximum(b), Ops.MIN: lambda a, b: a.minimum(b), Ops.CMPLT: lambda a, b: a < b,
            Ops.CMPLE: lambda a, b: (b < a).logical_not(), Ops.CMPNE: lambda a, b: a.ne(b),
            Ops.CMPEQ: lambda a, b: a.eq(b), Ops.NEG: lambda a: -a, Ops.WHERE: lambda c, a, b: c.where(a, b)}

    def translate(e: UOp) -> Any:
        env: dict[UOp, Any] = {}
        for u in e.toposort:
            s = [env[x] for x in u.src]
            if u.op is Ops.CONST:
                env[u] = TUOp.const(u.arg, tdtypes.bool if isinstance(u.arg, bool) else index)
            elif u.op is Ops.DEFINE_VAR:
                env[u] = TUOp.variable(*u.arg)
            elif u.op in same:
                env[u] = same[u.op](*s)
            elif u.op in (Ops.IDIV, Ops.MOD):
                if u.src[0].vmin >= 0 and u.src[1].vmin > 0:  # floor == truncation here
                    env[u] = s[0] // s[1] if u.op is Ops.IDIV else s[0] % s[1]
                else:
                    env[u] = s[0].alu(TOps.CDIV if u.op is Ops.IDIV else TOps.CMOD, s[1])
            else:
                raise NotImplementedError(f"no tinygrad translation for {u.op}")
        return env[e]
    return translate


def tinygrad_op_count(t: Any) -> int:
    """Operations in a tinygrad UOp graph, leaves (constants, variables) not counted, as our op_count."""
    return sum(1 for x in t.toposort() if x.src and not x.is_variable)


def _expressions(name: str, count: int, seed: int, depth: int = DEPTH) -> Iterator[tuple[UOp, list[UOp]]]:
    """`count` different expressions of one family (and their variables), built one at a time."""
    gen = FAMILIES[name]
    negative = 0.3 if name == "complex" else 0.0
    rng = random.Random(seed)
    seen: set[tuple] = set()
    while len(seen) < count:
        vs = _variables(rng, rng.randint(2, 3), negative)
        e = gen(rng, depth, vs)
        text = (e.render(), tuple(v.arg for v in vs))
        if text not in seen:  # only different expressions count
            seen.add(text)
            yield e, vs
        del e, vs


def bench_simplify(name: str, count: int, seed: int, rules_only: bool = False,
                   tinygrad: Callable[[UOp], Any] | None = None, depth: int = DEPTH) -> dict:
    """Time the first simplify of `count` different expressions of one family.

    rules_only: simplify with rule hits counted (engine.rewrite.track_rules), which sends every expression through
    the rules instead of the affine fast path: the comparison that shows what the fast path is worth.
    tinygrad: a translator (tinygrad_translator); then a second pass builds the same expressions again and times
    tinygrad's simplify on each (a pass of its own, so neither engine runs between the other's expressions).
    """
    mode = track_rules if rules_only else contextlib.nullcontext
    warm = random.Random(seed + 1_000_003)
    for _ in range(WARMUP):  # first calls fill the matcher's candidate tables: steady state is what is timed
        e = FAMILIES[name](warm, depth, _variables(warm, warm.randint(2, 3), 0.3 if name == "complex" else 0.0))
        if tinygrad is not None:
            tinygrad(e).simplify()
        simplify(e)
    gc.collect()
    times, sizes, out_sizes, fast = [], [], [], 0
    for e, _ in _expressions(name, count, seed, depth):
        with mode():
            t0 = time.perf_counter_ns()
            out = simplify(e)
            dt = (time.perf_counter_ns() - t0) / 1e3
        out_sizes.append(out.op_count())
        sizes.append(e.op_count())
        times.append(dt)
        fast += affine_simplify(e) is not None
        del e, out
    r = {"family": name, "n": count, "ops": statistics.mean(sizes), "mean_us": statistics.mean(times),
         "median_us": statistics.median(times), "p90_us": sorted(times)[int(0.9 * len(times))],
         "fast_pct": 100 * fast / count, "out_ops": statistics.mean(out_sizes)}
    if tinygrad is not None:
        gc.collect()
        tg_times, tg_out = [], []
        for e, _ in _expressions(name, count, seed, depth):
            t = tinygrad(e)  # translated before the clock starts
            del e
            t0 = time.perf_counter_ns()
            tout = t.simplify()
            tg_times.append((time.perf_counter_ns() - t0) / 1e3)
            tg_out.append(tinygrad_op_count(tout))
            del t, tout
        r.update(tinygrad_mean_us=statistics.mean(tg_times), tinygrad_median_us=statistics.median(tg_times),
                 tinygrad_out_ops=statistics.mean(tg_out))
    return r


def index_dag(n_nodes: int, seed: int) -> UOp:
    """A sink of many small index expressions over shared ranges: roughly `n_nodes` UOps."""
    rng = random.Random(seed)
    ranges = [UOp.range(rng.choice([3, 4, 8, 16, 32, 64]), i) for i in range(8)]
    outs: list[UOp] = []
    count = 0
    while count < n_nodes:
        r0, r1, r2 = rng.sample(ranges, 3)
        s0, s1 = rng.randint(1, 4096), rng.randint(1, 64)
        idx = r0 * s0 + r1 * s1 + r2 + rng.randint(0, 7)
        e = (idx // rng.choice([2, 4, 8, 16, 3])) % rng.randint(2, 5000) + (idx % rng.choice([4, 8, 16]))
        outs.append(e)
        count += 8  # about 8 new UOps per expression: ranges and small constants are shared
    return UOp.sink(*outs)


def bench_graph(n_nodes: int, chain: int, seed: int) -> list[dict]:
    """graph_rewrite throughput: the symbolic matcher on an index DAG, a tiny matcher on a deep NEG chain."""
    rows = []
    root = index_dag(n_nodes, seed)
    n = len(root.toposort)
    t0 = time.perf_counter()
    graph_rewrite(root, symbolic)
    dt = time.perf_counter() - t0
    rows.append({"case": f"index DAG ({n} UOps), symbolic", "uops": n, "s": dt, "uops_per_s": n / dt})
    del root
    gc.collect()

    x = UOp.variable("x", 0, 100)
    u = x
    for _ in range(chain):
        u = UOp(Ops.NEG, dtypes.index, (u,))
    neg_neg = PatternMatcher([(UPat(Ops.NEG, src=(UPat(Ops.NEG, src=(UPat.var("x"),)),)), lambda x: x, "neg_neg")])
    t0 = time.perf_counter()
    out = graph_rewrite(u, neg_neg)
    dt = time.perf_counter() - t0
    assert out is (x if chain % 2 == 0 else -x)
    rows.append({"case": f"NEG chain ({chain} deep), 1 rule", "uops": chain + 1, "s": dt,
                 "uops_per_s": (chain + 1) / dt})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=500, help="expressions per family")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dag-nodes", type=int, default=200_000)
    ap.add_argument("--chain", type=int, default=1_000_000)
    ap.add_argument("--skip-graph", action="store_true")
    ap.add_argument("--depth", type=int, default=DEPTH, help=f"expression depth (default {DEPTH}, the brief's)")
    ap.add_argument("--rules-only", action="store_true",
                    help="also time every family with all expressions going through the rules (no affine fast path)")
    ap.add_argument("--tinygrad", action="store_true",
                    help="also time tinygrad 0.14's simplify on the same expressions, in the same loop")
    args = ap.parse_args()
    tg = tinygrad_translator() if args.tinygrad else None
    if tg:
        import importlib.metadata

        try:
            version = importlib.metadata.version("tinygrad")
        except importlib.metadata.PackageNotFoundError:
            version = "unknown version"
        print(f"tinygrad {version} on the same expressions (its operators' spelling, see tinygrad_translator)")
    print(f"simplify(), depth {args.depth}, {args.count} different expressions per family, seed {args.seed}")
    same = f" {'tinygrad, same exprs: mean us':>30} {'ratio':>6} {'ops out (ours/tg)':>18}" if tg else ""
    print(f"{'family':<16} {'ops/expr':>9} {'fast path':>10} {'mean us':>9} {'median us':>10} {'p90 us':>9} "
          f"{'tinygrad us':>12} {'target us':>10}{same}")
    for name in FAMILIES:
        for rules_only in ((False, True) if args.rules_only else (False,)):
            r = bench_simplify(name, args.count, args.seed, rules_only, tg, args.depth)
            ref = TINYGRAD_US[name]
            label = name + (" (rules)" if rules_only else "")
            share = "-" if rules_only else f"{r['fast_pct']:.0f}%"
            line = (f"{label:<16} {r['ops']:>9.1f} {share:>10} {r['mean_us']:>9.1f} {r['median_us']:>10.1f} "
                    f"{r['p90_us']:>9.1f} {ref:>12.0f} {ref / 3:>10.0f}")
            if tg:
                tm = r["tinygrad_mean_us"]
                line += (f" {tm:>19.1f} (med {r['tinygrad_median_us']:>4.0f}) {tm / r['mean_us']:>5.2f}x "
                         f"{r['out_ops']:>9.2f} / {r['tinygrad_out_ops']:.2f}")
            print(line)
    if args.skip_graph:
        return
    print()
    print(f"{'graph_rewrite':<40} {'UOps':>9} {'seconds':>9} {'UOps/s':>11}")
    for r in bench_graph(args.dag_nodes, args.chain, args.seed):
        print(f"{r['case']:<40} {r['uops']:>9} {r['s']:>9.2f} {r['uops_per_s']:>11,.0f}")


if __name__ == "__main__":
    main()
