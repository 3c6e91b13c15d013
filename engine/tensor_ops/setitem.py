"""Item assignment: the whole new value of a tensor after `x[index] = v`, built lazily from x and v.

Basic indices (ints, slices of any step, None, Ellipsis) place v with movement ops (flip, pad between steps, pad
into place) and select it with a mask of the same placement: no copies, no gathers. Bool masks and integer arrays
are resolved to positions with numpy (masks and index tensors are realized, as `__getitem__` does); each position
then takes its element of v through a one-hot gather, the last one where an index repeats (numpy's rule).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.dtype import dtypes

if TYPE_CHECKING:
    from engine.tensor import Tensor


def _is_basic(it: Any) -> bool:
    return it is None or it is Ellipsis or isinstance(it, (slice, int, np.integer)) and not isinstance(it, bool)


def _basic_spec(shape: tuple[int, ...], items: list) -> tuple[list[tuple[int, int, int, bool]], tuple[int, ...]]:
    """Per axis of x (start, step, count, is_int), and the shape of x[index]."""
    used = sum(1 for i in items if i is not None and i is not Ellipsis)
    if sum(i is Ellipsis for i in items) > 1:
        raise IndexError("an index can only have a single ellipsis")
    if used > len(shape):
        raise IndexError(f"too many indices for a tensor of {len(shape)} dims: {used}")
    if Ellipsis not in items:
        items = items + [Ellipsis]
    e = items.index(Ellipsis)
    items = items[:e] + [slice(None)] * (len(shape) - used) + items[e + 1:]
    spec: list[tuple[int, int, int, bool]] = []
    view: list[int] = []
    for it in items:
        if it is None:
            view.append(1)
            continue
        s = shape[len(spec)]
        if isinstance(it, slice):
            start, stop, step = it.indices(s)
            n = len(range(start, stop, step))
            spec.append((start, step, n, False))
            view.append(n)
        else:
            i = int(it)
            if not -s <= i < s:
                raise IndexError(f"index {i} is out of bounds for axis {len(spec)} with size {s}")
            spec.append((i % s, 1, 1, True))
    return spec, tuple(view)


def _place(t: Tensor, spec: list[tuple[int, int, int, bool]], shape: tuple[int, ...]) -> Tensor:
    """t (an axis per axis of x, sized by the counts) moved to positions start + k*step of each axis; 0 elsewhere."""
    for d, ((start, step, n, _), s) in enumerate(zip(spec, shape)):
        if n > 1 and step < 0:  # the same positions walked upward: flip, start from the lowest
            t, start, step = t.flip(d), start + (n - 1) * step, -step
        if n > 1 and step > 1:  # spread: (n, 1) -> pad to (n, step) -> flatten -> drop the tail gap
            t = t.unsqueeze(d + 1).pad([(0, step - 1) if a == d + 1 else (0, 0) for a in range(t.ndim + 1)])
            t = t.flatten(d, d + 1).shrink([(0, (n - 1) * step + 1) if a == d else None for a in range(t.ndim)])
        span = t.shape[d]
        t = t.pad([(start, s - start - span) if a == d else (0, 0) for a in range(t.ndim)])
    return t


def assigned_value(x: Tensor, index: Any, v: Tensor) -> Tensor:
    """The value of x after `x[index] = v` (v already of x's dtype); x itself when nothing is selected."""
    from engine.tensor import Tensor

    items = list(index) if isinstance(index, tuple) else [index]
    if all(_is_basic(i) for i in items):
        spec, view = _basic_spec(x.shape, items)
        if math.prod(view) == 0:
            return x
        counts = tuple(n for _, _, n, _ in spec)
        val = _place(v.broadcast_to(view).reshape(counts), spec, x.shape)
        mask = _place(Tensor.full(counts, True, dtypes.bool, x.device), spec, x.shape)
        return mask.where(val, x)
    np_items = tuple(i.numpy() if isinstance(i, Tensor) else i for i in items)
    pos = np.arange(x.numel(), dtype=np.int64).reshape(x.shape)[np_items]
    if pos.size == 0:
        return x
    src = np.full(x.numel(), -1, dtype=np.int64)
    src[pos.reshape(-1)] = np.arange(pos.size)  # repeated positions keep the last, as numpy's assignment does
    mask = Tensor(src.reshape(x.shape) >= 0, device=x.device)
    if v.numel() == 1:
        return mask.where(v.reshape(()), x)
    flat = v.broadcast_to(pos.shape).reshape(-1)
    picked = flat[Tensor(np.maximum(src, 0).reshape(x.shape), device=x.device)]
    return mask.where(picked, x)
