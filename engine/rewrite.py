"""Rule-based rewriting: `UPat` patterns, `PatternMatcher` rule tables and the `graph_rewrite` engine.

A rule is `(UPat, fn)` or `(UPat, fn, "label")`; `fn` gets the pattern's named captures as keyword
arguments (plus `ctx` if it asks for it) and returns a replacement UOp or None. Rules are dispatched by op.
Every rule has a stable name (its label, or `file:line` of its function) used for hit accounting.
"""

from __future__ import annotations

import gc
import inspect
import itertools
import os
from collections import Counter
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

from engine.dtype import DType
from engine.uop import Ops, UOp


class UPat:
    """A pattern over UOps.

    op: an Ops, a tuple/set of Ops, or None (any). dtype: a DType, a tuple of them, or None.
    src: None (any sources), a tuple (in order), or a list (commutative: any order of the sources).
    arg: a value to equal, or None. arg_pred: a predicate on the arg. name: capture the UOp under this name.
    allow_any_len: sources may be longer than `src`. pred: a predicate on the whole UOp.
    """

    __slots__ = ("ops", "dtypes", "src", "commutative", "arg", "arg_pred", "name", "allow_any_len", "pred",
                 "_opmask", "_dtype_ok")

    def __init__(self, op: Ops | Sequence[Ops] | frozenset | None = None, dtype: DType | Sequence[DType] | None = None,
                 src: UPat | Sequence[UPat] | None = None, arg: Any = None, name: str | None = None,
                 arg_pred: Callable[[Any], bool] | None = None, allow_any_len: bool = False,
                 pred: Callable[[UOp], bool] | None = None):
        self.ops = None if op is None else (frozenset((op,)) if isinstance(op, Ops) else frozenset(op))
        self.dtypes = None if dtype is None else (frozenset((dtype,)) if isinstance(dtype, DType) else frozenset(dtype))
        self.commutative = isinstance(src, list)
        self.src: tuple[UPat, ...] | None = (src,) if isinstance(src, UPat) else (None if src is None else tuple(src))
        self.arg, self.arg_pred, self.name, self.allow_any_len, self.pred = arg, arg_pred, name, allow_any_len, pred
        # ops as a table indexed by op (cheaper than hashing the enum); dtype verdicts by id of UOp dtypes,
        # which are canonical objects that live forever (engine.uop.canonical_dtype)
        self._opmask = None if self.ops is None else tuple(o in self.ops for o in range(max(Ops) + 1))
        self._dtype_ok: dict[int, bool] = {}

    def dtype_ok(self, dt: DType) -> bool:
        """Whether the dtype filter admits `dt` (itself or its scalar type)."""
        return self.dtypes is None or dt in self.dtypes or dt.scalar in self.dtypes

    def src_ops_ok(self, ops: Sequence[Ops]) -> bool:
        """Whether sources with these ops could match this pattern's direct sources (ops only)."""
        if self.src is None:
            return True
        n = len(self.src)
        if len(ops) < n or (len(ops) != n and not self.allow_any_len):
            return False
        if self.commutative and n > 2:
            return True
        if all(p._opmask is None or p._opmask[o] for p, o in zip(self.src, ops)):
            return True
        return self.commutative and n == 2 and \
            all(p._opmask is None or p._opmask[o] for p, o in zip(self.src, (ops[1], ops[0])))

    def names(self) -> set[str]:
        """Every capture name in the pattern."""
        out = {self.name} if self.name is not None else set()
        for p in self.src or ():
            out |= p.names()
        return out

    # ------------------------------------------------------------ shorthands
    @staticmethod
    def var(name: str | None = None, dtype: DType | Sequence[DType] | None = None) -> UPat:
        """Any UOp, captured as `name`."""
        return UPat(dtype=dtype, name=name)

    @staticmethod
    def cvar(name: str | None = None, dtype: DType | Sequence[DType] | None = None) -> UPat:
        """A constant, captured as `name`."""
        return UPat(Ops.CONST, dtype=dtype, name=name)

    @staticmethod
    def const(value: Any, dtype: DType | Sequence[DType] | None = None) -> UPat:
        """The constant `value` (True/False only match bools, 0/1 only ints and floats)."""
        return UPat(Ops.CONST, dtype=dtype, arg_pred=lambda a: a == value and isinstance(a, bool) == isinstance(
            value, bool))

    def alu(self, op: Ops, *others: UPat, commutative: bool | None = None) -> UPat:
        srcs = [self, *others]
        comm = op in _COMMUTATIVE if commutative is None else commutative
        return UPat(op, src=srcs if comm else tuple(srcs))

    def __add__(self, x: UPat) -> UPat: return self.alu(Ops.ADD, x)
    def __mul__(self, x: UPat) -> UPat: return self.alu(Ops.MUL, x)
    def __floordiv__(self, x: UPat) -> UPat: return self.alu(Ops.IDIV, x)
    def __mod__(self, x: UPat) -> UPat: return self.alu(Ops.MOD, x)
    def __lt__(self, x: UPat) -> UPat: return self.alu(Ops.CMPLT, x)  # type: ignore[override]

    def __repr__(self) -> str:
        ops = "any" if self.ops is None else "|".join(sorted(o.name for o in self.ops))
        return f"UPat({ops}{', ' + self.name if self.name else ''})"

    # ------------------------------------------------------------ matching
    def match(self, u: UOp, store: dict[str, UOp]) -> list[dict[str, UOp]]:
        """All capture dicts under which `u` matches (several when commutative sources match both ways)."""
        return list(self._match(u, store))

    def _match(self, u: UOp, store: dict[str, UOp]) -> Sequence[dict[str, UOp]]:
        """`match` without the copy: the fast-reject path allocates nothing."""
        if self._opmask is not None and not self._opmask[u.op]:
            return ()
        if self.dtypes is not None:
            ok = self._dtype_ok.get(id(u.dtype))
            if ok is None:
                ok = self._dtype_ok[id(u.dtype)] = self.dtype_ok(u.dtype)
            if not ok:
                return ()
        if self.arg is not None and u.arg != self.arg:
            return ()
        if self.arg_pred is not None and not self.arg_pred(u.arg):
            return ()
        if self.pred is not None and not self.pred(u):
            return ()
        if self.src is not None:  # cheap structural rejects before any capture dict is copied
            n = len(self.src)
            if len(u.src) < n or (len(u.src) != n and not self.allow_any_len):
                return ()
            srcs = u.src if len(u.src) == n else u.src[:n]
            if not self.commutative:
                for p, s in zip(self.src, srcs):
                    if p._opmask is not None and not p._opmask[s.op]:
                        return ()
        if self.name is not None:
            prev = store.get(self.name)
            if prev is not None and prev is not u:
                return ()
            store = {**store, self.name: u}
        if self.src is None:
            return (store,)
        if not self.commutative:
            return self._match_srcs(srcs, store)
        if n == 2:
            orders: Any = (srcs, (srcs[1], srcs[0]))
        else:
            orders = itertools.permutations(srcs)
        out: list[dict[str, UOp]] = []
        for order in orders:
            if all(p._opmask is None or p._opmask[s.op] for p, s in zip(self.src, order)):
                out.extend(self._match_srcs(order, store))
        return out

    def _admits_dtype(self, dt: DType) -> bool:
        ok = self._dtype_ok.get(id(dt))
        if ok is None:
            ok = self._dtype_ok[id(dt)] = self.dtype_ok(dt)
        return ok

    def _match_srcs(self, srcs: Sequence[UOp], store: dict[str, UOp]) -> Sequence[dict[str, UOp]]:
        stores: Sequence[dict[str, UOp]] = (store,)
        for p, s in zip(self.src, srcs):  # type: ignore[arg-type]
            if len(stores) == 1:
                stores = p._match(s, stores[0])
            else:
                stores = [m for st in stores for m in p._match(s, st)]
            if not stores:
                return ()
        return stores


def _compile(pat: UPat, fn: Callable, params: frozenset, wants_ctx: bool) -> Callable[[UOp, Any], UOp | None] | None:
    """Generated Python source that matches `pat` and calls `fn` on each match: a function of (u, ctx) returning the
    first result that is neither None nor u (else None), with the captures fn takes as keywords (and ctx). None
    where `pat` has nested commutative sources or a commutative top with other than two (the generic matcher then).

    Same checks in the same order as UPat._match: op, dtype, arg, arg_pred, pred, source count, then the sources
    depth first; a name seen before must be the same UOp. A commutative top tries the sources as given, then
    swapped: the matches, and so the calls, come in the generic matcher's order, without capture dicts.
    """
    env: dict[str, Any] = {}
    counter = itertools.count()

    def ref(v: Any) -> str:
        name = f"_k{next(counter)}"
        env[name] = v
        return name

    def emit(p: UPat, var: str, lines: list[str], bound: dict[str, str], top_only: bool = False) -> bool:
        """Checks for `p` on the UOp in `var` (each failing check returns None); False if not compilable.

        top_only: the checks on the UOp itself, not its sources (a commutative top matches those itself).
        """
        if p._opmask is not None:
            lines.append(f"if not {ref(p._opmask)}[{var}.op]: return None")
        if p.dtypes is not None:
            # the admitted-dtype cache first: a call only for a dtype not seen yet (or rejected)
            lines.append(f"if not ({ref(p._dtype_ok)}.get(id({var}.dtype)) or {ref(p._admits_dtype)}({var}.dtype)): "
                         "return None")
        if p.arg is not None:
            lines.append(f"if {var}.arg != {ref(p.arg)}: return None")
        if p.arg_pred is not None:
            lines.append(f"if not {ref(p.arg_pred)}({var}.arg): return None")
        if p.pred is not None:
            lines.append(f"if not {ref(p.pred)}({var}): return None")
        if p.src is not None and not top_only:
            if p.commutative:
                return False
            n = len(p.src)
            lines.append(f"if len({var}.src) {'<' if p.allow_any_len else '!='} {n}: return None")
        if p.name is not None:
            if p.name in bound:
                lines.append(f"if {var} is not {bound[p.name]}: return None")
            else:
                bound[p.name] = var
        for i, sp in enumerate(() if top_only else p.src or ()):
            sub = f"{var}_{i}"
            lines.append(f"{sub} = {var}.src[{i}]")
            if not emit(sp, sub, lines, bound):
                return False
        return True

    lines: list[str] = []
    bound: dict[str, str] = {}
    if pat.commutative:
        if pat.src is None or len(pat.src) != 2 or pat.allow_any_len:
            return None
        emit(pat, "u", lines, bound, top_only=True)
        lines.append("if len(u.src) != 2: return None")
        for sp, var in zip(pat.src, ["a", "b"]):
            if not emit(sp, var, lines, bound):
                return None
        args = "u, ctx, a, b"
    else:
        if not emit(pat, "u", lines, bound):
            return None
        args = "u, ctx"
    kw = [f"{k}={v}" for k, v in bound.items() if k in params] + (["ctx=ctx"] if wants_ctx else [])
    src = (f"def _one({args}):\n" + "".join(f"    {ln}\n" for ln in lines) +
           f"    r = {ref(fn)}({', '.join(kw)})\n    return None if r is u else r\n")
    if pat.commutative:
        src += ("def _both(u, ctx):\n"
                "    s = u.src\n"
                "    if len(s) != 2: return None\n"
                "    r = _one(u, ctx, s[0], s[1])\n"
                "    return r if r is not None else _one(u, ctx, s[1], s[0])\n")
    exec(compile(src, f"<rule {pat!r}>", "exec"), env)
    return env["_both" if pat.commutative else "_one"]


_COMMUTATIVE = frozenset({Ops.ADD, Ops.MUL, Ops.MAX, Ops.MIN, Ops.CMPNE, Ops.CMPEQ, Ops.AND, Ops.OR, Ops.XOR})


# ---------------------------------------------------------------- rule-hit accounting
class RuleStats:
    """Which rule fired how often, while tracking is on (the fuzzers use it as coverage)."""

    enabled: bool = os.environ.get("TRACK_RULES", "0") == "1"
    hits: Counter = Counter()
    trace: list[tuple[str, UOp, UOp]] | None = None  # (rule, before, after) of every rewrite, when a list

    @classmethod
    def take(cls) -> dict[str, int]:
        """The counts gathered so far, and reset."""
        out = dict(cls.hits)
        cls.hits.clear()
        return out


@contextmanager
def track_rules() -> Iterator[Counter]:
    """Count rule hits inside the block; yields the live Counter."""
    prev = RuleStats.enabled
    RuleStats.enabled = True
    try:
        yield RuleStats.hits
    finally:
        RuleStats.enabled = prev


@contextmanager
def trace_rewrites() -> Iterator[list[tuple[str, UOp, UOp]]]:
    """Record every rewrite inside the block as (rule name, before, after)."""
    prev_enabled, prev_trace = RuleStats.enabled, RuleStats.trace
    RuleStats.enabled, RuleStats.trace = True, []
    try:
        yield RuleStats.trace
    finally:
        RuleStats.enabled, RuleStats.trace = prev_enabled, prev_trace


def _rule_name(fn: Callable, label: str | None) -> str:
    if label:
        return label
    code = getattr(fn, "__code__", None)
    if code is None:
        return repr(fn)
    return f"{os.path.basename(code.co_filename)}:{code.co_firstlineno}"


class Rule:
    """One compiled rule: pattern, rewrite function, stable name."""

    __slots__ = ("pat", "fn", "name", "wants_ctx", "params", "pass_all", "direct", "late", "apply")

    def __init__(self, pat: UPat, fn: Callable, name: str, late: bool = False):
        self.pat, self.fn, self.name, self.late = pat, fn, name, late
        params = inspect.signature(fn).parameters
        self.wants_ctx = "ctx" in params
        self.params = frozenset(params)
        # every capture is a parameter: the capture dict can be passed as it is
        self.pass_all = not self.wants_ctx and pat.names() <= self.params
        # only op and dtype filters, one capture, the one parameter: once the candidate table admits the UOp,
        # it matches, and fn takes it positionally (no match call, no capture dict)
        self.direct = (pat.src is None and pat.arg is None and pat.arg_pred is None and pat.pred is None
                       and pat.name is not None and list(params) == [pat.name])
        # apply(u, ctx): the first result of fn over the matches that is not None and not u, else None
        self.apply = _compile(pat, fn, self.params, self.wants_ctx) or self._generic_apply

    def _generic_apply(self, u: UOp, ctx: Any) -> UOp | None:
        """apply, by the generic matcher (the reference the generated apply is tested against)."""
        for captures in self.pat._match(u, {}):
            if self.pass_all:
                ret = self.fn(**captures)
            else:
                kw = {k: v for k, v in captures.items() if k in self.params}
                if self.wants_ctx:
                    kw["ctx"] = ctx
                ret = self.fn(**kw)
            if ret is not None and ret is not u:
                return ret
        return None


class PatternMatcher:
    """A table of rules dispatched by op; matchers combine with `+` (earlier rules are tried first).

    `late` names rules that only pay off on already-rewritten sources: graph_rewrite(bottom_up=True) tries them on
    a node after its sources are done, the other rules before (the default order tries every rule after).
    """

    def __init__(self, rules: Sequence[tuple], *, label_prefix: str = "", late: Sequence[str] = ()):
        self.rules: list[Rule] = []
        for r in rules:
            pat, fn, label = (r[0], r[1], r[2]) if len(r) == 3 else (r[0], r[1], None)
            name = _rule_name(fn, label)
            self.rules.append(Rule(pat, fn, label_prefix + name, late=name in late))
        unknown = set(late) - {_rule_name(r[1], r[2] if len(r) == 3 else None) for r in rules}
        if unknown:
            raise ValueError(f"PatternMatcher: late rules not in the table: {sorted(unknown)}")
        self._index()

    def _index(self) -> None:
        self.by_op: dict[Ops, list[Rule]] = {}
        self.any_op: list[Rule] = []
        for r in self.rules:
            if r.pat.ops is None:
                self.any_op.append(r)
            else:
                for op in r.pat.ops:
                    self.by_op.setdefault(op, []).append(r)
        # rules for any op are tried after the op-specific ones, in table order
        for op in list(self.by_op):
            self.by_op[op] = sorted(self.by_op[op] + self.any_op, key=self.rules.index)
        self._fallback = self.any_op
        # per phase (all, early, late), per op (list index), then (id of a canonical dtype, ops of the sources):
        # the rules that could match
        self._candidates: list[list[dict[Any, list[Rule]]]] = [[{} for _ in range(max(Ops) + 1)] for _ in range(3)]
        # per op: each source op as itself if some rule for the op names it in a direct source pattern, else -1 (the
        # candidate rules are the same for every source op no rule names)
        self._src_op_class: list[list[int]] = []
        for i in range(max(Ops) + 1):  # indexed by op value, as every table here
            rules = self.by_op.get(Ops(i), self._fallback) if i in Ops._value2member_map_ else self._fallback
            named = {o for r in rules for p in r.pat.src or () if p.ops for o in p.ops}
            self._src_op_class.append([o if o in named else -1 for o in range(max(Ops) + 1)])
        # the same before the source ops are looked at: per phase, per op, id of a canonical dtype
        self._by_dtype: list[list[dict[int, list[Rule]]]] = [[{} for _ in range(max(Ops) + 1)] for _ in range(3)]
        # ops some rule could match, and ops some late rule could match (lists indexed by op)
        self.has_rules = [bool(self._fallback)] * (max(Ops) + 1)
        for op, rules in self.by_op.items():
            self.has_rules[op] = bool(rules)
        self.late_ops = [any(r.late and (r.pat.ops is None or op in r.pat.ops) for r in self.rules)
                         for op in range(max(Ops) + 1)]

    def _select(self, u: UOp, phase: int) -> list[Rule]:
        """The rules of `phase` whose top-level dtype and direct source ops admit `u`, in table order."""
        by_dtype = self._by_dtype[phase][u.op]
        base = by_dtype.get(id(u.dtype))
        if base is None:
            base = by_dtype[id(u.dtype)] = [r for r in self.by_op.get(u.op, self._fallback)
                                            if r.pat._admits_dtype(u.dtype) and (phase == 0 or r.late == (phase == 2))]
        ops = [s.op for s in u.src]
        return [r for r in base if r.pat.src_ops_ok(ops)]

    def __add__(self, other: PatternMatcher) -> PatternMatcher:
        out = PatternMatcher([])
        out.rules = self.rules + other.rules
        out._index()
        return out

    def names(self) -> list[str]:
        """Stable names of every rule, in table order."""
        return [r.name for r in self.rules]

    def rewrite(self, u: UOp, ctx: Any = None, phase: int = 0) -> UOp | None:
        """The first rule that matches `u` and returns a UOp; None if no rule does.

        phase 0 tries every rule, 1 only the rules not marked late, 2 only the late ones.
        """
        # candidates are cached per op, dtype and the ops of the direct sources: rules whose top-level dtype or
        # source ops cannot match are never tried
        src = u.src
        n = len(src)
        rel = self._src_op_class[u.op]  # source ops no rule of this op names all share one key
        if n == 2:
            key: Any = (id(u.dtype), rel[src[0].op], rel[src[1].op])
        elif n == 0:
            key = id(u.dtype)
        elif n == 1:
            key = (id(u.dtype), rel[src[0].op])
        else:
            key = (id(u.dtype), *[rel[s.op] for s in src])
        by_key = self._candidates[phase][u.op]
        rules = by_key.get(key)
        if rules is None:
            rules = by_key[key] = self._select(u, phase)
        for rule in rules:
            if rule.direct:
                r = rule.fn(u)
                if r is not None and r is not u:
                    return _hit(rule, u, r)
            else:
                r = rule.apply(u, ctx)
                if r is not None:
                    return _hit(rule, u, r)
        return None


def _hit(rule: Rule, u: UOp, ret: UOp) -> UOp:
    """Count (and trace) a rule that rewrote `u` to `ret`; return `ret`."""
    if RuleStats.enabled:
        RuleStats.hits[rule.name] += 1
        if RuleStats.trace is not None:
            RuleStats.trace.append((rule.name, u, ret))
    return ret


_GC_PAUSE_AFTER = 20_000


def graph_rewrite(root: UOp, pm: PatternMatcher, ctx: Any = None, bottom_up: bool = False) -> UOp:
    """Rewrite the graph under `root` with `pm` to a fixed point; iterative and memoized.

    Default: a node's sources are rewritten first, then the node (and whatever it becomes, again).
    bottom_up=True: a node is rewritten to a fixed point before its sources are visited.
    """
    done: dict[UOp, UOp] = {}
    # stack entries: (node, stage, target) -- stage 0: visit, 1: rebuild from sources, 2: take target's result
    stack: list[tuple[UOp, int, UOp | None]] = [(root, 0, None)]
    push, pop, rewrite, late_ops, has_rules = stack.append, stack.pop, pm.rewrite, pm.late_ops, pm.has_rules
    # a large rewrite allocates many long-lived UOps: the cyclic collector would rescan them over and over (~25% of
    # the time on a 200k-UOp graph). UOps hold no cycles, so once a rewrite has made _GC_PAUSE_AFTER visits the
    # collector is paused until it returns (small rewrites, like one simplify, never touch it)
    countdown, paused = _GC_PAUSE_AFTER, False
    try:
        while stack:
            n, stage, target = pop()
            if n in done:
                continue
            if not n.src and not has_rules[n.op]:  # a leaf no rule can match
                done[n] = n
                continue
            if stage == 0:
                countdown -= 1  # counts visits
                if countdown == 0 and gc.isenabled():
                    gc.disable()
                    paused = True
                if bottom_up:
                    r = rewrite(n, ctx, 1)
                    if r is not None:
                        push((n, 2, r))
                        push((r, 0, None))
                        continue
                for s in n.src:
                    if s not in done:  # some source is pending: come back once they are all done
                        push((n, 1, None))
                        for s in reversed(n.src):
                            if s not in done:
                                push((s, 0, None))
                        break
                else:
                    stage = 1
                if stage == 0:
                    continue
                # every source is done: rebuild now instead of a round trip through the stack
            if stage == 1:
                src = n.src
                if src:
                    new_src = tuple([done[s] for s in src])
                    nn = n if new_src == src else UOp(n.op, n.dtype, new_src, n.arg)
                else:
                    nn = n
                if bottom_up:
                    if nn is not n:
                        push((n, 2, nn))  # the rebuilt node may match new rules: visit it again
                        push((nn, 0, None))
                        continue
                    # unchanged: stage 0 found no early rule for it; its sources are done, so try the late ones
                    r = rewrite(n, ctx, 2) if late_ops[n.op] else None
                    if r is None:
                        done[n] = n
                    else:
                        push((n, 2, r))
                        push((r, 0, None))
                    continue
                r = rewrite(nn, ctx)
                if r is None:
                    done[n] = nn
                    done[nn] = nn
                else:
                    push((n, 2, r))
                    push((r, 0, None))
            else:
                done[n] = done[target]  # type: ignore[index]  # stage 2 entries carry their target
    finally:
        if paused:
            gc.enable()
    return done[root]


def substitute(root: UOp, mapping: dict[UOp, UOp]) -> UOp:
    """Replace UOps by others everywhere under `root` (no other rewriting)."""
    done: dict[UOp, UOp] = {}
    for u in root.toposort:
        if u in mapping:
            done[u] = mapping[u]
        else:
            new_src = tuple(done[s] for s in u.src)
            done[u] = u if new_src == u.src else UOp(u.op, u.dtype, new_src, u.arg)
    return done[root]
