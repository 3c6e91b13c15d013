"""Standalone reproducers of graph findings: a Python script that uses only numpy and the engine's public API
(Tensor, dtypes, realize) to run the failing configuration, and compares with the numpy reference's values
embedded in it (under the tolerance policy of oracles/compare.py, written out). Exits 1 while the engine still
gets it wrong.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fuzz.graphs.case import infer_types, make_values, needed, realize_groups, reference
from fuzz.graphs.ops import OPS
from oracles.compare import tolerance
from oracles.numpy_ref import is_float

_STORAGE = {1: "uint8", 2: "uint16"}  # bfloat16 and fp8 inputs travel as their bits, bitcast by the engine
MAX_EMBED = 1 << 16  # elements: larger arrays make an unreadable script
# the split mode's engine.rangeify.split_thresholds: reduces from 6 elements, 2 or more per partial, 4096 partials at
# most, split by the first of these factors that divides the longest reduce axis
SPLIT_MODE = (6, 2, 1 << 12, (8, 7, 5, 4, 3, 2))


def _array_src(a: np.ndarray, dtype: str) -> tuple[str, str]:
    """Python source making `a` as a numpy array, and the .bitcast() suffix its Tensor needs."""
    a = np.ascontiguousarray(a)
    if dtype in ("bfloat16", "float8_e4m3fn", "float8_e5m2"):
        view = _STORAGE[a.dtype.itemsize]
        return (f"np.frombuffer(bytes.fromhex({a.view(view).tobytes().hex()!r}), np.{view}).reshape({a.shape})",
                f".bitcast(dtypes.{dtype})")
    return f"np.frombuffer(bytes.fromhex({a.tobytes().hex()!r}), np.{dtype}).reshape({a.shape})", ""


def reproducer_source(case: dict[str, Any], signature: str, details: dict[str, Any], base: str) -> str:
    types = infer_types(case)
    arrays = [make_values(i) for i in case["inputs"]]
    with np.errstate(all="ignore"):
        refs = reference(case, arrays, types)
    need = needed(case)
    mode = details.get("mode", "base")
    device = details.get("device", base)
    fuse = details.get("fused", True)
    opts_kind = details.get("opts", "default")
    lines = [
        "#!/usr/bin/env python3",
        f'"""uopfuzz graph finding: {signature or "failure"} (mode {mode}). Exits 1 while it still fails."""',
        "import sys", "", "import numpy as np", "", "from engine import Tensor",
        "from engine.codegen.kernel import Opt",
        "from engine.dtype import dtypes", "from engine.realize import realize", "",
        f"DEVICE, FUSE = {device!r}, {fuse!r}",
    ]
    if mode == "split":
        lines += ["from engine.rangeify import split_thresholds", "",
                  f"split_thresholds{SPLIT_MODE!r}.__enter__()  # mode split: small reduces split in two"]
    if opts_kind == "random":
        per_kernel = [[tuple(o) for o in k.get("opts", [])] for k in details.get("kernels", [])]
        lines += [f"KERNEL_OPTS = {per_kernel!r}  # the opts each kernel got, in build order",
                  "_next = iter(KERNEL_OPTS)",
                  "", "def OPTS(ast, name):", "    return [Opt(op, ax, amt) for op, ax, amt in next(_next, [])]"]
    else:
        lines.append(f"OPTS = {('default' if opts_kind == 'default' else None)!r}")
    lines += ["", ""]
    n_in = len(arrays)
    for k, (a, inp) in enumerate(zip(arrays, case["inputs"])):
        if need[k]:
            src, cast = _array_src(a, inp["dtype"])
            lines.append(f"t{k} = Tensor({src}, device=DEVICE){cast}")
    mids = set(case.get("realize", []))
    for k, node in enumerate(case["nodes"]):
        vid = n_in + k
        if not need[vid]:
            continue
        code = OPS[node["op"]].code([f"t{i}" for i in node["in"]], node.get("attrs", {}))
        lines.append(f"t{vid} = {code}")
        if vid in mids:
            lines.append(f"realize([t{vid}], fuse=FUSE, opts=OPTS)")
    outs = ", ".join(f"t{o}" for o in case["outputs"])
    lines.append(f"outs = [{outs}]")
    if mode == "separate":
        groups = ", ".join("[" + ", ".join(f"outs[{i}]" for i in g) + "]" for g in realize_groups(case))
        lines += [f"for group in [{groups}]:  # the outputs realized group by group",
                  "    realize(group, fuse=FUSE, opts=OPTS)"]
    else:
        lines.append("realize(outs, fuse=FUSE, opts=OPTS)")
    lines += ["", "# the numpy reference: value, tolerance, and where it is undefined (not compared)", "WANT = ["]
    for o in case["outputs"]:
        r = refs[o]
        assert r is not None
        if r.value.size > MAX_EMBED:
            lines.append("    None,  # too large to embed")
            continue
        # float values travel as float64 (exact for every float dtype), so no narrow dtype is needed to read them
        v = _array_src(r.value.astype(np.float64), "float64")[0] if is_float(r.dtype) else \
            _array_src(r.value, r.dtype)[0]
        tol = _array_src(tolerance(r) if is_float(r.dtype) else np.zeros(r.shape), "float64")[0]
        und = _array_src(r.undef, "bool")[0]
        lines.append(f"    ({v}, {r.dtype!r}, {tol}, {und}),")
    lines += ["]", _CHECK]
    return "\n".join(lines) + "\n"


_CHECK = '''failed = False
for k, (t, want) in enumerate(zip(outs, WANT)):
    if want is None:
        continue
    w, dt, tol, undef = want
    g = t.numpy()
    if g.shape != w.shape or str(g.dtype) != dt:
        print(f"output {k}: {g.shape} {g.dtype}, want {w.shape} {dt}")
        failed = True
        continue
    ok = ~undef
    if w.dtype != np.float64:
        bad = ok & (g != w)
    else:
        with np.errstate(all="ignore"):
            g = g.astype(np.float64)
            bad = ok & ((np.isnan(g) != np.isnan(w)) | ((np.isinf(g) | np.isinf(w)) & (g != w) & ~np.isnan(g))
                        | (np.isfinite(g) & np.isfinite(w) & (np.abs(g - w) > tol)))
    if bad.any():
        i = tuple(int(x) for x in np.argwhere(bad)[0]) if bad.ndim else ()
        print(f"output {k}: {int(bad.sum())} of {bad.size} elements wrong, first at {i}: got {g[i]}, want {w[i]}")
        failed = True
print("FAIL" if failed else "ok")
sys.exit(1 if failed else 0)
'''
