"""More of the ONNX op table (fuzz.onnx.table): elementwise math, bitwise, activation and small tensor ops,
in the form of fuzz.onnx.ops (each op a sampler and a type rule).

Drawn (opsets 11..21, the fuzzer's range):
  Asin, Acos, Atanh, Acosh, Tan: read exact values only (`discrete`): next to the edge of their domain (|x| = 1, x = 1)
    or a pole a rounding error flips a value to NaN or moves it far. Fresh inputs inside the domain (-1..1; 0.25..4 and
    wide values for Acosh), now and then the integers -2..2 (the edges: +-1 exactly, +-2 outside) or any exact value
    (Tan: none computed from a wide input).
  Sinh, Cosh, Asinh: any value (wide ones too: float32 overflows past |x| = 89.4).
  Shrink (lambd negative, zero, integral: ties with inputs holding the integers -2..2; bias), float and signed int
    inputs (an unsigned one shifted below 0 is undefined in onnxruntime's cast).
  BitShift (11+, uint8/uint16: LEFT and RIGHT by constant amounts below the width; BitShift-11 leaves wider ones
    undefined), BitwiseAnd/Or/Xor/Not (18+, int8..int64, uint8, uint16; full-range and small values).
  Dropout in inference: the ratio attribute at opset 11 (Dropout-10), from 12 the ratio and training_mode inputs
    (absent, given, omitted with ""; training_mode true only with a ratio of 0, where nothing is dropped), the
    optional mask output from 12, a seed attribute.
  EyeLike (k inside, on the edge of and past the matrix, dtype attribute, 2-D inputs of every input dtype, a 0 dim).
  Det (square matrices 1..6, batched, a 0 batch): constant well-conditioned matrices (diagonally dominant, rows
    permuted so that pivoting matters); float64 only from 13 (onnxruntime has no kernel: onnx.reference).
  The float64 trigonometric and hyperbolic ops, EyeLike's outputs other than float, double, int32, int64 and uint64,
    and its bool/8/16-bit inputs are run by onnx.reference (onnxruntime has no kernel): drawn only from opset 13.

Not drawn:
  Swish (opset 24), CumProd and BitCast (opset 26): newer than the newest opset cases are drawn at
    (fuzz.onnx.case.newest_opset: 23 with onnxruntime 1.23 and later).
  uint32 and uint64 graph inputs and constants: fuzz.onnx.case.DTYPES has neither (EyeLike makes such values and the
    bitwise ops read them; BitShift of them and fresh inputs of them are drawn once DTYPES has them).

Engine bugs these specs found (fixed, corpus/onnx): Shrink of an integer tensor raised, Shrink of float16 compared
  with lambd rounded to float16; Sinh and Cosh overflowed where the result is finite (|x| 88.73..89.41 in float32),
  Asinh cancelled for large negative x and was NaN at -inf, and Sinh, Asinh and Atanh lost accuracy near 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from fuzz.onnx.ops import FLOATS, TT, Ctx, OpSpec, Shape, _bcastable, broadcast

if TYPE_CHECKING:
    from fuzz.onnx.generate import Draw

Sample = tuple[list[str], dict[str, Any]] | None
ORT_FLOATS = ("float32", "float16")  # the trigonometric ops' and Det's onnxruntime kernels (no float64)
SIGNED = ("int8", "int16", "int32", "int64")
UNSIGNED = ("uint8", "uint16", "uint32", "uint64")
BITS = SIGNED + UNSIGNED
# TensorProto numbers of the dtypes EyeLike's `dtype` attribute is drawn with (the case keeps the number: only
# Cast's and QuantizeLinear's dtype attributes are written by name, fuzz.onnx.case.DTYPE_ATTRS)
TENSOR_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 9: "bool",
                 10: "float16", 11: "float64", 12: "uint32", 13: "uint64"}
DTYPE_NUMBERS = {v: k for k, v in TENSOR_DTYPES.items()}
EYE_ORT = ("float32", "float64", "int32", "int64", "uint64")  # onnxruntime's EyeLike outputs


def _inputable(dt: str) -> bool:
    """Whether a graph input or initializer may have this dtype (fuzz.onnx.case.DTYPES)."""
    from fuzz.onnx.case import DTYPES

    return dt in DTYPES


def _floats(opset: int) -> tuple[str, ...]:
    """The float dtypes of the ops onnxruntime runs in float32 and float16 only: float64 where onnx.reference may
    stand in (from 13)."""
    return FLOATS if opset >= 13 else ORT_FLOATS


def _bits(dt: str) -> int:
    return int(dt.removeprefix("u").removeprefix("int"))


def _full_range(dt: str) -> str:
    """A domain of every value of an integer dtype (-2^(b-1)..2^(b-1)-1, which wraps onto 0..2^b-1 unsigned)."""
    return f"index:{1 << (_bits(dt) - 1)}"


def _same_infer(dtypes: tuple[str, ...] = (), opset_dtypes: Callable[[int], tuple[str, ...]] | None = None):
    def infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
        t = c.t(ins[0])
        ok = opset_dtypes(c.opset) if opset_dtypes else dtypes
        if t[1] not in ok:
            raise ValueError(f"takes {'/'.join(ok)} at opset {c.opset}, got {t[1]}")
        return [t]

    return infer


# ---------------------------------------------------------------------------------------------- trigonometric
def _edge_sample(inside: tuple[str, ...], edge_rate: float = 0.15, exact_rate: float = 0.2, tame: bool = False):
    """A fresh input in one of the `inside` domains (in the op's domain, away from a pole), else the integers -2..2
    (edge_rate: the edges of the domain and past them), else any exact value (the op is `discrete`; `tame`: none
    computed from a wide input)."""

    def sample(d: Draw) -> Sample:
        fl = _floats(d.opset)
        r = d.rng.random()
        if r < exact_rate:
            x = d.pick(lambda t: t[1] in fl, fresh=False, tame=tame)
            if x is not None:
                return [x], {}
        shape = d.shape() if d.rng.random() < 0.9 else (1,)
        dom = "grid" if r > 1 - edge_rate else d.rng.choice(inside)
        return [d.new_value(shape, d.rng.choice(fl), dom)], {}

    return sample


def _any_sample(d: Draw) -> Sample:
    fl = _floats(d.opset)
    x = d.pick(lambda t: t[1] in fl)
    return ([x], {}) if x else None


# ---------------------------------------------------------------------------------------------- Shrink
_F16_LAMBDS = (0.0, 0.25, 0.5, 0.5, 0.75, 1.0, 1.0, 1.5, 2.0, -0.5, -1.0)  # exact in float16 (ties with integers)
_SHRINK_TYPES = FLOATS + SIGNED


def _shrink_sample(d: Draw) -> Sample:
    x: str | None
    if d.rng.random() < 0.25:  # integers -2..2: ties with an integral lambd, where x == lambd gives 0
        x = d.new_value(d.shape(), d.rng.choice(FLOATS + ("int32", "int64", "int8", "int16")), "grid")
    else:  # exact (Shrink is discrete: a rounding error flips the threshold)
        x = d.pick(lambda t: t[1] in _SHRINK_TYPES)
    if x is None:
        return None
    attrs: dict[str, Any] = {}
    if d.rng.random() < 0.8:
        if d.rng.random() < 0.5:
            attrs["lambd"] = d.rng.choice(_F16_LAMBDS)
        else:
            attrs["lambd"] = round(d.rng.uniform(-0.5, 2.0), 3)
    if d.rng.random() < 0.7:
        attrs["bias"] = d.rng.choice((round(d.rng.uniform(-1.5, 1.5), 3), 0.5, 1.0, -1.0))
    return [x], attrs


# ---------------------------------------------------------------------------------------------- bitwise
def _int_operand(d: Draw, shape: Shape, dt: str) -> str:
    """A fresh integer operand: small values (-8..8, wrapped when unsigned) or any of the dtype's values."""
    return d.operand(shape, dt, _full_range(dt) if d.rng.random() < 0.5 else "int_small")


def _int_pick(d: Draw, dtypes: tuple[str, ...]) -> str | None:
    x = d.pick(lambda t: t[1] in dtypes, fresh=False) if d.rng.random() < 0.6 else None
    if x is not None:
        return x
    dts = [t for t in dtypes if _inputable(t)]
    return _int_operand(d, d.shape(), d.rng.choice(dts)) if dts else None


def _bitwise_sample(d: Draw) -> Sample:
    a = _int_pick(d, BITS)
    if a is None:
        return None
    sa, dt = d.types[a]
    if not _inputable(dt) or d.rng.random() < 0.3:  # an existing value of the dtype, broadcasting with a
        b = d.pick(lambda t: t[1] == dt and _bcastable(t[0], sa), fresh=False)
        if b is not None:
            return ([a, b] if d.rng.random() < 0.7 else [b, a]), {}
    if not _inputable(dt):
        return None
    if d.rng.random() < 0.15 and 1 in sa:  # both sides broadcast
        shape = tuple(d.rng.choice((1, 2, 3)) if n == 1 else n for n in sa)
    else:
        shape = d.sub_shape(sa) if d.rng.random() < 0.4 else sa
    b = _int_operand(d, shape, dt)
    return ([a, b] if d.rng.random() < 0.7 else [b, a]), {}


def _bitwise_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    (sa, da), (sb, db) = c.t(ins[0]), c.t(ins[1])
    if da != db or da not in BITS:
        raise ValueError(f"bitwise op of {da} and {db}: one integer dtype")
    return [(broadcast(sa, sb), da)]


def _bitnot_sample(d: Draw) -> Sample:
    x = _int_pick(d, BITS)
    return ([x], {}) if x else None


def _bitshift_sample(d: Draw) -> Sample:
    # BitShift-11 (the opsets drawn) is unsigned only and leaves a shift by the width or more undefined: amounts are
    # constants below the width, whose dtype must be an initializer's
    dts = tuple(t for t in UNSIGNED if _inputable(t))
    x = _int_pick(d, dts)
    if x is None:
        return None
    sx, dt = d.types[x]
    width = _bits(dt)
    r = d.rng.random()
    shape: Shape = () if r < 0.25 else sx if r < 0.6 else d.sub_shape(sx)
    n = 1
    for m in shape:
        n *= m
    if d.rng.random() < 0.3:  # large shifts, where a LEFT shift drops the high bits
        amounts = [d.rng.choice((width - 1, width - 2, width // 2)) for _ in range(n)]
    else:
        amounts = [d.rng.randrange(width) for _ in range(n)]
    y = d.scalar(amounts[0], dt) if shape == () else d.data(amounts, dt, shape)
    return [x, y], {"direction": d.rng.choice(("LEFT", "RIGHT"))}


def _bitshift_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    (sx, dx), (sy, dy) = c.t(ins[0]), c.t(ins[1])
    if dx != dy or dx not in UNSIGNED:
        raise ValueError(f"BitShift of {dx} by {dy}: one unsigned dtype")
    if a.get("direction") not in ("LEFT", "RIGHT"):
        raise ValueError(f"BitShift direction {a.get('direction')!r}")
    if ins[1] in c.consts and any(not 0 <= int(v) < _bits(dx) for v in c.consts[ins[1]]):
        raise ValueError("BitShift amounts must be below the width (BitShift-11 leaves the rest undefined)")
    return [(broadcast(sx, sy), dx)]


# ---------------------------------------------------------------------------------------------- Dropout
def _dropout_sample(d: Draw) -> Sample:
    x = d.pick(lambda t: t[1] in FLOATS)
    if x is None:
        return None
    attrs: dict[str, Any] = {}
    if d.opset >= 12 and d.rng.random() < 0.2:  # (no seed in Dropout-10)
        attrs["seed"] = d.rng.randint(0, 1000)
    if d.opset < 12:  # Dropout-10: the ratio an attribute; its mask is left out (onnxruntime's is all false)
        if d.rng.random() < 0.6:
            attrs["ratio"] = d.rng.choice((0.0, 0.1, 0.5, 0.9, round(d.rng.uniform(0, 0.99), 3)))
        return [x], attrs
    ins = [x]
    if d.rng.random() < 0.15:  # training_mode true: deterministic (nothing dropped) only at a ratio of 0
        ins += [d.scalar(0.0, d.rng.choice(FLOATS)), d.scalar(True, "bool")]
    else:
        if d.rng.random() < 0.6:
            ins.append(d.scalar(d.rng.choice((0.0, 0.3, 0.5, 0.9)), d.rng.choice(FLOATS)))
        if d.rng.random() < 0.4:
            if len(ins) == 1:
                ins.append("")  # ratio omitted, training_mode given
            ins.append(d.scalar(False, "bool"))
    if d.rng.random() < 0.4:
        attrs["_mask"] = 1
    return ins, attrs


def _dropout_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = c.t(ins[0])
    if dx not in FLOATS:
        raise ValueError(f"Dropout of {dx}")
    if c.opset < 12:
        if len(ins) > 1 or a.get("_mask") or "seed" in a:
            raise ValueError("Dropout before opset 12 takes the ratio as an attribute and no seed; its mask is not "
                             "drawn")
        return [(sx, dx)]
    if "ratio" in a:
        raise ValueError("Dropout from opset 12 takes the ratio as an input")
    ratio: Any = 0.5
    if len(ins) > 1 and ins[1]:
        if c.t(ins[1])[0] != () or c.t(ins[1])[1] not in FLOATS:
            raise ValueError("Dropout ratio must be a float scalar")
        ratio = c.consts.get(ins[1], [None])[0]
    if len(ins) > 2 and ins[2]:
        if c.t(ins[2]) != ((), "bool"):
            raise ValueError("Dropout training_mode must be a bool scalar")
        if c.consts.get(ins[2], [True])[0] and ratio != 0:
            raise ValueError("Dropout in training mode is random unless the ratio is a constant 0")
    if len(ins) > 3:
        raise ValueError("Dropout takes at most three inputs")
    return [(sx, dx)] + ([(sx, "bool")] if a.get("_mask") else [])


# ---------------------------------------------------------------------------------------------- EyeLike
def _eyelike_sample(d: Draw) -> Sample:
    old = d.opset < 13  # onnxruntime only (its kernels' dtypes)
    ins_ok = ("float32", "float64", "int32", "int64") if old else \
        tuple(t for t in TENSOR_DTYPES.values() if _inputable(t))
    x = d.pick(lambda t: t[1] in ins_ok and len(t[0]) == 2, fresh=False) if d.rng.random() < 0.5 else None
    if x is None:
        n, m = d.dim(), d.dim()
        if d.rng.random() < 0.08:
            n, m = (0, m) if d.rng.random() < 0.5 else (n, 0)
        x = d.new_value((n, m), d.rng.choice(ins_ok))
    n, m = d.types[x][0]
    attrs: dict[str, Any] = {}
    if d.rng.random() < 0.7:
        attrs["k"] = d.rng.choice((d.rng.randint(-n, m), d.rng.randint(-n - 2, m + 2), m - 1, 1 - n, m, -n, 1, -1))
    outs = EYE_ORT if old else tuple(TENSOR_DTYPES.values())
    if d.rng.random() < 0.6 or d.types[x][1] not in outs:
        attrs["dtype"] = DTYPE_NUMBERS[d.rng.choice(outs)]
    return [x], attrs


def _eyelike_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = c.t(ins[0])
    if len(sx) != 2:
        raise ValueError(f"EyeLike of a rank-{len(sx)} tensor")
    if "dtype" in a and a["dtype"] not in TENSOR_DTYPES:
        raise ValueError(f"EyeLike dtype {a['dtype']!r}: not drawn (TensorProto numbers {sorted(TENSOR_DTYPES)})")
    if not isinstance(a.get("k", 0), int):
        raise ValueError("EyeLike k must be an int")
    out = TENSOR_DTYPES[a["dtype"]] if "dtype" in a else dx
    if dx not in TENSOR_DTYPES.values():
        raise ValueError(f"EyeLike of {dx}")
    return [(sx, out)]


# ---------------------------------------------------------------------------------------------- Det
def _det_sample(d: Draw) -> Sample:
    """A constant batch of well-conditioned matrices: rows diagonally dominant (off-diagonal entries below 0.9/M in
    all, the diagonal 1..2 of either sign), then permuted (partial pivoting must swap them back)."""
    dt = d.rng.choice(_floats(d.opset))
    m = d.rng.choice((1, 2, 2, 3, 3, 4, 5, 6))
    r = d.rng.random()
    batch: Shape = () if r < 0.4 else (d.rng.randint(1, 4),) if r < 0.75 else \
        (d.rng.randint(1, 3), d.rng.randint(1, 3))
    if batch and d.rng.random() < 0.05:
        batch = (0,) + batch[1:]
    count = 1
    for b in batch:
        count *= b
    values: list[float] = []
    for _ in range(count):
        rows = [[round(d.rng.uniform(-0.9, 0.9) / m, 4) for _ in range(m)] for _ in range(m)]
        for i in range(m):
            rows[i][i] = round(d.rng.choice((1, -1)) * d.rng.uniform(1.0, 2.0), 4)
        if d.rng.random() < 0.6:
            d.rng.shuffle(rows)
        values += [v for row in rows for v in row]
    return [d.data(values, dt, batch + (m, m))], {}


def _det_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = c.t(ins[0])
    if dx not in _floats(c.opset):
        raise ValueError(f"Det of {dx} at opset {c.opset}")
    if len(sx) < 2 or sx[-1] != sx[-2]:
        raise ValueError(f"Det of {list(sx)}: not square matrices")
    return [(sx[:-2], dx)]


SPECS: list[OpSpec] = [
    OpSpec("Asin", _edge_sample(("unit",)), _same_infer(opset_dtypes=_floats), discrete=True, old=11),
    OpSpec("Acos", _edge_sample(("unit",)), _same_infer(opset_dtypes=_floats), discrete=True, old=11),
    OpSpec("Atanh", _edge_sample(("unit",)), _same_infer(opset_dtypes=_floats), discrete=True, old=11),
    OpSpec("Acosh", _edge_sample(("positive", "positive", "wide")), _same_infer(opset_dtypes=_floats),
           discrete=True, old=11),
    OpSpec("Tan", _edge_sample(("unit",), exact_rate=0.15, tame=True), _same_infer(opset_dtypes=_floats),
           discrete=True, old=11),
    OpSpec("Asinh", _any_sample, _same_infer(opset_dtypes=_floats), old=11),
    OpSpec("Sinh", _any_sample, _same_infer(opset_dtypes=_floats), old=11),
    OpSpec("Cosh", _any_sample, _same_infer(opset_dtypes=_floats), old=11),
    OpSpec("Shrink", _shrink_sample, _same_infer(_SHRINK_TYPES), defaults={"lambd": 0.5, "bias": 0.0}, discrete=True,
           old=11),
    OpSpec("BitShift", _bitshift_sample, _bitshift_infer, old=11),
    *[OpSpec(n, _bitwise_sample, _bitwise_infer, since=18) for n in ("BitwiseAnd", "BitwiseOr", "BitwiseXor")],
    OpSpec("BitwiseNot", _bitnot_sample, _same_infer(BITS), since=18),
    OpSpec("Dropout", _dropout_sample, _dropout_infer, defaults={"ratio": None, "seed": None}, old=11),
    OpSpec("EyeLike", _eyelike_sample, _eyelike_infer, defaults={"k": 0, "dtype": None}, old=11),
    OpSpec("Det", _det_sample, _det_infer, old=11),
]
EXACT: frozenset[str] = frozenset({"BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot", "Dropout",
                                   "EyeLike"})  # bit-exact given exact inputs (fuzz.onnx.generate.EXACT_OPS)
SUMS: frozenset[str] = frozenset()  # ops that sum their inputs' terms (fuzz.onnx.fuzzer.SUMS)
# maps of slope about one (fuzz.onnx.fuzzer.PASS_THROUGH): Asinh (at most 1), Sinh (1 near 0, where its result is
# as small as its input), Dropout (the identity)
PASS_THROUGH: frozenset[str] = frozenset({"Asinh", "Sinh", "Dropout"})
