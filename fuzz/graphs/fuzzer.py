"""The graph fuzzer: random tensor programs, run by the engine several ways and checked against numpy.

One case is one program (fuzz.graphs.case) executed in several configurations, each compared with the numpy
reference (oracles.numpy_ref, tolerance policy in oracles.compare):
  base          the base device (LLVM unless told otherwise, compiled at LLVM_OPT 0: ~1.5 ms a kernel), fused
                schedule, the default opts, outputs together
  noopt         fused, no opts                           randopt   fused, a random valid list of opts per kernel
                                                                   (UPCAST, UNROLL, ACCUM, REORDER)
  randopt:<D>   random opts on device D, drawn from every opt D accepts: randopt:CPU adds VECTOR (the C renderer's
                SIMD lanes), a GPU device adds LOCAL and GROUP; randopt:gpu is CUDA where available, else PYTHON_GPU
  unfused       every op its own kernel, no opts          separate  outputs realized one at a time, last first,
                                                                   or in random groups (case.realize_groups)
  dev:<NAME>    another device (CPU, LLVM, PYTHON; PYTHON checks every memory access; the GPU devices CUDA, OPENCL
                and PYTHON_GPU, which emulates a GPU's grid, workgroup memory and barriers), fused, default opts
  llvm-O2       LLVM with its optimizer at level 2 (what users run), fused, default opts
  shard         the case over 2-5 instances of the base device (engine.multi): each input replicated or split on a
                random axis into random, uneven pieces (empty ones too), drawn from the case's seed; a case using an
                op that cannot run sharded (engine.multi.ShardError) passes this mode untested
  split         the base device with every reduce of 6 elements and up into few values split in two kernels (a
                realized buffer of partials, then their reduce), the schedule a large sum or mean takes
By default each case runs `base` and each other mode on its own draw from the case's seed, at the rate MODE_RATES
gives it (and the GPU rates below): cheap modes often, those that start a compiler or interpret every thread
seldom, so that a core checks about 20 cases a second and no mode takes much more of its time than the others; a
failure of `base` runs them all to find which part of the engine is at fault. Every kernel passes engine/spec.py
(dtypes, every index provably in bounds) before it runs, integer index tensors run under engine.checked_indexing(),
and every buffer has guard zones checked after each kernel (engine.realize.guard_zones: an out-of-bounds store on CPU
or LLVM is crash:<mode>:GuardError; the PYTHON device checks every access itself).

Signatures (what the minimizer keeps while it shrinks a case):
  mismatch:numpy           every configuration differs from numpy (an op's semantics, the frontend, lowering)
  mismatch:fusion          fused schedules differ, the unfused one agrees
  mismatch:opts:default    the default opts differ, no opts agree   mismatch:opts:random   random opts differ
  mismatch:opts:random:<D> random opts on device D differ, D's default opts agree (else mismatch:device:<D>)
  mismatch:device:<NAME>   one device differs, another agrees (device:LLVM-O2: LLVM's optimized code differs)
  mismatch:order           realizing the outputs one at a time differs from realizing them together
  mismatch:shard           the sharded run differs (a layout, a reshard, the all-reduce, the gather)
  mismatch:split           the schedule with reduces split in two differs
  crash:<mode>:<Error>     the engine raised (or the spec checker refused a kernel: crash:<mode>:SpecError)
  invalid:reference        the reference cannot evaluate the case (not a finding)
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import numpy as np

from fuzz.base import Fuzzer
from fuzz.case import Verdict
from fuzz.graphs.case import BadCase, build, infer_types, make_values, needed, op_count, realize_groups, reference
from fuzz.graphs.generate import gen_case
from fuzz.graphs.mutate import mutate_graph
from fuzz.graphs.ops import HALF, OPS
from fuzz.graphs.reduce import reductions
from fuzz.graphs.repro import SPLIT_MODE, reproducer_source
from oracles.compare import compare
from oracles.numpy_ref import Ref

OTHER_MODES = ("noopt", "randopt", "unfused", "separate", "dev:CPU", "dev:PYTHON", "llvm-O2")
# The share of cases each of them joins, drawn on its own. Set by cost (one core, CPU ms a run on the 2026-12 case
# mix: noopt 3.6, separate 3.5, split 4.5, dev:PYTHON 7.6, base 10.5, randopt 11, unfused 18, PYTHON_GPU 20, shard
# 32, randopt:gpu 36, llvm-O2 45, dev:CPU 47 (cc), randopt:CPU 65 (cc), OPENCL on PoCL 230): a case costs ~50 ms;
# the base takes a fifth of a campaign's time, the two C compiler modes a quarter (the C renderer writes the CPU,
# OpenCL and CUDA devices' code: at 0.1 and 0.06 four C-renderer mutants went unfound), each other mode 2-8%.
# `separate` applies to cases with several outputs.
MODE_RATES = {"noopt": 0.4, "randopt": 0.35, "unfused": 0.15, "separate": 0.3, "dev:CPU": 0.2, "dev:PYTHON": 0.2,
              "llvm-O2": 0.04}
# GPU devices, drawn on their own (the others' draws stay as they were): CUDA and OPENCL join every case where they
# are a GPU; OPENCL on the host's cores (PoCL) 1.5% of the cases: its builds cost ~80 ms and each kernel's first
# launch about as much again (~0.23 s a case: at a tenth of the cases, a third of a campaign's time), and what only
# it checks is the OpenCL dialect of the C renderer; PYTHON_GPU (the emulator: GPU semantics, every access checked)
# an eighth
GPU_MODES = ("dev:CUDA", "dev:OPENCL", "dev:PYTHON_GPU")
PYTHON_GPU_RATE = 0.12
EMULATED_GPU_RATE = 0.015
# random opts on a CPU device (VECTOR too) and on a GPU device (LOCAL and GROUP too), each its own draw; "gpu" is
# CUDA where it is available, else the PYTHON_GPU emulator (slow, but it checks every access: a small rate)
# a case with a matmul-like op and 16-bit or 8-bit float inputs may take tensor cores on a GPU (a float32 matmul of
# values cast up from them): the emulator runs it, with default and random opts, more often
TC_SHAPED_GPU_RATE = 0.45
TC_SHAPED_OPS = ("matmul", "dot", "einsum", "conv2d", "conv_transpose2d")
RANDOPT_MODES = ("randopt:CPU", "randopt:gpu")
RANDOPT_CPU_RATE = 0.08
RANDOPT_GPU_RATE = 0.06


@dataclass(frozen=True)
class Config:
    """One way of running a case."""

    name: str
    device: str
    fuse: bool = True
    opts: str = "default"  # "default" | "none" | "random"
    separate: bool = False
    llvm_opt: int = 0  # LLVM's optimization level, where the device is LLVM
    shard: bool = False  # over several instances of `device` (engine.multi)
    split: bool = False  # small reduces split in two as large ones are (SPLIT_MODE, engine.rangeify)


@dataclass
class Outcome:
    config: Config
    status: str  # "pass" | "mismatch" | "crash"
    error: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    kernels: list[dict[str, Any]] = field(default_factory=list)
    results: list[np.ndarray] | None = None


def device_available(name: str) -> bool:
    """Whether the engine can run on `name` here (LLVM needs llvmlite)."""
    from engine.device import available

    return available(name)


def _emulated(name: str) -> bool:
    """Whether a GPU device runs on the host's CPU (OpenCL on PoCL): as slow to compile as the CPU device, and no
    GPU hardware to check."""
    from engine.device import get_device

    return bool(getattr(get_device(name), "emulated", False))


def configs_for(names: Iterable[str], base: str, base_opt: int = 0) -> list[Config]:
    """The configurations of `names` (every one LLVM compiles at `base_opt` but llvm-O2's)."""
    out = []
    for n in names:
        if n == "base":
            out.append(Config("base", base))
        elif n == "noopt":
            out.append(Config("noopt", base, opts="none"))
        elif n == "randopt":
            out.append(Config("randopt", base, opts="random"))
        elif n == "unfused":
            out.append(Config("unfused", base, fuse=False, opts="none"))
        elif n == "separate":
            out.append(Config("separate", base, separate=True))
        elif n == "llvm-O2":
            if device_available("LLVM"):
                out.append(Config("llvm-O2", "LLVM", llvm_opt=2))
        elif n == "shard":
            out.append(Config("shard", base, shard=True))
        elif n == "split":
            out.append(Config("split", base, split=True))
        elif n.startswith("randopt:"):
            dev = randopt_device(n[8:])
            if device_available(dev):
                out.append(Config(n, dev, opts="random"))
        elif n.startswith("dev:"):
            if n[4:] != base and device_available(n[4:]):
                out.append(Config(n, n[4:]))
        else:
            raise ValueError(f"unknown graph fuzzer mode {n!r}")
    return [c if c.name == "llvm-O2" else dataclasses.replace(c, llvm_opt=base_opt) for c in out]


# the opt kinds random_opts draws from, by device: every device the original four (drawn as they always were), a CPU
# device also VECTOR (the C renderer's SIMD lanes), a GPU device also LOCAL and GROUP (engine/codegen/gpu.py)
BASE_KINDS = ("UPCAST", "UPCAST", "UNROLL", "ACCUM", "REORDER")
CPU_KINDS = BASE_KINDS + ("VECTOR", "VECTOR")
GPU_KINDS = BASE_KINDS + ("LOCAL", "LOCAL", "GROUP", "GROUP")
LOCAL_AMOUNTS = (2, 3, 4, 5, 7, 8, 16, 32, 64, 128)  # LOCAL need not divide its loop (the last workgroup is gated)
GROUP_AMOUNTS = (2, 3, 4, 5, 7, 8, 16, 32, 64, 128, 256)


NONDIVISOR_RATE = 0.15  # random opts: the chance that an amount not dividing the loop is offered too
# threads of a workgroup (LOCAL and GROUP amounts multiplied) on the PYTHON_GPU emulator: it interprets every thread,
# so a group of 330 made one kernel of a 9-op case take 21 s (half of a 150-case benchmark); a real GPU takes any
EMULATED_THREADS = 64
SMEM_RATE = 0.5  # of the kernels that took TC: the chance that they end with Opt SMEM (operands in shared memory)
# ... the chance that LOCAL 2 on a tile loop follows TC at once: two warps a workgroup, as the default opts give large
# matmuls (fuzz cases are too small for that; a LOCAL drawn later rarely has an amount of 2 and a tile loop to take)
TC_WARPS_RATE = 0.3


def _tensor_core_shaped(case: dict[str, Any]) -> bool:
    return any(i["dtype"] in HALF for i in case["inputs"]) and \
        any(n["op"] in TC_SHAPED_OPS for n in case["nodes"])


def randopt_device(name: str) -> str:
    """The device of mode randopt:<name>: a device name, or "gpu" (CUDA where available, else PYTHON_GPU)."""
    if name == "gpu":
        return "CUDA" if device_available("CUDA") else "PYTHON_GPU"
    return name


def random_opts(rng: random.Random, device: str | None = None) -> Any:
    """An opts function for engine.realize: per kernel, up to three opts drawn at random, each kept only if it
    applies (so the list is always valid for that kernel). `device`: the kernels' device; a CPU device draws VECTOR
    too, a GPU device LOCAL and GROUP too (and its list is checked to fit a launch), and TC first for half of the
    matmul-shaped kernels where it has tensor cores (engine/codegen/tc.py), right after it for some of those LOCAL 2
    on a tile loop (two warps a workgroup), and SMEM last for half of them where it applies (engine/codegen/smem.py);
    any other draws as before.

    Each kernel draws from its own stream, seeded by one draw of `rng`, the kernel's name (its loop shape) and how
    many kernels of that name came before it: a kernel keeps its opts while the minimizer drops other kernels of
    the case or ops fused into it (one stream shared in build order moved every later kernel's draw, so a finding of
    random opts rarely shrank below the kernels built before the wrong one; a digest of the kernel's AST moved its
    own draw whenever an op fused into it was dropped)."""
    stream = rng.getrandbits(64)
    seen: dict[str, int] = {}
    from engine.codegen.kernel import VECTOR_LANES, Kernel, Opt, OptError
    from engine.codegen.tc import candidates as tc_candidates
    from engine.uop import Ops

    gpu = bool(device) and _is_gpu(device or "")
    tc = _tensor_cores(device or "") if gpu else ()
    kinds = GPU_KINDS if gpu else CPU_KINDS if device is not None and device.split(":")[0] == "CPU" else BASE_KINDS
    emulated = gpu and (device or "").split(":")[0] == "PYTHON_GPU"

    def size(r: Any) -> int:
        return r.src[0].arg if r.src[0].op is Ops.CONST else 0

    def amounts(n: int, pool: tuple[int, ...] = (2, 3, 4, 5, 7, 8, 16)) -> list[int]:
        # now and then any amount up to n: one that does not divide the loop must be refused (OptError) or handled
        # (a tail); an opt the engine takes has to be right
        return [a for a in (*pool, n) if 1 < a <= n and (n % a == 0 or rng.random() < NONDIVISOR_RATE)]

    def draw(k: Any, kind: str) -> Any:
        """One opt of `kind` for kernel k, or None where it has no loop to apply it to."""
        if kind == "REORDER":
            perm = list(range(len(k.order)))
            rng.shuffle(perm)
            return Opt("REORDER", 0, tuple(perm))
        loops = k.order if kind in ("UPCAST", "VECTOR", "LOCAL") else k.reduce_ranges()
        if not loops:
            return None
        ax = rng.randrange(len(loops))
        n = size(loops[ax])
        if kind == "LOCAL":
            am = [a for a in (*LOCAL_AMOUNTS, n) if 1 < a <= max(n, 2)]
        else:
            am = amounts(n, VECTOR_LANES if kind == "VECTOR" else GROUP_AMOUNTS if kind == "GROUP" else
                         (2, 3, 4, 5, 7, 8, 16))
        return Opt(kind, ax, rng.choice(am)) if am else None

    def choose(ast: Any, name: str) -> list[Any]:
        nonlocal rng
        rng = random.Random(f"{stream}:{name}:{seen.get(name, 0)}")
        seen[name] = seen.get(name, 0) + 1
        k = Kernel(ast, name, gpu, tc)
        chosen = []
        # tensor cores first (a kernel without a matmul-shaped reduce draws as before): half of the kernels that can
        if tc and (cands := tc_candidates(ast, k.order)) and rng.random() < 0.5:
            opt = Opt("TC", rng.randrange(len(cands)), rng.choice(tc))
            try:
                k.apply_opt(opt)
                chosen.append(opt)
            except OptError:  # a shape that does not take this kernel's dtype
                pass
        threads = 32 if chosen else 1  # a TC kernel's warp is 32 threads
        if chosen and rng.random() < TC_WARPS_RATE:  # several warps a workgroup (the default opts' on large matmuls)
            tiles = [i for i, r in enumerate(k.order) if r.arg[1] == "loop" and size(r) >= 2]
            if tiles:
                opt = Opt("LOCAL", rng.choice(tiles), 2)
                try:
                    k.apply_opt(opt)
                    chosen.append(opt)
                    threads = 64
                except OptError:
                    pass
        ops = len(ast.toposort)
        grow = 1  # how many copies of the body the upcasts and unrolls make: kept small so kernels compile fast
        for _ in range(rng.randint(1, 3)):
            opt = draw(k, rng.choice(kinds))
            if opt is None:
                continue
            factor = opt.amount if opt.op in ("UPCAST", "UNROLL", "ACCUM") else 1
            if grow * factor > 32 or ops * grow * factor > 12000:
                continue
            tfactor = opt.amount if opt.op in ("LOCAL", "GROUP") else 1
            if emulated and threads * tfactor > EMULATED_THREADS:
                continue
            try:
                k.apply_opt(opt)
            except OptError:
                continue
            grow *= factor
            threads *= tfactor
            chosen.append(opt)
        if chosen and chosen[0].op == "TC" and rng.random() < SMEM_RATE:
            try:
                k.apply_opt(Opt("SMEM", 0, 0))
                chosen.append(Opt("SMEM", 0, 0))
            except OptError:  # a tail, or a copy that does not divide among the threads
                pass
        while gpu and chosen and not _launches(ast, name, chosen, tc):  # e.g. more than three workgroup loops
            chosen.pop()
        return chosen

    return choose


def _is_gpu(device: str) -> bool:
    from engine.device import get_device

    return bool(getattr(get_device(device), "gpu", False))


def _tensor_cores(device: str) -> tuple[str, ...]:
    """The tensor-core shapes (Opt TC) of a device's kernels."""
    from engine.device import get_device

    return tuple(getattr(get_device(device), "tensor_cores", ()))


def _launches(ast: Any, name: str, opts: list[Any], tc: tuple[str, ...] = ()) -> bool:
    """Whether a GPU kernel with `opts` fits a launch (engine/codegen/gpu.py raises OptError where it does not)."""
    from engine.codegen.kernel import OptError, build_kernel

    try:
        build_kernel(ast, name, opts, gpu=True, tc=tc).to_program()
    except OptError:
        return False
    return True


class GraphFuzzer(Fuzzer):
    """Random tensor programs vs numpy, across devices, kernel opts, fused/unfused schedules and realize order."""

    name = "graphs"
    timeout_s = 60.0  # a case compiles its kernels in several configurations, all of them when one fails
    shard_rate = 0.08  # the share of cases that also run the shard mode (when the modes are drawn)
    split_rate = 0.3  # ... and the split mode

    def __init__(self, base: str | None = None, modes: Iterable[str] | None = None, max_nodes: int = 10,
                 base_opt: int = 0):
        self.base_opt = base_opt  # LLVM's optimization level in every mode but llvm-O2
        # LLVM compiles a kernel in milliseconds where `cc` takes tens: the base device, where llvmlite is installed
        self.base = base or ("LLVM" if device_available("LLVM") else "CPU")
        self.modes = tuple(modes) if modes is not None else None  # None: base + modes drawn per case (MODE_RATES)
        self.max_nodes = max_nodes
        self._coverage: dict[str, int] = {}

    def generate(self, rng: random.Random) -> dict[str, Any]:
        return gen_case(rng, self.max_nodes)

    def mutate(self, case: dict[str, Any], rng: random.Random) -> dict[str, Any]:
        """An attribute, an input's dtype or data, a node on top or an op swapped (fuzz.graphs.mutate); a fresh
        case when no edit gives a valid graph."""
        mutated = mutate_graph(case, rng)
        return mutated if mutated is not None else self.generate(rng)

    def validate(self, case: Any) -> None:
        super().validate(case)
        infer_types(case)

    def reductions(self, case: dict[str, Any]) -> Iterable[dict[str, Any]]:
        return reductions(case)

    def size(self, case: dict[str, Any]) -> int:
        numel = sum(int(np.prod(i["shape"])) for i in case["inputs"])
        return op_count(case) * 100000 + len(case["inputs"]) * 1000 + min(numel, 999)

    def coverage(self) -> dict[str, int]:
        out, self._coverage = self._coverage, {}
        return out

    def coverage_keys(self) -> list[str]:
        modes = ("base", *OTHER_MODES, "shard", "split", *GPU_MODES, *RANDOPT_MODES)
        return [f"op:{n}" for n in OPS] + [f"mode:{m}" for m in modes]

    def reproducer(self, case: dict[str, Any], signature: str = "", details: dict[str, Any] | None = None) -> str:
        return reproducer_source(case, signature, details or {}, self.base)

    # ------------------------------------------------------------------ checking
    def mode_names(self, case: dict[str, Any]) -> list[str]:
        if self.modes is not None:
            return ["base", *[m for m in self.modes if m != "base"]]
        seed = case.get("seed", 0)

        def drawn(key: str, rate: float) -> bool:  # each mode its own stream: one rate changed leaves the others
            return random.Random(f"{seed}:{key}").random() < rate

        extra = [m for m in OTHER_MODES if (m != "separate" or len(case["outputs"]) > 1) and drawn(m, MODE_RATES[m])]
        extra += [m for m, rate in (("shard", self.shard_rate), ("split", self.split_rate)) if drawn(m, rate)]
        for m in GPU_MODES[:2]:  # a GPU joins every case; OpenCL on the host's cores (PoCL) 1.5% of them
            if device_available(m[4:]) and (not _emulated(m[4:]) or drawn(m, EMULATED_GPU_RATE)):
                extra.append(m)
        tc_shaped = _tensor_core_shaped(case)

        def gpu_rate(rate: float) -> float:  # a mode turned off stays off
            return max(rate, TC_SHAPED_GPU_RATE) if tc_shaped and rate else rate

        if drawn("gpu", gpu_rate(PYTHON_GPU_RATE)):
            extra.append("dev:PYTHON_GPU")
        extra += [m for m, rate in zip(RANDOPT_MODES, (RANDOPT_CPU_RATE, gpu_rate(RANDOPT_GPU_RATE)))
                  if drawn(m, rate)]
        return ["base", *dict.fromkeys(extra)]

    def check(self, case: dict[str, Any]) -> Verdict:
        try:
            types = infer_types(case)
        except BadCase as e:
            return Verdict("invalid", "invalid:case", {"error": str(e)})
        arrays = [make_values(i) for i in case["inputs"]]
        try:
            with np.errstate(all="ignore"):
                refs = reference(case, arrays, types)
        except Exception as e:  # the reference could not evaluate it: not a finding about the engine
            return Verdict("invalid", "invalid:reference", {"error": f"{type(e).__name__}: {e}"})
        for node in case["nodes"]:
            key = f"op:{node['op']}"
            self._coverage[key] = self._coverage.get(key, 0) + 1
        from engine.realize import program_cache

        names = self.mode_names(case)
        with program_cache():  # the modes share the kernels they have in common: each is generated once
            return self._check_modes(case, arrays, refs, names)

    def _check_modes(self, case: dict[str, Any], arrays: list[np.ndarray], refs: list[Ref | None], names: list[str]
                     ) -> Verdict:
        outcomes = [self.run_config(case, arrays, refs, c) for c in configs_for(names, self.base, self.base_opt)]
        for o in outcomes:
            key = f"mode:{o.config.name}"
            self._coverage[key] = self._coverage.get(key, 0) + 1
        failed = [o for o in outcomes if o.status != "pass"]
        if not failed:
            return Verdict("pass")
        if outcomes[0].status != "pass" and self.modes is None:  # base failed: run every mode to find the culprit
            ran = {o.config.name for o in outcomes}
            outcomes += [self.run_config(case, arrays, refs, c)
                         for c in configs_for(OTHER_MODES + GPU_MODES, self.base, self.base_opt)
                         if c.name not in ran]
        ran = {o.config.name for o in outcomes}
        for o in list(outcomes):  # random opts on a device fail: does the device fail with its default opts too?
            if o.status != "pass" and o.config.name.startswith("randopt:") and f"dev:{o.config.device}" not in ran:
                outcomes += [self.run_config(case, arrays, refs, c)
                             for c in configs_for([f"dev:{o.config.device}"], self.base, self.base_opt)]
        return self._verdict(case, outcomes)

    def run_config(self, case: dict[str, Any], arrays: list[np.ndarray], refs: list[Ref | None], cfg: Config
                   ) -> Outcome:
        from engine.realize import capture_kernels, guard_zones, realize

        opts: Any = {"default": "default", "none": None}.get(cfg.opts)
        if cfg.opts == "random":
            opts = random_opts(random.Random(f"{case.get('seed', 0)}:{cfg.name}"),
                               cfg.device if cfg.name != "randopt" else None)  # randopt draws as it always did

        def run(ts: list[Any]) -> None:
            realize(ts, fuse=cfg.fuse, opts=opts)

        log: list[dict[str, Any]] = []
        if cfg.shard:
            return self._run_sharded(case, arrays, refs, cfg)
        try:
            with capture_kernels() as log, guard_zones(), _checked_indexing(), _llvm_opt(cfg.llvm_opt), \
                    _split(cfg.split), np.errstate(all="ignore"):
                vals = build(case, arrays, cfg.device, lambda t: run([t]))
                outs = [vals[i] for i in case["outputs"]]
                if cfg.separate:
                    for group in realize_groups(case):
                        run([outs[i] for i in group])
                else:
                    run(outs)
                results = [t.numpy() for t in outs]
        except Exception as e:
            return Outcome(cfg, "crash", type(e).__name__, {"error": f"{type(e).__name__}: {str(e)[:2000]}"},
                           list(log))
        return _compared(case, refs, cfg, results, log)

    def _run_sharded(self, case: dict[str, Any], arrays: list[np.ndarray], refs: list[Ref | None], cfg: Config
                     ) -> Outcome:
        """The shard mode: the case over several devices, each input laid out as `shard_layouts` draws."""
        from engine.multi import ShardError, realize_all
        from engine.realize import capture_kernels, guard_zones

        layouts = shard_layouts(case, random.Random(f"{case.get('seed', 0)}:layout"))
        devices = [cfg.device if i == 0 else f"{cfg.device}:{i}" for i in range(layouts["devices"])]
        log: list[dict[str, Any]] = []
        try:
            with capture_kernels() as log, guard_zones(), _checked_indexing(), _llvm_opt(cfg.llvm_opt), \
                    np.errstate(all="ignore"):
                vals = build_sharded(case, arrays, devices, layouts["inputs"])
                outs = [vals[i] for i in case["outputs"]]
                realize_all(outs)
                results = [t.numpy() for t in outs]
        except ShardError as e:  # an op that cannot run sharded: this mode does not apply to the case
            return Outcome(cfg, "pass", detail={"unsupported": str(e)[:500]})
        except Exception as e:
            return Outcome(cfg, "crash", type(e).__name__, {"error": f"{type(e).__name__}: {str(e)[:2000]}",
                                                            "layouts": layouts}, list(log))
        out = _compared(case, refs, cfg, results, log)
        out.detail["layouts"] = layouts
        return out

    def _verdict(self, case: dict[str, Any], outcomes: list[Outcome]) -> Verdict:
        by = {o.config.name: o for o in outcomes}
        failed = [o for o in outcomes if o.status != "pass"]
        base = by["base"]
        if base.status != "pass":
            ok = {n for n, o in by.items() if o.status == "pass"}
            if not ok:
                culprit = "numpy"
            elif "unfused" in ok and "noopt" not in ok:
                culprit = "fusion"
            elif "noopt" in ok:
                culprit = "opts:default"
            elif any(n.startswith("dev:") for n in ok):
                culprit = f"device:{self.base}"
            else:
                culprit = "numpy"
            worst = base
        else:
            worst = failed[0]
            n = worst.config.name
            culprit = {"noopt": "opts:default", "randopt": "opts:random", "unfused": "fusion",
                       "separate": "order", "llvm-O2": "device:LLVM-O2"}.get(
                n, f"device:{n[4:]}" if n.startswith("dev:") else n)
            if n == "noopt":  # no opts fails where the default opts pass: the unoptimized path is at fault
                culprit = "opts:none"
            elif n.startswith("randopt:"):  # opts:random:<device>, or the device where its default opts fail too
                dev = by.get(f"dev:{worst.config.device}")
                culprit = (f"device:{worst.config.device}" if dev is not None and dev.status != "pass"
                           else f"opts:random:{worst.config.device}")
        status = worst.status
        sig = f"{status}:{culprit}" + (f":{worst.error}" if status == "crash" else "")
        details = {
            "mode": worst.config.name, "device": worst.config.device, "fused": worst.config.fuse,
            "opts": worst.config.opts, **worst.detail,
            "kernels": worst.kernels[:32],
            "modes": {o.config.name: o.status if o.status == "pass" else f"{o.status}:{o.error}" for o in outcomes},
            "ops": [n["op"] for n in case["nodes"]],
        }
        return Verdict("crash" if status == "crash" else "mismatch", sig, details)


def _compared(case: dict[str, Any], refs: list[Ref | None], cfg: Config, results: list[np.ndarray],
              log: list[dict[str, Any]]) -> Outcome:
    """The outcome of a run whose outputs are `results`: each compared with its reference (oracles.compare)."""
    for k, (i, got) in enumerate(zip(case["outputs"], results)):
        ref = refs[i]
        assert ref is not None
        d = compare(got, ref)
        if d is not None:
            return Outcome(cfg, "mismatch", d.kind, {"output": k, "value": i, "kind": d.kind, **d.detail},
                           list(log), results)
    return Outcome(cfg, "pass", kernels=list(log), results=results)


def shard_layouts(case: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """How the shard mode lays a case out: 2 to 5 devices; per input [axis, sizes] (axis None: replicated), the
    sizes random and uneven, now and then even or with empty pieces."""
    n = rng.randint(2, 5)
    inputs: list[list[Any]] = []
    for inp in case["inputs"]:
        shape = inp["shape"]
        if not shape or rng.random() < 0.3:
            inputs.append([None, None])
            continue
        axis = rng.randrange(len(shape))
        size = shape[axis]
        if rng.random() < 0.3:
            sizes = [size // n + (1 if i < size % n else 0) for i in range(n)]
        else:
            cuts = sorted(rng.randint(0, size) for _ in range(n - 1))
            sizes = [b - a for a, b in zip([0, *cuts], [*cuts, size])]
        inputs.append([axis, sizes])
    return {"devices": n, "inputs": inputs}


def build_sharded(case: dict[str, Any], arrays: list[np.ndarray], devices: list[str], layouts: list[list[Any]]
                  ) -> list[Any]:
    """Engine MultiTensors of every needed value: the inputs sharded over `devices` as `layouts` says, then each
    node's code (the op table's, as the other modes run it) with `Tensor` standing for engine.multi's namespace."""
    from engine.dtype import dtypes
    from engine.multi import TensorNamespace
    from engine.tensor import Tensor

    need = needed(case)
    vals: list[Any] = [Tensor(a, device=devices[0]).shard(devices, *lay) if need[k] else None
                       for k, (a, lay) in enumerate(zip(arrays, layouts))]
    mids = set(case.get("realize", []))
    scope = {"Tensor": TensorNamespace(), "dtypes": dtypes}
    for k, node in enumerate(case["nodes"]):
        if not need[len(arrays) + k]:
            vals.append(None)
            continue
        ins = [vals[i] for i in node["in"]]
        src = OPS[node["op"]].code([f"t{i}" for i in range(len(ins))], node.get("attrs", {}))
        t = eval(compile(src, f"<{node['op']}>", "eval"), scope, {f"t{i}": v for i, v in enumerate(ins)})
        if len(arrays) + k in mids:
            t.realize()
        vals.append(t)
    return vals


def _split(on: bool) -> Any:
    """The split mode's schedules: every reduce of 6 elements and up into fewer than 256 values whose longest reduce
    axis 8, 7, 5, 4, 3 or 2 divides is split in two (engine.rangeify.split_large_reduces: otherwise from 32768
    elements, by 1024 down to 8)."""
    from engine.rangeify import split_thresholds

    return split_thresholds(*SPLIT_MODE) if on else contextlib.nullcontext()


@contextlib.contextmanager
def _llvm_opt(level: int) -> Iterator[None]:
    """LLVM kernels compiled at `level` within the block (where llvmlite is installed)."""
    try:
        import engine.runtime.llvm as llvm_rt
    except ImportError:
        yield
        return
    old = llvm_rt.OPT_LEVEL
    llvm_rt.OPT_LEVEL = level
    try:
        yield
    finally:
        llvm_rt.OPT_LEVEL = old


def _checked_indexing() -> Any:
    """engine.checked_indexing(): integer index tensors raise IndexError when out of range, as numpy does."""
    import engine

    return engine.checked_indexing()
