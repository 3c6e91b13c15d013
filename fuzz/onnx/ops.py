"""The ONNX op-spec table: for every operator the fuzzer draws, which inputs it accepts, the attributes it samples
(with the corners that break importers) and the shapes and dtypes it produces. Nobody else repeats an op's rule:
the generator calls `sample`, validation and the reductions call `infer`.

A spec's `sample(d)` draws a node against the values built so far (`d` is a `fuzz.onnx.generate.Draw`): it picks
or creates the inputs (graph inputs, initializers with random values, or constant int64 data such as axes and
pads) and the attributes, and returns (input names, attrs), or None when the op does not fit here. Its
`infer(c, ins, attrs)` gives the output types from the input types, the constant data (`c.consts`) and the opset,
and raises ValueError for anything ONNX would reject, so a shrunk or hand-written case is checked the same way.
A dimension the values decide (NonZero's count) is UNKNOWN in the table and is compared when the model runs; no
node reads such a value.
Opset differences are part of the rule: axes as an attribute (ReduceMean before 18) or as an input (after),
Split's `num_outputs` (18+), AveragePool dilations (19+), ops that appear in later opsets (Gelu 20, Mish 18,
LayerNormalization 17, HardSwish 14).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from fuzz.onnx.generate import Draw

Shape = tuple[int, ...]  # a dimension of UNKNOWN depends on the values (NonZero's count)
TT = tuple[Shape, str]  # (shape, dtype) of one value
UNKNOWN = -1
FLOATS = ("float32", "float16", "float64")
INTS = ("int32", "int64")
NEWEST_OPSET = 28  # capped again at what the installed onnx knows (fuzz.onnx.case.newest_opset)


@dataclass
class Ctx:
    """What `infer` sees: every value's type, constant int data by name, the opset."""

    types: dict[str, TT]
    consts: dict[str, list[Any]]
    opset: int

    def t(self, name: str) -> TT:
        if name not in self.types:
            raise ValueError(f"value {name!r} is not defined before it is used")
        return self.types[name]

    def const(self, name: str, what: str) -> list[Any]:
        if name not in self.consts:
            raise ValueError(f"{what} ({name!r}) must be a constant initializer")
        return self.consts[name]


@dataclass(frozen=True)
class OpSpec:
    """One operator: sampler, type rule, the opsets it is drawn for, attribute defaults (for the reducer)."""

    name: str
    sample: Callable[[Draw], tuple[list[str], dict[str, Any]] | None]
    infer: Callable[[Ctx, list[str], dict[str, Any]], list[TT]]
    since: int = 13
    defaults: dict[str, Any] = field(default_factory=dict)  # attr -> its default (the reducer resets to it)
    # a small input error can flip the result (argmax, floor, comparisons), or, for the periodic Sin, Cos and Mod, an
    # input's relative error becomes an absolute one as large as the input: such ops read only exact values
    discrete: bool = False
    old: int = 0  # the lowest opset below 13 it is drawn at (0: none; OLD_OPSETS)

    def drawn_at(self, opset: int) -> bool:
        return self.since <= opset or 0 < self.old <= opset


def axis_of(a: int, r: int, what: str = "axis") -> int:
    if not -r <= a < r:
        raise ValueError(f"{what} {a} out of range for rank {r}")
    return a % r


def known(shape: Shape) -> bool:
    """Whether every dimension is known before the model runs."""
    return all(n != UNKNOWN for n in shape)


def fits(shape: Shape, table: Shape) -> bool:
    """Whether a computed shape is the table's (an UNKNOWN dimension of the table fits any size)."""
    return len(shape) == len(table) and all(t in (UNKNOWN, n) for n, t in zip(shape, table))


def broadcast(*shapes: Shape) -> Shape:
    r = max(len(s) for s in shapes)
    out = []
    for k in range(r):
        dims = {s[len(s) - r + k] for s in shapes if len(s) - r + k >= 0} - {1}
        if len(dims) > 1:
            raise ValueError(f"shapes {[list(s) for s in shapes]} do not broadcast")
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def _float_in(c: Ctx, name: str, op: str) -> TT:
    t = c.t(name)
    if t[1] not in FLOATS:
        raise ValueError(f"{op} takes a float tensor, got {t[1]}")
    return t


# ---------------------------------------------------------------------------------------------- elementwise
def _unary(dtypes: tuple[str, ...] = FLOATS, domain: str = "", attrs: Callable[[Draw], dict[str, Any]] | None = None):
    def sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
        x = d.pick(lambda t: t[1] in dtypes, positive=domain == "positive")
        return ([x], attrs(d) if attrs else {}) if x else None

    def infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
        t = c.t(ins[0])
        if t[1] not in dtypes:
            raise ValueError(f"takes {'/'.join(dtypes)}, got {t[1]}")
        return [t]

    return sample, infer


def _alpha(lo: float, hi: float, name: str = "alpha") -> Callable[[Draw], dict[str, Any]]:
    return lambda d: {name: round(d.rng.uniform(lo, hi), 3)} if d.rng.random() < 0.7 else {}


def _binary(dtypes: tuple[str, ...], out: str | None = None, divisor: bool = False, pos_base: bool = False):
    def sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
        a = d.pick(lambda t: t[1] in dtypes, positive=pos_base)
        if a is None:
            return None
        b = d.partner(a, positive=divisor)
        return ([a, b] if d.rng.random() < 0.8 or divisor or pos_base else [b, a]), {}

    def infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
        (sa, da), (sb, db) = c.t(ins[0]), c.t(ins[1])
        if da != db or da not in dtypes:
            raise ValueError(f"inputs {da}/{db}: must be one dtype of {'/'.join(dtypes)}")
        return [(broadcast(sa, sb), out or da)]

    return sample, infer


_positive_pow = _binary(FLOATS, pos_base=True)[0]


def _pow_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    if d.rng.random() < 0.5:  # a positive base: any real exponent
        return _positive_pow(d)
    # a base of either sign with an integral exponent (a float holding -2..2, or an integer tensor): real in ONNX
    # as in C's pow. Not a base that may be 0: the sign of a computed zero (which runtimes need not agree on) decides
    # the sign of 0 ** -1
    a = d.pick(lambda t: t[1] in FLOATS, nonzero=True)
    if a is None:
        return None
    sa, dt = d.types[a]
    shape = d.sub_shape(sa) if d.rng.random() < 0.5 else sa
    return [a, d.operand(shape, d.rng.choice((dt, dt, "int32", "int64")), "grid")], {}


def _pow_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    (sa, da), (sb, db) = c.t(ins[0]), c.t(ins[1])
    if da not in FLOATS or db not in FLOATS + INTS:
        raise ValueError(f"Pow of {da} to {db}: the fuzzer draws float bases, float or int exponents")
    return [(broadcast(sa, sb), da)]


def _variadic(dtypes: tuple[str, ...]):
    def sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
        a = d.pick(lambda t: t[1] in dtypes)
        if a is None:
            return None
        return [a] + [d.partner(a) for _ in range(d.rng.choice((1, 1, 2)))], {}

    def infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
        ts = [c.t(i) for i in ins]
        if len({t[1] for t in ts}) != 1 or ts[0][1] not in dtypes:
            raise ValueError(f"inputs must share one dtype of {'/'.join(dtypes)}")
        return [(broadcast(*[t[0] for t in ts]), ts[0][1])]

    return sample, infer


def _where_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: t[1] in FLOATS)
    if x is None:
        return None
    cond = d.pick(lambda t: t[1] == "bool" and _bcastable(t[0], d.types[x][0]), fresh=False)
    if cond is None:
        sx = d.types[x][0]
        shape = d.sub_shape(sx)
        if d.rng.random() < 0.25:  # the condition broadcasts the values: their size-1 dims grow, or one dim more
            shape = tuple(d.rng.choice((2, 3)) if m == 1 else m for m in sx)
            if len(sx) < 4 and d.rng.random() < 0.5:
                shape = (d.rng.choice((2, 3)), *shape)
        cond = d.new_value(shape, "bool", "bool")
    return [cond, x, d.partner(x)], {}


def _where_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    (sc, dc), (sx, dx), (sy, dy) = (c.t(i) for i in ins)
    if dc != "bool" or dx != dy:
        raise ValueError(f"Where takes a bool condition and two values of one dtype, got {dc}, {dx}, {dy}")
    return [(broadcast(sc, sx, sy), dx)]


def _bcastable(small: Shape, big: Shape) -> bool:
    try:
        return broadcast(small, big) == tuple(big)
    except ValueError:
        return False


CASTS = ("float32", "float16", "float64", "int32", "int64", "bool")


def _cast_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: t[1] in CASTS)
    if x is None:
        return None
    src = d.types[x][1]
    to = d.rng.choice([t for t in CASTS if t != src])
    return [x], {"to": to}  # x is exact (Cast is discrete): an input, in a small range, so float->int fits


def _cast_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    if a.get("to") not in CASTS:
        raise ValueError(f"Cast to {a.get('to')!r}: not drawn by the fuzzer")
    return [(c.t(ins[0])[0], a["to"])]


def _castlike_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: t[1] in FLOATS)
    if x is None:
        return None
    to = d.rng.choice([t for t in FLOATS if t != d.types[x][1]])
    return [x, d.new_weight((d.rng.choice((1, 2)),), to)], {}


def _castlike_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    return [(c.t(ins[0])[0], c.t(ins[1])[1])]


def _clip_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: t[1] in FLOATS)
    if x is None:
        return None
    dt = d.types[x][1]
    lo, hi = sorted(round(d.rng.uniform(-1.5, 1.5), 2) for _ in range(2))
    if d.rng.random() < 0.2:  # min > max: ONNX gives max everywhere (the order of the two clamps matters)
        lo, hi = hi, lo
    ins = [x, d.scalar(lo, dt) if d.rng.random() < 0.7 else ""]
    if d.rng.random() < 0.7:
        ins.append(d.scalar(hi, dt))
    return ins, {}


def _clip_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    t = _float_in(c, ins[0], "Clip")
    for i in ins[1:]:
        if i and c.t(i) != ((), t[1]):
            raise ValueError("Clip's min and max are scalars of the input's dtype")
    return [t]


# ---------------------------------------------------------------------------------------------- matmul, gemm
def _matmul_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    a = d.pick(lambda t: t[1] in ("float32", "float64") and len(t[0]) >= 1)
    if a is None:
        return None
    sa, dt = d.types[a]
    k = sa[-1]
    n = d.dim()
    if len(sa) == 1 or d.rng.random() < 0.3:
        sb: Shape = (k,) if d.rng.random() < 0.3 else (k, n)
        if len(sa) == 1 and d.rng.random() < 0.3:  # a vector times a batch of matrices
            sb = (d.rng.choice((2, 3)), k, n)
    else:
        batch = d.sub_shape(sa[:-2]) if d.rng.random() < 0.6 else ()
        if d.rng.random() < 0.3:  # b's batch broadcasts a's: a's size-1 batch dims grow, or b has one more
            batch = tuple(d.rng.choice((2, 3)) if m == 1 else m for m in sa[:-2])
            if len(sa) < 4 and d.rng.random() < 0.5:
                batch = (d.rng.choice((2, 3)), *batch)
        sb = batch + (k, n)
    return [a, d.operand(sb, dt)], {}


def _matmul_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    (sa, da), (sb, db) = c.t(ins[0]), c.t(ins[1])
    if da != db or da not in FLOATS:
        raise ValueError(f"MatMul of {da} and {db}")
    if not sa or not sb:
        raise ValueError("MatMul of a scalar")
    a2 = (1,) + sa if len(sa) == 1 else sa
    b2 = sb + (1,) if len(sb) == 1 else sb
    if a2[-1] != b2[-2]:
        raise ValueError(f"MatMul of {list(sa)} and {list(sb)}: inner dims differ")
    out = broadcast(a2[:-2], b2[:-2]) + (a2[-2], b2[-1])
    if len(sa) == 1:
        out = out[:-2] + out[-1:]
    if len(sb) == 1:
        out = out[:-1]
    return [(out, da)]


def _gemm_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    a = d.pick(lambda t: t[1] in ("float32", "float64") and len(t[0]) == 2)
    if a is None:
        return None
    dt = d.types[a][1]
    ta, tb = int(d.rng.random() < 0.4), int(d.rng.random() < 0.5)
    m, k = d.types[a][0][::-1] if ta else d.types[a][0]
    n = d.dim()
    ins = [a, d.operand((n, k) if tb else (k, n), dt)]
    if d.rng.random() < 0.7:
        ins.append(d.operand(d.rng.choice([(n,), (1, n), (m, 1), (m, n), ()]), dt))
    attrs: dict[str, Any] = {}
    if ta:
        attrs["transA"] = 1
    if tb:
        attrs["transB"] = 1
    if d.rng.random() < 0.4:
        attrs["alpha"] = round(d.rng.uniform(-2, 2), 2)
    if d.rng.random() < 0.4 and len(ins) == 3:
        attrs["beta"] = round(d.rng.uniform(-2, 2), 2)
    return ins, attrs


def _gemm_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    (sa, da), (sb, db) = c.t(ins[0]), c.t(ins[1])
    if len(sa) != 2 or len(sb) != 2 or da != db or da not in FLOATS:
        raise ValueError(f"Gemm takes two 2-D tensors of one float dtype, got {list(sa)} {da}, {list(sb)} {db}")
    m, k = sa[::-1] if a.get("transA", 0) else sa
    k2, n = sb[::-1] if a.get("transB", 0) else sb
    if k != k2:
        raise ValueError(f"Gemm: inner dims {k} and {k2} differ")
    if len(ins) > 2 and ins[2]:
        sc, dc = c.t(ins[2])
        if dc != da or not _bcastable(sc, (m, n)):
            raise ValueError(f"Gemm: C {list(sc)} does not broadcast to {[m, n]}")
    return [((m, n), da)]


# ---------------------------------------------------------------------------------------------- conv and pooling
def _window_attrs(d: Draw, spatial: Shape, pool: bool, dilate: bool) -> dict[str, Any] | None:
    """kernel_shape, strides, dilations, pads or auto_pad for a window over `spatial`; None if none fits."""
    nd = len(spatial)
    for _ in range(4):
        k = [d.rng.choice((1, 2, 3)) for _ in range(nd)]
        s = [d.rng.choice((1, 1, 2, 3)) for _ in range(nd)]
        mode = d.rng.choice(("NOTSET", "NOTSET", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"))
        # onnxruntime refuses (Conv) or mis-sizes (pooling) dilated windows with SAME_*: not drawn
        dl = [d.rng.choice((1, 1, 2)) for _ in range(nd)] if dilate and not mode.startswith("SAME") else [1] * nd
        ext = [(kk - 1) * dd + 1 for kk, dd in zip(k, dl)]
        attrs: dict[str, Any] = {"kernel_shape": k}
        if any(x != 1 for x in s) or d.rng.random() < 0.3:
            attrs["strides"] = s
        if dilate and (any(x != 1 for x in dl) or d.rng.random() < 0.2):
            attrs["dilations"] = dl
        if mode == "NOTSET":
            pads = [d.rng.choice((0, 0, 1, 2)) for _ in range(2 * nd)]
            if pool:  # a pooling pad must be smaller than the kernel
                pads = [min(p, k[i % nd] - 1) for i, p in enumerate(pads)]
            if any(pads) or d.rng.random() < 0.3:
                attrs["pads"] = pads
        else:
            attrs["auto_pad"] = mode
        out = _window_out(spatial, attrs, ext)
        if mode.startswith("SAME") and any((o - 1) * st + e < n for o, st, e, n in zip(out, s, ext, spatial)):
            continue  # a negative total SAME padding: onnxruntime refuses it, onnx.reference gets it wrong
        if all(o >= 1 for o in out):
            return attrs
    return None


def _window_out(spatial: Shape, a: dict[str, Any], ext: list[int], ceil: bool = False) -> list[int]:
    nd = len(spatial)
    s = a.get("strides", [1] * nd)
    mode = a.get("auto_pad", "NOTSET")
    pads = a.get("pads", [0] * (2 * nd))
    out = []
    for i, n in enumerate(spatial):
        if mode in ("SAME_UPPER", "SAME_LOWER"):
            out.append(-(-n // s[i]))
        elif mode == "VALID":
            out.append((n - ext[i]) // s[i] + 1 if n >= ext[i] else 0)
        else:
            span = n + pads[i] + pads[i + nd] - ext[i]
            if span < 0:
                out.append(0)
            elif ceil:
                o = -(-span // s[i]) + 1
                if (o - 1) * s[i] >= n + pads[i]:  # the last window would start in the end padding
                    o -= 1
                out.append(o)
            else:
                out.append(span // s[i] + 1)
    return out


def _check_window(a: dict[str, Any], nd: int, kernel: list[int] | None = None) -> list[int]:
    k = kernel if kernel is not None else a.get("kernel_shape")
    if not isinstance(k, list) or len(k) != nd:
        raise ValueError(f"kernel_shape must have {nd} entries")
    for key, n in (("strides", nd), ("dilations", nd), ("pads", 2 * nd)):
        if key in a and (len(a[key]) != n or any(v < (0 if key == "pads" else 1) for v in a[key])):
            raise ValueError(f"{key} {a[key]} must have {n} entries in range")
    if "pads" in a and a.get("auto_pad", "NOTSET") != "NOTSET":
        raise ValueError("pads and auto_pad together")
    dl = a.get("dilations", [1] * nd)
    return [(kk - 1) * dd + 1 for kk, dd in zip(k, dl)]


def _conv_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: t[1] == "float32" and len(t[0]) in (3, 4) and math.prod(t[0][2:]) >= 4)
    if x is None:
        x = d.new_value(d.image_shape(), "float32", "normal")
    sx = d.types[x][0]
    c = sx[1]
    group = d.rng.choice([g for g in (1, 1, 2, 3, c) if c % g == 0])
    m = group * d.rng.choice((1, 2, 3))
    attrs = _window_attrs(d, sx[2:], pool=False, dilate=True)
    if attrs is None:
        return None
    w = d.new_weight((m, c // group, *attrs["kernel_shape"]), "float32")
    if d.rng.random() < 0.5:
        del attrs["kernel_shape"]  # inferred from the weight
    if group != 1:
        attrs["group"] = group
    ins = [x, w] + ([d.new_weight((m,), "float32")] if d.rng.random() < 0.6 else [])
    return ins, attrs


def _conv_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    (sx, dx), (sw, dw) = c.t(ins[0]), c.t(ins[1])
    if dx != dw or dx not in FLOATS or len(sx) < 3 or len(sw) != len(sx):
        raise ValueError(f"Conv of {list(sx)} {dx} with weight {list(sw)} {dw}")
    g = a.get("group", 1)
    if g < 1 or sx[1] % g or sw[0] % g or sw[1] * g != sx[1]:
        raise ValueError(f"Conv: group {g} does not fit {sx[1]} input and {sw[0]} output channels")
    if len(ins) > 2 and ins[2] and c.t(ins[2]) != ((sw[0],), dx):
        raise ValueError("Conv: bias must be (M,)")
    k = list(sw[2:])
    if "kernel_shape" in a and a["kernel_shape"] != k:
        raise ValueError(f"Conv: kernel_shape {a['kernel_shape']} differs from the weight's {k}")
    ext = _check_window(a, len(sx) - 2, k)
    out = _window_out(sx[2:], a, ext)
    if any(o < 1 for o in out):
        raise ValueError(f"Conv: output {out} is empty")
    return [((sx[0], sw[0], *out), dx)]


def _convt_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: t[1] == "float32" and len(t[0]) in (3, 4))
    if x is None:
        x = d.new_value(d.image_shape(), "float32", "normal")
    sx = d.types[x][0]
    c, nd = sx[1], len(sx) - 2
    group = d.rng.choice([g for g in (1, 1, 2, c) if c % g == 0])
    k = [d.rng.choice((1, 2, 3)) for _ in range(nd)]
    s = [d.rng.choice((1, 2)) for _ in range(nd)]
    dl = [d.rng.choice((1, 1, 2)) for _ in range(nd)]
    attrs: dict[str, Any] = {"strides": s, "dilations": dl}
    if d.rng.random() < 0.3:
        attrs["output_padding"] = [d.rng.randrange(a) for a in s]  # onnxruntime: below the stride (spec: or dilation)
    op = attrs.get("output_padding", [0] * nd)
    natural = [si * (n - 1) + o + (ki - 1) * di + 1 for si, n, o, ki, di in zip(s, sx[2:], op, k, dl)]
    how = d.rng.random()
    if how < 0.2:  # the output's size given, the pads derived from it (each side's share: auto_pad's rule)
        attrs["output_shape"] = [max(m, n - d.rng.randint(0, si * 2)) for n, si, m in zip(natural, s, sx[2:])]
        if d.rng.random() < 0.5:
            attrs["auto_pad"] = d.rng.choice(("SAME_UPPER", "SAME_LOWER"))
    elif how < 0.35 and all(n >= si * m for n, si, m in zip(natural, s, sx[2:])):
        attrs["auto_pad"] = d.rng.choice(("SAME_UPPER", "SAME_LOWER", "VALID"))  # SAME: the input's size x stride
    elif how < 0.7:
        attrs["pads"] = [d.rng.choice((0, 1)) for _ in range(2 * nd)]
    if group != 1:
        attrs["group"] = group
    w = d.new_weight((c, d.rng.choice((1, 2)) * 1, *k), "float32")
    ins = [x, w] + ([d.new_weight((d.types[w][0][1] * group,), "float32")] if d.rng.random() < 0.5 else [])
    return ins, attrs


def _convt_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    (sx, dx), (sw, dw) = c.t(ins[0]), c.t(ins[1])
    if dx != dw or dx not in FLOATS or len(sx) < 3 or len(sw) != len(sx) or sw[0] != sx[1]:
        raise ValueError(f"ConvTranspose of {list(sx)} with weight {list(sw)}")
    g = a.get("group", 1)
    if g < 1 or sx[1] % g:
        raise ValueError(f"ConvTranspose: group {g} does not divide {sx[1]} channels")
    m = sw[1] * g
    if len(ins) > 2 and ins[2] and c.t(ins[2]) != ((m,), dx):
        raise ValueError("ConvTranspose: bias must be (M,)")
    nd = len(sx) - 2
    auto = a.get("auto_pad", "NOTSET")
    if auto not in ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID") or (auto != "NOTSET" and "pads" in a):
        raise ValueError(f"ConvTranspose: auto_pad {auto!r} (with pads {a.get('pads')})")
    ext = _check_window({k: v for k, v in a.items() if k != "auto_pad"}, nd, list(sw[2:]))
    s, pads = a.get("strides", [1] * nd), a.get("pads", [0] * (2 * nd))
    op = a.get("output_padding", [0] * nd)
    dl = a.get("dilations", [1] * nd)
    if len(op) != nd or any(not 0 <= p < max(si, di) for p, si, di in zip(op, s, dl)):
        raise ValueError(f"ConvTranspose: output_padding {op} must be below max(stride, dilation)")
    natural = [s[i] * (sx[2 + i] - 1) + op[i] + ext[i] for i in range(nd)]
    if "output_shape" in a or auto in ("SAME_UPPER", "SAME_LOWER"):
        out = list(a["output_shape"]) if "output_shape" in a else [n * si for n, si in zip(sx[2:], s)]
        # pads >= 0; onnx's shape inference drops the spatial dims of an output_shape smaller than the input
        if len(out) != nd or any(not m <= o <= n for n, o, m in zip(natural, out, sx[2:])):
            raise ValueError(f"ConvTranspose: output {out} must be between the input {list(sx[2:])} and {natural}")
    else:
        out = [natural[i] - (0 if auto == "VALID" else pads[i] + pads[i + nd]) for i in range(nd)]
    if any(o < 1 for o in out):
        raise ValueError(f"ConvTranspose: output {out} is empty")
    return [((sx[0], m, *out), dx)]


def _pool_sample(avg: bool):
    def sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
        x = d.pick(lambda t: t[1] == "float32" and len(t[0]) in (3, 4) and math.prod(t[0][2:]) >= 4)
        if x is None:
            x = d.new_value(d.image_shape(), "float32", "normal")
        attrs = _window_attrs(d, d.types[x][0][2:], pool=True, dilate=not avg or d.opset >= 19)
        if attrs is None:
            return None
        if attrs.get("auto_pad", "NOTSET") == "NOTSET" and d.rng.random() < 0.35:
            attrs["ceil_mode"] = 1
        if avg and d.rng.random() < 0.4:
            attrs["count_include_pad"] = 1
        return [x], attrs

    return sample


def _pool_infer(avg: bool):
    def infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
        sx, dx = _float_in(c, ins[0], "pool")
        if len(sx) < 3:
            raise ValueError(f"pooling needs rank >= 3, got {list(sx)}")
        if avg and "dilations" in a and c.opset < 19:
            raise ValueError("AveragePool dilations need opset 19")
        ceil = bool(a.get("ceil_mode", 0))
        if ceil and a.get("auto_pad", "NOTSET") != "NOTSET":
            raise ValueError("ceil_mode with auto_pad is not drawn")
        ext = _check_window(a, len(sx) - 2)
        pads = a.get("pads", [])
        if any(p >= k for p, k in zip(pads, a["kernel_shape"] * 2)):
            raise ValueError(f"pads {pads} must be smaller than kernel_shape {a['kernel_shape']}")
        out = _window_out(sx[2:], a, ext, ceil)
        if any(o < 1 for o in out):
            raise ValueError(f"pooling output {out} is empty")
        if _window_in_padding(sx[2:], a, out):
            # no value is defined there: onnxruntime gives MaxPool the lowest float, onnx.reference 0, the engine -inf
            raise ValueError("a dilated pooling window covers only padding: not drawn")
        return [((*sx[:2], *out), dx)]

    return infer


def _window_in_padding(spatial: Shape, a: dict[str, Any], out: list[int]) -> bool:
    """Whether a window of explicit pads reads no input element (dilated taps can step over a short axis)."""
    nd = len(spatial)
    s, dl = a.get("strides", [1] * nd), a.get("dilations", [1] * nd)
    pads = a.get("pads", [0] * (2 * nd)) if a.get("auto_pad", "NOTSET") == "NOTSET" else [0] * (2 * nd)
    return any(not any(0 <= o * s[i] - pads[i] + j * dl[i] < n for j in range(a["kernel_shape"][i]))
               for i, n in enumerate(spatial) for o in range(out[i]))


def _global_pool_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: t[1] in FLOATS and len(t[0]) >= 3)
    return ([x], {}) if x else None


def _global_pool_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = _float_in(c, ins[0], "GlobalPool")
    if len(sx) < 3:
        raise ValueError("global pooling needs rank >= 3")
    return [((*sx[:2], *([1] * (len(sx) - 2))), dx)]


# ---------------------------------------------------------------------------------------------- normalization
def _eps(d: Draw) -> dict[str, Any]:
    return {"epsilon": d.rng.choice((1e-5, 1e-3, 0.1))} if d.rng.random() < 0.4 else {}


def _batchnorm_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: t[1] == "float32" and len(t[0]) >= 2)
    if x is None:
        return None
    c = d.types[x][0][1]
    ins = [x, d.new_weight((c,), "float32"), d.new_weight((c,), "float32"), d.new_weight((c,), "float32"),
           d.new_weight((c,), "float32", "positive")]
    return ins, _eps(d)


def _batchnorm_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = _float_in(c, ins[0], "BatchNormalization")
    if len(sx) < 2 or any(c.t(i) != ((sx[1],), dx) for i in ins[1:5]) or len(ins) != 5:
        raise ValueError("BatchNormalization: scale, B, mean, var must be (C,) of the input's dtype")
    if a.get("training_mode", 0):
        raise ValueError("BatchNormalization training_mode is not drawn")
    return [(sx, dx)]


def _instnorm_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: t[1] == "float32" and len(t[0]) >= 3 and math.prod(t[0][2:]) >= 2)
    if x is None:
        return None
    c = d.types[x][0][1]
    return [x, d.new_weight((c,), "float32"), d.new_weight((c,), "float32")], _eps(d)


def _instnorm_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = _float_in(c, ins[0], "InstanceNormalization")
    if len(sx) < 3 or any(c.t(i) != ((sx[1],), dx) for i in ins[1:3]):
        raise ValueError("InstanceNormalization: rank >= 3, scale and B of shape (C,)")
    return [(sx, dx)]


def _layernorm_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: t[1] == "float32" and len(t[0]) >= 1 and t[0][-1] >= 2)
    if x is None:
        return None
    sx = d.types[x][0]
    axis = d.rng.randrange(-len(sx), len(sx))
    attrs = {"axis": axis, **_eps(d)} if d.rng.random() < 0.6 else _eps(d)
    norm = sx[axis % len(sx):] if "axis" in attrs else sx[-1:]
    ins = [x, d.operand(d.sub_shape(norm) if d.rng.random() < 0.3 else norm, "float32")]
    if d.rng.random() < 0.6:
        ins.append(d.operand(norm, "float32"))
    return ins, attrs


def _layernorm_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = _float_in(c, ins[0], "LayerNormalization")
    ax = axis_of(a.get("axis", -1), len(sx))
    norm = sx[ax:]
    for i in ins[1:]:
        if i and (c.t(i)[1] != dx or not _bcastable(c.t(i)[0], norm)):
            raise ValueError(f"LayerNormalization: scale/bias {list(c.t(i)[0])} do not broadcast to {list(norm)}")
    return [(sx, dx)]


def _lpnorm_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: t[1] == "float32" and len(t[0]) >= 1)
    if x is None:
        return None
    r = len(d.types[x][0])
    attrs: dict[str, Any] = {}
    if d.rng.random() < 0.7:
        attrs["axis"] = d.rng.randrange(-r, r)
    if d.rng.random() < 0.5:
        attrs["p"] = 1
    return [x], attrs


def _lpnorm_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = _float_in(c, ins[0], "LpNormalization")
    axis_of(a.get("axis", -1), len(sx))
    if a.get("p", 2) not in (1, 2):
        raise ValueError("LpNormalization p must be 1 or 2")
    return [(sx, dx)]


def _lrn_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    # onnxruntime: 4-d, odd sizes; its window of squares is a running sum in float32, where a large square cancels
    # (off by ~1e-3 next to a value of 200): no values computed from wide inputs
    x = d.pick(lambda t: t[1] == "float32" and len(t[0]) == 4 and t[0][1] >= 2, tame=True)
    if x is None:
        x = d.new_value((d.rng.randint(1, 2), d.rng.randint(2, 6), d.rng.randint(1, 4), d.rng.randint(1, 4)),
                        "float32", "normal")
    attrs: dict[str, Any] = {"size": d.rng.choice((1, 3, 3, 5))}
    if d.rng.random() < 0.7:
        attrs["alpha"] = d.rng.choice((1e-4, 0.01, 0.5, 2.0))
    if d.rng.random() < 0.5:
        attrs["beta"] = d.rng.choice((0.5, 0.75, 1.0, 1.5))
    if d.rng.random() < 0.5:
        attrs["bias"] = d.rng.choice((0.5, 1.0, 2.0))
    return [x], attrs


def _lrn_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = _float_in(c, ins[0], "LRN")
    if len(sx) != 4 or a.get("size", 0) < 1 or a.get("size", 0) % 2 == 0:
        raise ValueError(f"LRN of {list(sx)} with size {a.get('size')}")
    return [(sx, dx)]


def _softmax_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: t[1] in FLOATS and len(t[0]) >= 1)
    if x is None:
        return None
    r = len(d.types[x][0])
    return [x], ({"axis": d.rng.randrange(-r, r)} if d.rng.random() < 0.6 else {})


def _axis_same_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = _float_in(c, ins[0], "softmax")
    axis_of(a.get("axis", -1 if c.opset >= 13 else 1), max(len(sx), 1))  # 1 before opset 13 (the 2-D coercion)
    return [(sx, dx)]


# ---------------------------------------------------------------------------------------------- reductions
REDUCES = ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
           "ReduceLogSumExp", "ReduceSumSquare")


def _axes_as_input(op: str, opset: int) -> bool:
    return (op == "ReduceSum" and opset >= 13) or opset >= 18


def _reduce_sample(op: str):
    def sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
        x = d.pick(lambda t: t[1] in FLOATS and len(t[0]) >= 1, positive=op == "ReduceProd")
        if d.rng.random() < 0.2:  # a long float16 sum: rounded once from float32, or hundreds of times in float16
            x = d.new_value(d.long_shape(), "float16", "positive" if op == "ReduceProd" else "normal")
        if x is None:
            return None
        r = len(d.types[x][0])
        axes = d.rng.sample(range(r), d.rng.randint(1, r))
        axes = [a - r if d.rng.random() < 0.4 else a for a in axes]
        attrs: dict[str, Any] = {}
        if d.rng.random() < 0.4:
            attrs["keepdims"] = 0
        ins = [x]
        if d.rng.random() < 0.15:
            axes = []  # every axis (or none, with noop_with_empty_axes)
            if d.rng.random() < 0.3 and _axes_as_input(op, d.opset):
                attrs["noop_with_empty_axes"] = 1
        if _axes_as_input(op, d.opset):
            if axes:
                ins.append(d.const(axes))
        elif axes:
            attrs["axes"] = axes
        return ins, attrs

    return sample


def _reduce_infer(op: str):
    def infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
        sx, dx = _float_in(c, ins[0], op)
        if _axes_as_input(op, c.opset):
            if "axes" in a:
                raise ValueError(f"{op} at opset {c.opset} takes axes as an input, not an attribute")
            axes = c.const(ins[1], "axes") if len(ins) > 1 and ins[1] else []
        else:
            if len(ins) > 1:
                raise ValueError(f"{op} at opset {c.opset} takes axes as an attribute")
            if "noop_with_empty_axes" in a:
                raise ValueError(f"{op} has noop_with_empty_axes from opset 18")
            axes = a.get("axes", [])
        norm = {axis_of(x, len(sx), "axes") for x in axes}
        if len(norm) != len(axes):
            raise ValueError(f"{op}: repeated axes {axes}")
        if not axes:
            if a.get("noop_with_empty_axes", 0):
                return [(sx, dx)]
            norm = set(range(len(sx)))
        keep = a.get("keepdims", 1)
        out = tuple(1 if i in norm else n for i, n in enumerate(sx)) if keep else \
            tuple(n for i, n in enumerate(sx) if i not in norm)
        if any(sx[i] == 0 for i in norm):
            raise ValueError(f"{op} over an empty axis")
        return [(out, dx)]

    return infer


def _argmax_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x: str | None
    if d.rng.random() < 0.4:  # values on a small grid: ties, where select_last_index matters
        x = d.new_value(d.shape(), d.rng.choice(("float32", "float32", "float16", "float64")), "grid")
    else:
        x = d.pick(lambda t: t[1] in FLOATS and len(t[0]) >= 1)
    if x is None:
        return None
    r = len(d.types[x][0])
    attrs: dict[str, Any] = {}
    if d.rng.random() < 0.8:
        attrs["axis"] = d.rng.randrange(-r, r)
    if d.rng.random() < 0.4:
        attrs["keepdims"] = 0
    if d.rng.random() < 0.3:
        attrs["select_last_index"] = 1
    return [x], attrs


def _argmax_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, _ = _float_in(c, ins[0], "ArgMax")
    ax = axis_of(a.get("axis", 0), len(sx))
    if sx[ax] == 0:
        raise ValueError("ArgMax over an empty axis")
    out = sx[:ax] + ((1,) if a.get("keepdims", 1) else ()) + sx[ax + 1:]
    return [(out, "int64")]


def _cumsum_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: t[1] in FLOATS + INTS and len(t[0]) >= 1)
    if x is None:
        return None
    r = len(d.types[x][0])
    attrs = {k: 1 for k in ("exclusive", "reverse") if d.rng.random() < 0.35}
    return [x, d.const(d.rng.randrange(-r, r), shape=())], attrs


def _cumsum_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = c.t(ins[0])
    axis = c.const(ins[1], "CumSum axis")
    if c.t(ins[1])[0] not in ((), (1,)):
        raise ValueError("CumSum axis must be a scalar")
    axis_of(int(axis[0]), len(sx))
    return [(sx, dx)]


# ---------------------------------------------------------------------------------------------- movement
def _transpose_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: len(t[0]) >= 2)
    if x is None:
        return None
    perm = list(range(len(d.types[x][0])))
    d.rng.shuffle(perm)
    return [x], ({"perm": perm} if d.rng.random() < 0.6 else {})  # no perm: the axes reversed


def _transpose_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = c.t(ins[0])
    perm = a.get("perm", list(range(len(sx)))[::-1])
    if sorted(perm) != list(range(len(sx))):
        raise ValueError(f"Transpose perm {perm} is not a permutation of {len(sx)} axes")
    return [(tuple(sx[p] for p in perm), dx)]


def _reshape_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    if d.opset >= 14 and d.rng.random() < 0.15:  # allowzero: a 0 is a 0, not the input's dimension
        return _reshape_allowzero_sample(d)
    x = d.pick(lambda t: 0 < math.prod(t[0]) <= 4096)
    if x is None:
        return None
    sx = d.types[x][0]
    target = d.factor_shape(math.prod(sx))
    spec = list(target)
    for i in range(min(len(sx), len(spec))):  # 0 copies the input's dimension
        if spec[i] == sx[i] and d.rng.random() < 0.3:
            spec[i] = 0
    if spec and d.rng.random() < 0.5:
        spec[d.rng.randrange(len(spec))] = -1
    return [x, d.const(spec)], {}


def _reshape_allowzero_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    """Reshape with allowzero=1: of an empty value (a fresh input with a 0 dimension, or one made so), to a shape
    with a literal 0 (and dimensions the default would copy from the input), or of any value to a shape without 0
    (where allowzero changes nothing)."""
    x = d.pick(lambda t: math.prod(t[0]) == 0 and known(t[0]), fresh=False)
    if x is None and d.rng.random() < 0.6:
        shape = list(d.shape())
        shape[d.rng.randrange(len(shape))] = 0
        x = d.new_value(tuple(shape), d.rng.choice(("float32", "int64")), "")
    if x is None:
        x = d.pick(lambda t: 0 < math.prod(t[0]) <= 4096)
        if x is None:
            return None
        spec = list(d.factor_shape(math.prod(d.types[x][0])))
        if spec and d.rng.random() < 0.5:
            spec[d.rng.randrange(len(spec))] = -1
        return [x, d.const(spec)], {"allowzero": 1}
    sx = d.types[x][0]
    spec = [d.rng.choice((1, 2, 3, sx[i] if i < len(sx) else 4)) for i in range(d.rng.randint(1, 4))]
    spec[d.rng.randrange(len(spec))] = 0
    return [x, d.const(spec)], {"allowzero": 1}


def _reshape_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = c.t(ins[0])
    spec = [int(v) for v in c.const(ins[1], "Reshape shape")]
    if a.get("allowzero", 0):
        if c.opset < 14 or (0 in spec and -1 in spec) or any(v < -1 for v in spec):
            raise ValueError(f"Reshape allowzero shape {spec} is invalid (or opset {c.opset} < 14)")
        out = list(spec)
    else:
        out = [sx[i] if v == 0 and i < len(sx) else v for i, v in enumerate(spec)]
    if (any(v == 0 for v in spec[len(sx):]) and not a.get("allowzero", 0)) or spec.count(-1) > 1 or \
            any(v < -1 for v in out):
        raise ValueError(f"Reshape shape {spec} is invalid for {list(sx)}")
    if -1 in out:
        known = math.prod(v for v in out if v != -1)
        if known == 0 or math.prod(sx) % known:
            raise ValueError(f"Reshape {list(sx)} to {spec}: -1 cannot be inferred")
        out[out.index(-1)] = math.prod(sx) // known
    if math.prod(out) != math.prod(sx):
        raise ValueError(f"Reshape {list(sx)} to {spec}: element counts differ")
    return [(tuple(out), dx)]


def _flatten_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: len(t[0]) >= 1)
    if x is None:
        return None
    r = len(d.types[x][0])
    return [x], ({"axis": d.rng.randint(-r, r)} if d.rng.random() < 0.8 else {})


def _flatten_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = c.t(ins[0])
    ax = a.get("axis", 1)
    if not -len(sx) <= ax <= len(sx):
        raise ValueError(f"Flatten axis {ax} out of range for rank {len(sx)}")
    if ax < 0:
        ax += len(sx)
    return [((math.prod(sx[:ax]), math.prod(sx[ax:])), dx)]


def _squeeze_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: 1 in t[0])
    if x is None:
        return None
    sx = d.types[x][0]
    ones = [i for i, n in enumerate(sx) if n == 1]
    axes = d.rng.sample(ones, d.rng.randint(1, len(ones)))
    axes = [a - len(sx) if d.rng.random() < 0.4 else a for a in axes]
    if d.rng.random() >= 0.85:
        return [x], {}
    return ([x], {"axes": axes}) if d.opset < 13 else ([x, d.const(axes)], {})  # an attribute before opset 13


def _squeeze_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = c.t(ins[0])
    raw = _axes_operand(c, ins, a, "Squeeze")
    if raw is not None:
        axes = {axis_of(int(v), len(sx), "axes") for v in raw}
        if any(sx[i] != 1 for i in axes):
            raise ValueError(f"Squeeze axes {sorted(axes)} of {list(sx)} are not all 1")
    else:
        axes = {i for i, n in enumerate(sx) if n == 1}
    return [(tuple(n for i, n in enumerate(sx) if i not in axes), dx)]


def _isinf_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    """IsInf of a float value, half the time a fresh input holding infinities, NaN and zeros (no other node reads
    it: the other ops' samplers keep to finite values), else any (infinities then come from overflow: exp or squares
    of wide values); one of the two signs left out for half of them."""
    if d.rng.random() < 0.5:
        x = d.new_value(d.shape(), d.rng.choice(FLOATS), "special")
        d.order.remove(x)
        drawn: tuple[list[str], dict[str, Any]] | None = ([x], {})
    else:
        drawn = _unary()[0](d)
    if drawn is None:
        return None
    r = d.rng.random()
    return drawn[0], ({"detect_positive": 0} if r < 0.25 else {"detect_negative": 0} if r < 0.5 else {})


def _axes_operand(c: Ctx, ins: list[str], a: dict[str, Any], op: str) -> list[Any] | None:
    """Squeeze's and Unsqueeze's axes: an attribute before opset 13, an input from 13 on (None: not given)."""
    if c.opset < 13:
        if len(ins) > 1:
            raise ValueError(f"{op} at opset {c.opset} takes axes as an attribute")
        return a.get("axes")
    if "axes" in a:
        raise ValueError(f"{op} at opset {c.opset} takes axes as an input")
    return c.const(ins[1], f"{op} axes") if len(ins) > 1 and ins[1] else None


def _unsqueeze_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: len(t[0]) <= 4)
    if x is None:
        return None
    r = len(d.types[x][0]) + d.rng.choice((1, 1, 2))
    axes = [a - r if d.rng.random() < 0.4 else a for a in d.rng.sample(range(r), r - len(d.types[x][0]))]
    return ([x], {"axes": axes}) if d.opset < 13 else ([x, d.const(axes)], {})


def _unsqueeze_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = c.t(ins[0])
    raw = _axes_operand(c, ins, a, "Unsqueeze")
    if raw is None:
        raise ValueError("Unsqueeze needs axes")
    r = len(sx) + len(raw)
    axes = {axis_of(int(v), r, "axes") for v in raw}
    if len(axes) != len(raw):
        raise ValueError(f"Unsqueeze: repeated axes {raw}")
    it = iter(sx)
    return [(tuple(1 if i in axes else next(it) for i in range(r)), dx)]


def _concat_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: len(t[0]) >= 1)
    if x is None:
        return None
    sx, dx = d.types[x]
    ax = d.rng.randrange(len(sx))
    ins = [x]
    for _ in range(d.rng.choice((1, 1, 2))):
        shape = sx[:ax] + (d.rng.choice((1, 2, 3, sx[ax])),) + sx[ax + 1:]
        same = d.pick(lambda t: t == (shape, dx), fresh=False)
        ins.append(same or d.operand(shape, dx))
    d.rng.shuffle(ins)
    return ins, {"axis": ax - len(sx) if d.rng.random() < 0.4 else ax}


def _concat_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    ts = [c.t(i) for i in ins]
    s0, d0 = ts[0]
    if "axis" not in a:
        raise ValueError("Concat needs axis")
    ax = axis_of(a["axis"], len(s0))
    for s, dt in ts[1:]:
        if dt != d0 or len(s) != len(s0) or any(s[i] != s0[i] for i in range(len(s0)) if i != ax):
            raise ValueError(f"Concat of {[list(t[0]) for t in ts]} along axis {a['axis']}")
    return [(s0[:ax] + (sum(t[0][ax] for t in ts),) + s0[ax + 1:], d0)]


def _split_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: len(t[0]) >= 1 and max(t[0]) >= 2)
    if x is None:
        return None
    sx = d.types[x][0]
    ax = d.rng.choice([i for i, n in enumerate(sx) if n >= 2])
    n = sx[ax]
    attrs: dict[str, Any] = {"axis": ax - len(sx)} if d.rng.random() < 0.3 else ({"axis": ax} if ax else {})
    k = d.rng.randint(2, min(n, 4))
    if d.opset >= 18 and d.rng.random() < 0.5:
        attrs["num_outputs"] = k  # the last chunk is smaller when k does not divide n
        return [x], attrs
    cuts = sorted(d.rng.sample(range(1, n), k - 1))
    sizes = [b - a for a, b in zip([0] + cuts, cuts + [n])]
    if d.opset < 18 and n % k == 0 and d.rng.random() < 0.3:
        return [x], {**attrs, "_outputs": k}  # equal parts, their count given by the node's outputs
    return ([x], {**attrs, "split": sizes}) if d.opset < 13 else ([x, d.const(sizes)], attrs)


def _split_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = c.t(ins[0])
    ax = axis_of(a.get("axis", 0), len(sx))
    n = sx[ax]
    if ("split" in a and c.opset >= 13) or (c.opset < 13 and len(ins) > 1):
        raise ValueError(f"Split at opset {c.opset}: sizes are an attribute before 13, an input from 13 on")
    if "split" in a or (len(ins) > 1 and ins[1]):
        sizes = [int(v) for v in (a["split"] if "split" in a else c.const(ins[1], "Split split"))]
        if sum(sizes) != n or any(v < 0 for v in sizes) or "num_outputs" in a:
            raise ValueError(f"Split sizes {sizes} do not add up to {n}")
    elif "num_outputs" in a:
        if c.opset < 18:
            raise ValueError("Split num_outputs needs opset 18")
        k = a["num_outputs"]
        if not 1 <= k <= n:
            raise ValueError(f"Split num_outputs {k} for a dimension of {n}")
        step = -(-n // k)
        sizes = [min(step, n - i * step) for i in range(k)]
        if sizes[-1] <= 0:
            raise ValueError(f"Split of {n} into {k} leaves an empty part")
    else:
        if c.opset >= 18:
            raise ValueError("Split at opset 18 needs split or num_outputs")
        k = a.get("_outputs", 0)
        if k < 1 or n % k:
            raise ValueError(f"Split of {n} into {k} equal parts")
        sizes = [n // k] * k
    return [(sx[:ax] + (s,) + sx[ax + 1:], dx) for s in sizes]


def _slice_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: len(t[0]) >= 1 and max(t[0]) >= 2)
    if x is None:
        return None
    sx = d.types[x][0]
    r = len(sx)
    axes = d.rng.sample(range(r), d.rng.randint(1, r))
    starts, ends, steps = [], [], []
    for ax in axes:
        n = sx[ax]
        step = d.rng.choice((1, 1, 2, 3, -1, -2))
        s = d.rng.randint(-n - 1, n + 1)
        # onnxruntime reads a huge end against the step's direction as "to the far end": the spec clamps it
        huge = (2**31, 2**63 - 1) if step > 0 else (-(2**31), -(2**63))
        e = d.rng.choice((d.rng.randint(-n - 1, n + 1), d.rng.randint(-n - 1, n + 1), *huge))
        starts.append(s)
        ends.append(e)
        steps.append(step)
    ins = [x, d.const(starts), d.const(ends)]
    plain = sorted(axes) == list(range(r)) and all(st == 1 for st in steps)
    if not plain or d.rng.random() < 0.5:
        ins.append(d.const([a - r if d.rng.random() < 0.4 else a for a in axes]))
        if any(st != 1 for st in steps) or d.rng.random() < 0.5:
            ins.append(d.const(steps))
    else:
        order = sorted(range(len(axes)), key=lambda i: axes[i])
        ins = [x, d.const([starts[i] for i in order]), d.const([ends[i] for i in order])]
    return ins, {}


def _slice_len(n: int, start: int, end: int, step: int) -> int:
    """ONNX's rule (not Python's: a start below 0 with a negative step is clamped to 0, not emptied)."""
    start, end = start + n if start < 0 else start, end + n if end < 0 else end
    if step > 0:
        start, end = min(max(start, 0), n), min(max(end, 0), n)
    else:
        start, end = min(max(start, 0), n - 1), min(max(end, -1), n - 1)
    return max(0, -(-(end - start) // step))


def _slice_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = c.t(ins[0])
    starts = c.const(ins[1], "Slice starts")
    ends = c.const(ins[2], "Slice ends")
    axes = c.const(ins[3], "Slice axes") if len(ins) > 3 and ins[3] else list(range(len(starts)))
    steps = c.const(ins[4], "Slice steps") if len(ins) > 4 and ins[4] else [1] * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise ValueError("Slice starts/ends/axes/steps differ in length")
    out = list(sx)
    norm = [axis_of(int(v), len(sx), "axes") for v in axes]
    if len(set(norm)) != len(norm):
        raise ValueError(f"Slice: repeated axes {axes}")
    for ax, s, e, st in zip(norm, starts, ends, steps):
        if st == 0:
            raise ValueError("Slice step 0")
        out[ax] = _slice_len(sx[ax], int(s), int(e), int(st))
    return [(tuple(out), dx)]


def _pad_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: 1 <= len(t[0]) <= 4 and min(t[0]) >= 1)
    if x is None:
        return None
    sx, dx = d.types[x]
    modes = ["constant", "reflect", "edge"] + (["wrap"] if d.opset >= 19 else [])
    mode = d.rng.choice(modes)
    r = len(sx)
    axes = list(range(r))
    if d.opset >= 18 and d.rng.random() < 0.4:
        axes = d.rng.sample(range(r), d.rng.randint(1, r))
    pads = []
    for half in range(2):
        for ax in axes:
            n = sx[ax]
            hi = n - 1 if mode == "reflect" else (n if mode == "wrap" else 3)
            lo = -min(n - 1, 2) if mode == "constant" else 0
            pads.append(d.rng.randint(lo, max(lo, min(hi, 3))))
    attrs = {} if mode == "constant" and d.rng.random() < 0.5 else {"mode": mode}
    ins = [x, d.const(pads)]
    if mode == "constant" and d.rng.random() < 0.5:
        ins.append(d.scalar(round(d.rng.uniform(-2, 2), 2), dx))
    if len(axes) != r or (d.opset >= 18 and d.rng.random() < 0.2):
        ins += [""] * (3 - len(ins)) + [d.const([a - r if d.rng.random() < 0.4 else a for a in axes])]
    return ins, attrs


def _pad_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = c.t(ins[0])
    pads = [int(v) for v in c.const(ins[1], "Pad pads")]
    axes = c.const(ins[3], "Pad axes") if len(ins) > 3 and ins[3] else list(range(len(sx)))
    if len(ins) > 3 and ins[3] and c.opset < 18:
        raise ValueError("Pad axes need opset 18")
    mode = a.get("mode", "constant")
    if mode not in ("constant", "reflect", "edge") + (("wrap",) if c.opset >= 19 else ()):
        raise ValueError(f"Pad mode {mode!r} at opset {c.opset}")
    if len(ins) > 2 and ins[2] and c.t(ins[2])[1] != dx:
        raise ValueError("Pad constant_value must have the input's dtype")
    norm = [axis_of(int(v), len(sx), "axes") for v in axes]
    if len(pads) != 2 * len(norm) or len(set(norm)) != len(norm):
        raise ValueError(f"Pad pads {pads} do not fit axes {axes}")
    out = list(sx)
    for k, ax in enumerate(norm):
        b, e = pads[k], pads[k + len(norm)]
        if mode != "constant" and (b < 0 or e < 0):
            raise ValueError(f"negative pads in mode {mode}")
        if mode == "reflect" and (b >= sx[ax] or e >= sx[ax]):
            raise ValueError(f"reflect pad {b},{e} must be below the dimension {sx[ax]}")
        if mode in ("edge", "wrap", "reflect") and sx[ax] == 0:
            raise ValueError(f"mode {mode} pads an empty axis")
        if mode == "wrap" and (b > sx[ax] or e > sx[ax]):
            raise ValueError("wrap pads beyond one copy are not drawn")
        out[ax] = sx[ax] + b + e
        if out[ax] < 0:
            raise ValueError("Pad removes more than the dimension")
    return [(tuple(out), dx)]


def _tile_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: len(t[0]) >= 1 and math.prod(t[0]) <= 512)
    if x is None:
        return None
    return [x, d.const([d.rng.choice((1, 1, 2, 3)) for _ in d.types[x][0]])], {}


def _tile_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = c.t(ins[0])
    reps = c.const(ins[1], "Tile repeats")
    if len(reps) != len(sx) or any(r < 0 for r in reps):
        raise ValueError(f"Tile repeats {reps} for rank {len(sx)}")
    return [(tuple(n * int(r) for n, r in zip(sx, reps)), dx)]


def _expand_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: len(t[0]) <= 4 and 1 in t[0] or len(t[0]) <= 2)
    if x is None:
        return None
    sx = d.types[x][0]
    target = [d.rng.choice((2, 3, 4)) if n == 1 and d.rng.random() < 0.7 else n for n in sx]
    target = [d.rng.choice((1, 2, 3)) for _ in range(d.rng.choice((0, 0, 1)))] + target
    spec = [1 if n == t and d.rng.random() < 0.3 else t for n, t in zip([None] * (len(target) - len(sx)) + list(sx),
                                                                         target)]
    return [x, d.const(spec)], {}


def _expand_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = c.t(ins[0])
    spec = tuple(int(v) for v in c.const(ins[1], "Expand shape"))
    return [(broadcast(sx, spec), dx)]


def _gather_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: len(t[0]) >= 1 and min(t[0]) >= 1)
    if x is None:
        return None
    sx = d.types[x][0]
    ax = d.rng.randrange(len(sx))
    ishape = tuple(d.rng.choice((1, 2, 3, 4)) for _ in range(d.rng.choice((0, 1, 1, 2))))
    idx = d.new_weight(ishape, "int64", f"index:{sx[ax]}")
    return [x, idx], ({"axis": ax - len(sx) if d.rng.random() < 0.4 else ax} if ax or d.rng.random() < 0.3 else {})


def _gather_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    (sx, dx), (si, di) = c.t(ins[0]), c.t(ins[1])
    if di not in INTS:
        raise ValueError("Gather indices must be int32/int64")
    ax = axis_of(a.get("axis", 0), len(sx))
    return [(sx[:ax] + si + sx[ax + 1:], dx)]


def _gather_elements_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: len(t[0]) >= 1 and min(t[0]) >= 1)
    if x is None:
        return None
    sx = d.types[x][0]
    ax = d.rng.randrange(len(sx))
    ishape = tuple(d.rng.randint(1, n) if i != ax else d.rng.choice((1, 2, 3, 4)) for i, n in enumerate(sx))
    idx = d.new_weight(ishape, "int64", f"index:{sx[ax]}")
    return [x, idx], ({"axis": ax - len(sx) if d.rng.random() < 0.4 else ax} if ax or d.rng.random() < 0.3 else {})


def _gather_elements_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    (sx, dx), (si, di) = c.t(ins[0]), c.t(ins[1])
    ax = axis_of(a.get("axis", 0), len(sx))
    if di not in INTS or len(si) != len(sx) or any(si[i] > sx[i] for i in range(len(sx)) if i != ax):
        raise ValueError(f"GatherElements indices {list(si)} do not fit data {list(sx)}")
    return [(si, dx)]


def _d2s_sample(space_to_depth: bool):
    def sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
        b = d.rng.choice((2, 2, 3))
        if space_to_depth:
            x = d.pick(lambda t: len(t[0]) == 4 and t[0][2] % b == 0 and t[0][3] % b == 0, fresh=False)
            x = x or d.new_value((1, d.rng.choice((1, 2)), b * d.rng.choice((1, 2)), b * d.rng.choice((1, 2, 3))),
                                 "float32", "normal")
            return [x], {"blocksize": b}
        x = d.pick(lambda t: len(t[0]) == 4 and t[0][1] % (b * b) == 0, fresh=False)
        x = x or d.new_value((1, b * b * d.rng.choice((1, 2)), d.dim(), d.dim()), "float32", "normal")
        return [x], {"blocksize": b, **({"mode": "CRD"} if d.rng.random() < 0.5 else {})}

    return sample


def _d2s_infer(space_to_depth: bool):
    def infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
        sx, dx = c.t(ins[0])
        b = a.get("blocksize", 0)
        if len(sx) != 4 or b < 1:
            raise ValueError("DepthToSpace/SpaceToDepth take rank 4 and a blocksize")
        n, ch, h, w = sx
        if space_to_depth:
            if h % b or w % b:
                raise ValueError(f"SpaceToDepth: {h}x{w} not divisible by {b}")
            return [((n, ch * b * b, h // b, w // b), dx)]
        if ch % (b * b) or a.get("mode", "DCR") not in ("DCR", "CRD"):
            raise ValueError(f"DepthToSpace: {ch} channels not divisible by {b * b}")
        return [((n, ch // (b * b), h * b, w * b), dx)]

    return infer


def _trilu_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: len(t[0]) >= 2)
    if x is None:
        return None
    ins = [x] + ([d.const(d.rng.choice((-3, -2, -1, 0, 1, 1, 2, 3)), shape=())] if d.rng.random() < 0.75 else [])
    return ins, ({"upper": 0} if d.rng.random() < 0.5 else {})


def _trilu_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = c.t(ins[0])
    if len(sx) < 2 or (len(ins) > 1 and ins[1] and c.t(ins[1])[0] != ()):
        raise ValueError("Trilu takes rank >= 2 and a scalar k")
    return [(sx, dx)]


def _shape_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: len(t[0]) >= 1)
    if x is None:
        return None
    r = len(d.types[x][0])
    attrs = {}
    if d.opset >= 15 and d.rng.random() < 0.5:
        attrs = {"start": d.rng.randint(-r, r - 1)}
        if d.rng.random() < 0.5:
            attrs["end"] = d.rng.randint(-r, r)
    return [x], attrs


def _shape_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, _ = c.t(ins[0])
    if ("start" in a or "end" in a) and c.opset < 15:
        raise ValueError("Shape start/end need opset 15")
    r = len(sx)
    lo, hi = (min(max(v + r if v < 0 else v, 0), r) for v in (a.get("start", 0), a.get("end", r)))
    return [((max(hi - lo, 0),), "int64")]


def _size_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    c.t(ins[0])
    return [((), "int64")]


def _compare_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    a = d.pick(lambda t: t[1] in FLOATS + INTS)
    return ([a, d.partner(a)], {}) if a else None


def _logic_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    a = d.pick(lambda t: t[1] == "bool", fresh=False) or d.new_value(d.shape(), "bool", "bool")
    return [a, d.partner(a)], {}


def _mod_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    a = d.pick(lambda t: t[1] in FLOATS + INTS)
    if a is None:
        return None
    dt = d.types[a][1]
    b = d.partner(a, positive=True)
    return [a, b], ({"fmod": 1} if dt in FLOATS else ({"fmod": 1} if d.rng.random() < 0.4 else {}))


def _mod_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    (sa, da), (sb, db) = c.t(ins[0]), c.t(ins[1])
    if da != db or (da in FLOATS and not a.get("fmod", 0)):
        raise ValueError("Mod of floats needs fmod=1 and one dtype")
    return [(broadcast(sa, sb), da)]


def _gelu_attrs(d: Draw) -> dict[str, Any]:
    return {"approximate": "tanh"} if d.rng.random() < 0.4 else {}


def _selu_attrs(d: Draw) -> dict[str, Any]:
    return {**_alpha(1.0, 2.0)(d), **_alpha(0.5, 1.5, "gamma")(d)}


def _hardsigmoid_attrs(d: Draw) -> dict[str, Any]:
    return {**_alpha(0.1, 0.5)(d), **_alpha(0.3, 0.7, "beta")(d)}



# ---------------------------------------------------------------------------------------------- more ops
def _prelu_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: t[1] in FLOATS and len(t[0]) >= 1)
    if x is None:
        return None
    sx, dt = d.types[x]
    if len(sx) >= 3 and d.rng.random() < 0.5:
        slope: Shape = (sx[1],) + (1,) * (len(sx) - 2)  # per channel, as exporters write it
    else:
        slope = d.sub_shape(sx)
    return [x, d.operand(slope, dt)], {}


def _prelu_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    (sx, dx), (ss, ds) = c.t(ins[0]), c.t(ins[1])
    if dx != ds or dx not in FLOATS or not _bcastable(ss, sx):
        raise ValueError(f"PRelu slope {list(ss)} {ds} must broadcast to {list(sx)} {dx}")
    return [(sx, dx)]


def _topk_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: t[1] in ("float32", "float64") and len(t[0]) >= 1 and min(t[0]) >= 1)
    if x is None:
        return None
    sx = d.types[x][0]
    ax = d.rng.randrange(len(sx))
    attrs: dict[str, Any] = {}
    if ax != len(sx) - 1 or d.rng.random() < 0.3:
        attrs["axis"] = ax - len(sx) if d.rng.random() < 0.5 else ax
    if d.rng.random() < 0.4:
        attrs["largest"] = 0
    return [x, d.const([d.rng.randint(1, sx[ax])])], attrs


def _topk_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = _float_in(c, ins[0], "TopK")
    ax = axis_of(a.get("axis", -1), len(sx))
    k = c.const(ins[1], "TopK k")
    if len(k) != 1 or not 0 <= int(k[0]) <= sx[ax] or not a.get("sorted", 1):
        raise ValueError(f"TopK k {k} for a dimension of {sx[ax]} (sorted results only)")
    out = sx[:ax] + (int(k[0]),) + sx[ax + 1:]
    return [(out, dx), (out, "int64")]


def _gather_nd_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: len(t[0]) >= 1 and min(t[0]) >= 1)
    if x is None:
        return None
    sx = d.types[x][0]
    b = 1 if len(sx) >= 2 and d.rng.random() < 0.3 else 0
    q = d.rng.randint(1, len(sx) - b)
    lead = sx[:b] + tuple(d.rng.choice((1, 2, 3)) for _ in range(d.rng.choice((0, 1, 1, 2))))
    idx = d.new_weight(lead + (q,), "int64", f"index:{min(sx[b:b + q])}")
    return [x, idx], ({"batch_dims": b} if b else {})


def _gather_nd_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    (sx, dx), (si, di) = c.t(ins[0]), c.t(ins[1])
    b = a.get("batch_dims", 0)
    if di != "int64" or not si or not 1 <= si[-1] <= len(sx) - b or si[:b] != sx[:b] or len(si) <= b:
        raise ValueError(f"GatherND indices {list(si)} do not fit data {list(sx)} with batch_dims {b}")
    return [(si[:-1] + sx[b + si[-1]:], dx)]


def _scatter_elements_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: t[1] in FLOATS + INTS and 1 <= len(t[0]) <= 3 and min(t[0]) >= 1)
    if x is None:
        return None
    sx, dt = d.types[x]
    ax = d.rng.randrange(len(sx))
    ishape = tuple(d.rng.randint(1, n) for n in sx)
    rows = []  # distinct targets along the axis for every other position: the result does not depend on order
    for _ in range(math.prod(ishape) // ishape[ax]):
        picks = d.rng.sample(range(sx[ax]), ishape[ax])
        rows.append([p - sx[ax] if d.rng.random() < 0.3 else p for p in picks])
    moved = [v for row in rows for v in row]  # laid out with the axis last, then moved into place
    order = [i for i in range(len(ishape)) if i != ax] + [ax]
    flat = _unpermute(moved, tuple(ishape[i] for i in order), order)
    idx = d.const(flat, shape=ishape)
    attrs: dict[str, Any] = {"axis": ax - len(sx) if d.rng.random() < 0.4 else ax}
    if d.opset >= 16 and d.rng.random() < 0.4:
        attrs["reduction"] = d.rng.choice(("add", "mul") + (("max", "min") if d.opset >= 18 else ()))
    return [x, idx, d.operand(ishape, dt)], attrs


def _unpermute(values: list[int], shape: Shape, order: list[int]) -> list[int]:
    """values laid out in `shape` (axes in `order`), rewritten in the natural axis order."""
    n = len(order)
    inv = [order.index(i) for i in range(n)]
    natural = tuple(shape[inv[i]] for i in range(n))
    out = [0] * len(values)
    for flat, v in enumerate(values):
        idx, rest = [], flat
        for size in reversed(shape):
            idx.append(rest % size)
            rest //= size
        idx.reverse()
        nat = [idx[inv[i]] for i in range(n)]
        pos = 0
        for i, size in enumerate(natural):
            pos = pos * size + nat[i]
        out[pos] = v
    return out


def _scatter_elements_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    (sx, dx), (si, di), (su, du) = (c.t(i) for i in ins)
    ax = axis_of(a.get("axis", 0), len(sx))
    red = a.get("reduction", "none")
    if red not in ("none", "add", "mul") + (("max", "min") if c.opset >= 18 else ()) or \
            (red != "none" and c.opset < 16):
        raise ValueError(f"ScatterElements reduction {red!r} at opset {c.opset}")
    if di != "int64" or si != su or du != dx or len(si) != len(sx) or \
            any(si[i] > sx[i] for i in range(len(sx)) if i != ax):
        raise ValueError(f"ScatterElements indices {list(si)} / updates {list(su)} do not fit {list(sx)}")
    data = c.const(ins[1], "ScatterElements indices")
    if any(not -sx[ax] <= int(v) < sx[ax] for v in data):
        raise ValueError("ScatterElements index out of range")
    return [(sx, dx)]


EINSUMS = ("ij,jk->ik", "bij,bjk->bik", "ij->ji", "ii->i", "ij->i", "ij->", "i,i->", "i,j->ij", "ij,ij->ij",
           "bhqd,bhkd->bhqk", "ijk->kji", "ij,kj->ik", "bi,bi->b", "kj,ji->ki", "ba->ab", "cb,ba->ca", "ji,j->i")
IMPLICIT_RATE = 0.3  # an equation without "->": the output is the letters used once, in alphabetical order


def _einsum_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    eq = d.rng.choice(EINSUMS)
    dt = d.rng.choice(("float32", "float32", "float64"))
    dims: dict[str, int] = {}
    for ch in eq:
        if ch.isalpha() and ch not in dims:
            dims[ch] = d.rng.choice((1, 2, 3, 4, 5))
    ins = [d.operand(tuple(dims[ch] for ch in term), dt) for term in eq.split("->")[0].split(",")]
    return ins, {"equation": eq.split("->")[0] if d.rng.random() < IMPLICIT_RATE else eq}


def _einsum_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    eq = a.get("equation", "").replace(" ", "")
    if "." in eq or not eq:
        raise ValueError(f"Einsum equation {eq!r}: only ones without ellipsis are drawn")
    lhs = eq.split("->")[0]
    once = sorted(ch for ch in set(lhs) if ch.isalpha() and lhs.count(ch) == 1)
    out = eq.split("->")[1] if "->" in eq else "".join(once)
    terms = lhs.split(",")
    if len(terms) != len(ins):
        raise ValueError(f"Einsum {eq!r} takes {len(terms)} inputs, got {len(ins)}")
    dims: dict[str, int] = {}
    dt = c.t(ins[0])[1]
    for term, name in zip(terms, ins):
        shape, d = c.t(name)
        if len(term) != len(shape) or d != dt or d not in FLOATS:
            raise ValueError(f"Einsum term {term!r} does not fit {list(shape)} {d}")
        for ch, n in zip(term, shape):
            if dims.setdefault(ch, n) != n:
                raise ValueError(f"Einsum {eq!r}: {ch} is both {dims[ch]} and {n}")
    if any(ch not in dims for ch in out) or len(set(out)) != len(out):
        raise ValueError(f"Einsum output {out!r}")
    return [(tuple(dims[ch] for ch in out), dt)]


def _range_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    start, delta = d.rng.randint(-5, 5), d.rng.choice((1, 2, 3, -1, -2))
    limit = start + delta * d.rng.randint(-1, 8) + d.rng.choice((0, 0, 1 if delta > 0 else -1))
    return [d.const(start, shape=()), d.const(limit, shape=()), d.const(delta, shape=())], {}


def _range_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    start, limit, delta = (int(c.const(i, "Range bounds")[0]) for i in ins)
    if any(c.t(i) != ((), "int64") for i in ins) or delta == 0:
        raise ValueError("Range takes three int64 scalars, delta not 0")
    return [((max(-(-(limit - start) // delta), 0),), "int64")]


def _onehot_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    depth = d.rng.randint(1, 6)
    shape = tuple(d.rng.choice((1, 2, 3, 4)) for _ in range(d.rng.randint(1, 3)))
    idx = d.new_value(shape, "int64", f"index:{depth}")
    dt = d.rng.choice(("float32", "int64"))
    values = d.data([d.rng.choice((0, -1, 2)), d.rng.choice((1, 3, 5))], dt)
    r = len(shape) + 1
    return [idx, d.const(depth, shape=()), values], ({"axis": d.rng.randrange(-r, r)} if d.rng.random() < 0.6 else {})


def _onehot_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    (si, di), (sv, dv) = c.t(ins[0]), c.t(ins[2])
    depth = c.const(ins[1], "OneHot depth")
    if di not in INTS or sv != (2,) or len(depth) != 1 or int(depth[0]) < 1:
        raise ValueError("OneHot takes integer indices, a positive depth and two values")
    ax = axis_of(a.get("axis", -1), len(si) + 1)
    return [(si[:ax] + (int(depth[0]),) + si[ax:], dv)]


_NEAREST_SCALES = (0.5, 1.0, 2.0, 4.0)  # exact in binary: a nearest index never hinges on how x / scale rounds
_LINEAR_SCALES = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0)


def _resize_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: t[1] == "float32" and len(t[0]) in (3, 4) and min(t[0][2:]) >= 2, fresh=False)
    if x is None:
        x = d.new_value(d.image_shape(), "float32", "normal")
    sx = d.types[x][0]
    mode = d.rng.choice(("nearest", "linear", "linear", "cubic"))
    if mode == "cubic" and len(sx) != 4:  # onnxruntime's cubic: 4-d inputs (or 2-d), the outer two scales 1
        mode = "linear"
    ctm = d.rng.choice(("half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel"))
    attrs: dict[str, Any] = {}
    if mode != "nearest":
        attrs["mode"] = mode
    if ctm != "half_pixel" or d.rng.random() < 0.2:
        attrs["coordinate_transformation_mode"] = ctm
    if mode == "nearest" and d.rng.random() < 0.7:
        attrs["nearest_mode"] = d.rng.choice(("round_prefer_floor", "round_prefer_ceil", "floor", "ceil"))
    if mode == "cubic":
        if d.rng.random() < 0.6:
            attrs["cubic_coeff_a"] = d.rng.choice((-0.5, -0.6, -1.0, round(d.rng.uniform(-1.5, -0.2), 2)))
        if d.rng.random() < 0.4:
            attrs["exclude_outside"] = 1  # weights of taps outside the input set to 0, the rest renormalized
    if d.opset >= 19 and d.rng.random() < 0.15:
        attrs["coordinate_transformation_mode"] = ctm = "half_pixel_symmetric"
    # nearest: a crop's coordinates could round either way; cubic: onnxruntime crops by linear or nearest only
    if mode == "linear" and d.rng.random() < 0.2:
        attrs["coordinate_transformation_mode"] = ctm = "tf_crop_and_resize"
        if d.rng.random() < 0.7:
            attrs["extrapolation_value"] = d.rng.choice((-3.0, 0.5, 10.0))
    if d.opset >= 18 and mode != "nearest" and d.rng.random() < 0.2:  # only linear and cubic filter (onnxruntime)
        attrs["antialias"] = 1
    dims = list(range(len(sx)))  # the axes the scales or sizes are for
    if d.opset >= 18 and d.rng.random() < 0.25:
        dims = d.rng.sample(range(2, len(sx)), d.rng.randint(1, len(sx) - 2))
        attrs["axes"] = [a - len(sx) if d.rng.random() < 0.3 else a for a in dims]
    def roi(outs: list[int]) -> str | None:
        """tf_crop_and_resize's starts, then ends, as fractions of each axis of `dims` (outside 0..1: extrapolated);
        None where an output coordinate would land within rounding of an input's edge (either side decides there
        between a value and extrapolation_value) or an axis keeps its length (onnxruntime then ignores its roi)."""
        if ctm != "tf_crop_and_resize":
            return ""
        box = [(0.0, 1.0) if i < 2 else (d.rng.choice((0.0, 0.1, -0.2, 0.25)), d.rng.choice((0.9, 1.3, 0.75)))
               for i in dims]
        for i, n, (a, b) in zip(dims, outs, box):
            if i < 2:
                continue
            if n == sx[i]:
                return None
            at = [a * (sx[i] - 1) + k * (b - a) * (sx[i] - 1) / (n - 1) if n > 1 else (a + b) * (sx[i] - 1) / 2
                  for k in range(n)]
            if any(abs(v - e) < 1e-3 and (v, a) != (0.0, 0.0) for v in at for e in (0, sx[i] - 1)):
                return None
        return d.data([a for a, _ in box] + [b for _, b in box], "float32")
    pool = _NEAREST_SCALES if mode == "nearest" else _LINEAR_SCALES
    if mode != "nearest" and d.rng.random() < 0.3:  # sizes instead of scales
        sizes = [sx[i] if i < 2 else max(1, int(sx[i] * d.rng.choice(pool))) for i in dims]
        # one scale for every axis of `dims`, from the sizes; onnxruntime 1.32 leaves a negative axis unresized
        # there and with align_corners divides by the unrounded length (crops: the sizes are not the lengths)
        if d.opset >= 18 and ctm not in ("tf_crop_and_resize", "align_corners") and d.rng.random() < 0.4:
            attrs["keep_aspect_ratio_policy"] = d.rng.choice(("not_larger", "not_smaller"))
            if dims[0] < 2:
                dims, sizes = dims[2:], sizes[2:]
            attrs["axes"] = dims
        if (box := roi(sizes)) is None:
            return None
        return [x, box, "", d.const(sizes)], attrs
    # align_corners: onnxruntime divides by the floored output length, the spec (and onnx.reference) by n * scale;
    # drawn only where the two agree
    scales = [1.0 if i < 2 else d.rng.choice([s for s in pool if ctm != "align_corners" or (sx[i] * s).is_integer()])
              for i in dims]
    if (box := roi([int(sx[i] * f) for i, f in zip(dims, scales)])) is None:
        return None
    return [x, box, d.data(scales, "float32")], attrs


def _resize_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = _float_in(c, ins[0], "Resize")
    mode, ctm = a.get("mode", "nearest"), a.get("coordinate_transformation_mode", "half_pixel")
    if mode not in ("nearest", "linear", "cubic") or (a.get("antialias", 0) and mode == "nearest"):
        raise ValueError("Resize: nearest/linear/cubic, antialias for linear and cubic only, are drawn")
    if c.opset < 18 and any(k in a for k in ("antialias", "axes", "keep_aspect_ratio_policy")) or \
            c.opset < 19 and ctm == "half_pixel_symmetric":
        raise ValueError(f"Resize: an attribute of {sorted(a)} is newer than opset {c.opset}")
    axes = [axis_of(v, len(sx), "Resize axes") for v in a.get("axes", range(len(sx)))]
    if len(set(axes)) != len(axes):
        raise ValueError(f"Resize axes {a.get('axes')} repeat an axis")
    has_roi = len(ins) > 1 and bool(ins[1])
    if has_roi != (ctm == "tf_crop_and_resize"):
        raise ValueError("Resize: a roi is drawn with tf_crop_and_resize, and only there")
    if has_roi and len(c.const(ins[1], "Resize roi")) != 2 * len(axes):
        raise ValueError(f"Resize roi has {len(c.const(ins[1], 'Resize roi'))} values for {len(axes)} axes")
    out = list(sx)
    if len(ins) > 3 and ins[3]:
        if len(ins) > 2 and ins[2]:
            raise ValueError("Resize takes scales or sizes, not both")
        sizes = [int(v) for v in c.const(ins[3], "Resize sizes")]
        if len(sizes) != len(axes) or min(sizes) < 1:
            raise ValueError(f"Resize sizes {sizes} for axes {axes}")
        policy = a.get("keep_aspect_ratio_policy", "stretch")
        if policy == "stretch":
            for ax, n in zip(axes, sizes):
                out[ax] = n
        elif policy in ("not_larger", "not_smaller"):
            ratios = [n / sx[ax] for ax, n in zip(axes, sizes)]
            scale = min(ratios) if policy == "not_larger" else max(ratios)
            for ax in axes:
                out[ax] = int(math.floor(scale * sx[ax] + 0.5))
        else:
            raise ValueError(f"Resize keep_aspect_ratio_policy {policy!r}")
        return [(tuple(out), dx)]
    scales = [float(v) for v in c.const(ins[2], "Resize scales")]
    if len(scales) != len(axes) or min(scales) <= 0:
        raise ValueError(f"Resize scales {scales} for axes {axes}")
    for ax, s in zip(axes, scales):
        out[ax] = int(math.floor(sx[ax] * s))
    if min(out) < 1:
        raise ValueError(f"Resize output {out} is empty")
    return [(tuple(out), dx)]


# ---------------------------------------------------------------------------------------------- quantization
def _quant_types(opset: int) -> tuple[str, ...]:
    """QuantizeLinear's integer outputs (and DequantizeLinear's inputs) at this opset."""
    return ("uint8", "int8") + (("uint16", "int16") if opset >= 21 else ())


QFLOATS = ("float32", "float16")  # what QuantizeLinear reads and DequantizeLinear makes


def _int_range(dt: str) -> tuple[int, int]:
    bits = int(dt.removeprefix("u").removeprefix("int"))
    return (0, (1 << bits) - 1) if dt.startswith("u") else (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)


def _quant_params(d: Draw, x: str) -> tuple[Shape, dict[str, Any]]:
    """The scale's shape, () per tensor or (n,) along a drawn axis, and the axis attribute that goes with it."""
    sx = d.types[x][0]
    if d.rng.random() < 0.65:
        return (), {}
    ax = d.rng.randrange(-len(sx), len(sx))
    return (sx[ax],), ({} if ax == 1 else {"axis": ax})


def _quantize_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: t[1] in QFLOATS and len(t[0]) >= 1)
    if x is None:
        return None
    qt = d.rng.choice(_quant_types(d.opset))
    lo, hi = _int_range(qt)
    shape, attrs = _quant_params(d, x)
    # |x| is mostly below 3: x / scale spans k times the type's range, so a k above 1 saturates at either end
    scales = [float(f"{6 / (d.rng.choice((0.5, 2, 8, 50)) * (hi - lo)):.2g}") for _ in range(math.prod(shape))]
    dx = d.types[x][1]
    ins = [x, d.data(scales, dx) if shape else d.scalar(scales[0], dx)]
    if d.rng.random() < 0.7:  # the zero point, at an end of the range now and then: one side saturates sooner
        zps = [d.rng.choice((lo, hi, (lo + hi + 1) // 2, d.rng.randint(lo, hi))) for _ in scales]
        ins.append(d.data(zps, qt) if shape else d.scalar(zps[0], qt))
    elif d.opset >= 21 and d.rng.random() < 0.5:
        attrs["output_dtype"] = qt
    return ins, attrs


def _quant_scale(c: Ctx, ins: list[str], a: dict[str, Any], op: str) -> Shape:
    """Check the scale and zero point of a (De)QuantizeLinear: a scalar, or one per element along axis."""
    sx = c.t(ins[0])[0]
    ss = c.t(ins[1])[0]
    if a.get("block_size", 0) or a.get("saturate", 1) != 1:
        raise ValueError(f"{op}: block_size and saturate are not drawn")
    if ss and (len(ss) != 1 or not sx or ss[0] != sx[axis_of(a.get("axis", 1), len(sx))]):
        raise ValueError(f"{op}: scale {list(ss)} is neither a scalar nor one per element along axis of {list(sx)}")
    if len(ins) > 2 and ins[2] and c.t(ins[2])[0] != ss:
        raise ValueError(f"{op}: zero point {list(c.t(ins[2])[0])} and scale {list(ss)} differ in shape")
    return ss


def _quantize_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    (sx, dx), ds = c.t(ins[0]), c.t(ins[1])[1]
    if dx not in QFLOATS or ds != dx:
        raise ValueError(f"QuantizeLinear of {dx} by a {ds} scale at opset {c.opset}")
    _quant_scale(c, ins, a, "QuantizeLinear")
    out = a.get("output_dtype", "uint8")
    if "output_dtype" in a and c.opset < 21:
        raise ValueError("QuantizeLinear output_dtype needs opset 21")
    if len(ins) > 2 and ins[2]:
        if "output_dtype" in a and a["output_dtype"] != c.t(ins[2])[1]:
            raise ValueError("QuantizeLinear output_dtype differs from the zero point's")
        out = c.t(ins[2])[1]
    if out not in _quant_types(c.opset):
        raise ValueError(f"QuantizeLinear to {out} at opset {c.opset}")
    return [(sx, out)]


def _dequantize_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    # unsigned only: onnxruntime 1.32's optimizer moves a signed DequantizeLinear past a Reshape or Transpose as a
    # uint8 Q/DQ pair (negatives come out 0, or, with a zero point, the model no longer loads)
    qts = tuple(t for t in _quant_types(d.opset) if t.startswith("u"))
    x = d.pick(lambda t: t[1] in qts and len(t[0]) >= 1, fresh=False)
    x = x or d.new_value(d.shape(), d.rng.choice(qts), "int_small")  # -8..-1 wrapped: 248..255
    qt = d.types[x][1]
    shape, attrs = _quant_params(d, x)
    dt = d.rng.choice(QFLOATS)
    scales = [round(d.rng.uniform(0.01, 2), 3) for _ in range(math.prod(shape))]
    ins = [x, d.data(scales, dt) if shape else d.scalar(scales[0], dt)]
    if d.rng.random() < 0.6:
        lo, hi = _int_range(qt)
        zps = [d.rng.randint(lo, hi) for _ in scales]
        ins.append(d.data(zps, qt) if shape else d.scalar(zps[0], qt))
    return ins, attrs


def _dequantize_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    (sx, dx), ds = c.t(ins[0]), c.t(ins[1])[1]
    if dx not in _quant_types(c.opset) + ("int32",) or ds not in QFLOATS:
        raise ValueError(f"DequantizeLinear of {dx} by a {ds} scale at opset {c.opset}")
    _quant_scale(c, ins, a, "DequantizeLinear")
    if len(ins) > 2 and ins[2] and (c.t(ins[2])[1] != dx or dx == "int32"):
        raise ValueError(f"DequantizeLinear: the zero point must be {dx} (and absent for int32)")
    if "output_dtype" in a:
        raise ValueError("DequantizeLinear output_dtype is not drawn")
    return [(sx, ds)]


# ---------------------------------------------------------------------------------------------- value-made shapes
def _nonzero_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x = d.pick(lambda t: t[1] in CASTS and len(t[0]) >= 1, fresh=False) if d.rng.random() < 0.5 else None
    if x is None:  # values with zeros among them: one in five on the grid, one in two bools
        dt = d.rng.choice(("float32", "float32", "float16", "int32", "int64", "bool"))
        x = d.new_value(d.shape(), dt, "bool" if dt == "bool" else "grid")
    return [x], {}


def _nonzero_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, _ = c.t(ins[0])
    if not sx:
        raise ValueError("NonZero of a scalar is not drawn")
    return [((len(sx), UNKNOWN), "int64")]


FILLS = CASTS + ("uint8", "int8", "uint16", "int16")  # ConstantOfShape's value dtypes


def _fill_value(d: Draw, dt: str) -> Any:
    if dt == "bool":
        return d.rng.random() < 0.5
    if dt in FLOATS:  # multiples of 1/4: sums of copies are exact, so a constant row normalizes to 0 on both sides
        return d.rng.choice((d.rng.randint(-12, 12) / 4, -1e4, 1.0))
    lo, hi = _int_range(dt)
    big = (1 << 24) + 1  # past float32's integers: a float detour loses the 1 (the 8- and 16-bit types: their ends)
    lo, hi = max(lo, -big), min(hi, big)
    return d.rng.choice((d.rng.randint(max(lo, -8), 8), lo, hi, d.rng.randint(lo, hi)))


def _constant_of_shape_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    shape = list(d.shape())
    if d.rng.random() < 0.1:
        shape = []  # a scalar
    elif d.rng.random() < 0.1:
        shape[d.rng.randrange(len(shape))] = 0
    if d.rng.random() < 0.15:
        return [d.const(shape)], {}  # float32 0
    dt = d.rng.choice(FILLS)
    return [d.const(shape)], {"value": {"dtype": dt, "data": [_fill_value(d, dt)]}}


def _constant_of_shape_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    dims = [int(v) for v in c.const(ins[0], "ConstantOfShape shape")]
    if c.t(ins[0])[0] != (len(dims),) or any(v < 0 for v in dims):
        raise ValueError(f"ConstantOfShape shape {dims} must be a 1-D list of sizes")
    v = a.get("value", {"dtype": "float32", "data": [0.0]})
    if not isinstance(v, dict) or set(v) != {"dtype", "data"} or v["dtype"] not in FILLS or \
            not isinstance(v["data"], list) or len(v["data"]) != 1 or not isinstance(v["data"][0], (int, float)):
        raise ValueError(f"ConstantOfShape value {v!r} must be {{'dtype': one of {'/'.join(FILLS)}, 'data': [x]}}")
    return [(tuple(dims), v["dtype"])]


def _spec(name: str, pair: tuple[Any, Any], since: int = 13, defaults: dict[str, Any] | None = None,
          discrete: bool = False) -> OpSpec:
    return OpSpec(name, pair[0], pair[1], since, defaults or {}, discrete)


_ALL_NUM = FLOATS + INTS
OP_LIST: list[OpSpec] = [
    *[_spec(n, _unary()) for n in ("Relu", "Sigmoid", "Tanh", "Exp", "Erf", "Atan", "Softsign", "Softplus",
                                   "Identity")],
    *[_spec(n, _unary(), discrete=True) for n in ("Sin", "Cos")],  # cos(sum of 15 float16 values): 1 ulp = 0.03
    *[_spec(n, _unary(domain="positive")) for n in ("Log", "Sqrt", "Reciprocal")],
    *[_spec(n, _unary(), discrete=True) for n in ("Floor", "Ceil", "Round")],
    _spec("Abs", _unary(_ALL_NUM)), _spec("Neg", _unary(_ALL_NUM)), _spec("Sign", _unary(_ALL_NUM), discrete=True),
    _spec("Elu", _unary(attrs=_alpha(0.1, 2.0)), defaults={"alpha": 1.0}),
    _spec("Celu", _unary(("float32",), attrs=_alpha(0.3, 2.0)), defaults={"alpha": 1.0}),
    _spec("LeakyRelu", _unary(attrs=_alpha(0.01, 0.5)), defaults={"alpha": 0.01}),
    _spec("ThresholdedRelu", _unary(attrs=_alpha(-0.5, 1.0)), defaults={"alpha": 1.0}),
    _spec("Selu", _unary(attrs=_selu_attrs), defaults={"alpha": 1.6732632, "gamma": 1.050701}),
    _spec("HardSigmoid", _unary(attrs=_hardsigmoid_attrs), defaults={"alpha": 0.2, "beta": 0.5}),
    _spec("HardSwish", _unary(), since=14), _spec("Mish", _unary(), since=18),
    _spec("Gelu", _unary(attrs=_gelu_attrs), since=20, defaults={"approximate": "none"}),
    _spec("Not", _unary(("bool",))), _spec("IsNaN", (_unary()[0], lambda c, i, a: [(c.t(i[0])[0], "bool")])),
    _spec("IsInf", (_isinf_sample, lambda c, i, a: [(c.t(i[0])[0], "bool")]),
          defaults={"detect_positive": 1, "detect_negative": 1}),
    *[_spec(n, _binary(_ALL_NUM)) for n in ("Add", "Sub", "Mul")],
    _spec("Div", _binary(_ALL_NUM, divisor=True)), _spec("Pow", (_pow_sample, _pow_infer)),
    _spec("Mod", (_mod_sample, _mod_infer), defaults={"fmod": 0}, discrete=True),  # fmod(1e6 * (1 + 1e-15), 1.2)
    *[_spec(n, _variadic(_ALL_NUM)) for n in ("Max", "Min")],
    *[_spec(n, _variadic(FLOATS)) for n in ("Sum", "Mean")],
    *[_spec(n, (_compare_sample, _binary(_ALL_NUM, out="bool")[1]), discrete=True)
      for n in ("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual")],
    *[_spec(n, (_logic_sample, _binary(("bool",))[1])) for n in ("And", "Or", "Xor")],
    _spec("Where", (_where_sample, _where_infer)),
    _spec("Cast", (_cast_sample, _cast_infer), discrete=True),
    _spec("CastLike", (_castlike_sample, _castlike_infer), since=15),
    _spec("Clip", (_clip_sample, _clip_infer)),
    _spec("MatMul", (_matmul_sample, _matmul_infer)),
    _spec("Gemm", (_gemm_sample, _gemm_infer), defaults={"transA": 0, "transB": 0, "alpha": 1.0, "beta": 1.0}),
    _spec("Conv", (_conv_sample, _conv_infer),
          defaults={"strides": None, "dilations": None, "pads": None, "auto_pad": "NOTSET", "group": 1}),
    _spec("ConvTranspose", (_convt_sample, _convt_infer),
          defaults={"strides": None, "dilations": None, "pads": None, "output_padding": None, "group": 1}),
    _spec("MaxPool", (_pool_sample(False), _pool_infer(False)),
          defaults={"strides": None, "dilations": None, "pads": None, "auto_pad": "NOTSET", "ceil_mode": 0}),
    _spec("AveragePool", (_pool_sample(True), _pool_infer(True)),
          defaults={"strides": None, "dilations": None, "pads": None, "auto_pad": "NOTSET", "ceil_mode": 0,
                    "count_include_pad": 0}),
    _spec("GlobalAveragePool", (_global_pool_sample, _global_pool_infer)),
    _spec("GlobalMaxPool", (_global_pool_sample, _global_pool_infer)),
    _spec("BatchNormalization", (_batchnorm_sample, _batchnorm_infer), defaults={"epsilon": 1e-5}),
    _spec("InstanceNormalization", (_instnorm_sample, _instnorm_infer), defaults={"epsilon": 1e-5}),
    _spec("LayerNormalization", (_layernorm_sample, _layernorm_infer), since=17,
          defaults={"axis": -1, "epsilon": 1e-5}),
    _spec("LpNormalization", (_lpnorm_sample, _lpnorm_infer), defaults={"axis": -1, "p": 2}),
    _spec("LRN", (_lrn_sample, _lrn_infer), defaults={"alpha": 1e-4, "beta": 0.75, "bias": 1.0}),
    *[_spec(n, (_softmax_sample, _axis_same_infer), defaults={"axis": -1}) for n in ("Softmax", "LogSoftmax")],
    _spec("Hardmax", (_softmax_sample, _axis_same_infer), defaults={"axis": -1}, discrete=True),
    *[_spec(n, (_reduce_sample(n), _reduce_infer(n)), defaults={"keepdims": 1, "noop_with_empty_axes": 0})
      for n in REDUCES],
    *[_spec(n, (_argmax_sample, _argmax_infer), defaults={"axis": 0, "keepdims": 1, "select_last_index": 0},
            discrete=True) for n in ("ArgMax", "ArgMin")],
    _spec("CumSum", (_cumsum_sample, _cumsum_infer), defaults={"exclusive": 0, "reverse": 0}),
    _spec("Transpose", (_transpose_sample, _transpose_infer), defaults={"perm": None}),
    _spec("Reshape", (_reshape_sample, _reshape_infer), defaults={"allowzero": 0}),
    _spec("Flatten", (_flatten_sample, _flatten_infer), defaults={"axis": 1}),
    _spec("Squeeze", (_squeeze_sample, _squeeze_infer)),
    _spec("Unsqueeze", (_unsqueeze_sample, _unsqueeze_infer)),
    _spec("Concat", (_concat_sample, _concat_infer)),
    _spec("Split", (_split_sample, _split_infer), defaults={"axis": 0}),
    _spec("Slice", (_slice_sample, _slice_infer)),
    _spec("Pad", (_pad_sample, _pad_infer), defaults={"mode": "constant"}),
    _spec("Tile", (_tile_sample, _tile_infer)),
    _spec("Expand", (_expand_sample, _expand_infer)),
    _spec("Gather", (_gather_sample, _gather_infer), defaults={"axis": 0}),
    _spec("GatherElements", (_gather_elements_sample, _gather_elements_infer), defaults={"axis": 0}),
    _spec("DepthToSpace", (_d2s_sample(False), _d2s_infer(False)), defaults={"mode": "DCR"}),
    _spec("SpaceToDepth", (_d2s_sample(True), _d2s_infer(True))),
    _spec("Trilu", (_trilu_sample, _trilu_infer), since=14, defaults={"upper": 1}),
    _spec("Shape", (_shape_sample, _shape_infer), defaults={"start": 0, "end": None}),
    _spec("Size", (_unary(CASTS)[0], _size_infer)),
    _spec("PRelu", (_prelu_sample, _prelu_infer)),
    _spec("TopK", (_topk_sample, _topk_infer), defaults={"axis": -1, "largest": 1}, discrete=True),
    _spec("GatherND", (_gather_nd_sample, _gather_nd_infer), defaults={"batch_dims": 0}),
    _spec("ScatterElements", (_scatter_elements_sample, _scatter_elements_infer),
          defaults={"axis": 0, "reduction": "none"}),
    _spec("Einsum", (_einsum_sample, _einsum_infer)),
    _spec("Range", (_range_sample, _range_infer)),
    _spec("OneHot", (_onehot_sample, _onehot_infer), defaults={"axis": -1}),
    # from 19 (float16 too), where onnx.reference runs them: it stands in where onnxruntime cannot run a model
    _spec("QuantizeLinear", (_quantize_sample, _quantize_infer), since=19, defaults={"axis": 1, "output_dtype": None},
          discrete=True),  # rounds: reads only exact values
    _spec("DequantizeLinear", (_dequantize_sample, _dequantize_infer), since=19, defaults={"axis": 1}),
    _spec("NonZero", (_nonzero_sample, _nonzero_infer), discrete=True),
    _spec("ConstantOfShape", (_constant_of_shape_sample, _constant_of_shape_infer), defaults={"value": None}),
    _spec("Resize", (_resize_sample, _resize_infer), since=13,
          defaults={"mode": "nearest", "coordinate_transformation_mode": "half_pixel",
                    "nearest_mode": "round_prefer_floor", "cubic_coeff_a": -0.75, "exclude_outside": 0,
                    "extrapolation_value": 0.0, "antialias": 0, "axes": None, "keep_aspect_ratio_policy": "stretch"}),
]
# Drawn at opsets 11 and 12 too (the lowest opset each is drawn at): ops whose sampled form (inputs, attributes, the
# types drawn) is valid there. What changed at 13 is the point: Softmax, LogSoftmax and Hardmax flatten every axis
# from `axis` on into one before 13; Squeeze, Unsqueeze and Split take axes / sizes as attributes, and every reduce
# its axes. Left out: ops new since (or whose drawn attributes or types are, e.g. select_last_index 12, Clip of ints
# 12, CumSum of float16 never before 14), Resize (a different input list) and the quantization ops.
OLD_OPSETS: dict[str, int] = {
    **{n: 11 for n in ("Relu", "Sigmoid", "Tanh", "Exp", "Erf", "Atan", "Softsign", "Softplus", "Identity", "Sin",
                       "Cos", "Log", "Sqrt", "Reciprocal", "Floor", "Ceil", "Round", "Abs", "Neg", "Sign", "Elu",
                       "LeakyRelu", "ThresholdedRelu", "Selu", "HardSigmoid", "Not", "IsNaN", "Add", "Sub", "Mul",
                       "Div", "Mod", "Sum", "Mean", "Equal", "Less", "Greater", "And", "Or", "Xor", "Where", "Cast",
                       "Clip", "MatMul", "Gemm", "Conv", "ConvTranspose", "MaxPool", "AveragePool",
                       "GlobalAveragePool", "GlobalMaxPool", "BatchNormalization", "InstanceNormalization",
                       "LpNormalization", "LRN", "Softmax", "LogSoftmax", "Hardmax", *REDUCES, "Transpose", "Reshape",
                       "Flatten", "Squeeze", "Unsqueeze", "Concat", "Split", "Slice", "Pad", "Tile", "Expand",
                       "Gather", "GatherElements", "DepthToSpace", "SpaceToDepth", "Shape", "Size", "PRelu", "TopK",
                       "ScatterElements", "Range", "OneHot", "NonZero", "ConstantOfShape")},
    **{n: 12 for n in ("Celu", "Pow", "Max", "Min", "LessOrEqual", "GreaterOrEqual", "ArgMax", "ArgMin", "GatherND",
                       "Einsum")},
}
OP_LIST = [replace(s, old=OLD_OPSETS.get(s.name, 0)) for s in OP_LIST]
OPS: dict[str, OpSpec] = {s.name: s for s in OP_LIST}
