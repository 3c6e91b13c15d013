"""More of the ONNX op table (fuzz.onnx.table): recurrent, attention, loss and quantized ops,
in the form of fuzz.onnx.ops (each op a sampler and a type rule).

Drawn here:
  RNN, GRU, LSTM (from 13, and at 11/12 in float32/float16 with layout 0): every direction, hidden sizes 1..5,
    activations (the defaults' slots filled from the ten the engine and onnxruntime share) with alphas/betas (in
    order, for the functions that take them),
    linear_before_reset, clip, input_forget, peepholes, optional B, sequence_lens (int32, 1..T), initial_h/initial_c,
    layout 1 (from 14: onnxruntime refuses it, onnx.reference runs it), float64 (onnx.reference), and the optional
    trailing outputs (the fuzzer's note `_outputs` says how many the node names).
  NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss (13): reduction none/sum/mean, positive weights, ignore_index in
    range (targets hit it) or negative (planted among the targets), N-D targets, int32/int64 targets, log_prob.
  MatMulInteger, ConvInteger (13): uint8/int8 either side, scalar zero points, per-column b / per-channel w zero
    points (onnxruntime refuses a per-channel ConvInteger zero point: onnx.reference stands in); the Conv windows of
    fuzz.onnx.ops; per-row a zero points are not drawn (onnxruntime refuses them, and the engine's rule for them
    was not checked against another reference).
  QLinearMatMul, QLinearConv (13): (uint8, uint8), (uint8, int8), (int8, int8) (onnxruntime's kernels), per-column /
    per-channel weight scales and zero points, an int32 bias; scales either of few binary digits (exact: a product
    may land on a .5 tie, which ONNX rounds to even) or of many (no ties).
  DynamicQuantizeLinear (13): its three outputs; it reads only exact values (discrete), since its zero point and
    every element round.
  Attention (23), RotaryEmbedding (23), SwiGLU (28): drawn only where fuzz.onnx.case.newest_opset() reaches their
    opset (23 with onnxruntime 1.23 and later: Attention and RotaryEmbedding; SwiGLU waits for onnxruntime).

Not drawn: control flow (If, Loop, Scan: subgraphs, which the case format cannot express) and the ai.onnx.ml and
training domains (the case format has one opset import).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from fuzz.onnx.ops import (
    FLOATS,
    TT,
    Ctx,
    OpSpec,
    Shape,
    _bcastable,
    _check_window,
    _float_in,
    _int_range,
    _window_attrs,
    _window_out,
    broadcast,
)

if TYPE_CHECKING:
    from fuzz.onnx.generate import Draw

def _n_outputs(a: dict[str, Any], most: int) -> int:
    n = a.get("_outputs", most)
    if not isinstance(n, int) or not 1 <= n <= most:
        raise ValueError(f"_outputs {n!r} must be 1..{most}")
    return n


def _opt(ins: list[str], i: int) -> str:
    return ins[i] if len(ins) > i else ""


def _trim(ins: list[str]) -> list[str]:
    while ins and not ins[-1]:
        ins = ins[:-1]
    return ins


# ---------------------------------------------------------------------------------------------- recurrent layers
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
DEFAULT_ACTS = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"]}
ALPHA = {"LeakyRelu": (0.01, 0.5), "ThresholdedRelu": (-0.5, 0.5), "ScaledTanh": (0.5, 2.0),
         "HardSigmoid": (0.1, 0.5), "Elu": (0.3, 2.0), "Affine": (-1.5, 1.5)}
BETA = {"ScaledTanh": (0.5, 2.0), "HardSigmoid": (0.2, 0.8), "Affine": (-1.0, 1.0)}
PLAIN = ("Sigmoid", "Tanh", "Relu", "Softsign", "Softplus")
ACTS = (*PLAIN, *ALPHA)


# the functions whose unlisted alpha (beta) onnxruntime gives the ONNX operator's default, as the spec says; it gives
# the others (ThresholdedRelu, ScaledTanh, Affine) 0, where the spec says their operator's default (ThresholdedRelu's
# alpha 1.0, Affine's 1.0): those are never left unlisted
SPEC_DEFAULT = {"activation_alpha": ("LeakyRelu", "HardSigmoid", "Elu"), "activation_beta": ("HardSigmoid",)}


def _listed(d: Draw, acts: list[str], table: dict[str, tuple[float, float]], key: str) -> list[float]:
    """The values of `key` for the functions of `acts` that take one, in order (onnxruntime hands them only to
    those, as the engine), now and then cut short where every function past the cut has the spec's default."""
    takers = [a for a in acts if a in table]
    n = len(takers)
    if d.rng.random() < 0.3:
        while n and takers[n - 1] in SPEC_DEFAULT[key] and d.rng.random() < 0.6:
            n -= 1
    return [round(d.rng.uniform(*table[a]), 3) for a in takers[:n]]


def _rnn_activations(d: Draw, kind: str, nd: int) -> dict[str, Any]:
    """activations for every direction, from one of three groups (functions without parameters, of an alpha, of an
    alpha and a beta) or all of them mixed, with the alphas and betas of the functions that take them."""
    if d.rng.random() >= 0.45:
        return {}
    group = d.rng.choice((PLAIN, PLAIN, tuple(a for a in ALPHA if a not in BETA), tuple(BETA), ACTS, ACTS))
    acts = [a if a in group and d.rng.random() < 0.4 else d.rng.choice(group)
            for _ in range(nd) for a in DEFAULT_ACTS[kind]]
    attrs: dict[str, Any] = {"activations": acts}
    for key, table in (("activation_alpha", ALPHA), ("activation_beta", BETA)):
        values = _listed(d, acts, table, key)
        if values:
            attrs[key] = values
    return attrs


def _rnn_sample(kind: str):
    g = GATES[kind]

    def sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
        dts = ["float32"] * 10 + ["float16"] * 2 + (["float64"] if d.opset >= 13 else [])
        dt = d.rng.choice(dts)
        layout = int(d.opset >= 14 and d.rng.random() < 0.12)  # onnxruntime refuses it: onnx.reference runs it
        # no wide values (~300): onnxruntime's Softplus and Relu gates overflow to inf / NaN there (log(1 + e^x))
        x = d.pick(lambda t: t[1] == dt and len(t[0]) == 3 and max(t[0][:2]) <= 4 and 1 <= t[0][2] <= 6,
                   fresh=False, tame=True) if d.rng.random() < 0.35 else None
        if x is None:
            t, b = d.rng.randint(1, 4), d.rng.randint(1, 3)
            x = d.new_value((b, t, d.rng.randint(1, 4)) if layout else (t, b, d.rng.randint(1, 4)), dt, "normal")
        sx = d.types[x][0]
        t, b, i = (sx[1], sx[0], sx[2]) if layout else sx
        h = d.rng.randint(1, 5)
        direction = d.rng.choice(("forward", "reverse", "bidirectional"))
        nd = 2 if direction == "bidirectional" else 1
        # weights in -1..1: gates stay off saturation, where a wrong gate or order still shows
        # float64 and layout 1 run in onnx.reference only, which ignores clip, sequence_lens, activations and
        # input_forget: those are not drawn there
        full = dt != "float64" and not layout
        ins = [x, d.new_weight((nd, g * h, i), dt, "unit"), d.new_weight((nd, g * h, h), dt, "unit")]
        ins.append(d.new_weight((nd, 2 * g * h), dt, "unit") if d.rng.random() < 0.6 else "")
        if full and d.rng.random() < 0.35:  # each batch row's length, 1..T (the last one short now and then)
            ins.append(d.data([d.rng.randint(1, t) for _ in range(b)], "int32", (b,)))
        else:
            ins.append("")
        state = (b, nd, h) if layout else (nd, b, h)
        ins.append(d.operand(state, dt, "normal") if d.rng.random() < 0.4 else "")
        if kind == "LSTM":
            ins.append(d.operand(state, dt, "normal") if d.rng.random() < 0.4 else "")
            ins.append(d.new_weight((nd, 3 * h), dt, "unit") if d.rng.random() < 0.3 else "")
        attrs: dict[str, Any] = {"hidden_size": h}
        if direction != "forward" or d.rng.random() < 0.2:
            attrs["direction"] = direction
        if full:
            attrs.update(_rnn_activations(d, kind, nd))
        if full and d.rng.random() < 0.25:
            attrs["clip"] = d.rng.choice((0.3, 1.0, 2.5))
        if kind == "GRU" and d.rng.random() < 0.5:
            attrs["linear_before_reset"] = 1
        if kind == "LSTM" and full and d.rng.random() < 0.3:
            attrs["input_forget"] = 1
        if layout or (d.opset >= 14 and d.rng.random() < 0.1):
            attrs["layout"] = layout
        most = 3 if kind == "LSTM" else 2
        if d.rng.random() < 0.4:
            attrs["_outputs"] = d.rng.randint(1, most)
        return _trim(ins), attrs

    return sample


def _rnn_infer(kind: str):
    g = GATES[kind]

    def infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
        sx, dt = _float_in(c, ins[0], kind)
        if len(sx) != 3 or len(ins) < 3 or len(ins) > (8 if kind == "LSTM" else 6):
            raise ValueError(f"{kind} takes a 3-D X, W, R and its optional inputs")
        layout = a.get("layout", 0)
        if layout not in (0, 1) or ("layout" in a and c.opset < 14):
            raise ValueError(f"{kind} layout {layout} (an attribute from opset 14)")
        t, b, i = (sx[1], sx[0], sx[2]) if layout else sx
        direction = a.get("direction", "forward")
        if direction not in ("forward", "reverse", "bidirectional"):
            raise ValueError(f"{kind} direction {direction!r}")
        nd = 2 if direction == "bidirectional" else 1
        h = a.get("hidden_size")
        if not isinstance(h, int) or h < 1:
            raise ValueError(f"{kind} needs hidden_size >= 1")
        if dt == "float64" and c.opset < 13:
            raise ValueError(f"{kind} of float64 is drawn from opset 13 (onnx.reference)")
        state = (b, nd, h) if layout else (nd, b, h)
        want = {1: ((nd, g * h, i), dt), 2: ((nd, g * h, h), dt), 3: ((nd, 2 * g * h), dt), 4: ((b,), "int32"),
                5: (state, dt), 6: (state, dt), 7: ((nd, 3 * h), dt)}
        for k, name in enumerate(ins[1:], 1):
            if (name or k < 3) and c.t(name) != want[k]:
                raise ValueError(f"{kind} input {k} is {c.t(name)}, must be {want[k]}")
        if _opt(ins, 4) and not all(1 <= v <= t for v in c.const(ins[4], "sequence_lens")):
            raise ValueError(f"{kind} sequence_lens must lie in 1..{t}")
        per = len(DEFAULT_ACTS[kind])
        acts = a.get("activations", DEFAULT_ACTS[kind] * nd)
        if len(acts) != per * nd or any(f not in ACTS for f in acts):
            raise ValueError(f"{kind} activations {acts} must be {per * nd} of {', '.join(ACTS)}")
        for key, table in (("activation_alpha", ALPHA), ("activation_beta", BETA)):
            takers = [f for f in acts if f in table]
            listed = len(a.get(key, []))
            if (key in a and not listed) or listed > len(takers) or \
                    any(f not in SPEC_DEFAULT[key] for f in takers[listed:]):
                raise ValueError(f"{kind} {key}: drawn one per function that takes it, in order (left off only "
                                 f"where onnxruntime's default is the spec's: {', '.join(SPEC_DEFAULT[key])})")
        if (dt == "float64" or layout) and any(k in a for k in ("clip", "activations", "input_forget")) | \
                bool(_opt(ins, 4)):
            raise ValueError(f"{kind}: onnx.reference (float64, layout 1) ignores clip, activations, input_forget "
                             "and sequence_lens: not drawn there")
        if a.get("linear_before_reset", 0) and kind != "GRU" or a.get("input_forget", 0) and kind != "LSTM":
            raise ValueError(f"{kind} has no such attribute")
        y = (b, t, nd, h) if layout else (t, nd, b, h)
        outs = [(y, dt), (state, dt), (state, dt)][:3 if kind == "LSTM" else 2]
        return outs[:_n_outputs(a, len(outs))]

    return infer


# ---------------------------------------------------------------------------------------------- losses
def _loss_sample(scores: bool):
    def sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
        dt = d.rng.choice(("float32",) * 5 + ("float64", "float64", "float16"))
        x = d.pick(lambda t: t[1] == dt and 2 <= len(t[0]) <= 4 and t[0][0] <= 8 and t[0][1] >= 1,
                   fresh=False) if d.rng.random() < 0.4 else None
        if x is None:
            x = d.new_value((d.rng.randint(1, 4), d.rng.randint(1, 5),
                             *(d.rng.randint(1, 4) for _ in range(d.rng.choice((0, 0, 1, 2))))), dt)
        sx = d.types[x][0]
        n, classes, rest = sx[0], sx[1], sx[2:]
        tshape = (n, *rest)
        count = math.prod(tshape)
        targets = [d.rng.randrange(classes) for _ in range(count)]
        attrs: dict[str, Any] = {}
        if d.rng.random() < 0.45:
            if d.rng.random() < 0.6:  # a class: the targets that name it drop out
                ign = d.rng.randrange(classes)
            else:  # outside the classes, planted among the targets
                ign = d.rng.choice((-1, -100, classes))
                for k in d.rng.sample(range(count), d.rng.randint(0, max(0, count - 1))):
                    targets[k] = ign
            if all(v == ign for v in targets):  # a mean over no target is 0 / 0
                targets[0] = (ign + 1) % classes if 0 <= ign < classes else 0
                if classes == 1 and ign == 0:
                    return None
            attrs["ignore_index"] = ign
        if d.rng.random() < 0.8:
            attrs["reduction"] = d.rng.choice(("none", "sum", "mean"))
        ins = [x, d.data(targets, d.rng.choice(("int64", "int64", "int32")), tshape)]
        if d.rng.random() < 0.4:
            ins.append(d.new_weight((classes,), dt, "positive"))  # positive: a weighted mean's divisor is not ~0
        if scores and d.rng.random() < 0.5:
            attrs["_outputs"] = d.rng.randint(1, 2)
        return ins, attrs

    return sample


def _loss_infer(scores: bool):
    op = "SoftmaxCrossEntropyLoss" if scores else "NegativeLogLikelihoodLoss"

    def infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
        sx, dt = _float_in(c, ins[0], op)
        if len(sx) < 2 or not 2 <= len(ins) <= 3:
            raise ValueError(f"{op} takes (N, C, ...) scores, targets and an optional weight")
        (st, tt) = c.t(ins[1])
        if st != (sx[0], *sx[2:]) or tt not in ("int32", "int64"):
            raise ValueError(f"{op} targets {list(st)} {tt} must be int32/int64 of shape {[sx[0], *sx[2:]]}")
        if len(ins) > 2 and ins[2] and c.t(ins[2]) != ((sx[1],), dt):
            raise ValueError(f"{op} weight must be ({sx[1]},) {dt}")
        ign = a.get("ignore_index")
        targets = c.const(ins[1], f"{op} targets")
        if any(not (0 <= v < sx[1] or v == ign) for v in targets):
            raise ValueError(f"{op} targets must be classes or ignore_index")
        red = a.get("reduction", "mean")
        if red not in ("none", "sum", "mean"):
            raise ValueError(f"{op} reduction {red!r}")
        if red == "mean" and ign is not None and all(v == ign for v in targets):
            raise ValueError(f"{op}: a mean over no target")
        out: list[TT] = [(st if red == "none" else (), dt)]
        if scores:
            out.append((sx, dt))
            return out[:_n_outputs(a, 2)]
        if "_outputs" in a:
            raise ValueError(f"{op} has one output")
        return out

    return infer


# ---------------------------------------------------------------------------------------------- integer matmul, conv
QTYPES = ("uint8", "int8")
QPAIRS = (("uint8", "uint8"), ("uint8", "int8"), ("int8", "int8"))  # onnxruntime's QLinear kernels (x, w)


def _zp(d: Draw, dt: str, shape: Shape = ()) -> str:
    """A zero point of dt: anywhere in its range, at an end now and then."""
    lo, hi = _int_range(dt)
    vals = [d.rng.choice((lo, hi, max(lo, 0), d.rng.randint(lo, hi), d.rng.randint(lo, hi)))
            for _ in range(math.prod(shape))]
    return d.data(vals, dt, shape)


def _int_operand(d: Draw, shape: Shape, dt: str) -> str:
    # int_small (-8..8; a uint8 wraps to 248..255) or the whole range (grid-like small values: many equal products)
    return d.operand(shape, dt, d.rng.choice(("int_small", "int_small", "positive", "grid")))


def _int_matrix(d: Draw, ta: str) -> str:
    """The left operand of an integer matmul: an existing 2-D or 3-D `ta` value (at most 16 columns) or a fresh one."""
    a = d.pick(lambda t: t[1] == ta and len(t[0]) in (2, 3) and t[0][-1] <= 16, fresh=False)
    if a is None:
        a = _int_operand(d, (d.rng.randint(1, 5), d.rng.randint(1, 8)) if d.rng.random() < 0.7 else
                         (d.rng.randint(1, 3), d.rng.randint(1, 5), d.rng.randint(1, 8)), ta)
    return a


def _mmi_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    ta, tb = d.rng.choice(QTYPES), d.rng.choice(QTYPES)
    a = _int_matrix(d, ta)
    sa = d.types[a][0]
    k, n = sa[-1], d.rng.randint(1, 6)
    sb: Shape = (k, n) if len(sa) == 2 or d.rng.random() < 0.5 else (d.rng.choice((1, sa[0])), k, n)
    ins = [a, _int_operand(d, sb, tb)]
    if d.rng.random() < 0.6:
        ins.append(_zp(d, ta, d.rng.choice(((), (), (1,)))))
    else:
        ins.append("")
    if d.rng.random() < 0.6:
        ins.append(_zp(d, tb, d.rng.choice(((), (), (1,), (n,)))))
    return _trim(ins), {}


def _mmi_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    (sa, ta), (sb, tb) = c.t(ins[0]), c.t(ins[1])
    if ta not in QTYPES or tb not in QTYPES or not 2 <= len(sa) <= 3 or not 2 <= len(sb) <= 3 or sa[-1] != sb[-2]:
        raise ValueError(f"MatMulInteger of {list(sa)} {ta} and {list(sb)} {tb}")
    if _opt(ins, 2) and (c.t(ins[2])[1] != ta or c.t(ins[2])[0] not in ((), (1,))):
        raise ValueError("MatMulInteger: a_zero_point is a scalar of A's type (onnxruntime: no per-row)")
    if _opt(ins, 3) and (c.t(ins[3])[1] != tb or c.t(ins[3])[0] not in ((), (1,), (sb[-1],))):
        raise ValueError("MatMulInteger: b_zero_point is a scalar or one per column, of B's type")
    return [(broadcast(sa[:-2], sb[:-2]) + (sa[-2], sb[-1]), "int32")]


def _int_conv_parts(d: Draw, tx: str, tw: str) -> tuple[str, str, dict[str, Any], int] | None:
    """x, w, the window attributes and the output channels of an integer convolution."""
    x = d.pick(lambda t: t[1] == tx and len(t[0]) in (3, 4) and math.prod(t[0][2:]) >= 4 and t[0][1] <= 6,
               fresh=False)
    if x is None:
        x = _int_operand(d, d.image_shape(), tx)
    sx = d.types[x][0]
    ch = sx[1]
    group = d.rng.choice([gr for gr in (1, 1, 2, 3, ch) if ch % gr == 0])
    m = group * d.rng.choice((1, 2, 3))
    attrs = _window_attrs(d, sx[2:], pool=False, dilate=True)
    if attrs is None:
        return None
    w = _int_operand(d, (m, ch // group, *attrs["kernel_shape"]), tw)
    if d.rng.random() < 0.5:
        del attrs["kernel_shape"]
    if group != 1:
        attrs["group"] = group
    return x, w, attrs, m


def _int_conv_shape(c: Ctx, x: str, w: str, a: dict[str, Any], op: str) -> Shape:
    (sx, _), (sw, _) = c.t(x), c.t(w)
    if len(sx) < 3 or len(sw) != len(sx):
        raise ValueError(f"{op} of {list(sx)} with weight {list(sw)}")
    gr = a.get("group", 1)
    if gr < 1 or sx[1] % gr or sw[0] % gr or sw[1] * gr != sx[1]:
        raise ValueError(f"{op}: group {gr} does not fit {sx[1]} input and {sw[0]} output channels")
    k = list(sw[2:])
    if "kernel_shape" in a and a["kernel_shape"] != k:
        raise ValueError(f"{op}: kernel_shape {a['kernel_shape']} differs from the weight's {k}")
    out = _window_out(sx[2:], a, _check_window(a, len(sx) - 2, k))
    if any(o < 1 for o in out):
        raise ValueError(f"{op}: output {out} is empty")
    return (sx[0], sw[0], *out)


def _convint_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    tx, tw = d.rng.choice(QTYPES), d.rng.choice(QTYPES)
    parts = _int_conv_parts(d, tx, tw)
    if parts is None:
        return None
    x, w, attrs, m = parts
    ins = [x, w, _zp(d, tx) if d.rng.random() < 0.6 else ""]
    if d.rng.random() < 0.6:  # per channel: onnxruntime refuses it, onnx.reference runs it
        ins.append(_zp(d, tw, (m,) if d.rng.random() < 0.15 else ()))
    return _trim(ins), attrs


def _convint_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    tx, tw = c.t(ins[0])[1], c.t(ins[1])[1]
    if tx not in QTYPES or tw not in QTYPES:
        raise ValueError(f"ConvInteger of {tx} and {tw}")
    out = _int_conv_shape(c, ins[0], ins[1], a, "ConvInteger")
    if _opt(ins, 2) and c.t(ins[2]) not in (((), tx), ((1,), tx)):
        raise ValueError("ConvInteger: x_zero_point is a scalar of x's type")
    if _opt(ins, 3) and c.t(ins[3]) not in (((), tw), ((1,), tw), ((out[1],), tw)):
        raise ValueError("ConvInteger: w_zero_point is a scalar or one per output channel, of w's type")
    return [(out, "int32")]


# scales of few binary digits (products exact: ties round to even) or of many (no ties)
_EXACT_SCALES = (0.125, 0.25, 0.375, 0.5, 0.75, 1.0, 1.5, 2.0)


def _qscale(d: Draw, exact: bool, shape: Shape = (), lo: float = 0.02, hi: float = 1.0) -> str:
    if exact:
        vals = [d.rng.choice(_EXACT_SCALES) for _ in range(math.prod(shape))]
    else:
        vals = [float(f"{d.rng.uniform(lo, hi):.5g}") for _ in range(math.prod(shape))]
    return d.data(vals, "float32", shape)


def _yscale(d: Draw, exact: bool, terms: int) -> str:
    """y_scale: the accumulator (terms products of up to ~128 * 128 at scales ~0.5) maps onto about the output range,
    now and then well inside it or saturating."""
    span = terms * d.rng.choice((4.0, 64.0, 1024.0, 16384.0))
    if exact:
        return d.data([2.0 ** round(math.log2(span / 256))], "float32", ())
    return d.data([float(f"{span / 256 * d.rng.uniform(0.7, 1.4):.5g}")], "float32", ())


def _qlmm_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    ta, tb = d.rng.choice(QPAIRS)
    exact = d.rng.random() < 0.5
    a = _int_matrix(d, ta)
    sa = d.types[a][0]
    k, n = sa[-1], d.rng.randint(1, 6)
    per_col = d.rng.random() < 0.3
    sb: Shape = (k, n) if len(sa) == 2 or d.rng.random() < 0.5 else (d.rng.choice((1, sa[0])), k, n)
    bshape: Shape = (n,) if per_col else ()
    ins = [a, _qscale(d, exact), _zp(d, ta), _int_operand(d, sb, tb), _qscale(d, exact, bshape),
           _zp(d, tb, bshape), _yscale(d, exact, k), _zp(d, ta)]
    return ins, {}


def _qscale_ok(c: Ctx, s: str, zp: str, shapes: tuple[Shape, ...], dt: str, what: str) -> None:
    if c.t(s)[1] != "float32" or c.t(s)[0] not in shapes or c.t(zp) != (c.t(s)[0], dt):
        raise ValueError(f"{what}: scale {c.t(s)} and zero point {c.t(zp)} must be float32 / {dt} of one shape "
                         f"in {shapes}")


def _qlmm_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    if len(ins) != 8:
        raise ValueError("QLinearMatMul takes 8 inputs")
    (sa, ta), (sb, tb) = c.t(ins[0]), c.t(ins[3])
    if (ta, tb) not in QPAIRS or not 2 <= len(sa) <= 3 or not 2 <= len(sb) <= 3 or sa[-1] != sb[-2]:
        raise ValueError(f"QLinearMatMul of {list(sa)} {ta} and {list(sb)} {tb}")
    _qscale_ok(c, ins[1], ins[2], ((),), ta, "QLinearMatMul a")
    _qscale_ok(c, ins[4], ins[5], ((), (sb[-1],)), tb, "QLinearMatMul b")
    _qscale_ok(c, ins[6], ins[7], ((),), ta, "QLinearMatMul y")
    return [(broadcast(sa[:-2], sb[:-2]) + (sa[-2], sb[-1]), ta)]


def _qlconv_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    tx, tw = d.rng.choice(QPAIRS)
    exact = d.rng.random() < 0.5
    parts = _int_conv_parts(d, tx, tw)
    if parts is None:
        return None
    x, w, attrs, m = parts
    wshape: Shape = (m,) if d.rng.random() < 0.35 else ()
    terms = math.prod(d.types[w][0][1:])
    ins = [x, _qscale(d, exact), _zp(d, tx), w, _qscale(d, exact, wshape), _zp(d, tw, wshape),
           _yscale(d, exact, terms), _zp(d, tx)]
    if d.rng.random() < 0.4:  # the bias, in accumulator units
        ins.append(d.data([d.rng.randint(-2000, 2000) for _ in range(m)], "int32", (m,)))
    return ins, attrs


def _qlconv_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    if len(ins) not in (8, 9):
        raise ValueError("QLinearConv takes 8 or 9 inputs")
    tx, tw = c.t(ins[0])[1], c.t(ins[3])[1]
    if (tx, tw) not in QPAIRS:
        raise ValueError(f"QLinearConv of {tx} and {tw}")
    out = _int_conv_shape(c, ins[0], ins[3], a, "QLinearConv")
    _qscale_ok(c, ins[1], ins[2], ((),), tx, "QLinearConv x")
    _qscale_ok(c, ins[4], ins[5], ((), (out[1],)), tw, "QLinearConv w")
    _qscale_ok(c, ins[6], ins[7], ((),), tx, "QLinearConv y")
    if _opt(ins, 8) and c.t(ins[8]) != ((out[1],), "int32"):
        raise ValueError("QLinearConv: the bias is (M,) int32")
    return [(out, tx)]


def _dql_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    x: str | None = None
    if d.rng.random() < 0.3:  # one sign only (the range still holds 0), or a grid of ties
        x = d.new_value(d.shape(), "float32", d.rng.choice(("positive", "grid", "normal")))
    else:
        x = d.pick(lambda t: t[1] == "float32" and len(t[0]) >= 1)
    return ([x], {}) if x else None


def _dql_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = c.t(ins[0])
    if dx != "float32":
        raise ValueError(f"DynamicQuantizeLinear of {dx}")
    return [(sx, "uint8"), ((), "float32"), ((), "uint8")]


# ---------------------------------------------------------------------------------------------- attention (23)
ATT_FLOATS = ("float32", "float32", "float32", "float16")


def _attention_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    dt = d.rng.choice(ATT_FLOATS)
    b = d.rng.randint(1, 2)
    kvh = d.rng.choice((1, 1, 2, 3))
    qh = kvh * d.rng.choice((1, 1, 2))
    lq, skv = d.rng.randint(1, 4), d.rng.randint(1, 5)
    hd = d.rng.choice((1, 2, 4, 8))
    vd = hd if d.rng.random() < 0.6 else d.rng.choice((1, 2, 3, 5))
    three_d = d.rng.random() < 0.35
    attrs: dict[str, Any] = {}
    if three_d:
        q = d.operand((b, lq, qh * hd), dt)
        k = d.operand((b, skv, kvh * hd), dt)
        v = d.operand((b, skv, kvh * vd), dt)
        attrs.update(q_num_heads=qh, kv_num_heads=kvh)
    else:
        q = d.operand((b, qh, lq, hd), dt)
        k = d.operand((b, kvh, skv, hd), dt)
        v = d.operand((b, kvh, skv, vd), dt)
    past = d.rng.randint(1, 3) if d.rng.random() < 0.3 else 0
    total = past + skv
    ins = [q, k, v]
    if d.rng.random() < 0.5:
        mshape = d.rng.choice(((lq, total), (1, 1, lq, total), (b, 1, lq, total), (b, qh, lq, total),
                               (qh, lq, total)))
        if d.rng.random() < 0.5:  # bool: column 0 always attended, so no row is masked entirely
            n = math.prod(mshape)
            vals = [k % total == 0 or d.rng.random() < 0.6 for k in range(n)]
            ins.append(d.data(vals, "bool", mshape))
        else:
            ins.append(d.operand(mshape, dt))
    else:
        ins.append("")
    if past:
        ins += [d.operand((b, kvh, past, hd), dt), d.operand((b, kvh, past, vd), dt)]
    if d.rng.random() < 0.35:
        attrs["is_causal"] = 1
    if d.rng.random() < 0.4:
        attrs["scale"] = d.rng.choice((0.1, 0.5, 1.0, 2.0))
    if d.rng.random() < 0.25:
        attrs["softcap"] = d.rng.choice((0.5, 2.0, 10.0))
    n_out = d.rng.choice((1, 1, 3))  # present_key and present_value come together
    if d.rng.random() < 0.2:
        attrs["qk_matmul_output_mode"] = d.rng.randint(0, 3)
        n_out = 4
    if n_out != 4 or d.rng.random() < 0.5:
        attrs["_outputs"] = n_out
    return _trim(ins), attrs


def _attention_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    if not 3 <= len(ins) <= 6:
        raise ValueError("Attention takes Q, K, V, attn_mask, past_key, past_value")
    (sq, dt), (sk, dk), (sv, dv) = (c.t(i) for i in ins[:3])
    if dt not in FLOATS or dk != dt or dv != dt:
        raise ValueError(f"Attention of {dt}, {dk}, {dv}")
    if len(sq) == 3:
        qh, kvh = a.get("q_num_heads", 0), a.get("kv_num_heads", 0)
        if not qh or not kvh or len(sk) != 3 or len(sv) != 3 or sq[2] % qh or sk[2] % kvh or sv[2] % kvh:
            raise ValueError("Attention of 3-D Q, K, V needs q_num_heads and kv_num_heads that divide their widths")
        b, lq, hd, skv, vd = sq[0], sq[1], sq[2] // qh, sk[1], sv[2] // kvh
        if sk[2] // kvh != hd or sk[0] != b or sv[:2] != sk[:2]:
            raise ValueError("Attention: Q, K, V of 3-D shapes that do not fit")
    elif len(sq) == 4:
        if "q_num_heads" in a or "kv_num_heads" in a or len(sk) != 4 or len(sv) != 4:
            raise ValueError("Attention of 4-D Q, K, V takes no head counts")
        b, qh, lq, hd = sq
        kvh, skv, vd = sk[1], sk[2], sv[3]
        if sk[0] != b or sk[3] != hd or sv[:3] != sk[:3]:
            raise ValueError("Attention: Q, K, V of 4-D shapes that do not fit")
    else:
        raise ValueError("Attention of 3-D or 4-D Q, K, V")
    if qh % kvh:
        raise ValueError(f"Attention: {qh} query heads, {kvh} key/value heads")
    past = 0
    if len(ins) > 4:
        if len(ins) != 6 or not ins[4] or not ins[5]:
            raise ValueError("Attention: past_key and past_value together")
        (sp, dp), (spv, dpv) = c.t(ins[4]), c.t(ins[5])
        past = sp[2] if len(sp) == 4 else -1
        if dp != dt or dpv != dt or sp != (b, kvh, past, hd) or spv != (b, kvh, past, vd):
            raise ValueError("Attention: past_key / past_value must be (B, kv_heads, P, head size)")
    total = past + skv
    if _opt(ins, 3):
        sm, dm = c.t(ins[3])
        if dm not in ("bool", dt) or len(sm) < 2 or sm[-1] != total or not _bcastable(sm, (b, qh, lq, total)):
            raise ValueError(f"Attention: attn_mask {list(sm)} {dm} must broadcast to {[b, qh, lq, total]}")
    if a.get("qk_matmul_output_mode", 0) not in (0, 1, 2, 3) or a.get("softmax_precision") is not None:
        raise ValueError("Attention: qk_matmul_output_mode 0..3; softmax_precision is not drawn")
    if a.get("is_causal", 0) not in (0, 1):
        raise ValueError("Attention: is_causal 0 or 1")
    y: Shape = (b, lq, qh * vd) if len(sq) == 3 else (b, qh, lq, vd)
    outs = [(y, dt), ((b, kvh, total, hd), dt), ((b, kvh, total, vd), dt), ((b, qh, lq, total), dt)]
    n = _n_outputs(a, 4)
    if n == 2:
        raise ValueError("Attention: present_key and present_value come together")
    return outs[:n]


def _rotary_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    dt = d.rng.choice(ATT_FLOATS)
    b, s = d.rng.randint(1, 3), d.rng.randint(1, 5)
    nh, hs = d.rng.choice((1, 2, 3)), d.rng.choice((2, 4, 6, 8))
    attrs: dict[str, Any] = {}
    if d.rng.random() < 0.5:
        x = d.operand((b, s, nh * hs), dt)
        attrs["num_heads"] = nh
    else:
        x = d.operand((b, nh, s, hs), dt)
    rot = hs
    if d.rng.random() < 0.4:
        rot = d.rng.choice(range(2, hs + 1, 2))
        attrs["rotary_embedding_dim"] = rot
        if "num_heads" not in attrs and d.rng.random() < 0.5:
            attrs["num_heads"] = nh
    if d.rng.random() < 0.5:
        attrs["interleaved"] = d.rng.randint(0, 1)
    if d.rng.random() < 0.5:  # caches per position, read at position_ids
        maxpos = s + d.rng.randint(0, 4)
        cache: Shape = (maxpos, rot // 2)
        pos = d.data([d.rng.randrange(maxpos) for _ in range(b * s)], "int64", (b, s))
        return [x, d.operand(cache, dt, "unit"), d.operand(cache, dt, "unit"), pos], attrs
    cache = (b, s, rot // 2)
    return [x, d.operand(cache, dt, "unit"), d.operand(cache, dt, "unit")], attrs


def _rotary_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dt = _float_in(c, ins[0], "RotaryEmbedding")
    nh = a.get("num_heads", 0)
    if len(sx) == 3:
        if not nh or sx[2] % nh:
            raise ValueError("RotaryEmbedding of a 3-D input needs num_heads dividing its width")
        b, s, hs = sx[0], sx[1], sx[2] // nh
    elif len(sx) == 4:
        if nh and nh != sx[1]:
            raise ValueError("RotaryEmbedding: num_heads differs from the input's heads")
        b, s, hs = sx[0], sx[2], sx[3]
    else:
        raise ValueError("RotaryEmbedding of a 3-D or 4-D input")
    rot = a.get("rotary_embedding_dim", 0) or hs
    if rot % 2 or rot > hs or a.get("interleaved", 0) not in (0, 1):
        raise ValueError(f"RotaryEmbedding: rotary_embedding_dim {rot} must be even and at most {hs}")
    (sc, dc), (ss, ds) = c.t(ins[1]), c.t(ins[2])
    if dc != dt or ds != dt or sc != ss:
        raise ValueError("RotaryEmbedding: cos and sin caches of the input's dtype and one shape")
    if _opt(ins, 3):
        if c.t(ins[3]) != ((b, s), "int64") or len(sc) != 2 or sc[1] != rot // 2:
            raise ValueError("RotaryEmbedding: position_ids (B, S) int64 and caches (max position, rot / 2)")
        if not all(0 <= p < sc[0] for p in c.const(ins[3], "position_ids")):
            raise ValueError("RotaryEmbedding: a position past the caches")
    elif sc != (b, s, rot // 2):
        raise ValueError(f"RotaryEmbedding: caches {list(sc)} must be {[b, s, rot // 2]} without position_ids")
    return [(sx, dt)]


def _swiglu_sample(d: Draw) -> tuple[list[str], dict[str, Any]] | None:
    a = d.pick(lambda t: t[1] in FLOATS and len(t[0]) >= 1)
    if a is None:
        return None
    return [a, d.operand(d.types[a][0], d.types[a][1])], ({"alpha": d.rng.choice((0.5, 1.702, 2.0))}
                                                          if d.rng.random() < 0.6 else {})


def _swiglu_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    ta, tb = _float_in(c, ins[0], "SwiGLU"), c.t(ins[1])
    if ta != tb:
        raise ValueError("SwiGLU: A and B of one shape and dtype (no broadcasting)")
    return [ta]


def _spec(name: str, pair: tuple[Any, Any], since: int = 13, defaults: dict[str, Any] | None = None,
          discrete: bool = False, old: int = 0) -> OpSpec:
    return OpSpec(name, pair[0], pair[1], since, defaults or {}, discrete, old)


_RNN_DEFAULTS = {"direction": "forward", "clip": None, "activations": None, "activation_alpha": None,
                 "activation_beta": None, "layout": 0}
_WINDOW_DEFAULTS = {"strides": None, "dilations": None, "pads": None, "auto_pad": "NOTSET", "group": 1}
SPECS: list[OpSpec] = [
    _spec("RNN", (_rnn_sample("RNN"), _rnn_infer("RNN")), defaults=_RNN_DEFAULTS, old=11),
    _spec("GRU", (_rnn_sample("GRU"), _rnn_infer("GRU")), defaults={**_RNN_DEFAULTS, "linear_before_reset": 0},
          old=11),
    _spec("LSTM", (_rnn_sample("LSTM"), _rnn_infer("LSTM")), defaults={**_RNN_DEFAULTS, "input_forget": 0}, old=11),
    _spec("NegativeLogLikelihoodLoss", (_loss_sample(False), _loss_infer(False)),
          defaults={"reduction": "mean", "ignore_index": None}),
    _spec("SoftmaxCrossEntropyLoss", (_loss_sample(True), _loss_infer(True)),
          defaults={"reduction": "mean", "ignore_index": None}),
    _spec("MatMulInteger", (_mmi_sample, _mmi_infer)),
    _spec("ConvInteger", (_convint_sample, _convint_infer), defaults=_WINDOW_DEFAULTS),
    _spec("QLinearMatMul", (_qlmm_sample, _qlmm_infer), discrete=True),
    _spec("QLinearConv", (_qlconv_sample, _qlconv_infer), defaults=_WINDOW_DEFAULTS, discrete=True),
    _spec("DynamicQuantizeLinear", (_dql_sample, _dql_infer), discrete=True),
    _spec("Attention", (_attention_sample, _attention_infer), since=23,
          defaults={"is_causal": 0, "scale": None, "softcap": 0.0, "qk_matmul_output_mode": 0}),
    _spec("RotaryEmbedding", (_rotary_sample, _rotary_infer), since=23,
          defaults={"interleaved": 0, "rotary_embedding_dim": 0}),
    _spec("SwiGLU", (_swiglu_sample, _swiglu_infer), since=28, defaults={"alpha": 1.0}),
]
# integer results of exact operands are exact (DynamicQuantizeLinear: the same float32 operations on both sides)
EXACT: frozenset[str] = frozenset({"MatMulInteger", "ConvInteger", "QLinearMatMul", "QLinearConv",
                                   "DynamicQuantizeLinear"})
SUMS: frozenset[str] = frozenset({"NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss"})  # means and sums of terms
PASS_THROUGH: frozenset[str] = frozenset({"RotaryEmbedding"})  # rotations by cos/sin in -1..1
