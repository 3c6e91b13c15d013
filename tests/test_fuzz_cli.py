"""The fuzz command: exit codes (0 ok, 1 new failure, 2 bad input), repro, minimize, corpus, report."""

import json
import os
import signal
import subprocess
import sys
import time
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


def test_ctrl_c_during_triage_stops_promptly_and_writes_the_report(tmp_path):
    tests_dir = Path(__file__).resolve().parent
    env = {**os.environ, "UOPFUZZ_FUZZERS": "slowmin-toy=toy_fuzzer:SlowMinimizeToyFuzzer",
           "PYTHONPATH": os.pathsep.join([str(tests_dir), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "fuzz", "run", "slowmin-toy", "--seconds", "60", "--seed", "1",
                             "--corpus", str(tmp_path / "corpus"), "--report", str(tmp_path / "r")],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(3.0)  # the planted bug is found within the first batches; its slow minimization is under way
    proc.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    rc = proc.wait(timeout=30)
    assert time.monotonic() - t0 < 15  # not the 60 s budget, nor the 30 s minimization budget
    [summary_path] = (tmp_path / "r").glob("*/summary.json")
    summary = json.loads(summary_path.read_text())
    assert summary["interrupted"] and summary["cases"] > 0
    assert (summary_path.parent / "report.html").exists()
    assert rc in (1, 130)  # 130: interrupted with nothing new saved yet; 1: a new finding was saved first
