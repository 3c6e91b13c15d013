"""The fuzz command: exit codes (0 ok, 1 new failure, 2 bad input), repro, minimize, corpus, report."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fuzz import cli
from fuzz.case import Verdict
from fuzz.cli import main
from fuzz.corpus import load_entry, make_entry, save_entry
from fuzz.registry import register

ROOT = Path(__file__).resolve().parent.parent
register("toy", "toy_fuzzer:ToyFuzzer")


def _run(tmp_path, *extra):
    return main(
        [
            "run",
            "toy",
            "--cases",
            "200",
            "--seed",
            "1",
            "--corpus",
            str(tmp_path / "corpus"),
            "--report",
            str(tmp_path / "reports"),
            "--minimize-seconds",
            "5",
            "--json",
            *extra,
        ]
    )


def _saved(tmp_path, xs, signature="mismatch:has13"):
    entry = make_entry(
        "toy",
        {"xs": xs},
        Verdict("mismatch", signature),
        seed=0,
        case_index=0,
        size_before=len(xs) + sum(xs),
        size_after=len(xs) + sum(xs),
    )
    return save_entry(tmp_path / "corpus", entry)


def test_run_exits_1_on_new_failure_then_0_when_it_is_known(tmp_path, capsys):
    assert _run(tmp_path) == 1
    summary = json.loads(capsys.readouterr().out)
    assert summary["new_findings"] == 1 and summary["findings"][0]["signature"] == "mismatch:has13"
    assert _run(tmp_path) == 0
    assert json.loads(capsys.readouterr().out)["known_findings"] == 1


def test_repro_of_saved_failure_exits_1_and_of_fixed_case_exits_0(tmp_path, capsys):
    assert main(["repro", str(_saved(tmp_path, [13]))]) == 1
    assert "mismatch:has13" in capsys.readouterr().out
    assert main(["repro", str(_saved(tmp_path, [12], "mismatch:fixed"))]) == 0


def test_reproducer_script_of_saved_entry_exits_1_standalone(tmp_path):
    assert _run(tmp_path) == 1
    [path] = (tmp_path / "corpus" / "toy").glob("*.json")
    script = tmp_path / "repro.py"
    script.write_text(load_entry(path)["reproducer"])
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}"}
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "mismatch:has13" in done.stdout


def test_corrupt_corpus_file_exits_2_naming_the_file(tmp_path, capsys):
    bad = tmp_path / "corpus" / "toy" / "broken.json"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"fuzzer": "toy", "case": ')
    assert _run(tmp_path) == 2
    assert main(["repro", str(bad)]) == 2
    assert main(["corpus", "replay", "--corpus", str(tmp_path / "corpus")]) == 2
    err = capsys.readouterr().err
    assert err.count(str(bad)) == 3 and "Traceback" not in err


def test_malformed_case_in_entry_exits_2(tmp_path, capsys):
    path = _saved(tmp_path, [13])
    entry = json.loads(path.read_text())
    entry["case"] = {"xs": "thirteen"}
    path.write_text(json.dumps(entry))
    assert main(["repro", str(path)]) == 2
    assert "list of ints" in capsys.readouterr().err


def test_unknown_fuzzer_exits_2_listing_known_ones(tmp_path, capsys):
    assert main(["run", "nosuch", "--cases", "5", "--corpus", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "'nosuch'" in err and "toy" in err and "symbolic" in err


def test_bad_arguments_exit_2(tmp_path, capsys):
    assert main(["run", "toy", "--corpus", str(tmp_path)]) == 2  # no budget
    assert "--seconds" in capsys.readouterr().err
    assert main(["run", "toy", "--cases", "-3"]) == 2
    assert main(["repro", str(tmp_path / "missing.json")]) == 2
    assert "missing.json" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert main(["bogus"]) == 2


def test_minimize_command_rewrites_entry_smaller(tmp_path, capsys):
    path = _saved(tmp_path, [20, 13, 7])
    assert main(["minimize", str(path)]) == 0
    assert "size 43 -> 14" in capsys.readouterr().out
    entry = load_entry(path)
    assert entry["case"] == {"xs": [13]} and entry["size_after"] == 14 and entry["size_before"] == 43
    assert not [p for p in path.parent.iterdir() if p.suffix == ".tmp"]


def test_corpus_list_and_replay(tmp_path, capsys):
    _saved(tmp_path, [13])
    corpus = str(tmp_path / "corpus")
    assert main(["corpus", "list", "--corpus", corpus]) == 0
    assert "mismatch:has13" in capsys.readouterr().out
    assert main(["corpus", "replay", "--corpus", corpus]) == 1
    _saved(tmp_path, [1], "mismatch:fixed")
    assert main(["corpus", "replay", "--corpus", corpus, "--fuzzer", "nosuch"]) == 0
    assert main(["corpus", "list", "--corpus", str(tmp_path / "none")]) == 2


def test_report_command_reprints_saved_summary(tmp_path, capsys):
    assert _run(tmp_path) == 1
    [report] = (tmp_path / "reports").iterdir()
    capsys.readouterr()
    assert main(["report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "mismatch:has13" in out and report.name in out


def test_extra_commands_hook_dispatches_to_plugin(monkeypatch, capsys):
    monkeypatch.setitem(cli.EXTRA_COMMANDS, "echo", "toy_fuzzer:echo_command")
    assert main(["echo", "a", "b"]) == 2
    assert "echo a b" in capsys.readouterr().out
    monkeypatch.setitem(cli.EXTRA_COMMANDS, "gone", "no_such_module:main")
    assert main(["gone"]) == 2
    assert "fuzz gone" in capsys.readouterr().err
    assert "prove-rules" in cli.EXTRA_COMMANDS


@pytest.mark.parametrize(
    "args, code", [(["run", "toy", "--cases", "100", "--seed", "1"], 1), (["run", "nosuch", "--cases", "1"], 2)]
)
def test_python_m_fuzz_exit_codes(tmp_path, args, code):
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}",
        "UOPFUZZ_FUZZERS": "toy=toy_fuzzer:ToyFuzzer",
    }
    done = subprocess.run(
        [sys.executable, "-m", "fuzz", *args, "--corpus", str(tmp_path / "c"), "--report", str(tmp_path / "r")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr


def _corpus_file(tmp_path, name, case_json, fuzzer="symbolic"):
    """A corpus entry written as raw text (json.dumps cannot even produce some of these)."""
    verdict = '{"status": "mismatch", "signature": "mismatch:x", "details": {}}'
    path = tmp_path / name
    path.write_text(f'{{"fuzzer": "{fuzzer}", "signature": "mismatch:x", "verdict": {verdict}, "case": {case_json}}}')
    return path


@pytest.mark.parametrize(
    "name, case_json, message",
    [
        ("digits.json", '{"vars": {"a": [0, 10]}, "expr": ["const", ' + "9" * 5000 + "]}", "4300 digits"),
        ("deep.json", '{"vars": {"a": [0, 10]}, "expr": ' + '["NEG", ' * 1000 + '["var", "a"]' + "]" * 1000 + "}",
         "nested too deeply"),
        ("nested.json", '{"vars": {"a": [0, 10]}, "expr": ' + '["NEG", ' * 300 + '["var", "a"]' + "]" * 300 + "}",
         "nested more than 200 deep"),
        ("range.json", '{"vars": {"a": [-1' + "0" * 400 + ", 1" + "0" * 400 + ']}, "expr": ["var", "a"]}',
         "must fit in 64 bits"),
    ],
)
def test_repro_of_a_pathological_case_exits_2_with_one_message(tmp_path, capsys, name, case_json, message):
    path = _corpus_file(tmp_path, name, case_json)
    assert main(["repro", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"fuzz: error: {path}") and message in err and err.count("\n") == 1 and len(err) < 500


def test_an_internal_error_exits_3_not_1(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("a bug in the harness")

    monkeypatch.setitem(cli.COMMANDS, "list", broken)
    assert main(["list"]) == 3
    assert "internal error" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "0"])
def test_non_finite_or_negative_seconds_exit_2(tmp_path, capsys, value):
    assert main(["run", "toy", f"--seconds={value}", "--corpus", str(tmp_path)]) == 2
    assert "--seconds" in capsys.readouterr().err
    if value != "0":  # --minimize-seconds 0 disables minimization
        args = ["--cases", "5", f"--minimize-seconds={value}", "--corpus", str(tmp_path), "--report", str(tmp_path)]
        assert main(["run", "toy", *args]) == 2


def test_unwritable_report_folder_exits_2_naming_it(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert _run(tmp_path, "--report", str(tmp_path / "file" / "reports")) == 2
    assert f"report directory {tmp_path / 'file' / 'reports'}" in capsys.readouterr().err
