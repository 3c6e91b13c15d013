"""More of the ONNX op table (fuzz.onnx.table): indexing, scatter, value-sized and signal ops, in the form of
fuzz.onnx.ops (each op a sampler and a type rule).

Drawn (the opset each is drawn from; 11 means opsets 11 and 12 too):
  Compress 11          a constant bool condition, as long as the axis or shorter (all false, all true), axis
                       absent (the flattened input), positive or negative; any dtype. onnx infers the kept count as
                       unknown, so the table does too (no node reads the result).
  ReverseSequence 11   time_axis / batch_axis 0 or 1 either way round, constant int64 lengths 0..T.
  ScatterND 11         constant indices (1..rank leading coordinates, negative ones too, a leading batch of rank
                       0..2), reduction add / mul from 16 and max / min from 18; distinct targets for "none" (its
                       result is undefined for repeated ones), repeated ones for the reductions. Bool data only
                       without a reduction (onnxruntime has no bool max / min).
  Unique 11            sorted 0 / 1, axis absent / positive / negative, 1 to 4 of its outputs (a prefix: the fuzzer
                       cannot name an omitted output); float32 / float64 / float16 / int64 / int8 (the types
                       onnxruntime runs) of grid values (repeats). Every output has a value-made size: no node
                       reads them (UNKNOWN, as NonZero's count).
  NonMaxSuppression 11 fresh float32 boxes (either corner order; center_point_box 1 with widths of either sign)
                       and scores, max_output_boxes_per_class / iou_threshold / score_threshold each absent or a
                       constant scalar or [1] (0, 1, ..., beyond the box count; thresholds 0 and 1 included).
  HannWindow, HammingWindow, BlackmanWindow 17   constant size (int64 or int32 scalar), periodic 0 / 1 / absent,
                       output_datatype float32 / float64 / float16 / absent (written as TensorProto numbers).
  MelWeightMatrix 17   constant int64 / int32 sizes and float32 edges (float64 / float16 now and then: onnx.reference
                       runs those), output_datatype as the windows.
  DFT 17 (axis attribute) and 20 (axis input, or omitted: -2)   real ([..., 1]) and complex ([..., 2]) signals of
                       rank 2..4, every valid axis (the batch axis too, negative ones), dft_length absent, shorter or
                       longer than the axis, inverse, onesided (forward of a real signal, or the inverse of a
                       one-sided complex spectrum: what onnxruntime accepts; that one only where the bins are
                       dft_length // 2 + 1, as onnxruntime reads other lengths otherwise than the spec, numpy's
                       irfft, onnx.reference and the engine), float32 / float64 / float16.
  STFT 17              real or complex signals, frame_step, a window (an existing value of that length where one
                       is there: a HannWindow's output) and / or frame_length, onesided always written (onnx's shape
                       inference reads an absent onesided as 0, onnxruntime as 1), 1 only for real signals.

Skipped:
  Scatter       deprecated since opset 11 (the fuzzer's lowest): onnxruntime refuses to load it at any opset the
                fuzzer draws, and onnx.reference has no implementation, so nothing can check it.
  TensorScatter new in opset 24, past the newest opset the fuzzer draws (onnxruntime's, 21).
  SplitToSequence / ConcatFromSequence / SequenceAt   a spec draws one node and every value of a case is a tensor
                (typed by the table, made a graph output while a difference is narrowed): a sequence value made
                and read inside one drawn node group does not fit the design.
Not drawn: windows that are all ~0 (Blackman of 2 points or of 1
with periodic=1, Hann of 2 with periodic=0: rounding against an exact 0 with nothing larger to scale the tolerance
by; one point with periodic=0 is drawn: the spec's 0/0, NaN); integer
output_datatype of the windows (a value of exactly 1 may round below it on one side and truncate to 0). Float16
MelWeightMatrix, and float16 windows at some opsets (21), run on onnx.reference (no onnxruntime kernel).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from fuzz.onnx.ops import CASTS, FLOATS, TT, UNKNOWN, Ctx, OpSpec, Shape, axis_of

if TYPE_CHECKING:
    from fuzz.onnx.generate import Draw

Sampled = tuple[list[str], dict[str, Any]] | None
ELEM = {"float32": 1, "float64": 11, "float16": 10}  # TensorProto numbers of the float output_datatypes drawn
ELEM_NAME = {v: k for k, v in ELEM.items()}


def _int_scalar(d: Draw, v: int, dt: str = "int64") -> str:
    """A constant integer scalar initializer (its value known to the type rules)."""
    if dt == "int64":
        return d.const(v, shape=())
    return d.scalar(v, dt)


def _const_int(c: Ctx, name: str, what: str, dtypes: tuple[str, ...] = ("int64",), shapes: tuple[Shape, ...] = ((),)
               ) -> int:
    shape, dt = c.t(name)
    v = c.const(name, what)
    if dt not in dtypes or shape not in shapes or len(v) != 1:
        raise ValueError(f"{what} must be a {'/'.join(dtypes)} scalar, got {list(shape)} {dt}")
    return int(v[0])


def _maybe_neg(d: Draw, ax: int, r: int) -> int:
    return ax - r if d.rng.random() < 0.4 else ax


# ---------------------------------------------------------------------------------------------- Compress
def _compress_sample(d: Draw) -> Sampled:
    x = d.pick(lambda t: t[1] in CASTS and len(t[0]) >= 1 and min(t[0]) >= 1 and math.prod(t[0]) <= 512)
    if x is None:
        return None
    sx = d.types[x][0]
    attrs: dict[str, Any] = {}
    if d.rng.random() < 0.75:
        ax = d.rng.randrange(len(sx))
        attrs["axis"] = _maybe_neg(d, ax, len(sx))
        n = sx[ax]
    else:
        n = math.prod(sx)
    length = n if d.rng.random() < 0.6 else d.rng.randint(1, n)  # shorter: the rest is dropped
    how = d.rng.random()
    if how < 0.1:
        keep = [False] * length  # nothing kept: an empty result
    elif how < 0.2:
        keep = [True] * length
    else:
        keep = [d.rng.random() < 0.5 for _ in range(length)]
    return [x, d.data(keep, "bool")], attrs


def _compress_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    (sx, dx), (sc, dc) = c.t(ins[0]), c.t(ins[1])
    c.const(ins[1], "Compress condition")
    if dc != "bool" or len(sc) != 1:
        raise ValueError(f"Compress condition must be a 1-D bool tensor, got {list(sc)} {dc}")
    if "axis" not in a:
        if sc[0] > math.prod(sx):
            raise ValueError("Compress condition longer than the input")
        return [((UNKNOWN,), dx)]
    ax = axis_of(a["axis"], len(sx))
    if sc[0] > sx[ax]:
        raise ValueError(f"Compress condition of {sc[0]} is longer than axis {ax} ({sx[ax]})")
    return [(sx[:ax] + (UNKNOWN,) + sx[ax + 1:], dx)]


# ---------------------------------------------------------------------------------------------- ReverseSequence
def _reverse_sequence_sample(d: Draw) -> Sampled:
    x = d.pick(lambda t: t[1] in CASTS and len(t[0]) >= 2 and min(t[0][:2]) >= 1)
    if x is None:
        return None
    sx = d.types[x][0]
    ta = d.rng.choice((0, 0, 1))
    ba = 1 - ta
    nt = sx[ta]
    lens = [d.rng.choice((0, 1, nt, nt, d.rng.randint(0, nt))) for _ in range(sx[ba])]
    attrs: dict[str, Any] = {}
    if ta or d.rng.random() < 0.3:
        attrs["time_axis"] = ta
    if ta or d.rng.random() < 0.3:
        attrs["batch_axis"] = ba
    return [x, d.const(lens)], attrs


def _reverse_sequence_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    (sx, dx), (sl, dl) = c.t(ins[0]), c.t(ins[1])
    ta, ba = a.get("time_axis", 0), a.get("batch_axis", 1)
    if len(sx) < 2 or {ta, ba} != {0, 1}:
        raise ValueError(f"ReverseSequence of rank {len(sx)} with time_axis {ta}, batch_axis {ba}")
    lens = c.const(ins[1], "ReverseSequence sequence_lens")
    if dl != "int64" or sl != (sx[ba],) or any(not 0 <= int(v) <= sx[ta] for v in lens):
        raise ValueError(f"ReverseSequence sequence_lens {lens} for {list(sx)}")
    return [(sx, dx)]


# ---------------------------------------------------------------------------------------------- ScatterND
def _scatter_nd_reductions(opset: int) -> tuple[str, ...]:
    return ("none",) + (("add", "mul") if opset >= 16 else ()) + (("max", "min") if opset >= 18 else ())


def _scatter_nd_sample(d: Draw) -> Sampled:
    x = d.pick(lambda t: t[1] in FLOATS + ("int32", "int64", "bool") and 1 <= len(t[0]) <= 4 and min(t[0]) >= 1
               and math.prod(t[0]) <= 512)
    if x is None:
        return None
    sx, dt = d.types[x]
    r = len(sx)
    k = d.rng.randint(1, r)
    kdims = sx[:k]
    total = math.prod(kdims)
    reds = _scatter_nd_reductions(d.opset) if dt != "bool" else ("none",)
    red = d.rng.choice(reds) if d.rng.random() < 0.6 else "none"
    lead: Shape = tuple(d.rng.choice((1, 2, 3)) for _ in range(d.rng.choice((0, 1, 1, 2))))
    n = math.prod(lead)
    if red == "none":
        if n > total:
            lead, n = (total,), total
        targets = d.rng.sample(range(total), n)  # distinct: ONNX leaves repeated targets undefined without reduction
    else:
        targets = [d.rng.randrange(total) for _ in range(n)]
        if n > 1 and d.rng.random() < 0.5:
            targets[-1] = targets[0]  # a repeated target: the updates combine
    flat: list[int] = []
    for t in targets:
        coords = []
        for size in reversed(kdims):
            coords.append(t % size)
            t //= size
        flat += [cc - size if d.rng.random() < 0.3 else cc for cc, size in zip(reversed(coords), kdims)]
    idx = d.const(flat, shape=lead + (k,))
    upd = d.operand(lead + sx[k:], dt)
    attrs = {"reduction": red} if red != "none" or (d.opset >= 16 and d.rng.random() < 0.2) else {}
    return [x, idx, upd], attrs


def _scatter_nd_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    (sx, dx), (si, di), (su, du) = (c.t(i) for i in ins)
    red = a.get("reduction", "none")
    if red not in _scatter_nd_reductions(c.opset) or "reduction" in a and c.opset < 16:
        raise ValueError(f"ScatterND reduction {red!r} at opset {c.opset}")
    if dx == "bool" and red != "none":
        raise ValueError("ScatterND of bools with a reduction is not drawn")
    if di != "int64" or not si or not 1 <= si[-1] <= len(sx):
        raise ValueError(f"ScatterND indices {list(si)} {di} for data {list(sx)}")
    k = si[-1]
    if du != dx or su != si[:-1] + sx[k:]:
        raise ValueError(f"ScatterND updates {list(su)} {du} do not fit indices {list(si)} and data {list(sx)}")
    data = [int(v) for v in c.const(ins[1], "ScatterND indices")]
    rows = [data[j:j + k] for j in range(0, len(data), k)] if k else []
    norm = []
    for row in rows:
        if any(not -n <= v < n for v, n in zip(row, sx)):
            raise ValueError(f"ScatterND index {row} out of range for {list(sx)}")
        norm.append(tuple(v % n for v, n in zip(row, sx)))
    if red == "none" and len(set(norm)) != len(norm):
        raise ValueError("ScatterND without reduction writes one element twice")
    return [(sx, dx)]


# ---------------------------------------------------------------------------------------------- Unique
UNIQUE_TYPES = ("float32", "float64", "float16", "int64", "int8")  # what onnxruntime's Unique runs


def _unique_sample(d: Draw) -> Sampled:
    x = d.pick(lambda t: t[1] in UNIQUE_TYPES and 1 <= len(t[0]) <= 3 and math.prod(t[0]) <= 256, fresh=False) \
        if d.rng.random() < 0.4 else None
    if x is None:  # values on a small grid: repeats (of rows too, along an axis of few elements)
        r = d.rng.choice((1, 2, 2, 3))
        shape = tuple(d.rng.choice((1, 2, 3, 4, 6)) for _ in range(r))
        x = d.new_value(shape, d.rng.choice(UNIQUE_TYPES), "grid")
    r = len(d.types[x][0])
    attrs: dict[str, Any] = {}
    if d.rng.random() < 0.6:
        attrs["axis"] = d.rng.randrange(-r, r)
    if d.rng.random() < 0.5:
        attrs["sorted"] = d.rng.choice((0, 0, 1))
    n = d.rng.choice((1, 2, 3, 4, 4, 4))
    if n < 4:
        attrs["_outputs"] = n
    return [x], attrs


def _unique_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = c.t(ins[0])
    if dx not in UNIQUE_TYPES or not sx:
        raise ValueError(f"Unique of {list(sx)} {dx}: a tensor of rank >= 1 of {'/'.join(UNIQUE_TYPES)} is drawn")
    if a.get("sorted", 1) not in (0, 1):
        raise ValueError("Unique sorted must be 0 or 1")
    if "axis" in a:
        ax = axis_of(a["axis"], len(sx))
        y: Shape = sx[:ax] + (UNKNOWN,) + sx[ax + 1:]
    else:
        y = (UNKNOWN,)
    n = a.get("_outputs", 4)
    if n not in (1, 2, 3, 4):
        raise ValueError(f"Unique has 1 to 4 outputs, not {n}")
    return [(y, dx), *[((UNKNOWN,), "int64")] * (n - 1)]


# ---------------------------------------------------------------------------------------------- NonMaxSuppression
def _float_scalar(d: Draw, v: float) -> str:
    return d.scalar(v, "float32") if d.rng.random() < 0.6 else d.data([v], "float32")


def _nms_sample(d: Draw) -> Sampled:
    b, n, ncls = d.rng.choice((1, 1, 2)), d.rng.randint(1, 8), d.rng.choice((1, 2, 3))
    boxes = d.pick(lambda t: t[1] == "float32" and len(t[0]) == 3 and t[0][2] == 4, fresh=False) \
        if d.rng.random() < 0.2 else None
    if boxes is None:
        boxes = d.new_value((b, n, 4), "float32", d.rng.choice(("normal", "normal", "unit")))
    b, n = d.types[boxes][0][:2]
    scores = d.new_value((b, ncls, n), "float32", "normal")
    ins = [boxes, scores]
    opt: list[str] = []
    if d.rng.random() < 0.8:
        m = d.rng.choice((0, 1, 2, n, n + 3, 100))
        opt.append(d.const(m, shape=()) if d.rng.random() < 0.5 else d.const([m]))
    else:
        opt.append("")
    opt.append(_float_scalar(d, d.rng.choice((0.0, 0.2, 0.5, 0.7, 1.0))) if d.rng.random() < 0.7 else "")
    opt.append(_float_scalar(d, d.rng.choice((-0.5, 0.0, 0.3))) if d.rng.random() < 0.5 else "")
    while opt and not opt[-1]:
        opt.pop()
    return ins + opt, ({"center_point_box": 1} if d.rng.random() < 0.4 else {})


def _nms_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    (sb, db), (ss, ds) = c.t(ins[0]), c.t(ins[1])
    if db != "float32" or ds != "float32" or len(sb) != 3 or sb[2] != 4 or len(ss) != 3 or \
            ss[0] != sb[0] or ss[2] != sb[1]:
        raise ValueError(f"NonMaxSuppression boxes {list(sb)} {db} and scores {list(ss)} {ds}")
    for i, (what, dt) in enumerate((("max_output_boxes_per_class", "int64"), ("iou_threshold", "float32"),
                                    ("score_threshold", "float32")), start=2):
        if len(ins) > i and ins[i]:
            sh, d = c.t(ins[i])
            if d != dt or sh not in ((), (1,)):
                raise ValueError(f"NonMaxSuppression {what} must be a {dt} scalar or [1]")
    if len(ins) > 3 and ins[3]:
        v = c.const(ins[3], "NonMaxSuppression iou_threshold")
        if not 0 <= float(v[0]) <= 1:
            raise ValueError("iou_threshold must be in [0, 1]")
    if a.get("center_point_box", 0) not in (0, 1):
        raise ValueError("center_point_box must be 0 or 1")
    return [((UNKNOWN, 3), "int64")]


# ---------------------------------------------------------------------------------------------- windows
def _out_dtype(d: Draw) -> dict[str, Any]:
    r = d.rng.random()
    if r < 0.3:
        return {}
    return {"output_datatype": ELEM[d.rng.choice(("float32", "float64", "float64", "float16"))]}


def _window_min(kind: str, periodic: int) -> int:
    """The smallest size drawn past 1: a window that is all ~0 (Blackman of 1 or 2 points, Hann of 2 with periodic 0:
    1e-8 or 1e-32 of rounding against an exact 0, with nothing larger to scale the tolerance by) is not. Size 1 with
    periodic 0 is drawn too (_window_ok): the spec's 0/0, NaN."""
    if kind == "blackman" or (kind == "hann" and not periodic):
        return 3
    return 1 if periodic else 2


def _window_ok(kind: str, periodic: int, size: int) -> bool:
    return size >= _window_min(kind, periodic) or (size == 1 and not periodic)


def _window_sample(kind: str):
    def sample(d: Draw) -> Sampled:
        periodic = d.rng.choice((0, 1, None))
        lo = _window_min(kind, 1 if periodic is None else periodic)
        # one point with periodic 0 in the smallest size's place (lo stays among the randint draws): NaN
        size = d.rng.choice((1 if periodic == 0 else lo, lo + 1, d.rng.randint(lo, 16), d.rng.randint(lo, 64)))
        attrs = _out_dtype(d)
        if periodic is not None:
            attrs["periodic"] = periodic
        return [_int_scalar(d, size, d.rng.choice(("int64", "int64", "int32")))], attrs

    return sample


def _out_type(a: dict[str, Any], op: str) -> str:
    dt = ELEM_NAME.get(a.get("output_datatype", 1))
    if dt is None:
        raise ValueError(f"{op} output_datatype {a.get('output_datatype')}: only float types are drawn")
    return dt


def _window_infer(kind: str):
    def infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
        size = _const_int(c, ins[0], "window size", ("int64", "int32"))
        periodic = a.get("periodic", 1)
        if periodic not in (0, 1) or not _window_ok(kind, periodic, size):
            raise ValueError(f"window of size {size}, periodic {periodic}: not drawn")
        return [((size,), _out_type(a, "window"))]

    return infer


# ---------------------------------------------------------------------------------------------- MelWeightMatrix
def _mel(f: float) -> float:
    return 2595 * math.log10(1 + f / 700)


def _mel_bins(n_mel: int, n_fft: int, rate: int, lo: float, hi: float) -> list[float]:
    """(n_fft + 1) * hz / rate of every triangle edge, before the floor."""
    step = (_mel(hi) - _mel(lo)) / (n_mel + 2)
    return [(n_fft + 1) * (700 * (10 ** ((i * step + _mel(lo)) / 2595) - 1)) / rate for i in range(n_mel + 2)]


def _mel_sample(d: Draw) -> Sampled:
    for _ in range(8):
        n_mel = d.rng.randint(1, 12)
        n_fft = d.rng.choice((8, 10, 16, 31, 32, 64, 100, 128))
        rate = d.rng.choice((1000, 8000, 16000, 22050, 44100))
        lo = d.rng.choice((0, d.rng.randint(0, rate // 8)))
        hi = d.rng.choice((rate // 2, d.rng.randint(lo + 1, rate // 2)))
        bins = _mel_bins(n_mel, n_fft, rate, lo, hi)
        # a floor of a value near an integer hinges on rounding (float32 in onnxruntime): not drawn
        top = (n_fft + 1) * hi / rate  # onnxruntime's check of the upper edge's bin
        if int(top) <= n_fft // 2 and all(abs(v - round(v)) > 1e-3 or v == 0 for v in bins + [top]):
            break
    else:
        return None
    it = d.rng.choice(("int64", "int64", "int32"))
    ft = d.rng.choice(("float32",) * 6 + ("float64", "float16"))
    ins = [_int_scalar(d, n_mel, it), _int_scalar(d, n_fft, it), _int_scalar(d, rate, it)]
    for v in (lo, hi):
        ins.append(d.scalar(float(v), ft))
    return ins, _out_dtype(d)


def _mel_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    if len(ins) != 5:
        raise ValueError("MelWeightMatrix takes 5 inputs")
    ints = ("int64", "int32")
    n_mel, n_fft, rate = (_const_int(c, i, "MelWeightMatrix size", ints) for i in ins[:3])
    if c.t(ins[1])[1] != c.t(ins[0])[1] or c.t(ins[2])[1] != c.t(ins[0])[1]:
        raise ValueError("MelWeightMatrix sizes must share one integer type")
    edges = []
    for i in ins[3:]:
        sh, dt = c.t(i)
        if sh != () or dt not in FLOATS or dt != c.t(ins[3])[1]:
            raise ValueError("MelWeightMatrix edges must be float scalars of one type")
        edges.append(float(c.const(i, "MelWeightMatrix edge")[0]))
    lo, hi = edges
    if n_mel < 1 or n_fft < 1 or rate < 1 or not 0 <= lo < hi <= rate / 2:
        raise ValueError(f"MelWeightMatrix of {n_mel} bins, dft {n_fft}, rate {rate}, edges {lo}..{hi}")
    if int((n_fft + 1) * hi / rate) > n_fft // 2:
        raise ValueError("MelWeightMatrix: the upper edge is past the one-sided spectrum (onnxruntime refuses)")
    return [((n_fft // 2 + 1, n_mel), _out_type(a, "MelWeightMatrix"))]


# ---------------------------------------------------------------------------------------------- DFT, STFT
SIGNAL_TYPES = ("float32", "float64", "float16")


def _signal(d: Draw, shape_ok: Any, fresh_shape: Any, complex_: bool) -> str | None:
    last = 2 if complex_ else 1
    x = d.pick(lambda t: t[1] in SIGNAL_TYPES and len(t[0]) >= 2 and t[0][-1] == last and shape_ok(t[0])
               and (t[1] != "float16" or max(t[0][:-1]) <= 16), fresh=False) if d.rng.random() < 0.5 else None
    if x is None:
        dt = d.rng.choice(("float32", "float32", "float32", "float64", "float16"))
        shape = fresh_shape(dt)
        if shape is None:
            return None
        x = d.new_value(shape + (last,), dt)
    return x


def _dft_sample(d: Draw) -> Sampled:
    complex_ = d.rng.random() < 0.45
    inverse = d.rng.random() < 0.4
    onesided = d.rng.random() < 0.4
    if onesided and not complex_:
        inverse = False  # onnxruntime: the inverse of a one-sided spectrum takes a complex input
    if onesided and complex_:
        inverse = True  # and a forward one-sided transform a real one

    def fresh(dt: str) -> Shape:
        r = d.rng.choice((1, 2, 2, 3))
        top = 16 if dt == "float16" else 33
        return tuple(d.rng.choice((1, 2, 3, 4, 5, 8, d.rng.randint(2, top))) for _ in range(r))

    x = _signal(d, lambda s: len(s) <= 5, fresh, complex_)
    if x is None:
        return None
    sx, dt = d.types[x]
    r = len(sx)
    axes = list(range(r - 1))
    ax = d.rng.choice(axes[1:] if len(axes) > 1 and d.rng.random() < 0.8 else axes)
    n = sx[ax]
    length: int | None = None
    top = 16 if dt == "float16" else 40
    if inverse and onesided:
        # the spectrum's bins must be length // 2 + 1: onnxruntime reads other lengths differently from the
        # spec's (and numpy's) irfft, which onnx.reference and the engine follow
        if n < 2:
            return None
        if d.rng.random() < 0.5:
            length = d.rng.choice((2 * n - 2, 2 * n - 1))
    elif d.rng.random() < 0.5:
        length = d.rng.choice((n, max(1, n - 1), n + 1, d.rng.randint(1, top), 2 * n))
    axis = ax - r if d.rng.random() < 0.4 else ax  # valid: -r..-2 and 0..r-2
    attrs: dict[str, Any] = {}
    if inverse:
        attrs["inverse"] = 1
    if onesided:
        attrs["onesided"] = 1
    ins = [x, d.const(length, shape=()) if length is not None else ""]
    if d.opset >= 20:
        if axis != -2 and axis != r - 2 or d.rng.random() < 0.5:
            ins.append(d.const(axis, shape=()))
        elif d.rng.random() < 0.3:
            ins.append("")
    elif axis != 1 or d.rng.random() < 0.5:
        attrs["axis"] = axis
    while ins and not ins[-1]:
        ins.pop()
    return ins, attrs


def _dft_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = c.t(ins[0])
    if dx not in SIGNAL_TYPES or len(sx) < 2 or sx[-1] not in (1, 2):
        raise ValueError(f"DFT of {list(sx)} {dx}: a float signal [..., 1 or 2] of rank >= 2")
    r = len(sx)
    if c.opset >= 20:
        if "axis" in a:
            raise ValueError("DFT at opset 20 takes axis as an input")
        axis = _const_int(c, ins[2], "DFT axis", shapes=((),)) if len(ins) > 2 and ins[2] else -2
    else:
        if len(ins) > 2:
            raise ValueError("DFT before opset 20 takes axis as an attribute")
        axis = a.get("axis", 1)
    if not -r <= axis < r or axis % r == r - 1:
        raise ValueError(f"DFT axis {axis} for rank {r}")
    ax = axis % r
    inverse, onesided = a.get("inverse", 0), a.get("onesided", 0)
    if inverse not in (0, 1) or onesided not in (0, 1):
        raise ValueError("DFT inverse and onesided are 0 or 1")
    if onesided and (sx[-1] == 1) == bool(inverse):
        raise ValueError("DFT onesided: forward of a real signal or inverse of a complex one (onnxruntime)")
    length = _const_int(c, ins[1], "DFT dft_length") if len(ins) > 1 and ins[1] else None
    if length is None:
        length = 2 * (sx[ax] - 1) if inverse and onesided else sx[ax]
    if inverse and onesided and length // 2 + 1 != sx[ax]:
        raise ValueError(f"DFT inverse one-sided of {sx[ax]} bins to length {length}: not drawn (onnxruntime "
                         "reads it otherwise than the spec)")
    if length < 1:
        raise ValueError(f"DFT length {length}")
    if inverse and onesided:
        return [(sx[:ax] + (length,) + sx[ax + 1:-1] + (1,), dx)]
    out = length // 2 + 1 if onesided else length
    return [(sx[:ax] + (out,) + sx[ax + 1:-1] + (2,), dx)]


def _stft_sample(d: Draw) -> Sampled:
    complex_ = d.rng.random() < 0.3

    def fresh(dt: str) -> Shape:
        return d.rng.choice((1, 1, 2)), d.rng.randint(4, 16 if dt == "float16" else 48)

    x = _signal(d, lambda s: len(s) == 3, fresh, complex_)
    if x is None:
        return None
    (b, n, _), dt = d.types[x]
    flen = d.rng.choice((n, d.rng.randint(1, n), d.rng.randint(1, min(n, 16))))
    step = d.rng.choice((1, flen, d.rng.randint(1, flen + 2)))
    window = ""
    if d.rng.random() < 0.6:
        window = d.pick(lambda t: t == ((flen,), dt), fresh=False) or d.operand((flen,), dt, "unit")
    ins = [x, _int_scalar(d, step, d.rng.choice(("int64", "int64", "int32")))]
    if window:
        ins.append(window)
    if not window or d.rng.random() < 0.4:
        ins += [""] * (3 - len(ins)) + [d.const(flen, shape=())]
        if d.types[ins[1]][1] == "int32":
            ins[3] = _int_scalar(d, flen, "int32")
    onesided = 0 if complex_ else d.rng.choice((0, 1, 1))
    return ins, {"onesided": onesided}


def _stft_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = c.t(ins[0])
    if dx not in SIGNAL_TYPES or len(sx) != 3 or sx[-1] not in (1, 2):
        raise ValueError(f"STFT of {list(sx)} {dx}: a float signal [batch, length, 1 or 2]")
    ints = ("int64", "int32")
    step = _const_int(c, ins[1], "STFT frame_step", ints)
    flen = None
    if len(ins) > 2 and ins[2]:
        sw, dw = c.t(ins[2])
        if dw != dx or len(sw) != 1:
            raise ValueError(f"STFT window {list(sw)} {dw} for a {dx} signal")
        flen = sw[0]
    if len(ins) > 3 and ins[3]:
        fl = _const_int(c, ins[3], "STFT frame_length", ints)
        if c.t(ins[3])[1] != c.t(ins[1])[1] or (flen is not None and fl != flen):
            raise ValueError("STFT frame_length differs from the window's length (or from frame_step's type)")
        flen = fl
    if flen is None:
        raise ValueError("STFT needs a window or a frame_length")
    if "onesided" not in a:
        raise ValueError("STFT onesided is always written (onnx's shape inference reads an absent one as 0)")
    onesided = a["onesided"]
    if onesided not in (0, 1) or (onesided and sx[-1] == 2):
        raise ValueError("STFT onesided is 0 or 1, and 0 for a complex signal")
    if step < 1 or not 1 <= flen <= sx[1]:
        raise ValueError(f"STFT frame_step {step}, frame_length {flen} for a signal of {sx[1]}")
    frames = 1 + (sx[1] - flen) // step
    return [((sx[0], frames, flen // 2 + 1 if onesided else flen, 2), dx)]


SPECS: list[OpSpec] = [
    OpSpec("Compress", _compress_sample, _compress_infer, 13, {"axis": None}, old=11),
    OpSpec("ReverseSequence", _reverse_sequence_sample, _reverse_sequence_infer, 13,
           {"time_axis": 0, "batch_axis": 1}, old=11),
    OpSpec("ScatterND", _scatter_nd_sample, _scatter_nd_infer, 13, {"reduction": "none"}, old=11),
    OpSpec("Unique", _unique_sample, _unique_infer, 13, {"axis": None, "sorted": 1}, discrete=True, old=11),
    OpSpec("NonMaxSuppression", _nms_sample, _nms_infer, 13, {"center_point_box": 0}, discrete=True, old=11),
    *[OpSpec(f"{k.capitalize()}Window", _window_sample(k), _window_infer(k), 17, {"periodic": 1, "output_datatype": 1})
      for k in ("hann", "hamming", "blackman")],
    OpSpec("MelWeightMatrix", _mel_sample, _mel_infer, 17, {"output_datatype": 1}),
    OpSpec("DFT", _dft_sample, _dft_infer, 17, {"inverse": 0, "onesided": 0}),
    OpSpec("STFT", _stft_sample, _stft_infer, 17),
]
EXACT: frozenset[str] = frozenset({"Compress", "ReverseSequence", "Unique"})  # movement and selection
SUMS: frozenset[str] = frozenset({"DFT", "STFT"})  # sums of the signal's terms (a bin may cancel to ~0)
PASS_THROUGH: frozenset[str] = frozenset({"Compress", "ReverseSequence", "ScatterND", "Unique"})
