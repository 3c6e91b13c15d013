"""ONNX handlers for integer and quantized compute: BitCast, DynamicQuantizeLinear, QLinearMatMul, MatMulInteger's
convolution sibling ConvInteger, and QLinearConv.

Registered into engine.onnx_ops.OPS when engine.onnx imports this module; same handler contract as there. Rounding
is to nearest, ties to even, then saturation to the output type (the spec's rule for every quantizing op).
"""

from __future__ import annotations

from engine.dtype import DType, dtypes
from engine.onnx_ops import OPS, Attrs, Inputs, Node, _full, engine_dtype, op
from engine.tensor import Tensor


def _opt(inp: Inputs, i: int) -> Tensor | None:
    return inp[i] if len(inp) > i else None


def _saturate(y: Tensor, dt: DType) -> Tensor:
    """Round half to even, clip to dt's range, cast."""
    y = y.round()
    return y.clip(_full(y, float(dt.min)), _full(y, float(dt.max))).cast(dt)


def _centered(x: Tensor, zp: Tensor | None, rows: bool = False) -> Tensor:
    """x - zero_point in int32 (a per-row zero point of a matrix's left operand becomes a column)."""
    xi = x.cast(dtypes.int32)
    if zp is None:
        return xi
    z = zp.cast(dtypes.int32)
    if rows and z.ndim == 1 and z.shape[0] > 1:
        z = z.reshape(-1, 1)
    return xi - z


@op("BitCast")
def _bitcast(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x, dt = inp[0], engine_dtype(attrs["to"], "BitCast target")
    if x.dtype == dtypes.bool:  # bool is one byte of 0 or 1
        x = x.cast(dtypes.uint8)
    if dt == dtypes.bool:
        return x.bitcast(dtypes.uint8) != _full(x.bitcast(dtypes.uint8), 0)
    return x.bitcast(dt)


@op("DynamicQuantizeLinear")
def _dynamic_quantize(inp: Inputs, attrs: Attrs, node: Node) -> list[Tensor]:
    x = inp[0]
    lo = x.min().minimum(_full(x, 0.0))
    hi = x.max().maximum(_full(x, 0.0))
    scale = (hi - lo) / 255.0
    safe = (scale == _full(scale, 0.0)).where(_full(scale, 1.0), scale)
    zp = _saturate(-lo / safe, dtypes.uint8)
    y = _saturate((x / safe).round() + zp.cast(x.dtype), dtypes.uint8)
    return [y, scale, zp]


@op("QLinearMatMul")
def _qlinear_matmul(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    a, a_s, a_zp, b, b_s, b_zp, y_s, y_zp = inp[:8]
    acc = _centered(a, a_zp, rows=True).matmul(_centered(b, b_zp))
    sa = a_s.cast(dtypes.float32)
    sa = sa.reshape(-1, 1) if sa.ndim == 1 and sa.shape[0] > 1 else sa
    mult = sa * b_s.cast(dtypes.float32) / y_s.cast(dtypes.float32)
    return _saturate(acc.cast(dtypes.float32) * mult + y_zp.cast(dtypes.float32), y_zp.dtype)


@op("ConvInteger")
def _conv_integer(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x, w = inp[0], inp[1]
    xz, wz = _opt(inp, 2), _opt(inp, 3)
    wc = _centered(w, None if wz is None else _per_channel(wz, w.ndim))
    return OPS["Conv"]([_centered(x, xz), wc], attrs, node)


def _per_channel(t: Tensor, ndim: int) -> Tensor:
    return t.reshape((-1,) + (1,) * (ndim - 1)) if t.ndim == 1 and t.shape[0] > 1 else t


@op("QLinearConv")
def _qlinear_conv(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x, xs, xz, w, ws, wz, ys, yz = inp[:8]
    bias = _opt(inp, 8)
    acc = OPS["Conv"]([_centered(x, xz), _centered(w, _per_channel(wz, w.ndim))] + ([bias] if bias is not None
                                                                                      else []), attrs, node)
    wsf = ws.cast(dtypes.float32)
    if wsf.ndim == 1 and wsf.shape[0] > 1:
        wsf = wsf.reshape((1, -1) + (1,) * (x.ndim - 2))
    mult = xs.cast(dtypes.float32) * wsf / ys.cast(dtypes.float32)
    return _saturate(acc.cast(dtypes.float32) * mult + yz.cast(dtypes.float32), yz.dtype)
