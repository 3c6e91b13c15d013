"""Corpus entries: atomic writes, one file per finding, clear errors for corrupt files, nothing lost on SIGKILL."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fuzz.case import Verdict, canonical_json, case_hash
from fuzz.corpus import (
    CorpusError,
    entry_path,
    known_signatures,
    list_entries,
    load_entry,
    make_entry,
    save_entry,
    write_entry,
)

ROOT = Path(__file__).resolve().parent.parent


def _entry(xs, signature="mismatch:has13"):
    return make_entry(
        "toy",
        {"xs": xs},
        Verdict("mismatch", signature, {"position": 0}),
        seed=1,
        case_index=4,
        size_before=30,
        size_after=len(xs) + sum(xs),
        reproducer="print('hi')",
    )


def test_canonical_json_and_case_hash_ignore_key_order():
    assert canonical_json({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
    assert case_hash({"b": 1, "a": 2}) == case_hash({"a": 2, "b": 1})
    assert len(case_hash({})) == 16 and case_hash({"a": 1}) != case_hash({"a": 2})


def test_verdict_round_trips_through_dict_and_rejects_unknown_status():
    verdict = Verdict("crash", "crash:SIGSEGV", {"exitcode": -11})
    assert Verdict.from_dict(json.loads(json.dumps(verdict.to_dict()))) == verdict
    with pytest.raises(ValueError, match="explode"):
        Verdict("explode")


def test_save_entry_writes_all_fields_atomically_and_leaves_no_temp_files(tmp_path):
    path = save_entry(tmp_path, _entry([13]))
    assert path.parent == tmp_path / "toy" and path.suffix == ".json"
    entry = load_entry(path)
    for key in (
        "fuzzer",
        "case",
        "verdict",
        "signature",
        "seed",
        "case_index",
        "engine_version",
        "created",
        "size_before",
        "size_after",
        "reproducer",
    ):
        assert key in entry, key
    assert entry["case"] == {"xs": [13]} and entry["signature"] == "mismatch:has13"
    assert sorted(p.name for p in (tmp_path / "toy").iterdir()) == [path.name]


def test_same_finding_is_saved_once_unless_overwritten(tmp_path):
    first = save_entry(tmp_path, _entry([13, 1]))
    again = save_entry(tmp_path, _entry([13]))
    assert again == first and load_entry(first)["case"] == {"xs": [13, 1]}
    save_entry(tmp_path, _entry([13]), overwrite=True)
    assert load_entry(first)["case"] == {"xs": [13]}
    other = save_entry(tmp_path, _entry([2], "mismatch:other"))
    assert other != first
    assert known_signatures(tmp_path, "toy") == {"mismatch:has13", "mismatch:other"}
    assert [p for p, _ in list_entries(tmp_path)] == sorted([first, other])


def test_entry_path_is_derived_from_fuzzer_and_signature():
    assert entry_path("c", "toy", "crash:SIGSEGV") == entry_path("c", "toy", "crash:SIGSEGV")
    assert entry_path("c", "toy", "crash:SIGSEGV") != entry_path("c", "other", "crash:SIGSEGV")
    assert entry_path("c", "toy", "crash:SIGSEGV").name.startswith("crash-SIGSEGV-")


@pytest.mark.parametrize(
    "content, problem",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"fuzzer": "toy", "verdict": {"status": "mismatch"}, "signature": "s"}', "no 'case' field"),
        ('{"fuzzer": "toy", "case": {}, "verdict": {"status": "odd"}, "signature": "s"}', "bad 'verdict'"),
    ],
)
def test_load_entry_names_the_corrupt_file_and_the_problem(tmp_path, content, problem):
    path = tmp_path / "toy" / "bad.json"
    path.parent.mkdir()
    path.write_text(content)
    with pytest.raises(CorpusError) as err:
        load_entry(path)
    assert str(path) in str(err.value) and problem in str(err.value)
    with pytest.raises(CorpusError, match="bad.json"):
        known_signatures(tmp_path, "toy")


def test_load_entry_of_missing_file_names_it(tmp_path):
    with pytest.raises(CorpusError, match="nope.json"):
        load_entry(tmp_path / "nope.json")


def test_write_entry_refuses_an_entry_without_required_fields(tmp_path):
    with pytest.raises(CorpusError, match="signature"):
        write_entry(tmp_path / "x.json", {"fuzzer": "toy", "case": {}, "verdict": {"status": "pass"}})
    assert not list(tmp_path.iterdir())


def test_sigkilled_campaign_loses_no_saved_entry(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}",
        "UOPFUZZ_FUZZERS": "toy=toy_fuzzer:ToyFuzzer",
    }
    corpus = tmp_path / "corpus"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fuzz",
            "run",
            "toy",
            "--seconds",
            "600",
            "--corpus",
            str(corpus),
            "--report",
            str(tmp_path / "reports"),
            "--workers",
            "2",
            "--no-progress",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120  # generous: a loaded machine is slow, not wrong
        while not list(corpus.glob("toy/*.json")) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    [path] = list(corpus.glob("toy/*.json"))
    assert load_entry(path)["signature"] == "mismatch:has13"
    assert not [p for p in corpus.rglob("*") if p.name.endswith(".tmp")]
