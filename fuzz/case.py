"""Cases and verdicts: plain JSON data, canonical and hashed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

STATUSES = ("pass", "mismatch", "crash", "timeout", "invalid")


@dataclass
class Verdict:
    """The outcome of checking one case: status, a signature used to deduplicate, and JSON details.

    details["inconclusive"] = True marks a verdict where the oracle could not decide (a Z3 timeout): campaigns
    count it and list it with the timeouts, but it is not a finding and never makes the exit status 1.
    """

    status: str
    signature: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"Verdict status {self.status!r} is not one of {', '.join(STATUSES)}")
        if self.status != "pass" and not self.signature:
            self.signature = self.status

    @property
    def failed(self) -> bool:
        """True for a real failure (mismatch, crash, timeout); pass and invalid are not failures."""
        return self.status in ("mismatch", "crash", "timeout")

    def to_dict(self) -> dict[str, Any]:
        """Return the verdict as a JSON-serializable dict."""
        return {"status": self.status, "signature": self.signature, "details": jsonable(self.details)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        """Build a verdict from the dict written by `to_dict`; raises ValueError if it is malformed."""
        if not isinstance(data, dict):
            raise ValueError(f"verdict must be a JSON object, got {type(data).__name__}")
        status, signature, details = data.get("status"), data.get("signature", ""), data.get("details", {})
        if not isinstance(status, str) or not isinstance(signature, str) or not isinstance(details, dict):
            raise ValueError("verdict needs a string 'status', a string 'signature' and an object 'details'")
        return cls(status, signature, details)


def jsonable(obj: Any) -> Any:
    """Return obj as strict JSON data: unknown objects become repr(), non-finite floats "NaN", "Infinity", "-Infinity".

    Everything the harness writes (corpus entries, summaries, --json output) is strict JSON (no NaN or Infinity
    literals, which most JSON parsers reject); a fuzzer whose cases hold non-finite floats reads them back as
    "NaN", "Infinity" and "-Infinity".
    """
    try:
        json.dumps(obj, allow_nan=False)
        return obj
    except (TypeError, ValueError):
        text = json.dumps(obj, default=repr, allow_nan=True)
        return json.loads(text, parse_constant=str)  # the NaN/Infinity literals come back as strings


def strict_dumps(obj: Any, **kwargs: Any) -> str:
    """json.dumps of jsonable(obj), refusing NaN and Infinity: what every file and --json output of fuzz uses."""
    return json.dumps(jsonable(obj), allow_nan=False, **kwargs)


def canonical_json(obj: Any) -> str:
    """Serialize obj as canonical strict JSON: sorted keys, compact separators."""
    return strict_dumps(obj, sort_keys=True, separators=(",", ":"))


def case_hash(case: Any) -> str:
    """Return the first 16 hex digits of the sha256 of the case's canonical JSON."""
    return hashlib.sha256(canonical_json(case).encode()).hexdigest()[:16]


def distinct_valid(case: dict[str, Any], candidates: Iterable[dict[str, Any]],
                   valid: Callable[[dict[str, Any]], dict[str, Any] | None]) -> Iterator[dict[str, Any]]:
    """A fuzzer's reductions: each candidate made valid (`valid` gives the normalized case, or None to drop it),
    every distinct one once, none equal to `case` itself."""
    seen: set[str] = set()
    for cand in candidates:
        v = valid(cand)
        if v is None or v == case:
            continue
        key = repr(v)
        if key not in seen:
            seen.add(key)
            yield v
