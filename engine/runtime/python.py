"""The PYTHON device: interprets a linear `Program` UOp by UOp, bounds-checking every memory access.

It is the executable definition of the UOps: values follow `engine.alu.exec_alu`, loops follow RANGE/END, and an
INDEX whose `valid` is true (or absent) outside [0, size) raises IndexError naming the kernel, the buffer and the
index. A GPU program (SPECIAL launch indices) runs once per thread of its grid: workgroup after workgroup, each with
its own DEFINE_LOCAL memory; the threads of a workgroup run one after another up to the next BARRIER and wait there
until all have reached it (a thread that ends or reaches another barrier while the others wait is an error:
divergent barriers hang or race on a GPU). Between two barriers no thread may read or write an element of workgroup
memory that another thread wrote, nor write one that another read: such a data race (which a GPU's threads, running
at once, would resolve by timing) is an error too. A WMMA (a tensor core's mma.sync, engine/codegen/tc.py) is
warp-wide: the threads stop there as at a barrier (one that orders no memory), then each warp of 32 consecutive
threads exchanges its fragments as the PTX ISA lays them out (`mma_m16n8k16`, written from the ISA's tables, not
from the code generator's). PYTHON_GPU is this device building kernels as a GPU device does, so GPU code generation
is checked on any machine. Correct before fast, but each UOp is precompiled to a closure (a step) so that loops of a
few hundred thousand iterations take seconds, not minutes, and a kernel that runs many steps a UOp runs as one
generated Python function instead (`_Plan._generate`: loops as `for`, the common ALU ops and casts inline or through
functions equal to `exec_alu`'s, the rest calling their steps; 2-3x faster a step, ~10 us a UOp to compile)."""

from __future__ import annotations

import itertools
import math
import struct
from typing import Any, Callable, Iterator

import numpy as np

from engine.alu import ALU_FUNCS, exec_alu, wrap
from engine.codegen.program import Program, memory_of
from engine.device import Device, register_device
from engine.dtype import DType
from engine.uop import GroupOp, Ops, UOp

# a step runs one UOp on the value list and returns the next program counter
Step = Callable[[list], int]
GENERATE_AFTER = 50  # UOps run per UOp of a program from which it runs as generated code (_Plan._generate)
# ALU ops `_Plan._generate` writes inline: the same as engine.alu.ALU_FUNCS' functions
_INLINE = {Ops.ADD: "({} + {})", Ops.SUB: "({} - {})", Ops.MUL: "({} * {})", Ops.CMPLT: "({} < {})",
           Ops.CMPLE: "({} <= {})", Ops.CMPNE: "({} != {})", Ops.CMPEQ: "({} == {})", Ops.AND: "({} & {})",
           Ops.OR: "({} | {})", Ops.XOR: "({} ^ {})", Ops.WHERE: "({1} if {0} else {2})"}


def _fast_wrap(dtype: DType) -> Callable[[Any], Any]:
    """A function equal to `engine.alu.wrap(dtype, .)`, faster for the common dtypes."""
    dt = dtype.scalar
    if dt.kind == "b":
        return bool
    if dt.kind in "iux":
        mask, bits, signed = (1 << dt.bits) - 1, dt.bits, dt.kind != "u"
        half, full = 1 << (bits - 1), 1 << bits

        def wrap_int(v: Any) -> int:
            v = int(v) & mask
            return v - full if signed and v >= half else v
        return wrap_int
    if dt.name == "float64":
        return float
    fmt = {"float32": "f", "float16": "e"}.get(dt.name)
    if fmt is None:
        return lambda v: wrap(dt, v)
    pack, unpack = struct.Struct(fmt).pack, struct.Struct(fmt).unpack

    def wrap_float(v: Any) -> float:
        try:
            return unpack(pack(v))[0]
        except OverflowError:  # rounds to infinity: let numpy decide, as wrap does
            return wrap(dt, v)
    return wrap_float


def _fast_cast(src: DType, dst: DType) -> Callable[[Any], Any] | None:
    """A function equal to `exec_alu(CAST, dst, (x,))` for `src` values, for the common pairs (None: the others)."""
    wr = _fast_wrap(dst)
    if dst.kind == "b":
        return bool
    if dst.kind in "iux" and src.kind in "iuxb":
        return wr
    if dst.kind in "iux" and src.kind == "f":
        low = dst.min

        def float_to_int(x: float) -> Any:
            return low if x != x or x in (math.inf, -math.inf) else wr(math.trunc(x))  # C: x86's value for NaN, inf
        return float_to_int
    if dst.name not in ("float64", "float32", "float16"):
        return None  # bfloat16 and fp8 round through numpy (wrap) in any case
    if src.kind == "f":
        return wr
    if src.kind in "iuxb":
        def int_to_float(x: int) -> float:  # one rounding: exact in float64 below 2**53, else as numpy casts
            return wr(float(x)) if -(1 << 53) <= x <= 1 << 53 else wrap(dst, int(x))
        return int_to_float
    return None


def _to_python(dtype: DType, value: Any) -> Any:
    """A numpy scalar as the Python value the interpreter holds for `dtype`."""
    if dtype.kind == "b":
        return bool(value)
    if dtype.kind in "iux":
        return int(value)
    return float(value)


def _bitcast(src: DType, dst: DType, value: Any) -> Any:
    """Reinterpret the bytes of a `src` value as `dst` (numpy view)."""
    if src.itemsize != dst.itemsize:
        raise ValueError(f"BITCAST from {src.name} to {dst.name}: sizes differ")
    return _to_python(dst, np.array(value, dtype=src.np).view(dst.np)[()])


def _same_bits(a: Any, b: Any) -> bool:
    """Whether two stored values are one value: NaN is NaN, -0.0 is not 0.0."""
    if a != a:
        return b != b
    return a == b and (a != 0 or str(a) == str(b))


class _Plan:
    """A program precompiled to closures, plus what each launch needs to set up."""

    def __init__(self, prg: Program) -> None:
        self.prg = prg
        self.pos = {u: i for i, u in enumerate(prg.uops)}
        self.template: list[Any] = [None] * len(prg.uops)
        self.globals: list[tuple[int, int]] = []  # (value slot, parameter position)
        self.regs: list[tuple[int, Any]] = []  # (value slot, initial value)
        self.vars: list[tuple[int, str, int, int]] = []  # (value slot, name, lo, hi)
        self.specials: list[tuple[int, str, int]] = []  # (value slot, "gidx"/"lidx", dimension)
        self.locals: list[tuple[int, int, Any]] = []  # (value slot, size, initial value)
        self.barriers: set[int] = set()  # positions of BARRIERs
        self.wmmas: set[int] = set()  # positions of WMMAs (warp-wide: every thread stops there too)
        self.stored: set[int] = set()  # parameter positions the kernel writes
        # data races in workgroup memory: the barriers the workgroup has passed, the thread running, and per element
        # (id of its buffer's list, index) the last writer and the readers since that many barriers
        self.epoch, self.tid = 0, 0
        self.writes: dict[tuple[int, int], tuple[int, int]] = {}  # element -> (epoch, thread)
        self.reads: dict[tuple[int, int], tuple[int, int]] = {}  # element -> (epoch, thread; -1: several threads)
        self.ends = self._match_loops()
        self.steps: list[Step] = [self._step(i, u) for i, u in enumerate(prg.uops)]
        # compiling the generated code costs about as much as 50 steps of each UOp save: short runs step
        generated = self._generate() if self._work() > GENERATE_AFTER * len(prg.uops) else None
        self.lane: Callable[[list], Iterator[int]] = generated[0] if generated else self._interpret
        self.code: Any = generated[1] if generated else None  # the generated code object (`_failed_at`)
        self.lines: dict[int, int] = generated[2] if generated else {}

    def _match_loops(self) -> dict[int, int]:
        """RANGE position -> position of its END."""
        ends, open_ranges = {}, []
        for i, u in enumerate(self.prg.uops):
            if u.op is Ops.RANGE:
                open_ranges.append(i)
            elif u.op is Ops.END:
                rng = [s for s in u.src if s.op is Ops.RANGE]
                if len(rng) != 1 or not open_ranges or self.pos.get(rng[0]) != open_ranges[-1]:
                    raise ValueError(f"kernel {self.prg.name}: END at v{i} does not close the innermost RANGE")
                ends[open_ranges.pop()] = i
        if open_ranges:
            raise ValueError(f"kernel {self.prg.name}: RANGE at v{open_ranges[-1]} has no END")
        return ends

    def _step(self, i: int, u: UOp) -> Step:
        src = [self.pos[s] for s in u.src]
        nxt = i + 1
        if u.op is Ops.CONST:
            self.template[i] = wrap(u.dtype, u.arg)
            return lambda v: nxt
        if u.op is Ops.DEFINE_GLOBAL:
            self.globals.append((i, u.arg))
            return lambda v: nxt
        if u.op is Ops.DEFINE_REG:
            self.regs.append((i, wrap(u.dtype.scalar, 0)))
            return lambda v: nxt
        if u.op is Ops.DEFINE_VAR:
            self.vars.append((i, *u.arg))
            return lambda v: nxt
        if u.op is Ops.SPECIAL:
            self.specials.append((i, u.arg[:4], int(u.arg[4:])))
            return lambda v: nxt
        if u.op is Ops.DEFINE_LOCAL:
            self.locals.append((i, u.dtype.size, wrap(u.dtype.scalar, 0)))
            return lambda v: nxt
        if u.op is Ops.BARRIER:
            self.barriers.add(i)
            b = src[0]

            def barrier(v: list) -> int:
                v[i] = v[b]
                return nxt
            return barrier
        if u.op is Ops.WMMA:
            if u.arg[0] not in MMA:
                raise NotImplementedError(f"kernel {self.prg.name}: PYTHON device has no tensor core {u.arg[0]}")
            self.wmmas.add(i)
            return lambda v: nxt  # run by _run_grid for the whole warp
        if u.op is Ops.GEP:
            s0, lane = src[0], u.arg[0]

            def gep(v: list) -> int:
                v[i] = v[s0][lane]
                return nxt
            return gep
        if u.op is Ops.RANGE:
            return self._range_step(i, src[0])
        if u.op is Ops.END:
            return self._end_step(i, self.pos[next(s for s in u.src if s.op is Ops.RANGE)])
        if u.op is Ops.INDEX:
            return self._index_step(i, u, src)
        if u.op is Ops.LOAD:
            return self._tracked(i, u, self._load_step(i, src), write=False)
        if u.op is Ops.STORE:
            buf = u.src[0].src[0]
            if buf.op is Ops.DEFINE_GLOBAL:
                self.stored.add(buf.arg)
            p, x = src

            def store(v: list) -> int:
                ptr = v[p]
                if ptr is not None:
                    ptr[0][ptr[1]] = v[x]
                return nxt
            return self._tracked(i, u, store, write=True)
        if u.op in GroupOp.ALU or u.op in (Ops.CAST, Ops.BITCAST):
            return self._alu_step(i, u, src)
        raise NotImplementedError(f"kernel {self.prg.name}: PYTHON device cannot run {u.op} (v{i})")

    def _tracked(self, i: int, u: UOp, step: Step, write: bool) -> Step:
        """A LOAD's or STORE's step, checking first that its access to workgroup memory is no data race (a register's
        or global memory's step as it is)."""
        buf = memory_of(u.src[0].src[0])
        if buf.op is not Ops.DEFINE_LOCAL:
            return step
        p, name, what = self.pos[u.src[0]], self.prg.name, "writes" if write else "reads"
        writes, reads = self.writes, self.reads

        def tracked(v: list) -> int:
            ptr = v[p]
            if ptr is None:
                return step(v)
            key, epoch, tid = (id(ptr[0]), ptr[1]), self.epoch, self.tid
            w, r = writes.get(key), reads.get(key)
            race = (w[1], "wrote") if w is not None and w[0] == epoch and w[1] != tid else \
                (r[1], "read") if write and r is not None and r[0] == epoch and r[1] != tid else None
            before = ptr[0][ptr[1]]
            out = step(v)
            # two threads storing the same bits (a grouped reduce's partial, computed alike by the threads of
            # another group loop) leave one value whatever their timing: no race
            if race is not None and not (write and race[1] == "wrote" and _same_bits(before, ptr[0][ptr[1]])):
                who = f"thread {race[0]}" if race[0] >= 0 else "other threads"
                raise RuntimeError(f"kernel {name}: data race at v{i}: thread {tid} {what} element {ptr[1]} of "
                                   f"local buffer {buf.arg}, which {who} {race[1]} since the last barrier")
            if write:
                writes[key] = (epoch, tid)
            else:
                reads[key] = (epoch, tid if r is None or r[0] != epoch or r[1] == tid else -1)
            return out
        return tracked

    def _range_step(self, i: int, e: int) -> Step:
        after = self.ends[i] + 1

        def rng(v: list) -> int:
            if v[e] <= 0:
                return after
            v[i] = 0
            return i + 1
        return rng

    def _end_step(self, i: int, r: int) -> Step:
        e, body = self.pos[self.prg.uops[r].src[0]], r + 1

        def end(v: list) -> int:
            c = v[r] + 1
            if c < v[e]:
                v[r] = c
                return body
            return i + 1
        return end

    def _index_step(self, i: int, u: UOp, src: list[int]) -> Step:
        buf, name = memory_of(u.src[0]), self.prg.name
        where = {Ops.DEFINE_GLOBAL: "buffer", Ops.DEFINE_LOCAL: "local buffer"}.get(buf.op, "register")
        where = f"{where} {buf.arg}"
        declared = buf.dtype.size
        b, x = src[0], src[1]

        def check(v: list) -> int:
            mem, idx = v[b], v[x]
            size = declared if declared >= 0 else len(mem)
            if not 0 <= idx < size:
                raise IndexError(f"kernel {name}: {where} index {idx} out of bounds [0, {size}) at v{i}")
            v[i] = (mem, idx)
            return i + 1
        if len(src) == 2:
            return check
        g = src[2]

        def gated(v: list) -> int:
            if not v[g]:
                v[i] = None
                return i + 1
            return check(v)
        return gated

    def _load_step(self, i: int, src: list[int]) -> Step:
        p = src[0]
        if len(src) == 1:
            def load(v: list) -> int:
                ptr = v[p]
                if ptr is None:
                    raise ValueError(f"kernel {self.prg.name}: gated LOAD v{i} without an alt value")
                v[i] = ptr[0][ptr[1]]
                return i + 1
            return load
        a = src[1]

        def load_alt(v: list) -> int:
            ptr = v[p]
            v[i] = v[a] if ptr is None else ptr[0][ptr[1]]
            return i + 1
        return load_alt

    def _alu_step(self, i: int, u: UOp, src: list[int]) -> Step:
        op, dtype, nxt = u.op, u.dtype, i + 1
        if op is Ops.BITCAST:
            s, sdt = src[0], u.src[0].dtype.scalar

            def bitcast(v: list) -> int:
                v[i] = _bitcast(sdt, dtype.scalar, v[s])
                return nxt
            return bitcast
        cast = _fast_cast(u.src[0].dtype.scalar, dtype.scalar) if op is Ops.CAST else None
        if cast is not None:
            a = src[0]

            def fast_cast(v: list) -> int:
                v[i] = cast(v[a])
                return nxt
            return fast_cast
        if op in (Ops.CAST, Ops.SHL, Ops.SHR, Ops.MULACC):  # casts, shift range checks and fma live in exec_alu
            def slow(v: list) -> int:
                v[i] = exec_alu(op, dtype, [v[s] for s in src])
                return nxt
            return slow
        fn, wr = ALU_FUNCS[op], _fast_wrap(dtype)
        if len(src) == 1:
            a = src[0]

            def unary(v: list) -> int:
                v[i] = wr(fn(v[a]))
                return nxt
            return unary
        if len(src) == 2:
            a, b = src

            def binary(v: list) -> int:
                v[i] = wr(fn(v[a], v[b]))
                return nxt
            return binary
        a, b, c = src

        def ternary(v: list) -> int:
            v[i] = wr(fn(v[a], v[b], v[c]))
            return nxt
        return ternary

    def run(self, bufs: tuple[np.ndarray, ...], var_vals: dict[str, int]) -> None:
        """Interpret the program once on `bufs` (written back in place)."""
        prg = self.prg
        used = {u.arg: u.dtype.scalar for u in prg.uops if u.op is Ops.DEFINE_GLOBAL}
        if len(bufs) < max(used, default=-1) + 1:  # buffers beyond the last DEFINE_GLOBAL are not used
            raise ValueError(f"kernel {prg.name}: expected {max(used) + 1} buffers, got {len(bufs)}")
        lists: dict[int, list] = {}  # id(array) -> its values, shared when one array is passed twice
        per_pos: dict[int, list] = {}
        for pos, dt in used.items():
            buf = bufs[pos]
            if id(buf) not in lists:
                with np.errstate(invalid="ignore"):  # ml_dtypes warns on NaN codes; they convert to NaN exactly
                    lists[id(buf)] = (buf.astype(np.float64) if dt.kind == "f" else buf).reshape(-1).tolist()
            per_pos[pos] = lists[id(buf)]
        base = list(self.template)
        for slot, param in self.globals:
            base[slot] = per_pos[param]
        for slot, name, lo, hi in self.vars:
            if name not in var_vals:
                raise ValueError(f"kernel {prg.name}: no value for variable {name!r}")
            if not lo <= var_vals[name] <= hi:
                raise ValueError(f"kernel {prg.name}: {name}={var_vals[name]} outside [{lo}, {hi}]")
            base[slot] = var_vals[name]
        try:
            with np.errstate(over="ignore", invalid="ignore"):  # rounding to a narrow float may overflow to inf
                if self.specials or self.locals:
                    self._run_grid(base)
                else:
                    self._run_thread(base)
        finally:
            for param in sorted(self.stored):
                _write_back(bufs[param], per_pos[param])

    def _thread(self, base: list) -> list:
        v = list(base)
        for slot, init in self.regs:
            v[slot] = [init]
        return v

    def _run_thread(self, base: list) -> None:
        v = self._thread(base)
        try:
            for _ in self.lane(v):  # a kernel without SPECIALs has no barrier nor WMMA to stop at
                pass
        except (ArithmeticError, ValueError, IndexError) as e:
            e.add_note(f"in kernel {self.prg.name} at {self._failed_at(e)}")
            raise

    def _run_grid(self, base: list) -> None:
        """Every thread of every workgroup; threads of a workgroup in lock-step between barriers."""
        gsize, lsize = self.prg.global_size, self.prg.local_size
        declared = {(kind, dim): u.src[0].arg for u in self.prg.uops if u.op is Ops.SPECIAL
                    for kind, dim in [(u.arg[:4], int(u.arg[4:]))]}
        for (kind, dim), size in declared.items():
            launch = (gsize if kind == "gidx" else lsize)[dim]
            if size != launch:
                raise ValueError(f"kernel {self.prg.name}: {kind}{dim} has size {size}, launched with {launch}")
        threads = list(itertools.product(*(range(d) for d in reversed(lsize))))  # (z, y, x)
        n = len(self.prg.uops)
        for group in itertools.product(*(range(d) for d in reversed(gsize))):
            self.epoch = 0
            self.writes.clear()
            self.reads.clear()
            lanes: list[list] = []
            shared = [(slot, [init] * size) for slot, size, init in self.locals]
            for thread in threads:
                v = self._thread(base)
                for slot, kind, dim in self.specials:
                    v[slot] = (group if kind == "gidx" else thread)[2 - dim]
                for slot, mem in shared:
                    v[slot] = mem
                lanes.append(v)
            runs = [self.lane(v) for v in lanes]
            while True:  # each thread to its next stop (a barrier or a WMMA; n: the end), one after another
                stops = []
                for k, (thread, run) in enumerate(zip(threads, runs)):
                    self.tid = k
                    try:
                        stops.append(next(run, n))
                    except (ArithmeticError, ValueError, IndexError) as e:
                        e.add_note(f"in kernel {self.prg.name} at {self._failed_at(e)}, workgroup {group[::-1]} "
                                   f"thread {thread[::-1]}")
                        raise
                if len(set(stops)) > 1:
                    at = sorted(set(stops))
                    raise RuntimeError(f"kernel {self.prg.name}: workgroup {group[::-1]}: threads stopped at "
                                       f"{', '.join('the end' if p == n else f'{self._stop(p)} v{p}' for p in at)} "
                                       f"(divergent barrier)")
                if stops[0] == n:
                    break
                if stops[0] in self.wmmas:
                    self._warp_mma(stops[0], lanes, group)
                else:
                    self.epoch += 1

    def _failed_at(self, e: BaseException) -> str:
        """Where in the program an exception of a thread's run was raised: "v<position>: <op>"."""
        pc = None
        tb = e.__traceback__
        while tb is not None:
            code = tb.tb_frame.f_code
            if code is self.code:
                pc = self.lines.get(tb.tb_lineno)
            elif code is _Plan._interpret.__code__:
                pc = tb.tb_frame.f_locals.get("pc")
            tb = tb.tb_next
        return "an unknown UOp" if pc is None else f"v{pc}: {self.prg.uops[pc].op}"

    def _interpret(self, v: list) -> Iterator[int]:
        """Run one thread step by step (a program nested too deeply for `_generate`): yields the position of each
        barrier or WMMA it reaches, then runs on from there when resumed."""
        steps, n, stops = self.steps, len(self.steps), self.barriers | self.wmmas
        pc = 0
        while pc < n:
            if pc in stops:
                yield pc
            pc = steps[pc](v)

    def _alu_code(self, i: int, u: UOp, args: list[str], ns: dict[str, Any]) -> str:
        """The expression `_generate` computes an ALU UOp by: exec_alu's function and wrap, the common ones inline."""
        dt, op = u.dtype.scalar, u.op
        if op in _INLINE:
            expr = _INLINE[op].format(*args)
            if op in (Ops.CMPLT, Ops.CMPLE, Ops.CMPNE, Ops.CMPEQ, Ops.WHERE) or \
                    (op in (Ops.AND, Ops.OR, Ops.XOR) and all(s.dtype.scalar.kind == "b" for s in u.src)):
                return expr  # a bool, or (WHERE) a value of the dtype already: wrapping changes nothing
            ns[f"w{i}"] = _fast_wrap(dt)
            if dt.kind in "iux":  # in range (nearly always): no call
                lo, hi = (dt.min, dt.max) if dt.kind != "x" else (-(1 << 63), (1 << 63) - 1)
                return f"t if {lo} <= (t := {expr}) <= {hi} else w{i}(t)"
            return f"w{i}({expr})"
        ns[f"f{i}"], ns[f"w{i}"] = ALU_FUNCS[op], _fast_wrap(dt)
        return f"w{i}(f{i}({', '.join(args)}))"

    def _work(self) -> int:
        """About how many UOps a launch runs: every UOp once per iteration of its loops (a loop of unknown length
        counted as 16) and per thread."""
        trips, total, outer = 1, 0, []
        for u in self.prg.uops:
            if u.op is Ops.RANGE:
                outer.append(trips)
                trips *= max(u.src[0].arg, 0) if u.src[0].op is Ops.CONST else 16
            elif u.op is Ops.END:
                trips = outer.pop()
            total += trips
        threads = 1
        if self.specials:
            for d in (*self.prg.global_size, *self.prg.local_size):
                threads *= d
        return total * threads

    def _generate(self) -> tuple[Callable[[list], Iterator[int]], Any, dict[int, int]] | None:
        """The program as one Python generator function over a thread's value list (loops as `for`, most UOps
        inline, the rest calling their steps), yielding at barriers and WMMAs as `_interpret` does: a few times
        faster than stepping. Returns it, its code object and its line -> UOp position map; None where the loops
        nest deeper than Python compiles (20 blocks)."""
        uops, ns = self.prg.uops, {}
        lines, where, depth = ["def run(v):", "    if False:", "        yield 0"], {}, 1
        for i, u in enumerate(uops):
            op, src, pad = u.op, [self.pos[x] for x in u.src], "    " * depth
            out: list[str] = []
            if op in (Ops.CONST, Ops.DEFINE_GLOBAL, Ops.DEFINE_REG, Ops.DEFINE_VAR, Ops.SPECIAL, Ops.DEFINE_LOCAL):
                continue
            if op is Ops.RANGE:
                if depth >= 19:
                    return None
                out = [f"for x in range(v[{src[0]}]):", f"    v[{i}] = x"]
                depth += 1
            elif op is Ops.END:
                depth -= 1
                continue
            elif op is Ops.WMMA:
                out = [f"yield {i}"]
            elif op is Ops.BARRIER:
                out = [f"yield {i}", f"v[{i}] = v[{src[0]}]"]
            elif op is Ops.GEP:
                out = [f"v[{i}] = v[{src[0]}][{u.arg[0]}]"]
            elif op is Ops.INDEX:
                size = memory_of(u.src[0]).dtype.size
                bound = str(size) if size >= 0 else f"len(v[{src[0]})"
                inside = [f"if 0 <= v[{src[1]}] < {bound}: v[{i}] = (v[{src[0]}], v[{src[1]}])",
                          f"else: s{i}(v)"]  # the step raises the IndexError
                out = inside if len(src) == 2 else [f"if not v[{src[2]}]: v[{i}] = None", "el" + inside[0], inside[1]]
            elif op in (Ops.LOAD, Ops.STORE) and memory_of(u.src[0].src[0]).op is not Ops.DEFINE_LOCAL:
                if op is Ops.STORE:
                    out = [f"p = v[{src[0]}]", f"if p is not None: p[0][p[1]] = v[{src[1]}]"]
                elif len(src) == 1:
                    out = [f"p = v[{src[0]}]", f"if p is None: s{i}(v)", f"v[{i}] = p[0][p[1]]"]
                else:
                    out = [f"p = v[{src[0]}]", f"v[{i}] = v[{src[1]}] if p is None else p[0][p[1]]"]
            elif op is Ops.CAST and (cast := _fast_cast(u.src[0].dtype.scalar, u.dtype.scalar)) is not None:
                ns[f"c{i}"] = cast
                out = [f"v[{i}] = c{i}(v[{src[0]}])"]
            elif op in GroupOp.ALU and op not in (Ops.SHL, Ops.SHR, Ops.MULACC):
                out = [f"v[{i}] = {self._alu_code(i, u, [f'v[{x}]' for x in src], ns)}"]
            if not out:  # everything else (workgroup memory's checked accesses, bitcasts, shifts, fma) as a step
                out = [f"s{i}(v)"]
            ns[f"s{i}"] = self.steps[i]
            for line in out:
                lines.append(pad + line)
                where[len(lines)] = i
        code = compile("\n".join(lines) + "\n", f"<kernel {self.prg.name}>", "exec")
        exec(code, ns)
        fn = ns["run"]
        return fn, fn.__code__, where

    def _stop(self, pc: int) -> str:
        return "barrier" if pc in self.barriers else "WMMA"

    def _warp_mma(self, pc: int, lanes: list[list], group: tuple) -> None:
        """Run the WMMA at pc for every warp of the workgroup (32 consecutive threads, x fastest)."""
        u = self.prg.uops[pc]
        if len(lanes) % 32:
            raise RuntimeError(f"kernel {self.prg.name}: WMMA v{pc} in a workgroup of {len(lanes)} threads "
                               f"(whole warps of 32 needed), workgroup {group[::-1]}")
        src = [self.pos[s] for s in u.src]
        for w in range(0, len(lanes), 32):
            warp = lanes[w:w + 32]
            outs = MMA[u.arg[0]]([[v[s] for s in src] for v in warp], u.arg[1])
            for v, out in zip(warp, outs):
                v[pc] = out


def mma_m16n8k16(frags: list[list[float]], in_dtype: str) -> list[tuple[float, ...]]:
    """mma.sync.aligned.m16n8k16.row.col.f32.<in>.<in>.f32 of one warp: frags[lane] = (a0..a7, b0..b3, c0..c3) ->
    each lane's (d0..d3). Layout from the PTX ISA (groupID = lane >> 2, threadID_in_group = lane % 4):
      a_i: row groupID (i in 0,1,4,5) or groupID + 8 (i in 2,3,6,7); col 2*tig + (i & 1), + 8 for i >= 4
      b_i: row 2*tig + (i & 1), + 8 for i >= 2; col groupID
      c_i, d_i: row groupID (i < 2) or groupID + 8; col 2*tig + (i & 1)
    D = C + A B in float32: d starts at c and adds each product (exact for float16/bfloat16 inputs) in order of k,
    rounding to float32 after each add. Inputs must be values of `in_dtype`."""
    a, b, c = np.full((16, 16), np.nan), np.full((16, 8), np.nan), np.full((16, 8), np.nan)
    for lane, f in enumerate(_lanes(frags, 16)):
        gid, tig = lane >> 2, lane % 4
        for i in range(8):
            a[gid + 8 * (i in (2, 3, 6, 7)), 2 * tig + (i & 1) + 8 * (i >= 4)] = f[i]
        for i in range(4):
            b[2 * tig + (i & 1) + 8 * (i >= 2), gid] = f[8 + i]
            c[gid + 8 * (i >= 2), 2 * tig + (i & 1)] = f[12 + i]
    return _mma("m16n8k16", a, b, c, in_dtype)


def mma_m16n8k32(frags: list[list[float]], in_dtype: str) -> list[tuple[float, ...]]:
    """mma.sync.aligned.m16n8k32.row.col.f32.<e4m3|e5m2>.<same>.f32 of one warp: frags[lane] = (a0..a15, b0..b7,
    c0..c3) -> each lane's (d0..d3). Layout from the PTX ISA for 8-bit inputs, four to a register:
      a_i: row groupID (i in 0..3, 8..11) or groupID + 8 (i in 4..7, 12..15); col 4*tig + (i & 3), + 16 for i >= 8
      b_i: row 4*tig + (i & 3), + 16 for i >= 4; col groupID
      c_i, d_i: as in m16n8k16
    D = C + A B in float32 as in mma_m16n8k16 (products of fp8 values are exact in float32)."""
    a, b, c = np.full((16, 32), np.nan), np.full((32, 8), np.nan), np.full((16, 8), np.nan)
    for lane, f in enumerate(_lanes(frags, 28)):
        gid, tig = lane >> 2, lane % 4
        for i in range(16):
            a[gid + 8 * ((i >> 2) & 1), 4 * tig + (i & 3) + 16 * (i >= 8)] = f[i]
        for i in range(8):
            b[4 * tig + (i & 3) + 16 * (i >= 4), gid] = f[16 + i]
        for i in range(4):
            c[gid + 8 * (i >= 2), 2 * tig + (i & 1)] = f[24 + i]
    return _mma("m16n8k32", a, b, c, in_dtype)


def _lanes(frags: list[list[float]], per_lane: int) -> list[list[float]]:
    if len(frags) != 32 or any(len(f) != per_lane for f in frags):
        raise ValueError(f"mma: needs 32 lanes of {per_lane} values, got {len(frags)} lanes")
    return frags


def _mma(name: str, a: np.ndarray, b: np.ndarray, c: np.ndarray, in_dtype: str) -> list[tuple[float, ...]]:
    """D = C + A B of whole tiles, sequentially in k with float32 rounding, then each lane's D fragment (the C
    layout of m16n8k16, shared by every shape here). Inputs must be exact in their types."""
    import ml_dtypes

    dt = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float8_e4m3fn": ml_dtypes.float8_e4m3fn,
          "float8_e5m2": ml_dtypes.float8_e5m2}[in_dtype]
    for what, m, fmt in (("A", a, dt), ("B", b, dt), ("C", c, np.float32)):
        with np.errstate(over="ignore", invalid="ignore"):
            exact = np.array_equal(m.astype(fmt).astype(np.float64), m, equal_nan=True)
        if not exact:
            raise ValueError(f"mma.{name}: a {what} fragment holds a value that is not {np.dtype(fmt).name}")
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    d = c.astype(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(a.shape[1]):
            d = d + np.outer(a32[:, k], b32[k, :]).astype(np.float32)
    out = []
    for lane in range(32):
        gid, tig = lane >> 2, lane % 4
        out.append(tuple(float(d[gid + 8 * (i >= 2), 2 * tig + (i & 1)]) for i in range(4)))
    return out


MMA = {"m16n8k16": mma_m16n8k16, "m16n8k32": mma_m16n8k32}  # the tensor-core instructions PYTHON_GPU runs


def _write_back(buf: np.ndarray, values: list) -> None:
    """Copy interpreter values into a numpy buffer (values are exact in its dtype)."""
    tmp = np.float64 if buf.dtype.kind == "f" or buf.dtype not in _NATIVE else buf.dtype
    buf.reshape(-1)[...] = np.array(values, dtype=tmp).astype(buf.dtype)


_NATIVE = {np.dtype(t) for t in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")}


class _Compiled:
    """The compiled form of a PYTHON program: its source and, once launched, its plan."""

    def __init__(self, src: str) -> None:
        self.src = src
        self.plan: _Plan | None = None


class PythonDevice(Device):
    """Interprets linear programs in Python; the reference semantics of the UOps."""

    name = "PYTHON"

    def render(self, prg: Program) -> str:
        """The program listing (equal listings are equal programs)."""
        return f"kernel {prg.name}\n{prg.render_text()}"

    def compile(self, src: str, name: str) -> _Compiled:
        """Nothing to compile: the plan is built from the Program on first launch."""
        return _Compiled(src)

    def launcher(self, compiled: _Compiled, prg: Program) -> Callable[..., None]:
        """A callable(*buffers, **variable values) that interprets the program."""
        if compiled.plan is None:
            compiled.plan = _Plan(prg)
        plan = compiled.plan

        def launch(*bufs: np.ndarray, **var_vals: int) -> None:
            plan.run(bufs, var_vals)
        return launch


class PythonGPUDevice(PythonDevice):
    """The interpreter running kernels built for a GPU (launch indices, workgroup memory, barriers)."""

    name = "PYTHON_GPU"
    gpu = True
    tensor_cores = ("m16n8k16", "m16n8k32")  # emulated exactly (mma_m16n8k16), so TC kernels are checked on any machine


register_device("PYTHON", PythonDevice)
register_device("PYTHON_GPU", PythonGPUDevice)
