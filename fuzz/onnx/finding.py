"""What an ONNX finding is saved as, beside its corpus entry: the model (`model.onnx`), its inputs (`inputs.npz`),
the verdict (`verdict.json`) and a standalone reproducer (`repro.py`, also the entry's `reproducer`).

The reproducer embeds the model and the inputs, computes the reference (onnxruntime), runs the model on the
engine, compares under the tolerance policy of oracles/ort_ref.py (written out, so it imports
neither fuzz nor oracles) and exits 1 while the engine still gets it wrong. An `ort-opt:` finding's reproducer
runs onnxruntime with its graph optimizations off and on instead.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

from fuzz.case import Verdict, strict_dumps
from fuzz.onnx.case import feeds, to_model
from oracles.ort_ref import RTOL


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def finding_files(case: dict[str, Any], verdict: Verdict, device: str) -> dict[str, bytes]:
    """The files of a finding: model.onnx, inputs.npz, verdict.json, repro.py."""
    return {
        "model.onnx": to_model(case).SerializeToString(),
        "inputs.npz": npz_bytes(feeds(case)),
        "verdict.json": (strict_dumps(verdict.to_dict(), indent=2, sort_keys=True) + "\n").encode(),
        "repro.py": reproducer_source(case, verdict.signature, verdict.details, device).encode(),
    }


def reproducer_source(case: dict[str, Any], signature: str, details: dict[str, Any], device: str) -> str:
    """Standalone Python that exits 1 while the finding still fails."""
    return model_reproducer(to_model(case).SerializeToString(), feeds(case), signature,
                            details.get("device", device))


def model_reproducer(model: bytes, inputs: dict[str, np.ndarray], signature: str, device: str) -> str:
    """The reproducer of a model with its inputs (onnx-check findings use it too). Writing it runs nothing: the
    script computes the reference itself (onnxruntime, optimizations off; onnx.reference where that fails)."""
    ort_opt = signature.startswith("ort-opt")
    lines = [
        "#!/usr/bin/env python3",
        f'"""uopfuzz onnx finding: {signature or "failure"}. Exits 1 while it still fails.',
        "",
        "The reference is onnxruntime without graph optimizations (onnx.reference where it cannot run the model);",
        ("this compares onnxruntime with its graph optimizations on." if ort_opt else
         "this compares the engine on DEVICE.") + '"""',
        "import base64", "import io", "import sys", "", "import numpy as np", "import onnx",
        "import onnxruntime as ort", "",
        f"MODEL = base64.b64decode({_b64(model)!r})",
        f"INPUTS = dict(np.load(io.BytesIO(base64.b64decode({_b64(npz_bytes(inputs))!r}))))",
        f"DEVICE = {device!r}",
        f"RTOL = {RTOL!r}",
        "",
        "",
        "def ort_run(optimize):",
        "    opts = ort.SessionOptions()",
        "    opts.intra_op_num_threads = 1",
        "    opts.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize",
        "                                     else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)",
        "    sess = ort.InferenceSession(MODEL, opts, providers=['CPUExecutionProvider'])",
        "    names = [o.name for o in sess.get_outputs()]",
        "    return dict(zip(names, sess.run(names, INPUTS)))",
        "",
        "",
        "try:",
        "    WANT = ort_run(False)",
        "except Exception:",
        "    from onnx.reference import ReferenceEvaluator",
        "",
        "    ev = ReferenceEvaluator(onnx.load_model_from_string(MODEL))",
        "    WANT = dict(zip(ev.output_names, ev.run(None, INPUTS)))",
    ]
    if ort_opt:
        lines.append("GOT = ort_run(True)")
    else:
        lines += ["import engine.onnx  # noqa: E402", "",
                  "try:",
                  "    GOT = engine.onnx.load(MODEL).run(INPUTS, device=DEVICE)",
                  "except Exception as e:  # the engine refuses or crashes: still failing",
                  "    print(f'engine: {type(e).__name__}: {e}')",
                  "    print('FAIL')",
                  "    sys.exit(1)"]
    lines.append(_CHECK)
    return "\n".join(lines) + "\n"


_CHECK = '''
failed = False
for name, w in WANT.items():
    g = np.asarray(GOT[name])
    if g.shape != w.shape or g.dtype != w.dtype:
        print(f"{name}: {g.shape} {g.dtype}, want {w.shape} {w.dtype}")
        failed = True
        continue
    if w.dtype.kind in "fc":
        with np.errstate(all="ignore"):
            gf, wf = g.astype(np.float64), w.astype(np.float64)
            aw = np.abs(wf)
            scale = aw[np.isfinite(aw)].max() if np.isfinite(aw).any() else 0.0
            tol = RTOL.get(str(w.dtype), 1e-6) * (np.where(np.isfinite(aw), aw, 0) + scale) + 4 * np.finfo(w.dtype).tiny
            big = np.finfo(w.dtype).max
            bad = (np.isnan(gf) != np.isnan(wf)) | (
                (np.isinf(gf) | np.isinf(wf)) & ~np.isnan(gf) & (gf != wf) & ~(np.isinf(gf) & (aw + tol >= big))) | (
                np.isfinite(gf) & np.isfinite(wf) & (np.abs(gf - wf) > tol))
    else:
        bad = g != w
    if bad.any():
        i = tuple(int(x) for x in np.argwhere(bad)[0]) if bad.ndim else ()
        print(f"{name}: {int(bad.sum())} of {bad.size} elements wrong, first at {i}: got {g[i]}, want {w[i]}")
        failed = True
print("FAIL" if failed else "ok")
sys.exit(1 if failed else 0)
'''
