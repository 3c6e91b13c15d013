"""onnxruntime as the reference of ONNX models, with onnx's own numpy evaluator as a second opinion.

`run_ort(model, feeds, optimize)` runs a model in onnxruntime on one CPU thread, with its graph optimizations off
(ORT_DISABLE_ALL: every node as written) or all on (ORT_ENABLE_ALL: fused and rewritten); the harness compares the
two, which tests onnxruntime itself. `run_reference(model, feeds)` runs `onnx.reference.ReferenceEvaluator`, for
models onnxruntime cannot run (an op or a dtype it has no kernel for). Neither imports the engine.

The tolerance policy (like oracles/compare.py, without propagated error bounds, which onnxruntime does not give):
shapes and dtypes equal; integers and bools exactly equal; NaN exactly where the reference has NaN; an infinity
exactly where the reference has the same infinity, or where the reference is within its tolerance of the dtype's
overflow; finite values within rtol(dtype) * (|want| + scale), where `scale` is the largest finite |value| of that
output, or the magnitude of the rounded terms it was formed from where the caller gives a larger one (a reduction
or a difference of large terms is only as exact as its largest terms: a LayerNormalization's rows summed to ~0);
rtol is that of the least precise float dtype the value went through (onnxruntime runs float16 nodes it has no
kernel for in float32 and drops the cast pairs around them, so an intermediate float16 rounding may be missing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from oracles.compare import json_scalar

RTOL = {"float16": 2e-2, "bfloat16": 5e-2, "float32": 2e-4, "float64": 1e-6}  # float64: float attributes are float32


class ReferenceError(RuntimeError):
    """A reference could not load or run the model (the message says which and why)."""


@dataclass
class Mismatch:
    """Why one output differs from its reference: the kind, the count, the worst element."""

    kind: str  # "shape", "dtype", "value", "nan", "inf"
    detail: dict[str, Any] = field(default_factory=dict)


def _serialized(model: Any) -> bytes:
    return bytes(model) if isinstance(model, (bytes, bytearray)) else model.SerializeToString()


def session(model: Any, optimize: bool) -> Any:
    """An onnxruntime InferenceSession of the model on one thread (ReferenceError if it cannot load it)."""
    import onnxruntime as ort

    ort.set_default_logger_severity(4)  # a model it refuses is an answer here, not an error to print
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    opts.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                     else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    try:
        return ort.InferenceSession(_serialized(model), opts, providers=["CPUExecutionProvider"])
    except Exception as e:
        raise ReferenceError(f"onnxruntime cannot load the model: {type(e).__name__}: {str(e)[:500]}") from None


def run_ort(model: Any, feeds: dict[str, np.ndarray], optimize: bool = False,
            outputs: list[str] | None = None) -> dict[str, np.ndarray]:
    """The model's outputs (or the named ones) computed by onnxruntime."""
    sess = session(model, optimize)
    names = outputs or [o.name for o in sess.get_outputs()]
    try:
        got = sess.run(names, feeds)
    except Exception as e:
        raise ReferenceError(f"onnxruntime cannot run the model: {type(e).__name__}: {str(e)[:500]}") from None
    return dict(zip(names, (np.asarray(g) for g in got)))


def run_reference(model: Any, feeds: dict[str, np.ndarray], outputs: list[str] | None = None
                  ) -> dict[str, np.ndarray]:
    """The model's outputs computed by onnx.reference.ReferenceEvaluator (numpy)."""
    from onnx.reference import ReferenceEvaluator

    try:
        ev = ReferenceEvaluator(model)
        names = outputs or list(ev.output_names)
        with np.errstate(all="ignore"):
            got = ev.run(names, feeds)
    except Exception as e:
        raise ReferenceError(f"onnx.reference cannot run the model: {type(e).__name__}: {str(e)[:500]}") from None
    return dict(zip(names, (np.asarray(g) for g in got)))


def magnitude(a: Any) -> float:
    """The largest finite |value| of a float array (0.0 if it has none or is not float)."""
    a = np.asarray(a)
    if a.dtype.kind != "f":
        return 0.0
    with np.errstate(all="ignore"):
        w = np.abs(a.astype(np.float64))
    finite = np.isfinite(w)
    return float(w[finite].max()) if finite.any() else 0.0


def tolerance(want: np.ndarray, precision: str | None = None, scale: float = 0.0) -> np.ndarray:
    """Per-element absolute tolerance for a float reference output (rtol of `precision`, default its dtype's);
    `scale`: the magnitude of the terms the value was formed from, where the caller knows it is larger than the
    value's own (a sum that cancels)."""
    rtol = RTOL.get(precision or str(want.dtype), 1e-6)
    with np.errstate(all="ignore"):
        w = np.abs(want.astype(np.float64))
        return rtol * (np.where(np.isfinite(w), w, 0.0) + max(magnitude(want), scale)) + \
            float(np.finfo(want.dtype).tiny) * 4


def compare(got: np.ndarray, want: np.ndarray, precision: str | None = None, scale: float = 0.0
            ) -> Mismatch | None:
    """None if `got` matches the reference output `want` under the policy above; `precision` names the least
    precise float dtype the value was computed through (a float16 intermediate makes a float64 result
    float16-exact only), which sets rtol; `scale` (see tolerance) raises the output's own largest magnitude."""
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return Mismatch("shape", {"got": list(got.shape), "want": list(want.shape)})
    if got.dtype != want.dtype:
        return Mismatch("dtype", {"got": str(got.dtype), "want": str(want.dtype)})
    if want.dtype.kind not in "fc":
        bad = got != want
        return _report("value", bad, got, want) if bad.any() else None
    with np.errstate(all="ignore"):
        g, w = got.astype(np.float64), want.astype(np.float64)
        nan = np.isnan(g) != np.isnan(w)
        if nan.any():
            return _report("nan", nan, got, want)
        tol = tolerance(want, precision, scale)
        big = float(np.finfo(want.dtype).max)
        overflow_ok = np.isinf(g) & np.isfinite(w) & (np.abs(w) + tol >= big)
        inf = (np.isinf(g) | np.isinf(w)) & ~np.isnan(g) & (g != w) & ~overflow_ok
        if inf.any():
            return _report("inf", inf, got, want)
        fin = np.isfinite(g) & np.isfinite(w)
        diff = np.where(fin, np.abs(g - w), 0.0)
        bad = fin & (diff > tol)
    return _report("value", bad, got, want, diff, tol) if bad.any() else None


def _report(kind: str, bad: np.ndarray, got: np.ndarray, want: np.ndarray, diff: np.ndarray | None = None,
            tol: np.ndarray | None = None) -> Mismatch:
    first = tuple(int(i) for i in np.argwhere(bad)[0]) if bad.ndim else ()
    detail: dict[str, Any] = {"bad": int(bad.sum()), "of": int(bad.size), "first_index": list(first),
                              "got": json_scalar(got[first]), "want": json_scalar(want[first])}
    if diff is not None and tol is not None:
        worst = np.unravel_index(int(np.argmax(np.where(bad, diff, -1.0))), bad.shape) if bad.ndim else ()
        detail["max_error"] = float(diff[worst])
        detail["tolerance_there"] = float(tol[worst])
    return Mismatch(kind, detail)
