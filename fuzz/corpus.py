"""The corpus: corpus/<fuzzer>/<name>.json, one minimized finding per file, written atomically."""

from __future__ import annotations

import datetime
import hashlib
import importlib
import json
import os
import re
from pathlib import Path
from typing import Any

from fuzz.atomic import atomic_write_bytes, atomic_write_text
from fuzz.case import Verdict, strict_dumps
from fuzz.errors import BadInputError

REQUIRED_FIELDS = {"fuzzer": str, "case": dict, "verdict": dict, "signature": str}
MAX_CASE_DEPTH = 200  # nesting of a saved case; generated cases stay far below, the recursive oracles need headroom
CASE_INT_RANGE = (-(2**63), 2**64 - 1)  # integers in a case fit in 64 bits, the widest the engine computes with


class CorpusError(BadInputError):
    """A corpus entry that is missing, not JSON, or lacks the fields an entry needs."""


def engine_version() -> str:
    """Return engine.__version__, or "unknown" if the engine cannot be imported."""
    try:
        return str(importlib.import_module("engine").__version__)
    except Exception:
        return "unknown"


def entry_name(fuzzer: str, signature: str) -> str:
    """File name of the entry for this finding: a readable slug of the signature plus a hash of both."""
    digest = hashlib.sha256(f"{fuzzer}\0{signature}".encode()).hexdigest()[:12]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", signature).strip("-.")[:48] or "finding"
    return f"{slug}-{digest}.json"


def entry_path(corpus_dir: str | os.PathLike[str], fuzzer: str, signature: str) -> Path:
    """Path of the entry for this fuzzer and signature."""
    return Path(corpus_dir) / fuzzer / entry_name(fuzzer, signature)


def make_entry(
    fuzzer: str,
    case: dict[str, Any],
    verdict: Verdict,
    *,
    seed: int | None = None,
    case_index: int | None = None,
    size_before: int | None = None,
    size_after: int | None = None,
    reproducer: str = "",
) -> dict[str, Any]:
    """Build a corpus entry dict."""
    return {
        "fuzzer": fuzzer,
        "case": case,
        "verdict": verdict.to_dict(),
        "signature": verdict.signature,
        "seed": seed,
        "case_index": case_index,
        "engine_version": engine_version(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "size_before": size_before,
        "size_after": size_after,
        "reproducer": reproducer,
    }


def write_entry(path: str | os.PathLike[str], entry: dict[str, Any]) -> Path:
    """Write an entry atomically to path (replacing any previous version), then the files its fuzzer attaches to
    it (`Fuzzer.artifacts`: an ONNX finding's model.onnx, inputs.npz, ...) into the folder <path without .json>/."""
    _check_entry(entry, Path(path))
    written = atomic_write_text(path, strict_dumps(entry, indent=2, sort_keys=True) + "\n")
    _write_artifacts(Path(path), entry)
    return written


def _write_artifacts(path: Path, entry: dict[str, Any]) -> None:
    from fuzz.registry import UnknownFuzzerError, get_fuzzer

    try:
        fuzzer = get_fuzzer(entry["fuzzer"])
    except UnknownFuzzerError:  # an entry of a plugin that is not loaded here: the JSON is the whole finding
        return
    files = fuzzer.artifacts(entry["case"], Verdict.from_dict(entry["verdict"]))
    for name, data in files.items():
        atomic_write_bytes(path.with_suffix("") / name, data)


def save_entry(corpus_dir: str | os.PathLike[str], entry: dict[str, Any], overwrite: bool = False) -> Path:
    """Save an entry under corpus_dir/<fuzzer>/; an existing entry for the same finding is kept unless overwrite."""
    path = entry_path(corpus_dir, entry["fuzzer"], entry["signature"])
    if path.exists() and not overwrite:
        return path
    return write_entry(path, entry)


def _check_entry(entry: Any, path: Path) -> None:
    if not isinstance(entry, dict):
        raise CorpusError(f"{path}: a corpus entry must be a JSON object, got {type(entry).__name__}")
    for name, kind in REQUIRED_FIELDS.items():
        if name not in entry:
            raise CorpusError(f"{path}: corpus entry has no {name!r} field")
        if not isinstance(entry[name], kind):
            raise CorpusError(f"{path}: field {name!r} must be a {kind.__name__}, got {type(entry[name]).__name__}")
    try:
        Verdict.from_dict(entry["verdict"])
    except ValueError as e:
        raise CorpusError(f"{path}: bad 'verdict' field: {e}") from e


def load_entry(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load and validate one entry; a missing, corrupt or malformed file raises CorpusError naming it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CorpusError(f"{path}: no such corpus entry") from None
    except (OSError, UnicodeDecodeError) as e:
        raise CorpusError(f"{path}: cannot read corpus entry ({e})") from None
    try:
        entry = json.loads(text)
    except json.JSONDecodeError as e:
        raise CorpusError(f"{path}: corrupt corpus entry, not valid JSON ({e.msg} at line {e.lineno})") from None
    except ValueError as e:  # an integer of more than 4300 digits
        raise CorpusError(f"{path}: corpus entry cannot be read: {str(e)[:200]}") from None
    except RecursionError:
        raise CorpusError(f"{path}: corpus entry nested too deeply to read (at most {MAX_CASE_DEPTH} deep)") from None
    _check_entry(entry, path)
    check_case_data(entry["case"], path)
    return entry


def check_case_data(case: Any, where: str | os.PathLike[str]) -> None:
    """Raise CorpusError naming `where` if case nests deeper than MAX_CASE_DEPTH or holds an int beyond 64 bits."""
    lo, hi = CASE_INT_RANGE
    stack: list[tuple[Any, int]] = [(case, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth > MAX_CASE_DEPTH:
                raise CorpusError(f"{where}: case nested more than {MAX_CASE_DEPTH} deep")
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
        elif isinstance(node, int) and not isinstance(node, bool) and not lo <= node <= hi:
            digits = len(str(abs(node)))
            raise CorpusError(f"{where}: case holds an integer of {digits} digits; case integers must fit in 64 bits")


def list_entries(corpus_dir: str | os.PathLike[str], fuzzer: str | None = None) -> list[tuple[Path, dict[str, Any]]]:
    """Return (path, entry) for every entry in the corpus, or only one fuzzer's, sorted by path."""
    root = Path(corpus_dir)
    if fuzzer is not None:
        paths = sorted((root / fuzzer).glob("*.json"))
    else:
        paths = sorted(root.glob("*/*.json"))
    return [(path, load_entry(path)) for path in paths]


def known_signatures(corpus_dir: str | os.PathLike[str], fuzzer: str) -> set[str]:
    """Signatures of the findings this fuzzer already has in the corpus."""
    return {entry["signature"] for _, entry in list_entries(corpus_dir, fuzzer)}
