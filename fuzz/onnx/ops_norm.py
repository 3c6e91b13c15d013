"""More of the ONNX op table (fuzz.onnx.table): normalization, pooling and image ops,
in the form of fuzz.onnx.ops (each op a sampler and a type rule).

Drawn (the opset each is drawn from, where onnxruntime 1.32 has a kernel or a function body for the drawn form):
  GroupNormalization 21 (scale and bias one per channel; num_groups 1, C and the divisors between; epsilon;
    float32/float16/float64; rank 2 to 5). Not drawn: GroupNormalization-18 (one scale per group, opsets 18..20),
    which onnx's checker rejects as deprecated; stash_type 0, which onnxruntime has no kernel for
  MeanVarianceNormalization 11 (axes, negative ones, the default [0, 2, 3] before 13, where onnx's function body
    cannot do without them; float32 only: the opset-13 function body
    adds a float32 epsilon, which onnxruntime and onnx.reference refuse for other dtypes)
  LpPool 11 (p, kernel_shape, strides, pads, auto_pad; dilations and ceil_mode from 18) and GlobalLpPool 11 (p):
    float32, and float16 on fresh normal inputs (|x|^p of a larger value overflows float16 on one side only)
  MaxUnpool 11 (kernel_shape, strides, pads, output_shape the inferred one; constant indices, as MaxPool
    would make them, repeated where overlapping windows share a maximum)
  Col2Im 18 (image_shape, block_shape, dilations, pads, strides; 2-D: onnxruntime's kernel gets 1-D and 3-D wrong)
  CenterCropPad 18 (shape, axes: crops and pads, odd differences, negative axes; every dtype)
  AffineGrid 20 (align_corners; 2-D and 3-D)
  GridSample 16 (bilinear/nearest/bicubic on 4-D before 20, linear/nearest/cubic from 20 with 5-D linear and nearest,
    padding_mode zeros/border/reflection, align_corners; nearest reads constant grids off the pixel-rounding ties)
  RoiAlign 11 (mode avg/max, output_height/width, sampling_ratio, spatial_scale, coordinate_transformation_mode from 16;
    constant rois and batch_indices, kept off the points where a sample's validity or the adaptive sample count flips)
  DeformConv 19 (kernel_shape, strides, pads, dilations, group, offset_group, bias, mask; 2-D, inputs 1 high or wide)
Skipped:
  RMSNormalization: new in opset 23, past the newest opset the fuzzer draws (fuzz.onnx.case.newest_opset: 21).
  Upsample: deprecated since opset 10; onnxruntime refuses the model at every opset the fuzzer draws (11+).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from fuzz.onnx.ops import (
    CASTS,
    FLOATS,
    TT,
    Ctx,
    OpSpec,
    Shape,
    _check_window,
    _float_in,
    _window_attrs,
    _window_out,
    axis_of,
)

if TYPE_CHECKING:
    from fuzz.onnx.generate import Draw

Drawn = tuple[list[str], dict[str, Any]] | None


def _eps(d: Draw) -> dict[str, Any]:
    return {"epsilon": d.rng.choice((1e-5, 1e-3, 0.1, 1e-6))} if d.rng.random() < 0.5 else {}


def _dtype(d: Draw, choices: tuple[str, ...] = FLOATS) -> str:
    """float32 most of the time, else another of `choices`."""
    return "float32" if d.rng.random() < 0.6 or len(choices) == 1 else d.rng.choice(choices)


def _image(d: Draw, dt: str, ranks: tuple[int, ...] = (3, 4), fresh_only: bool = False, min_spatial: int = 1) -> str:
    """An existing float value of rank in `ranks` (N, C, spatial...) or a fresh normal image."""
    x = None
    if not fresh_only:
        x = d.pick(lambda t: t[1] == dt and len(t[0]) in ranks and min(t[0]) >= 1 and
                   math.prod(t[0][2:]) >= min_spatial, fresh=False)
    if x is None or d.rng.random() < 0.3:
        rank = d.rng.choice(ranks)
        shape = (d.rng.choice((1, 1, 2)), d.rng.choice((1, 2, 3, 4)),
                 *(d.rng.choice((1, 2, 3, 4, 5, 6, 7)) for _ in range(rank - 2)))
        while math.prod(shape[2:]) < min_spatial:
            shape = shape[:2] + tuple(n + 1 for n in shape[2:])
        x = d.new_value(shape, dt, "normal")
    return x


# ---------------------------------------------------------------------------------------------- normalization
def _groupnorm_sample(d: Draw) -> Drawn:
    dt = _dtype(d)
    x = _image(d, dt, (2, 3, 3, 4, 5))
    sx = d.types[x][0]
    ch = sx[1]
    g = d.rng.choice([k for k in range(1, ch + 1) if ch % k == 0] + [1, ch])
    return [x, d.operand((ch,), dt), d.operand((ch,), dt)], {"num_groups": g, **_eps(d)}


def _groupnorm_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = _float_in(c, ins[0], "GroupNormalization")
    g = a.get("num_groups", 0)
    if len(sx) < 2 or g < 1 or sx[1] % g:
        raise ValueError(f"GroupNormalization: num_groups {g} does not divide the channels of {list(sx)}")
    if a.get("stash_type", 1) != 1:
        raise ValueError("GroupNormalization stash_type 0 is not drawn (onnxruntime has no kernel)")
    if len(ins) != 3 or any(c.t(i) != ((sx[1],), dx) for i in ins[1:]):
        raise ValueError(f"GroupNormalization: scale and bias must be ({sx[1]},) {dx}")
    return [(sx, dx)]


def _mvn_sample(d: Draw) -> Drawn:
    # a fresh input: the variance is E[x^2] - E[x]^2 with 1e-9 added after the root, so values equal along the
    # axes (an Expand, a Tile) leave a rounding residue that the two sides divide by differently
    rank = d.rng.choice((1, 2, 3, 4, 4, 4))
    x = d.new_value(d.shape(rank), "float32", "normal")
    if rank == 4 and d.opset < 13 and d.rng.random() < 0.4:
        return [x], {}  # the default axes [0, 2, 3]: onnx's function body from 13 on has no constant without them
    axes = d.rng.sample(range(rank), d.rng.randint(1, rank))
    if math.prod(d.types[x][0][ax] for ax in axes) < 4:
        # one value per group: onnxruntime's kernel gives 0 / 0 (NaN), the spec 0 / (0 + 1e-9); two or three: the
        # variance E[x^2] - E[x]^2 of close values cancels to its rounding, which each side divides by
        return None
    return [x], {"axes": [ax - rank if d.rng.random() < 0.4 else ax for ax in axes]}


def _mvn_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = c.t(ins[0])
    if dx != "float32":
        raise ValueError(f"MeanVarianceNormalization of {dx}: only float32 is drawn")
    if "axes" not in a and c.opset >= 13:
        raise ValueError("MeanVarianceNormalization without axes is drawn before opset 13 only")
    axes = a.get("axes", [0, 2, 3])
    norm = {axis_of(ax, len(sx), "axes") for ax in axes}
    if len(norm) != len(axes) or not axes:
        raise ValueError(f"MeanVarianceNormalization axes {axes}")
    if math.prod(sx[ax] for ax in norm) < 4:
        raise ValueError("MeanVarianceNormalization of groups under 4 values is not drawn (ill-conditioned)")
    return [(sx, dx)]


# ---------------------------------------------------------------------------------------------- Lp pooling
def _lp_input(d: Draw, ranks: tuple[int, ...], min_spatial: int) -> str:
    if d.rng.random() < 0.25:  # float16 only fresh: |x|^p of larger computed values overflows on one side only
        return _image(d, "float16", ranks, fresh_only=True, min_spatial=min_spatial)
    return _image(d, "float32", ranks, min_spatial=min_spatial)


def _p(d: Draw) -> dict[str, Any]:
    return {"p": d.rng.choice((1, 2, 3, 4))} if d.rng.random() < 0.7 else {}


def _lppool_sample(d: Draw) -> Drawn:
    x = _lp_input(d, (3, 4, 4), 4)
    attrs = _window_attrs(d, d.types[x][0][2:], pool=True, dilate=d.opset >= 18)
    if attrs is None:
        return None
    if d.opset >= 18 and attrs.get("auto_pad", "NOTSET") == "NOTSET" and d.rng.random() < 0.35:
        attrs["ceil_mode"] = 1
    return [x], {**attrs, **_p(d)}


def _lppool_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = _float_in(c, ins[0], "LpPool")
    if dx == "float64" or len(sx) < 3:
        raise ValueError(f"LpPool of {list(sx)} {dx}: float32/float16 of rank >= 3 are drawn")
    if ("dilations" in a or "ceil_mode" in a) and c.opset < 18:
        raise ValueError("LpPool dilations and ceil_mode need opset 18")
    ceil = bool(a.get("ceil_mode", 0))
    if ceil and a.get("auto_pad", "NOTSET") != "NOTSET":
        raise ValueError("ceil_mode with auto_pad is not drawn")
    if a.get("p", 2) < 1:
        raise ValueError(f"LpPool p {a.get('p')}")
    ext = _check_window(a, len(sx) - 2)
    if any(p >= k for p, k in zip(a.get("pads", []), a["kernel_shape"] * 2)):
        raise ValueError(f"pads {a['pads']} must be smaller than kernel_shape {a['kernel_shape']}")
    out = _window_out(sx[2:], a, ext, ceil)
    if any(o < 1 for o in out):
        raise ValueError(f"LpPool output {out} is empty")
    return [((*sx[:2], *out), dx)]


def _global_lp_sample(d: Draw) -> Drawn:
    return [_lp_input(d, (3, 4, 4, 5), 1)], _p(d)


def _global_lp_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = _float_in(c, ins[0], "GlobalLpPool")
    if dx == "float64" or len(sx) < 3 or a.get("p", 2) < 1:
        raise ValueError(f"GlobalLpPool of {list(sx)} {dx}: float32/float16 of rank >= 3, p >= 1")
    return [((*sx[:2], *([1] * (len(sx) - 2))), dx)]


# ---------------------------------------------------------------------------------------------- MaxUnpool
def _unpool_out(spatial: Shape, a: dict[str, Any]) -> list[int]:
    nd = len(spatial)
    k, s, pads = a["kernel_shape"], a.get("strides", [1] * nd), a.get("pads", [0] * (2 * nd))
    return [(n - 1) * s[i] + k[i] - pads[i] - pads[i + nd] for i, n in enumerate(spatial)]


def _maxunpool_sample(d: Draw) -> Drawn:
    dt = "float16" if d.rng.random() < 0.25 else "float32"
    x = _image(d, dt, (3, 4, 4))
    sx = d.types[x][0]
    sp, nd = sx[2:], len(sx) - 2
    k = [d.rng.choice((1, 2, 2, 3)) for _ in range(nd)]
    s = [d.rng.choice((1, 2, 2, 3)) for _ in range(nd)]
    pads = [d.rng.choice((0, 0, 1)) if k[i % nd] > 1 else 0 for i in range(2 * nd)]
    attrs: dict[str, Any] = {"kernel_shape": k}
    if any(v != 1 for v in s) or d.rng.random() < 0.3:
        attrs["strides"] = s
    if any(pads) or d.rng.random() < 0.2:
        attrs["pads"] = pads
    out = _unpool_out(sp, attrs)
    if any(o < 1 for o in out) or math.prod(out) < math.prod(sp) or math.prod(sx[:2]) * math.prod(out) > 2048:
        return None
    # output_shape the inferred one: for a larger one onnxruntime reads the indices as flat positions in it, ONNX's
    # own node test (maxunpool_export_with_output_shape) in the inferred shape padded after; the engine follows the
    # node test, and the two references disagree there: not drawn
    given = out
    # where MaxPool's window o of input position (start o*s - pad) puts its maximum: a distinct slot per value in
    # each (n, c) plane, or, now and then, a slot an earlier window already chose (overlapping windows share a
    # maximum; the value written last stays, as onnxruntime and onnx.reference)
    repeat = d.rng.random() < 0.3
    plane = math.prod(given)
    flat: list[int] = []
    for p in range(math.prod(sx[:2])):
        used: set[int] = set()
        for pos in _ndindex(sp):
            cands = []
            for off in _ndindex(tuple(k)):
                q = [pos[i] * s[i] - pads[i] + off[i] for i in range(nd)]
                if all(0 <= q[i] < out[i] for i in range(nd)):
                    lin = 0
                    for i in range(nd):
                        lin = lin * given[i] + q[i]
                    if repeat or lin not in used:
                        cands.append(lin)
            if not cands:
                cands = [v for v in range(plane) if v not in used]
            if not cands:
                return None
            v = d.rng.choice(cands)
            used.add(v)
            flat.append(p * plane + v)
    ins = [x, d.const(flat, shape=sx)]
    if given != out or d.rng.random() < 0.3:
        ins.append(d.const([*sx[:2], *given]))
    return ins, attrs


def _ndindex(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    out: list[tuple[int, ...]] = [()]
    for n in shape:
        out = [t + (i,) for t in out for i in range(n)]
    return out


def _maxunpool_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    (sx, dx), (si, di) = c.t(ins[0]), c.t(ins[1])
    if dx not in ("float32", "float16") or di != "int64" or si != sx or len(sx) < 3:
        raise ValueError(f"MaxUnpool of {list(sx)} {dx} with indices {list(si)} {di}")
    nd = len(sx) - 2
    if a.get("auto_pad", "NOTSET") != "NOTSET" or "dilations" in a:
        raise ValueError("MaxUnpool: auto_pad and dilations are not drawn")
    _check_window(a, nd)
    out = (*sx[:2], *_unpool_out(sx[2:], a))
    if min(out) < 1:
        raise ValueError(f"MaxUnpool output {list(out)} is empty")
    if len(ins) > 2 and ins[2]:
        given = tuple(int(v) for v in c.const(ins[2], "MaxUnpool output_shape"))
        if len(given) != len(out) or given[:2] != out[:2] or any(g < o for g, o in zip(given[2:], out[2:])):
            raise ValueError(f"MaxUnpool output_shape {list(given)}: smaller than the inferred {list(out)}")
        out = given
    idx = c.const(ins[1], "MaxUnpool indices")
    plane = math.prod(out[2:])
    if any(not 0 <= int(v) - i // math.prod(sx[2:]) * plane < plane for i, v in enumerate(idx)):
        raise ValueError("MaxUnpool indices must lie in their own (n, c) plane of the output")
    return [(out, dx)]


# ---------------------------------------------------------------------------------------------- Col2Im
def _col2im_sample(d: Draw) -> Drawn:
    dt = "float16" if d.rng.random() < 0.25 else "float32"
    nd = 2  # onnxruntime's kernel is right in 2-D only (1-D and 3-D: it disagrees with onnx.reference and the engine)
    for _ in range(8):
        img = [d.rng.randint(1, 7) for _ in range(nd)]
        block = [d.rng.randint(1, 3) for _ in range(nd)]
        dil = [d.rng.choice((1, 1, 2)) for _ in range(nd)]
        st = [d.rng.choice((1, 1, 2, 3)) for _ in range(nd)]
        pads = [d.rng.choice((0, 0, 1, 2)) for _ in range(2 * nd)]
        counts = [(img[i] + pads[i] + pads[i + nd] - (dil[i] * (block[i] - 1) + 1)) // st[i] + 1 for i in range(nd)]
        if min(counts) >= 1:
            break
    else:
        return None
    nb, ch = d.rng.choice((1, 1, 2)), d.rng.choice((1, 2, 3))
    attrs: dict[str, Any] = {}
    for key, v in (("dilations", dil), ("strides", st)):
        if any(x != 1 for x in v) or d.rng.random() < 0.2:
            attrs[key] = v
    if any(pads) or d.rng.random() < 0.2:
        attrs["pads"] = pads
    x = d.operand((nb, ch * math.prod(block), math.prod(counts)), dt)
    return [x, d.const(img), d.const(block)], attrs


def _col2im_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = c.t(ins[0])
    if dx not in ("float32", "float16") or len(sx) != 3:
        raise ValueError(f"Col2Im of {list(sx)} {dx}: float32/float16 (N, C*K, L) are drawn")
    img = [int(v) for v in c.const(ins[1], "Col2Im image_shape")]
    block = [int(v) for v in c.const(ins[2], "Col2Im block_shape")]
    nd = len(img)
    if nd != 2 or len(block) != nd or min(img + block, default=0) < 1:
        raise ValueError(f"Col2Im image_shape {img} and block_shape {block}")
    _check_window({**a, "kernel_shape": block}, nd)
    s, dl, pads = a.get("strides", [1] * nd), a.get("dilations", [1] * nd), a.get("pads", [0] * (2 * nd))
    counts = [(img[i] + pads[i] + pads[i + nd] - (dl[i] * (block[i] - 1) + 1)) // s[i] + 1 for i in range(nd)]
    if min(counts) < 1 or sx[1] % math.prod(block) or sx[2] != math.prod(counts):
        raise ValueError(f"Col2Im: input {list(sx)} does not hold blocks {block} tiling {img}")
    return [((sx[0], sx[1] // math.prod(block), *img), dx)]


# ---------------------------------------------------------------------------------------------- CenterCropPad
def _center_crop_pad_sample(d: Draw) -> Drawn:
    x = d.pick(lambda t: t[1] in CASTS and 1 <= len(t[0]) <= 4 and min(t[0]) >= 1)
    if x is None:
        return None
    sx = d.types[x][0]
    r = len(sx)
    attrs: dict[str, Any] = {}
    axes = list(range(r))
    if d.rng.random() < 0.6:
        axes = d.rng.sample(range(r), d.rng.randint(1, r))
        attrs["axes"] = [ax - r if d.rng.random() < 0.4 else ax for ax in axes]
    shape = [max(1, sx[ax] + d.rng.choice((-3, -2, -1, 0, 1, 2, 3))) for ax in axes]
    return [x, d.const(shape)], attrs


def _center_crop_pad_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    sx, dx = c.t(ins[0])
    shape = [int(v) for v in c.const(ins[1], "CenterCropPad shape")]
    axes = [axis_of(ax, len(sx), "axes") for ax in a.get("axes", range(len(sx)))]
    if len(set(axes)) != len(axes) or len(shape) != len(axes) or min(shape, default=1) < 1:
        raise ValueError(f"CenterCropPad shape {shape} for axes {axes}")
    out = list(sx)
    for ax, n in zip(axes, shape):
        out[ax] = n
    return [(tuple(out), dx)]


# ---------------------------------------------------------------------------------------------- grids
def _affine_grid_sample(d: Draw) -> Drawn:
    dt = _dtype(d)
    nd = d.rng.choice((2, 2, 3))
    align = d.rng.random() < 0.5
    # a size of 1 with align_corners: onnxruntime, onnx.reference and the engine (0, as torch) all differ
    dims = [d.rng.randint(2 if align else 1, 6 if nd == 2 else 4) for _ in range(nd)]
    # a batch of 1: onnxruntime's function body fails (a Split along an axis it squeezed), and onnx.reference,
    # standing in, makes float32 of float16
    nb = d.rng.choice((2, 2, 3) if dt == "float16" else (1, 2, 2, 3))
    theta = d.operand((nb, nd, nd + 1), dt)
    return [theta, d.const([nb, d.rng.choice((1, 3)), *dims])], ({"align_corners": 1} if align else
                                                                  {"align_corners": 0} if d.rng.random() < 0.2
                                                                  else {})


def _affine_grid_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    st, dt = _float_in(c, ins[0], "AffineGrid")
    size = [int(v) for v in c.const(ins[1], "AffineGrid size")]
    nd = len(size) - 2
    if nd not in (2, 3) or st != (size[0], nd, nd + 1) or min(size) < 1:
        raise ValueError(f"AffineGrid theta {list(st)} for size {size}")
    if a.get("align_corners", 0) and 1 in size[2:]:
        raise ValueError("AffineGrid of a size-1 axis with align_corners is not drawn (no two references agree)")
    return [((size[0], *size[2:], nd), dt)]


def _pixel_to_grid(p: float, n: int, align: bool) -> float:
    if align:
        return 2 * p / (n - 1) - 1 if n > 1 else 0.0
    return (2 * p + 1) / n - 1


def _grid_sample_sample(d: Draw) -> Drawn:
    new = d.opset >= 20
    dt = _dtype(d, FLOATS if new else ("float32", "float16"))
    nd = 3 if new and d.rng.random() < 0.25 else 2
    mode = d.rng.choice(("linear", "linear", "nearest", "nearest") + (("cubic",) if nd == 2 else ()))
    x = _image(d, dt, (nd + 2,))
    sx = d.types[x][0]
    # cubic with border: onnxruntime (as torch, and the engine) clamps only the taps, onnx.reference also a
    # coordinate outside [-0.5, n - 0.5] (align_corners 0) or [0, n - 1]: onnxruntime is the reference
    pad = d.rng.choice(("zeros", "border", "reflection"))
    align = d.rng.random() < 0.4
    out = tuple(d.rng.randint(1, 5 if nd == 2 else 3) for _ in range(nd))
    gshape = (sx[0], *out, nd)
    if mode == "nearest":  # a constant grid, every coordinate at least 0.1 pixel from a rounding tie
        vals = []
        for _ in range(math.prod(gshape[:-1])):
            for i in range(nd):  # the grid lists the innermost axis first
                n = sx[2 + nd - 1 - i]
                p = d.rng.randint(-2, n + 1) + d.rng.uniform(-0.4, 0.4)
                vals.append(round(_pixel_to_grid(p, n, align), 4) if n > 1 or not align else
                            round(d.rng.uniform(-1.2, 1.2), 4))
        grid = d.data([float(v) for v in vals], dt, gshape)
    else:
        found = d.pick(lambda t: t == (gshape, dt), fresh=False) if d.rng.random() < 0.5 else None
        grid = found or d.operand(gshape, dt, d.rng.choice(("unit", "unit", "normal")))
    name = {"linear": "bilinear", "cubic": "bicubic"}.get(mode, mode) if not new else mode
    attrs: dict[str, Any] = {}
    if mode != "linear" or d.rng.random() < 0.3:
        attrs["mode"] = name
    if pad != "zeros" or d.rng.random() < 0.2:
        attrs["padding_mode"] = pad
    if align:
        attrs["align_corners"] = 1
    return [x, grid], attrs


def _grid_sample_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    (sx, dx), (sg, dg) = _float_in(c, ins[0], "GridSample"), c.t(ins[1])
    modes = ("linear", "nearest", "cubic") if c.opset >= 20 else ("bilinear", "nearest", "bicubic")
    mode = a.get("mode", modes[0])
    if mode not in modes or a.get("padding_mode", "zeros") not in ("zeros", "border", "reflection"):
        raise ValueError(f"GridSample mode {mode!r} / padding_mode {a.get('padding_mode')!r} at opset {c.opset}")
    nd = len(sx) - 2
    if dg != dx or (c.opset < 20 and dx == "float64"):
        raise ValueError(f"GridSample of {dx} with a {dg} grid at opset {c.opset}")
    if nd not in ((2, 3) if c.opset >= 20 else (2,)) or (nd == 3 and mode == "cubic"):
        raise ValueError(f"GridSample of rank {len(sx)} in mode {mode} at opset {c.opset}")
    if len(sg) != nd + 2 or sg[0] != sx[0] or sg[-1] != nd:
        raise ValueError(f"GridSample grid {list(sg)} for input {list(sx)}")
    return [((*sx[:2], *sg[1:-1]), dx)]


# ---------------------------------------------------------------------------------------------- RoiAlign
def _roi_ok(roi: list[float], scale: float, half: bool, h: int, w: int, ph: int, pw: int, ratio: int) -> bool:
    """Whether no sample of the region sits near a point where a rounding error flips the result: the adaptive
    sample count (ceil of the bin size) or a sample's validity (-1 and the size are the limits)."""
    off = 0.5 if half else 0.0
    x0, y0, x1, y1 = (v * scale - off for v in roi)
    rw, rh = x1 - x0, y1 - y0
    if not half:
        rw, rh = max(rw, 1.0), max(rh, 1.0)
    if rw <= 0 or rh <= 0:
        return False
    grids = []
    for size, bins in ((rh, ph), (rw, pw)):
        if ratio:
            grids.append(ratio)
            continue
        q = size / bins
        if abs(q - round(q)) < 0.02 or q > 6:
            return False
        grids.append(math.ceil(q))
    for start, size, bins, g, lim in ((y0, rh, ph, grids[0], h), (x0, rw, pw, grids[1], w)):
        for b in range(bins):
            for i in range(g):
                v = start + b * size / bins + (i + 0.5) * size / bins / g
                if min(abs(v + 1), abs(v - lim)) < 1e-3:
                    return False
    return True


def _roi_align_sample(d: Draw) -> Drawn:
    import numpy as np

    dt = _dtype(d)
    x = _image(d, dt, (4,))
    n, _, h, w = d.types[x][0]
    ph, pw = d.rng.randint(1, 3), d.rng.randint(1, 3)
    ratio = d.rng.choice((0, 0, 1, 2, 3))
    scale = d.rng.choice((1.0, 1.0, 0.5, 0.25, 2.0))
    half = d.opset >= 16 and d.rng.random() < 0.6
    rois: list[float] = []
    for _ in range(d.rng.randint(1, 4)):
        for _ in range(20):
            fx0, fy0 = d.rng.uniform(-1.5, w - 0.5), d.rng.uniform(-1.5, h - 0.5)
            fx1, fy1 = fx0 + d.rng.uniform(0.3, w + 1), fy0 + d.rng.uniform(0.3, h + 1)
            roi = [float(np.asarray(round(v / scale, 2)).astype(dt)) for v in (fx0, fy0, fx1, fy1)]
            if _roi_ok(roi, scale, half, h, w, ph, pw, ratio):
                rois += roi
                break
        else:
            return None
    nr = len(rois) // 4
    attrs: dict[str, Any] = {}
    if d.rng.random() < 0.5:
        attrs["mode"] = d.rng.choice(("avg", "max", "max"))
    if ph != 1 or d.rng.random() < 0.3:
        attrs["output_height"] = ph
    if pw != 1 or d.rng.random() < 0.3:
        attrs["output_width"] = pw
    if ratio or d.rng.random() < 0.2:
        attrs["sampling_ratio"] = ratio
    if scale != 1.0 or d.rng.random() < 0.2:
        attrs["spatial_scale"] = scale
    if d.opset >= 16 and (not half or d.rng.random() < 0.3):  # RoiAlign-10 has no such attribute
        attrs["coordinate_transformation_mode"] = "half_pixel" if half else "output_half_pixel"
    return [x, d.data([float(v) for v in rois], dt, (nr, 4)), d.const([d.rng.randrange(n) for _ in range(nr)])], attrs


def _roi_align_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    (sx, dx), (sr, dr), (sb, db) = _float_in(c, ins[0], "RoiAlign"), c.t(ins[1]), c.t(ins[2])
    if len(sx) != 4 or dr != dx or len(sr) != 2 or sr[1] != 4 or db != "int64" or sb != (sr[0],):
        raise ValueError(f"RoiAlign of {list(sx)} with rois {list(sr)} {dr} and batch indices {list(sb)} {db}")
    if any(not 0 <= int(v) < sx[0] for v in c.const(ins[2], "RoiAlign batch_indices")):
        raise ValueError("RoiAlign batch index out of range")
    if a.get("mode", "avg") not in ("avg", "max") or \
            a.get("coordinate_transformation_mode", "half_pixel") not in ("half_pixel", "output_half_pixel"):
        raise ValueError(f"RoiAlign mode {a.get('mode')!r}")
    if "coordinate_transformation_mode" in a and c.opset < 16:
        raise ValueError("RoiAlign coordinate_transformation_mode is an attribute from opset 16")
    ph, pw = a.get("output_height", 1), a.get("output_width", 1)
    if ph < 1 or pw < 1 or a.get("sampling_ratio", 0) < 0:
        raise ValueError(f"RoiAlign output {ph}x{pw}")
    return [((sr[0], sx[1], ph, pw), dx)]


# ---------------------------------------------------------------------------------------------- DeformConv
def _deform_conv_sample(d: Draw) -> Drawn:
    dt = _dtype(d)
    x = _image(d, dt, (4,))
    n, ch, h, w = d.types[x][0]
    g = d.rng.choice([k for k in (1, 1, 2, 3, ch) if ch % k == 0])
    og = d.rng.choice([k for k in (1, 1, 2, ch) if ch % k == 0])
    oc = g * d.rng.choice((1, 2))
    for _ in range(6):
        k = [d.rng.choice((1, 2, 3)) for _ in range(2)]
        s = [d.rng.choice((1, 1, 2)) for _ in range(2)]
        dl = [d.rng.choice((1, 1, 2)) for _ in range(2)]
        pads = [d.rng.choice((0, 0, 1, 2)) for _ in range(4)]
        out = [(m + pads[i] + pads[i + 2] - (dl[i] * (k[i] - 1) + 1)) // s[i] + 1 for i, m in enumerate((h, w))]
        if min(out) >= 1:
            break
    else:
        return None
    attrs: dict[str, Any] = {}
    if d.rng.random() < 0.5:
        attrs["kernel_shape"] = k
    for key, v in (("strides", s), ("dilations", dl), ("pads", pads)):
        if any(x != (0 if key == "pads" else 1) for x in v) or d.rng.random() < 0.2:
            attrs[key] = v
    if g != 1:
        attrs["group"] = g
    if og != 1:
        attrs["offset_group"] = og
    kk = k[0] * k[1]
    ins = [x, d.new_weight((oc, ch // g, *k), dt), d.operand((n, og * kk * 2, *out), dt)]
    if d.rng.random() < 0.5:
        ins.append(d.new_weight((oc,), dt))
    if d.rng.random() < 0.4:
        ins += [""] * (4 - len(ins)) + [d.operand((n, og * kk, *out), dt)]
    return ins, attrs


def _deform_conv_infer(c: Ctx, ins: list[str], a: dict[str, Any]) -> list[TT]:
    (sx, dx), (sw, dw), (so, do) = _float_in(c, ins[0], "DeformConv"), c.t(ins[1]), c.t(ins[2])
    if len(sx) != 4 or len(sw) != 4 or dw != dx or do != dx:
        raise ValueError(f"DeformConv of {list(sx)} {dx} with weight {list(sw)} {dw}: 2-D only")
    g, og = a.get("group", 1), a.get("offset_group", 1)
    if g < 1 or og < 1 or sx[1] % g or sx[1] % og or sw[0] % g or sw[1] * g != sx[1]:
        raise ValueError(f"DeformConv: group {g} / offset_group {og} do not fit {sx[1]} and {sw[0]} channels")
    k = list(sw[2:])
    if "kernel_shape" in a and a["kernel_shape"] != k:
        raise ValueError(f"DeformConv: kernel_shape {a['kernel_shape']} differs from the weight's {k}")
    ext = _check_window(a, 2, k)
    out = _window_out(sx[2:], a, ext)
    if min(out) < 1 or so != (sx[0], og * k[0] * k[1] * 2, *out):
        raise ValueError(f"DeformConv: offset {list(so)} for output {out}")
    if len(ins) > 3 and ins[3] and c.t(ins[3]) != ((sw[0],), dx):
        raise ValueError("DeformConv: bias must be (oc,)")
    if len(ins) > 4 and ins[4] and c.t(ins[4]) != ((sx[0], og * k[0] * k[1], *out), dx):
        raise ValueError("DeformConv: mask must be (N, offset_group * kh * kw, oh, ow)")
    return [((sx[0], sw[0], *out), dx)]


_WINDOW = {"strides": None, "pads": None, "auto_pad": "NOTSET"}
SPECS: list[OpSpec] = [
    OpSpec("GroupNormalization", _groupnorm_sample, _groupnorm_infer, 21, {"epsilon": 1e-5}),
    OpSpec("MeanVarianceNormalization", _mvn_sample, _mvn_infer, 13, {"axes": None}, old=11),
    OpSpec("LpPool", _lppool_sample, _lppool_infer, 13, {**_WINDOW, "dilations": None, "ceil_mode": 0, "p": 2},
           old=11),
    OpSpec("GlobalLpPool", _global_lp_sample, _global_lp_infer, 13, {"p": 2}, old=11),
    OpSpec("MaxUnpool", _maxunpool_sample, _maxunpool_infer, 13, {"strides": None, "pads": None}, old=11),
    OpSpec("Col2Im", _col2im_sample, _col2im_infer, 18, {"dilations": None, "pads": None, "strides": None}),
    OpSpec("CenterCropPad", _center_crop_pad_sample, _center_crop_pad_infer, 18, {"axes": None}),
    OpSpec("AffineGrid", _affine_grid_sample, _affine_grid_infer, 20, {"align_corners": 0}),
    OpSpec("GridSample", _grid_sample_sample, _grid_sample_infer, 16,
           {"mode": None, "padding_mode": "zeros", "align_corners": 0}),
    # RoiAlign-10 (opsets 11..15) has no coordinate_transformation_mode and shifts by no half pixel
    # ("output_half_pixel"); from 16 "half_pixel" is the default
    OpSpec("RoiAlign", _roi_align_sample, _roi_align_infer, 13,
           {"mode": "avg", "output_height": 1, "output_width": 1, "sampling_ratio": 0, "spatial_scale": 1.0,
            "coordinate_transformation_mode": None}, old=11),
    OpSpec("DeformConv", _deform_conv_sample, _deform_conv_infer, 19,
           {"strides": None, "dilations": None, "pads": None, "group": 1, "offset_group": 1, "kernel_shape": None}),
]
EXACT: frozenset[str] = frozenset({"CenterCropPad", "MaxUnpool"})  # bit-exact given exact inputs
SUMS: frozenset[str] = frozenset({"GroupNormalization", "MeanVarianceNormalization", "LpPool", "GlobalLpPool",
                                  "Col2Im"})  # ops that sum their inputs' terms
PASS_THROUGH: frozenset[str] = frozenset({"CenterCropPad", "MaxUnpool", "GridSample", "RoiAlign"})  # slope ~ one
