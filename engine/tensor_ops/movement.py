"""Tensor methods: indexing, squeeze, unsqueeze, flatten, unflatten, transpose, repeat, tile, cat, stack, split,
chunk, gather.

Everything is built from the core movement views (reshape, permute, expand, pad, shrink, flip): strided slices
are a shrink + reshape (n, step) + take column 0, negative steps a flip, `cat` pads each input into place and
selects with a mask. Integer-tensor indexing and `gather` compare the index against an arange (a one-hot mask)
and sum it away: a reduce the scheduler fuses into the consumer. So an index tensor stays lazy, and an index
outside [-size, size) matches nothing and reads 0 (numpy raises IndexError). Inside `checked_indexing()` (or with
CHECK_INDEX=1) the index tensor is realized first and an out-of-range value raises IndexError as in numpy.
Index lists and arrays given as Python/numpy data are always checked.
"""

# mypy: disable-error-code="misc"
# (the methods annotate `self: Tensor`, a subclass of the mixin; mypy rejects that for mixins with [misc])

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import os
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from engine.dtype import dtypes, promote

if TYPE_CHECKING:
    from engine.tensor import Tensor


def _tensor_cls() -> type[Tensor]:
    from engine.tensor import Tensor

    return Tensor


def _not_sharded(x: Any, what: str, device: str) -> None:
    from engine.tensor import _not_sharded as check

    check(x, what, device)


@functools.lru_cache(maxsize=128)
def arange_buffer(n: int, device: str) -> Tensor:
    """An int32 tensor 0..n-1 held in a buffer (indices compared against one-hot masks)."""
    return _tensor_cls()(np.arange(n, dtype=np.int32), device=device)


_CHECKED = contextvars.ContextVar("checked_indexing", default=False)


@contextlib.contextmanager
def checked_indexing(on: bool = True) -> Iterator[None]:
    """Within this block, indexing and gather with index tensors realize the index and raise IndexError for an
    out-of-range value, as numpy does (outside it such an index reads 0). CHECK_INDEX=1 turns it on everywhere."""
    token = _CHECKED.set(on)
    try:
        yield
    finally:
        _CHECKED.reset(token)


def check_index_tensor(op: str, index: Tensor, axis: int, size: int) -> None:
    """In checked mode: raise IndexError naming the op, the axis, the first bad index value and the axis size."""
    if not (_CHECKED.get() or os.environ.get("CHECK_INDEX", "0") == "1") or index.numel() == 0:
        return
    arr = index.numpy()
    bad = (arr < -size) | (arr >= size)
    if bad.any():
        v = int(arr[bad].flat[0])
        raise IndexError(f"{op}: index {v} is out of bounds for axis {axis} with size {size}")


def _norm_axis(axis: int, ndim: int, name: str) -> int:
    if not -ndim <= axis < max(ndim, 1):
        raise IndexError(f"{name}: axis {axis} out of range for a tensor of {ndim} dims")
    return axis % ndim if ndim else 0


def _int_list(args: tuple) -> tuple[int, ...]:
    """Accept f(1, 2, 3) and f((1, 2, 3))."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(int(a) for a in args[0])
    return tuple(int(a) for a in args)


def select_sum(mask: Tensor, x: Tensor, axes: tuple[int, ...]) -> Tensor:
    """Sum of `x` where `mask` holds, over `axes` (exact for every dtype: at most one element is selected)."""
    v = x.cast(dtypes.uint8) if x.dtype == dtypes.bool else x
    out = mask.where(v, 0).sum(axes, dtype=v.dtype)
    return out.cast(x.dtype)


def _same_device(op: str, *tensors: Tensor) -> str:
    from engine.tensor import same_device

    return same_device(op, *tensors)


def _is_index_array(i: Any) -> bool:
    return isinstance(i, (list, np.ndarray, _tensor_cls()))


class MovementMixin:
    """Mixed into Tensor."""

    __slots__ = ()

    # ------------------------------------------------------------------ axes
    def transpose(self: Tensor, a: int = -2, b: int = -1) -> Tensor:
        """Swap axes `a` and `b`."""
        order = list(range(self.ndim))
        a, b = _norm_axis(a, self.ndim, "transpose"), _norm_axis(b, self.ndim, "transpose")
        order[a], order[b] = order[b], order[a]
        return self.permute(order)

    @property
    def T(self: Tensor) -> Tensor:
        """All axes reversed (numpy's `.T`)."""
        return self.permute(tuple(range(self.ndim))[::-1])

    def squeeze(self: Tensor, axis: int | Sequence[int] | None = None) -> Tensor:
        """Remove size-1 axes (all of them, or the given ones, which must have size 1 as in numpy)."""
        if axis is None:
            axes = {i for i, s in enumerate(self.shape) if s == 1}
        else:
            axes = {_norm_axis(a, self.ndim, "squeeze") for a in ((axis,) if isinstance(axis, int) else axis)}
            if any(self.shape[a] != 1 for a in axes):
                raise ValueError(f"squeeze: cannot squeeze axes {sorted(axes)} of shape {self.shape}")
        return self.reshape(tuple(s for i, s in enumerate(self.shape) if i not in axes))

    def unsqueeze(self: Tensor, axis: int) -> Tensor:
        """Insert a size-1 axis at `axis` (negative counts from the end of the result, like torch)."""
        if not -self.ndim - 1 <= axis <= self.ndim:
            raise IndexError(f"unsqueeze: axis {axis} out of range for a tensor of {self.ndim} dims")
        axis = axis % (self.ndim + 1)
        return self.reshape(self.shape[:axis] + (1,) + self.shape[axis:])

    def flatten(self: Tensor, start: int = 0, end: int = -1) -> Tensor:
        """Merge axes start..end (inclusive) into one; a 0-d tensor becomes shape (1,)."""
        if self.ndim == 0:
            return self.reshape(1)
        start, end = _norm_axis(start, self.ndim, "flatten"), _norm_axis(end, self.ndim, "flatten")
        if start > end:
            raise ValueError(f"flatten: start axis {start} is after end axis {end}")
        merged = math.prod(self.shape[start:end + 1])
        return self.reshape(self.shape[:start] + (merged,) + self.shape[end + 1:])

    def unflatten(self: Tensor, axis: int, sizes: Sequence[int]) -> Tensor:
        """Split axis `axis` into `sizes` (one -1 allowed)."""
        axis = _norm_axis(axis, self.ndim, "unflatten")
        sizes = tuple(int(s) for s in sizes)
        if sizes.count(-1) == 1:
            known = math.prod(s for s in sizes if s != -1)
            if known == 0 or self.shape[axis] % known:
                raise ValueError(f"unflatten: cannot split axis of size {self.shape[axis]} into {sizes}")
            sizes = tuple(self.shape[axis] // known if s == -1 else s for s in sizes)
        if math.prod(sizes) != self.shape[axis]:
            raise ValueError(f"unflatten: sizes {sizes} do not multiply to {self.shape[axis]}")
        return self.reshape(self.shape[:axis] + sizes + self.shape[axis + 1:])

    # ------------------------------------------------------------------ tiling
    def repeat(self: Tensor, *repeats: Any) -> Tensor:
        """torch's repeat: tile the tensor `repeats[i]` times along axis i (len(repeats) >= ndim)."""
        reps = _int_list(repeats)
        if len(reps) < self.ndim:
            raise ValueError(f"repeat: {len(reps)} repeats for a tensor of {self.ndim} dims")
        if any(r < 0 for r in reps):
            raise ValueError(f"repeat: negative repeats {reps}")
        t = self.reshape((1,) * (len(reps) - self.ndim) + self.shape)
        interleaved = tuple(x for s in t.shape for x in (1, s))
        grown = tuple(x for r, s in zip(reps, t.shape) for x in (r, s))
        return t.reshape(interleaved).expand(grown).reshape(tuple(r * s for r, s in zip(reps, t.shape)))

    def tile(self: Tensor, reps: int | Sequence[int]) -> Tensor:
        """numpy's tile: like repeat, with `reps` padded with leading 1s when shorter than ndim."""
        r = (int(reps),) if isinstance(reps, int) else tuple(int(x) for x in reps)
        return self.repeat((1,) * (self.ndim - len(r)) + r)

    # ------------------------------------------------------------------ joining and splitting
    @staticmethod
    def cat(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
        """Concatenate along an existing axis (numpy dtype promotion)."""
        if not tensors:
            raise ValueError("cat: need at least one tensor")
        first = tensors[0]
        if first.ndim == 0:
            raise ValueError("cat: zero-dimensional tensors cannot be concatenated")
        _same_device("cat", *tensors)
        axis = _norm_axis(axis, first.ndim, "cat")
        for t in tensors[1:]:
            if t.ndim != first.ndim or any(a != b for i, (a, b) in enumerate(zip(t.shape, first.shape)) if i != axis):
                raise ValueError(f"cat: shape {t.shape} does not match {first.shape} outside axis {axis}")
        dt = functools.reduce(promote, [t.dtype for t in tensors])
        total = sum(t.shape[axis] for t in tensors)
        out: Tensor | None = None
        offset = 0
        for t in tensors:
            n = t.shape[axis]
            if n == 0 and out is not None:
                continue
            pads = [(0, 0)] * t.ndim
            pads[axis] = (offset, total - offset - n)
            part = t.cast(dt).pad(pads)
            if out is None:
                out = part
            else:
                mask = _tensor_cls().ones(t.shape, dtypes.bool, t.device).pad(pads)
                out = mask.where(part, out)
            offset += n
        assert out is not None
        return out

    @staticmethod
    def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
        """Join along a new axis."""
        if not tensors:
            raise ValueError("stack: need at least one tensor")
        shape = tensors[0].shape
        if any(t.shape != shape for t in tensors):
            raise ValueError(f"stack: all shapes must be equal, got {[t.shape for t in tensors]}")
        return MovementMixin.cat([t.unsqueeze(axis) for t in tensors], axis)

    def split(self: Tensor, sizes: int | Sequence[int], axis: int = 0) -> list[Tensor]:
        """torch's split: an int is the size of each piece (the last may be smaller); a list gives every size."""
        if self.ndim == 0:
            raise ValueError("split: cannot split a 0-d tensor")
        axis = _norm_axis(axis, self.ndim, "split")
        n = self.shape[axis]
        if isinstance(sizes, int):
            if sizes <= 0:
                raise ValueError(f"split: piece size must be positive, got {sizes}")
            sizes = [min(sizes, n - i) for i in range(0, n, sizes)] or [0]
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise ValueError(f"split: sizes {list(sizes)} do not add up to {n} (axis {axis})")
        out, start = [], 0
        for s in sizes:
            bounds: list[tuple[int, int] | None] = [None] * self.ndim
            bounds[axis] = (start, start + s)
            out.append(self.shrink(bounds))
            start += s
        return out

    def chunk(self: Tensor, n: int, axis: int = 0) -> list[Tensor]:
        """torch's chunk: at most `n` pieces of ceil(size / n) elements."""
        if n <= 0:
            raise ValueError(f"chunk: number of chunks must be positive, got {n}")
        size = self.shape[_norm_axis(axis, self.ndim, "chunk")]
        return self.split(max(-(-size // n), 1), axis)

    # ------------------------------------------------------------------ gathering
    def gather(self: Tensor, axis: int, index: Tensor) -> Tensor:
        """torch.gather: out[..i..] = self[..index[..i..]..] along `axis` (index has self's ndim); negative indices
        wrap; an out-of-range index reads 0, or raises IndexError inside `engine.checked_indexing()`."""
        T = _tensor_cls()
        index = index if isinstance(index, T) else T(np.asarray(index), device=self.device)
        if index.dtype.is_float or index.dtype == dtypes.bool:
            raise TypeError(f"gather: index must be an integer tensor, got {index.dtype.name}")
        axis = _norm_axis(axis, self.ndim, "gather")
        _same_device("gather", self, index)
        if index.ndim != self.ndim or any(i > s for d, (i, s) in enumerate(zip(index.shape, self.shape)) if d != axis):
            raise ValueError(f"gather: index shape {index.shape} does not fit input shape {self.shape} (axis {axis})")
        size = self.shape[axis]
        check_index_tensor("gather", index, axis, size)
        x = self.shrink([(0, i) if d != axis else None for d, i in enumerate(index.shape)])
        # move the gathered axis to the end, leave a size-1 axis in its place, expand over the index
        x = x.permute([d for d in range(self.ndim) if d != axis] + [axis])
        x = x.reshape(index.shape[:axis] + (1,) + index.shape[axis + 1:] + (size,)).expand(index.shape + (size,))
        idx = (index < 0).where(index + size, index)
        mask = idx.unsqueeze(-1) == arange_buffer(size, self.device)
        return select_sum(mask, x, (self.ndim,)).reshape(index.shape)

    def __getitem__(self: Tensor, index: Any) -> Tensor:
        """numpy indexing: ints, slices (any step), None, Ellipsis, integer arrays/tensors and bool masks.

        An index tensor stays lazy: an out-of-range value in it reads 0, unless `engine.checked_indexing()` is on."""
        T = _tensor_cls()
        items = list(index) if isinstance(index, tuple) else [index]
        for it in items:
            _not_sharded(it, "an index", self.device)
        items = _expand_masks(items, T, self.device)
        if sum(i is Ellipsis for i in items) > 1:
            raise IndexError("an index can only have a single ellipsis")
        used = sum(1 for i in items if i is not None and i is not Ellipsis)
        if used > self.ndim:
            raise IndexError(f"too many indices for a tensor of {self.ndim} dims: {used}")
        if not any(i is Ellipsis for i in items):
            items.append(Ellipsis)
        e = next(k for k, i in enumerate(items) if i is Ellipsis)
        items = items[:e] + [slice(None)] * (self.ndim - used) + items[e + 1:]
        has_adv = any(_is_index_array(i) for i in items)

        # basic indexing: per source axis (start, step, count), ints are dropped afterwards
        spec: list[tuple[int, int, int]] = []
        out_shape: list[int] = []
        adv: list[tuple[int, Tensor]] = []  # (axis in the basic result, index tensor)
        adv_items: list[int] = []  # item positions of advanced indices (ints count when arrays are present)
        first_adv_out = -1
        for k, it in enumerate(items):
            if it is None:
                out_shape.append(1)
                continue
            s = self.shape[len(spec)]
            if isinstance(it, (bool, np.bool_)):
                raise IndexError("indexing with a Python bool is not supported")
            if isinstance(it, (int, np.integer)):
                i = int(it)
                if not -s <= i < s:
                    raise IndexError(f"index {i} is out of bounds for axis {len(spec)} with size {s}")
                spec.append((i % s, 1, 1))
                if has_adv:
                    adv_items.append(k)
                    first_adv_out = len(out_shape) if first_adv_out < 0 else first_adv_out
            elif isinstance(it, slice):
                start, stop, step = it.indices(s)
                n = len(range(start, stop, step))
                spec.append((start, step, n))
                out_shape.append(n)
            elif _is_index_array(it):
                t = _index_tensor(it, s, T, self.device)
                if isinstance(it, T):
                    _same_device("getitem", self, t)
                    check_index_tensor("getitem", t, len(spec), s)
                spec.append((0, 1, s))
                adv.append((len(out_shape), t))
                adv_items.append(k)
                first_adv_out = len(out_shape) if first_adv_out < 0 else first_adv_out
                out_shape.append(s)
            else:
                raise IndexError(f"unsupported index {it!r} of type {type(it).__name__}")
        t = _basic_view(self, spec).reshape(tuple(out_shape))
        if not adv:
            return t
        adjacent = adv_items == list(range(adv_items[0], adv_items[0] + len(adv_items)))
        return _advanced(t, adv, first_adv_out if adjacent else 0)


def _expand_masks(items: list, T: type[Tensor], device: str) -> list:
    """Bool masks (arrays or tensors, realized here) become one integer index array per masked axis."""
    out: list = []
    for it in items:
        arr = None
        if isinstance(it, T) and it.dtype == dtypes.bool:
            arr = it.numpy()
        elif isinstance(it, (list, np.ndarray)) and np.asarray(it).dtype == np.bool_ and np.asarray(it).ndim > 0:
            arr = np.asarray(it)
        if arr is None:
            out.append(it)
        elif arr.ndim == 0:
            raise IndexError("indexing with a 0-d bool mask is not supported")
        else:
            out.extend(np.nonzero(arr))
    return out


def _index_tensor(it: Any, size: int, T: type[Tensor], device: str) -> Tensor:
    """An integer index array as a tensor; static arrays are bounds-checked here, as numpy does."""
    if isinstance(it, T):
        if it.dtype.is_float or it.dtype == dtypes.bool:
            raise IndexError(f"index tensors must be integers, got {it.dtype.name}")
        return it
    arr = np.asarray(it)
    if arr.size == 0:
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise IndexError(f"index arrays must be integers, got {arr.dtype}")
    if arr.size and (arr.min() < -size or arr.max() >= size):
        raise IndexError(f"index out of bounds for axis with size {size}")
    return T(arr.astype(np.int64), device=device)


def _basic_view(x: Tensor, spec: list[tuple[int, int, int]]) -> Tensor:
    """Take elements start, start+step, ... (count of them) of every axis: flip, shrink, then reshape out steps."""
    spec = [(b, st if n > 1 else 1, n) for b, st, n in spec]
    flips = [d for d, (_, step, _) in enumerate(spec) if step < 0]
    spec = [(x.shape[d] - 1 - b, -st, n) if st < 0 else (b, st, n) for d, (b, st, n) in enumerate(spec)]
    x = x.flip(flips) if flips else x
    x = x.shrink([(b, b + (n - 1) * abs(st) + 1) if n > 0 else (0, 0) for b, st, n in spec])
    stepped = [d for d, (_, st, n) in enumerate(spec) if abs(st) > 1 and n > 1]
    if not stepped:
        return x
    x = x.pad([(0, st - 1) if d in stepped else (0, 0) for d, (_, st, _) in enumerate(spec)])
    split = tuple(v for d, (_, st, n) in enumerate(spec) for v in ((n, st) if d in stepped else (x.shape[d],)))
    x = x.reshape(split)
    # each (n, step) pair keeps column 0 of its step axis
    bounds: list[tuple[int, int] | None] = []
    for d in range(len(spec)):
        bounds.extend([None, (0, 1)] if d in stepped else [None])
    return x.shrink(bounds).reshape(tuple(n for _, _, n in spec))


def _advanced(x: Tensor, adv: list[tuple[int, Tensor]], insert_at: int) -> Tensor:
    """numpy advanced indexing of axes `adv` of x; the broadcast index dims go to position `insert_at`."""
    from engine.tensor import _broadcast_shape

    bshape: tuple[int, ...] = ()
    for _, t in adv:
        bshape = _broadcast_shape(bshape, t.shape)
    axes = [a for a, _ in adv]
    rest = [d for d in range(x.ndim) if d not in axes]
    k, nb, nr = len(axes), len(bshape), len(rest)
    xp = x.permute(rest + axes)  # (R..., s_1..s_k)
    xp = xp.reshape((1,) * nb + xp.shape).expand(bshape + xp.shape)
    mask: Tensor | None = None
    for j, (a, t) in enumerate(adv):
        s = x.shape[a]
        idx = (t < 0).where(t + s, t).broadcast_to(bshape)
        shape_j = bshape + (1,) * nr + tuple(s if i == j else 1 for i in range(k))
        ar = arange_buffer(s, x.device).reshape(shape_j[nb:] if nb == 0 else (1,) * nb + shape_j[nb:])
        m = idx.reshape(bshape + (1,) * (nr + k)) == ar
        mask = m if mask is None else mask & m
    assert mask is not None
    out = select_sum(mask, xp, tuple(range(nb + nr, nb + nr + k)))  # (B..., R...)
    order = list(range(nb, nb + insert_at)) + list(range(nb)) + list(range(nb + insert_at, nb + nr))
    return out.permute(order)
