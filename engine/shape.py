"""Shapes of tensor-level UOps: each op's shape rule, stated once.

Movement-op args: RESHAPE new shape; PERMUTE axis order; EXPAND new shape (only size-1 dims grow);
PAD ((before, after), ...); SHRINK ((start, end), ...); FLIP tuple of flipped axes.
REDUCE_AXIS arg (op, axes) keeps reduced dims with size 1. BUFFER arg is a `Buffer` (shape (size,)).
"""

from __future__ import annotations

import math

from engine.uop import GroupOp, Ops, UOp

Shape = tuple[int, ...]


def _shape_rule(u: UOp) -> Shape:
    op, arg = u.op, u.arg
    if op is Ops.BUFFER:
        return (arg.size,)
    if op in (Ops.CONST, Ops.DEFINE_VAR):
        return ()
    src = [s.__dict__["_shape"] for s in u.src]
    if op in (Ops.RESHAPE, Ops.EXPAND):
        return tuple(arg)
    if op is Ops.PERMUTE:
        return tuple(src[0][i] for i in arg)
    if op is Ops.PAD:
        return tuple(s + b + a for s, (b, a) in zip(src[0], arg))
    if op is Ops.SHRINK:
        return tuple(e - b for b, e in arg)
    if op is Ops.REDUCE_AXIS:
        return tuple(1 if i in arg[1] else s for i, s in enumerate(src[0]))
    if op in GroupOp.ALU or op in (Ops.CAST, Ops.BITCAST, Ops.FLIP, Ops.CONTIGUOUS, Ops.COPY, Ops.ASSIGN):
        return src[0] if op is not Ops.WHERE else src[1]
    if op is Ops.SINK:
        return ()
    raise ValueError(f"no shape rule for tensor-level op {op.name}")


def shape_of(u: UOp) -> Shape:
    """The shape of a tensor-level UOp (cached on the UOp)."""
    return u._fill("_shape", _shape_rule)


def check_movement(op: Ops, shape: Shape, arg: tuple) -> None:
    """Raise a clear ValueError if a movement op's argument does not fit the input shape."""
    n = len(shape)
    if op is Ops.RESHAPE:
        if any(s < 0 for s in arg) or math.prod(arg) != math.prod(shape):
            raise ValueError(f"reshape: cannot reshape {shape} ({math.prod(shape)} elements) to {arg}")
    elif op is Ops.PERMUTE:
        if sorted(arg) != list(range(n)):
            raise ValueError(f"permute: {arg} is not a permutation of {n} axes")
    elif op is Ops.EXPAND:
        if len(arg) != n or any(s != a and s != 1 for s, a in zip(shape, arg)):
            raise ValueError(f"expand: cannot expand {shape} to {arg}")
    elif op is Ops.PAD:
        if len(arg) != n or any(b < 0 or a < 0 for b, a in arg):
            raise ValueError(f"pad: padding {arg} does not fit shape {shape} (non-negative, one pair per axis)")
    elif op is Ops.SHRINK:
        if len(arg) != n or any(not (0 <= b <= e <= s) for (b, e), s in zip(arg, shape)):
            raise ValueError(f"shrink: bounds {arg} do not fit shape {shape}")
    elif op is Ops.FLIP:
        if any(not 0 <= a < n for a in arg):
            raise ValueError(f"flip: axes {arg} out of range for {n} dims")
