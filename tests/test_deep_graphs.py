"""Deep graphs: a chain of a million tensor ops schedules, renders in memory proportional to its text, and deep
chains realize on every device; nothing on the way from a Tensor to a kernel recurses per node."""

import contextlib
import inspect
import sys
import tracemalloc

import numpy as np
import pytest

import engine
from engine import Tensor
from engine.uop import PYRENDER_NAMES, Ops, UOp
from tests.devices import DEVICES


@contextlib.contextmanager
def _recursion_limit_near_here(margin: int = 200):
    """A recursion limit only `margin` frames above the caller: anything recursing per graph node fails."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + margin)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def _add_chain(n: int, device: str | None = None) -> Tensor:
    x = Tensor([1.0], device=device)
    for _ in range(n):
        x = x + 1
    return x


def _index_chain(n: int) -> UOp:
    u = UOp.variable("x", 0, 10)
    for _ in range(n):
        u = u + 1
    return u


def _peak_bytes(fn):
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_million_op_chain_schedules_into_one_kernel():
    # 1,000,000 ops: about 10 s to build the chain and 12 s to schedule it on a 2-core box
    n = 1_000_000
    x = _add_chain(n)
    items = engine.schedule(x)
    assert len(items) == 1
    adds = sum(1 for u in items[0].ast.toposort if u.op is Ops.ADD and u.dtype == x.dtype)
    assert adds == n


def test_a_deep_chain_under_a_reduce_and_gates_schedules_and_realizes_without_recursion():
    n = 20_000
    x = _add_chain(n, "PYTHON")
    y = (x.reshape(1, 1).expand(4, 3) * 2).sum(1).pad(((1, 1),)).flip(0)
    with _recursion_limit_near_here():
        items = engine.schedule(y)
        assert sum(1 for it in items for u in it.ast.toposort if u.op is Ops.REDUCE) == 1
        assert y.numpy().tolist() == [0.0] + [6.0 * (n + 1)] * 4 + [0.0]


def test_render_of_a_deep_chain_is_the_nested_text():
    n = 40_000
    with _recursion_limit_near_here():
        text = _index_chain(n).render()
    assert text == "(" * n + "x" + "+1)" * n


def test_render_memory_grows_linearly_with_the_text():
    small, big = _index_chain(20_000), _index_chain(40_000)
    small_text, small_peak = _peak_bytes(small.render)
    big_text, big_peak = _peak_bytes(big.render)
    assert len(big_text) == 2 * len(small_text) - 1
    assert big_peak < 2.5 * small_peak  # a quadratic rendering would take 4x (it took 3.2 GB at 40k)
    assert big_peak < 64 * len(big_text)


def test_render_with_max_len_stops_writing_at_the_limit():
    u = _index_chain(40_000)
    text, peak = _peak_bytes(lambda: u.render(max_len=200))
    assert text == "(" * 197 + "..."
    assert peak < 100_000
    assert repr(u).endswith("...>")


def test_render_of_shared_subgraphs_repeats_them_in_place():
    x = UOp.variable("x", 0, 10)
    s = x * 3
    assert ((s + s) * s).render() == "(((x*3)+(x*3))*(x*3))"


def test_pyrender_of_a_deep_chain_evaluates_back_and_grows_linearly():
    small, big = _index_chain(10_000), _index_chain(20_000)
    with _recursion_limit_near_here():
        small_src, big_src = small.pyrender(), big.pyrender()
    assert len(big_src) < 2.2 * len(small_src)
    assert eval(big_src, dict(PYRENDER_NAMES)) is big


@pytest.mark.parametrize("device", DEVICES)
def test_a_ten_thousand_op_chain_realizes_on_every_device(device):
    n = 10_000
    x = _add_chain(n, device)
    with _recursion_limit_near_here():
        assert x.numpy().tolist() == [n + 1.0]


def test_a_deep_chain_of_gated_shifts_realizes_in_linear_time():
    # each step pads and shrinks (a gate) so the kernel nests 10,000 WHEREs; every WHERE once asked for the
    # toposort of everything below it (quadratic: 37 s), now a cached flag
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    x, ref = Tensor(a, device="PYTHON"), a.copy()
    for i in range(10_000):
        if i % 2 == 0:
            x = x.pad(((0, 0), (1, 0))).shrink((None, (0, 3))) + 1.0
            ref = np.pad(ref, ((0, 0), (1, 0)))[:, :3] + np.float32(1)
        else:
            x = x.pad(((0, 0), (0, 1))).shrink((None, (1, 4))) * 0.5
            ref = np.pad(ref, ((0, 0), (0, 1)))[:, 1:] * np.float32(0.5)
    with _recursion_limit_near_here():
        np.testing.assert_allclose(x.numpy(), ref, rtol=1e-6)


def test_index_helpers_walk_deep_nested_sums_without_recursion():
    from engine.spec import _linear

    u = UOp.variable("x", 0, 3)
    for _ in range(5_000):
        u = (u + 1) * 2  # stays nested: terms_of does not distribute a constant into a sum
    with _recursion_limit_near_here():
        assert u.const_factor() == 2
        assert u.divides(2) is not None and u.divides(4) is None
        terms, const = _linear(u)
    assert terms == {UOp.variable("x", 0, 3): 2**5_000} and const == 2 * (2**5_000 - 1)
