"""Bad input is refused at the API with a message naming it: mixed devices, unknown devices, negative sizes,
unknown dtype names."""

from __future__ import annotations

import numpy as np
import pytest

from engine import Tensor
from engine.dtype import dtypes

OTHER = "PYTHON"


def _pair() -> tuple[Tensor, Tensor]:
    return Tensor(np.arange(4, dtype=np.float32), device="CPU"), Tensor(np.ones(4, dtype=np.float32), device=OTHER)


@pytest.mark.parametrize("op", ["add", "rsub", "mul", "truediv", "floordiv", "mod", "pow", "lt", "eq", "maximum",
                                "bitwise_and", "where_a", "where_cond", "cat", "stack", "matmul", "assign", "gather",
                                "getitem", "tensor_of_tensor"])
def test_ops_mixing_devices_raise_naming_both_devices(op: str) -> None:
    a, b = _pair()
    ai, bi = a.cast(dtypes.int64), b.cast(dtypes.int64)
    fns = {
        "add": lambda: a + b, "rsub": lambda: b - a, "mul": lambda: a * b, "truediv": lambda: a / b,
        "floordiv": lambda: a // b, "mod": lambda: a % b, "pow": lambda: a**b, "lt": lambda: a < b,
        "eq": lambda: a == b, "maximum": lambda: a.maximum(b), "bitwise_and": lambda: ai & bi,
        "where_a": lambda: (a > 1).where(a, b), "where_cond": lambda: (b > 1).where(a, 0.0),
        "cat": lambda: Tensor.cat([a, b]), "stack": lambda: Tensor.stack([a, b]),
        "matmul": lambda: a @ b, "assign": lambda: a.assign(b), "gather": lambda: a.gather(0, bi),
        "getitem": lambda: a[bi], "tensor_of_tensor": lambda: Tensor(b, device="CPU"),
    }
    with pytest.raises(ValueError, match=r"CPU.*PYTHON|PYTHON.*CPU"):
        fns[op]()


def test_same_device_ops_and_scalars_still_work() -> None:
    a, b = _pair()
    assert (b + 1).device == OTHER and Tensor(b).device == OTHER
    np.testing.assert_array_equal((a + a).numpy(), np.arange(4) * 2)


@pytest.mark.parametrize("device", ["", "GPU7", "cpux", " CPU"])
def test_unknown_device_names_raise_naming_the_device_and_the_known_ones(device: str) -> None:
    for make in (lambda: Tensor([1.0], device=device), lambda: Tensor.zeros((2,), device=device),
                 lambda: Tensor.full((2,), 3, device=device)):
        with pytest.raises(ValueError, match=rf"unknown device {device!r}; known: .*CPU.*PYTHON"):
            make()


def test_device_names_are_case_insensitive() -> None:
    assert Tensor([1], device="python").device == "PYTHON" and Tensor.ones(2, device="cpu").device == "CPU"


@pytest.mark.parametrize("make", ["zeros", "ones", "empty", "full"])
def test_negative_sizes_raise_at_the_api_naming_the_function(make: str) -> None:
    fn = {"zeros": Tensor.zeros, "ones": Tensor.ones, "empty": Tensor.empty,
          "full": lambda shape: Tensor.full(shape, 2.0)}[make]
    for shape in ((-1,), (2, -3), -4):
        with pytest.raises(ValueError, match=rf"{make}: negative size -\d in shape"):
            fn(shape)
    with pytest.raises(TypeError, match=rf"{make}: .*not an int"):
        fn((2, 1.5))
    assert fn((0, 2)).shape == (0, 2)


def test_reshape_rejects_negative_sizes_other_than_one_inferred() -> None:
    t = Tensor(np.arange(6))
    assert t.reshape(-1, 3).shape == (2, 3)
    with pytest.raises(ValueError, match=r"reshape: negative size in shape \(-2, -3\)"):
        t.reshape(-2, -3)
    with pytest.raises(ValueError, match="reshape"):
        t.reshape(3, -2)


def test_dtype_names_are_accepted_by_cast_bitcast_and_creation() -> None:
    t = Tensor([1.5, -2.0])
    assert t.cast("int32").dtype == dtypes.int32 and t.cast("int32").numpy().tolist() == [1, -2]
    assert t.cast(dtypes.float64).bitcast("int64").dtype == dtypes.int64
    assert Tensor([1, 2], dtype="uint8").dtype == dtypes.uint8
    assert Tensor.zeros((2,), "bfloat16").dtype == dtypes.bfloat16
    assert Tensor.full((1,), 3, "int16").dtype == dtypes.int16
    assert Tensor.arange(3, dtype="float32").dtype == dtypes.float32
    assert t.cast(np.float16).dtype == dtypes.float16  # numpy dtypes too


def test_unknown_dtype_names_raise_listing_the_known_ones() -> None:
    t = Tensor([1.0])
    for call in (lambda: t.cast("float33"), lambda: t.bitcast("int33"), lambda: Tensor([1], dtype="float33"),
                 lambda: Tensor.zeros((1,), "float33"), lambda: t.cast("index")):
        with pytest.raises(ValueError, match=r"unknown dtype '(float33|int33|index)'; known: bool, .*float32"):
            call()
    with pytest.raises(TypeError, match="dtype must be a DType, a dtype name or a numpy dtype"):
        t.cast(object())
