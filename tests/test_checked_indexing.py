"""Index tensors out of range: lazy by default (the read gives 0, documented), IndexError in checked mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import engine
from engine import Tensor
from tests.devices import DEVICES

X = np.arange(12, dtype=np.int32).reshape(3, 4)


def test_out_of_range_index_tensor_reads_zero_by_default() -> None:
    x = Tensor(X)
    assert x[Tensor([5])].numpy().tolist() == [[0, 0, 0, 0]]
    assert x[:, Tensor([1, 9])].numpy().tolist() == [[1, 0], [5, 0], [9, 0]]
    assert x.gather(1, Tensor([[0, 7]] * 3)).numpy().tolist() == [[0, 0], [4, 0], [8, 0]]


@pytest.mark.parametrize("device", DEVICES)
def test_checked_indexing_raises_like_numpy_naming_op_axis_value_and_size(device: str) -> None:
    x = Tensor(X, device=device)
    with engine.checked_indexing():
        with pytest.raises(IndexError, match=r"getitem: index 5 is out of bounds for axis 0 with size 3"):
            x[Tensor([0, 5], device=device)]
        with pytest.raises(IndexError, match=r"getitem: index -5 is out of bounds for axis 1 with size 4"):
            x[1:, Tensor([[-5]], device=device)]
        with pytest.raises(IndexError, match=r"gather: index 4 is out of bounds for axis 1 with size 4"):
            x.gather(1, Tensor([[0, 4]] * 3, device=device))
        with pytest.raises(IndexError, match=r"gather: index -4 is out of bounds for axis 0 with size 3"):
            x.gather(0, Tensor([[-4, 0, 0, 0]], device=device))
    with pytest.raises(IndexError):  # numpy agrees
        X[np.array([0, 5])]


@pytest.mark.parametrize("device", DEVICES)
def test_checked_indexing_keeps_valid_and_negative_indices_as_numpy(device: str) -> None:
    x = Tensor(X, device=device)
    idx = np.array([-3, -1, 0, 2])
    with engine.checked_indexing():
        np.testing.assert_array_equal(x[Tensor(idx[:3], device=device)].numpy(), X[idx[:3]])
        np.testing.assert_array_equal(x[:, Tensor(idx, device=device)].numpy(), X[:, idx])
        # a computed index (lazy until checked) and an empty one
        np.testing.assert_array_equal(x[Tensor([1, 2], device=device) - 1].numpy(), X[[0, 1]])
        assert x[Tensor(np.zeros(0, dtype=np.int64), device=device)].shape == (0, 4)
        g = np.array([[3, -1, 0, 1]] * 3)
        np.testing.assert_array_equal(x.gather(1, Tensor(g, device=device)).numpy(),
                                      np.take_along_axis(X, g % 4, axis=1))


def test_checked_indexing_is_scoped_and_can_be_turned_off_inside() -> None:
    x, bad = Tensor(X), Tensor([7])
    with engine.checked_indexing():
        with engine.checked_indexing(False):
            assert x[bad].numpy().tolist() == [[0, 0, 0, 0]]
        with pytest.raises(IndexError):
            x[bad]
    assert x[bad].numpy().tolist() == [[0, 0, 0, 0]]
    assert "checked_indexing" in engine.__all__


def test_check_index_env_var_turns_checking_on() -> None:
    code = ("import numpy as np; from engine import Tensor\n"
            "try:\n    Tensor(np.arange(3))[Tensor([3])]\nexcept IndexError as e:\n    print('raised:', e)\n")
    env = {**os.environ, "CHECK_INDEX": "1"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env,
                       cwd=Path(__file__).resolve().parents[1])
    assert "raised: getitem: index 3 is out of bounds for axis 0 with size 3" in r.stdout, r.stdout + r.stderr
