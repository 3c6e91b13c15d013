"""fuzz ci: the gate fails only on reproducible regressions not in known.toml; JUnit and Markdown for CI."""

import json
import xml.etree.ElementTree as ET

from fuzz.case import Verdict
from fuzz.cli import main
from fuzz.corpus import make_entry, save_entry
from fuzz.registry import register

register("toy", "toy_fuzzer:ToyFuzzer")
register("flaky-toy", "toy_fuzzer:FlakyToyFuzzer")


def _entry(corpus, xs, signature, fuzzer="toy", **extra):
    return save_entry(corpus, make_entry(fuzzer, {"xs": xs, **extra}, Verdict("mismatch", signature)))


def _ci(tmp_path, *extra, fuzzer="toy"):
    out = tmp_path / "out"
    code = main(
        [
            "ci",
            fuzzer,
            "--seconds",
            "1",
            "--seed",
            "1",
            "--workers",
            "1",
            "--corpus",
            str(tmp_path / "corpus"),
            "--findings",
            str(out),
            "--junit",
            str(out / "junit.xml"),
            "--summary",
            str(out / "summary.md"),
            "--minimize-seconds",
            "1",
            *extra,
        ]
    )
    suites = ET.parse(out / "junit.xml").getroot()
    return code, suites, (out / "summary.md").read_text()


def _cases(suites, suite):
    return {c.get("name"): c for c in suites.find(f"testsuite[@name='{suite}']").findall("testcase")}


def _no_13(tmp_path):
    """A corpus where the toy's planted bug is already known, so campaigns find nothing new."""
    corpus = tmp_path / "corpus"
    fixed = _entry(corpus, [1, 2], "mismatch:has13")  # recorded as failing once; passes now: a fixed bug
    return corpus, fixed


def test_planted_failing_corpus_entry_fails_the_gate_with_junit_and_summary(tmp_path):
    corpus, fixed = _no_13(tmp_path)
    failing = _entry(corpus, [5, 13], "mismatch:old-has13")  # a bug that came back
    code, suites, summary = _ci(tmp_path)
    assert code == 1
    replay = _cases(suites, "corpus replay")
    assert replay[failing.name].find("failure").get("message") == "fails again: mismatch:has13"
    assert replay[fixed.name].find("failure") is None and replay[fixed.name].find("skipped") is None
    [campaign] = _cases(suites, "campaigns").values()
    assert campaign.get("name") == "toy" and campaign.find("failure") is None  # has13 is a known signature
    assert suites.get("tests") == "3" and suites.get("failures") == "1"
    assert summary.startswith("## fuzz ci: FAILED") and f"`{failing}` fails again: `mismatch:has13`" in summary
    assert set((corpus / "toy").iterdir()) == {fixed, failing}  # the campaign wrote nothing into the corpus


def test_known_toml_entry_is_reported_not_failed_on(tmp_path):
    corpus, _ = _no_13(tmp_path)
    failing = _entry(corpus, [13], "mismatch:old-has13")
    (corpus / "known.toml").write_text(
        '[toy]\n"mismatch:has13" = "issue 99: 13 is unlucky, fix pending"\n"mismatch:gone" = "fixed long ago"\n'
    )
    code, suites, summary = _ci(tmp_path)
    assert code == 0
    skipped = _cases(suites, "corpus replay")[failing.name].find("skipped")
    assert "issue 99" in skipped.get("message") and suites.get("failures") == "0"
    assert "### Known open failures" in summary and "issue 99: 13 is unlucky" in summary
    assert "mismatch:gone" in summary.split("not seen this run")[1]  # a stale known line is pointed out


def test_new_campaign_finding_fails_the_gate_unless_known(tmp_path, capsys):
    (tmp_path / "corpus").mkdir()
    code, suites, summary = _ci(tmp_path, "--json")
    gate = json.loads(capsys.readouterr().out)
    assert code == 1 and gate["exit_code"] == 1
    [campaign] = gate["campaigns"]
    [finding] = campaign["failed"]
    assert finding["signature"] == "mismatch:has13" and finding["corpus_path"].startswith(str(tmp_path / "out"))
    assert not list((tmp_path / "corpus").iterdir())  # findings go to the findings folder, not the corpus
    failure = _cases(suites, "campaigns")["toy"].find("failure")
    assert "mismatch:has13" in failure.get("message") and f"fuzz repro {finding['corpus_path']}" in failure.text
    assert "new finding `mismatch:has13`" in summary
    (tmp_path / "corpus" / "known.toml").write_text('[toy]\n"mismatch:has13" = "planted"\n')
    code, suites, summary = _ci(tmp_path, "--findings", str(tmp_path / "out2"))
    assert code == 0 and "- toy: `mismatch:has13`: planted" in summary


def test_a_flaky_corpus_entry_is_reported_and_never_fails(tmp_path):
    corpus, _ = _no_13(tmp_path)
    flaky = _entry(corpus, [], "mismatch:once", fuzzer="flaky-toy", once=str(tmp_path / "marker"))
    code, suites, summary = _ci(tmp_path)
    assert code == 0
    assert "flaky: mismatch:once" in _cases(suites, "corpus replay")[flaky.name].find("system-out").text
    assert "### Flaky" in summary and str(flaky) in summary


def test_a_corrupt_entry_is_named_and_the_rest_still_replay(tmp_path, capsys):
    corpus, fixed = _no_13(tmp_path)
    bad = corpus / "toy" / "broken.json"
    bad.write_text('{"fuzzer": "toy", "case": ')
    failing = _entry(corpus, [13], "mismatch:old-has13")
    code, suites, summary = _ci(tmp_path)
    replay = _cases(suites, "corpus replay")
    assert code == 1 and replay[failing.name].find("failure") is not None  # replayed after the corrupt one
    assert str(bad) in replay["broken.json"].find("error").get("message") and str(bad) in summary
    failing.unlink()
    assert _ci(tmp_path)[0] == 2  # corrupt and nothing failing: bad input
    capsys.readouterr()
    assert main(["corpus", "replay", "--corpus", str(corpus)]) == 2
    out, err = capsys.readouterr()
    assert str(bad) in err and f"ok   {fixed}" in out and "2 entries, 0 still failing, 1 corrupt" in out


def test_malformed_known_file_is_bad_input_naming_it(tmp_path, capsys):
    (tmp_path / "corpus").mkdir()
    known = tmp_path / "corpus" / "known.toml"
    known.write_text('[toy]\n"mismatch:has13" = ""\n')
    assert main(["ci", "toy", "--seconds", "1", "--corpus", str(tmp_path / "corpus")]) == 2
    assert f"{known}: [toy] 'mismatch:has13' needs a reason" in capsys.readouterr().err
    known.write_text("[toy\n")
    assert main(["ci", "toy", "--seconds", "1", "--corpus", str(tmp_path / "corpus")]) == 2
    assert f"{known}: not valid TOML" in capsys.readouterr().err


def test_summary_names_the_rules_no_case_reached(tmp_path, monkeypatch):
    from toy_fuzzer import ToyFuzzer

    monkeypatch.setattr(ToyFuzzer, "coverage_keys", lambda self: ["checked", "never-fires"])
    _no_13(tmp_path)
    code, _, summary = _ci(tmp_path)
    assert code == 0 and "toy: 1 rules no case reached: `never-fires`" in summary
