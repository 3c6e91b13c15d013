"""engine.spec: index bounds are proven by the cheapest method that decides them, and never wrongly."""

import itertools
import random

import pytest

import engine.spec as spec
from engine.dtype import dtypes
from engine.spec import SpecError, _affine_bounds_given_valid, verify_kernel
from engine.symbolic import simplify
from engine.uop import Ops, UOp


def _load_kernel(size: int, idx: UOp, valid: UOp) -> UOp:
    buf = UOp(Ops.DEFINE_GLOBAL, dtypes.float32.pointer(size), (), 0)
    out = UOp(Ops.DEFINE_GLOBAL, dtypes.float32.pointer(1), (), 1)
    ld = UOp(Ops.LOAD, dtypes.float32, (UOp(Ops.INDEX, buf.dtype, (buf, idx, valid)), UOp.const(dtypes.float32, 0)))
    st = UOp(Ops.STORE, dtypes.void, (UOp(Ops.INDEX, out.dtype, (out, UOp.const(dtypes.index, 0))), ld))
    return UOp.sink(st)


def _padded_conv_index(offset: int):
    # a 3x3 conv tap over 56x56 images padded by 1: n*56*56 + (h + kh - 1)*56 + (w + kw - 1) under the padding gate
    n, h, w, kh, kw = UOp.range(4, 0), UOp.range(56, 1), UOp.range(56, 2), UOp.range(3, 3, "reduce"), \
        UOp.range(3, 4, "reduce")
    y, x = h + kh, w + kw
    zero = UOp.const(dtypes.index, 0)
    valid = (zero < y) & (y < 57) & (zero < x) & (x < 57)
    # simplified as in a kernel: a flat sum, where narrowing the subterms h + kh and w + kw no longer applies
    return simplify(n * (56 * 56) + y * 56 + x + offset), valid


def test_gated_conv_index_is_proven_by_intervals_without_z3(monkeypatch):
    def no_solver(*a):
        raise AssertionError("Z3 was asked")

    monkeypatch.setattr(spec, "_z3_in_bounds", no_solver)
    monkeypatch.setattr(spec, "_exhaustive_in_bounds", no_solver)
    idx, valid = _padded_conv_index(-57)
    assert _affine_bounds_given_valid(valid, idx) == (0, 4 * 56 * 56 - 1)
    spec._CHECKED.clear()
    verify_kernel(_load_kernel(4 * 56 * 56, idx, valid), "conv")


def test_gated_index_one_past_the_buffer_is_still_reported():
    idx, valid = _padded_conv_index(-56)  # off by one: the last tap reads one element past the end
    lo, hi = _affine_bounds_given_valid(valid, idx)
    assert hi == 4 * 56 * 56
    with pytest.raises(SpecError, match="can leave"):
        verify_kernel(_load_kernel(4 * 56 * 56, idx, valid), "conv")


def test_affine_bounds_contain_every_value_the_gate_admits():
    rnd = random.Random(0)
    for _ in range(150):
        rs = [UOp.range(rnd.randint(1, 5), i) for i in range(3)]
        coef = [rnd.randint(-4, 4) for _ in rs]
        form = rs[0] * coef[0] + rs[1] * coef[1] + rs[2] * coef[2]
        lam = rnd.choice([-3, 1, 2, 5])
        idx = form * lam + rs[rnd.randrange(3)] * rnd.randint(-2, 2) + rnd.randint(-5, 5)
        lo_c, hi_c = rnd.randint(-6, 3), rnd.randint(-2, 8)
        valid = (UOp.const(dtypes.index, lo_c) < form) & (form < hi_c)
        got = _affine_bounds_given_valid(valid, idx)
        env_vals = []
        for point in itertools.product(*[range(r.src[0].arg) for r in rs]):
            env = dict(zip(rs, point))
            f = sum(c * p for c, p in zip(coef, point))
            if lo_c < f < hi_c:
                env_vals.append(_eval(idx, env))
        if got is None:
            continue
        if env_vals:
            assert got[0] <= min(env_vals) and max(env_vals) <= got[1], (idx.render(), valid.render(), got)


def _eval(u: UOp, env: dict) -> int:
    if u in env:
        return env[u]
    if u.op is Ops.CONST:
        return u.arg
    a = [_eval(s, env) for s in u.src]
    return {Ops.ADD: lambda: a[0] + a[1], Ops.SUB: lambda: a[0] - a[1], Ops.MUL: lambda: a[0] * a[1],
            Ops.NEG: lambda: -a[0]}[u.op]()


def _plain_load_kernel(size: int, idx: UOp) -> UOp:
    buf = UOp(Ops.DEFINE_GLOBAL, dtypes.float32.pointer(size), (), 0)
    out = UOp(Ops.DEFINE_GLOBAL, dtypes.float32.pointer(1), (), 1)
    ld = UOp(Ops.LOAD, dtypes.float32, (UOp(Ops.INDEX, buf.dtype, (buf, idx)),))
    return UOp.sink(UOp(Ops.STORE, dtypes.void, (UOp(Ops.INDEX, out.dtype, (out, UOp.const(dtypes.index, 0))), ld)))


def test_a_selected_safe_address_is_proven_by_intervals(monkeypatch):
    # where(gate, base, 57) - 57: the address a gated load becomes (engine.codegen.kernel._load_then_select)
    def no_solver(*a):
        raise AssertionError("exhaustive or Z3 was asked")

    idx, valid = _padded_conv_index(0)
    base = simplify(idx)
    sel = UOp(Ops.WHERE, dtypes.index, (valid, base, UOp.const(dtypes.index, 57))) + (-57)
    spec._CHECKED.clear()
    monkeypatch.setattr(spec, "_z3_in_bounds", no_solver)
    monkeypatch.setattr(spec, "_exhaustive_in_bounds", no_solver)
    verify_kernel(_plain_load_kernel(4 * 56 * 56, sel), "sel")


def test_a_selected_address_whose_fallback_leaves_the_buffer_is_reported():
    idx, valid = _padded_conv_index(0)
    sel = UOp(Ops.WHERE, dtypes.index, (valid, simplify(idx), UOp.const(dtypes.index, 0))) + (-57)
    spec._CHECKED.clear()
    with pytest.raises(SpecError, match="can leave"):
        verify_kernel(_plain_load_kernel(4 * 56 * 56, sel), "sel")
