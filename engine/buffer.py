"""Buffers: the memory behind realized tensors (flat, on one device)."""

from __future__ import annotations

import itertools

import numpy as np

from engine.dtype import DType

_ids = itertools.count()


class Buffer:
    """`size` elements of `dtype` on `device`; allocated on first use. Hashable by identity (a UOp arg)."""

    __slots__ = ("device", "dtype", "size", "uid", "_data", "__weakref__")

    def __init__(self, device: str, dtype: DType, size: int):
        self.device, self.dtype, self.size, self.uid = device, dtype, size, next(_ids)
        self._data: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"<Buffer {self.uid} {self.device} {self.dtype.name}[{self.size}]>"

    @property
    def data(self) -> np.ndarray:
        """The flat storage (host memory for CPU-family devices)."""
        if self._data is None:
            from engine.device import get_device

            self._data = get_device(self.device).allocator.alloc(self.dtype, self.size)
        return self._data

    @property
    def allocated(self) -> bool:
        return self._data is not None

    def copyin(self, arr: np.ndarray) -> Buffer:
        """Fill from a numpy array with the same number of elements."""
        if arr.size != self.size:
            raise ValueError(f"copyin: {arr.size} elements into a buffer of {self.size}")
        self.data[...] = np.ascontiguousarray(arr).reshape(-1).astype(self.dtype.np, copy=False)
        return self

    def numpy(self) -> np.ndarray:
        """A copy of the contents."""
        return self.data.copy()
