"""The tolerance policy, in one place: when does an engine result equal the reference?

- Shapes and dtypes must be equal.
- Elements the reference marks undefined (oracles.numpy_ref: outside an op's domain, or where the inputs'
  errors could flip a discrete result) are not compared.
- Integers and bools: exactly equal.
- Floats: NaN exactly where the reference has NaN, +-inf exactly where it has the same infinity (or where the
  reference is within its tolerance of overflowing); where the reference is one correctly rounded operation of
  exact operands (Ref.rounded: a float cast, +, -, *, /), exactly its value; other finite values
  within 2 * err + 2 * eps(dtype) * |want| + 2 * tiny(dtype), where `err` is the reference's propagated error
  bound (it already scales with the dtype, with the length of every reduction on the way, and with cancellation:
  a sum's rounding is bounded by the sum of its terms' magnitudes, not by its result).
- Two engine results (device vs device, opts vs none, fused vs unfused) are each held to the reference; they are
  compared with each other only where both are defined.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from oracles.numpy_ref import _MAX, _TINY, NP_DTYPES, Ref, eps, is_float


@dataclass
class Difference:
    """Why a result differs from the reference: what kind, how many elements, the worst one."""

    kind: str  # "shape", "dtype", "value", "nan", "inf"
    detail: dict[str, Any] = field(default_factory=dict)


def tolerance(ref: Ref) -> np.ndarray:
    """Per-element absolute tolerance of a float reference."""
    dt = ref.dtype
    with np.errstate(all="ignore"):
        want = ref.value.astype(np.float64)
        return 2 * ref.err + 2 * eps(dt) * np.abs(np.where(np.isfinite(want), want, 0)) + 2 * _TINY.get(dt, 0.0)


def compare(got: np.ndarray, ref: Ref) -> Difference | None:
    """None if `got` matches the reference under the policy above, else the first kind of difference."""
    got = np.asarray(got)
    if tuple(got.shape) != ref.shape:
        return Difference("shape", {"got": list(got.shape), "want": list(ref.shape)})
    if got.dtype != ref.value.dtype:
        got_name = next((k for k, v in NP_DTYPES.items() if v == got.dtype), str(got.dtype))
        return Difference("dtype", {"got": got_name, "want": ref.dtype})
    defined = ~ref.undef
    if not is_float(ref.dtype):
        bad = defined & (got != ref.value)
        return _report("value", bad, got, ref) if bad.any() else None
    with np.errstate(all="ignore"):
        g, w = got.astype(np.float64), ref.value.astype(np.float64)
        nan = defined & (np.isnan(g) != np.isnan(w))
        if nan.any():
            return _report("nan", nan, got, ref)
        tol = tolerance(ref)
        # an infinity where the reference is finite is a difference unless overflow is within the tolerance
        overflow_ok = np.isinf(g) & np.isfinite(w) & (np.abs(w) + tol >= _MAX[ref.dtype])
        inf = defined & ((np.isinf(g) | np.isinf(w)) & ~(np.isnan(g) | np.isnan(w))) & (g != w) & ~overflow_ok
        if inf.any():
            return _report("inf", inf, got, ref)
        fin = defined & np.isfinite(g) & np.isfinite(w)
        diff = np.where(fin, np.abs(g - w), 0.0)
        bad = fin & (diff > tol)
        if ref.rounded is not None:  # one correctly rounded op of exact operands: exactly equal
            bad = bad | (fin & ref.rounded & (g != w))
    return _report("value", bad, got, ref, diff, tol) if bad.any() else None


def _report(kind: str, bad: np.ndarray, got: np.ndarray, ref: Ref, diff: np.ndarray | None = None,
            tol: np.ndarray | None = None) -> Difference:
    first = tuple(int(i) for i in np.argwhere(bad)[0]) if bad.ndim else ()
    detail: dict[str, Any] = {"bad": int(bad.sum()), "of": int(bad.size), "first_index": list(first),
                              "got": json_scalar(got[first] if first else got[()]),
                              "want": json_scalar(ref.value[first] if first else ref.value[()])}
    if diff is not None and tol is not None:
        worst = np.unravel_index(int(np.argmax(np.where(bad, diff, -1.0))), bad.shape) if bad.ndim else ()
        detail["max_error"] = float(diff[worst])
        detail["tolerance_there"] = float(tol[worst])
    return Difference(kind, detail)


def json_scalar(v: Any) -> Any:
    """One element as a JSON value (bool, int, float; non-finite floats as strings)."""
    v = np.asarray(v)
    if v.dtype.kind == "b":
        return bool(v)
    if v.dtype.kind in "iu":
        return int(v)
    f = float(v.astype(np.float64))
    return f if np.isfinite(f) else repr(f)  # strict JSON: non-finite floats as strings ('nan', 'inf', '-inf')
