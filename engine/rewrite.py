"""Rule-based rewriting: `UPat` patterns, `PatternMatcher` rule tables and the `graph_rewrite` engine.

A rule is `(UPat, fn)` or `(UPat, fn, "label")`; `fn` gets the pattern's named captures as keyword
arguments (plus `ctx` if it asks for it) and returns a replacement UOp or None. Rules are dispatched by op.
Every rule has a stable name (its label, or `file:line` of its function) used for hit accounting.
"""

from __future__ import annotations

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

    __slots__ = ("ops", "dtypes", "src", "commutative", "arg", "arg_pred", "name", "allow_any_len", "pred")

    def __init__(self, op: Ops | Sequence[Ops] | frozenset | None = None, dtype: DType | Sequence[DType] | None = None,
                 src: UPat | Sequence[UPat] | None = None, arg: Any = None, name: str | None = None,
                 arg_pred: Callable[[Any], bool] | None = None, allow_any_len: bool = False,
                 pred: Callable[[UOp], bool] | None = None):
        self.ops = None if op is None else (frozenset((op,)) if isinstance(op, Ops) else frozenset(op))
        self.dtypes = None if dtype is None else (frozenset((dtype,)) if isinstance(dtype, DType) else frozenset(dtype))
        self.commutative = isinstance(src, list)
        self.src: tuple[UPat, ...] | None = (src,) if isinstance(src, UPat) else (None if src is None else tuple(src))
        self.arg, self.arg_pred, self.name, self.allow_any_len, self.pred = arg, arg_pred, name, allow_any_len, pred

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
        if self.ops is not None and u.op not in self.ops:
            return []
        if self.dtypes is not None and u.dtype not in self.dtypes and u.dtype.scalar not in self.dtypes:
            return []
        if self.arg is not None and u.arg != self.arg:
            return []
        if self.arg_pred is not None and not self.arg_pred(u.arg):
            return []
        if self.pred is not None and not self.pred(u):
            return []
        if self.name is not None:
            prev = store.get(self.name)
            if prev is not None and prev is not u:
                return []
            store = {**store, self.name: u}
        if self.src is None:
            return [store]
        n = len(self.src)
        if len(u.src) < n or (len(u.src) != n and not self.allow_any_len):
            return []
        orders = itertools.permutations(u.src[:n]) if self.commutative else (u.src[:n],)
        out: list[dict[str, UOp]] = []
        for srcs in orders:
            stores = [store]
            for p, s in zip(self.src, srcs):
                stores = [m for st in stores for m in p.match(s, st)]
                if not stores:
                    break
            out.extend(stores)
        return out


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

    __slots__ = ("pat", "fn", "name", "wants_ctx", "params")

    def __init__(self, pat: UPat, fn: Callable, name: str):
        self.pat, self.fn, self.name = pat, fn, name
        params = inspect.signature(fn).parameters
        self.wants_ctx = "ctx" in params
        self.params = frozenset(params)


class PatternMatcher:
    """A table of rules dispatched by op; matchers combine with `+` (earlier rules are tried first)."""

    def __init__(self, rules: Sequence[tuple], *, label_prefix: str = ""):
        self.rules: list[Rule] = []
        for r in rules:
            pat, fn, label = (r[0], r[1], r[2]) if len(r) == 3 else (r[0], r[1], None)
            name = _rule_name(fn, label)
            self.rules.append(Rule(pat, fn, label_prefix + name))
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

    def __add__(self, other: PatternMatcher) -> PatternMatcher:
        out = PatternMatcher([])
        out.rules = self.rules + other.rules
        out._index()
        return out

    def names(self) -> list[str]:
        """Stable names of every rule, in table order."""
        return [r.name for r in self.rules]

    def rewrite(self, u: UOp, ctx: Any = None) -> UOp | None:
        """The first rule that matches `u` and returns a UOp; None if no rule does."""
        for rule in self.by_op.get(u.op, self._fallback):
            for captures in rule.pat.match(u, {}):
                kw = {k: v for k, v in captures.items() if k in rule.params}
                if rule.wants_ctx:
                    kw["ctx"] = ctx
                ret = rule.fn(**kw)
                if ret is not None and ret is not u:
                    if RuleStats.enabled:
                        RuleStats.hits[rule.name] += 1
                        if RuleStats.trace is not None:
                            RuleStats.trace.append((rule.name, u, ret))
                    return ret
        return None


def graph_rewrite(root: UOp, pm: PatternMatcher, ctx: Any = None, bottom_up: bool = False) -> UOp:
    """Rewrite the graph under `root` with `pm` to a fixed point; iterative and memoized.

    Default: a node's sources are rewritten first, then the node (and whatever it becomes, again).
    bottom_up=True: a node is rewritten to a fixed point before its sources are visited.
    """
    done: dict[UOp, UOp] = {}
    # stack entries: (node, stage, target) -- stage 0: visit, 1: rebuild from sources, 2: take target's result
    stack: list[tuple[UOp, int, UOp | None]] = [(root, 0, None)]
    rewrite = pm.rewrite
    while stack:
        n, stage, target = stack.pop()
        if n in done:
            continue
        if stage == 0:
            if bottom_up:
                r = rewrite(n, ctx)
                if r is not None:
                    stack.append((n, 2, r))
                    stack.append((r, 0, None))
                    continue
            stack.append((n, 1, None))
            for s in reversed(n.src):
                if s not in done:
                    stack.append((s, 0, None))
        elif stage == 1:
            new_src = tuple(done[s] for s in n.src)
            nn = n if new_src == n.src else UOp(n.op, n.dtype, new_src, n.arg)
            if nn is not n and bottom_up:
                stack.append((n, 2, nn))  # the rebuilt node may match new rules: visit it again
                stack.append((nn, 0, None))
                continue
            r = rewrite(nn, ctx)
            if r is None:
                done[n] = nn
                done[nn] = nn
            else:
                stack.append((n, 2, r))
                stack.append((r, 0, None))
        else:
            assert target is not None
            done[n] = done[target]
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
