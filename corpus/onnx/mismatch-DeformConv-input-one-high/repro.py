#!/usr/bin/env python3
"""uopfuzz onnx finding: mismatch:DeformConv. Exits 1 while it still fails.

The reference is onnxruntime without graph optimizations (onnx.reference where it cannot run the model);
this compares the engine on DEVICE."""
import base64
import io
import sys

import numpy as np
import onnx
import onnxruntime as ort

MODEL = base64.b64decode('CAkSB3VvcGZ1eno60gEKKwoCYzEKAmMyCgJjMxICdjQaDW4wX0RlZm9ybUNvbnYiCkRlZm9ybUNvbnYSB3VvcGZ1enoqIAgBCAEIAQgEEAFCAmMxShAAAIA/AAAAQAAAQEAAAIBAKhgIAQgBCAEIAhABQgJjMkoIAACAPwAAgD8qQAgBCAQIAQgDEAFCAmMzSjAzMzM/MzMzPzMzMz8zMzM/MzMzPzMzMz8zMzM/MzMzPzMzMz8zMzM/MzMzPzMzMz9iHAoCdjQSFgoUCAESEAoCCAEKAggBCgIIAQoCCANCBAoAEBM=')
INPUTS = dict(np.load(io.BytesIO(base64.b64decode('UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=='))))
DEVICE = 'LLVM'
RTOL = {'float16': 0.02, 'bfloat16': 0.05, 'float32': 0.0002, 'float64': 1e-06}


def ort_run(optimize):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                     else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    sess = ort.InferenceSession(MODEL, opts, providers=['CPUExecutionProvider'])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, INPUTS)))


try:
    WANT = ort_run(False)
except Exception:
    from onnx.reference import ReferenceEvaluator

    ev = ReferenceEvaluator(onnx.load_model_from_string(MODEL))
    WANT = dict(zip(ev.output_names, ev.run(None, INPUTS)))
import engine.onnx  # noqa: E402

try:
    GOT = engine.onnx.load(MODEL).run(INPUTS, device=DEVICE)
except Exception as e:  # the engine refuses or crashes: still failing
    print(f'engine: {type(e).__name__}: {e}')
    print('FAIL')
    sys.exit(1)

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

