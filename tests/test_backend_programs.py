"""Hand-built linear programs run on the PYTHON and LLVM devices and checked against numpy."""

from __future__ import annotations

import time

import ml_dtypes
import numpy as np
import pytest

from engine.codegen.program import Program
from engine.device import CompileError, Device
from engine.dtype import DType, dtypes
from engine.runtime.llvm import LLVMDevice
from engine.runtime.python import PythonDevice
from engine.uop import GroupOp, Ops, UOp

DEVICES = {"PYTHON": PythonDevice(), "LLVM": LLVMDevice()}
idx_t = dtypes.index


# ---------------------------------------------------------------- program building helpers
class Builder:
    """Appends UOps in order, each after its not-yet-placed sources (a tiny linearizer for tests)."""

    def __init__(self) -> None:
        self.uops: list[UOp] = []
        self.seen: set[UOp] = set()

    def add(self, u: UOp) -> UOp:
        if u not in self.seen:
            for s in u.src:
                self.add(s)
            self.seen.add(u)
            self.uops.append(u)
        return u

    def program(self, name: str) -> Program:
        return Program(name, self.uops)


def glob(pos: int, dt: DType, size: int) -> UOp:
    return UOp(Ops.DEFINE_GLOBAL, dt.pointer(size), (), pos)


def const(v: object, dt: DType = idx_t) -> UOp:
    return UOp.const(dt, v)


def index(buf: UOp, i: UOp, valid: UOp | None = None) -> UOp:
    return UOp(Ops.INDEX, buf.dtype, (buf, i) if valid is None else (buf, i, valid))


def load(ptr: UOp, alt: UOp | None = None, arg: object = None) -> UOp:
    return UOp(Ops.LOAD, ptr.dtype.scalar, (ptr,) if alt is None else (ptr, alt), arg)


def store(ptr: UOp, value: UOp) -> UOp:
    return UOp(Ops.STORE, dtypes.void, (ptr, value))


def end(r: UOp) -> UOp:
    return UOp(Ops.END, dtypes.void, (r,))


def elementwise(name: str, in_dts: list[DType], out_dt: DType, n: int, fn) -> Program:
    """out[i] = fn(in0[i], in1[i], ...) over one RANGE."""
    b = Builder()
    out = b.add(glob(0, out_dt, n))
    ins = [b.add(glob(k + 1, dt, n)) for k, dt in enumerate(in_dts)]
    r = b.add(UOp.range(n, 0))
    b.add(store(index(out, r), fn(*(load(index(x, r)) for x in ins))))
    b.add(end(r))
    return b.program(name)


def run(dev: str, prg: Program, *inputs: np.ndarray, out_dt: DType | None = None) -> np.ndarray:
    """Run on a device with a zeroed output buffer 0; return it."""
    out = np.zeros(prg.globals[0][1], dtype=(out_dt or prg.globals[0][0]).np)
    device: Device = DEVICES[dev]
    device.runner(prg)(out, *[np.ascontiguousarray(x) for x in inputs])
    return out


def both(prg: Program, *inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Results on PYTHON and LLVM; they must agree bit for bit."""
    py, ll = run("PYTHON", prg, *inputs), run("LLVM", prg, *inputs)
    if py.dtype.kind in "biu":
        np.testing.assert_array_equal(py, ll, err_msg=f"{prg.name}: PYTHON != LLVM")
    else:  # bit-exact, except that any NaN equals any NaN
        nan = np.isnan(py.astype(np.float64))
        np.testing.assert_array_equal(nan, np.isnan(ll.astype(np.float64)), err_msg=f"{prg.name}: NaN positions")
        bits = np.dtype(f"u{py.itemsize}")
        np.testing.assert_array_equal(py.view(bits)[~nan], ll.view(bits)[~nan], err_msg=f"{prg.name}: PYTHON != LLVM")
    return py, ll


# ---------------------------------------------------------------- tests
@pytest.fixture(autouse=True, params=["stepped", "generated"])
def python_device_path(request, monkeypatch):
    """Every test twice: the PYTHON device stepping UOp by UOp, and running them as generated Python code."""
    import engine.runtime.python as py_runtime

    monkeypatch.setattr(py_runtime, "GENERATE_AFTER", 10**12 if request.param == "stepped" else -1)
    monkeypatch.setitem(DEVICES, "PYTHON", PythonDevice())  # no plan cached under the other path
    return request.param


def test_elementwise_add_float32() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(37).astype(np.float32), rng.standard_normal(37).astype(np.float32)
    py, _ = both(elementwise("add", [dtypes.float32] * 2, dtypes.float32, 37, lambda x, y: x + y), a, b)
    np.testing.assert_array_equal(py, a + b)


def reduce_rows(m: int, n: int, dt: DType) -> Program:
    """out[i] = sum_j a[i*n+j] with a DEFINE_REG accumulator."""
    b = Builder()
    out, a = glob(0, dt, m), glob(1, dt, m * n)
    acc = UOp(Ops.DEFINE_REG, dt.pointer(1), (), 0)
    ri = b.add(UOp.range(m, 0))
    b.add(store(index(acc, const(0)), const(0, dt)))
    rj = b.add(UOp.range(n, 1))
    x = load(index(a, ri * n + rj))
    b.add(store(index(acc, const(0)), load(index(acc, const(0)), arg=1) + x))
    b.add(end(rj))
    b.add(store(index(out, ri), load(index(acc, const(0)), arg=2)))
    b.add(end(ri))
    return b.program(f"reduce_{m}_{n}")


def test_reduce_with_register_accumulator() -> None:
    a = np.arange(-20, 28, dtype=np.int32)
    py, _ = both(reduce_rows(6, 8, dtypes.int32), a)
    np.testing.assert_array_equal(py, a.reshape(6, 8).sum(axis=1))
    f = np.random.default_rng(1).standard_normal(48).astype(np.float32)
    py, _ = both(reduce_rows(4, 12, dtypes.float32), f)
    np.testing.assert_allclose(py, f.reshape(4, 12).sum(axis=1), rtol=1e-5, atol=1e-5)


def pad_program(n: int, gated: bool = True) -> Program:
    """out[i] = inp[i-2] if 2 <= i < n+2 else -1 (out has n+4 elements)."""
    b = Builder()
    out, inp = glob(0, dtypes.float32, n + 4), glob(1, dtypes.float32, n)
    r = b.add(UOp.range(n + 4, 0))
    valid = (const(2) <= r) & (r < n + 2)
    ptr = index(inp, r - 2, valid if gated else None)
    b.add(store(index(out, r), load(ptr, const(-1.0, dtypes.float32)) if gated else load(ptr)))
    b.add(end(r))
    return b.program("pad" if gated else "pad_ungated")


def test_gated_load_skips_out_of_range_indices() -> None:
    x = np.arange(1, 6, dtype=np.float32)
    py, _ = both(pad_program(5), x)
    np.testing.assert_array_equal(py, np.pad(x, 2, constant_values=-1))


def test_python_device_raises_on_ungated_out_of_bounds_index() -> None:
    with pytest.raises(IndexError, match=r"pad_ungated.*buffer 1 index -2"):
        run("PYTHON", pad_program(5, gated=False), np.ones(5, np.float32))


def test_python_device_error_notes_name_the_uop() -> None:
    with pytest.raises(IndexError) as e:
        run("PYTHON", pad_program(5, gated=False), np.ones(5, np.float32))
    assert any("in kernel pad_ungated at v" in n and "Ops.INDEX" in n for n in e.value.__notes__), e.value.__notes__


def test_loops_nested_deeper_than_python_compiles_are_stepped(python_device_path) -> None:
    """Python compiles at most 20 nested blocks: a program with more loops runs step by step, with the same result."""
    b = Builder()
    out = b.add(glob(0, dtypes.float32, 3))
    ranges = [b.add(UOp.range(1 if k else 3, k)) for k in range(24)]
    total = ranges[0]
    for r in ranges[1:]:
        total = total + r
    b.add(store(index(out, total), const(7.0, dtypes.float32)))
    for r in reversed(ranges):
        b.add(end(r))
    prg = b.program("deep")
    py, _ = both(prg)
    np.testing.assert_array_equal(py, [7.0, 7.0, 7.0])
    from engine.runtime.python import _Plan

    plan = _Plan(prg)
    assert plan.code is None and plan.lane == plan._interpret


def test_gated_store_writes_only_valid_elements() -> None:
    b = Builder()
    out = glob(0, dtypes.int32, 8)
    r = b.add(UOp.range(12, 0))
    b.add(store(index(out, r, r < 8), UOp(Ops.CAST, dtypes.int32, (r,)) * 3))
    b.add(end(r))
    py, _ = both(b.program("gated_store"))
    np.testing.assert_array_equal(py, np.arange(8) * 3)


def test_idiv_and_mod_truncate_toward_zero() -> None:
    a = np.array([7, -7, 7, -7, 0, 13, -13, 2**31 - 1], dtype=np.int32)
    d = np.array([2, 2, -2, -2, 5, -4, 4, -1], dtype=np.int32)
    quot = np.fix(a.astype(np.float64) / d).astype(np.int32)
    py, _ = both(elementwise("idiv", [dtypes.int32] * 2, dtypes.int32, 8, lambda x, y: x // y), a, d)
    np.testing.assert_array_equal(py, quot)
    py, _ = both(elementwise("mod", [dtypes.int32] * 2, dtypes.int32, 8, lambda x, y: x % y), a, d)
    np.testing.assert_array_equal(py, a - quot * d)


def test_int8_wraps_around() -> None:
    a = np.array([100, -128, 127, -100, 5], dtype=np.int8)
    b = np.array([100, -1, 1, -100, 30], dtype=np.int8)
    prg = elementwise("int8_mulacc", [dtypes.int8] * 2, dtypes.int8, 5,
                      lambda x, y: UOp(Ops.MULACC, dtypes.int8, (x, y, x)) - (-x))
    py, _ = both(prg, a, b)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(py, a * b + a + a)


def test_uint32_ops() -> None:
    a = np.array([0, 1, 4000000000, 123456789, 2**32 - 1], dtype=np.uint32)
    b = np.array([1, 3, 7, 4000000000, 2], dtype=np.uint32)
    ops = {
        "sub": (lambda x, y: x - y, lambda x, y: x - y),
        "mul": (lambda x, y: x * y, lambda x, y: x * y),
        "div": (lambda x, y: x // y, lambda x, y: x // y),
        "shr": (lambda x, y: x >> const(3, dtypes.uint32), lambda x, y: x >> 3),
        "max": (lambda x, y: x.alu(Ops.MAX, y), np.maximum),
    }
    for name, (fn, ref) in ops.items():
        py, _ = both(elementwise(f"u32_{name}", [dtypes.uint32] * 2, dtypes.uint32, 5, fn), a, b)
        np.testing.assert_array_equal(py, ref(a, b), err_msg=name)
    lt = elementwise("u32_lt", [dtypes.uint32] * 2, dtypes.bool, 5, lambda x, y: x < y)
    py, _ = both(lt, a, b)
    np.testing.assert_array_equal(py, a < b)


@pytest.mark.parametrize("dt", [dtypes.float16, dtypes.bfloat16], ids=lambda d: d.name)
def test_narrow_floats_round_every_op(dt: DType) -> None:
    rng = np.random.default_rng(2)
    a = (rng.standard_normal(64) * 100).astype(dt.np)
    b = (rng.standard_normal(64) * 3).astype(dt.np)
    a[:3] = [np.inf, np.nan, 65504 if dt == dtypes.float16 else 3e38]
    b[:3] = [1.0, 2.0, 2.0]
    with np.errstate(over="ignore", invalid="ignore"):
        checks = {
            "add": (lambda x, y: x + y, a + b),
            "mul": (lambda x, y: x * y, a * b),
            "div": (lambda x, y: x / y, a / b),
            "max": (lambda x, y: x.alu(Ops.MAX, y), np.maximum(a, b)),
        }
        for name, (fn, ref) in checks.items():
            py, _ = both(elementwise(f"{dt.name}_{name}", [dt, dt], dt, 64, fn), a, b)
            np.testing.assert_array_equal(py.astype(np.float32), ref.astype(np.float32), err_msg=name)
    up = elementwise(f"{dt.name}_to_f32", [dt], dtypes.float32, 64, lambda x: UOp(Ops.CAST, dtypes.float32, (x,)))
    py, _ = both(up, a)
    np.testing.assert_array_equal(py, a.astype(np.float32))
    down = elementwise(f"f64_to_{dt.name}", [dtypes.float64], dt, 64, lambda x: UOp(Ops.CAST, dt, (x,)))
    wide = rng.standard_normal(64) * 1e3
    wide[:4] = [1e6, -1e-9, 1 + 2**-11 + 2**-40, 1 + 2**-8 + 2**-30]
    py, _ = both(down, wide)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(py.view(np.uint16), wide.astype(dt.np).view(np.uint16))


def test_float_to_int_casts_truncate_and_wrap() -> None:
    x = np.array([-1.5, 2.7, np.nan, np.inf, 300.0, -3.0], dtype=np.float32)
    to_i32 = elementwise("f32_to_i32", [dtypes.float32], dtypes.int32, 6, lambda v: UOp(Ops.CAST, dtypes.int32, (v,)))
    py, _ = both(to_i32, x)
    np.testing.assert_array_equal(py, [-1, 2, -(2**31), -(2**31), 300, -3])
    to_u8 = elementwise("f32_to_u8", [dtypes.float32], dtypes.uint8, 6, lambda v: UOp(Ops.CAST, dtypes.uint8, (v,)))
    py, _ = both(to_u8, x)
    np.testing.assert_array_equal(py, [255, 2, 0, 0, 44, 253])
    to_bool = elementwise("f32_to_bool", [dtypes.float32], dtypes.bool, 6, lambda v: UOp(Ops.CAST, dtypes.bool, (v,)))
    py, _ = both(to_bool, np.array([0.0, -0.0, 0.5, np.nan, 0, 1], np.float32))
    np.testing.assert_array_equal(py, [False, False, True, True, False, True])


def test_fast_casts_equal_the_alu_semantics() -> None:
    """The interpreter's fast casts (engine.runtime.python._fast_cast) give exec_alu's value, type and sign of zero for
    every pair of dtypes they take, at the edges: NaN, infinities, overflow, ties, integers past 2**53."""
    import math

    from engine.alu import exec_alu, wrap
    from engine.runtime.python import _fast_cast

    floats = [0.0, -0.0, 1.5, -2.5, 0.1, 1e-8, 65504.0, 65520.0, 300.7, -129.9, 3.4028235e38, 1e39, -1e39, 2.0**63,
              2.0**64, math.inf, -math.inf, math.nan]
    ints = [0, 1, -1, 127, 128, -129, 255, 256, 65535, 2**24 + 1, 2**31 - 1, -2**31, 2**53 + 1, 2**63 - 1, -2**63,
            2**64 - 1]
    every = [dtypes.bool, dtypes.int8, dtypes.int16, dtypes.int32, dtypes.int64, dtypes.uint8, dtypes.uint16,
             dtypes.uint32, dtypes.uint64, dtypes.float16, dtypes.bfloat16, dtypes.float32, dtypes.float64,
             dtypes.float8_e4m3fn, dtypes.float8_e5m2]
    taken = 0
    for src in every:
        for dst in every:
            fast = _fast_cast(src, dst)
            if fast is None:
                continue
            taken += 1
            with np.errstate(over="ignore", invalid="ignore"):
                for x in {wrap(src, x) for x in ([True, False] if src.kind == "b" else floats if src.kind == "f"
                                                   else ints)}:
                    got, want = fast(x), exec_alu(Ops.CAST, dst, (x,))
                    assert type(got) is type(want), (src, dst, x, got, want)
                    assert got == want or (got != got and want != want), (src, dst, x, got, want)
                    assert str(got) == str(want), (src, dst, x, got, want)  # -0.0 stays -0.0
    assert taken >= 150


def test_bitcast_reinterprets_bytes() -> None:
    x = np.array([1.0, -2.5, np.inf, 0.0], dtype=np.float32)
    prg = elementwise("bitcast", [dtypes.float32], dtypes.int32, 4, lambda v: UOp(Ops.BITCAST, dtypes.int32, (v,)))
    py, _ = both(prg, x)
    np.testing.assert_array_equal(py, x.view(np.int32))
    h = np.array([1.0, -2.5, 65504, 6e-8], dtype=np.float16)
    prg = elementwise("bitcast_h", [dtypes.float16], dtypes.int16, 4, lambda v: UOp(Ops.BITCAST, dtypes.int16, (v,)))
    py, _ = both(prg, h)
    np.testing.assert_array_equal(py, h.view(np.int16))


def test_float32_math_matches_numpy() -> None:
    x = np.array([0.5, 1.0, 2.0, 10.0, -3.0, 0.0, np.nan, 1e30], dtype=np.float32)
    fns = {Ops.SQRT: np.sqrt, Ops.EXP2: np.exp2, Ops.LOG2: np.log2, Ops.SIN: np.sin, Ops.TRUNC: np.trunc,
           Ops.RECIPROCAL: lambda v: 1 / v}
    with np.errstate(all="ignore"):
        for op, ref in fns.items():
            prg = elementwise(f"f32_{op.name.lower()}", [dtypes.float32], dtypes.float32, 8, lambda v: v.alu(op))
            py, _ = both(prg, x)
            np.testing.assert_allclose(py, ref(x), rtol=1e-6, err_msg=op.name)


def matmul(n: int) -> Program:
    """c[i,j] = sum_k a[i,k] * b[k,j] over three nested loops, with a register accumulator."""
    bld = Builder()
    c, a, b = glob(0, dtypes.float32, n * n), glob(1, dtypes.float32, n * n), glob(2, dtypes.float32, n * n)
    acc = UOp(Ops.DEFINE_REG, dtypes.float32.pointer(1), (), 0)
    i = bld.add(UOp.range(n, 0))
    j = bld.add(UOp.range(n, 1))
    row = bld.add(i * n)  # placed outside the k loop: the store after the loop uses it too
    bld.add(store(index(acc, const(0)), const(0.0, dtypes.float32)))
    k = bld.add(UOp.range(n, 2, "reduce"))
    prod = load(index(a, row + k)) * load(index(b, k * n + j))
    bld.add(store(index(acc, const(0)), load(index(acc, const(0)), arg=1) + prod))
    bld.add(end(k))
    bld.add(store(index(c, row + j), load(index(acc, const(0)), arg=2)))
    bld.add(end(j))
    bld.add(end(i))
    return bld.program(f"matmul_{n}")


def test_matmul_nested_loops() -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(-4, 5, (8, 8)).astype(np.float32)
    b = rng.integers(-4, 5, (8, 8)).astype(np.float32)
    py, _ = both(matmul(8), a, b)
    np.testing.assert_array_equal(py.reshape(8, 8), a @ b)


def test_python_device_matmul_is_not_grossly_slow() -> None:
    a, b = np.ones((32, 32), np.float32), np.ones((32, 32), np.float32)
    start = time.perf_counter()
    out = run("PYTHON", matmul(32), a, b)
    assert time.perf_counter() - start < 5.0
    np.testing.assert_array_equal(out, np.full(32 * 32, 32.0, np.float32))


def test_fp8_program_runs_bit_identically_on_llvm_and_python() -> None:
    prg = elementwise("fp8", [dtypes.float8_e4m3fn], dtypes.float8_e4m3fn, 6, lambda v: v + v)
    x = np.array([1.0, 2.0, -0.5, 448.0, 0.0137, -240.0], dtype=ml_dtypes.float8_e4m3fn)
    want = (x.astype(np.float32) * 2).astype(x.dtype)  # 448*2 overflows e4m3fn: NaN, as ml_dtypes rounds
    for dev in DEVICES:
        out = run(dev, prg, x)
        np.testing.assert_array_equal(out.view(np.uint8), want.view(np.uint8), err_msg=dev)


# ---------------------------------------------------------------- differential sweep: every op and cast, every dtype
SWEEP_DTYPES = [dtypes.bool, dtypes.int8, dtypes.int16, dtypes.int32, dtypes.int64, dtypes.uint8, dtypes.uint16,
                dtypes.uint32, dtypes.uint64, dtypes.float16, dtypes.bfloat16, dtypes.float32, dtypes.float64]
FLOAT_ONLY = {Ops.FDIV, Ops.SQRT, Ops.EXP2, Ops.LOG2, Ops.SIN, Ops.RECIPROCAL, Ops.POW, Ops.TRUNC}
INT_ONLY = {Ops.AND, Ops.OR, Ops.XOR, Ops.IDIV, Ops.MOD, Ops.SHL, Ops.SHR}


def sample(dt: DType, rng: np.random.Generator, n: int = 48) -> np.ndarray:
    """Random values of `dt` with its edge cases first."""
    if dt.kind == "b":
        return rng.integers(0, 2, n).astype(bool)
    if dt.kind in "iu":
        v = rng.integers(dt.min, dt.max, n, endpoint=True, dtype=np.uint64 if dt.kind == "u" else np.int64)
        v[:4] = [0, 1, dt.min, dt.max]
        return v.astype(dt.np)
    v = rng.standard_normal(n) * rng.choice([1e-3, 1.0, 100.0, 1e5], n)
    v[:8] = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -2.5, 1e-6]
    with np.errstate(over="ignore"):
        return v.astype(dt.np)


@pytest.mark.parametrize("dt", SWEEP_DTYPES, ids=lambda d: d.name)
def test_python_and_llvm_agree_on_every_op_and_cast(dt: DType) -> None:
    rng = np.random.default_rng(SWEEP_DTYPES.index(dt))
    a, b, c, cond = sample(dt, rng), sample(dt, rng), sample(dt, rng), sample(dtypes.bool, rng)
    if dt.kind in "iu":
        b[:2] = 0  # IDIV/MOD by 0 give 0, and INT_MIN / -1 wraps, on every device (engine.alu)
        a[2], b[2] = dt.min, (-1 if dt.kind == "i" else 1)
        shift = rng.integers(0, dt.bits, len(a)).astype(dt.np)
    skip = FLOAT_ONLY if dt.kind != "f" else INT_ONLY
    if dt.kind == "b":
        skip = skip | {Ops.SHL, Ops.SHR}
    for op in sorted(GroupOp.ALU):
        if op in skip:
            continue
        if op is Ops.WHERE:
            prg = elementwise(f"{dt.name}_where", [dtypes.bool, dt, dt], dt, len(a), lambda x, y, z: x.alu(op, y, z))
            both(prg, cond, a, b)
            continue
        n = 1 if op in GroupOp.Unary else 2 if op in GroupOp.Binary else 3
        out = dtypes.bool if op in GroupOp.Comparison else dt
        args = [a, shift if op in (Ops.SHL, Ops.SHR) else b, c][:n]
        with np.errstate(all="ignore"):
            both(elementwise(f"{dt.name}_{op.name}", [dt] * n, out, len(a), lambda *xs: xs[0].alu(op, *xs[1:])), *args)
    for to in SWEEP_DTYPES:
        if to != dt:
            both(elementwise(f"cast_{dt.name}_{to.name}", [dt], to, len(a), lambda x: UOp(Ops.CAST, to, (x,))), a)
        if to != dt and to.itemsize == dt.itemsize and dtypes.bool not in (to, dt):
            both(elementwise(f"bitcast_{dt.name}_{to.name}", [dt], to, len(a), lambda x: UOp(Ops.BITCAST, to, (x,))), a)


def test_int_min_divided_by_minus_one_wraps() -> None:
    for dt in (dtypes.int8, dtypes.int32, dtypes.int64):
        a, d = np.array([dt.min, 7], dtype=dt.np), np.array([-1, -1], dtype=dt.np)
        py, _ = both(elementwise(f"min_div_{dt.name}", [dt, dt], dt, 2, lambda x, y: x // y), a, d)
        np.testing.assert_array_equal(py, [dt.min, -7])
        py, _ = both(elementwise(f"min_mod_{dt.name}", [dt, dt], dt, 2, lambda x, y: x % y), a, d)
        np.testing.assert_array_equal(py, [0, 0])


def test_define_var_bounds_a_loop() -> None:
    b = Builder()
    out = b.add(glob(0, dtypes.int64, 10))
    n = UOp.variable("n", 1, 10)
    r = b.add(UOp.range(n, 0))
    b.add(store(index(out, r), UOp(Ops.CAST, dtypes.int64, (r,)) + 1))
    b.add(end(r))
    prg = b.program("var_loop")
    for dev in DEVICES.values():
        buf = np.zeros(10, np.int64)
        dev.runner(prg)(buf, n=4)
        np.testing.assert_array_equal(buf, [1, 2, 3, 4, 0, 0, 0, 0, 0, 0])


def test_llvm_compile_error_names_the_kernel() -> None:
    b = Builder()
    out = b.add(glob(0, dtypes.int32, 4))
    r = b.add(UOp.range(4, 0))
    inside = b.add(UOp(Ops.CAST, dtypes.int32, (r,)) * 2)  # defined inside the loop ...
    b.add(end(r))
    b.add(store(index(out, const(0)), inside))  # ... and used after it: invalid SSA
    with pytest.raises(CompileError, match="kernel bad_scope"):
        DEVICES["LLVM"].runner(b.program("bad_scope"))


@pytest.mark.parametrize("device", ["CPU", "LLVM"])
def test_kernels_compiled_in_one_batch_keep_their_own_code(device: str) -> None:
    """Two different kernels with the same name (and one repeated) compile in one batch; each runs its own code."""
    from engine.device import get_device

    def scale(k: int) -> Program:
        b = Builder()
        out, a = glob(0, dtypes.int32, 8), glob(1, dtypes.int32, 8)
        r = b.add(UOp.range(8, 0))
        b.add(store(index(out, r), load(index(a, r)) * k))
        b.add(end(r))
        return b.program("same_name")

    dev = get_device(device)
    prgs = [scale(3), scale(5), scale(3), scale(7)]
    runners = dev.runners(prgs)
    a = np.arange(8, dtype=np.int32)
    for k, run in zip([3, 5, 3, 7], runners):
        out = np.zeros(8, np.int32)
        run(out, a)
        np.testing.assert_array_equal(out, a * k)


def test_llvm_batch_with_a_bad_kernel_names_that_kernel() -> None:
    b = Builder()
    out = b.add(glob(0, dtypes.int32, 4))
    r = b.add(UOp.range(4, 0))
    inside = b.add(UOp(Ops.CAST, dtypes.int32, (r,)) * 2)
    b.add(end(r))
    b.add(store(index(out, const(0)), inside))
    good = elementwise("add", [dtypes.float32] * 2, dtypes.float32, 5, lambda x, y: x + y)
    with pytest.raises(CompileError, match="kernel bad_in_batch"):
        LLVMDevice().runners([good, b.program("bad_in_batch")])


def test_llvm_compiles_after_a_compiled_kernel_is_freed() -> None:
    """An MCJIT engine owns its target machine: one machine shared by all compiles was freed with the first kernel
    dropped, and the next compile crashed the process (std::bad_alloc, abort)."""
    import subprocess
    import sys

    code = (
        "import gc, numpy as np\n"
        "from engine.tensor import Tensor\n"
        "from engine.realize import schedule_tensors\n"
        "from engine.codegen.kernel import build_kernel\n"
        "from engine.runtime.llvm import compile_llvm, render_llvm\n"
        "a = Tensor(np.ones((7, 13), np.float32))\n"
        "for i, o in enumerate([a.sum(0), a.exp().max(1), (a * 2).sum()]):\n"
        "    it = schedule_tensors(o)[-1]\n"
        "    prg = build_kernel(it.ast, it.name, None).to_program()\n"
        "    compile_llvm(render_llvm(prg), prg.name, 0)\n"
        "    gc.collect()\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "DEVICE": "LLVM"})
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
