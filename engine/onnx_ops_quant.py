"""ONNX handlers for integer and quantized compute: QuantizeLinear, DequantizeLinear, BitCast, DynamicQuantizeLinear,
QLinearMatMul, MatMulInteger's convolution sibling ConvInteger, and QLinearConv.

Registered into engine.onnx_ops.OPS when engine.onnx imports this module; same handler contract as there. Rounding
is to nearest, ties to even, then saturation to the output type (the spec's rule for every quantizing op).
"""

from __future__ import annotations

from engine.dtype import DType, dtypes
from engine.onnx_ops import NARROW, OPS, Attrs, Inputs, Node, _ax, _cast_narrow, _cast_to, _full, engine_dtype, op
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
    return _requantize(acc, mult, y_zp)


def _requantize(acc: Tensor, mult: Tensor, zp: Tensor) -> Tensor:
    """An int32 accumulator to the output type: round acc * mult (ties to even), then add the zero point and
    saturate, as QuantizeLinear does (rounding after the zero point moved a .5 tie by one where it is odd)."""
    return _saturate((acc.cast(dtypes.float32) * mult).round() + zp.cast(dtypes.float32), zp.dtype)


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
    return _requantize(acc, mult, yz)


# ---------------------------------------------------------------------------------------------- quantization
def _per_axis(s: Tensor, x: Tensor, attrs: Attrs) -> Tensor:
    if s.ndim == 0 or s.numel() == 1 and not attrs.get("block_size", 0):
        return s.reshape(())
    a = _ax(attrs.get("axis", 1), x.ndim)
    bs = attrs.get("block_size", 0)
    if bs:
        s = s.reshape(s.shape[:a + 1] + (1,) + s.shape[a + 1:])
        s = s.expand(s.shape[:a + 1] + (bs,) + s.shape[a + 2:])
        s = s.reshape(s.shape[:a] + (s.shape[a] * bs,) + s.shape[a + 2:])
        return s.shrink([(0, x.shape[a]) if i == a else None for i in range(x.ndim)])
    if s.ndim == 1:
        return s.reshape(tuple(-1 if i == a else 1 for i in range(x.ndim)))
    return s


@op("QuantizeLinear")
def _quantize(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x, scale = inp[0], inp[1]
    zp = inp[2] if len(inp) > 2 else None
    nt = node.narrow_in(2) if zp is not None else NARROW.get(attrs.get("output_dtype", 0))
    if nt is not None and nt.is_float:
        y = x.cast(dtypes.float32) / _per_axis(scale, x, attrs).cast(dtypes.float32)
        if zp is not None:
            y = y + _per_axis(zp, x, attrs).cast(dtypes.float32)
        return _cast_narrow(y, nt, attrs.get("saturate", 1))
    if nt is not None:
        y = (x.cast(dtypes.float32) / _per_axis(scale, x, attrs).cast(dtypes.float32)).round()
        if zp is not None:
            y = y + _per_axis(zp, x, attrs).cast(dtypes.float32)
        return y.clip(_full(y, float(nt.lo)), _full(y, float(nt.hi))).cast(nt.storage)
    if zp is not None:
        dt = zp.dtype
    elif attrs.get("output_dtype"):
        dt = engine_dtype(attrs["output_dtype"], "QuantizeLinear output_dtype")
    else:
        dt = dtypes.uint8
    s = _per_axis(scale, x, attrs)
    xf = x.cast(dtypes.float32) if x.dtype != dtypes.float64 else x
    y = xf / s.cast(xf.dtype)
    if dt.is_float:
        if zp is not None:
            y = y + _per_axis(zp, x, attrs).cast(xf.dtype)
        return _cast_to(y, dt, attrs.get("saturate", 1))
    y = y.round()
    if zp is not None:
        y = y + _per_axis(zp, x, attrs).cast(xf.dtype)
    return y.clip(_full(y, float(dt.min)), _full(y, float(dt.max))).cast(dt)


@op("DequantizeLinear")
def _dequantize(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x, scale = inp[0], inp[1]
    zp = inp[2] if len(inp) > 2 else None
    s = _per_axis(scale, x, attrs)
    wide = dtypes.float32
    xf = x.cast(wide)
    if zp is not None:
        xf = xf - _per_axis(zp, x, attrs).cast(wide)
    out_dt = engine_dtype(attrs["output_dtype"], "output_dtype") if attrs.get("output_dtype") else scale.dtype
    return (xf * s.cast(wide)).cast(out_dt)
