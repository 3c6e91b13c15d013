"""The fuzz command: exit codes (0 ok, 1 new failure, 2 bad input), repro, minimize, corpus, report."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from toy_fuzzer import ToyFuzzer

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


def _toy_env():
    path = f"{ROOT}{os.pathsep}{ROOT / 'tests'}"
    return {**os.environ, "PYTHONPATH": path, "UOPFUZZ_FUZZERS": "toy=toy_fuzzer:ToyFuzzer"}


def _cli(*args, stdin=None):
    """Run `python -m fuzz` with the toy fuzzer registered."""
    return subprocess.run([sys.executable, "-m", "fuzz", *args], env=_toy_env(), input=stdin, capture_output=True,
                          text=True, timeout=300)


def test_default_seed_is_random_and_printed_with_the_command_that_repeats_the_run(tmp_path, capsys):
    seeds = []
    for _ in range(2):
        assert _run(tmp_path, "--seed", "1", "--seed", "1") in (0, 1)  # an explicit seed is kept
        main(["run", "toy", "--cases", "50", "--corpus", str(tmp_path / "c"), "--report", str(tmp_path / "r"),
              "--json"])
        err = capsys.readouterr().err.splitlines()
        command = err[1].split("repeat this campaign with: ", 1)[1]
        assert err[0].endswith("--seed 1") and command.startswith("fuzz run toy --cases 50 --corpus")
        seeds.append(int(command.rsplit("--seed ", 1)[1]))
    assert seeds[0] != seeds[1]
    summaries = [json.loads(p.read_text()) for p in (tmp_path / "r").glob("*/summary.json")]
    assert {s["seed"] for s in summaries if s["budget"]["cases"] == 50} == set(seeds)
    assert {s["command"] for s in summaries} >= {f"fuzz run toy --cases 50 --corpus {tmp_path / 'c'} --report "
                                                 f"{tmp_path / 'r'} --json --seed {seed}" for seed in seeds}


def test_fuzz_list_names_each_fuzzer_and_what_it_checks(capsys, monkeypatch):
    monkeypatch.setenv("UOPFUZZ_FUZZERS", "toy=toy_fuzzer:ToyFuzzer,gone=no_such_module:Fuzzer")
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    from fuzz.symbolic import SymbolicFuzzer

    assert any(line.startswith("symbolic") and SymbolicFuzzer.__doc__.strip().splitlines()[0] in line for line in lines)
    assert any(line.startswith("toy") and "13 in xs is the planted bug" in line for line in lines)
    assert any(line.startswith("gone") and "cannot be loaded" in line for line in lines)
    monkeypatch.setattr(ToyFuzzer, "description", "lists of ints", raising=False)
    assert main(["list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["toy"]["description"] == "lists of ints"


def test_version_and_help_with_exit_statuses(capsys):
    assert main(["--version"]) == 0
    assert "uopfuzz" in capsys.readouterr().out
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "exit statuses" in out and "143" in out and "internal error" in out
    assert main(["run", "--help"]) == 0
    assert "exit statuses" in capsys.readouterr().out


def test_json_output_of_corpus_list_corpus_replay_and_repro(tmp_path, capsys):
    failing, fixed = _saved(tmp_path, [13]), _saved(tmp_path, [12], "mismatch:fixed")
    corpus = str(tmp_path / "corpus")
    assert main(["corpus", "list", "--corpus", corpus, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["path"] for r in rows} == {str(failing), str(fixed)} and {r["signature"] for r in rows} == {
        "mismatch:has13", "mismatch:fixed"}
    assert main(["corpus", "replay", "--corpus", corpus, "--json"]) == 1
    replay = json.loads(capsys.readouterr().out)
    assert replay["failing"] == 1 and {e["path"]: e["still_failing"] for e in replay["entries"]} == {
        str(failing): True, str(fixed): False}
    assert main(["repro", str(failing), "--json"]) == 1
    done = json.loads(capsys.readouterr().out)
    assert done["still_failing"] and done["verdict"]["signature"] == done["recorded_signature"] == "mismatch:has13"


def test_terminal_summary_has_one_repro_line_per_new_finding(tmp_path, capsys):
    args = ["run", "toy", "--cases", "200", "--seed", "1", "--corpus", str(tmp_path / "c"), "--report",
            str(tmp_path / "r"), "--minimize-seconds", "0", "--no-progress"]
    assert main(args) == 1
    [path] = (tmp_path / "c" / "toy").glob("*.json")
    assert capsys.readouterr().out.count(f"fuzz repro {path}\n") == 1
    assert main(args) == 0  # known now: no repro line
    assert "fuzz repro" not in capsys.readouterr().out


def test_corpus_list_piped_into_corpus_replay(tmp_path):
    failing, fixed = _saved(tmp_path, [13]), _saved(tmp_path, [12], "mismatch:fixed")
    listing = _cli("corpus", "list", "--corpus", str(tmp_path / "corpus"))
    assert listing.returncode == 0 and listing.stdout.splitlines()[0].split("\t")[0] in {str(failing), str(fixed)}
    replay = _cli("corpus", "replay", stdin=listing.stdout)
    assert replay.returncode == 1, replay.stderr
    assert f"FAIL {failing}" in replay.stdout and f"ok   {fixed}" in replay.stdout
    assert "2 entries, 1 still failing" in replay.stdout
    only_fixed = _cli("corpus", "replay", stdin=f"{fixed}\n")
    assert only_fixed.returncode == 0 and "1 entries, 0 still failing" in only_fixed.stdout
    shell = subprocess.run(f"{sys.executable} -m fuzz corpus list --corpus {tmp_path / 'corpus'} | "
                           f"{sys.executable} -m fuzz corpus replay", shell=True, capture_output=True, text=True,
                           timeout=300, env=_toy_env())
    assert "2 entries, 1 still failing" in shell.stdout, shell.stderr


def test_more_workers_than_cores_warns(tmp_path, capsys):
    cores = cli.available_cores()
    assert _run(tmp_path, "--workers", str(cores + 1)) == 1
    assert f"--workers {cores + 1} is more than the {cores} cores" in capsys.readouterr().err
    assert _run(tmp_path, "--workers", "1") == 0
    assert "warning" not in capsys.readouterr().err


def test_output_into_a_closed_pipe_exits_quietly(tmp_path):
    for xs in ([13], [12], [11]):
        _saved(tmp_path, xs, f"mismatch:{xs[0]}")
    env = _toy_env()
    for args in (["corpus", "list", "--corpus", str(tmp_path / "corpus")], ["list"], ["--help"]):
        proc = subprocess.Popen([sys.executable, "-m", "fuzz", *args], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        proc.stdout.close()  # like `| head -0`: the reader is gone before anything is written
        err = proc.stderr.read()
        assert proc.wait(timeout=300) in (0, 141) and err == "", err
