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
