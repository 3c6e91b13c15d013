"""Multi-device tensors: one logical tensor held as one Tensor per device, replicated or split along one axis.

The rule every op here keeps: a MultiTensor's shards, put together in order along its axis (or any one of them, when
it is replicated), are exactly the logical tensor.
  - elementwise ops run per shard once their operands share one layout: a replicated operand is sliced where it is,
    one split otherwise (another axis, other sizes, another device order) is resharded through copies;
  - movement ops keep the split where they can (permute and reshape move the axis, pad grows the end shards, shrink
    cuts each shard, flip reverses the shard order), and reshard to replicated where they cannot;
  - a reduce over the split axis reduces each shard, then all-reduces the partial results (`allreduce`: a ring of
    copies and combines, or the naive gather as the reference), so the result is replicated;
  - anything else raises ShardError naming the op.
Tensor's methods are reused, not written again: `lift` runs a method on placeholder Tensors of the logical shapes
and interprets the UOp graph it builds op by op on the shards. Nothing moves between devices but through COPY.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from engine.buffer import Buffer
from engine.device import canonical_device
from engine.dtype import DType
from engine.shape import Shape
from engine.tensor import ShardError, Tensor, _buffer_uop
from engine.uop import GroupOp, Ops, UOp

ALLREDUCE = "ring"  # the all-reduce reduces over the split axis use: "ring" or "naive"
_PLACEHOLDER = "MULTI"  # the device of placeholder buffers: not a device, so realizing one fails loudly


def even_sizes(n: int, parts: int) -> tuple[int, ...]:
    """`n` split into `parts` sizes as even as possible, the larger ones first."""
    return tuple(n // parts + (1 if i < n % parts else 0) for i in range(parts))


def _bounds(sizes: Sequence[int]) -> list[tuple[int, int]]:
    out, lo = [], 0
    for s in sizes:
        out.append((lo, lo + s))
        lo += s
    return out


class MultiTensor:
    """A logical tensor over several devices: `shards[i]` on `devices[i]`, each all of it (axis None) or the i-th
    piece along `axis`. Supports the Tensor methods that can run sharded (see the module docstring)."""

    __slots__ = ("shards", "axis", "__weakref__")
    __array_ufunc__ = None  # numpy defers to our reflected operators
    is_sharded = True  # a plain Tensor refuses it as data or a constant (ShardError), never reads it as a scalar

    def __init__(self, shards: Sequence[Tensor], axis: int | None):
        if not shards:
            raise ValueError("MultiTensor: needs at least one shard")
        self.shards, self.axis = list(shards), axis
        s0 = shards[0]
        for s in self.shards[1:]:
            same = [d for i, d in enumerate(s.shape) if i != axis] == [d for i, d in enumerate(s0.shape) if i != axis]
            if s.dtype != s0.dtype or s.ndim != s0.ndim or not same:
                raise ValueError(f"MultiTensor: shard {s.shape} {s.dtype.name} does not match {s0.shape} "
                                 f"{s0.dtype.name} (axis {axis})")
        if len(set(self.devices)) != len(self.devices):
            raise ValueError(f"MultiTensor: a device holds two shards: {self.devices}")

    # ------------------------------------------------------------------ layout
    @property
    def devices(self) -> tuple[str, ...]:
        return tuple(s.device for s in self.shards)

    @property
    def device(self) -> tuple[str, ...]:
        return self.devices

    @property
    def sizes(self) -> tuple[int, ...] | None:
        """The pieces' sizes along the axis (None: replicated)."""
        return None if self.axis is None else tuple(s.shape[self.axis] for s in self.shards)

    @property
    def shape(self) -> Shape:
        s = self.shards[0].shape
        if self.axis is None:
            return s
        return s[:self.axis] + (sum(self.sizes or ()),) + s[self.axis + 1:]

    @property
    def dtype(self) -> DType:
        return self.shards[0].dtype

    @property
    def ndim(self) -> int:
        return self.shards[0].ndim

    def numel(self) -> int:
        return math.prod(self.shape)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        how = "replicated" if self.axis is None else f"split on axis {self.axis} as {self.sizes}"
        return f"<MultiTensor {self.shape} {self.dtype.name} on {self.devices}, {how}>"

    def __bool__(self) -> bool:
        raise TypeError("the truth value of a Tensor is ambiguous; use .any() or .all()")

    __hash__ = object.__hash__

    # ------------------------------------------------------------------ realization
    def realize(self) -> MultiTensor:
        """Compute every shard now (one schedule: the kernels per device and the copies between them)."""
        realize_all([self])
        return self

    def schedule(self) -> list[Any]:
        """The kernels and transfers that would compute the shards (nothing runs)."""
        from engine.realize import schedule_tensors

        return schedule_tensors(*self.shards)

    def numpy(self) -> np.ndarray:
        """The logical value: the shards gathered on the first device."""
        self.realize()
        return gather(self, self.devices[0]).numpy()

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def item(self) -> Any:
        if self.numel() != 1:
            raise ValueError(f"item() of a tensor with {self.numel()} elements")
        return self.numpy().reshape(()).item()

    def to(self, device: str) -> Tensor:
        """The logical value as a plain Tensor on `device` (gathered through copies)."""
        return gather(self, canonical_device(device))

    def shard(self, devices: Sequence[str], axis: int | None = None, sizes: Sequence[int] | None = None
              ) -> MultiTensor:
        """Reshard: the same value over `devices`, replicated or split on `axis`."""
        devs = tuple(canonical_device(d) for d in devices)
        ax = None if axis is None else _norm_axis(axis, self.ndim, "shard")
        return with_layout(self, ax, _check_sizes(self.shape, ax, len(devs), sizes), devs)

    def assign(self, x: Any) -> MultiTensor:
        """In-place update of every shard (the value is cast, broadcast and laid out as this tensor)."""
        new = x if isinstance(x, MultiTensor) else None
        if new is None:
            if isinstance(x, Tensor):
                raise ShardError(f"assign: a single-device tensor on {x.device} into one sharded over "
                                 f"{self.devices} (shard it first)")
            new = lift("assign", lambda t: Tensor.full((), x, None, t.device), self)
        new = lift("assign", lambda v: v.cast(self.dtype).broadcast_to(self.shape), new)
        new = with_layout(new, self.axis, self.sizes, self.devices)
        for s, v in zip(self.shards, new.shards):
            s.assign(v)
        return self

    def __setitem__(self, index: Any, value: Any) -> None:
        lift("__setitem__", Tensor.__setitem__, self, index, value)

    def __getattr__(self, name: str) -> Any:
        fn = getattr(Tensor, name, None)
        if fn is None or name.startswith("__"):
            raise AttributeError(f"'MultiTensor' object has no attribute {name!r}")
        if isinstance(fn, property):
            return lift(name, fn.fget, self)  # type: ignore[arg-type]
        if not callable(fn):
            raise ShardError(f"{name}: a sharded tensor has no single {name}")
        return lambda *args, **kwargs: lift(name, fn, self, *args, **kwargs)


def _lifted_method(name: str) -> Callable[..., Any]:
    fn = getattr(Tensor, name)

    def method(self: MultiTensor, *args: Any, **kwargs: Any) -> Any:
        return lift(name, fn, self, *args, **kwargs)

    method.__name__ = name
    return method


for _name in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
              "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__", "__pow__", "__rpow__", "__lt__", "__le__",
              "__gt__", "__ge__", "__eq__", "__ne__", "__and__", "__or__", "__xor__", "__rand__", "__ror__",
              "__rxor__", "__lshift__", "__rshift__", "__invert__", "__neg__", "__abs__", "__matmul__",
              "__rmatmul__", "__getitem__"):
    setattr(MultiTensor, _name, _lifted_method(_name))


class TensorNamespace:
    """`Tensor`'s static methods (cat, stack, einsum, ...) for code that may pass MultiTensors to them."""

    def __getattr__(self, name: str) -> Any:
        fn = getattr(Tensor, name)
        return lambda *args, **kwargs: lift(name, fn, *args, **kwargs)


# ---------------------------------------------------------------------- creating, gathering, resharding


def _norm_axis(axis: int, ndim: int, op: str) -> int:
    if not -ndim <= axis < ndim:
        raise ValueError(f"{op}: axis {axis} out of range for {ndim} dims")
    return axis % ndim


def _check_sizes(shape: Shape, axis: int | None, parts: int, sizes: Sequence[int] | None) -> tuple[int, ...] | None:
    if axis is None:
        if sizes is not None:
            raise ValueError("shard: sizes need an axis to split")
        return None
    if sizes is None:
        return even_sizes(shape[axis], parts)
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) != parts or any(s < 0 for s in sizes) or sum(sizes) != shape[axis]:
        raise ValueError(f"shard: sizes {list(sizes)} must be {parts} non-negative sizes adding up to "
                         f"{shape[axis]} (axis {axis} of {shape})")
    return sizes


def shard(t: Tensor, devices: Sequence[str], axis: int | None = None, sizes: Sequence[int] | None = None
          ) -> MultiTensor:
    """`t` over `devices` (copies): replicated (axis None) or split along `axis` into `sizes` (default even)."""
    devs = tuple(canonical_device(d) for d in devices)
    if not devs or len(set(devs)) != len(devs):
        raise ValueError(f"shard: devices must be distinct and at least one, got {list(devices)}")
    ax = None if axis is None else _norm_axis(axis, t.ndim, "shard")
    sz = _check_sizes(t.shape, ax, len(devs), sizes)
    if ax is None or sz is None:
        return MultiTensor([t.to(d) for d in devs], None)
    return MultiTensor([_piece(t, ax, b).to(d) for d, b in zip(devs, _bounds(sz))], ax)


def _piece(t: Tensor, axis: int, bounds: tuple[int, int]) -> Tensor:
    return t.shrink(tuple(bounds if i == axis else None for i in range(t.ndim)))


def gather(m: MultiTensor, device: str) -> Tensor:
    """The logical value on `device`: the pieces copied there and put together in order."""
    if m.axis is None:
        return m.shards[m.devices.index(device)] if device in m.devices else m.shards[0].to(device)
    pieces = [s.to(device) for s in m.shards if s.shape[m.axis]]
    if not pieces:
        return m.shards[0].to(device)
    return pieces[0] if len(pieces) == 1 else Tensor.cat(pieces, m.axis)


def with_layout(m: MultiTensor, axis: int | None, sizes: Sequence[int] | None, devices: Sequence[str]
                ) -> MultiTensor:
    """`m` laid out over `devices`, replicated or split on `axis` into `sizes`: no copy where `m` already holds
    each piece on its device (it is laid out so, or replicated there), else through a replicated copy."""
    devices = tuple(devices)
    if m.axis == axis and m.devices == devices and (axis is None or m.sizes == tuple(sizes or ())):
        return m
    if m.axis is not None or not set(devices) <= set(m.devices):
        m = MultiTensor([gather(m, d) for d in devices], None)
    full = [m.shards[m.devices.index(d)] for d in devices]
    if axis is None or sizes is None:
        return MultiTensor([Tensor(s.uop, device=s.device) for s in full], None)
    return MultiTensor([_piece(s, axis, b) for s, b in zip(full, _bounds(sizes))], axis)


def realize_all(ms: Sequence[MultiTensor | Tensor]) -> None:
    """Realize several (multi-device) tensors in one schedule; a kernel the same on every device is built once."""
    from engine.realize import program_cache, realize

    with program_cache():
        realize([s for m in ms for s in (m.shards if isinstance(m, MultiTensor) else [m])])


# ---------------------------------------------------------------------- all-reduce


def _combine(a: Tensor, b: Tensor, op: Ops) -> Tensor:
    """a op b with the reduce's own ALU op (MAX's NaN and tie rules as the single-device reduce has them)."""
    return Tensor(UOp(op, a.dtype, (a.uop, b.uop)), device=a.device)


def naive_allreduce(parts: Sequence[Tensor], op: Ops = Ops.ADD) -> list[Tensor]:
    """The reference: every device copies every part and combines them in device order."""
    out = []
    for p in parts:
        acc = parts[0].to(p.device)
        for q in parts[1:]:
            acc = _combine(acc, q.to(p.device), op)
        out.append(acc)
    return out


def ring_allreduce(parts: Sequence[Tensor], op: Ops = Ops.ADD) -> list[Tensor]:
    """Ring all-reduce: each part cut into len(parts) chunks; a reduce-scatter (N-1 steps, device i passing chunk
    i-s to device i+1, which combines it with its own) leaves device i the whole of chunk i+1, an all-gather (N-1
    steps of copies) gives every device every chunk. Each element is combined once, on one device."""
    n, shape = len(parts), parts[0].shape
    numel = math.prod(shape)
    if n == 1 or numel == 0:
        return list(parts)
    chunks = [b for b in _bounds(even_sizes(numel, n))]
    live = [c for c, (lo, hi) in enumerate(chunks) if hi > lo]
    acc = [{c: p.reshape(numel).shrink((chunks[c],)) for c in live} for p in parts]
    devs = [p.device for p in parts]
    for step in range(n - 1):  # reduce-scatter
        sent = {((i + 1) % n, (i - step) % n): acc[i][(i - step) % n].to(devs[(i + 1) % n])
                for i in range(n) if (i - step) % n in acc[i]}
        for (dst, c), x in sent.items():
            acc[dst][c] = _combine(acc[dst][c], x, op)
    for step in range(n - 1):  # all-gather
        sent = {((i + 1) % n, (i + 1 - step) % n): acc[i][(i + 1 - step) % n].to(devs[(i + 1) % n])
                for i in range(n) if (i + 1 - step) % n in acc[i]}
        for (dst, c), x in sent.items():
            acc[dst][c] = x
    return [(Tensor.cat([a[c] for c in live], 0) if len(live) > 1 else a[live[0]]).reshape(shape) for a in acc]


def allreduce(parts: Sequence[Tensor], op: Ops = Ops.ADD, strategy: str | None = None) -> list[Tensor]:
    """Combine same-shaped tensors, one per device, with `op` (ADD, MUL, MAX): the result on each of their devices.
    strategy: "ring" or "naive" (default: ALLREDUCE)."""
    how = strategy or ALLREDUCE
    if how == "ring":
        return ring_allreduce(parts, op)
    if how == "naive":
        return naive_allreduce(parts, op)
    raise ValueError(f"allreduce: unknown strategy {how!r} (ring or naive)")


# ---------------------------------------------------------------------- lifting Tensor methods


def lift(name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run Tensor method `fn` on MultiTensors: each one becomes a placeholder Tensor of its logical shape, `fn`
    builds its UOp graph over those, and the graph is interpreted op by op on the shards. An in-place write to a
    placeholder (setitem) becomes an assign of the sharded value."""
    multis: list[MultiTensor] = []
    _walk(args, kwargs, lambda x: multis.append(x) if isinstance(x, MultiTensor) else None)
    if not multis:
        return fn(*args, **kwargs)
    devices = multis[0].devices
    for m in multis[1:]:
        if set(m.devices) != set(devices):
            raise ShardError(f"{name}: tensors sharded over different devices, {devices} and {m.devices}")
    host = devices[0]
    ph: dict[Buffer, MultiTensor] = {}
    holders: dict[int, tuple[MultiTensor, Tensor]] = {}

    def to_placeholder(m: MultiTensor) -> Tensor:
        if id(m) not in holders:
            buf = Buffer(_PLACEHOLDER, m.dtype, m.numel())
            ph[buf] = m
            holders[id(m)] = (m, Tensor(_buffer_uop(buf, m.shape), device=host))
        return holders[id(m)][1]

    plain: list[Tensor] = []
    _walk(args, kwargs, lambda x: plain.append(x) if isinstance(x, Tensor) else None)
    if plain:
        raise ShardError(f"{name}: mixes a tensor on {plain[0].device} with one sharded over {devices} "
                         f"(shard it, or gather the sharded one with .to(device))")
    cargs, ckwargs = _map(args, to_placeholder), {k: _map(v, to_placeholder) for k, v in kwargs.items()}
    try:
        out = fn(*cargs, **ckwargs)
    except ValueError as e:
        if repr(_PLACEHOLDER) in str(e):
            raise ShardError(f"{name}: needs the values of a sharded tensor while it builds the graph") from e
        raise
    lifter = _Lifter(name, ph, devices)
    for m, t in holders.values():  # an in-place write (setitem, assign) to a placeholder
        if t.uop.op is Ops.ASSIGN:
            m.assign(lifter.run(t.uop.src[1]))
        elif t.uop is not _buffer_uop(next(b for b, x in ph.items() if x is m), m.shape):
            m.assign(lifter.run(t.uop))
    shards = {id(s) for m in multis for s in m.shards}

    def result(t: Tensor) -> MultiTensor:
        r = lifter.run(t.uop)
        # a new shard tensor wherever the op left an input's shard as it was (the whole tensor, or a middle shard of
        # a pad along the sharded axis): an in-place write to the input must not change the result
        if not any(id(s) in shards for s in r.shards):
            return r
        return MultiTensor([Tensor(s.uop, device=s.device) if id(s) in shards else s for s in r.shards], r.axis)

    return _map(out, result, Tensor)


def _walk(args: Any, kwargs: dict[str, Any], visit: Callable[[Any], None]) -> None:
    for a in list(args) + list(kwargs.values()):
        if isinstance(a, (list, tuple)):
            _walk(a, {}, visit)
        else:
            visit(a)


def _map(x: Any, f: Callable[[Any], Any], cls: type = MultiTensor) -> Any:
    if isinstance(x, cls):
        return f(x)
    if isinstance(x, (list, tuple)):
        return type(x)(_map(v, f, cls) for v in x)
    return x


class _Lifter:
    """Interprets a tensor-level UOp graph over placeholders on the shards (one MultiTensor per UOp, memoized)."""

    def __init__(self, name: str, ph: dict[Buffer, MultiTensor], devices: tuple[str, ...]):
        self.name, self.ph, self.devices = name, ph, devices
        self.memo: dict[UOp, MultiTensor] = {}
        self.sharded: dict[UOp, bool] = {}

    def run(self, root: UOp) -> MultiTensor:
        for u in root.toposort:
            if u not in self.sharded:
                self.sharded[u] = (u.op is Ops.BUFFER and u.arg in self.ph) or any(self.sharded[s] for s in u.src)
        if not self.sharded[root]:
            return self._leaf(root)
        for u in root.toposort:
            if self.sharded[u] and u not in self.memo:
                self.memo[u] = self._one(u)
        return self.memo[root]

    def _get(self, u: UOp) -> MultiTensor:
        return self.memo[u] if self.sharded[u] else self._leaf(u)

    def _leaf(self, u: UOp) -> MultiTensor:
        """A value the op made without the sharded inputs: replicated (constants as they are, data through copies)."""
        if u in self.memo:
            return self.memo[u]
        bufs = [x.arg for x in u.toposort if x.op is Ops.BUFFER]
        t = Tensor(u, device=self.devices[0])
        out = MultiTensor([t.to(d) if bufs else Tensor(u, device=d) for d in self.devices], None)
        self.memo[u] = out
        return out

    def _one(self, u: UOp) -> MultiTensor:
        op = u.op
        if op is Ops.BUFFER:
            m = self.ph[u.arg]
            return m if m.ndim == 1 else _reshape(m, (m.numel(),))
        src = self._get(u.src[0]) if u.src else None
        if op is Ops.RESHAPE and u.src[0].op is Ops.BUFFER and u.src[0].arg in self.ph:
            m = self.ph[u.src[0].arg]
            if m.shape == u.arg:
                return m
        if op in GroupOp.ALU or op in (Ops.CAST, Ops.BITCAST, Ops.CONTIGUOUS):
            return _elementwise(u, [self._get(s) for s in u.src])
        assert src is not None
        if op is Ops.RESHAPE:
            return _reshape(src, u.arg)
        if op is Ops.PERMUTE:
            return _per_shard(src, None if src.axis is None else u.arg.index(src.axis),
                              lambda s, i: Tensor(UOp(Ops.PERMUTE, s.dtype, (s.uop,), u.arg), device=s.device))
        if op is Ops.EXPAND:
            return _expand(src, u.arg)
        if op is Ops.PAD:
            return _pad(src, u.arg)
        if op is Ops.SHRINK:
            return _shrink(src, u.arg)
        if op is Ops.FLIP:
            return _flip(src, u.arg)
        if op is Ops.REDUCE_AXIS:
            return _reduce(src, u.arg)
        raise ShardError(f"{self.name}: {op.name} cannot run on a sharded tensor")


# ---------------------------------------------------------------------- per-op layout rules


def _movement(s: Tensor, op: Ops, arg: Any) -> Tensor:
    return Tensor(UOp(op, s.dtype, (s.uop,), arg), device=s.device)


def _per_shard(m: MultiTensor, axis: int | None, f: Callable[[Tensor, int], Tensor]) -> MultiTensor:
    return MultiTensor([f(s, i) for i, s in enumerate(m.shards)], axis)


def _elementwise(u: UOp, srcs: list[MultiTensor]) -> MultiTensor:
    lead = next((s for s in srcs if s.axis is not None), srcs[0])
    aligned = [with_layout(s, lead.axis, lead.sizes, lead.devices) for s in srcs]
    return MultiTensor([Tensor(UOp(u.op, u.dtype, tuple(a.shards[i].uop for a in aligned), u.arg), device=d)
                        for i, d in enumerate(lead.devices)], lead.axis)


def _replicated(m: MultiTensor) -> MultiTensor:
    return with_layout(m, None, None, m.devices)


def reshape_axis(shape: Shape, axis: int, sizes: Sequence[int], new: Shape) -> tuple[int, tuple[int, ...]] | None:
    """Where a split on `axis` of `shape` lands after a reshape to `new`, with the pieces' new sizes: the axis (with
    the dims after it that merge into it) must map onto one new dim, or be split into dims of which only the first
    is cut; None if the reshape mixes the pieces (then the tensor is resharded)."""
    if 0 in shape:
        return None
    pre = math.prod(shape[:axis])
    for b in range(len(new)):
        if math.prod(new[:b]) != pre:
            continue
        for k in range(1, len(shape) - axis + 1):  # shape[axis:axis+k] merge into new[b]
            if math.prod(shape[axis:axis + k]) == new[b]:
                r = math.prod(shape[axis + 1:axis + k])
                return b, tuple(s * r for s in sizes)
        for k in range(2, len(new) - b + 1):  # shape[axis] splits into new[b:b+k]
            if math.prod(new[b:b + k]) == shape[axis]:
                r = math.prod(new[b + 1:b + k])
                if all(s % r == 0 for s in sizes):
                    return b, tuple(s // r for s in sizes)
    return None


def _reshape(m: MultiTensor, new: Shape) -> MultiTensor:
    new = tuple(new)
    if m.axis is not None:
        got = reshape_axis(m.shape, m.axis, m.sizes or (), new)
        if got is not None:
            b, sizes = got
            return MultiTensor([_movement(s, Ops.RESHAPE, new[:b] + (n,) + new[b + 1:])
                                for s, n in zip(m.shards, sizes)], b)
        m = _replicated(m)
    return _per_shard(m, None, lambda s, i: _movement(s, Ops.RESHAPE, new))


def _expand(m: MultiTensor, new: Shape) -> MultiTensor:
    if m.axis is not None and m.shape[m.axis] != new[m.axis]:
        m = _replicated(m)
    a = m.axis
    return _per_shard(m, a, lambda s, i: _movement(s, Ops.EXPAND, tuple(s.shape[d] if d == a else n
                                                                         for d, n in enumerate(new))))


def _pad(m: MultiTensor, arg: tuple) -> MultiTensor:
    a, last = m.axis, len(m.shards) - 1

    def one(s: Tensor, i: int) -> Tensor:
        p = tuple(((b if i == 0 else 0), (e if i == last else 0)) if d == a else (b, e) for d, (b, e) in enumerate(arg))
        return _movement(s, Ops.PAD, p) if any(x for pair in p for x in pair) else s

    return _per_shard(m, a, one)


def _shrink(m: MultiTensor, arg: tuple) -> MultiTensor:
    a = m.axis
    bounds = _bounds(m.sizes or ())

    def one(s: Tensor, i: int) -> Tensor:
        if a is None:
            return _movement(s, Ops.SHRINK, arg)
        lo, hi = bounds[i]
        b, e = arg[a]
        start = min(max(b, lo), hi) - lo
        local = (start, max(min(e, hi) - lo, start))
        return _movement(s, Ops.SHRINK, tuple(local if d == a else x for d, x in enumerate(arg)))

    return _per_shard(m, a, one)


def _flip(m: MultiTensor, axes: tuple) -> MultiTensor:
    out = _per_shard(m, m.axis, lambda s, i: _movement(s, Ops.FLIP, axes))
    if m.axis in axes:  # the pieces come in the other order: shard i holds what the last but i held, flipped
        out = MultiTensor(out.shards[::-1], m.axis)
    return out


def _reduce(m: MultiTensor, arg: tuple) -> MultiTensor:
    op, axes = arg
    red = lambda s: Tensor(UOp(Ops.REDUCE_AXIS, s.dtype, (s.uop,), arg), device=s.device)  # noqa: E731
    if m.axis is None or m.axis not in axes:
        return _per_shard(m, m.axis, lambda s, i: red(s))
    parts = [red(s) for s in m.shards if s.shape[m.axis]] or [red(m.shards[0])]  # an empty piece adds nothing
    done = {p.device: p for p in allreduce(parts, op)}
    first = next(iter(done.values()))
    return MultiTensor([done[d] if d in done else first.to(d) for d in m.devices], None)
