"""The ONNX op handlers of the importer (engine/onnx.py): `OPS[op_type](inputs, attrs, node) -> outputs`.

A handler receives the node's input tensors (None for an omitted optional input), its attributes with the schema's
defaults applied, and a `Node` (op type, the model's opset, the device of the run, how many outputs the node names);
it returns one Tensor or a list. Compute is engine Tensor code; `static(t)` reads a value an op needs as static data
(a shape, pads, k), which costs no kernel for initializers, Constant outputs, graph inputs and Shape results. A
handler raises ValueError/TypeError/IndexError/NotImplementedError for a bad model or input, which the runner turns
into an OnnxImportError naming the node.
"""

from __future__ import annotations

import math
import weakref
from typing import Any, Callable, Sequence

import numpy as np
from onnx import TensorProto

from engine.codegen.heuristic import BLOCKS
from engine.dtype import DType, dtypes
from engine.tensor import Tensor
from engine.tensor_ops.elementwise import _log1p_small, _poly
from engine.tensor_ops.nn import _windows
from engine.uop import Ops, UOp


class OnnxImportError(ValueError):
    """A model or input the importer cannot run; the message names the file, node and op type."""


Inputs = list[Any]
Attrs = dict[str, Any]


class Node:
    """What a handler may know about the node it runs: op type, the model's opset, the device, its output count,
    and `run_graph(graph, inputs) -> outputs`, which runs a subgraph attribute (If, Loop, Scan) in the node's scope."""

    __slots__ = ("op_type", "opset", "device", "n_outputs", "run_graph", "narrow")

    def __init__(self, op_type: str, opset: int, device: str, n_outputs: int = 1,
                 run_graph: Callable[[Any, list[Tensor]], list[Tensor]] | None = None,
                 narrow: list[Any] | None = None):
        self.op_type, self.opset, self.device, self.n_outputs = op_type, opset, device, n_outputs
        self.run_graph = run_graph
        self.narrow = narrow or []  # per input: its sub-byte type (a Narrow) or None

    def narrow_in(self, i: int) -> Any:
        return self.narrow[i] if i < len(self.narrow) else None


OPS: dict[str, Callable[[Inputs, Attrs, Node], Any]] = {}

_ONNX_DTYPES: dict[int, DType] = {
    TensorProto.FLOAT: dtypes.float32, TensorProto.DOUBLE: dtypes.float64, TensorProto.FLOAT16: dtypes.float16,
    TensorProto.BFLOAT16: dtypes.bfloat16, TensorProto.INT8: dtypes.int8, TensorProto.INT16: dtypes.int16,
    TensorProto.INT32: dtypes.int32, TensorProto.INT64: dtypes.int64, TensorProto.UINT8: dtypes.uint8,
    TensorProto.UINT16: dtypes.uint16, TensorProto.UINT32: dtypes.uint32, TensorProto.UINT64: dtypes.uint64,
    TensorProto.BOOL: dtypes.bool, TensorProto.FLOAT8E4M3FN: dtypes.float8_e4m3fn,
    TensorProto.FLOAT8E5M2: dtypes.float8_e5m2,
}


def onnx_elem_type(dt: DType) -> int:
    """The ONNX element type of an engine dtype."""
    return next(code for code, d in _ONNX_DTYPES.items() if d == dt)


def engine_dtype(elem_type: int, what: str) -> DType:
    """The engine dtype of an ONNX element type; OnnxImportError naming `what` for one the engine lacks."""
    dt = _ONNX_DTYPES.get(int(elem_type))
    if dt is None:
        name = TensorProto.DataType.Name(elem_type) if elem_type in TensorProto.DataType.values() else elem_type
        raise OnnxImportError(f"{what} has dtype {name}, which the engine does not have")
    return dt


class Narrow:
    """An element type the engine has no dtype for, held widened in `storage`: the sub-byte integers (int4, uint4,
    int2, uint2; range lo..hi) and small floats (float4e2m1 and the FNUZ float8s: `m` mantissa bits, smallest
    normal exponent `emin`, largest finite `maxv`, whether it has a NaN). Only ops that keep values on the type's
    grid (casts, quantization, movement) may read them (engine.onnx.NARROW_OK)."""

    def __init__(self, name: str, storage: DType, np_dtype: Any, lo: float, hi: float, m: int = 0, emin: int = 0,
                 has_nan: bool = False):
        self.name, self.storage, self.np, self.lo, self.hi = name, storage, np.dtype(np_dtype), lo, hi
        self.m, self.emin, self.has_nan = m, emin, has_nan

    @property
    def is_float(self) -> bool:
        return self.storage.is_float


def _narrow_types() -> dict[int, Narrow]:
    import ml_dtypes

    out = {}
    for name, storage, lo, hi in (("INT4", dtypes.int8, -8, 7), ("UINT4", dtypes.uint8, 0, 15),
                                  ("INT2", dtypes.int8, -2, 1), ("UINT2", dtypes.uint8, 0, 3)):
        code, npt = getattr(TensorProto, name, None), getattr(ml_dtypes, name.lower(), None)
        if code is not None and npt is not None:  # INT2/UINT2 need onnx >= 1.20 and ml_dtypes >= 0.5
            out[code] = Narrow(name, storage, npt, lo, hi)
    for name, npname, m, emin, maxv, has_nan in (("FLOAT8E4M3FNUZ", "float8_e4m3fnuz", 3, -7, 240.0, True),
                                                 ("FLOAT8E5M2FNUZ", "float8_e5m2fnuz", 2, -15, 57344.0, True),
                                                 ("FLOAT4E2M1", "float4_e2m1fn", 1, 0, 6.0, False)):
        code, npt = getattr(TensorProto, name, None), getattr(ml_dtypes, npname, None)
        if code is not None and npt is not None:
            out[code] = Narrow(name, dtypes.float32, npt, -maxv, maxv, m, emin, has_nan)
    code, npt = getattr(TensorProto, "FLOAT8E8M0", None), getattr(ml_dtypes, "float8_e8m0fnu", None)
    if code is not None and npt is not None:  # powers of two 2**-127 .. 2**127 and NaN: an exponent byte
        out[code] = Narrow("FLOAT8E8M0", dtypes.float32, npt, 2.0 ** -127, 2.0 ** 127, 0, -127, True)
    return out


NARROW: dict[int, Narrow] = _narrow_types()


def value_dtype(elem_type: int, what: str) -> tuple[DType, np.dtype, Narrow | None]:
    """The engine dtype values of an ONNX element type live in, the numpy dtype they come and go as, and the
    sub-byte type if it is one; OnnxImportError naming `what` for a type the engine cannot hold."""
    nt = NARROW.get(int(elem_type))
    if nt is not None:
        return nt.storage, nt.np, nt
    dt = engine_dtype(elem_type, what)
    return dt, dt.np, None


# numpy values of tensors known without running a kernel, by their (interned) UOp
_STATIC: weakref.WeakKeyDictionary[UOp, np.ndarray] = weakref.WeakKeyDictionary()


def register_static(t: Tensor, arr: np.ndarray) -> Tensor:
    """Remember that `t` holds `arr` (so `static(t)` needs no kernel)."""
    _STATIC[t.uop] = arr
    return t


def static(t: Tensor | None) -> np.ndarray | None:
    """The value of `t` as numpy: known ones directly, others realized."""
    if t is None:
        return None
    v = _STATIC.get(t.uop)
    if v is None:
        v = t.numpy()
        _STATIC[t.uop] = v
    return v


def const(arr: Any, device: str, dtype: DType | None = None) -> Tensor:
    """A tensor holding the numpy value `arr` (remembered as static)."""
    a = np.asarray(arr, dtype=None if dtype is None else dtype.np)
    return register_static(Tensor(a, device=device), a)


def _ints(t: Tensor | None) -> list[int] | None:
    v = static(t)
    return None if v is None else [int(x) for x in np.asarray(v).reshape(-1)]


def _scalar(t: Tensor | None, default: Any = None) -> Any:
    v = static(t)
    return default if v is None else np.asarray(v).reshape(-1)[0].item()


def _full(like: Tensor, value: Any, dtype: DType | None = None) -> Tensor:
    return Tensor.full((), value, dtype or like.dtype, like.device)


def _ax(a: int, n: int, what: str = "axis") -> int:
    if not -n <= a < max(n, 1):
        raise ValueError(f"{what} {a} out of range for rank {n}")
    return a % n if n else 0


def op_key(domain: str, op_type: str) -> str:
    """The OPS key of an operator: its name in the default domain, `domain:name` in another."""
    return op_type if domain in ("", "ai.onnx") else f"{domain}:{op_type}"


def op(*names: str) -> Callable:
    def deco(fn: Callable) -> Callable:
        for n in names:
            OPS[n] = fn
        return fn
    return deco


def _require(inputs: Inputs, n: int) -> None:
    for i in range(n):
        if i >= len(inputs) or inputs[i] is None:
            raise ValueError(f"required input #{i} is missing")


# ---------------------------------------------------------------------------------------------- elementwise binary
def _binary(fn: Callable[[Tensor, Tensor], Tensor]) -> Callable:
    def handler(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
        _require(inp, 2)
        a, b = inp[0], inp[1]
        if a.dtype != b.dtype:
            raise TypeError(f"inputs have different dtypes {a.dtype.name} and {b.dtype.name}")
        return fn(a, b)
    return handler


def _idiv(a: Tensor, b: Tensor) -> Tensor:
    """C's truncating integer division (ONNX Div of ints)."""
    a, b = a._broadcast_pair(b)
    return a._new(UOp(Ops.IDIV, a.dtype, (a.uop, b.uop)))


def _cmod(a: Tensor, b: Tensor) -> Tensor:
    a, b = a._broadcast_pair(b)
    return a._new(UOp(Ops.MOD, a.dtype, (a.uop, b.uop)))


OPS["Add"] = _binary(lambda a, b: a + b)
OPS["Sub"] = _binary(lambda a, b: a - b)
OPS["Mul"] = _binary(lambda a, b: a & b if a.dtype == dtypes.bool else a * b)
OPS["Div"] = _binary(lambda a, b: a / b if a.dtype.is_float else _idiv(a, b))
OPS["Equal"] = _binary(lambda a, b: a == b)
OPS["Less"] = _binary(lambda a, b: a < b)
OPS["LessOrEqual"] = _binary(lambda a, b: a <= b)
OPS["Greater"] = _binary(lambda a, b: a > b)
OPS["GreaterOrEqual"] = _binary(lambda a, b: a >= b)
OPS["And"] = _binary(lambda a, b: a.logical_and(b))
OPS["Or"] = _binary(lambda a, b: a.logical_or(b))
OPS["Xor"] = _binary(lambda a, b: a.logical_xor(b))
OPS["BitwiseAnd"] = _binary(lambda a, b: a & b)
OPS["BitwiseOr"] = _binary(lambda a, b: a | b)
OPS["BitwiseXor"] = _binary(lambda a, b: a ^ b)


@op("BitShift")
def _bitshift(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    """A shift by a negative amount or by the width or more shifts every bit out (a right shift keeps the sign)."""
    a, b = inp[0], inp[1]
    width = a.dtype.itemsize * 8
    ok = (b >= _full(b, 0)) & (b < _full(b, width)) if not b.dtype.is_unsigned else b < _full(b, width)
    safe = ok.where(b, _full(b, 0))
    if attrs["direction"] == "LEFT":
        return ok.where(a << safe, _full(a, 0))
    out_of_range = (a < _full(a, 0)).where(_full(a, -1), _full(a, 0)) if not a.dtype.is_unsigned else _full(a, 0)
    return ok.where(a >> safe, out_of_range)


@op("Mod")
def _mod(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    a, b = inp[0], inp[1]
    if not a.dtype.is_float:
        return _cmod(a, b) if attrs.get("fmod", 0) else a % b
    if a.dtype.itemsize < 8:
        # in float64, a - trunc(a / b) * b is exact for half floats (float32: while |a / b| < 2**29); in their own
        # dtype the quotient's rounding loses the remainder (fmod(11488, 1.701) in float16 gave 0: the ONNX fuzzer)
        return _mod([a.cast(dtypes.float64), b.cast(dtypes.float64)], attrs, node).cast(a.dtype)
    r = a - (a / b).trunc() * b
    r = (b.isinf() & a.isfinite()).where(a, r)  # C fmod: x mod +-inf is x
    if attrs.get("fmod", 0):
        return r
    # the sign of the divisor (numpy's mod): a nonzero remainder of the other sign moves by b; zero takes b's sign
    fix = (r != _full(r, 0)) & ((r < _full(r, 0)) != (b < _full(b, 0)))
    r = fix.where(r + b, r)
    return (r == _full(r, 0)).where((b < _full(b, 0)).where(_full(r, -0.0), _full(r, 0.0)), r)


@op("Pow")
def _pow(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    a, b = inp[0], inp[1]
    if a.dtype.is_float:
        return a ** b.cast(a.dtype)
    if b.dtype.is_float:
        return (a.cast(b.dtype) ** b).cast(a.dtype)
    return a ** b.cast(a.dtype)


@op("PRelu")
def _prelu(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x, s = inp[0], inp[1]
    return (x < 0).where(x * s, x)


def _variadic(fn: Callable[[Tensor, Tensor], Tensor]) -> Callable:
    def handler(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
        ts = [t for t in inp if t is not None]
        if not ts:
            raise ValueError("needs at least one input")
        out = ts[0]
        for t in ts[1:]:
            out = fn(out, t)
        return out if len(ts) > 1 else out.cast(out.dtype)
    return handler


OPS["Sum"] = _variadic(lambda a, b: a + b)
OPS["Max"] = _variadic(lambda a, b: a.maximum(b))
OPS["Min"] = _variadic(lambda a, b: a.minimum(b))


@op("Mean")
def _mean(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    ts = [t for t in inp if t is not None]
    return OPS["Sum"](ts, attrs, node) / _full(ts[0], len(ts))


@op("Where")
def _where(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    _require(inp, 3)
    return inp[0].where(inp[1], inp[2])


# ---------------------------------------------------------------------------------------------- elementwise unary
def _unary(fn: Callable[..., Tensor]) -> Callable:
    def handler(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
        _require(inp, 1)
        return fn(inp[0], attrs)
    return handler


def _atan(x: Tensor) -> Tensor:
    """atan by range reduction to |t| <= tan(pi/8) and Cephes' atanf polynomial."""
    a = x.abs()
    big = a > 2.414213562373095
    mid = (a > 0.4142135623730950) & big.logical_not()
    t = big.where(-1 / a, mid.where((a - 1) / (a + 1), a))
    base = big.where(_full(x, math.pi / 2), mid.where(_full(x, math.pi / 4), _full(x, 0.0)))
    z = t * t
    p = (((z * 8.05374449538e-2 - 1.38776856032e-1) * z + 1.99777106478e-1) * z - 3.33329491539e-1) * z * t + t
    r = base + p
    return (x < 0).where(-r, r)


def _math(fn: Callable[[Tensor], Tensor]) -> Callable[[Tensor, Attrs], Tensor]:
    return lambda x, a: x._math(fn)


OPS["Abs"] = _unary(lambda x, a: x.abs())
OPS["Neg"] = _unary(lambda x, a: -x)
OPS["Floor"] = _unary(lambda x, a: x.floor())
OPS["Ceil"] = _unary(lambda x, a: x.ceil())
OPS["Round"] = _unary(lambda x, a: x.round())
OPS["Sqrt"] = _unary(lambda x, a: x.sqrt())
OPS["Exp"] = _unary(lambda x, a: x.exp())
OPS["Log"] = _unary(lambda x, a: x.log())
OPS["Reciprocal"] = _unary(lambda x, a: x.reciprocal())
OPS["Sin"] = _unary(lambda x, a: x.sin())
OPS["Cos"] = _unary(lambda x, a: x.cos())
OPS["Tan"] = _unary(lambda x, a: x.tan())
OPS["Atan"] = _unary(_math(_atan))
OPS["Asin"] = _unary(_math(lambda x: _atan(x / (-x * x + 1).sqrt())))
OPS["Acos"] = _unary(_math(lambda x: -_atan(x / (-x * x + 1).sqrt()) + math.pi / 2))
_SINH_TAYLOR = (1.0, 1 / 6, 1 / 120, 1 / 5040, 1 / 362880, 1 / 39916800, 1 / 6227020800)
_HUGE = 1e8  # past this, asinh(x) and acosh(x) are log(2x) to the last bit (x * x would overflow float32 past 1.8e19)


def _halves(a: Tensor) -> tuple[Tensor, Tensor]:
    """(e^a / 2, e^-a / 2) through e^(a/2), so that e^a / 2 stays finite up to the dtype's largest value (sinh(89)
    in float32 is 2.2e38, e^89 is past float32)."""
    e = (a * 0.5).exp()
    return (e * 0.5) * e, (0.5 / e) / e


def _odd(x: Tensor, a: Tensor, v: Tensor) -> Tensor:
    """An odd function's value at x from its value v at a = |x| (x itself at a signed zero)."""
    return (a == 0).where(x, (x < 0).where(-v, v))


def _sinh(x: Tensor) -> Tensor:
    a = x.abs()
    up, down = _halves(a)
    z = x * x
    return (a < 0.5).where(x * _poly(z, _SINH_TAYLOR), _odd(x, a, up - down))


def _cosh(x: Tensor) -> Tensor:
    up, down = _halves(x.abs())
    return up + down


def _asinh(x: Tensor) -> Tensor:
    a = x.abs()
    v = (a > _HUGE).where(a.log() + math.log(2), _log1p_small(a + a * a / ((a * a + 1).sqrt() + 1)))
    return _odd(x, a, v)


def _acosh(x: Tensor) -> Tensor:
    t = x - 1
    return (x > _HUGE).where(x.log() + math.log(2), _log1p_small(t + t.sqrt() * (x + 1).sqrt()))  # NaN below 1


def _atanh(x: Tensor) -> Tensor:
    a = x.abs()
    v = (a == 1).where(_full(a, math.inf), _log1p_small(a * 2 / (-a + 1)) * 0.5)
    return _odd(x, a, v)


# the hyperbolic functions without the cancellations and overflows of their textbook forms (e^x - e^-x near 0, e^89
# in float32, x + sqrt(x^2 + 1) for x < 0 or past 1e19), found by the ONNX fuzzer against onnxruntime
OPS["Sinh"] = _unary(_math(_sinh))
OPS["Cosh"] = _unary(_math(_cosh))
OPS["Asinh"] = _unary(_math(_asinh))
OPS["Acosh"] = _unary(_math(_acosh))
OPS["Atanh"] = _unary(_math(_atanh))
OPS["Sigmoid"] = _unary(lambda x, a: x.sigmoid())
OPS["Tanh"] = _unary(lambda x, a: x.tanh())
OPS["Erf"] = _unary(lambda x, a: x.erf())
OPS["Sign"] = _unary(lambda x, a: x.sign())
OPS["IsNaN"] = _unary(lambda x, a: x.isnan())
OPS["Not"] = _unary(lambda x, a: x.logical_not())
OPS["BitwiseNot"] = _unary(lambda x, a: ~x)
OPS["Relu"] = _unary(lambda x, a: x.relu() if x.dtype.is_float else x.maximum(_full(x, 0)))
OPS["LeakyRelu"] = _unary(lambda x, a: (x < 0).where(x * a["alpha"], x))
OPS["Elu"] = _unary(lambda x, a: (x < 0).where((x.exp() - 1) * a["alpha"], x))
OPS["Selu"] = _unary(lambda x, a: (x <= 0).where((x.exp() - 1) * a["alpha"], x) * a["gamma"])
OPS["Celu"] = _unary(lambda x, a: x.relu() + ((x / a["alpha"]).exp() - 1).minimum(_full(x, 0)) * a["alpha"])
OPS["HardSigmoid"] = _unary(lambda x, a: (x * a["alpha"] + a["beta"]).clip(_full(x, 0), _full(x, 1)))
OPS["HardSwish"] = _unary(lambda x, a: x * (x * (1 / 6) + 0.5).clip(_full(x, 0), _full(x, 1)))
OPS["Softplus"] = _unary(lambda x, a: x.softplus())
OPS["Softsign"] = _unary(lambda x, a: x / (x.abs() + 1))
OPS["Mish"] = _unary(lambda x, a: x * x.softplus().tanh())
# alpha is a float32 attribute, compared in float32 (not rounded to a float16 input's dtype first), as onnxruntime
OPS["ThresholdedRelu"] = _unary(lambda x, a: ((x.cast(dtypes.float32) if x.dtype.itemsize < 4 else x) >
                                              float(np.float32(a["alpha"]))).where(x, _full(x, 0)))
OPS["Swish"] = _unary(lambda x, a: x * (x * a["alpha"]).sigmoid())
OPS["Identity"] = lambda inp, attrs, node: [inp[0] if not isinstance(inp[0], Tensor) else inp[0].cast(inp[0].dtype)]


@op("Gelu")
def _gelu(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x = inp[0]
    if attrs.get("approximate", "none") == "tanh":
        return x._math(lambda v: v * 0.5 * ((v + v * v * v * 0.044715) * math.sqrt(2 / math.pi)).tanh() + v * 0.5)
    return x.gelu()


@op("Shrink")
def _shrink(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    """x + bias below -lambd, x - bias above lambd, else 0. lambd and bias are float32 attributes, so (as
    onnxruntime) an int or 16-bit float input is compared and shifted in float32 (float64 in float64), and the result
    cast back (truncated, for ints): an int input took a float constant, and a float16 lambd rounded to float16."""
    x = inp[0]
    wide = dtypes.float64 if x.dtype == dtypes.float64 else dtypes.float32
    xf = x.cast(wide) if x.dtype != wide else x
    lam, bias = float(np.float32(attrs["lambd"])), float(np.float32(attrs["bias"]))
    y = (xf < -lam).where(xf + bias, (xf > lam).where(xf - bias, _full(xf, 0)))
    return y.cast(x.dtype) if x.dtype != wide else y


@op("IsInf")
def _isinf(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x = inp[0]
    pos = (x == _full(x, math.inf)) if attrs.get("detect_positive", 1) else _full(x, False, dtypes.bool)
    neg = (x == _full(x, -math.inf)) if attrs.get("detect_negative", 1) else _full(x, False, dtypes.bool)
    return (pos | neg).broadcast_to(x.shape)


@op("Clip")
def _clip(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x = inp[0]
    lo: Tensor | None
    hi: Tensor | None
    if node.opset < 11:
        lo, hi = _full(x, attrs.get("min", -3.4e38)), _full(x, attrs.get("max", 3.4e38))
    else:
        lo = inp[1] if len(inp) > 1 else None
        hi = inp[2] if len(inp) > 2 else None
    out = x if lo is None else x.maximum(lo)
    return (out if hi is None else out.minimum(hi)).cast(x.dtype)


@op("Dropout")
def _dropout(inp: Inputs, attrs: Attrs, node: Node) -> list[Tensor]:
    x = inp[0]
    training = _scalar(inp[2], False) if len(inp) > 2 else False
    ratio = _scalar(inp[1], 0.5) if len(inp) > 1 else attrs.get("ratio", 0.5)
    if training and ratio != 0:
        raise NotImplementedError("Dropout in training mode (random) is not supported")
    return [x.cast(x.dtype), Tensor.full(x.shape, True, dtypes.bool, x.device)]


@op("Cast")
def _cast(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    nt = NARROW.get(attrs["to"])
    if nt is not None:
        return _cast_narrow(inp[0], nt, attrs.get("saturate", 1), attrs.get("round_mode", "up"))
    return _cast_to(inp[0], engine_dtype(attrs["to"], "Cast target"), attrs.get("saturate", 1))


def _round_small_float(x: Tensor, nt: Narrow, saturate: bool) -> Tensor:
    """x rounded (to nearest, ties to even) onto a small float format's grid, held in float32. Too large values and
    infinities become the largest finite value when saturating, else NaN where the format has one; NaN becomes
    NaN, or 0 in a format without it (float4e2m1)."""
    xf = x.cast(dtypes.float32)
    a = xf.abs()
    e = (a.bitcast(dtypes.int32) >> 23) - 127  # the binade, exactly (float32 subnormals round to 0 anyway)
    e = e.maximum(_full(e, nt.emin))
    quantum = ((e - nt.m + 127) << 23).bitcast(dtypes.float32)  # 2**(e - m): one step of the grid there
    r = (a / quantum).round() * quantum
    big = nt.hi if saturate or not nt.has_nan else math.nan
    r = (r > _full(r, nt.hi)).where(_full(r, big), r)
    r = (xf < _full(xf, 0)).where(-r, r)
    return xf.isnan().where(_full(r, math.nan if nt.has_nan else 0.0), r)


def _round_e8m0(x: Tensor, saturate: bool, mode: str) -> Tensor:
    """To float8 E8M0 (2**(e-127) for an exponent byte e, 255 is NaN), held in float32: the float32 exponent of |x|,
    moved up by the rounding mode ("up": any fraction; "nearest": the spec's guard/round/sticky rule; "down": never),
    except past 2**127 when saturating; 0 becomes 2**-127, infinities and NaN become NaN."""
    bits = x.cast(dtypes.float32).bitcast(dtypes.int32)
    e = (bits >> 23) & 0xFF
    special = e == _full(e, 0xFF)
    if mode == "up":
        up = (bits & 0x7FFFFF) != _full(e, 0)
    elif mode == "nearest":
        g, r, st = (bits & 0x400000) != _full(e, 0), (bits & 0x200000) != _full(e, 0), (bits & 0x1FFFFF) != _full(e, 0)
        up = g & (r | st | (e > _full(e, 0)))
    elif mode == "down":
        up = e != e
    else:
        raise ValueError(f"unknown round_mode {mode!r}")
    up = up & special.logical_not()
    if saturate:
        up = up & (e != _full(e, 0xFE))
    e = up.where(e + 1, e)
    value = (e == _full(e, 0)).where(_full(e, 0x400000), e << 23).bitcast(dtypes.float32)
    return (special | (e == _full(e, 0xFF))).where(_full(value, math.nan), value)


def _cast_narrow(x: Tensor, nt: Narrow, saturate: int = 1, round_mode: str = "up") -> Tensor:
    """To a type the engine holds widened: small floats round onto their grid; for the sub-byte integers floats
    truncate and a value outside the type becomes 0 (the reference's rule), integers wrap to the type's width."""
    if nt.name == "FLOAT8E8M0":
        return _round_e8m0(x, bool(saturate), round_mode)
    if nt.is_float:
        return _round_small_float(x, nt, bool(saturate))
    if x.dtype.is_float:
        v = x.cast(dtypes.float32).trunc() if x.dtype.itemsize < 4 else x.trunc()
        ok = (v >= _full(v, nt.lo)) & (v <= _full(v, nt.hi))
        return ok.where(v, _full(v, 0)).cast(nt.storage)
    span = nt.hi - nt.lo + 1
    w = x.cast(dtypes.int64)
    return ((w - nt.lo) % span + nt.lo).cast(nt.storage)


@op("CastLike")
def _castlike(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    nt = node.narrow_in(1)
    if nt is not None:
        return _cast_narrow(inp[0], nt, attrs.get("saturate", 1), attrs.get("round_mode", "up"))
    return _cast_to(inp[0], inp[1].dtype, attrs.get("saturate", 1))


def _cast_to(x: Tensor, dt: DType, saturate: int) -> Tensor:
    if dt in (dtypes.float8_e4m3fn, dtypes.float8_e5m2) and saturate and x.dtype.is_float:
        lim = 448.0 if dt == dtypes.float8_e4m3fn else 57344.0
        xf = x.cast(dtypes.float32) if x.dtype.itemsize < 4 else x
        return xf.clip(_full(xf, -lim), _full(xf, lim)).cast(dt)  # infinities saturate too
    return x.cast(dt)


# ---------------------------------------------------------------------------------------------- constants and shapes
@op("Constant")
def _constant(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in attrs:
            v = attrs[key]
            if key == "value":
                arr = np.asarray(v)
            elif key.startswith("value_float"):
                arr = np.asarray(v, dtype=np.float32)
            else:
                arr = np.asarray(v, dtype=np.int64)
            return const(arr, node.device)
    raise ValueError(f"a Constant with {sorted(attrs)} (strings and sparse tensors are not supported)")


@op("Shape")
def _shape(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x = inp[0]
    s = np.asarray(x.shape, dtype=np.int64)
    n = len(s)
    start, end = attrs.get("start", 0), attrs.get("end", n)
    start, end = (start + n if start < 0 else start), (end + n if end < 0 else end)
    return const(s[min(max(start, 0), n):min(max(end, 0), n)], x.device)


@op("Size")
def _size(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    return const(np.int64(inp[0].numel()), inp[0].device)


@op("ConstantOfShape")
def _constant_of_shape(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    shape = tuple(_ints(inp[0]) or [])
    v = attrs.get("value")
    arr = np.zeros(1, np.float32) if v is None else np.asarray(v).reshape(-1)
    dt = dtypes.from_numpy(arr.dtype)
    return Tensor.full(shape, arr[0].item(), dt, inp[0].device)


@op("Range")
def _range(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    start, limit, delta = (_scalar(t) for t in inp[:3])
    dt = inp[0].dtype
    n = max(int(math.ceil((limit - start) / delta)), 0)
    return (Tensor.arange(n, dtype=dt, device=inp[0].device) * _full(inp[0], delta) + _full(inp[0], start)).cast(dt)


@op("EyeLike")
def _eyelike(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x = inp[0]
    dt = engine_dtype(attrs["dtype"], "EyeLike dtype") if attrs.get("dtype") else x.dtype
    n, m = x.shape
    k = attrs.get("k", 0)
    r = Tensor.arange(n, dtype=dtypes.int64, device=x.device).reshape(n, 1)
    c = Tensor.arange(m, dtype=dtypes.int64, device=x.device).reshape(1, m)
    return (c - r == _full(r, k)).cast(dt)


# ---------------------------------------------------------------------------------------------- movement
@op("Reshape")
def _reshape(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x = inp[0]
    shape = _ints(inp[1]) if node.opset >= 5 else attrs["shape"]
    assert shape is not None
    if not attrs.get("allowzero", 0):
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(tuple(shape))


@op("Flatten")
def _flatten(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x = inp[0]
    a = attrs.get("axis", 1)
    a = a + x.ndim if a < 0 else a
    if not 0 <= a <= x.ndim:
        raise ValueError(f"axis {attrs.get('axis')} out of range for rank {x.ndim}")
    return x.reshape(math.prod(x.shape[:a]), math.prod(x.shape[a:]))


def _axes_of(inp: Inputs, attrs: Attrs, node: Node, since: int) -> list[int] | None:
    if node.opset >= since:
        return _ints(inp[1]) if len(inp) > 1 else None
    return attrs.get("axes")


@op("Squeeze")
def _squeeze(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x = inp[0]
    axes = _axes_of(inp, attrs, node, 13)
    if axes is None:
        return x.squeeze()
    return x.squeeze(tuple(_ax(a, x.ndim) for a in axes))


@op("Unsqueeze")
def _unsqueeze(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x = inp[0]
    axes = _axes_of(inp, attrs, node, 13) or []
    n = x.ndim + len(axes)
    axes = sorted(_ax(a, n) for a in axes)
    if len(set(axes)) != len(axes):
        raise ValueError(f"repeated axes {axes}")
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return x.reshape(tuple(shape))


@op("Transpose")
def _transpose(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x = inp[0]
    perm = attrs.get("perm") or list(range(x.ndim))[::-1]
    return x.permute(tuple(perm))


@op("Expand")
def _expand(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    from engine.tensor import _broadcast_shape

    x = inp[0]
    shape = tuple(_ints(inp[1]) or [])
    return x.broadcast_to(_broadcast_shape(x.shape, shape))


@op("Concat")
def _concat(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    ts = [t for t in inp if t is not None]
    axis = _ax(attrs["axis"], ts[0].ndim)
    nonempty = [t for t in ts if t.shape[axis] != 0] or ts[:1]
    return Tensor.cat(nonempty, axis) if len(nonempty) > 1 else nonempty[0].cast(nonempty[0].dtype)


@op("Split")
def _split(inp: Inputs, attrs: Attrs, node: Node) -> list[Tensor]:
    x = inp[0]
    axis = _ax(attrs.get("axis", 0), x.ndim)
    sizes = (_ints(inp[1]) if len(inp) > 1 else None) if node.opset >= 13 else attrs.get("split")
    n = x.shape[axis]
    if not sizes:
        k = attrs.get("num_outputs") or node.n_outputs
        step = -(-n // k)
        sizes = [min(step, n - i * step) for i in range(k)]
    return x.split(list(sizes), axis)


@op("Slice")
def _slice(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x = inp[0]
    if node.opset < 10:
        starts, ends, axes, steps = attrs["starts"], attrs["ends"], attrs.get("axes"), None
    else:
        starts, ends = _ints(inp[1]), _ints(inp[2])
        axes = _ints(inp[3]) if len(inp) > 3 else None
        steps = _ints(inp[4]) if len(inp) > 4 else None
    assert starts is not None and ends is not None
    axes = list(range(len(starts))) if axes is None else [_ax(a, x.ndim) for a in axes]
    steps = steps or [1] * len(starts)
    idx: list[Any] = [slice(None)] * x.ndim
    for a, s, e, st in zip(axes, starts, ends, steps):
        if st == 0:
            raise ValueError("slice step 0")
        n = x.shape[a]  # ONNX's clamping, not Python's: a start before the axis with a negative step is 0
        s, e = s + n if s < 0 else s, e + n if e < 0 else e
        if st > 0:
            s, e = min(max(s, 0), n), min(max(e, 0), n)
        else:
            s, e = min(max(s, 0), n - 1), min(max(e, -1), n - 1)
        idx[a] = slice(s, e if e >= 0 else None, st)
    return x[tuple(idx)]


@op("Pad")
def _pad(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x = inp[0]
    if node.opset < 11:
        pads, value, axes = attrs["pads"], attrs.get("value", 0.0), None
    else:
        pads = _ints(inp[1])
        value = _scalar(inp[2], 0) if len(inp) > 2 else 0
        axes = _ints(inp[3]) if len(inp) > 3 else None
    assert pads is not None
    axes = list(range(x.ndim)) if axes is None else [_ax(a, x.ndim) for a in axes]
    if len(pads) != 2 * len(axes):
        raise ValueError(f"pads {pads} do not fit {len(axes)} axes")
    pp = [(0, 0)] * x.ndim
    for i, a in enumerate(axes):
        pp[a] = (pads[i], pads[i + len(axes)])
    # ONNX pads, then crops (negative pads): a crop larger than the axis can be paid by the pad on the other side
    out = _pad_mode(x, [(max(b, 0), max(e, 0)) for b, e in pp], attrs.get("mode", "constant"), value)
    if any(b < 0 or e < 0 for b, e in pp):
        crop = tuple(slice(-min(b, 0), n + min(e, 0)) for (b, e), n in zip(pp, out.shape))
        if any(c.start > c.stop for c in crop):
            raise ValueError(f"pads {pads} crop more than the axis of shape {x.shape} has")
        out = out[crop]
    return out


def _pad_mode(x: Tensor, pp: list[tuple[int, int]], mode: str, value: Any = 0) -> Tensor:
    if mode == "constant":
        if value == 0 or value is None:
            return x.pad(pp)
        mask = Tensor.ones(x.shape, dtypes.bool, x.device)
        return mask.pad(pp).where(x.pad(pp), _full(x, value))
    for a, (b, e) in enumerate(pp):
        n = x.shape[a]
        if (b, e) == (0, 0):
            continue
        pos = np.arange(-b, n + e)
        if mode == "edge":
            src = np.clip(pos, 0, n - 1)
        elif mode == "wrap":
            src = pos % n
        elif mode == "reflect":
            if n == 1:
                src = np.zeros_like(pos)
            else:
                period = 2 * (n - 1)
                m = pos % period
                src = np.where(m < n, m, period - m)
        else:
            raise ValueError(f"unknown pad mode {mode!r}")
        x = x[(slice(None),) * a + (src,)]
    return x


@op("Tile")
def _tile(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    return inp[0].repeat(*(_ints(inp[1]) or []))


@op("Gather")
def _gather(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x, idx = inp[0], inp[1]
    axis = _ax(attrs.get("axis", 0), x.ndim)
    known = _STATIC.get(idx.uop)
    n = x.shape[axis]
    if known is not None:
        i = np.asarray(known).astype(np.int64)
        if ((i < -n) | (i >= n)).any():
            raise IndexError(f"Gather index out of range for axis {axis} of size {n}")
        return x[(slice(None),) * axis + (np.where(i < 0, i + n, i),)]
    idx = idx.cast(dtypes.int64)
    idx = (idx < 0).where(idx + n, idx)
    return x[(slice(None),) * axis + (idx,)]


@op("GatherElements")
def _gather_elements(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x, idx = inp[0], inp[1]
    return x.gather(_ax(attrs.get("axis", 0), x.ndim), idx.cast(dtypes.int64))


def _linear_index(idx: Tensor, dims: Sequence[int]) -> Tensor:
    """Row-major linear index from the last axis of `idx` (negative entries wrap per dim)."""
    lin: Tensor | None = None
    for j, d in enumerate(dims):
        c = idx[..., j]
        c = (c < 0).where(c + d, c)
        lin = c if lin is None else lin * d + c
    assert lin is not None
    return lin


@op("GatherND")
def _gather_nd(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x, idx = inp[0], inp[1].cast(dtypes.int64)
    b = attrs.get("batch_dims", 0)
    k = idx.shape[-1]
    bshape, kdims, rest = x.shape[:b], x.shape[b:b + k], x.shape[b + k:]
    B, M = math.prod(bshape), math.prod(kdims)
    xf = x.reshape((B, M) + rest)
    q = idx.shape[b:-1]
    lin = _linear_index(idx, kdims).reshape(B, math.prod(q))
    bi = Tensor.arange(B, dtype=dtypes.int64, device=x.device).reshape(B, 1).expand(B, math.prod(q))
    out = xf[bi, lin]
    return out.reshape(bshape + q + rest)


def _scatter_combine(old: Tensor, new: Tensor, reduction: str) -> Tensor:
    if reduction in ("none", "add"):
        return new if reduction == "none" else old + new
    if reduction == "mul":
        return old * new
    if reduction == "max":
        return old.maximum(new)
    if reduction == "min":
        return old.minimum(new)
    raise ValueError(f"unknown reduction {reduction!r}")


def _masked_reduce(hit: Tensor, upd: Tensor, axis: int, reduction: str) -> Tensor:
    """Combine the updates that hit each target along `axis` (sum, product, max or min)."""
    dt = upd.dtype
    if reduction in ("none", "add"):
        return hit.where(upd, _full(upd, 0)).sum(axis, dtype=dt)
    if reduction == "mul":
        return hit.where(upd, _full(upd, 1)).prod(axis, dtype=dt)
    if reduction == "max":
        return hit.where(upd, _full(upd, dt.min)).max(axis)
    return hit.where(upd, _full(upd, dt.max)).min(axis)


@op("ScatterElements", "Scatter")
def _scatter_elements(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x, idx, upd = inp[0], inp[1].cast(dtypes.int64), inp[2]
    a = _ax(attrs.get("axis", 0), x.ndim)
    red = attrs.get("reduction", "none")
    n = x.shape[a]
    idx = (idx < 0).where(idx + n, idx)
    ar = Tensor.arange(n, dtype=dtypes.int64, device=x.device).reshape((1,) * (a + 1) + (n,) + (1,) * (x.ndim - a - 1))
    hit = idx.unsqueeze(a + 1) == ar  # U[:a+1] + (n,) + U[a+1:]
    u = upd.unsqueeze(a + 1).broadcast_to(hit.shape)
    contrib = _masked_reduce(hit, u, a, red)
    anyhit = hit.any(a)
    part = x.shrink([(0, s) if i != a else None for i, s in enumerate(idx.shape)])
    out = anyhit.where(_scatter_combine(part, contrib, red), part)
    pads = [(0, x.shape[i] - s) if i != a else (0, 0) for i, s in enumerate(idx.shape)]
    if any(p != (0, 0) for p in pads):
        out = anyhit.pad(pads).where(out.pad(pads), x)
    return out


@op("ScatterND")
def _scatter_nd(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x, idx, upd = inp[0], inp[1].cast(dtypes.int64), inp[2]
    red = attrs.get("reduction", "none")
    k = idx.shape[-1]
    kdims, rest = x.shape[:k], x.shape[k:]
    M = math.prod(kdims)
    N = math.prod(idx.shape[:-1])
    lin = _linear_index(idx, kdims).reshape(N, 1)
    hit = lin == Tensor.arange(M, dtype=dtypes.int64, device=x.device).reshape(1, M)
    hit = hit.reshape((N, M) + (1,) * len(rest)).expand((N, M) + rest)
    u = upd.reshape((N, 1) + rest).expand((N, M) + rest)
    contrib = _masked_reduce(hit, u, 0, red)
    anyhit = hit.any(0)
    xf = x.reshape((M,) + rest)
    return anyhit.where(_scatter_combine(xf, contrib, red), xf).reshape(x.shape)


@op("DepthToSpace")
def _depth_to_space(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x, b = inp[0], attrs["blocksize"]
    n, c, h, w = x.shape
    if attrs.get("mode", "DCR") == "DCR":
        t = x.reshape(n, b, b, c // (b * b), h, w).permute(0, 3, 4, 1, 5, 2)
    else:
        t = x.reshape(n, c // (b * b), b, b, h, w).permute(0, 1, 4, 2, 5, 3)
    return t.reshape(n, c // (b * b), h * b, w * b)


@op("SpaceToDepth")
def _space_to_depth(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x, b = inp[0], attrs["blocksize"]
    n, c, h, w = x.shape
    t = x.reshape(n, c, h // b, b, w // b, b)
    t = t.permute(0, 1, 3, 5, 2, 4) if attrs.get("mode", "DCR") == "CRD" else t.permute(0, 3, 5, 1, 2, 4)
    return t.reshape(n, c * b * b, h // b, w // b)


@op("Trilu")
def _trilu(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x = inp[0]
    k = _scalar(inp[1], 0) if len(inp) > 1 else 0
    n, m = x.shape[-2], x.shape[-1]
    r = Tensor.arange(n, dtype=dtypes.int64, device=x.device).reshape(n, 1)
    c = Tensor.arange(m, dtype=dtypes.int64, device=x.device).reshape(1, m)
    keep = (c - r >= _full(r, k)) if attrs.get("upper", 1) else (c - r <= _full(r, k))
    return keep.where(x, _full(x, 0))


@op("OneHot")
def _onehot(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    idx, values = inp[0], inp[2]
    depth = int(_scalar(inp[1]))
    vals = values.reshape(2)
    off, on = vals[0], vals[1]
    n = idx.ndim + 1
    a = _ax(attrs.get("axis", -1), n)
    i = idx.cast(dtypes.int64) if idx.dtype.is_int else idx.cast(dtypes.float64).trunc().cast(dtypes.int64)
    i = (i < 0).where(i + depth, i)
    ar = Tensor.arange(depth, dtype=dtypes.int64, device=idx.device).reshape((depth,) + (1,) * (n - a - 1))
    return (i.unsqueeze(a) == ar).where(on, off)


@op("Compress")
def _compress(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x, cond = inp[0], np.asarray(static(inp[1])).astype(bool)
    axis = attrs.get("axis")
    if axis is None:
        x, axis = x.reshape(-1), 0
    axis = _ax(axis, x.ndim)
    keep = np.nonzero(cond[: x.shape[axis]])[0]
    if len(keep) == 0:
        return x.shrink([(0, 0) if i == axis else None for i in range(x.ndim)])
    return x[(slice(None),) * axis + (keep,)]


@op("NonZero")
def _nonzero(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    mask = (inp[0] != _full(inp[0], 0)).numpy()  # the output shape depends on the values
    return const(np.array(np.nonzero(mask), dtype=np.int64).reshape(mask.ndim, -1), inp[0].device)


@op("Unique")
def _unique(inp: Inputs, attrs: Attrs, node: Node) -> list[Tensor]:
    """Unique values (sorted, or in order of first occurrence), first indices, inverse indices and counts. The
    output shapes depend on the values: x is realized and the grouping done on the host."""
    x = inp[0]
    v = np.asarray(static(x))
    axis = attrs.get("axis")
    a = None if axis is None else _ax(axis, v.ndim)
    flat = v.reshape(-1) if a is None else v
    y, first, inverse, counts = np.unique(flat, return_index=True, return_inverse=True, return_counts=True, axis=a)
    inverse = inverse.reshape(-1)
    if not attrs.get("sorted", 1):  # reorder the groups by where they first occur
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        y = y[order] if a is None else np.take(y, order, axis=a)
        first, counts, inverse = first[order], counts[order], rank[inverse]
    dev = x.device
    return [const(y.astype(v.dtype), dev), const(first.astype(np.int64), dev), const(inverse.astype(np.int64), dev),
            const(counts.astype(np.int64), dev)]


# ---------------------------------------------------------------------------------------------- reductions
def _reduce_axes(inp: Inputs, attrs: Attrs, node: Node, since: int, ndim: int) -> tuple[int, ...] | None:
    """The reduced axes; None means the input passes through (noop_with_empty_axes and no axes)."""
    if node.opset >= since:
        axes = _ints(inp[1]) if len(inp) > 1 and inp[1] is not None else None
    else:
        axes = attrs.get("axes")
    if not axes:
        return None if attrs.get("noop_with_empty_axes", 0) else tuple(range(ndim))
    return tuple(sorted({_ax(a, ndim) for a in axes}))


def _reducer(kind: str, since: int = 18) -> Callable:
    def handler(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
        x = inp[0]
        axes = _reduce_axes(inp, attrs, node, since, x.ndim)
        keep = bool(attrs.get("keepdims", 1))
        if axes is None:
            return _post_noop(kind, x)
        if any(x.shape[a] == 0 for a in axes):
            shape = tuple(1 if i in axes else s for i, s in enumerate(x.shape)) if keep else \
                tuple(s for i, s in enumerate(x.shape) if i not in axes)
            ident = {"sum": 0, "l1": 0, "l2": 0, "sumsq": 0, "mean": math.nan, "prod": 1, "max": x.dtype.min,
                     "min": x.dtype.max, "logsum": -math.inf, "logsumexp": -math.inf}[kind]
            return Tensor.full(shape, ident, x.dtype, x.device)
        return _reduce(kind, x, axes, keep)
    return handler


def _post_noop(kind: str, x: Tensor) -> Tensor:
    if kind in ("l1",):
        return x.abs()
    if kind == "sumsq":
        return x * x
    if kind == "l2":
        return (x * x).sqrt() if x.dtype.is_float else x.abs()
    if kind == "logsum":
        return x.log()
    if kind == "logsumexp":
        return x.cast(x.dtype)
    return x.cast(x.dtype)


def _reduce(kind: str, x: Tensor, axes: tuple[int, ...], keep: bool) -> Tensor:
    dt = x.dtype
    if dt in (dtypes.float16, dtypes.bfloat16) and kind not in ("max", "min"):
        # accumulated in float32 and rounded once, as onnxruntime does (a float16 running sum of 112 values was
        # 0.029 off its float32 one: found by the ONNX fuzzer)
        return _reduce(kind, x.cast(dtypes.float32), axes, keep).cast(dt)
    if kind == "sum":
        return x.sum(axes, keep, dtype=dt) if dt != dtypes.bool else x.any(axes, keep)
    if kind == "prod":
        return x.prod(axes, keep, dtype=dt)
    if kind == "max":
        return x.max(axes, keep)
    if kind == "min":
        return x.min(axes, keep)
    if kind == "mean":
        n = math.prod(x.shape[a] for a in axes)
        if dt.is_float:
            return x.mean(axes, keep)
        return (x.sum(axes, keep, dtype=dtypes.float64) / n).cast(dt)
    if kind == "l1":
        return x.abs().sum(axes, keep, dtype=dt)
    if kind == "sumsq":
        return (x * x).sum(axes, keep, dtype=dt)
    if kind == "l2":
        s = (x * x).sum(axes, keep, dtype=dt)
        return s.sqrt() if dt.is_float else s.cast(dtypes.float64).sqrt().cast(dt)
    if kind == "logsum":
        return x.sum(axes, keep, dtype=dt).log()
    if kind == "logsumexp":
        return x.logsumexp(axes, keep)
    raise ValueError(kind)


OPS["ReduceSum"] = _reducer("sum", 13)
for _k, _n in (("mean", "ReduceMean"), ("prod", "ReduceProd"), ("max", "ReduceMax"), ("min", "ReduceMin"),
               ("l1", "ReduceL1"), ("l2", "ReduceL2"), ("sumsq", "ReduceSumSquare"), ("logsum", "ReduceLogSum"),
               ("logsumexp", "ReduceLogSumExp")):
    OPS[_n] = _reducer(_k)


def _arg(largest: bool) -> Callable:
    def handler(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
        x = inp[0]
        a = _ax(attrs.get("axis", 0), x.ndim)
        keep = bool(attrs.get("keepdims", 1))
        if attrs.get("select_last_index", 0):
            r = x.flip(a)
            i = r.argmax(a, keep) if largest else r.argmin(a, keep)
            return _full(i, x.shape[a] - 1) - i
        return x.argmax(a, keep) if largest else x.argmin(a, keep)
    return handler


OPS["ArgMax"] = _arg(True)
OPS["ArgMin"] = _arg(False)


@op("CumSum", "CumProd")
def _cumsum(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x = inp[0]
    a = _ax(int(_scalar(inp[1])), x.ndim)
    rev, excl = attrs.get("reverse", 0), attrs.get("exclusive", 0)
    prod = node.op_type == "CumProd"
    t = x.flip(a) if rev else x
    n = t.shape[a]
    if excl:
        t = t.pad([(1, 0) if i == a else (0, 0) for i in range(t.ndim)], value=1 if prod else 0)
        t = t.shrink([(0, n) if i == a else None for i in range(t.ndim)])
    if prod:
        order = [i for i in range(t.ndim) if i != a] + [a]
        inv = [order.index(i) for i in range(t.ndim)]
        v = t.permute(order)
        lead = v.shape[:-1]
        r = Tensor.arange(n, dtype=dtypes.int64, device=x.device)
        mask = r.reshape(n, 1) >= r.reshape(1, n)
        wide = v.reshape(lead + (1, n)).expand(lead + (n, n))
        out = mask.where(wide, _full(v, 1)).prod(-1, dtype=x.dtype).permute(inv)
    else:
        out = t.cumsum(a, dtype=x.dtype)
    return out.flip(a) if rev else out


# ---------------------------------------------------------------------------------------------- softmax family
def _softmax_like(kind: str) -> Callable:
    def handler(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
        x = inp[0]
        if node.opset < 13:
            a = _ax(attrs.get("axis", 1), x.ndim)
            flat = x.reshape(math.prod(x.shape[:a]), math.prod(x.shape[a:]))
            return _softmax_axis(kind, flat, 1).reshape(x.shape)
        return _softmax_axis(kind, x, _ax(attrs.get("axis", -1), x.ndim))
    return handler


def _softmax_axis(kind: str, x: Tensor, a: int) -> Tensor:
    if kind in ("softmax", "logsoftmax"):
        wide = x.cast(dtypes.float32) if x.dtype in (dtypes.float16, dtypes.bfloat16) else x  # rounded once
        return (wide.softmax(a) if kind == "softmax" else wide.log_softmax(a)).cast(x.dtype)
    i = x.argmax(a, keepdim=True)
    n = x.shape[a]
    ar = Tensor.arange(n, dtype=dtypes.int64, device=x.device).reshape(tuple(n if d == a else 1 for d in range(x.ndim)))
    return (i == ar).cast(x.dtype)


OPS["Softmax"] = _softmax_like("softmax")
OPS["LogSoftmax"] = _softmax_like("logsoftmax")
OPS["Hardmax"] = _softmax_like("hardmax")


@op("TopK")
def _topk(inp: Inputs, attrs: Attrs, node: Node) -> list[Tensor]:
    x = inp[0]
    k = int(_scalar(inp[1])) if node.opset >= 10 else attrs["k"]
    a = _ax(attrs.get("axis", -1), x.ndim)
    largest = attrs.get("largest", 1)
    n = x.shape[a]
    if not 0 <= k <= n:
        raise ValueError(f"k={k} for an axis of size {n}")
    order = [i for i in range(x.ndim) if i != a] + [a]
    inv = [order.index(i) for i in range(x.ndim)]
    v = x.permute(order)
    lead = v.shape[:-1]
    vi = v.reshape(lead + (n, 1))
    vj = v.reshape(lead + (1, n))
    r = Tensor.arange(n, dtype=dtypes.int64, device=x.device)
    before = r.reshape(1, n) < r.reshape(n, 1)  # j < i
    better = (vj > vi) if largest else (vj < vi)
    rank = (better | ((vj == vi) & before)).cast(dtypes.int64).sum(-1)  # (lead, n): the sorted position of i
    slot = Tensor.arange(k, dtype=dtypes.int64, device=x.device)
    hit = rank.reshape(lead + (1, n)) == slot.reshape(k, 1)  # (lead, k, n)
    vals = hit.where(v.reshape(lead + (1, n)), _full(v, 0)).sum(-1, dtype=x.dtype) if x.dtype != dtypes.bool else \
        (hit & v.reshape(lead + (1, n))).any(-1)
    idx = hit.where(r.reshape(1, n), _full(r, 0)).sum(-1, dtype=dtypes.int64)
    return [vals.permute(inv), idx.permute(inv)]


# ---------------------------------------------------------------------------------------------- products
def matmul(a: Tensor, b: Tensor) -> Tensor:
    """a @ b rounded once: 16-bit floats multiply and accumulate in float32 (as onnxruntime and numpy do; the
    engine's own half matmul rounds each product)."""
    if a.dtype in (dtypes.float16, dtypes.bfloat16) and a.dtype == b.dtype:
        return a.cast(dtypes.float32).matmul(b.cast(dtypes.float32)).cast(a.dtype)
    return a.matmul(b)


_PACKED_T: weakref.WeakKeyDictionary[UOp, Tensor] = weakref.WeakKeyDictionary()  # constant (N, K) -> packed (K, N)


def _packed_weight(b: Tensor, transposed: bool = False) -> Tensor:
    """A constant 2-D float weight (K, N) (given as (N, K) when `transposed`) held in blocks of columns, as the
    conv weights are (_packed_constant); other operands as they are."""
    if b.ndim == 2 and b.dtype.is_float and (packed := _packed_constant(b, 1, transposed)) is not None:
        return packed
    return b.transpose(0, 1) if transposed else b


@op("MatMul")
def _matmul(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    return matmul(inp[0], _packed_weight(inp[1]))


@op("MatMulInteger")
def _matmul_integer(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    a, b = inp[0].cast(dtypes.int32), inp[1].cast(dtypes.int32)
    if len(inp) > 2 and inp[2] is not None:
        za = inp[2].cast(dtypes.int32)
        a = a - (za.reshape(-1, 1) if za.ndim == 1 and za.shape[0] > 1 else za)
    if len(inp) > 3 and inp[3] is not None:
        b = b - inp[3].cast(dtypes.int32)
    return a.matmul(b)


@op("Gemm")
def _gemm(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    a, b = inp[0], inp[1]
    if attrs.get("transA", 0):
        a = a.transpose(0, 1)
    b = _packed_weight(b, bool(attrs.get("transB", 0)))
    out = matmul(a, b)
    alpha, beta = attrs.get("alpha", 1.0), attrs.get("beta", 1.0)
    if alpha != 1.0:
        out = out * _full(out, alpha)
    if len(inp) > 2 and inp[2] is not None:
        c = inp[2]
        out = out + (c * _full(c, beta) if beta != 1.0 else c)
    return out


@op("Einsum")
def _einsum(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    return Tensor.einsum(attrs["equation"], *inp)


# ---------------------------------------------------------------------------------------------- convolution, pooling
def _spatial_pads(attrs: Attrs, ins: Sequence[int], ks: Sequence[int], s: Sequence[int], d: Sequence[int],
                  ceil: bool = False) -> list[tuple[int, int]]:
    n = len(ks)
    auto = attrs.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        out = []
        for i, k, st, di in zip(ins, ks, s, d):
            o = -(-i // st)
            tot = max((o - 1) * st + (k - 1) * di + 1 - i, 0)
            small = tot // 2
            out.append((small, tot - small) if auto == "SAME_UPPER" else (tot - small, small))
        return out
    if auto == "VALID":
        return [(0, 0)] * n
    pads = attrs.get("pads") or [0] * (2 * n)
    return [(pads[j], pads[j + n]) for j in range(n)]


def _conv_attrs(attrs: Attrs, w: Tensor) -> tuple[list[int], list[int], list[int]]:
    n = w.ndim - 2
    ks = attrs.get("kernel_shape") or list(w.shape[2:])
    return list(ks), attrs.get("strides") or [1] * n, attrs.get("dilations") or [1] * n


_PACKED: weakref.WeakKeyDictionary[UOp, Tensor] = weakref.WeakKeyDictionary()  # constant -> its packed copy


def _packed_constant(w: Tensor, axis: int, transposed: bool = False) -> Tensor | None:
    """A constant weight as the same values held with its output-channel `axis` innermost, in blocks (`_pack_columns`;
    a 2-D weight given transposed is transposed first), made once per weight; None where w is not a known constant.
    A kernel that computes several output channels at once then reads them as adjacent memory, one block's weights
    one stream (onnxruntime prepacks its weights too)."""
    arr = _STATIC.get(w.uop)
    if arr is None:
        return None
    cache = _PACKED_T if transposed else _PACKED
    packed = cache.get(w.uop)
    if packed is None:
        arr = np.asarray(arr)
        packed = cache[w.uop] = _pack_columns(arr.T if transposed else arr, axis, w.device)
    return packed


def _out_channel_last(w: Tensor) -> Tensor:
    """A conv weight (O, I, *k) packed by output channel where it is a known constant (`_packed_constant`), else w."""
    packed = _packed_constant(w, 0) if w.ndim >= 3 else None
    return w if packed is None else packed


def _pack_columns(arr: np.ndarray, axis: int, device: str) -> Tensor:
    """`arr` as a tensor of its shape held with `axis` innermost, in blocks of B (the first of the CPU heuristic's
    BLOCKS that divides it): a view of an (n / B, rest..., B) buffer, no copy when read. An (I, *k, O) buffer instead
    puts a 4 KiB stride between the rows of a tile when O is 1024: every row in the same L1 set, and past the hardware
    prefetcher's page (42 against 71 GFLOP/s for a 1x1 conv 256 -> 1024 at 14x14 on one core). Where no block
    divides it, an (rest..., n) buffer."""
    n, nd = arr.shape[axis], arr.ndim
    moved = np.moveaxis(arr, axis, -1)  # (rest..., n)
    block = next((b for b in BLOCKS if n % b == 0 and n > b), 0)
    if not block:
        t = Tensor(np.ascontiguousarray(moved), device=device)
        return t.permute(*range(axis), nd - 1, *range(axis, nd - 1))
    rest = moved.shape[:-1]
    held = np.ascontiguousarray(np.moveaxis(moved.reshape(*rest, n // block, block), -2, 0))  # (n/B, rest..., B)
    t = Tensor(held, device=device).permute(*range(1, axis + 1), 0, nd, *range(axis + 1, nd))
    return t.reshape(arr.shape)


@op("Conv")
def _conv(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x, w = inp[0], _out_channel_last(inp[1])
    b = inp[2] if len(inp) > 2 else None
    ks, s, d = _conv_attrs(attrs, w)
    pads = _spatial_pads(attrs, x.shape[2:], ks, s, d)
    x = x.pad([(0, 0), (0, 0)] + pads)
    if x.dtype in (dtypes.float16, dtypes.bfloat16):  # accumulate in float32 and round once, as MatMul does
        f32 = dtypes.float32
        y = x.cast(f32).conv2d(w.cast(f32), None if b is None else b.cast(f32), s, 0, d, attrs.get("group", 1))
        return y.cast(x.dtype)
    return x.conv2d(w, b, s, 0, d, attrs.get("group", 1))


@op("ConvTranspose")
def _conv_transpose(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x, w = inp[0], inp[1]
    b = inp[2] if len(inp) > 2 else None
    n = w.ndim - 2
    ks, s, d = _conv_attrs(attrs, w)
    g = attrs.get("group", 1)
    op_ = attrs.get("output_padding") or [0] * n
    ins = x.shape[2:]
    full = [st * (i - 1) + (k - 1) * di + 1 for i, st, k, di in zip(ins, s, ks, d)]
    out_shape = attrs.get("output_shape")
    auto = attrs.get("auto_pad", "NOTSET")
    if out_shape or auto in ("SAME_UPPER", "SAME_LOWER"):
        outs = list(out_shape)[-n:] if out_shape else [i * st for i, st in zip(ins, s)]
        pads = []
        for f, o, p in zip(full, outs, op_):
            tot = f + p - o
            if auto == "SAME_UPPER":
                pads.append((tot // 2, tot - tot // 2))
            else:
                pads.append((tot - tot // 2, tot // 2))
    elif auto == "VALID":
        pads = [(0, 0)] * n
    else:
        pl = attrs.get("pads") or [0] * (2 * n)
        pads = [(pl[j], pl[j + n]) for j in range(n)]
    y = x.conv_transpose2d(w, None, s, 0, 0, d, g)
    y = y.pad([(0, 0), (0, 0)] + [(0, max(p, 0)) for p in op_])
    y = y.pad([(0, 0), (0, 0)] + [(-pb, -pe) for pb, pe in pads])
    if b is not None:
        y = y + b.reshape((1, -1) + (1,) * n)
    return y


def _pool_geometry(x: Tensor, attrs: Attrs) -> tuple[list[int], list[int], list[int], list[tuple[int, int]],
                                                     list[int]]:
    """Kernel, strides, dilations, pads (explicit, as given) and the extra end padding ceil_mode needs."""
    ks = list(attrs["kernel_shape"])
    n = len(ks)
    s = attrs.get("strides") or [1] * n
    d = attrs.get("dilations") or [1] * n
    ins = x.shape[2:]
    pads = _spatial_pads(attrs, ins, ks, s, d)
    extra = []
    for i, k, st, di, (pb, pe) in zip(ins, ks, s, d, pads):
        span = (k - 1) * di + 1
        tot = i + pb + pe
        if attrs.get("ceil_mode", 0):
            o = -(-(tot - span) // st) + 1
            if (o - 1) * st >= i + pb:
                o -= 1
        else:
            o = (tot - span) // st + 1
        extra.append(max((o - 1) * st + span - tot, 0))
    return ks, s, d, pads, extra


@op("MaxPool")
def _maxpool(inp: Inputs, attrs: Attrs, node: Node) -> Tensor | list[Tensor]:
    x = inp[0]
    ks, s, d, pads, extra = _pool_geometry(x, attrs)
    pp = [(0, 0), (0, 0)] + [(pb, pe + e) for (pb, pe), e in zip(pads, extra)]
    xp = x.pad(pp, value=x.dtype.min) if any(p != (0, 0) for p in pp) else x
    n = len(ks)
    win = _windows(xp, tuple(ks), tuple(s), tuple(d))
    out = win.max(tuple(range(-n, 0)))
    if node.n_outputs < 2:
        return out
    # Indices: the first maximum of each window, as a flat index into x (row-major, or column-major over the
    # spatial axes with storage_order=1)
    arg = win.reshape(win.shape[:-n] + (-1,)).argmax(-1)
    ins, outs = x.shape[2:], out.shape[2:]
    dev = x.device
    flat: Tensor | None = None
    rem = arg
    coords = []
    for j in range(n):
        inner = math.prod(ks[j + 1:])
        kj = rem // _full(rem, inner) if inner > 1 else rem
        rem = rem - kj * _full(kj, inner) if inner > 1 else rem
        o = Tensor.arange(outs[j], dtype=dtypes.int64, device=dev).reshape((outs[j],) + (1,) * (n - j - 1))
        coords.append(o * s[j] + kj.cast(dtypes.int64) * d[j] - pads[j][0])
    order = range(n) if not attrs.get("storage_order", 0) else range(n - 1, -1, -1)
    for j in order:
        flat = coords[j] if flat is None else flat * ins[j] + coords[j]
    assert flat is not None
    nb, c = x.shape[:2]
    plane = Tensor.arange(nb * c, dtype=dtypes.int64, device=dev).reshape((nb, c) + (1,) * n)
    return [out, plane * math.prod(ins) + flat]


@op("AveragePool", "LpPool")
def _avgpool(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x = inp[0]
    ks, s, d, pads, extra = _pool_geometry(x, attrs)
    n = len(ks)
    pp = [(0, 0), (0, 0)] + [(pb, pe + e) for (pb, pe), e in zip(pads, extra)]
    axes = tuple(range(-n, 0))
    if "p" in attrs and node.op_type == "LpPool":
        p = attrs.get("p", 2)
        xa = x.abs() ** _full(x, p) if p != 1 else x.abs()
        sm = _windows(xa.pad(pp), tuple(ks), tuple(s), tuple(d)).sum(axes)
        return sm ** _full(sm, 1.0 / p) if p != 1 else sm
    total = _windows(x.pad(pp), tuple(ks), tuple(s), tuple(d)).sum(axes)
    if attrs.get("count_include_pad", 0):  # the explicit pads count, ceil_mode's extra end does not
        ones = Tensor.ones(tuple(i + pb + pe for i, (pb, pe) in zip(x.shape[2:], pads)), x.dtype, x.device)
        ones = ones.pad([(0, e) for e in extra])
    else:
        ones = Tensor.ones(x.shape[2:], x.dtype, x.device).pad([(pb, pe + e) for (pb, pe), e in zip(pads, extra)])
    cnt = _windows(ones, tuple(ks), tuple(s), tuple(d)).sum(axes)
    return total / cnt


@op("GlobalAveragePool")
def _global_avg(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x = inp[0]
    return x.mean(tuple(range(2, x.ndim)), keepdim=True)


@op("GlobalMaxPool")
def _global_max(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x = inp[0]
    return x.max(tuple(range(2, x.ndim)), keepdim=True)


@op("GlobalLpPool")
def _global_lp(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x, p = inp[0], attrs.get("p", 2)
    s = (x.abs() ** _full(x, p)).sum(tuple(range(2, x.ndim)), keepdim=True)
    return s ** _full(s, 1.0 / p)


# ---------------------------------------------------------------------------------------------- normalization
def _channel(t: Tensor, ndim: int) -> Tensor:
    return t.reshape((1, -1) + (1,) * (ndim - 2))


@op("BatchNormalization")
def _batchnorm(inp: Inputs, attrs: Attrs, node: Node) -> Tensor | list[Tensor]:
    x, scale, bias, mean, var = inp[:5]
    eps = attrs.get("epsilon", 1e-5)
    n = x.ndim
    if attrs.get("training_mode", 0):  # normalize by the batch's statistics; update the running ones
        axes = tuple(a for a in range(n) if a != 1)
        bm = x.mean(axes)
        bv = ((x - _channel(bm, n)) * (x - _channel(bm, n))).mean(axes)
        mom = attrs.get("momentum", 0.9)
        y = (x - _channel(bm, n)) * (_channel(bv, n) + _full(bv, eps)).rsqrt() * _channel(scale, n) + \
            _channel(bias, n)
        return [y, mean * mom + bm * (1 - mom), var * mom + bv * (1 - mom)]
    known = [_STATIC.get(t.uop) for t in (scale, bias, mean, var)]
    if all(k is not None for k in known) and x.dtype in (dtypes.float32, dtypes.float64) and \
            all(t.dtype == x.dtype for t in (scale, bias, mean, var)):
        # constant statistics (inference): one scale and shift per channel, computed here in float64 and rounded
        # once (as onnxruntime folds them): two ops an element instead of four and a square root
        sc, bi, mu, va = (np.asarray(k, np.float64) for k in known)
        a = sc / np.sqrt(va + np.float64(np.float32(eps) if x.dtype == dtypes.float32 else eps))
        return x * _channel(const(a, x.device, x.dtype), n) + _channel(const(bi - mu * a, x.device, x.dtype), n)
    inv = (_channel(var, n) + _full(var, eps)).rsqrt()
    return (x - _channel(mean, n)) * inv * _channel(scale, n) + _channel(bias, n)


@op("InstanceNormalization")
def _instancenorm(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x, scale, bias = inp[:3]
    axes = tuple(range(2, x.ndim))
    m = x.mean(axes, keepdim=True)
    v = ((x - m) * (x - m)).mean(axes, keepdim=True)
    y = (x - m) * (v + _full(v, attrs.get("epsilon", 1e-5))).rsqrt()
    return y * _channel(scale, x.ndim) + _channel(bias, x.ndim)


def _stash(x: Tensor, attrs: Attrs) -> Tensor:
    return x.cast(dtypes.float32) if attrs.get("stash_type", 1) == 1 and x.dtype != dtypes.float64 else x


@op("LayerNormalization")
def _layernorm(inp: Inputs, attrs: Attrs, node: Node) -> list[Tensor]:
    x, scale = inp[0], inp[1]
    bias = inp[2] if len(inp) > 2 else None
    a = _ax(attrs.get("axis", -1), x.ndim)
    axes = tuple(range(a, x.ndim))
    xf = _stash(x, attrs)
    m = xf.mean(axes, keepdim=True)
    c = xf - m
    inv = ((c * c).mean(axes, keepdim=True) + _full(xf, attrs.get("epsilon", 1e-5))).rsqrt()
    y = (c * inv).cast(x.dtype) * scale
    if bias is not None:
        y = y + bias
    return [y, m, inv]


@op("GroupNormalization")
def _groupnorm(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x, scale, bias = inp[:3]
    g = attrs["num_groups"]
    nb, c = x.shape[0], x.shape[1]
    xf = _stash(x, attrs)
    xg = xf.reshape(nb, g, -1)
    m = xg.mean(2, keepdim=True)
    cc = xg - m
    y = cc * ((cc * cc).mean(2, keepdim=True) + _full(xf, attrs.get("epsilon", 1e-5))).rsqrt()
    y = y.reshape(x.shape).cast(x.dtype)
    if scale.shape[0] != c:  # opset 18: one scale and bias per group
        scale = scale.reshape(g, 1).expand(g, c // g).reshape(c)
        bias = bias.reshape(g, 1).expand(g, c // g).reshape(c)
    return y * _channel(scale, x.ndim) + _channel(bias, x.ndim)


@op("RMSNormalization")
def _rmsnorm(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x, scale = inp[0], inp[1]
    a = _ax(attrs.get("axis", -1), x.ndim)
    axes = tuple(range(a, x.ndim))
    xf = _stash(x, attrs)
    y = xf * ((xf * xf).mean(axes, keepdim=True) + _full(xf, attrs.get("epsilon", 1e-5))).rsqrt()
    return y.cast(x.dtype) * scale


@op("LpNormalization")
def _lpnorm(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x = inp[0]
    a = _ax(attrs.get("axis", -1), x.ndim)
    p = attrs.get("p", 2)
    nrm = x.abs().sum(a, keepdim=True) if p == 1 else (x * x).sum(a, keepdim=True).sqrt()
    zero = nrm == _full(nrm, 0)
    return zero.where(_full(x, 0), x / zero.where(_full(nrm, 1), nrm))


@op("MeanVarianceNormalization")
def _mvn(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x = inp[0]
    axes = tuple(_ax(a, x.ndim) for a in (attrs.get("axes") or [0, 2, 3]))
    m = x.mean(axes, keepdim=True)
    v = (x * x).mean(axes, keepdim=True) - m * m
    return (x - m) / (v.sqrt() + _full(x, 1e-9))


@op("LRN")
def _lrn(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x = inp[0]
    size = attrs["size"]
    alpha, beta, bias = attrs.get("alpha", 1e-4), attrs.get("beta", 0.75), attrs.get("bias", 1.0)
    lo, hi = (size - 1) // 2, size - 1 - (size - 1) // 2
    sq = (x * x).pad([(0, 0), (lo, hi)] + [(0, 0)] * (x.ndim - 2))
    v = sq.permute([0] + list(range(2, x.ndim)) + [1])
    win = _windows(v, (size,), (1,), (1,)).sum(-1)
    ssum = win.permute([0, x.ndim - 1] + list(range(1, x.ndim - 1)))
    return x / (ssum * _full(x, alpha / size) + _full(x, bias)) ** _full(x, beta)
