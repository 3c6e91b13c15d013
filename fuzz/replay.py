"""Replaying corpus entries: each one re-checked in isolation; a corrupt entry is reported by name, never fatal.

`fuzz repro`, `fuzz corpus replay` and `fuzz ci` all replay through here, so they agree on what "still failing" and
"corrupt" mean: an entry fails again when its case gives any non-pass verdict now; an entry that cannot be read, lacks
the fields of an entry, or holds a case its fuzzer rejects is corrupt, and its error message names the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fuzz.corpus import CorpusError, load_entry
from fuzz.errors import BadInputError
from fuzz.worker import DEFAULT_TIMEOUT_S, run_isolated


def load_checked_entry(path: str | os.PathLike[str]) -> tuple[dict[str, Any], Any]:
    """Load a corpus entry and its fuzzer; a corrupt file or malformed case raises CorpusError naming the file."""
    from fuzz.registry import get_fuzzer

    entry = load_entry(path)
    fuzzer = get_fuzzer(entry["fuzzer"])
    try:
        fuzzer.validate(entry["case"])
    except (ValueError, TypeError, OverflowError, RecursionError) as e:
        message = str(e) if len(str(e)) <= 300 else str(e)[:300] + "..."
        raise CorpusError(f"{path}: malformed {entry['fuzzer']} case: {message}") from None
    return entry, fuzzer


def replay_entry(
    path: str | os.PathLike[str], timeout_s: float | None = None, memory_mb: int | None = None
) -> dict[str, Any]:
    """Re-check one corpus entry in isolation: what it recorded and what it gives now (raises CorpusError)."""
    entry, fuzzer = load_checked_entry(path)
    timeout_s = timeout_s or fuzzer.timeout_s or DEFAULT_TIMEOUT_S
    verdict = run_isolated(entry["fuzzer"], entry["case"], timeout_s, memory_mb)
    return {
        "path": str(path),
        "fuzzer": entry["fuzzer"],
        "recorded_signature": entry["signature"],
        "still_failing": verdict.status != "pass",
        "verdict": verdict.to_dict(),
    }


def replay_or_report(
    path: str | os.PathLike[str], timeout_s: float | None = None, memory_mb: int | None = None
) -> dict[str, Any]:
    """replay_entry, except that a corrupt entry (or one naming an unknown fuzzer) gives a result with "error"."""
    try:
        return replay_entry(path, timeout_s, memory_mb)
    except BadInputError as e:
        return {
            "path": str(path),
            "fuzzer": None,
            "recorded_signature": None,
            "still_failing": False,
            "verdict": None,
            "error": str(e),
        }


def corpus_paths(corpus_dir: str | os.PathLike[str], fuzzer: str | None = None) -> list[Path]:
    """Every entry file of the corpus (or of one fuzzer's folder), sorted, whether or not it can be read."""
    root = Path(corpus_dir)
    return sorted((root / fuzzer).glob("*.json") if fuzzer is not None else root.glob("*/*.json"))
