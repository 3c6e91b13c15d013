"""The HTML campaign report: written by `fuzz report` and `fuzz run`, self-contained, escaped, plots or a fallback."""

import base64
import json
import re
import sys

from toy_fuzzer import ToyFuzzer

from fuzz.campaign import MAX_TIMELINE, CampaignResult, _Timeline, run_campaign
from fuzz.cli import main
from fuzz.registry import register

register("toy", "toy_fuzzer:ToyFuzzer")

EVIL = 'mismatch:not-equal:<script>alert("x")</script>&rule'


def _summary(**changes):
    """A crafted campaign summary with one new finding whose signature holds HTML."""
    summary = {
        "campaign_id": "20260101-000000-toy-seed3",
        "fuzzers": ["toy"],
        "seed": 3,
        "workers": 2,
        "budget": {"seconds": 10.0, "cases": None},
        "cases": 4321,
        "cases_per_s": 432.1,
        "elapsed": 10.2,
        "fuzz_seconds": 10.0,
        "triage_seconds": 0.2,
        "engine_version": "9.8.7",
        "counts": {"pass": 4000, "mismatch": 300, "crash": 17, "timeout": 4, "invalid": 0},
        "per_fuzzer": {"toy": {"cases": 4321, "pass": 4000, "mismatch": 300, "crash": 17, "timeout": 4}},
        "findings": [
            {
                "fuzzer": "toy",
                "signature": EVIL,
                "status": "mismatch",
                "case_index": 12,
                "new": True,
                "corpus_path": "corpus/toy/evil entry.json",
                "size_before": 57,
                "size_after": 14,
                "duplicates": 299,
            }
        ],
        "failures": [
            {"fuzzer": "toy", "case_index": 5, "status": "crash", "signature": "crash:SIGSEGV", "case_hash": "ab"},
            {"fuzzer": "toy", "case_index": 9, "status": "timeout", "signature": "timeout<&>", "case_hash": "cd"},
        ],
        "generator_errors": [{"fuzzer": "toy", "case_index": 7, "verdict": {"signature": "exception:Gen<Err>"}}],
        "coverage": {"fold_<b>": 120, "const_fold": 4000},
        "coverage_rules": ["const_fold", "fold_<b>", "never_fired"],
        "timeline": [
            {"t": 0.0, "cases": 0, "findings": 0, "timeouts": 0, "crashes": 0},
            {"t": 5.0, "cases": 2000, "findings": 1, "timeouts": 2, "crashes": 9},
            {"t": 10.2, "cases": 4321, "findings": 1, "timeouts": 4, "crashes": 17},
        ],
    }
    summary.update(changes)
    return summary


def _saved(tmp_path, summary):
    out = tmp_path / "report"
    out.mkdir()
    (out / "summary.json").write_text(json.dumps(summary))
    return out


def _images(page):
    return re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)">', page)


def test_fuzz_report_writes_html_with_header_verdicts_findings_and_escaped_signature(tmp_path, capsys):
    out = _saved(tmp_path, _summary())
    assert main(["report", str(out)]) == 0
    assert str(out / "report.html") in capsys.readouterr().out
    page = (out / "report.html").read_text()
    assert "20260101-000000-toy-seed3" in page and "9.8.7" in page and "10.2 s" in page
    assert '<td>mismatch</td><td class="num">300</td>' in page and "4,000" in page
    assert "mismatch:not-equal:&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;rule" in page
    assert "<script" not in page and "timeout&lt;&amp;&gt;" in page and "fold_&lt;b&gt;" in page
    assert '<td class="new">new</td>' in page and "57 -&gt; 14" in page
    assert "fuzz repro &#x27;corpus/toy/evil entry.json&#x27;" in page
    assert "crash:SIGSEGV" in page and "17 crashes" in page and "exception:Gen&lt;Err&gt;" in page
    assert re.search(r"Rules never hit \(1 of 3\).*never_fired", page, re.S)


def test_report_page_embeds_png_plots_and_no_external_assets(tmp_path):
    out = _saved(tmp_path, _summary())
    assert main(["report", str(out)]) == 0
    page = (out / "report.html").read_text()
    images = _images(page)
    assert len(images) == 3  # progress, findings over time, rule coverage
    assert all(base64.b64decode(image).startswith(b"\x89PNG\r\n\x1a\n") for image in images)
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page) and "<link" not in page


def test_old_summary_without_timeline_renders_and_says_so(tmp_path):
    summary = _summary()
    del summary["timeline"], summary["engine_version"], summary["coverage_rules"]
    out = _saved(tmp_path, summary)
    assert main(["report", str(out)]) == 0
    page = (out / "report.html").read_text()
    assert "no timeline" in page and "not recorded" in page and "Rules never hit: unknown" in page
    assert len(_images(page)) == 1  # only the rule-coverage chart


def test_report_without_matplotlib_writes_page_without_plots_and_says_why(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now raises ImportError
    out = _saved(tmp_path, _summary())
    assert main(["report", str(out)]) == 0
    page = (out / "report.html").read_text()
    assert _images(page) == [] and "matplotlib is not installed" in page
    assert "4,000" in page and "&lt;script&gt;" in page
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "matplotlib" in err and "report.html" in err


def test_bad_or_missing_summary_exits_2_and_leaves_existing_report_html_untouched(tmp_path, capsys):
    out = tmp_path / "report"
    out.mkdir()
    (out / "report.html").write_text("the old page")
    assert main(["report", str(out)]) == 2  # no summary.json
    (out / "summary.json").write_text('{"counts": {"pass": ')
    assert main(["report", str(out)]) == 2
    (out / "summary.json").write_text('{"counts": {}}')  # valid JSON, not a summary
    assert main(["report", str(out), "--html", str(tmp_path / "other.html")]) == 2
    err = capsys.readouterr().err
    assert err.count(str(out / "summary.json")) == 3 and "Traceback" not in err
    assert (out / "report.html").read_text() == "the old page" and not (tmp_path / "other.html").exists()


def test_html_option_chooses_the_path_and_a_missing_directory_exits_2(tmp_path, capsys):
    out = _saved(tmp_path, _summary())
    assert main(["report", str(out / "summary.json"), "--html", str(tmp_path / "page.html")]) == 0
    assert "4,000" in (tmp_path / "page.html").read_text() and not (out / "report.html").exists()
    assert main(["report", str(out), "--html", str(tmp_path / "nowhere" / "page.html")]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_fuzz_run_writes_report_html_next_to_summary_with_a_timeline(tmp_path, capsys):
    argv = ["run", "toy", "--cases", "300", "--seed", "1", "--workers", "2", "--json"]
    argv += ["--corpus", str(tmp_path / "corpus"), "--report", str(tmp_path / "reports"), "--minimize-seconds", "5"]
    assert main(argv) == 1  # the planted bug is a new finding
    summary = json.loads(capsys.readouterr().out)
    [out] = (tmp_path / "reports").iterdir()
    page = (out / "report.html").read_text()
    assert "mismatch:has13" in page and "fuzz repro " in page and "300" in page
    assert len(_images(page)) == 3
    timeline = summary["timeline"]
    assert timeline[-1]["cases"] == 300 and timeline[-1]["findings"] == 1
    assert [s["t"] for s in timeline] == sorted(s["t"] for s in timeline)
    assert [s["cases"] for s in timeline] == sorted(s["cases"] for s in timeline)
    assert summary["engine_version"]


def test_timeline_samples_every_interval_and_thins_to_stay_compact():
    result = CampaignResult("id", ["toy"], 0, {}, 1)
    timeline = _Timeline(result, t0=100.0)
    for k in range(40):
        timeline.sample(100.0 + k * 0.1)
    assert [s["t"] for s in result.timeline] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
    for k in range(4 * MAX_TIMELINE):
        timeline.sample(104.0 + k * 0.5)
    assert MAX_TIMELINE // 2 <= len(result.timeline) <= MAX_TIMELINE and result.timeline[0]["t"] == 0.0
    timeline.sample(2000.0, force=True)
    assert result.timeline[-1]["t"] == 1900.0
    count = len(result.timeline)
    timeline.sample(2000.1, force=True)  # the closing sample replaces one just before it
    assert len(result.timeline) == count and result.timeline[-1]["t"] == 1900.1


def test_campaign_records_the_rules_fuzzers_declare(tmp_path, monkeypatch):
    monkeypatch.setattr(ToyFuzzer, "coverage_keys", lambda self: ["found13", "checked", "never"], raising=False)
    result = run_campaign(["toy"], cases=20, seed=0, corpus_dir=tmp_path, report_dir=None, minimize_seconds=0)
    assert result.coverage_rules == ["checked", "found13", "never"]


def test_partial_and_interrupted_summaries_say_so_on_the_page():
    from fuzz.report_html import render_html

    partial = render_html(_summary(complete=False, exit_code=None, command="fuzz run toy --seed 3"))
    assert "a checkpoint" in partial and "none yet" in partial and "fuzz run toy --seed 3" in partial
    stopped = render_html(_summary(complete=True, interrupted=True, interrupted_by="SIGTERM", exit_code=143))
    assert "by SIGTERM" in stopped and "143" in stopped
    broken = render_html(_summary(complete=True, error="RuntimeError: triage failed", exit_code=3))
    assert "RuntimeError: triage failed" in broken
