"""The normalization, pooling and image ops of the ONNX fuzzer (fuzz/onnx/ops_norm.py): each drawn with its attribute
corners, a clean campaign of them finds nothing, and importer bugs planted in their handlers are found."""

from __future__ import annotations

import random

import pytest

from fuzz.onnx import ops_norm
from fuzz.onnx.fuzzer import OnnxFuzzer
from fuzz.onnx.generate import gen_case

MY_OPS = [s.name for s in ops_norm.SPECS]


def _cases(n: int, seed0: int = 0) -> list[dict]:
    return [gen_case(random.Random(seed0 + s), ops=MY_OPS) for s in range(n)]


def test_every_op_is_drawn_with_its_attribute_corners():
    nodes = [(c["opset"], n) for c in _cases(400) for n in c["nodes"]]
    per_case = {op: 0 for op in MY_OPS}
    for c in _cases(400):
        for op in {n["op"] for n in c["nodes"]}:
            per_case[op] += 1
    assert all(k >= 4 for k in per_case.values()), per_case  # each in >= 1% of the cases

    def seen(op: str, pred) -> bool:
        return any(n["op"] == op and pred(o, n["attrs"], n["inputs"]) for o, n in nodes)

    corners = {
        "GroupNormalization groups": seen("GroupNormalization", lambda o, a, i: a["num_groups"] > 1),
        "MVN negative axes": seen("MeanVarianceNormalization", lambda o, a, i: min(a.get("axes", [0])) < 0),
        "MVN default axes": seen("MeanVarianceNormalization", lambda o, a, i: "axes" not in a),
        "LpPool p=3": seen("LpPool", lambda o, a, i: a.get("p") == 3),
        "LpPool dilations": seen("LpPool", lambda o, a, i: any(v > 1 for v in a.get("dilations", [1]))),
        "LpPool ceil_mode": seen("LpPool", lambda o, a, i: a.get("ceil_mode") == 1),
        "LpPool auto_pad": seen("LpPool", lambda o, a, i: a.get("auto_pad", "NOTSET").startswith("SAME")),
        "GlobalLpPool p=1": seen("GlobalLpPool", lambda o, a, i: a.get("p") == 1),
        "MaxUnpool output_shape": seen("MaxUnpool", lambda o, a, i: len(i) == 3),
        "MaxUnpool pads": seen("MaxUnpool", lambda o, a, i: any(a.get("pads", [0]))),
        "Col2Im dilations": seen("Col2Im", lambda o, a, i: any(v > 1 for v in a.get("dilations", [1]))),
        "Col2Im pads": seen("Col2Im", lambda o, a, i: any(a.get("pads", [0]))),
        "CenterCropPad axes": seen("CenterCropPad", lambda o, a, i: min(a.get("axes", [0])) < 0),
        "AffineGrid align_corners": seen("AffineGrid", lambda o, a, i: a.get("align_corners") == 1),
        "GridSample bicubic (16)": seen("GridSample", lambda o, a, i: a.get("mode") == "bicubic"),
        "GridSample cubic (20)": seen("GridSample", lambda o, a, i: a.get("mode") == "cubic" and o >= 20),
        "GridSample nearest reflection": seen("GridSample", lambda o, a, i: a.get("mode") == "nearest" and
                                              a.get("padding_mode") == "reflection"),
        "GridSample align_corners": seen("GridSample", lambda o, a, i: a.get("align_corners") == 1),
        "RoiAlign max": seen("RoiAlign", lambda o, a, i: a.get("mode") == "max"),
        "RoiAlign output_half_pixel": seen("RoiAlign", lambda o, a, i: a.get("coordinate_transformation_mode")
                                           == "output_half_pixel"),
        "RoiAlign adaptive sampling": seen("RoiAlign", lambda o, a, i: a.get("sampling_ratio", 0) == 0),
        "RoiAlign spatial_scale": seen("RoiAlign", lambda o, a, i: a.get("spatial_scale", 1.0) != 1.0),
        "DeformConv mask": seen("DeformConv", lambda o, a, i: len(i) == 5),
        "DeformConv offset_group": seen("DeformConv", lambda o, a, i: a.get("offset_group", 1) > 1),
    }
    assert all(corners.values()), [k for k, v in corners.items() if not v]


def test_a_clean_campaign_of_these_ops_finds_nothing():
    f = OnnxFuzzer(ops=MY_OPS)
    for s, case in enumerate(_cases(40, seed0=7000)):
        v = f.check(case)
        assert not v.failed, (s, v.signature, v.details)


# ---------------------------------------------------------------------------------------------- planted bugs
def grid_sample_ignores_align_corners(mp) -> None:
    import engine.onnx_ops as ops

    orig = ops.OPS["GridSample"]
    mp.setitem(ops.OPS, "GridSample", lambda inp, attrs, *rest: orig(inp, {**attrs, "align_corners": 0}, *rest))


def lppool_ignores_p(mp) -> None:
    import engine.onnx_ops as ops

    orig = ops.OPS["LpPool"]
    mp.setitem(ops.OPS, "LpPool", lambda inp, attrs, *rest: orig(inp, {**attrs, "p": 2}, *rest))


def center_crop_pad_rounds_the_other_way(mp) -> None:
    """The extra element of an odd difference is cut (or padded) at the start instead of the end."""
    import engine.onnx_ops as ops

    def planted(inp, attrs, node):
        x = inp[0]
        shape = ops._ints(inp[1]) or []
        axes = [a % x.ndim for a in attrs.get("axes") or range(x.ndim)]
        crop, pad = [None] * x.ndim, [(0, 0)] * x.ndim
        for a, want in zip(axes, shape):
            have = x.shape[a]
            if want < have:
                start = (have - want + 1) // 2
                crop[a] = (start, start + want)
            elif want > have:
                before = (want - have + 1) // 2
                pad[a] = (before, want - have - before)
        return x.shrink(crop).pad(pad)

    mp.setitem(ops.OPS, "CenterCropPad", planted)


PLANTED = {"grid_sample_ignores_align_corners": (grid_sample_ignores_align_corners, "GridSample"),
           "lppool_ignores_p": (lppool_ignores_p, "LpPool"),
           "center_crop_pad_rounds_the_other_way": (center_crop_pad_rounds_the_other_way, "CenterCropPad")}


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_planted_importer_bug_is_found_within_a_few_dozen_cases(monkeypatch, name):
    import engine.onnx  # noqa: F401  (every handler registered before one is replaced)

    plant, op = PLANTED[name]
    plant(monkeypatch)
    f = OnnxFuzzer(ops=MY_OPS)
    found = []
    for s in range(60):
        v = f.check(gen_case(random.Random(100 + s), ops=MY_OPS))
        if v.failed:
            found.append(v.signature)
            if v.signature.split(":")[1] == op:
                break
    assert any(sig.split(":")[1] == op for sig in found), found
    # no other op is blamed (but DeformConv, which samples its taps through GridSample's handler)
    assert all(sig.split(":")[1] in (op, "DeformConv" if op == "GridSample" else op) for sig in found), found
