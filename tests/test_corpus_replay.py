"""Every saved finding in corpus/ is replayed: a fixed bug stays fixed."""

from pathlib import Path

import pytest

from fuzz.corpus import load_entry
from fuzz.registry import get_fuzzer

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
ENTRIES = sorted(CORPUS.glob("*/*.json"))


def test_corpus_folder_exists():
    assert CORPUS.is_dir()


@pytest.mark.parametrize("path", ENTRIES, ids=[f"{p.parent.name}/{p.name}" for p in ENTRIES])
def test_corpus_entry_passes(path):
    entry = load_entry(path)
    fuzzer = get_fuzzer(entry["fuzzer"])
    verdict = fuzzer.check(entry["case"])
    assert verdict.status == "pass", f"{path}: {verdict.signature} {verdict.details}"
