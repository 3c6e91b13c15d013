"""Every saved finding in corpus/ is replayed: a fixed bug stays fixed."""

from pathlib import Path

from fuzz.corpus import load_entry
from fuzz.worker import run_isolated

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
ENTRIES = sorted(CORPUS.glob("*/*.json"))


def test_corpus_folder_exists():
    assert CORPUS.is_dir()


def test_every_corpus_entry_passes():
    failing = []
    for path in ENTRIES:
        entry = load_entry(path)
        # isolated, with a timeout: a hang that comes back fails here instead of hanging the suite
        verdict = run_isolated(entry["fuzzer"], entry["case"], timeout_s=20.0)
        if verdict.status != "pass":
            failing.append(f"{path}: {verdict.signature} {verdict.details}")
    assert not failing, "\n".join(failing)
