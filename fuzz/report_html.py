"""The campaign report page: one self-contained report.html with tables and matplotlib plots as inline PNGs."""

from __future__ import annotations

import base64
import html
import io
import os
import shlex
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fuzz.atomic import atomic_write_text
from fuzz.case import STATUSES

MAX_FAILURE_ROWS = 50  # timeouts and crashes listed one by one on the page; the rest are counted
MAX_PLOT_RULES = 40  # bars in the rule-coverage chart (the table lists every rule)

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; } td.code { font-family: monospace; word-break: break-all; }
.new { color: #b00; font-weight: bold; } .note { color: #777; font-style: italic; }
img { max-width: 100%; display: block; margin: 0.5em 0; }
"""


@dataclass
class Plots:
    """The page's plots as PNG data URIs by name, and why any of them is missing."""

    images: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    unavailable: str = ""  # set when no plot could be drawn at all (matplotlib missing)


def write_html_report(summary: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Render the summary as a self-contained HTML page and write it atomically to path; return path."""
    plots = make_plots(summary)
    if plots.unavailable:
        print(f"fuzz: {path}: written without plots: {plots.unavailable}", file=sys.stderr)
    return atomic_write_text(path, render_html(summary, plots))


def _matplotlib() -> tuple[Any, Any]:
    """Figure and the Agg canvas class; ImportError if matplotlib is not installed."""
    import matplotlib  # noqa: F401  (imported first so a missing package fails here, not in a submodule)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    return Figure, FigureCanvasAgg


def make_plots(summary: dict[str, Any]) -> Plots:
    """Draw the time series and rule-coverage plots that the summary has data for."""
    plots = Plots()
    timeline = _timeline(summary)
    if len(timeline) < 2:
        plots.notes.append("This summary has no timeline (older campaign, or it ended at once): no plots over time.")
    try:
        figure, canvas = _matplotlib()
    except ImportError as e:
        plots.unavailable = f"matplotlib is not installed ({e}); pip install 'uopfuzz[report]' for plots"
        return plots
    if len(timeline) >= 2:
        plots.images["progress"] = _png(canvas, _progress_figure(figure, timeline))
        plots.images["findings"] = _png(canvas, _findings_figure(figure, timeline))
    coverage = _coverage(summary)
    if coverage:
        plots.images["coverage"] = _png(canvas, _coverage_figure(figure, coverage))
    return plots


def _png(canvas_class: Any, fig: Any) -> str:
    buf = io.BytesIO()
    canvas_class(fig).print_png(buf)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _timeline(summary: dict[str, Any]) -> list[dict[str, float]]:
    samples = summary.get("timeline")
    if not isinstance(samples, list):
        return []
    return [s for s in samples if isinstance(s, dict) and isinstance(s.get("t"), (int, float))]


def _coverage(summary: dict[str, Any]) -> list[tuple[str, int]]:
    """(rule, hits) of every rule that fired, most hits first."""
    coverage = summary.get("coverage")
    if not isinstance(coverage, dict):
        return []
    hits = [(str(rule), n) for rule, n in coverage.items() if isinstance(n, int) and n > 0]
    return sorted(hits, key=lambda kv: (-kv[1], kv[0]))


def _progress_figure(figure: Any, timeline: list[dict[str, float]]) -> Any:
    fig = figure(figsize=(9, 4.5), dpi=100, layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    t = [s["t"] for s in timeline]
    cases = [s.get("cases", 0) for s in timeline]
    top.plot(t, cases, color="tab:blue")
    top.set_ylabel("cases done")
    top.set_title("cases over time")
    # Rate between consecutive samples, drawn at the end of each interval.
    rate_t = [t1 for t0, t1 in zip(t, t[1:]) if t1 > t0]
    rate = [(c1 - c0) / (t1 - t0) for t0, t1, c0, c1 in zip(t, t[1:], cases, cases[1:]) if t1 > t0]
    bottom.step(rate_t, rate, where="pre", color="tab:green")
    bottom.set_ylabel("cases / s")
    bottom.set_xlabel("seconds since start")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    return fig


def _findings_figure(figure: Any, timeline: list[dict[str, float]]) -> Any:
    """Findings (confirmed signatures) above; timeout and crash verdicts (cases, often far more) below."""
    fig = figure(figsize=(9, 4.5), dpi=100, layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    t = [s["t"] for s in timeline]
    series = {key: [s.get(key, 0) for s in timeline] for key in ("findings", "timeouts", "crashes")}
    top.plot(t, series["findings"], color="tab:red", marker=".")
    top.set_ylabel("findings")
    top.set_title("findings, timeouts and crashes over time")
    bottom.plot(t, series["timeouts"], color="tab:orange", label="timeout verdicts")
    bottom.plot(t, series["crashes"], color="tab:purple", label="crash verdicts")
    bottom.set_ylabel("cases so far")
    bottom.set_xlabel("seconds since start")
    bottom.legend(loc="upper left")
    for ax, keys in ((top, ("findings",)), (bottom, ("timeouts", "crashes"))):
        ax.set_ylim(0, max(1, *(max(series[k]) for k in keys)) * 1.1)
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    return fig


def _coverage_figure(figure: Any, coverage: list[tuple[str, int]]) -> Any:
    shown = coverage[:MAX_PLOT_RULES]
    fig = figure(figsize=(9, 1 + 0.22 * len(shown)), dpi=100, layout="constrained")
    ax = fig.subplots()
    names = [rule for rule, _ in shown][::-1]  # most hits at the top
    ax.barh(names, [n for _, n in shown][::-1], color="tab:blue")
    ax.set_xscale("log")
    ax.set_xlim(left=0.5)  # a rule hit once still gets a visible bar
    ax.set_xlabel("hits (log scale)")
    more = f", top {len(shown)} of {len(coverage)}" if len(coverage) > len(shown) else ""
    ax.set_title(f"rule coverage ({len(coverage)} rules hit{more})")
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(axis="x", alpha=0.3)
    return fig


# ---------------------------------------------------------------- HTML
def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


@dataclass(frozen=True)
class Cell:
    """A table cell with its own CSS class."""

    text: Any
    cls: str


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], classes: Sequence[str] = ()) -> str:
    """An HTML table; every cell is escaped, `classes` gives each column's CSS class ('num', 'code' or '')."""
    head = f"<tr>{''.join(f'<th>{_e(h)}</th>' for h in headers)}</tr>\n" if headers else ""
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            cls = classes[i] if i < len(classes) else ""
            if isinstance(cell, Cell):
                cell, cls = cell.text, cell.cls
            cells.append(f'<td class="{cls}">{_e(cell)}</td>' if cls else f"<td>{_e(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table>{head}" + "\n".join(body) + "</table>"


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _img(plots: Plots, name: str, alt: str) -> str:
    uri = plots.images.get(name)
    return f'<img alt="{_e(alt)}" src="{uri}">' if uri else ""


def _num(value: Any, fmt: str = ",") -> str:
    return format(value, fmt) if isinstance(value, (int, float)) else "?"


def _header(summary: dict[str, Any]) -> str:
    budget = summary.get("budget") or {}
    budget_text = ", ".join(f"{v} {k}" for k, v in budget.items() if v is not None) if isinstance(budget, dict) else ""
    fuzzers = summary.get("fuzzers") or []
    rows = [
        ("campaign", summary.get("campaign_id", "?")),
        ("fuzzers", ", ".join(map(str, fuzzers)) if isinstance(fuzzers, list) else fuzzers),
        ("seed", summary.get("seed", "?")),
        ("workers", summary.get("workers", "?")),
        ("budget", budget_text or "?"),
        (
            "duration",
            f"{_num(summary.get('elapsed'), '.1f')} s (fuzzing {_num(summary.get('fuzz_seconds'), '.1f')} s, "
            f"triage {_num(summary.get('triage_seconds'), '.1f')} s)",
        ),
        ("cases", f"{_num(summary.get('cases'))} ({_num(summary.get('cases_per_s'), ',.0f')}/s)"),
        ("engine version", summary.get("engine_version") or "not recorded"),
        ("worker respawns", summary.get("worker_respawns", 0)),
        ("corpus", summary.get("corpus_dir", "?")),
        ("exit code", summary.get("exit_code", "?") if summary.get("complete") is not False else "none yet"),
    ]
    if summary.get("command"):
        rows.append(("repeat with", summary["command"]))
    if summary.get("complete") is False:
        rows.append(("partial", "a checkpoint: the campaign was still running, or was killed"))
    if summary.get("interrupted"):
        by = summary.get("interrupted_by") or "a signal"
        rows.append(("interrupted", f"yes, by {by}: the budget was not used up"))
    if summary.get("error"):
        rows.append(("internal error", summary["error"]))
    return _table((), rows, ("", "code"))


def _verdicts(summary: dict[str, Any]) -> str:
    counts = summary.get("counts") or {}
    total = sum(n for n in counts.values() if isinstance(n, int)) or 1
    statuses = list(STATUSES) + sorted(set(counts) - set(STATUSES))
    rows = [(s, _num(counts.get(s, 0)), f"{100 * counts.get(s, 0) / total:.2f} %") for s in statuses]
    out = [_table(("verdict", "cases", "share"), rows, ("", "num", "num"))]
    per_fuzzer = summary.get("per_fuzzer") or {}
    if isinstance(per_fuzzer, dict) and per_fuzzer:
        columns = ("cases", *statuses, "findings")
        rows = [(name, *(_num(stats.get(c, 0)) for c in columns)) for name, stats in per_fuzzer.items()]
        out.append(_table(("fuzzer", *columns), rows, ("", *("num" for _ in columns))))
    return "\n".join(out)


def _findings(summary: dict[str, Any]) -> str:
    findings = [f for f in summary.get("findings") or [] if isinstance(f, dict)]
    line = (
        f"{summary.get('new_findings', 0)} new, {summary.get('known_findings', 0)} known, "
        f"{summary.get('duplicates', 0)} duplicates, {summary.get('flaky', 0)} flaky reports, "
        f"{summary.get('inconclusive', 0)} inconclusive (the oracle could not decide; counted, not findings)"
    )
    if not findings:
        return f"<p>{_e(line)}.</p>" + _note("No findings.")
    rows = []
    for f in findings:
        path = str(f.get("corpus_path", "?"))
        rows.append(
            (
                f.get("signature", "?"),
                f.get("fuzzer", "?"),
                f.get("status", "?"),
                Cell("new", "new") if f.get("new") else "known",
                f"{f.get('size_before', '?')} -> {f.get('size_after', '?')}",
                f.get("duplicates", 0),
                path,
                f"fuzz repro {shlex.quote(path)}",
            )
        )
    headers = ("signature", "fuzzer", "status", "new/known", "size before -> after", "duplicates")
    table = _table(
        (*headers, "corpus entry", "reproduce"),
        rows,
        ("code", "", "", "", "num", "num", "code", "code"),
    )
    return f"<p>{_e(line)}.</p>\n{table}"


def _timeouts_and_crashes(summary: dict[str, Any]) -> str:
    counts = summary.get("counts") or {}
    out = [f"<p>{_e(_num(counts.get('timeout', 0)))} timeouts, {_e(_num(counts.get('crash', 0)))} crashes.</p>"]
    failures = [f for f in summary.get("failures") or [] if isinstance(f, dict)]
    bad = [f for f in failures if f.get("status") in ("timeout", "crash")]
    if bad:
        rows = [
            (f.get("fuzzer", "?"), f.get("case_index", "?"), f.get("status", "?"), f.get("signature", "?"))
            for f in bad[:MAX_FAILURE_ROWS]
        ]
        out.append(_table(("fuzzer", "case", "status", "signature"), rows, ("", "num", "", "code")))
        if len(bad) > MAX_FAILURE_ROWS:
            out.append(_note(f"... and {len(bad) - MAX_FAILURE_ROWS} more in summary.json"))
    errors = [e for e in summary.get("generator_errors") or [] if isinstance(e, dict)]
    if errors:
        out.append("<p>Generator errors (harness bugs, not findings):</p>")
        error_rows = [
            (e.get("fuzzer", "?"), e.get("case_index", "?"), (e.get("verdict") or {}).get("signature", "?"))
            for e in errors
        ]
        out.append(_table(("fuzzer", "case", "signature"), error_rows, ("", "num", "code")))
    return "\n".join(out)


def _rule_coverage(summary: dict[str, Any], plots: Plots) -> str:
    coverage = _coverage(summary)
    total = sum(n for _, n in coverage) or 1
    out = [f"<p>{len(coverage)} rules hit, {_e(_num(sum(n for _, n in coverage)))} hits in all.</p>"]
    out.append(_img(plots, "coverage", "rule coverage bar chart"))
    if coverage:
        rows = [(rule, _num(n), f"{100 * n / total:.2f} %") for rule, n in coverage]
        out.append(_table(("rule", "hits", "share"), rows, ("code", "num", "num")))
    else:
        out.append(_note("No rule coverage recorded."))
    known = summary.get("coverage_rules")
    if isinstance(known, list) and known:
        hit = {rule for rule, _ in coverage}
        never = sorted(str(rule) for rule in known if str(rule) not in hit)
        out.append(f"<p>Rules never hit ({len(never)} of {len(known)}):</p>")
        out.append(f'<p class="code">{_e(", ".join(never))}</p>' if never else _note("none: every rule fired"))
    else:
        out.append(_note("Rules never hit: unknown, the summary does not list the fuzzers' rules (coverage_rules)."))
    return "\n".join(out)


def render_html(summary: dict[str, Any], plots: Plots | None = None) -> str:
    """The report page of a campaign summary; pass `plots` from make_plots (none: a page without plots)."""
    plots = plots or Plots(unavailable="no plots requested")
    title = f"fuzz campaign {summary.get('campaign_id', '')}"
    progress = _img(plots, "progress", "cases and cases per second over time")
    findings_plot = _img(plots, "findings", "findings over time")
    notes = [plots.unavailable and f"No plots: {plots.unavailable}.", *plots.notes]
    sections = [
        f"<h1>{_e(title)}</h1>",
        _header(summary),
        *(_note(n) for n in notes if n),
        "<h2>Verdicts</h2>",
        _verdicts(summary),
        "<h2>Progress</h2>",
        (progress + findings_plot) or _note("No plots over time."),
        "<h2>Findings</h2>",
        _findings(summary),
        "<h2>Timeouts and crashes</h2>",
        _timeouts_and_crashes(summary),
        "<h2>Rule coverage</h2>",
        _rule_coverage(summary, plots),
    ]
    body = "\n".join(sections)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )
