import numpy as np
import pytest

from engine.alu import wrap
from engine.dtype import dtypes, promote


@pytest.mark.parametrize("a", ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                               "float16", "float32", "float64"])
@pytest.mark.parametrize("b", ["bool", "int8", "int32", "uint8", "uint64", "float16", "float32"])
def test_promotion_matches_numpy_for_numpy_dtypes(a, b):
    got = promote(dtypes.from_name(a), dtypes.from_name(b))
    assert got.np == np.promote_types(np.dtype(a), np.dtype(b))


def test_promotion_is_symmetric_for_all_dtypes():
    for a in dtypes.all():
        for b in dtypes.all():
            assert promote(a, b) == promote(b, a), (a, b)


def test_bfloat16_and_fp8_promotion_rules():
    assert promote(dtypes.bfloat16, dtypes.float16) == dtypes.float32
    assert promote(dtypes.bfloat16, dtypes.float32) == dtypes.float32
    assert promote(dtypes.bfloat16, dtypes.int8) == dtypes.bfloat16
    assert promote(dtypes.bfloat16, dtypes.int32) == dtypes.float64
    assert promote(dtypes.float8_e4m3fn, dtypes.float8_e5m2) == dtypes.float16
    assert promote(dtypes.float8_e4m3fn, dtypes.bfloat16) == dtypes.bfloat16
    assert promote(dtypes.float8_e5m2, dtypes.uint8) == dtypes.float16


def test_index_promotes_with_ints_and_rejects_floats():
    assert promote(dtypes.index, dtypes.int32) == dtypes.index
    assert promote(dtypes.bool, dtypes.index) == dtypes.index
    with pytest.raises(TypeError, match="integer-only"):
        promote(dtypes.index, dtypes.float32)


def test_numpy_mapping_uses_ml_dtypes():
    assert dtypes.bfloat16.np.name == "bfloat16"
    assert dtypes.float8_e4m3fn.np.name == "float8_e4m3fn"
    assert dtypes.from_numpy(np.float16) == dtypes.float16
    with pytest.raises(ValueError, match="unknown dtype"):
        dtypes.from_name("float128x")


def test_vector_and_pointer_types():
    v = dtypes.float32.vec(4)
    assert v.count == 4 and v.scalar == dtypes.float32 and v != dtypes.float32
    p = dtypes.float32.pointer(16)
    assert p.ptr and p.size == 16 and p.scalar == dtypes.float32
    assert eval(repr(v), {"dtypes": dtypes}) == v
    assert eval(repr(p), {"dtypes": dtypes}) == p


def test_int_ranges():
    assert (dtypes.int8.min, dtypes.int8.max) == (-128, 127)
    assert (dtypes.uint16.min, dtypes.uint16.max) == (0, 65535)
    assert dtypes.index.max == 2**63 - 1


def test_int_to_float_rounds_once_like_numpy():
    # just above a float32 midpoint: rounding through float64 first lands on the midpoint and ties to even
    v = (1 << 62) + (1 << 38) + 1
    for dt in (dtypes.float32, dtypes.bfloat16, dtypes.float16):
        assert wrap(dt, v) == float(np.array(v, dtype=np.int64).astype(dt.np)), dt.name
    assert wrap(dtypes.float32, (1 << 64) - 1) == float(np.array((1 << 64) - 1, dtype=np.uint64).astype(np.float32))
