"""Fusion off (schedule(fuse=False), realize(fuse=False), FUSE=0): one kernel per computing op, same numbers."""

import numpy as np
import pytest

from engine.codegen.kernel import Kernel, Opt, OptError, default_opts
from engine.rangeify import _computes, schedule
from engine.realize import capture_kernels, realize, schedule_tensors
from engine.tensor import REALIZED, Tensor

rng = np.random.default_rng(1)


def arr(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def _softmax(x: Tensor) -> Tensor:
    return x.softmax(-1)


def _layernorm(x: Tensor) -> Tensor:
    return x.layernorm(-1)


def _cat_of_reduces(x: Tensor) -> Tensor:
    return Tensor.cat([x.sum(1, keepdim=True), x.max(1, keepdim=True), (x * 2).mean(1, keepdim=True)], axis=1)


def _pad_of_reduce(x: Tensor) -> Tensor:
    return x.sum(1).reshape(6, 1).pad(((2, 1), (1, 3))) + 1


GRAPHS = [_softmax, _layernorm, _cat_of_reduces, _pad_of_reduce]


def _computing_ops(t: Tensor) -> int:
    return sum(1 for u in t.uop.toposort if _computes(u))


@pytest.mark.parametrize("graph", GRAPHS, ids=lambda g: g.__name__.strip("_"))
def test_unfused_schedule_gives_the_fused_numbers(graph):
    x = arr(6, 13)
    fused, unfused = graph(Tensor(x)), graph(Tensor(x))
    realize([unfused], fuse=False)
    np.testing.assert_allclose(unfused.numpy(), fused.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("graph", GRAPHS, ids=lambda g: g.__name__.strip("_"))
def test_unfused_schedule_has_one_kernel_per_computing_op(graph):
    t = graph(Tensor(arr(6, 13)))
    n_ops = _computing_ops(t)
    items = schedule_tensors(t, fuse=False)
    assert len(items) == n_ops and not any(i.fused for i in items)
    assert len(schedule_tensors(t, fuse=True)) <= n_ops
    if graph in (_softmax, _layernorm):
        assert len(schedule_tensors(t, fuse=True)) == 1  # the switch changes something


def test_schedule_fuse_false_realizes_every_computing_uop():
    t = (Tensor(arr(4, 5)) + 1).exp().sum(0)
    items, _ = schedule([t.uop], "CPU", dict(REALIZED), fuse=False)
    assert {i.root for i in items} == {u for u in t.uop.toposort if _computes(u)}


def test_fuse_env_var_is_the_default(monkeypatch):
    t = Tensor(arr(6, 13)).softmax(-1)
    monkeypatch.setenv("FUSE", "0")
    assert len(schedule_tensors(t)) == _computing_ops(t)
    monkeypatch.setenv("FUSE", "1")
    assert len(schedule_tensors(t)) == 1


def test_capture_kernels_records_each_kernel_with_its_opts():
    x = Tensor(arr(8, 64))
    with capture_kernels() as log:
        x.sum(1).realize()
        realize([(x + 1).exp()], fuse=False, opts=None)
    assert [r["fused"] for r in log] == [True, False, False, False]
    first = log[0]
    assert first["device"] == "CPU" and first["shape"] == [8] and first["bufs"] == 2
    expected = default_opts(Kernel(schedule_tensors(x.sum(1))[0].ast))
    assert expected and first["opts"] == [[o.op, o.axis, o.amount] for o in expected]  # the heuristic's resolved list
    assert all(r["opts"] == [] for r in log[1:])
    import json

    assert json.loads(json.dumps(log)) == log
    with capture_kernels() as outer, capture_kernels() as inner:
        (x * 3).realize()
    assert len(outer) == len(inner) == 1
    (x * 4).realize()
    assert len(outer) == 1  # closed blocks record nothing


def test_per_kernel_opts_callable_is_called_for_each_kernel():
    x = Tensor(arr(8, 64))
    seen = []

    def pick(ast, name):
        seen.append(name)
        return [Opt("UPCAST", 0, 2)] if name.startswith("E") else "default"

    t = (x.sum(1, keepdim=True) + x).exp()
    with capture_kernels() as log:
        realize([t], fuse=False, opts=pick)
    assert len(seen) == len(log) == 4
    assert all(r["opts"][:1] == [["UPCAST", 0, 2]] for r in log if r["name"].startswith("E"))
    np.testing.assert_allclose(t.numpy(), np.exp(x.numpy().sum(1, keepdims=True) + x.numpy()), rtol=1e-5)


def test_an_invalid_opt_raises_before_anything_runs():
    x = Tensor(arr(8, 63))
    t = (x + 1).sum(1) * 2
    with capture_kernels() as log, pytest.raises(OptError):
        realize([t], fuse=False, opts=lambda ast, name: [Opt("UPCAST", 0, 5)])
    assert log == [] and not t.uop.op.name == "BUFFER"  # nothing ran, the tensor is still lazy
    np.testing.assert_allclose(t.numpy(), (x.numpy() + 1).sum(1) * 2, rtol=1e-5)
