"""Device names with an index (CPU:1, LLVM:2, ...) and copies between devices (Tensor.to, a COPY in the schedule)."""

import numpy as np
import pytest

import engine
from engine import Tensor
from engine.device import available, canonical_device, get_device, split_device


def test_indexed_device_is_its_own_instance():
    assert get_device("CPU:0") is get_device("CPU")
    assert get_device("cpu:1") is get_device("CPU:1")
    assert get_device("CPU:1") is not get_device("CPU")
    assert get_device("CPU:1").name == "CPU:1" and get_device("CPU").name == "CPU"
    assert canonical_device("cpu:0") == "CPU" and canonical_device("python:3") == "PYTHON:3"
    assert split_device("LLVM:2") == ("LLVM", 2) and split_device("CPU") == ("CPU", 0)


@pytest.mark.parametrize("bad", ["CPU:x", "CPU:-1", "CPU:"])
def test_bad_device_index_is_refused(bad):
    with pytest.raises(ValueError, match="index after ':'"):
        canonical_device(bad)


def test_unknown_backend_with_index_names_it():
    with pytest.raises(ValueError, match="unknown device 'NOPE:1'"):
        Tensor([1.0], device="NOPE:1")


def test_tensors_on_two_instances_have_their_own_buffers():
    a = Tensor(np.arange(4, dtype=np.float32), device="CPU:1")
    b = Tensor(np.arange(4, dtype=np.float32), device="CPU:2")
    assert a.device == "CPU:1" and a.uop.arg.device == "CPU:1" and b.uop.arg.device == "CPU:2"
    np.testing.assert_array_equal((a * 2 + 1).numpy(), np.arange(4) * 2 + 1)
    with pytest.raises(ValueError, match="different devices, CPU:1 and CPU:2"):
        a + b


def test_to_copies_across_devices_and_the_schedule_lists_the_transfers():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    a = Tensor(x, device="CPU:0")
    b = (a * 2).to("CPU:1")
    c = (b + 1).to("LLVM" if available("LLVM") else "PYTHON:1")
    out = c.sum(1)
    items = engine.schedule(out)
    copies = [it for it in items if it.is_copy]
    assert [(it.bufs[1].device, it.device) for it in copies] == [("CPU", "CPU:1"), ("CPU:1", c.device)]
    assert [it.device for it in items if not it.is_copy] == ["CPU", "CPU:1", c.device]
    np.testing.assert_array_equal(out.numpy(), (x * 2 + 1).sum(1))
    assert out.uop.src[0].arg.device == c.device if out.uop.op is not engine.Ops.BUFFER else True
    np.testing.assert_array_equal(b.numpy(), x * 2)


def test_to_the_same_device_is_a_new_tensor_of_the_same_value():
    a = Tensor([1, 2, 3])
    b = a.to("cpu:0")
    assert b is not a and b.device == "CPU" and not any(it.is_copy for it in engine.schedule(b + 0))


def test_copy_reads_the_source_before_an_assign_overwrites_it():
    a = Tensor(np.arange(4, dtype=np.int32))
    b = a.to("CPU:1")
    a.assign(a + 10)
    from engine.realize import realize

    realize([a, b])
    np.testing.assert_array_equal(b.numpy(), np.arange(4))
    np.testing.assert_array_equal(a.numpy(), np.arange(4) + 10)


def test_copy_of_a_constant_and_under_guard_zones():
    from engine.realize import guard_zones

    with guard_zones():
        t = Tensor.full((2, 3), 7, device="CPU:1").to("CPU:2") + Tensor.ones((2, 3), device="CPU:2")
        np.testing.assert_array_equal(t.numpy(), np.full((2, 3), 8.0))


def test_a_constant_realized_on_one_device_is_not_reused_on_another():
    """An arange reads no buffer: it is one interned UOp on every device. Realized on LLVM (and kept alive, as an ONNX
    model keeps its graph), its LLVM buffer was substituted into a PYTHON graph's schedule, whose kernel then ran on
    LLVM reading a PYTHON buffer (found by a campaign's randopt:gpu mode: GPU opts refused for an LLVM kernel)."""
    from engine.realize import realize, schedule_tensors

    a = Tensor.arange(5, device="LLVM").reshape(1, 5, 1)
    kept = a.uop  # noqa: F841 - keeps the realized result in the process's map
    a.realize()
    x = Tensor(np.ones((1, 5, 1), np.int64), device="PYTHON")
    b = (Tensor.arange(5, device="PYTHON").reshape(1, 5, 1) * x).sum(0, keepdim=True)
    items = schedule_tensors(b)
    assert [(i.device, {buf.device for buf in i.bufs}) for i in items] == [("PYTHON", {"PYTHON"})]
    realize([b])
    assert b.device == "PYTHON" and b.numpy().ravel().tolist() == [0, 1, 2, 3, 4]
    c = Tensor.arange(5, device="LLVM").reshape(1, 5, 1) * Tensor(np.ones((1, 5, 1), np.int64), device="LLVM")
    (item,) = schedule_tensors(c)
    assert len(item.bufs) == 3  # on its own device the realized arange is still reused
