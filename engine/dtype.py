"""Data types of the engine: scalars, vectors, pointers, and the promotion rules.

Promotion (`promote(a, b)`) follows numpy's `promote_types` for the dtypes numpy has:
  - bool < any integer < any float; within a kind, the wider type wins;
  - signed with unsigned: the smallest signed type that holds both (int8+uint8 -> int16), and
    int64+uint64 -> float64 as in numpy;
  - an integer with a float: the float, widened as numpy does (int16+float16 -> float32, int32+float16 -> float64).
The dtypes numpy lacks are placed by these rules:
  - bfloat16 with float16 -> float32 (neither holds the other); bfloat16 with float32/64 -> the wider float;
    bfloat16 with integers behaves as float16 does, with bfloat16 in its place;
  - fp8 (e4m3fn, e5m2) promote to the other operand when it is a float or bfloat16; two different fp8 -> float16;
    fp8 with an integer -> float16 widened as above;
  - `index` (the integer type of index arithmetic) with any integer or bool -> index; with a float -> error,
    since index arithmetic is integer-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ml_dtypes
import numpy as np


@dataclass(frozen=True, eq=True)
class DType:
    """A scalar type, a vector of `count` scalars, or a pointer to such (`ptr`) with `size` elements (-1: unknown)."""

    name: str
    itemsize: int  # bytes of one scalar
    kind: str  # "b" bool, "i" signed int, "u" unsigned int, "f" float, "x" index
    count: int = 1
    ptr: bool = False
    size: int = -1
    local: bool = False  # pointer into local (shared) memory

    def __repr__(self) -> str:
        base = f"dtypes.{self.name}"
        if self.count > 1:
            base += f".vec({self.count})"
        if self.ptr:
            base += f".pointer({self.size}{', local=True' if self.local else ''})"
        return base

    @property
    def scalar(self) -> DType:
        """The scalar element type (drops vector width and pointer-ness)."""
        return _SCALARS[self.name]

    def vec(self, n: int) -> DType:
        """A vector of `n` of this scalar type."""
        if self.ptr or self.count != 1:
            raise ValueError(f"vec({n}) of non-scalar dtype {self!r}")
        return DType(self.name, self.itemsize, self.kind, count=n) if n != 1 else self

    def pointer(self, size: int = -1, local: bool = False) -> DType:
        """A pointer to this type with `size` elements."""
        if self.ptr:
            raise ValueError(f"pointer of pointer dtype {self!r}")
        return DType(self.name, self.itemsize, self.kind, self.count, True, size, local)

    @property
    def is_int(self) -> bool:
        return self.kind in "iux" and not self.ptr

    @property
    def is_float(self) -> bool:
        return self.kind == "f" and not self.ptr

    @property
    def is_bool(self) -> bool:
        return self.kind == "b" and not self.ptr

    @property
    def is_unsigned(self) -> bool:
        return self.kind == "u"

    @property
    def bits(self) -> int:
        return self.itemsize * 8

    @property
    def min(self) -> int | float | bool:
        """Smallest representable value: of ints and bool; -inf for floats, or -448 for float8_e4m3fn (no inf)."""
        if self.kind == "b":
            return False
        if self.kind == "u":
            return 0
        if self.kind in "ix":
            return -(1 << (self.bits - 1))
        return -float("inf") if self.name != "float8_e4m3fn" else -448.0

    @property
    def max(self) -> int | float | bool:
        """Largest representable value: of ints and bool; +inf for floats, or 448 for float8_e4m3fn (no inf)."""
        if self.kind == "b":
            return True
        if self.kind == "u":
            return (1 << self.bits) - 1
        if self.kind in "ix":
            return (1 << (self.bits - 1)) - 1
        return float("inf") if self.name != "float8_e4m3fn" else 448.0

    @property
    def np(self) -> np.dtype:
        """The numpy dtype holding this scalar type (ml_dtypes for bfloat16 and fp8)."""
        return to_numpy(self)


class dtypes:
    """The dtypes of the engine, as attributes (`dtypes.float32`)."""

    bool = DType("bool", 1, "b")
    int8 = DType("int8", 1, "i")
    int16 = DType("int16", 2, "i")
    int32 = DType("int32", 4, "i")
    int64 = DType("int64", 8, "i")
    uint8 = DType("uint8", 1, "u")
    uint16 = DType("uint16", 2, "u")
    uint32 = DType("uint32", 4, "u")
    uint64 = DType("uint64", 8, "u")
    float8_e4m3fn = DType("float8_e4m3fn", 1, "f")
    float8_e5m2 = DType("float8_e5m2", 1, "f")
    float16 = DType("float16", 2, "f")
    bfloat16 = DType("bfloat16", 2, "f")
    float32 = DType("float32", 4, "f")
    float64 = DType("float64", 8, "f")
    # index: the integer type of index arithmetic; rendered as a 64-bit signed integer
    index = DType("index", 8, "x")
    void = DType("void", 0, "v")

    # aliases
    half = float16
    float = float32
    double = float64
    int = int32
    long = int64

    @staticmethod
    def all() -> tuple[DType, ...]:
        """Every scalar dtype that data can have (no index, no void)."""
        return tuple(d for d in _SCALARS.values() if d.kind in "biuf")

    @staticmethod
    def from_name(name: str) -> DType:
        """The scalar dtype called `name` (as numpy spells it); a clear error otherwise."""
        if name in _SCALARS:
            return _SCALARS[name]
        raise ValueError(f"unknown dtype {name!r}; known: {', '.join(_SCALARS)}")

    @staticmethod
    def from_numpy(dt: Any) -> DType:
        """The engine dtype of a numpy dtype."""
        name = np.dtype(dt).name
        if name not in _SCALARS:
            raise ValueError(f"numpy dtype {name!r} has no engine dtype")
        return _SCALARS[name]


def to_dtype(x: Any) -> DType:
    """A DType from a DType, a dtype name ("float32") or a numpy dtype; an unknown one raises, listing the names."""
    if isinstance(x, DType):
        return x
    names = ", ".join(d.name for d in dtypes.all())
    if isinstance(x, str):
        d = _SCALARS.get(x)
        if d is None or d.kind not in "biuf":
            raise ValueError(f"unknown dtype {x!r}; known: {names}")
        return d
    try:
        npdt = np.dtype(x)
    except TypeError:
        raise TypeError(f"dtype must be a DType, a dtype name or a numpy dtype, got {x!r}; known: {names}") from None
    return dtypes.from_numpy(npdt)


_SCALARS: dict[str, DType] = {
    d.name: d for d in vars(dtypes).values() if isinstance(d, DType) and d.count == 1 and not d.ptr
}
_NP_EXTRA = {
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
    "float8_e4m3fn": np.dtype(ml_dtypes.float8_e4m3fn),
    "float8_e5m2": np.dtype(ml_dtypes.float8_e5m2),
    "index": np.dtype(np.int64),
}


def to_numpy(dt: DType) -> np.dtype:
    """numpy dtype of a scalar engine dtype."""
    name = dt.scalar.name
    if name in _NP_EXTRA:
        return _NP_EXTRA[name]
    if name == "void":
        raise ValueError("void has no numpy dtype")
    return np.dtype(name)


_FP8 = ("float8_e4m3fn", "float8_e5m2")


def promote(a: DType, b: DType) -> DType:
    """The dtype of a binary op on `a` and `b` (rules in the module docstring)."""
    a, b = a.scalar, b.scalar
    if a == b:
        return a
    if a.kind == "x" or b.kind == "x":
        other = b if a.kind == "x" else a
        if other.kind in "biux":
            return dtypes.index
        raise TypeError(f"cannot mix index with {other.name}: index arithmetic is integer-only")
    special = {"bfloat16", *_FP8}
    if a.name not in special and b.name not in special:
        return dtypes.from_numpy(np.promote_types(a.np, b.np))
    # order so that `a` is the special one
    if a.name not in special:
        a, b = b, a
    if a.name in _FP8:
        if b.name in _FP8:
            return dtypes.float16
        if b.kind == "f":
            return b
        return promote(dtypes.float16, b)  # int/bool with fp8 behaves as with float16
    # a is bfloat16
    if b.name in _FP8 or b.kind == "b" or (b.kind in "iu" and b.itemsize == 1):
        return a
    if b.name == "float16":
        return dtypes.float32
    if b.kind == "f":
        return b
    widened = promote(dtypes.float16, b)  # int16 -> float32, int32 -> float64, ...
    return widened if widened != dtypes.float16 else a


def least_upper(*dts: DType) -> DType:
    """Promote several dtypes left to right."""
    out = dts[0]
    for d in dts[1:]:
        out = promote(out, d)
    return out
