"""Integer division by zero and INT_MIN // -1: numpy's results on every device, and nothing traps.

numpy gives x // 0 == 0, x % 0 == 0, INT_MIN // -1 == INT_MIN (wraps) and INT_MIN % -1 == 0; the kernel-level
IDIV/MOD (C truncation) give 0 by a zero divisor and wrap INT_MIN / -1 (engine/alu.py), so the Tensor's
floor `//` and `%` built on them match numpy.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine import Tensor
from engine.alu import exec_alu
from engine.dtype import dtypes
from engine.renderer.c import _int_div
from engine.symbolic import simplify
from engine.uop import Ops, UOp
from tests.devices import DEVICES

INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]


def _operands(dt: type) -> tuple[np.ndarray, np.ndarray]:
    info = np.iinfo(dt)
    if info.min < 0:
        a = np.array([7, -7, 0, info.min, info.max, info.min, 5, -6], dtype=dt)
        b = np.array([0, 0, 0, -1, -1, 0, 2, -4], dtype=dt)
    else:
        a = np.array([7, 0, info.max, 5, 9], dtype=dt)
        b = np.array([0, 0, 0, 2, 4], dtype=dt)
    return a, b


def _np(f, *args):
    with np.errstate(all="ignore"):  # numpy warns, and gives the results we follow
        return f(*args)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dt", INT_DTYPES, ids=lambda d: d.__name__)
def test_tensor_divisors_of_zero_and_minus_one_give_numpys_results(device: str, dt: type) -> None:
    a, b = _operands(dt)
    ta, tb = Tensor(a, device=device), Tensor(b, device=device)
    np.testing.assert_array_equal((ta // tb).numpy(), _np(np.floor_divide, a, b))
    np.testing.assert_array_equal((ta % tb).numpy(), _np(np.remainder, a, b))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dt", INT_DTYPES, ids=lambda d: d.__name__)
def test_scalar_zero_divisor_gives_zero(device: str, dt: type) -> None:
    a, _ = _operands(dt)
    ta = Tensor(a, device=device)
    np.testing.assert_array_equal((ta // 0).numpy(), _np(np.floor_divide, a, dt(0)))
    np.testing.assert_array_equal((ta % 0).numpy(), _np(np.remainder, a, dt(0)))
    assert not (ta // 0).numpy().any() and not (ta % 0).numpy().any()
    # a scalar dividend over a tensor holding zeros
    np.testing.assert_array_equal((7 // ta).numpy(), _np(np.floor_divide, dt(7), a))
    np.testing.assert_array_equal((7 % ta).numpy(), _np(np.remainder, dt(7), a))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dt", [np.int8, np.int16, np.int32, np.int64], ids=lambda d: d.__name__)
def test_int_min_floordiv_minus_one_wraps_like_numpy(device: str, dt: type) -> None:
    lo = np.iinfo(dt).min
    t = Tensor(np.array([lo, lo + 1, -1], dtype=dt), device=device)
    assert (t // -1).numpy().tolist() == _np(np.floor_divide, t.numpy(), dt(-1)).tolist() == [lo, -(lo + 1), 1]
    assert (t % -1).numpy().tolist() == [0, 0, 0]


@pytest.mark.parametrize("device", DEVICES)
def test_bool_floor_division_by_false(device: str) -> None:
    a, b = np.array([True, True, False, False]), np.array([True, False, True, False])
    ta, tb = Tensor(a, device=device), Tensor(b, device=device)
    np.testing.assert_array_equal((ta // tb).numpy(), _np(np.floor_divide, a, b))
    np.testing.assert_array_equal((ta % tb).numpy(), _np(np.remainder, a, b))


def test_kernel_idiv_mod_semantics_in_exec_alu() -> None:
    for dt in (dtypes.int8, dtypes.int32, dtypes.int64, dtypes.uint32, dtypes.index):
        assert exec_alu(Ops.IDIV, dt, (7, 0)) == 0 and exec_alu(Ops.MOD, dt, (-7, 0)) == 0
    for dt in (dtypes.int8, dtypes.int16, dtypes.int32, dtypes.int64):
        assert exec_alu(Ops.IDIV, dt, (dt.min, -1)) == dt.min and exec_alu(Ops.MOD, dt, (dt.min, -1)) == 0
    assert exec_alu(Ops.IDIV, dtypes.int32, (-7, 2)) == -3 and exec_alu(Ops.MOD, dtypes.int32, (-7, 2)) == -1


def test_symbolic_folds_division_by_a_zero_constant_to_zero() -> None:
    x = UOp.variable("x", -5, 9)
    zero = UOp.const(dtypes.index, 0)
    assert simplify(x // zero) is zero.const_like(0) and simplify(x % zero) is zero.const_like(0)
    assert simplify(UOp.const(dtypes.index, 7) // zero).arg == 0
    i32 = UOp.const(dtypes.int32, dtypes.int32.min)
    assert simplify(UOp(Ops.IDIV, dtypes.int32, (i32, UOp.const(dtypes.int32, -1)))).arg == dtypes.int32.min


def test_c_renderer_guards_only_divisors_that_may_be_zero_or_minus_one() -> None:
    x = UOp.variable("x", -5, 9)
    assert _int_div(x // 4, "a", "4") == "(a / 4)"  # index arithmetic by constants stays a plain division
    assert "== 0" in _int_div(UOp(Ops.IDIV, dtypes.index, (x, x)), "a", "b")
    assert "== -1" in _int_div(UOp(Ops.MOD, dtypes.index, (x, x)), "a", "b")
    pos = UOp.variable("p", 1, 9)
    assert "==" not in _int_div(UOp(Ops.IDIV, dtypes.index, (x, pos)), "a", "b")


def test_division_by_zero_does_not_kill_the_process() -> None:
    # SIGFPE / SIGILL would end the interpreter: run it apart so a regression fails this test, not the suite
    code = ("import numpy as np; from engine import Tensor\n"
            f"for d in {DEVICES!r}:\n"
            "    t = Tensor(np.array([7, -7, -2**31], dtype=np.int32), device=d)\n"
            "    z = Tensor(np.zeros(3, dtype=np.int32), device=d)\n"
            "    print(d, (t // 0).tolist(), (t % z).tolist(), (t // -1).tolist())\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       cwd=Path(__file__).resolve().parents[1])
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.count("[0, 0, 0] [0, 0, 0] [-7, 7, -2147483648]") == len(DEVICES), r.stdout
