"""Bugs planted in the engine on purpose, one per layer the graph fuzzer must watch. Each is a function that
installs the bug with pytest's monkeypatch (forked campaign workers inherit it) and the signature the fuzzer
must report for it. bench/bench_fuzz.py uses them too (time to find each bug).
"""

from __future__ import annotations

from typing import Any, Callable

from engine.uop import Ops, UOp


def fused_reduce_counted_twice(mp: Any) -> None:
    """Scheduler: a sum fused into its consumer's kernel adds every element twice (an accumulator counted twice
    after fusion); a sum that is its kernel's own output is right, so unfused schedules are right."""
    import engine.rangeify as rf

    orig = rf._Lowerer._reduce

    def planted(self: Any, u: UOp, idx: Any, valid: Any) -> Any:
        step = orig(self, u, idx, valid)
        if u is not self.root and type(step) is tuple and u.arg[0] is Ops.ADD:
            finish, ((src, new, v),), data = step
            return finish, [(UOp(Ops.ADD, src.dtype, (src, src)), new, v)], data
        return step

    mp.setattr(rf._Lowerer, "_reduce", planted)


def pad_mask_dropped(mp: Any) -> None:
    """Movement masks: padding on the high side of an axis (and only there) loses its validity mask, so the
    padded elements read whatever lies past the end of the row."""
    import engine.rangeify as rf

    orig = rf._Lowerer._lower

    def planted(self: Any, u: UOp, idx: Any, valid: Any) -> Any:
        if u.op is Ops.PAD and not (u is not self.root and u in self.realized):
            if all(b == 0 for b, _ in u.arg) and any(a for _, a in u.arg):
                return (rf._SAME, [(u.src[0], idx, valid)], None)
        return orig(self, u, idx, valid)

    mp.setattr(rf._Lowerer, "_lower", planted)


def upcast_tail_overlaps(mp: Any) -> None:
    """Kernel opts: an UPCAST by n of a loop longer than n steps its outer loop by n - 1, so blocks overlap and
    the last elements are never written."""
    import engine.codegen.kernel as kn

    orig = kn.Kernel._split

    def planted(self: Any, r: UOp, n: int, outer_kind: str, inner_kind: str) -> Any:
        end = r.src[0]
        if inner_kind != "upcast" or end.op is not Ops.CONST or end.arg <= n or n <= 2:
            return orig(self, r, n, outer_kind, inner_kind)
        outer, inner = orig(self, r, n, outer_kind, inner_kind)
        wrong = outer * (n - 1) + inner
        right = outer * n + inner
        self.ast = _substitute(self.ast, right, wrong)
        return outer, inner

    mp.setattr(kn.Kernel, "_split", planted)


def _substitute(ast: UOp, old: UOp, new: UOp) -> UOp:
    from engine.rewrite import substitute

    return substitute(ast, {old: new})


def c_less_than_is_less_equal(mp: Any) -> None:
    """C renderer: `a < b` is rendered as `a <= b` (the CPU device only)."""
    import engine.renderer.c as c

    orig = c._alu

    def planted(u: UOp, s: list[str]) -> str:
        if u.op is Ops.CMPLT and u.src[0].dtype.scalar.kind != "x":  # index comparisons stay right
            return f"({s[0]} <= {s[1]})"
        return orig(u, s)

    mp.setattr(c, "_alu", planted)


def llvm_signed_casts_as_unsigned(mp: Any) -> None:
    """LLVM renderer: a cast from a signed integer treats it as unsigned (zext / uitofp instead of sext /
    sitofp), so negative values come out huge."""
    import engine.renderer.llvm as ll
    from engine.dtype import dtypes

    uns = {dtypes.int8: dtypes.uint8, dtypes.int16: dtypes.uint16, dtypes.int32: dtypes.uint32,
           dtypes.int64: dtypes.uint64}
    orig = ll._Renderer.cast

    def planted(self: Any, x: str, s: Any, d: Any) -> str:
        s2 = uns.get(s.scalar, s)
        if s2 is not s.scalar and d.scalar.kind in "iuf" and d.scalar.itemsize > s.scalar.itemsize:
            return orig(self, x, s2, d)
        return orig(self, x, s, d)

    mp.setattr(ll._Renderer, "cast", planted)


def split_drops_last_partial(mp: Any) -> None:
    """Scheduler (a large reduce split in two, engine.rangeify.split_large_reduces): the second stage reduces all
    partials but the last, so one run of the axis is never counted. Only the split mode's thresholds reach it on
    the fuzzer's small tensors."""
    import engine.rangeify as rf
    from engine.shape import shape_of

    orig = rf.split_large_reduces

    def planted(sink: UOp) -> UOp:
        out = orig(sink)
        before = set(sink.toposort)
        mapping = {}
        for u in out.toposort:
            if u not in before and u.op is Ops.REDUCE_AXIS and u.src[0].op is Ops.CONTIGUOUS:
                c, (a,) = u.src[0], u.arg[1]
                shape = shape_of(c)
                arg = tuple((0, n - 1) if i == a else (0, n) for i, n in enumerate(shape))
                mapping[u] = UOp(Ops.REDUCE_AXIS, u.dtype, (UOp(Ops.SHRINK, c.dtype, (c,), arg),), u.arg)
        return _substitute_all(out, mapping) if mapping else out

    mp.setattr(rf, "split_large_reduces", planted)


PLANTED: dict[str, tuple[Callable[[Any], None], str]] = {
    "fused_reduce_counted_twice": (fused_reduce_counted_twice, "mismatch:fusion"),
    "pad_mask_dropped": (pad_mask_dropped, ""),  # mismatch or an index the spec checker refuses: any signature
    "upcast_tail_overlaps": (upcast_tail_overlaps, "opts"),
    "c_less_than_is_less_equal": (c_less_than_is_less_equal, "mismatch:device:CPU"),
    "llvm_signed_casts_as_unsigned": (llvm_signed_casts_as_unsigned, "mismatch:device:LLVM"),
    "split_drops_last_partial": (split_drops_last_partial, "mismatch:split"),
}


def c_store_one_past(mp: Any) -> None:
    """C renderer: every store to the output goes one element further (data0[i + 1]): the last one lands past
    the end of the buffer, which only a guard zone sees on the CPU device."""
    import engine.renderer.c as c
    from engine.runtime.cpu import CPUDevice

    def planted(self: Any, prg: Any) -> str:
        return c.render_c(prg).replace("data0[", "data0[1 + ")

    mp.setattr(CPUDevice, "render", planted)


# ---------------------------------------------------------------- bugs in the opts only random opts reach
def vector_lane_loop_short(mp: Any) -> None:
    """C renderer, vector lanes (Opt VECTOR): the loop over the lanes of ops that run lane by lane stops one lane
    short where the vector has more than 2 lanes, so the last lane (the tail) is left 0."""
    import engine.renderer.c as c

    def planted(self: Any) -> None:
        if self.body:
            for line in self.decls:  # zeroed: the lane left out reads 0 (the same wrong value on every run)
                self.out(line.replace(";", " = {0};"))
            self.out(f"for (int l_ = 0; l_ < {self.n - 1 if self.n > 2 else self.n}; l_++) {{")
            for line in self.body:
                self.out("  " + line)
            self.out("}")
        self.decls, self.body = [], []

    mp.setattr(c._Lanes, "flush", planted)


def vector_split_drops_tail(mp: Any) -> None:
    """Kernel opts: Opt VECTOR of a loop longer than its lanes runs the outer loop one block short, so the last
    block of the loop (its tail) is never computed."""
    import engine.codegen.kernel as kn

    orig = kn.Kernel._split

    def planted(self: Any, r: UOp, n: int, outer_kind: str, inner_kind: str) -> Any:
        outer, inner = orig(self, r, n, outer_kind, inner_kind)
        # from 3 blocks up: a loop left with one block would make a later opt of the kernel refuse it (OptError)
        if inner_kind == "vector" and outer.op is Ops.RANGE and outer.src[0].arg > 2:
            short = UOp.range(outer.src[0].arg - 1, outer.arg[0], outer.arg[1])
            self.ast = _substitute(self.ast, outer, short)
            outer = short
        return outer, inner

    mp.setattr(kn.Kernel, "_split", planted)


def group_combine_skips_last_thread(mp: Any) -> None:
    """GPU code generation (Opt GROUP): the combine of a grouped reduce reads the partials of threads 0..n-2, so
    the last thread's part of the reduce is lost."""
    import engine.codegen.gpu as gpu

    orig = gpu.group_reduces

    def planted(ast: UOp, next_axis: int, local: list[UOp], spread: UOp | None = None) -> tuple[UOp, UOp | None]:
        out, outer = orig(ast, next_axis, local, spread)
        combines = {j for u in out.toposort if u.op is Ops.REDUCE and u.src[0].op is Ops.LOAD
                    and u.src[0].src[0].src[0].op is Ops.BARRIER for j in u.src[1:]}
        short = {j: UOp.range(j.src[0].arg - 1, j.arg[0], j.arg[1]) for j in combines if j.src[0].arg > 1}
        return (_substitute_all(out, short) if short else out), outer

    mp.setattr(gpu, "group_reduces", planted)


def _substitute_all(ast: UOp, mapping: dict[UOp, UOp]) -> UOp:
    from engine.rewrite import substitute

    return substitute(ast, mapping)


# bugs only the random opts of a device reach: (plant, the mode whose random opts reach them, signature part)
OPT_PLANTED: dict[str, tuple[Callable[[Any], None], str, str]] = {
    "vector_lane_loop_short": (vector_lane_loop_short, "randopt:CPU", ":CPU"),
    "vector_split_drops_tail": (vector_split_drops_tail, "randopt:CPU", "opts"),
    "group_combine_skips_last_thread": (group_combine_skips_last_thread, "randopt:gpu", "PYTHON_GPU"),
}
