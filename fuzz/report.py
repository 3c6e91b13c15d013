"""Campaign reports: reports/<campaign-id>/summary.json, junit.xml for CI, report.html, and a terminal summary."""

from __future__ import annotations

import json
import os
import shlex
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from fuzz.atomic import atomic_write_text
from fuzz.case import STATUSES, strict_dumps
from fuzz.errors import BadInputError

TOP_RULES = 15
HTML_NAME = "report.html"


class ReportError(BadInputError):
    """A report directory without a readable summary.json."""


def write_report(summary: dict[str, Any], out_dir: str | os.PathLike[str]) -> Path:
    """Write summary.json, junit.xml and report.html into out_dir; return out_dir."""
    from fuzz.report_html import write_html_report

    out = write_partial_report(summary, out_dir)
    write_html_report(summary, out / HTML_NAME)
    return out


def write_partial_report(summary: dict[str, Any], out_dir: str | os.PathLike[str]) -> Path:
    """Write junit.xml, then summary.json (strict JSON), each atomically: the checkpoint of a running campaign.

    summary.json goes last, so whatever it lists, junit.xml lists too, even after a kill -9 between the two.
    """
    out = Path(out_dir)
    atomic_write_text(out / "junit.xml", junit_xml(summary))
    atomic_write_text(out / "summary.json", strict_dumps(summary, indent=2, sort_keys=True) + "\n")
    return out


def load_summary(report_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Load reports/<id>/summary.json (or the file itself); raise ReportError naming the file if unreadable."""
    path = Path(report_dir)
    if path.is_dir():
        path = path / "summary.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{path}: no such report summary") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ReportError(f"{path}: cannot read report summary ({e})") from None
    except json.JSONDecodeError as e:
        raise ReportError(f"{path}: corrupt report summary, not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(summary, dict) or "counts" not in summary or "findings" not in summary:
        raise ReportError(f"{path}: not a campaign summary (no 'counts' or 'findings')")
    return summary


def junit_xml(summary: dict[str, Any]) -> str:
    """One testcase per finding (new findings fail); a 'campaign' testcase, in error if the campaign did not end
    normally (interrupted, an internal error, or still running / killed: a checkpoint)."""
    findings = summary.get("findings", [])
    new = [f for f in findings if f.get("new")]
    problem = _campaign_problem(summary)
    suite = ET.Element(
        "testsuite",
        name=f"fuzz.{summary.get('campaign_id', 'campaign')}",
        tests=str(len(findings) + (1 if problem or not findings else 0)),
        failures=str(len(new)),
        errors="1" if problem else "0",
        time=f"{summary.get('elapsed', 0.0):.3f}",
    )
    properties = ET.SubElement(suite, "properties")
    for name in ("seed", "complete", "interrupted", "interrupted_by", "exit_code", "command"):
        value = summary.get(name)
        text = "" if value is None else json.dumps(value) if isinstance(value, bool) else str(value)
        ET.SubElement(properties, "property", name=name, value=text)
    for f in findings:
        case = ET.SubElement(suite, "testcase", classname=f"fuzz.{f['fuzzer']}", name=f["signature"])
        text = (
            f"{f['status']} {f['signature']}\ncorpus entry: {f['corpus_path']}\n"
            f"size {f['size_before']} -> {f['size_after']}, {f.get('duplicates', 0)} duplicates"
        )
        if f.get("save_error"):
            text += f"\nNOT SAVED: {f['save_error']}; the case is in summary.json"
        if f.get("new"):
            failure = ET.SubElement(case, "failure", message=f"new {f['status']}: {f['signature']}", type=f["status"])
            failure.text = text
        else:
            ET.SubElement(case, "system-out").text = "known failure, already in the corpus\n" + text
    if problem:
        campaign = ET.SubElement(suite, "testcase", classname="fuzz", name="campaign")
        ET.SubElement(campaign, "error", message=problem, type="campaign")
    elif not findings:
        ET.SubElement(suite, "testcase", classname="fuzz", name="campaign")
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def _campaign_problem(summary: dict[str, Any]) -> str:
    """Why the campaign did not end normally, in one line ("" if it did)."""
    if summary.get("error"):
        return f"internal error of the harness (exit {summary.get('exit_code')}): {summary['error']}"
    if summary.get("interrupted"):
        by = summary.get("interrupted_by") or "a signal"
        return f"campaign interrupted by {by} (exit {summary.get('exit_code')}); the report covers what ran"
    if summary.get("complete") is False:
        return "campaign still running or killed: this is a checkpoint of a partial report"
    return ""


def report_console() -> Console:
    """A console for stdout; wide enough that CI logs (not a terminal) keep paths and signatures whole."""
    return Console() if sys.stdout.isatty() else Console(width=160)


def render_summary(summary: dict[str, Any], console: Console | None = None) -> None:
    """Print a campaign summary as rich tables."""
    console = console or report_console()
    budget = summary.get("budget", {})
    budget_text = ", ".join(f"{v} {k}" for k, v in budget.items() if v is not None) or "?"
    overview = Table(title=f"fuzz campaign {summary.get('campaign_id', '')}", show_header=False)
    overview.add_column(style="bold")
    overview.add_column(overflow="fold")
    rows = [
        ("fuzzers", ", ".join(summary.get("fuzzers", []))),
        ("seed", str(summary.get("seed"))),
        ("budget", budget_text),
        ("workers", str(summary.get("workers"))),
        ("cases", f"{summary.get('cases', 0):,} ({summary.get('cases_per_s', 0):,.0f}/s)"),
        ("elapsed", f"{summary.get('elapsed', 0):.1f} s (triage {summary.get('triage_seconds', 0):.1f} s)"),
        ("verdicts", "  ".join(f"{s} {summary['counts'].get(s, 0):,}" for s in STATUSES)),
        (
            "findings",
            f"{summary.get('new_findings', 0)} new, {summary.get('known_findings', 0)} known, "
            f"{summary.get('duplicates', 0)} duplicates, {summary.get('flaky', 0)} flaky, "
            f"{summary.get('inconclusive', 0)} inconclusive",
        ),
        ("rules hit", str(summary.get("rules_hit", 0))),
        *_coverage_rows(summary),
    ]
    problem = _campaign_problem(summary)
    if problem:
        rows.append(("ended", problem))
    if summary.get("command"):
        rows.append(("repeat with", summary["command"]))
    if summary.get("report_dir"):
        rows.append(("report", summary["report_dir"]))
    for row in rows:
        overview.add_row(*row)
    console.print(overview)
    if summary["findings"]:
        table = Table(title="findings")
        for column in ("fuzzer", "status", "signature", "new", "size", "dups", "corpus entry"):
            table.add_column(column, overflow="fold")
        for f in summary["findings"]:
            table.add_row(
                f["fuzzer"],
                f["status"],
                f["signature"],
                "[red]new[/]" if f["new"] else "known",
                f"{f['size_before']} -> {f['size_after']}",
                str(f.get("duplicates", 0)),
                f["corpus_path"],
            )
        console.print(table)
    for f in summary["findings"]:
        if f.get("save_error"):
            console.print(f"[red]not saved[/] {f['signature']}: {f['save_error']} (the case is in summary.json)")
        elif f.get("new"):  # one line per new finding, ready to paste
            console.print(f"fuzz repro {shlex.quote(f['corpus_path'])}", soft_wrap=True, highlight=False, markup=False)
    for error in summary.get("generator_errors", []):
        console.print(
            f"[red]generator error[/] in {error['fuzzer']} case {error['case_index']}: {error['verdict']['signature']}"
        )
    coverage = summary.get("coverage", {})
    if coverage:
        table = Table(title=f"rule coverage ({len(coverage)} rules)")
        table.add_column("rule")
        table.add_column("hits", justify="right")
        for rule, hits in sorted(coverage.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_RULES]:
            table.add_row(rule, f"{hits:,}")
        console.print(table)


def _coverage_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """Rows naming the coverage keys no case reached, those no case can reach (with why), and guidance figures."""
    hit, unreachable = summary.get("coverage", {}), summary.get("coverage_unreachable", {})
    never = [k for k in summary.get("coverage_rules", []) if not hit.get(k) and k not in unreachable]
    rows = [("never reached", ", ".join(never) or "none")] if summary.get("coverage_rules") else []
    rows += [(f"unreachable {k}", why) for k, why in unreachable.items()]
    guidance = summary.get("guidance") or {}
    for name, g in guidance.get("fuzzers", {}).items():
        rows.append((f"guided {name}", f"{g['rounds']} rounds of {guidance['round_cases']}, pool {g['pool']}"))
    branches = guidance.get("branch_coverage")
    if branches:
        rows.append(
            (
                "branch coverage",
                f"{branches['file']}: {branches['arcs']} arcs, lines {branches['lines']} of {branches['lines_total']} "
                f"({branches['line_percent']}%)",
            )
        )
    return rows


def print_report(
    report_dir: str | os.PathLike[str],
    console: Console | None = None,
    html_path: str | os.PathLike[str] | None = None,
) -> Path:
    """Re-print a saved report and (re)write its HTML page (default: report.html beside summary.json); return
    the page's path. An unreadable summary raises ReportError before anything is written."""
    from fuzz.report_html import write_html_report

    summary = load_summary(report_dir)
    render_summary(summary, console)
    source = Path(report_dir)
    page = Path(html_path) if html_path is not None else (source if source.is_dir() else source.parent) / HTML_NAME
    if not page.parent.is_dir():
        raise ReportError(f"--html {page}: directory {page.parent} does not exist")
    try:
        return write_html_report(summary, page)
    except OSError as e:
        raise ReportError(f"{page}: cannot write the report page ({e.strerror or e})") from None
