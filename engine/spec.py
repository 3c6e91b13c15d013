"""Invariants every kernel must satisfy before code generation (on in tests and fuzzing).

- dtypes: ALU sources agree with the result (comparisons give bool, WHERE takes a bool), INDEX uses the index
  type, STOREs write the buffer's dtype, no float ever reaches index arithmetic;
- loops: every RANGE has a constant end;
- memory: every INDEX into a buffer (global or workgroup memory) is provably inside it, under its validity
  condition. Intervals decide first (after simplifying the index given the condition), then intervals over the
  condition's linear forms (an index 56*(h + kh) + (w + kw) under clauses on h + kh and w + kw), and for an address
  where(g, a, b) + c, a's bounds under g joined with b's; then, when the loops involved have at most 2**20
  points, every point is evaluated; Z3 is asked only when none decides. Verdicts are cached per (index,
  condition, buffer size). An index that Z3 cannot decide either is
  let through and counted in UNPROVEN (the PYTHON device still bounds-checks every access at run time).
"""

from __future__ import annotations

import math
from typing import Any

from engine.codegen.program import memory_of
from engine.dtype import dtypes
from engine.uop import GroupOp, Ops, UOp


class SpecError(Exception):
    """A kernel breaks an invariant; the message names the kernel and the UOp."""


EXHAUSTIVE_POINTS = 1 << 20
Z3_TIMEOUT_MS = 500
Z3_RLIMIT = 3_000_000
# (idx, valid, size) -> counterexample or None, for every INDEX checked: the same index recurs across kernels (the
# blocks of a ResNet) and across the opts a fuzzer compares; cleared when it reaches CHECKED_MAX entries
_CHECKED: dict[tuple, Any] = {}
CHECKED_MAX = 100_000
UNPROVEN: list[str] = []  # indexes no method could decide, as "kernel: index"

_NP_BINARY = {Ops.ADD: "add", Ops.SUB: "subtract", Ops.MUL: "multiply", Ops.MAX: "maximum", Ops.MIN: "minimum",
              Ops.CMPLT: "less", Ops.CMPLE: "less_equal", Ops.CMPEQ: "equal", Ops.CMPNE: "not_equal",
              Ops.AND: "logical_and", Ops.OR: "logical_or", Ops.XOR: "logical_xor"}


def _exhaustive_in_bounds(idx: UOp, valid: UOp | None, size: int) -> dict[str, int] | None | bool:
    """Evaluate idx at every point of the loops it uses: a point that leaves [0, size), None if none does,
    or False when the expression is beyond this evaluator (loads, too many points)."""
    import numpy as np

    nodes = list((UOp.sink(idx, valid) if valid is not None else idx).toposort)
    ranges = [u for u in nodes if u.op is Ops.RANGE]
    if any(r.src[0].op is not Ops.CONST for r in ranges):
        return False
    sizes = [r.src[0].arg for r in ranges]
    if math.prod(sizes) > EXHAUSTIVE_POINTS:
        return False
    if math.prod(sizes) == 0:
        return None
    grids = np.meshgrid(*[np.arange(n, dtype=np.int64) for n in sizes], indexing="ij") if sizes else []
    env: dict[UOp, Any] = {r: g.ravel() for r, g in zip(ranges, grids)}
    for u in nodes:
        if u in env or u.op is Ops.SINK:
            continue
        if u.op is Ops.CONST:
            env[u] = np.int64(u.arg) if u.dtype != dtypes.bool else np.bool_(u.arg)
        elif u.op in _NP_BINARY:
            env[u] = getattr(np, _NP_BINARY[u.op])(env[u.src[0]], env[u.src[1]])
        elif u.op is Ops.NEG:
            env[u] = -env[u.src[0]]
        elif u.op is Ops.WHERE:
            env[u] = np.where(env[u.src[0]], env[u.src[1]], env[u.src[2]])
        elif u.op in (Ops.IDIV, Ops.MOD):
            a, b = np.broadcast_arrays(env[u.src[0]], env[u.src[1]])
            if (b == 0).any():
                return False
            q = np.abs(a) // np.abs(b) * np.where((a < 0) != (b < 0), -1, 1)
            env[u] = q if u.op is Ops.IDIV else a - b * q
        else:
            return False
    i = np.broadcast_to(env[idx], (math.prod(sizes),))
    bad = (i < 0) | (i >= size)
    if valid is not None:
        bad &= np.broadcast_to(env[valid], bad.shape)
    if not bad.any():
        return None
    k = int(np.argmax(bad))
    return {f"r{r.arg[0]}": int(env[r][k]) for r in ranges} | {"index": int(i[k])}


def _z3_in_bounds(idx: UOp, valid: UOp | None, size: int) -> dict[str, Any] | None:
    """A point where valid holds and idx leaves [0, size), or None if Z3 proves there is none."""
    import z3

    env: dict[UOp, Any] = {}
    cons = []
    for u in (valid.toposort if valid is not None else {}) | idx.toposort:
        if u in env:
            continue
        s: list[Any] = [env.get(x) for x in u.src]
        op = u.op
        if op is Ops.CONST:
            env[u] = z3.BoolVal(u.arg) if isinstance(u.arg, bool) else z3.IntVal(u.arg)
        elif op is Ops.RANGE and u.src[0].op is Ops.CONST:
            env[u] = v = z3.Int(f"v{len(env)}")
            cons += [v >= 0, v < u.src[0].arg]  # an empty loop never runs: no point is reachable
        elif op in (Ops.RANGE, Ops.DEFINE_VAR, Ops.SPECIAL, Ops.LOAD, Ops.REDUCE) or s and any(x is None for x in s):
            v = z3.Int(f"v{len(env)}") if u.dtype != dtypes.bool else z3.Bool(f"v{len(env)}")
            if u.dtype != dtypes.bool and isinstance(u.vmin, int):
                cons += [v >= u.vmin, v <= u.vmax]
            env[u] = v
        elif op is Ops.ADD:
            env[u] = s[0] + s[1]
        elif op is Ops.SUB:
            env[u] = s[0] - s[1]
        elif op is Ops.MUL:
            env[u] = s[0] * s[1]
        elif op is Ops.NEG:
            env[u] = -s[0]
        elif op in (Ops.IDIV, Ops.MOD):
            a, b = s
            q = z3.If(a >= 0, z3.If(b > 0, a / b, -(a / -b)), z3.If(b > 0, -((-a) / b), (-a) / -b))
            env[u] = q if op is Ops.IDIV else a - b * q
        elif op is Ops.MAX:
            env[u] = z3.If(s[0] >= s[1], s[0], s[1])
        elif op is Ops.MIN:
            env[u] = z3.If(s[0] <= s[1], s[0], s[1])
        elif op is Ops.CMPLT:
            env[u] = s[0] < s[1]
        elif op is Ops.CMPLE:
            env[u] = s[0] <= s[1]
        elif op is Ops.CMPEQ:
            env[u] = s[0] == s[1]
        elif op is Ops.CMPNE:
            env[u] = s[0] != s[1]
        elif op is Ops.AND and u.dtype == dtypes.bool:
            env[u] = z3.And(s[0], s[1])
        elif op is Ops.OR and u.dtype == dtypes.bool:
            env[u] = z3.Or(s[0], s[1])
        elif op is Ops.WHERE:
            env[u] = z3.If(s[0], s[1], s[2])
        else:
            v = z3.Int(f"v{len(env)}") if u.dtype != dtypes.bool else z3.Bool(f"v{len(env)}")
            if u.dtype != dtypes.bool and isinstance(u.vmin, int):
                cons += [v >= u.vmin, v <= u.vmax]
            env[u] = v
    solver = z3.Solver()
    solver.set("timeout", Z3_TIMEOUT_MS)
    solver.set("rlimit", Z3_RLIMIT)  # timeouts are not always honoured inside nonlinear preprocessing
    solver.add(*cons)
    if valid is not None:
        solver.add(env[valid])
    i = env[idx]
    solver.add(z3.Or(i < 0, i >= size))
    res = solver.check()
    if res == z3.unsat:
        return None
    if res == z3.sat:
        m = solver.model()
        return {str(d): m[d].as_long() if hasattr(m[d], "as_long") else str(m[d]) for d in m.decls()}
    return {"z3": "unknown"}


def _linear(u: UOp) -> tuple[dict[UOp, int], int]:
    """u as sum(k*base) + const: engine.symbolic.terms_of, with constants distributed through sums too
    ((a + b)*3 -> 3a + 3b), so the gate's linear forms can be found inside a scaled sum."""
    from engine.symbolic import terms_of

    out: dict[UOp, int] = {}
    const = 0
    todo = [(u, 1)]  # sums still to distribute, with their scale (a worklist: scaled sums can nest deep)
    while todo:
        x, mult = todo.pop()
        terms, c = terms_of(x)
        const += mult * c
        for base, k in terms.items():
            scale, inner = k, base
            while inner.op is Ops.MUL and inner.src[1].op is Ops.CONST and inner.src[0].op in (Ops.ADD, Ops.SUB):
                scale, inner = scale * inner.src[1].arg, inner.src[0]
            if inner is base:
                out[base] = out.get(base, 0) + mult * k
            else:
                todo.append((inner, mult * scale))
    return {b: k for b, k in out.items() if k}, const


def _affine_bounds_given_valid(valid: UOp, idx: UOp) -> tuple[int, int] | None:
    """Bounds of idx under valid, by substituting the gate's bounded linear forms: idx = sum(lam*X) + rest where
    each clause bounds X (lo <= X <= hi), so idx lies in sum(lam*[lo, hi]) + [rest.vmin, rest.vmax]. Sound for
    any split (an interval sum over-approximates), and it sees `56*(h + kh) + (w + kw)` under clauses on h + kh
    and w + kw, which narrowing a subterm misses once the index is a flat canonical sum. None if no clause fits.
    """
    from engine.symbolic import _clause_bounds, _clauses

    terms, const = _linear(idx)
    forms: dict[tuple, list[Any]] = {}  # the clauses' linear forms (terms, const) with their [lo, hi]
    for clause in _clauses(valid):
        cb = _clause_bounds(clause)
        if cb is None:
            continue
        x, lo, hi = cb
        xt, xc = _linear(x)
        if not xt:
            continue
        key = tuple(sorted(xt.items(), key=lambda kv: kv[0].key))
        b = forms.setdefault(key, [x.vmin - xc, x.vmax - xc])  # bounds of the form without its constant
        b[0], b[1] = max(b[0], lo - xc if lo is not None else b[0]), min(b[1], hi - xc if hi is not None else b[1])
    lo_sum = hi_sum = const
    used = False
    for key, (flo, fhi) in sorted(forms.items(), key=lambda kv: -max(abs(k) for _, k in kv[0])):
        first, k0 = key[0]
        lam, rem = divmod(terms.get(first, 0), k0)
        if lam == 0 or rem or any(terms.get(t, 0) != lam * k for t, k in key):
            continue
        if flo > fhi:
            return None  # the gate never holds
        for t, _ in key:
            del terms[t]
        lo_sum += min(lam * flo, lam * fhi)
        hi_sum += max(lam * flo, lam * fhi)
        used = True
    if not used:
        return None
    for t, k in terms.items():
        if not isinstance(t.vmin, int) or not isinstance(t.vmax, int):
            return None
        lo_sum += min(k * t.vmin, k * t.vmax)
        hi_sum += max(k * t.vmin, k * t.vmax)
    return lo_sum, hi_sum


def _gated_bounds(valid: UOp, x: UOp) -> tuple[Any, Any] | None:
    """Bounds of x where valid holds (the tighter of the two interval methods); None if valid never holds."""
    from engine.symbolic import bounds_given_valid

    lohi = bounds_given_valid(valid, x)
    ab = _affine_bounds_given_valid(valid, x)
    if lohi is None or ab is None:
        return lohi if ab is None else None if lohi is None else ab
    return max(lohi[0], ab[0]), min(lohi[1], ab[1])


def _select_bounds(idx: UOp) -> tuple[int, int] | None:
    """Bounds of an index that selects between addresses, sum(k*base) + c where a base where(g, a, b) is bounded by
    a's bounds under g and b's (the safe address of a gated load, see engine.codegen.kernel); None if there is no
    such base."""
    terms, lo = _linear(idx)
    hi, seen = lo, False
    for t, k in terms.items():
        if t.op is Ops.WHERE and t.dtype == dtypes.index:
            a = _gated_bounds(t.src[0], t.src[1])
            blo, bhi = t.src[2].vmin, t.src[2].vmax
            tlo, thi = (blo, bhi) if a is None else (min(a[0], blo), max(a[1], bhi))
            seen = True
        else:
            tlo, thi = t.vmin, t.vmax
        if not isinstance(tlo, int) or not isinstance(thi, int):
            return None
        lo, hi = lo + min(k * tlo, k * thi), hi + max(k * tlo, k * thi)
    return (lo, hi) if seen else None


def _find_out_of_bounds(idx: UOp, valid: UOp | None, size: int) -> dict[str, Any] | None:
    """A point where idx leaves [0, size) under valid, None if there is none, {"z3": "unknown"} if undecided.
    The cheapest method that decides wins: intervals, then intervals over the gate's linear forms, then every
    point (up to EXHAUSTIVE_POINTS), then Z3."""
    from engine.symbolic import bounds_given_valid

    lohi = bounds_given_valid(valid, idx) if valid is not None else (idx.vmin, idx.vmax)
    if lohi is None or (0 <= lohi[0] and lohi[1] < size):
        return None  # valid never holds, or the interval under it is inside the buffer
    if valid is not None and (ab := _affine_bounds_given_valid(valid, idx)) is not None and 0 <= ab[0] \
            and ab[1] < size:
        return None
    if valid is None and (sb := _select_bounds(idx)) is not None and 0 <= sb[0] and sb[1] < size:
        return None
    found = _exhaustive_in_bounds(idx, valid, size)
    if found is False:
        return _z3_in_bounds(idx, valid, size)
    return found if isinstance(found, dict) else None


def verify_kernel(ast: UOp, name: str) -> None:
    """Raise SpecError if the kernel breaks an invariant."""

    for u in ast.toposort:
        op = u.op
        if op is Ops.RANGE and u.src[0].op is not Ops.CONST:
            raise SpecError(f"{name}: RANGE {u.arg} has a non-constant end")
        if op in GroupOp.Comparison and u.dtype != dtypes.bool:
            raise SpecError(f"{name}: comparison {op.name} must give bool, gives {u.dtype.name}")
        if op is Ops.WHERE and u.src[0].dtype != dtypes.bool:
            raise SpecError(f"{name}: WHERE condition is {u.src[0].dtype.name}, not bool")
        if op in GroupOp.Binary and op not in GroupOp.Comparison and op not in (Ops.SHL, Ops.SHR):
            if any(s.dtype.scalar != u.dtype.scalar for s in u.src):
                raise SpecError(f"{name}: {op.name} mixes {[s.dtype.name for s in u.src]} into {u.dtype.name}")
        if u.dtype == dtypes.index and any(s.dtype.is_float for s in u.src):
            raise SpecError(f"{name}: float value in index arithmetic at {op.name}")
        if op is Ops.STORE:
            ptr = u.src[0]
            if ptr.dtype.scalar != u.src[1].dtype.scalar:
                raise SpecError(f"{name}: STORE of {u.src[1].dtype.name} into a {ptr.dtype.scalar.name} buffer")
        if op is Ops.INDEX:
            buf, idx = u.src[0], u.src[1]
            valid = u.src[2] if len(u.src) > 2 else None
            if idx.dtype != dtypes.index:
                raise SpecError(f"{name}: INDEX with a {idx.dtype.name} index")
            buf = memory_of(buf)  # loads after a barrier index it: the workgroup buffer behind it
            size = buf.dtype.size
            if buf.op not in (Ops.DEFINE_GLOBAL, Ops.DEFINE_LOCAL) or size < 0:
                continue
            if valid is not None and valid.vmax is False:
                continue
            key = (idx, valid, size)
            if key not in _CHECKED:
                if len(_CHECKED) >= CHECKED_MAX:
                    _CHECKED.clear()
                _CHECKED[key] = _find_out_of_bounds(idx, valid, size)
            cex = _CHECKED[key]
            if cex == {"z3": "unknown"}:
                UNPROVEN.append(f"{name}: {idx.render(max_len=200)}")
                continue
            if cex is not None:
                where = "buffer" if buf.op is Ops.DEFINE_GLOBAL else "workgroup buffer"
                raise SpecError(f"{name}: index {idx.render(max_len=300)} of {where} {buf.arg} (size {size}) can leave "
                                f"the buffer{'' if valid is None else ' under ' + valid.render(max_len=200)}: {cex}")
