"""A kernel between scheduling and linearizing: optimizations as explicit actions, then index simplification.

Opts (composable, each checked):
  Opt("UPCAST", k, n)  split output loop k (position in the loop order) into (outer, n), the inner of kind
                       "upcast" placed innermost (the renderer vectorizes or unrolls it)
  Opt("UNROLL", k, n)  split reduce range k (in order of axis id) into (outer, n), the inner of kind "unroll"
  Opt("ACCUM", k, n)   split reduce range k into (outer, n) with n independent accumulators, combined at the end
  Opt("REORDER", 0, p) permute the output loops: new order = [order[i] for i in p]
  Opt("VECTOR", k, n)  (CPU kernels) split output loop k into (outer, n), the inner of kind "vector" placed
                       innermost and kept as a loop: the C renderer runs its n iterations as the lanes of SIMD
                       vectors (n a power of two up to 64; one per kernel); other renderers run it as a loop
GPU kernels only (engine/codegen/gpu.py maps their loops to launch indices):
  Opt("LOCAL", k, n)   split output loop k into (outer, n), the inner one thread index of a workgroup of n; when n
                       does not divide the loop, the outer rounds up, the index is clamped to the last element and
                       the stores are gated (no write past the end)
  Opt("GROUP", k, n)   split reduce range k into (outer, n): n threads of a workgroup each reduce a part, then
                       combine the parts through workgroup memory after a barrier
  Opt("TC", k, shape)  (first, on a device with tensor cores: CUDA, PYTHON_GPU) candidate k of a matmul-shaped
                       reduce (engine/codegen/tc.py: a float32 sum of products of float16/bfloat16 values for shape
                       "m16n8k16", of fp8 e4m3/e5m2 values for "m16n8k32") runs on warp-wide mma instructions: a
                       "warp" loop of 32 lanes (thread index 0) holds the fragments; tails are clamped, zeroed and
                       gated. GROUP does not apply after it
  Opt("SMEM", 0, 0)    (after TC, the last opt) stage the tensor-core operands through workgroup (shared) memory
                       (engine/codegen/smem.py): each step of the reduce loop the workgroup copies the tiles of A
                       and B its fragments read (double-buffered, one barrier a step), and the fragments load from
                       there. Refused where a fragment is gated (a K tail) or clamped across workgroups (an M or N
                       tail), a tile is not a rectangle of one buffer, the copy does not divide among the threads or
                       the tiles pass 48 KiB
A kernel can be built with no opts, the default heuristic, or an explicit list; the results must agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from engine.codegen import gpu as gpu_shape
from engine.codegen import smem as shared_operands
from engine.codegen import tc as tensor_cores
from engine.codegen.expand import expand_unrolls, expand_upcasts
from engine.codegen.heuristic import cpu_plan, reduce_loads, stride, strides_of, tc_choice
from engine.codegen.linearize import linearize
from engine.codegen.program import Program
from engine.dtype import dtypes
from engine.rewrite import PatternMatcher, UPat, graph_rewrite, substitute
from engine.spec import verify_kernel
from engine.symbolic import simplify_given_valid, symbolic
from engine.uop import Ops, UOp

UPCAST_WHOLE = 64  # default_opts upcasts an innermost output loop up to this size whole
UNROLL_MAX = 7  # default_opts unrolls an innermost reduce loop up to this size (a conv's 7x7 kernel)
VECTOR_LANES = (2, 4, 8, 16, 32, 64)  # the lane counts Opt VECTOR accepts (GCC vectors are powers of two)


class OptError(ValueError):
    """An optimization that does not apply to this kernel."""


@dataclass(frozen=True)
class Opt:
    op: str
    axis: int
    amount: Any


def _strip_index_valid(idx: UOp, buf: UOp, i: UOp, valid: UOp) -> UOp | None:
    if valid.op is Ops.CONST and valid.arg is True:
        return UOp(Ops.INDEX, idx.dtype, (buf, i))
    simpler = simplify_given_valid(valid, i)
    # simplify keeps a sum out of canonical order where the canonical order would undo sharing (symbolic._no_larger);
    # these rules have no such guard and put the order back: an index whose only change is that order would come
    # back here, and the two rules took turns forever (a graph fuzzer timeout, corpus/graphs/timeout-index-given-
    # valid-sharing-cycle.json). No change then.
    if simpler is i or graph_rewrite(simpler, symbolic) is i:
        return None
    return UOp(Ops.INDEX, idx.dtype, (buf, simpler, valid))


def _load_then_select(buf: UOp, i: UOp, valid: UOp, alt: UOp) -> UOp | None:
    """A gated load whose address, under its gate, is inside the buffer -> an unconditional load of a safe address
    and a select: where(valid, load(buf[where(valid, B, lo) + c]), alt) with i = B + c (c the constant term) and lo
    the least B under the gate. Lanes of one upcast differ only in c, so they read adjacent addresses from one
    shared base and the C compiler can vectorize them; a gated load per lane cannot be."""
    from engine.symbolic import bounds_given_valid, build_sum, terms_of

    size = buf.dtype.size
    if buf.op is not Ops.DEFINE_GLOBAL or size <= 0 or valid.op is Ops.CONST:
        return None
    terms, c = terms_of(i)
    if not terms:
        return None
    base = build_sum(dtypes.index, terms, 0)
    lohi = bounds_given_valid(valid, base)
    if lohi is None or not (0 <= lohi[0] + c and lohi[1] + c < size):
        return None
    safe = UOp(Ops.WHERE, dtypes.index, (valid, base, UOp.const(dtypes.index, lohi[0]))) + c
    load = UOp(Ops.LOAD, alt.dtype, (UOp(Ops.INDEX, buf.dtype, (buf, safe)),))
    return UOp(Ops.WHERE, alt.dtype, (valid, load, alt))


index_rules = PatternMatcher([
    # an index under a validity condition simplifies knowing the condition holds; a true condition is dropped
    (UPat(Ops.INDEX, name="idx", src=(UPat.var("buf"), UPat.var("i"), UPat.var("valid"))), _strip_index_valid,
     "index_given_valid"),
    # a load whose condition is always false reads nothing
    (UPat(Ops.LOAD, src=(UPat(Ops.INDEX, src=(UPat.var(), UPat.var(), UPat.const(False))), UPat.var("alt"))),
     lambda alt: alt, "load_never_valid"),
    # a gated load whose address is inside the buffer under its gate: load from a safe address, then select
    (UPat(Ops.LOAD, src=(UPat(Ops.INDEX, src=(UPat.var("buf"), UPat.var("i"), UPat.var("valid"))), UPat.cvar("alt"))),
     _load_then_select, "load_then_select"),
])
kernel_rules = symbolic + index_rules


class Kernel:
    """One scheduled kernel, its loop order and the opts applied so far."""

    def __init__(self, ast: UOp, name: str = "kernel", gpu: bool = False, tc: tuple[str, ...] = ()):
        self.ast, self.name, self.gpu = ast, name, gpu
        self.tc = tc  # the tensor-core shapes the device runs (engine.codegen.tc.SHAPES names)
        ranges = [u for u in ast.toposort if u.op is Ops.RANGE]
        reduce_ranges = {r for u in ast.toposort if u.op is Ops.REDUCE for r in u.src[1:]}
        self.order: list[UOp] = sorted((r for r in ranges if r not in reduce_ranges), key=lambda r: r.arg)
        self.applied: list[Opt] = []
        self._next_axis = 1 + max((r.arg[0] for r in ranges), default=-1)
        self._lowered: tuple[UOp, list[UOp]] | None = None  # `_lower`'s result, kept by Opt SMEM (it is the last)

    def reduce_ranges(self) -> list[UOp]:
        return sorted({r for u in self.ast.toposort if u.op is Ops.REDUCE for r in u.src[1:]}, key=lambda r: r.arg)

    def _split(self, r: UOp, n: int, outer_kind: str, inner_kind: str) -> tuple[UOp, UOp]:
        end = r.src[0]
        if end.op is not Ops.CONST or n <= 1 or end.arg % n:
            raise OptError(f"{self.name}: cannot split a loop of {end.arg if end.op is Ops.CONST else '?'} by {n}")
        # split by the whole size: no outer loop is left
        outer = UOp.range(end.arg // n, r.arg[0], outer_kind) if end.arg > n else UOp.const(dtypes.index, 0)
        inner = UOp.range(n, self._next_axis, inner_kind)
        self._next_axis += 1
        expr = outer * n + inner if end.arg > n else inner
        done: dict[UOp, UOp] = {}
        for u in self.ast.toposort:
            if u is r:
                done[u] = expr
                continue
            if u.op is Ops.REDUCE and r in u.src[1:]:
                rs: list[UOp] = []
                for s in u.src[1:]:
                    rs.extend(((outer, inner) if outer.op is Ops.RANGE else (inner,)) if s is r else (done[s],))
                done[u] = UOp(Ops.REDUCE, u.dtype, (done[u.src[0]], *rs), u.arg)
                continue
            new_src = tuple(done[s] for s in u.src)
            done[u] = u if new_src == u.src else UOp(u.op, u.dtype, new_src, u.arg)
        self.ast = done[self.ast]
        return outer, inner

    def threads(self) -> int:
        """Threads of a workgroup: the product of the "local" and "warp" loops and of the group loops' sizes (group
        loops of one size share a thread index)."""
        rs = self.ast.toposort
        local = math.prod(u.src[0].arg for u in rs if u.op is Ops.RANGE and u.arg[1] in ("local", "warp"))
        return local * math.prod({u.src[0].arg for u in rs if u.op is Ops.RANGE and u.arg[1] == "group"})

    def _gpu_opt(self, opt: Opt) -> int:
        if not self.gpu:
            raise OptError(f"{self.name}: {opt.op} needs a GPU kernel")
        n = opt.amount
        if not isinstance(n, int) or n < 2:
            raise OptError(f"{self.name}: {opt.op} amount must be an integer >= 2, got {n!r}")
        groups = {u.src[0].arg for u in self.ast.toposort if u.op is Ops.RANGE and u.arg[1] == "group"}
        if self.threads() * (1 if opt.op == "GROUP" and n in groups else n) > gpu_shape.MAX_THREADS:
            raise OptError(f"{self.name}: {opt.op} {n} gives over {gpu_shape.MAX_THREADS} threads in a workgroup")
        return n

    def _local(self, opt: Opt) -> None:
        n = self._gpu_opt(opt)
        if not 0 <= opt.axis < len(self.order) or self.order[opt.axis].arg[1] != "loop":
            raise OptError(f"{self.name}: no output loop {opt.axis} to split into threads")
        r = self.order[opt.axis]
        end = r.src[0].arg
        if end % n == 0:
            outer, inner = self._split(r, n, "global", "local")
        else:  # round up; clamp the index (loads stay in bounds) and gate the stores
            outer = UOp.range(-(-end // n), r.arg[0], "global")
            inner = UOp.range(n, self._next_axis, "local")
            self._next_axis += 1
            expr = outer * n + inner
            live = expr < end
            stores = []
            for s in self.ast.src:
                if r in s.toposort:
                    s = gpu_shape._gate(substitute(s, {r: expr.minimum(end - 1)}), live)
                stores.append(s)
            self.ast = UOp(Ops.SINK, self.ast.dtype, tuple(stores), self.ast.arg)
        self.order = [outer if x is r else x for x in self.order if x is not r or outer.op is Ops.RANGE] + [inner]

    def _group(self, opt: Opt) -> None:
        n = self._gpu_opt(opt)
        if any(x.arg[1] == "warp" for x in self.order):
            raise OptError(f"{self.name}: GROUP does not apply to a tensor-core kernel")
        rr = self.reduce_ranges()
        if not 0 <= opt.axis < len(rr) or rr[opt.axis].arg[1] != "reduce":
            raise OptError(f"{self.name}: no reduce loop {opt.axis} to group")
        r = rr[opt.axis]
        if (why := gpu_shape.groupable(self.ast, self.order, r)) is not None:
            raise OptError(f"{self.name}: cannot group reduce loop {opt.axis}: {why}")
        self._split(r, n, "reduce", "group")

    def _tc(self, opt: Opt) -> None:
        if not self.gpu:
            raise OptError(f"{self.name}: TC needs a GPU kernel")
        if opt.amount not in self.tc:
            have = ", ".join(self.tc) or "none"
            raise OptError(f"{self.name}: no tensor-core shape {opt.amount!r} on this device (it has: {have})")
        if self.applied:
            raise OptError(f"{self.name}: TC must be the first opt")
        shape = tensor_cores.SHAPES[opt.amount]
        found = tensor_cores.candidates(self.ast, self.order)
        if not found:
            why = tensor_cores.why_not(self.ast) or "no output loops and reduce loop make it matmul-shaped"
            raise OptError(f"{self.name}: no tensor-core reduce: {why}")
        if not isinstance(opt.axis, int) or not 0 <= opt.axis < len(found):
            raise OptError(f"{self.name}: TC candidate {opt.axis!r} does not exist ({len(found)} candidates)")
        c = found[opt.axis]
        if c.dtype.name not in shape.inputs:
            raise OptError(f"{self.name}: tensor-core shape {shape.name} does not take {c.dtype.name} inputs")
        if self.threads() * tensor_cores.WARP > gpu_shape.MAX_THREADS:
            raise OptError(f"{self.name}: TC gives over {gpu_shape.MAX_THREADS} threads in a workgroup")
        self.ast, outer, lane = tensor_cores.apply_tc(self.ast, c, shape, self._next_axis)
        self._next_axis += 1
        self.order = [outer.get(r, r) for r in self.order]
        self.order = [r for r in self.order if r.op is Ops.RANGE] + [lane]

    def _smem(self, opt: Opt) -> None:
        if not self.gpu:
            raise OptError(f"{self.name}: SMEM needs a GPU kernel")
        if not any(o.op == "TC" for o in self.applied):
            raise OptError(f"{self.name}: SMEM needs TC first (it stages the tensor-core operands)")
        if opt.axis != 0 or opt.amount != 0:
            raise OptError(f"{self.name}: SMEM takes axis 0 and amount 0, got {opt.axis!r}, {opt.amount!r}")
        ast, order = self._lower()
        try:
            ast = shared_operands.stage_operands(ast, order)
        except shared_operands.SmemError as e:
            raise OptError(f"{self.name}: SMEM does not apply: {e}") from None
        self._lowered = ast, order

    def _vector(self, opt: Opt) -> None:
        if self.gpu:
            raise OptError(f"{self.name}: VECTOR needs a CPU kernel")
        if opt.amount not in VECTOR_LANES:
            raise OptError(f"{self.name}: VECTOR lanes must be one of {VECTOR_LANES}, got {opt.amount!r}")
        if any(r.arg[1] == "vector" for r in self.order):
            raise OptError(f"{self.name}: the kernel already has a vector loop")
        if not 0 <= opt.axis < len(self.order) or self.order[opt.axis].arg[1] != "loop":
            raise OptError(f"{self.name}: no output loop {opt.axis} to vectorize")
        r = self.order[opt.axis]
        outer, inner = self._split(r, opt.amount, "loop", "vector")
        self.order = [outer if x is r else x for x in self.order if x is not r or outer.op is Ops.RANGE] + [inner]

    def apply_opt(self, opt: Opt) -> Kernel:
        """Apply one optimization (raises OptError if it does not fit)."""
        if self._lowered is not None:
            raise OptError(f"{self.name}: SMEM must be the last opt, {opt.op} comes after it")
        if opt.op == "UPCAST":
            if not 0 <= opt.axis < len(self.order) or self.order[opt.axis].arg[1] in ("local", "vector", "warp"):
                raise OptError(f"{self.name}: no output loop {opt.axis}")
            r = self.order[opt.axis]
            outer, inner = self._split(r, opt.amount, "global" if r.arg[1] == "global" else "loop", "upcast")
            self.order = [outer if x is r else x for x in self.order if x is not r or outer.op is Ops.RANGE] + [inner]
        elif opt.op in ("UNROLL", "ACCUM"):
            rr = self.reduce_ranges()
            if not 0 <= opt.axis < len(rr):
                raise OptError(f"{self.name}: no reduce loop {opt.axis}")
            self._split(rr[opt.axis], opt.amount, "reduce", "unroll" if opt.op == "UNROLL" else "accum")
        elif opt.op == "VECTOR":
            self._vector(opt)
        elif opt.op == "LOCAL":
            self._local(opt)
        elif opt.op == "GROUP":
            self._group(opt)
        elif opt.op == "TC":
            self._tc(opt)
        elif opt.op == "SMEM":
            self._smem(opt)
        elif opt.op == "REORDER":
            p = tuple(opt.amount)
            if sorted(p) != list(range(len(self.order))):
                raise OptError(f"{self.name}: {p} is not a permutation of {len(self.order)} loops")
            self.order = [self.order[i] for i in p]
        else:
            raise OptError(f"unknown opt {opt.op!r}")
        self.applied.append(opt)
        return self

    def to_program(self) -> Program:
        """Expand upcasts and unrolls (and on a GPU group reduces), simplify indices, stage tensor-core operands
        (Opt SMEM), check the kernel (engine.spec), map a GPU kernel's parallel loops to launch indices, and
        linearize it."""
        ast, order = self._lowered or self._lower()
        verify_kernel(ast, self.name)  # with loops, not launch indices: the same values, and intervals decide faster
        if not self.gpu:
            return linearize(ast, self.name, order)
        try:
            ast, order, gsize, lsize = gpu_shape.to_launch(ast, order)
        except gpu_shape.LaunchError as e:
            raise OptError(f"{self.name}: {e}") from None
        prg = linearize(ast, self.name, order)
        prg.global_size, prg.local_size = gsize, lsize
        return prg

    def _lower(self) -> tuple[UOp, list[UOp]]:
        """The kernel with its upcasts and unrolls expanded (on a GPU its reduces grouped) and its indices simplified:
        (ast, output loops in order)."""
        upcasts = [r for r in self.order if r.arg[1] == "upcast"]
        ast = expand_upcasts(expand_unrolls(self.ast), upcasts)
        order = [r for r in self.order if r not in upcasts]
        if self.gpu:
            spread = gpu_shape.spread_loop(ast, order)
            ast, outer = gpu_shape.group_reduces(ast, self._next_axis, [r for r in self.order if r.arg[1] == "local"],
                                                 spread)
            order = [outer if r is spread and outer is not None else r for r in order]
        ast = graph_rewrite(ast, kernel_rules)
        order = [graph_rewrite(r, kernel_rules) for r in order]
        order = [r for r in order if r.op is Ops.RANGE]
        order = [r for r in order if r.arg[1] != "vector"] + [r for r in order if r.arg[1] == "vector"]  # innermost
        if self.gpu:
            try:
                gpu_shape.check_grouped(ast, order)
            except gpu_shape.LaunchError as e:
                raise OptError(f"{self.name}: {e}") from None
        return ast, order


def _contiguous_in_a_load(ast: UOp, r: UOp) -> bool:
    """Whether some load's index moves by exactly 1 when `r` does (so lanes of r read adjacent memory; a store's
    index does not count: the scores of q @ k.T store adjacent columns but read k's rows far apart)."""
    stored = {u.src[0] for u in ast.toposort if u.op is Ops.STORE}
    return any(u.op is Ops.INDEX and u.src[0].op is Ops.DEFINE_GLOBAL and u not in stored and r in u.src[1].toposort
               and stride(u.src[1], r) == 1 for u in ast.toposort)


def _upcast_amount(n: int) -> int:
    """Lanes for an output loop of n: all of them up to UPCAST_WHOLE (a conv's row: its padded columns become
    constant lanes instead of per-lane masks), else the largest divisor from 32 down to 4; 0 if none."""
    if 2 <= n <= UPCAST_WHOLE:
        return n
    return next((d for d in range(32, 3, -1) if n % d == 0), 0)


def default_opts(k: Kernel) -> list[Opt]:
    """The default heuristic, for kernels with a reduce (elementwise kernels are left to the C compiler):

    - if the innermost output loop reads adjacent memory (a matmul's or a conv's columns), upcast it (whole up to
      64, else by its largest divisor up to 32): the lanes become independent accumulators sharing one reduce
      loop, which the compiler vectorizes (on the 2-core dev box, matmul 512^3 runs 1.7x faster with 32 lanes
      than with 8, a 56-wide conv 1.8x faster with 56 than with 8); then, if the innermost reduce loop is small
      (a conv's kernel width), unroll it: lane l and tap j read x[l + j], and with the taps unrolled the
      compiler loads and multiplies the lanes as vectors (conv 3x3: 2x faster);
    - else, if the first reduce loop reads adjacent memory (a row sum), give it 8 (or 4) accumulators.
    Before those, a CPU kernel gets engine.codegen.heuristic's vectorized register tile where it has one.
    """
    rr = k.reduce_ranges()
    if not rr:
        return []
    plan = cpu_plan(k.order, rr, k.ast)
    if plan is not None:
        return [Opt(op, axis, amount) for op, axis, amount in plan]

    def size(r: UOp) -> int:
        return r.src[0].arg if r.src[0].op is Ops.CONST else 0

    def fits(r: UOp, amounts: tuple[int, ...]) -> int:
        return next((n for n in amounts if size(r) % n == 0 and size(r) >= 2 * n), 0)

    if k.order and (n := _upcast_amount(size(k.order[-1]))) and _contiguous_in_a_load(k.ast, k.order[-1]):
        opts = [Opt("UPCAST", len(k.order) - 1, n)]
        if 1 < size(rr[-1]) <= UNROLL_MAX:
            opts.append(Opt("UNROLL", len(rr) - 1, size(rr[-1])))
        return opts
    if (n := fits(rr[0], (8, 4))) and _contiguous_in_a_load(k.ast, rr[0]):
        return [Opt("ACCUM", 0, n)]
    return []


GPU_THREADS = 256  # threads default_gpu_opts aims for in a workgroup
# a reduce over two large output loops (a float32 matmul): GPU_TILE (rows, columns) outputs per thread, GPU_TILE_LOCAL
# squared threads a workgroup. Chosen by bench/gemm_sweep.py on an H100 (4096^3 float32, 2026-12-06): 17.4 TFLOP/s
# (one output per thread with 256 threads on a row: 4.2; 4 x 4 tiles 14.9; the same with the row threads innermost,
# adjacent threads reading rows apart: 3.7; the fastest list, 8 x 4 under 256 threads on a row, 17.8)
GPU_TILE = (4, 8)
GPU_TILE_LOCAL = 16
GPU_TILE_MIN_REDUCE = 64  # ... where the reduce has at least this many elements
GPU_TILE_SMALL = 4  # outputs a thread takes along each loop of the other register tiles (_register_tiles; 0: none)
TC_WARPS = 4  # warps default_gpu_opts puts in a workgroup of a tensor-core kernel, where its tiles allow
TC_TILE = (4, 4)  # m and n tiles of mma each warp of a tensor-core kernel computes (UPCAST)
TC_WARPS_M = 2  # ... and then this many warps over the m tiles, where the TC_WARPS over n applied
TC_SMEM = True  # default_tc_opts ends with Opt SMEM (operands staged through shared memory) where it applies
TC_UNROLL = 2  # with SMEM, the reduce's tile loop unrolled by this much (each copied step holds that many k tiles)
GROUP_MIN = 1024  # default_gpu_opts groups a reduce of at least this size ...
GROUP_MAX_OUTPUTS = 1 << 16  # ... when the kernel has fewer parallel outputs than this


def default_gpu_opts(k: Kernel) -> list[Opt]:
    """The default heuristic of a GPU kernel:

    - large reduces (GROUP_MIN and up) over few parallel outputs (a full sum, a softmax's rows) are split across a
      workgroup of 256 (or 128, 64, 32) threads (one thread index for all), so that its threads read adjacent
      memory together;
    - a reduce of GPU_TILE_MIN_REDUCE or more under two output loops that GPU_TILE * GPU_TILE_LOCAL divides (a float32
      matmul) gets a register tile: 16 x 16 threads a workgroup (LOCAL, adjacent threads on adjacent columns),
      each computing 4 x 8 outputs (UPCAST of the loops' outer parts: each loaded value used four or eight times);
    - else the innermost parallel output loop gets a workgroup of up to 256 threads (whole when smaller; else by its
      largest power-of-two divisor from 256 down to 32; else 256 with the last workgroup gated).
    On a device with tensor cores, a matmul-shaped reduce (engine/codegen/tc.py) gets `default_tc_opts` instead.
    """
    def size(r: UOp) -> int:
        return r.src[0].arg

    def fits(opts: list[Opt]) -> bool:
        try:
            build_kernel(k.ast, k.name, opts, gpu=True, tc=k.tc)
        except OptError:
            return False
        return True

    if k.tc and not k.applied and (tc_opts := default_tc_opts(k)):
        return tc_opts

    serial = gpu_shape.serial_loops(k.ast, k.order)
    par = [i for i, r in enumerate(k.order) if r not in serial and r.arg[1] in ("loop", "global")]
    outputs = math.prod(size(k.order[i]) for i in par)
    opts: list[Opt] = []
    rr = k.reduce_ranges()
    for i, r in enumerate(rr):
        if size(r) >= GROUP_MIN and outputs < GROUP_MAX_OUTPUTS:
            n = next((d for d in (256, 128, 64, 32) if size(r) % d == 0), 0)
            if n and fits(opts + [Opt("GROUP", i, n)]):
                opts.append(Opt("GROUP", i, n))
    if not opts and rr and math.prod(size(r) for r in rr) >= GPU_TILE_MIN_REDUCE and len(par) >= 2:
        for tile in _register_tiles(k, par):
            if fits(tile):
                return tile
    cap = GPU_THREADS // math.prod({o.amount for o in opts})
    if par and cap >= 2 and (sz := size(k.order[par[-1]])) >= 2:
        n = sz if sz <= cap else next((d for d in (256, 128, 64, 32) if d <= cap and sz % d == 0), cap)
        if fits(opts + [Opt("LOCAL", par[-1], n)]):
            opts.append(Opt("LOCAL", par[-1], n))
    return opts


def _tile_split(n: int, up: int) -> int:
    """Threads for an output loop of n in a register tile of `up` outputs a thread: the largest divisor of n // up
    from GPU_TILE_LOCAL down to 4 (0 if none, or if up does not divide n)."""
    if n % up:
        return 0
    return next((t for t in range(GPU_TILE_LOCAL, 3, -1) if (n // up) % t == 0), 0)


def _register_tiles(k: Kernel, par: list[int]) -> list[list[Opt]]:
    """The register tiles default_gpu_opts tries, best first, each [LOCAL a, LOCAL b, UPCAST a, UPCAST b]: LOCAL on a
    first, as the last local loop is the innermost thread index, so adjacent threads take adjacent b.
    - the two innermost output loops (a matmul's) where GPU_TILE * GPU_TILE_LOCAL divides them (the measured tile);
    - else a 4 x 4 tile over b, the innermost output loop, where a load inside the reduce reads adjacent elements
      along it, and a, the innermost other output loop along which every load that moves with b stays (so each
      value loaded is used four times: a conv's output channels against its columns, attention's P @ V rows against
      its head dim), GPU_TILE_LOCAL threads or fewer on each (a divisor of the loop from 16 down to 4)."""
    def size(i: int) -> int:
        return k.order[i].src[0].arg

    tiles = []
    a, b = par[-2], par[-1]
    if size(a) % (GPU_TILE[0] * GPU_TILE_LOCAL) == 0 and size(b) % (GPU_TILE[1] * GPU_TILE_LOCAL) == 0:
        tiles.append([Opt("LOCAL", a, GPU_TILE_LOCAL), Opt("LOCAL", b, GPU_TILE_LOCAL), Opt("UPCAST", a, GPU_TILE[0]),
                      Opt("UPCAST", b, GPU_TILE[1])])
    loads = reduce_loads(k.ast)
    along = {ld: strides_of(ld.src[1], [k.order[i] for i in par]) for ld in loads}
    pb = len(par) - 1
    if GPU_TILE_SMALL < 2 or not loads or not any(st[pb] == 1 for st in along.values()):
        return tiles
    moving = [st for st in along.values() if st[pb] != 0]
    for pa in range(pb - 1, -1, -1):
        if all(st[pa] == 0 for st in moving) and any(st[pa] != 0 for st in along.values()):
            a = par[pa]
            la, lb = _tile_split(size(a), GPU_TILE_SMALL), _tile_split(size(b), GPU_TILE_SMALL)
            if la and lb:  # an UPCAST that takes all that LOCAL left of a removes its loop: b moves down
                gone = size(a) == la * GPU_TILE_SMALL
                tiles.append([Opt("LOCAL", a, la), Opt("LOCAL", b, lb), Opt("UPCAST", a, GPU_TILE_SMALL),
                              Opt("UPCAST", b - gone, GPU_TILE_SMALL)])
            break
    return tiles


def default_tc_opts(k: Kernel) -> list[Opt]:
    """Opt TC on the candidate engine.codegen.heuristic.tc_choice picks, then TC_TILE m tiles by n tiles per warp
    (UPCAST, else 4 or 2 where they divide: each fragment loaded once for several mma), then TC_WARPS warps per
    workgroup over the n tiles left (LOCAL, else 2; else over the m tiles), then SMEM where TC_SMEM is set and it
    applies, after UNROLL by TC_UNROLL of the reduce's tile loop where that applies too (two k tiles a copied step:
    on an H100, 4096^3 fp16 with the pipelined SMEM, 192.1 TFLOP/s against 182.6 without, 2026-12-07).
    [] where no candidate is worth it.
    Chosen with bench/gemm_sweep.py --smem on an H100 (4096^3, 2026-12-07): 4 x 4 tiles a warp, 4 warps over n,
    operands through shared memory: 161.7 TFLOP/s fp16 and 161.8 bf16; the former default (4 x 8 tiles, 2 warps
    over m, no shared memory) 82.9 and 80.3, 109.1 and 134.0 with SMEM. Without SMEM the warps changed little;
    with it, the warps of a workgroup share each copied tile, and 4 over n gave the most."""
    choice = tc_choice(k.order, k.ast, k.tc)
    if choice is None:
        return []
    i, shape, m_axis, n_axis = choice
    t = Kernel(k.ast, k.name, k.gpu, k.tc).apply_opt(Opt("TC", i, shape))
    opts = [Opt("TC", i, shape)]

    def tiles(axis_id: int) -> tuple[int, int]:
        """(position in the loop order, tiles) of the tile loop of an axis (-1, 1 where one tile has no loop)."""
        pos = next((j for j, r in enumerate(t.order) if r.arg[0] == axis_id and r.arg[1] == "loop"), -1)
        return pos, t.order[pos].src[0].arg if pos >= 0 else 1

    def apply(op: str, axis: int, choices: tuple[int, ...]) -> bool:
        pos, n = tiles(axis)
        if pos < 0 or not (amount := next((a for a in choices if n % a == 0), 0)):
            return False
        t.apply_opt(Opt(op, pos, amount))
        opts.append(Opt(op, pos, amount))
        return True

    for axis, tile in zip((m_axis, n_axis), TC_TILE):
        apply("UPCAST", axis, (tile, 4, 2))
    if not apply("LOCAL", n_axis, (TC_WARPS, 2)):
        apply("LOCAL", m_axis, (TC_WARPS, 2))
    elif TC_WARPS_M > 1 and shape == "m16n8k16":  # fp8 (m16n8k32) was faster without: 262 TFLOP/s against 214
        apply("LOCAL", m_axis, (TC_WARPS_M,))
    if TC_SMEM:
        for extra in ([Opt("UNROLL", 0, TC_UNROLL)], []) if TC_UNROLL > 1 else ([],):
            try:
                staged = Kernel(k.ast, k.name, k.gpu, k.tc)
                for o in [*opts, *extra, Opt("SMEM", 0, 0)]:
                    staged.apply_opt(o)
            except OptError:
                continue
            return [*opts, *extra, Opt("SMEM", 0, 0)]
    return opts


def build_kernel(ast: UOp, name: str, opts: list[Opt] | str | None = "default", gpu: bool = False,
                 tc: tuple[str, ...] = ()) -> Kernel:
    """A kernel with its opts applied (`Kernel.applied` lists them): opts "default" (heuristic), None/[] (none), or
    an explicit list (OptError if one does not fit). `gpu`: a kernel for a GPU device (launch indices, LOCAL and
    GROUP opts, default_gpu_opts); `tc`: the tensor-core shapes that device runs (Opt TC)."""
    k = Kernel(ast, name, gpu, tc)
    if isinstance(opts, str):
        chosen = default_gpu_opts(k) if gpu else default_opts(k)
    else:
        chosen = opts or []
    for o in chosen:
        k.apply_opt(o)
    return k


def build_program(ast: UOp, name: str, opts: list[Opt] | str | None = "default", gpu: bool = False,
                  tc: tuple[str, ...] = ()) -> Program:
    """The program of a kernel AST: opts "default" (heuristic), None/[] (none), or an explicit list."""
    return build_kernel(ast, name, opts, gpu, tc).to_program()


__all__ = ["Kernel", "Opt", "OptError", "build_kernel", "build_program", "default_gpu_opts", "default_opts",
           "kernel_rules", "dtypes"]
