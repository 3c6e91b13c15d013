"""The lazy Tensor: numpy semantics on top of tensor-level UOps, realized by the scheduler into fused kernels.

Nothing runs until `realize()` / `numpy()`; movement ops are views (index arithmetic), never copies.
Dtype promotion is numpy's (engine.dtype.promote) with NEP 50 weak Python scalars: `float32 tensor + 2.5` stays
float32, `int32 tensor + 2.5` becomes float64.
"""

from __future__ import annotations

import math
import weakref
from typing import Any, Sequence

import numpy as np

from engine.buffer import Buffer
from engine.device import canonical_device
from engine.dtype import DType, dtypes, promote, to_dtype
from engine.shape import Shape, check_movement, shape_of
from engine.tensor_ops.elementwise import ElementwiseMixin
from engine.tensor_ops.movement import MovementMixin
from engine.tensor_ops.nn import NNMixin
from engine.tensor_ops.reduce import ReduceMixin
from engine.uop import Ops, UOp

# tensor-level UOps that have been computed: uop -> the BUFFER view holding its value
REALIZED: weakref.WeakKeyDictionary[UOp, UOp] = weakref.WeakKeyDictionary()
# every live tensor by id (an in-place write finds the lazy tensors that read the old contents), and the one pending
# ASSIGN of each buffer by its uid (a second assign realizes the first: writes happen in program order)
_LIVE: weakref.WeakValueDictionary[int, Tensor] = weakref.WeakValueDictionary()
PENDING_ASSIGN: weakref.WeakValueDictionary[int, UOp] = weakref.WeakValueDictionary()


def live_tensors() -> list[Tensor]:
    """The tensors that exist now."""
    return list(_LIVE.values())


def _buffer_uop(buf: Buffer, shape: Shape) -> UOp:
    u = UOp(Ops.BUFFER, buf.dtype, (), buf)
    return u if shape == (buf.size,) else UOp(Ops.RESHAPE, buf.dtype, (u,), tuple(shape))


def _scalar_dtype(x: Any) -> DType:
    if isinstance(x, bool):
        return dtypes.bool
    if isinstance(x, int):
        return dtypes.int64
    return dtypes.float64


def _weak_dtype(t: DType, x: Any) -> DType:
    """The result dtype of tensor dtype `t` with a Python scalar `x` (NEP 50: the scalar is weak)."""
    if isinstance(x, bool):
        return t
    if isinstance(x, int):
        return dtypes.int64 if t == dtypes.bool else t
    return t if t.is_float else dtypes.float64


class Tensor(ElementwiseMixin, ReduceMixin, MovementMixin, NNMixin):
    """A lazy n-dimensional array (core here; the API families in engine/tensor_ops/)."""

    __slots__ = ("uop", "device", "__weakref__")

    def __init__(self, data: Any, dtype: DType | None = None, device: str | None = None):
        self.device = canonical_device(device)
        _LIVE[id(self)] = self
        dtype = None if dtype is None else to_dtype(dtype)
        if isinstance(data, UOp):
            self.uop = data
            return
        if isinstance(data, Tensor):
            if data.device != self.device:  # moving data between devices is an explicit copy, not a relabel
                if device is not None:
                    raise ValueError(f"Tensor: a tensor on {data.device} cannot be put on {self.device} this way")
                self.device = data.device
            self.uop = data.uop if dtype is None else data.cast(dtype).uop
            return
        _not_sharded(data, "data", self.device)
        arr = np.asarray(data) if dtype is None else np.asarray(data, dtype=dtype.np)
        if arr.dtype == object:
            raise TypeError(f"Tensor: cannot make a tensor of {type(data).__name__} data")
        dt = dtypes.from_numpy(arr.dtype)
        buf = Buffer(self.device, dt, max(arr.size, 0))
        if arr.size:
            buf.copyin(arr)
        self.uop = _buffer_uop(buf, tuple(arr.shape))

    # ------------------------------------------------------------------ basics
    @property
    def shape(self) -> Shape:
        return shape_of(self.uop)

    @property
    def dtype(self) -> DType:
        return self.uop.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def numel(self) -> int:
        return math.prod(self.shape)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        return f"<Tensor {self.shape} {self.dtype.name} on {self.device}>"

    def _new(self, u: UOp) -> Tensor:
        return Tensor(u, device=self.device)

    # ------------------------------------------------------------------ realization
    def realize(self) -> Tensor:
        """Compute this tensor (and what it needs) now."""
        from engine.realize import realize

        realize([self])
        return self

    def numpy(self) -> np.ndarray:
        """The value as a numpy array (realizes)."""
        self.realize()
        u = self.uop
        base = u.src[0] if u.op is Ops.RESHAPE else u
        if base.op is not Ops.BUFFER:
            raise RuntimeError(f"realize left a {u.op.name} instead of a buffer")
        return base.arg.numpy().reshape(self.shape)

    def to(self, device: str) -> Tensor:
        """This tensor on `device`: a COPY, run as a transfer between the devices' buffers (same device: a new
        Tensor of the same value)."""
        dev = canonical_device(device)
        if dev == self.device:
            return self._new(self.uop)
        return Tensor(UOp(Ops.COPY, self.dtype, (self.uop,), dev), device=dev)

    def shard(self, devices: Sequence[str], axis: int | None = None, sizes: Sequence[int] | None = None) -> Any:
        """A multi-device tensor (engine.multi.MultiTensor) over `devices`: axis=None copies it to each, an axis
        splits it there into len(devices) pieces (`sizes`, default as even as possible)."""
        from engine.multi import shard

        return shard(self, devices, axis, sizes)

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def item(self) -> Any:
        if self.numel() != 1:
            raise ValueError(f"item() of a tensor with {self.numel()} elements")
        return self.numpy().reshape(()).item()

    def assign(self, x: Any) -> Tensor:
        """In-place update: this tensor now holds `x` (cast to its dtype, broadcast to its shape).

        A tensor held in a buffer keeps that buffer: when realized, the value is written into it (no new buffer;
        a value that reads the buffer elsewhere than where it writes is computed into a temporary first). A lazy
        tensor is rebound to the value. Tensors computed from the old value keep the old value, realized before or
        after this write (engine.realize protects them), as numpy's eager results would.
        """
        from engine.rangeify import assign_target

        new = x if isinstance(x, Tensor) else Tensor.full((), x, None, self.device)  # a scalar is cast, as numpy
        if new.device != self.device:
            raise ValueError(f"assign: a tensor on {new.device} into one on {self.device}")
        new = new.cast(self.dtype).broadcast_to(self.shape)
        if self.uop.op is Ops.ASSIGN:  # the pending write goes first; `new` may read it
            self.realize()
        base = self.uop.src[0] if self.uop.op is Ops.RESHAPE else self.uop
        if base.op is Ops.BUFFER and (pending := PENDING_ASSIGN.get(base.arg.uid)) is not None:
            Tensor(pending, device=self.device).realize()  # another tensor's pending write to this buffer
            base = self.uop.src[0] if self.uop.op is Ops.RESHAPE else self.uop
        if base.op is not Ops.BUFFER or base.arg.size != self.numel():
            self.uop = new.uop
            return self
        self.uop = UOp(Ops.ASSIGN, self.dtype, (self.uop, new.uop))
        PENDING_ASSIGN[assign_target(self.uop).uid] = self.uop
        return self

    def __setitem__(self, index: Any, value: Any) -> None:
        """numpy's item assignment (ints, slices with steps, None, Ellipsis, bool masks, integer arrays; the value
        broadcast to the selection), written in place like `assign`; with repeated integer indices the last wins."""
        from engine.tensor_ops.setitem import assigned_value

        v = value if isinstance(value, Tensor) else Tensor.full((), value, None, self.device)
        if v.device != self.device:
            raise ValueError(f"setitem: a tensor on {v.device} into one on {self.device}")
        new = assigned_value(self, index, v.cast(self.dtype))
        if new is not self:
            self.assign(new)

    # ------------------------------------------------------------------ creation
    @staticmethod
    def full(shape: Sequence[int] | int, value: Any, dtype: DType | None = None, device: str | None = None) -> Tensor:
        """A tensor filled with `value` (a broadcast constant, no memory until realized)."""
        shape = check_shape("full", shape)
        _not_sharded(value, "an operand", device)
        dt = to_dtype(dtype) if dtype is not None else _scalar_dtype(value)
        c = UOp.const(dt, value)
        u = UOp(Ops.RESHAPE, dt, (c,), (1,) * len(shape)) if shape else c
        if shape and any(s != 1 for s in shape):
            u = UOp(Ops.EXPAND, dt, (u,), shape)
        return Tensor(u, device=device)

    @staticmethod
    def zeros(shape: Sequence[int] | int, dtype: DType = dtypes.float32, device: str | None = None) -> Tensor:
        return Tensor.full(check_shape("zeros", shape), 0, dtype, device)

    @staticmethod
    def ones(shape: Sequence[int] | int, dtype: DType = dtypes.float32, device: str | None = None) -> Tensor:
        return Tensor.full(check_shape("ones", shape), 1, dtype, device)

    def _const_like(self, value: Any, dtype: DType | None = None) -> Tensor:
        return Tensor.full(self.shape, value, dtype or self.dtype, self.device)

    # ------------------------------------------------------------------ elementwise
    def _broadcast_pair(self, other: Any, reverse: bool = False) -> tuple[Tensor, Tensor]:
        if isinstance(other, Tensor):
            same_device("elementwise op", self, other)
            dt = promote(self.dtype, other.dtype)
            a, b = self.cast(dt), other.cast(dt)
            shape = _broadcast_shape(a.shape, b.shape)
            a, b = a.broadcast_to(shape), b.broadcast_to(shape)
        else:
            dt = _weak_dtype(self.dtype, other)
            a = self.cast(dt)
            b = a._const_like(other, dt)
        return (b, a) if reverse else (a, b)

    def _binary(self, op: Ops, other: Any, reverse: bool = False, out_dtype: DType | None = None) -> Tensor:
        a, b = self._broadcast_pair(other, reverse)
        return self._new(UOp(op, out_dtype or a.dtype, (a.uop, b.uop)))

    def _unary(self, op: Ops) -> Tensor:
        return self._new(UOp(op, self.dtype, (self.uop,)))

    def _float(self) -> Tensor:
        """Self as a float tensor (ints and bools become the default float, as numpy's ufuncs do)."""
        return self._new(self.uop) if self.dtype.is_float else self.cast(dtypes.float64 if self.dtype.itemsize > 2 else
                                                          _small_int_float(self.dtype))

    def __add__(self, x: Any) -> Tensor: return self._binary(Ops.ADD, x)
    def __radd__(self, x: Any) -> Tensor: return self._binary(Ops.ADD, x, True)
    def __sub__(self, x: Any) -> Tensor: return self._binary(Ops.SUB, x)
    def __rsub__(self, x: Any) -> Tensor: return self._binary(Ops.SUB, x, True)
    def __mul__(self, x: Any) -> Tensor: return self._binary(Ops.MUL, x)
    def __rmul__(self, x: Any) -> Tensor: return self._binary(Ops.MUL, x, True)
    def __neg__(self) -> Tensor: return self._unary(Ops.NEG) if self.dtype != dtypes.bool else self.logical_not()

    def __truediv__(self, x: Any) -> Tensor:
        a, b = self._broadcast_pair(x)
        # numpy's true_divide: ints and bools divide in float64 (unlike its unary float ufuncs, e.g. sqrt(int8))
        dt = a.dtype if a.dtype.is_float else dtypes.float64
        return self._new(UOp(Ops.FDIV, dt, (a.cast(dt).uop, b.cast(dt).uop)))

    def __rtruediv__(self, x: Any) -> Tensor:
        other, me = self._broadcast_pair(x, True)
        return other.__truediv__(me)

    def __floordiv__(self, x: Any) -> Tensor: return _floordiv(*self._broadcast_pair(x))
    def __rfloordiv__(self, x: Any) -> Tensor: return _floordiv(*self._broadcast_pair(x, True))
    def __mod__(self, x: Any) -> Tensor: return _pymod(*self._broadcast_pair(x))
    def __rmod__(self, x: Any) -> Tensor: return _pymod(*self._broadcast_pair(x, True))
    def __pow__(self, x: Any) -> Tensor: return _pow(*self._broadcast_pair(x), exponent=x)
    def __rpow__(self, x: Any) -> Tensor: return _pow(*self._broadcast_pair(x, True))

    def __lt__(self, x: Any) -> Tensor: return self._binary(Ops.CMPLT, x, out_dtype=dtypes.bool)
    def __le__(self, x: Any) -> Tensor: return self._binary(Ops.CMPLE, x, out_dtype=dtypes.bool)
    def __gt__(self, x: Any) -> Tensor: return self._binary(Ops.CMPLT, x, True, out_dtype=dtypes.bool)
    def __ge__(self, x: Any) -> Tensor: return self._binary(Ops.CMPLE, x, True, out_dtype=dtypes.bool)
    def __eq__(self, x: Any) -> Tensor: return self._binary(Ops.CMPEQ, x, out_dtype=dtypes.bool)  # type: ignore
    def __ne__(self, x: Any) -> Tensor: return self._binary(Ops.CMPNE, x, out_dtype=dtypes.bool)  # type: ignore
    __hash__ = object.__hash__

    def __and__(self, x: Any) -> Tensor: return self._bitwise(Ops.AND, x)
    def __or__(self, x: Any) -> Tensor: return self._bitwise(Ops.OR, x)
    def __xor__(self, x: Any) -> Tensor: return self._bitwise(Ops.XOR, x)
    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def __lshift__(self, x: Any) -> Tensor: return self._bitwise(Ops.SHL, x)
    def __rshift__(self, x: Any) -> Tensor: return self._bitwise(Ops.SHR, x)

    def _bitwise(self, op: Ops, x: Any) -> Tensor:
        a, b = self._broadcast_pair(x)
        if a.dtype.is_float:
            raise TypeError(f"{op.name.lower()}: bitwise ops need int or bool tensors, got {a.dtype.name}")
        return self._new(UOp(op, a.dtype, (a.uop, b.uop)))

    def __invert__(self) -> Tensor:
        if self.dtype == dtypes.bool:
            return self.logical_not()
        return self ^ -1

    def __bool__(self) -> bool:
        raise TypeError("the truth value of a Tensor is ambiguous; use .any() or .all()")

    def logical_not(self) -> Tensor:
        b = self.cast(dtypes.bool)
        return self._new(UOp(Ops.CMPNE, dtypes.bool, (b.uop, b._const_like(True).uop)))

    def logical_and(self, x: Any) -> Tensor: return self.cast(dtypes.bool) & _as_bool(x)
    def logical_or(self, x: Any) -> Tensor: return self.cast(dtypes.bool) | _as_bool(x)
    def logical_xor(self, x: Any) -> Tensor: return self.cast(dtypes.bool) ^ _as_bool(x)

    # MAX/MIN return their first operand on a tie; numpy returns the second (maximum(-0.0, 0.0) is 0.0)
    def maximum(self, x: Any) -> Tensor: return self._binary(Ops.MAX, x, True)
    def minimum(self, x: Any) -> Tensor: return self._binary(Ops.MIN, x, True)

    def where(self, a: Any, b: Any) -> Tensor:
        """Elementwise `a if self else b`, broadcasting all three."""
        cond = self.cast(dtypes.bool)
        if isinstance(a, Tensor) and isinstance(b, Tensor):
            dt = promote(a.dtype, b.dtype)
        elif isinstance(a, Tensor):
            dt = _weak_dtype(a.dtype, b)
        elif isinstance(b, Tensor):
            dt = _weak_dtype(b.dtype, a)
        else:
            dt = promote(_scalar_dtype(a), _scalar_dtype(b))
        same_device("where", self, *(t for t in (a, b) if isinstance(t, Tensor)))
        ta = a.cast(dt) if isinstance(a, Tensor) else Tensor.full((), a, dt, self.device)
        tb = b.cast(dt) if isinstance(b, Tensor) else Tensor.full((), b, dt, self.device)
        shape = _broadcast_shape(_broadcast_shape(cond.shape, ta.shape), tb.shape)
        return self._new(UOp(Ops.WHERE, dt, (cond.broadcast_to(shape).uop, ta.broadcast_to(shape).uop,
                                             tb.broadcast_to(shape).uop)))

    def cast(self, dtype: DType | str) -> Tensor:
        dtype = to_dtype(dtype)
        # a no-op still gives a new Tensor: an in-place write to self must not change it (nor any other result)
        return self._new(self.uop if dtype == self.dtype else UOp(Ops.CAST, dtype, (self.uop,)))

    def bitcast(self, dtype: DType | str) -> Tensor:
        dtype = to_dtype(dtype)
        if dtype.itemsize != self.dtype.itemsize:
            raise ValueError(f"bitcast: {self.dtype.name} and {dtype.name} differ in size")
        return self._new(UOp(Ops.BITCAST, dtype, (self.uop,)))

    # ------------------------------------------------------------------ movement (views)
    def _movement(self, op: Ops, arg: tuple) -> Tensor:
        check_movement(op, self.shape, arg)
        return self._new(UOp(op, self.dtype, (self.uop,), arg))

    def reshape(self, *shape: Any) -> Tensor:
        new = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)
        if new.count(-1) > 1:
            raise ValueError(f"reshape: more than one -1 in {new}")
        if any(s < -1 for s in new):
            raise ValueError(f"reshape: negative size in shape {new} (only one -1, to infer, may be negative)")
        if -1 in new:
            known = math.prod(s for s in new if s != -1)
            if known == 0 or self.numel() % known:
                raise ValueError(f"reshape: cannot reshape {self.shape} to {new}")
            new = tuple(self.numel() // known if s == -1 else s for s in new)
        new = tuple(int(s) for s in new)
        if new == self.shape:
            return self._new(self.uop)
        return self._movement(Ops.RESHAPE, new)

    def permute(self, *order: Any) -> Tensor:
        o = tuple(order[0]) if len(order) == 1 and isinstance(order[0], (tuple, list)) else tuple(order)
        o = tuple(_axis(a, self.ndim) for a in o)
        if o == tuple(range(self.ndim)):
            return self._new(self.uop)
        return self._movement(Ops.PERMUTE, o)

    def expand(self, *shape: Any) -> Tensor:
        """torch's expand: size-1 axes grow to `shape` (-1 keeps an axis); new leading axes may be added."""
        new = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)
        if len(new) < self.ndim:
            raise ValueError(f"expand: cannot expand {self.shape} to fewer dims {new}")
        t = self.reshape((1,) * (len(new) - self.ndim) + self.shape) if len(new) > self.ndim else self
        new = tuple(s if s != -1 else o for s, o in zip(new, t.shape))
        if new == t.shape:
            return self._not_self(t)
        return t._movement(Ops.EXPAND, new)

    def broadcast_to(self, shape: Sequence[int]) -> Tensor:
        """numpy's broadcast_to: prepend size-1 dims, then expand."""
        shape = tuple(shape)
        if len(shape) < self.ndim:
            raise ValueError(f"broadcast_to: cannot broadcast {self.shape} to {shape}")
        t = self.reshape((1,) * (len(shape) - self.ndim) + self.shape) if len(shape) > self.ndim else self
        return t.expand(shape)

    def pad(self, padding: Sequence[tuple[int, int]], value: float = 0.0) -> Tensor:
        """Pad each axis with (before, after) elements of `value` (negative amounts shrink)."""
        padding = tuple((int(b), int(a)) for b, a in padding)
        if len(padding) != self.ndim:
            raise ValueError(f"pad: {len(padding)} (before, after) pairs for {self.ndim} axes")
        shrink = tuple((max(-b, 0), s - max(-a, 0)) for (b, a), s in zip(padding, self.shape))
        t = self.shrink(shrink) if any(b < 0 or a < 0 for b, a in padding) else self
        pos = tuple((max(b, 0), max(a, 0)) for b, a in padding)
        if all(p == (0, 0) for p in pos):
            return self._not_self(t)
        out = t._movement(Ops.PAD, pos)
        if value != 0:
            mask = Tensor.ones(t.shape, dtypes.bool, self.device)._movement(Ops.PAD, pos)
            out = mask.where(out, value)
        return out

    def shrink(self, bounds: Sequence[tuple[int, int] | None]) -> Tensor:
        """Keep [start, end) of each axis (None keeps the whole axis)."""
        b = tuple((0, s) if x is None else (int(x[0]), int(x[1])) for x, s in zip(bounds, self.shape))
        if b == tuple((0, s) for s in self.shape):
            return self._new(self.uop)
        return self._movement(Ops.SHRINK, b)

    def flip(self, axis: int | Sequence[int] | None = None) -> Tensor:
        axes = tuple(range(self.ndim)) if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)
        axes = tuple(sorted({_axis(a, self.ndim) for a in axes if self.shape[_axis(a, self.ndim)] > 1}))
        return self._movement(Ops.FLIP, axes) if axes else self._new(self.uop)

    def _not_self(self, t: Tensor) -> Tensor:
        """`t`, or a new Tensor of the same UOp where an op changed nothing and `t` is self: an assign to self must
        not show through a result computed from it."""
        return t if t is not self else self._new(self.uop)

    def contiguous(self) -> Tensor:
        """A copy in a fresh buffer (the one way to force a copy kernel)."""
        return self._new(UOp(Ops.CONTIGUOUS, self.dtype, (self.uop,)))

    # ------------------------------------------------------------------ reductions
    def _reduce(self, op: Ops, axis: int | Sequence[int] | None, keepdim: bool) -> Tensor:
        axes = _axes(axis, self.ndim)
        if op is Ops.MAX and any(self.shape[a] == 0 for a in axes):
            raise ValueError(f"{op.name.lower()} reduction of an empty axis has no identity")
        t = self
        if axes and any(self.shape[a] != 1 for a in axes):
            t = self._new(UOp(Ops.REDUCE_AXIS, self.dtype, (self.uop,), (op, axes)))
        if keepdim:  # over size-1 axes only: t is self
            return self._not_self(t)
        return t.reshape(tuple(s for i, s in enumerate(t.shape) if i not in axes))

    def sum(self, axis: int | Sequence[int] | None = None, keepdim: bool = False,
            dtype: DType | None = None) -> Tensor:
        """Sum, accumulating in numpy's dtype (bools and small ints in int64, uints in uint64); half-width floats
        (float16, bfloat16, fp8) accumulate in float32 and round once, as numpy's float16 sum does."""
        if dtype is None and self.dtype in _HALF_FLOATS:
            return self.cast(dtypes.float32)._reduce(Ops.ADD, axis, keepdim).cast(self.dtype)
        return self.cast(dtype or _sum_dtype(self.dtype))._reduce(Ops.ADD, axis, keepdim)

    def prod(self, axis: int | Sequence[int] | None = None, keepdim: bool = False,
             dtype: DType | None = None) -> Tensor:
        """Product in numpy's sum dtype; half-width floats multiply in float32 and round once."""
        if dtype is None and self.dtype in _HALF_FLOATS:
            return self.cast(dtypes.float32)._reduce(Ops.MUL, axis, keepdim).cast(self.dtype)
        return self.cast(dtype or _sum_dtype(self.dtype))._reduce(Ops.MUL, axis, keepdim)

    def max(self, axis: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        return self._reduce(Ops.MAX, axis, keepdim)

    def min(self, axis: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        if self.dtype == dtypes.bool:
            return self.logical_not().max(axis, keepdim).logical_not()
        if self.dtype.kind in "iu":  # ~max(~x): ~x = -1 - x flips the order of every int (-x wraps at the minimum)
            return (self ^ -1).max(axis, keepdim) ^ -1
        return (-self).max(axis, keepdim).__neg__()


_HALF_FLOATS = (dtypes.float16, dtypes.bfloat16, dtypes.float8_e4m3fn, dtypes.float8_e5m2)


def _small_int_float(dt: DType) -> DType:
    # numpy: int8/uint8/bool -> float16, int16 -> float32 (as in np.sqrt)
    return dtypes.float16 if dt.itemsize == 1 else dtypes.float32


def _sum_dtype(dt: DType) -> DType:
    if dt == dtypes.bool or (dt.kind == "i" and dt.itemsize < 8):
        return dtypes.int64
    if dt.kind == "u" and dt.itemsize < 8:
        return dtypes.uint64
    return dt


def _as_bool(x: Any) -> Any:
    """A logical op's other operand: a tensor cast to bool (a sharded one too: the op's `_not_sharded` then refuses it
    as it does for every binary op), a Python value made a bool."""
    return x.cast(dtypes.bool) if isinstance(x, Tensor) or getattr(x, "is_sharded", False) else bool(x)


def _axis(a: int, n: int) -> int:
    if not -n <= a < max(n, 1):
        raise ValueError(f"axis {a} out of range for {n} dims")
    return a % n if n else 0


def _axes(axis: int | Sequence[int] | None, n: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(n))
    if isinstance(axis, int):
        axis = (axis,)
    out = tuple(sorted({_axis(a, n) for a in axis}))
    if len(out) != len(tuple(axis)):
        raise ValueError(f"repeated axis in {tuple(axis)}")
    return out


def check_shape(op: str, shape: Sequence[int] | int) -> Shape:
    """A creation shape as a tuple of non-negative ints; ValueError/TypeError naming `op` and the bad size."""
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    for s in shape:
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(f"{op}: shape {shape} has a size that is not an int: {s!r}")
        if s < 0:
            raise ValueError(f"{op}: negative size {s} in shape {shape}")
    return tuple(int(s) for s in shape)


class ShardError(NotImplementedError):
    """An op that cannot run on a sharded tensor (the message names it; engine.multi raises it)."""


def _not_sharded(x: Any, what: str, device: str | None) -> None:
    """ShardError where a sharded tensor (engine.multi.MultiTensor) is given as data or as a constant: a plain
    tensor's operand, which an elementwise op, where or matmul would otherwise read as a scalar or an array."""
    if getattr(x, "is_sharded", False):
        raise ShardError(f"a tensor on {device} cannot take one sharded over {x.device} as {what} (shard it, or "
                         f"gather the sharded one with .to(device))")


def same_device(op: str, *tensors: Tensor) -> str:
    """The one device of `tensors`; ValueError naming both where two differ (no implicit copies between devices)."""
    dev = tensors[0].device
    for t in tensors[1:]:
        if t.device != dev:
            raise ValueError(f"{op}: tensors on different devices, {dev} and {t.device} (an op cannot mix devices)")
    return dev


def _broadcast_shape(a: Shape, b: Shape) -> Shape:
    n = max(len(a), len(b))
    a2, b2 = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    out = []
    for x, y in zip(a2, b2):
        if x != y and x != 1 and y != 1:
            raise ValueError(f"shapes {a} and {b} do not broadcast")
        out.append(y if x == 1 else x)
    return tuple(out)


def _floordiv(a: Tensor, b: Tensor) -> Tensor:
    """numpy's floor division: floor toward -inf (from C's truncating IDIV for ints)."""
    if a.dtype.is_float:
        q = a / b
        t = q._unary(Ops.TRUNC)
        return (q < t).where(t - 1, t)  # trunc - 1 where the quotient is negative and not whole: floor
    q = a._new(UOp(Ops.IDIV, a.dtype, (a.uop, b.uop)))
    if a.dtype.is_unsigned:
        return q
    r = a._new(UOp(Ops.MOD, a.dtype, (a.uop, b.uop)))
    adjust = (r != 0) & ((r < 0) ^ (b < 0))
    return adjust.where(q - 1, q)


def _pymod(a: Tensor, b: Tensor) -> Tensor:
    """numpy's remainder: the sign of the divisor. Floats narrower than float64 are computed in float64 and rounded
    once: in their own dtype the quotient's rounding loses the remainder (float16 11488 % 1.701 gave 0, numpy 1.6875;
    in float64 it is exact for 16-bit floats)."""
    if a.dtype.is_float and a.dtype.itemsize < 8:
        return _pymod(a.cast(dtypes.float64), b.cast(dtypes.float64)).cast(a.dtype)
    if a.dtype.is_float:
        return a - _floordiv(a, b) * b
    r = a._new(UOp(Ops.MOD, a.dtype, (a.uop, b.uop)))
    if a.dtype.is_unsigned:
        return r
    adjust = (r != 0) & ((r < 0) ^ (b < 0))
    return adjust.where(r + b, r)


def _pow(a: Tensor, b: Tensor, exponent: Any = None) -> Tensor:
    """Floats: POW. Ints: exact, wrapping as numpy's integer power, by square-and-multiply (a negative exponent
    gives 0 here, where numpy raises); bool ** bool is int8 in numpy. A Python int exponent is unrolled; a tensor
    exponent walks its bits in one fused kernel."""
    if a.dtype.is_float:
        return a._new(UOp(Ops.POW, a.dtype, (a.uop, b.uop)))
    if a.dtype == dtypes.bool:
        a, b = a.cast(dtypes.int8), b.cast(dtypes.int8)
    if isinstance(exponent, (int, np.integer)) and not isinstance(exponent, bool):
        if exponent < 0:
            return a._const_like(0)
        out: Tensor | None = None
        base, e = a, int(exponent)
        while e:
            if e & 1:
                out = base if out is None else out * base
            e >>= 1
            if e:
                base = base * base
        return out if out is not None else a._const_like(1)
    out_t, base = a._const_like(1), a
    for bit in range(a.dtype.bits - (0 if a.dtype.is_unsigned else 1)):
        out_t = ((b >> bit) & 1).cast(dtypes.bool).where(out_t * base, out_t)
        base = base * base
    return (b < 0).where(0, out_t) if not a.dtype.is_unsigned else out_t
