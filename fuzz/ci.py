"""The CI gate, `fuzz ci`: replay the whole corpus, then a short seeded campaign of each fuzzer.

The rule it enforces: the gate fails (exit 1) only on a reproducible regression, that is a corpus entry that fails
on two runs in a row, or a new finding its campaign confirmed by re-running it, unless the known-failures file
(`corpus/known.toml`: per fuzzer, "signature" = "reason") lists that signature; such a failure is reported as known.
A failure that does not repeat is flaky: reported, never failing. A corrupt corpus entry is reported naming its file
and the rest still replay (exit 2 when nothing failed). Campaigns save their findings to <findings>/corpus and their
reports to <findings>/reports, never to the corpus itself: that folder is what a CI job uploads.
"""

from __future__ import annotations

import os
import sys
import time
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fuzz.atomic import atomic_write_text
from fuzz.corpus import CorpusError, load_entry
from fuzz.errors import BadInputError
from fuzz.replay import corpus_paths, replay_or_report

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
DEFAULT_SECONDS = 120.0  # the campaigns' budget in all, split evenly between the fuzzers
DEFAULT_MINIMIZE_SECONDS = 10.0  # per new finding, on top of the budget
Known = dict[tuple[str, str], str]  # (fuzzer, signature) -> reason


@dataclass
class EntryOutcome:
    """One corpus entry replayed: passed, failed (again, twice), known, flaky (failed once) or corrupt."""

    path: str
    fuzzer: str | None
    outcome: str
    signature: str | None = None  # the verdict it gave now (failed, known, flaky)
    detail: str = ""  # the known reason, the flaky rerun, the corrupt entry's error
    seconds: float = 0.0


@dataclass
class CampaignOutcome:
    """One fuzzer's time-boxed campaign and what its new findings were."""

    fuzzer: str
    campaign_id: str
    report_dir: str
    seed: int
    cases: int
    seconds: float
    cases_per_s: float
    timeouts: int
    crashes: int
    failed: list[dict[str, Any]] = field(default_factory=list)  # new confirmed findings, not known
    known: list[dict[str, Any]] = field(default_factory=list)  # new findings known.toml lists (with the reason)
    flaky: list[dict[str, Any]] = field(default_factory=list)  # failures that did not reproduce
    never_hit: list[str] = field(default_factory=list)  # coverage keys (rules) the fuzzer declares, no case reached
    interrupted: bool = False


@dataclass
class GateResult:
    """Everything `fuzz ci` found; `exit_code` is the gate's verdict."""

    seed: int
    seconds: float
    known_file: str
    findings_dir: str
    entries: list[EntryOutcome] = field(default_factory=list)
    campaigns: list[CampaignOutcome] = field(default_factory=list)
    stale_known: list[dict[str, str]] = field(default_factory=list)  # known.toml lines nothing reported
    interrupted_by: str | None = None

    @property
    def failures(self) -> int:
        return sum(e.outcome == "failed" for e in self.entries) + sum(len(c.failed) for c in self.campaigns)

    @property
    def exit_code(self) -> int:
        """130/143 when interrupted, 1 on a reproducible regression, else 2 on a corrupt entry, else 0."""
        if self.interrupted_by:
            return 143 if self.interrupted_by == "SIGTERM" else 130
        if self.failures:
            return EXIT_FAILED
        return EXIT_BAD_INPUT if any(e.outcome == "corrupt" for e in self.entries) else EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failures"], data["exit_code"] = self.failures, self.exit_code
        return data


def load_known(path: str | os.PathLike[str]) -> Known:
    """Read the known-failures file (a missing file is an empty list); a malformed one raises naming it."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as e:
        raise BadInputError(f"{path}: cannot read the known-failures file ({e})") from None
    except tomllib.TOMLDecodeError as e:
        raise BadInputError(f"{path}: not valid TOML ({e})") from None
    known: Known = {}
    for fuzzer, table in data.items():
        if not isinstance(table, dict):
            raise BadInputError(f'{path}: {fuzzer!r} must be a table [{fuzzer}] of "signature" = "reason" lines')
        for signature, reason in table.items():
            if not isinstance(reason, str) or not reason.strip():
                raise BadInputError(
                    f"{path}: [{fuzzer}] {signature!r} needs a reason, a non-empty string "
                    '(quote signatures: "mismatch:not-equal:fold_div" = "why it is still open")'
                )
            known[(fuzzer, signature)] = reason.strip()
    return known


def replay_corpus(
    corpus_dir: str | os.PathLike[str], known: Known, timeout_s: float | None, memory_mb: int | None, echo: bool
) -> list[EntryOutcome]:
    """Replay every entry; one that fails is run again, to tell a regression from a flaky one."""
    outcomes = []
    for path in corpus_paths(corpus_dir):
        t0 = time.monotonic()
        first = replay_or_report(path, timeout_s, memory_mb)
        fuzzer = first["fuzzer"]
        if "error" in first:
            outcome = EntryOutcome(str(path), fuzzer, "corrupt", detail=first["error"])
        elif not first["still_failing"]:
            outcome = EntryOutcome(str(path), fuzzer, "passed")
        else:
            signature = first["verdict"]["signature"] or first["verdict"]["status"]
            again = replay_or_report(path, timeout_s, memory_mb)
            reason = known.get((fuzzer, signature)) or known.get((fuzzer, first["recorded_signature"]))
            if not again["still_failing"]:
                outcome = EntryOutcome(str(path), fuzzer, "flaky", signature, "failed once, then passed")
            elif reason is not None:
                outcome = EntryOutcome(str(path), fuzzer, "known", signature, reason)
            else:
                outcome = EntryOutcome(str(path), fuzzer, "failed", signature)
        outcome.seconds = round(time.monotonic() - t0, 3)
        outcomes.append(outcome)
        if echo:
            what = outcome.detail if outcome.outcome == "corrupt" else outcome.signature or ""
            print(f"{outcome.outcome.upper():<7} {path} {what}".rstrip(), file=sys.stderr)
    return outcomes


def corpus_signatures(corpus_dir: str | os.PathLike[str]) -> dict[str, set[str]]:
    """Per fuzzer, the signatures the readable entries of the corpus hold (what a campaign calls known)."""
    signatures: dict[str, set[str]] = {}
    for path in corpus_paths(corpus_dir):
        try:
            entry = load_entry(path)
        except CorpusError:
            continue  # reported by the replay
        signatures.setdefault(entry["fuzzer"], set()).add(entry["signature"])
    return signatures


def fuzz_one(fuzzer: str, seconds: float, gate: GateResult, known: Known, options: dict[str, Any]) -> CampaignOutcome:
    """A time-boxed campaign of one fuzzer into the findings folder; its new findings sorted into failed/known."""
    from fuzz.campaign import run_campaign

    findings = Path(gate.findings_dir)
    result = run_campaign(
        [fuzzer],
        seconds=seconds,
        seed=gate.seed,
        corpus_dir=findings / "corpus",
        report_dir=findings / "reports",
        **options,
    )
    outcome = CampaignOutcome(
        fuzzer,
        result.campaign_id,
        result.report_dir,
        result.seed,
        result.cases,
        round(result.fuzz_seconds, 1),
        round(result.cases / result.fuzz_seconds, 1) if result.fuzz_seconds > 0 else 0.0,
        result.counts.get("timeout", 0),
        result.counts.get("crash", 0),
        flaky=list(result.flaky_findings),
        never_hit=[
            k for k in result.coverage_rules if not result.coverage.get(k) and k not in result.coverage_unreachable
        ],
        interrupted=result.interrupted,
    )
    for finding in result.new_findings:
        row = {"signature": finding.signature, "status": finding.status, "corpus_path": finding.corpus_path}
        reason = known.get((fuzzer, finding.signature))
        if reason is not None:
            outcome.known.append({**row, "reason": reason})
        else:
            outcome.failed.append(row)
    if result.interrupted:
        gate.interrupted_by = result.interrupted_by or "SIGINT"
    return outcome


def run_ci(
    fuzzers: list[str],
    *,
    corpus_dir: str | os.PathLike[str] = "corpus",
    known_file: str | os.PathLike[str] | None = None,
    findings_dir: str | os.PathLike[str] = "fuzz-findings",
    seconds: float = DEFAULT_SECONDS,
    seed: int = 0,
    workers: int = 1,
    timeout_s: float | None = None,
    memory_mb: int | None = None,
    minimize_seconds: float = DEFAULT_MINIMIZE_SECONDS,
    junit: str | os.PathLike[str] | None = None,
    summary: str | os.PathLike[str] | None = None,
    echo: bool = False,
) -> GateResult:
    """Replay the corpus, fuzz each fuzzer for its share of `seconds`, write the JUnit and Markdown files asked for."""
    known_path = Path(known_file) if known_file is not None else Path(corpus_dir) / "known.toml"
    known = load_known(known_path)
    if not Path(corpus_dir).is_dir():
        raise BadInputError(f"--corpus {corpus_dir}: no such directory")
    gate = GateResult(seed, seconds, str(known_path), str(findings_dir))
    options = {
        "workers": workers,
        "timeout_s": timeout_s,
        "memory_mb": memory_mb,
        "minimize_seconds": minimize_seconds,
        "known": corpus_signatures(corpus_dir),
    }
    try:
        gate.entries = replay_corpus(corpus_dir, known, timeout_s, memory_mb, echo)
        for name in fuzzers:
            if gate.interrupted_by:
                break
            outcome = fuzz_one(name, seconds / len(fuzzers), gate, known, options)
            gate.campaigns.append(outcome)
            if echo:
                print(
                    f"campaign {name}: {outcome.cases} cases, {len(outcome.failed)} new findings, "
                    f"{len(outcome.known)} known, {len(outcome.flaky)} flaky",
                    file=sys.stderr,
                )
    except KeyboardInterrupt as e:
        gate.interrupted_by = e.args[0] if e.args and isinstance(e.args[0], str) else "SIGINT"
    finally:
        gate.stale_known = _stale(known, gate)
        if junit is not None:
            atomic_write_text(junit, junit_xml(gate))
        if summary is not None:
            atomic_write_text(summary, markdown_summary(gate))
    return gate


def _stale(known: Known, gate: GateResult) -> list[dict[str, str]]:
    """known.toml lines no failure matched in this run (fixed? then the line can go)."""
    seen = {(e.fuzzer, e.signature) for e in gate.entries if e.outcome == "known"}
    seen |= {(c.fuzzer, k["signature"]) for c in gate.campaigns for k in c.known}
    return [{"fuzzer": f, "signature": s, "reason": r} for (f, s), r in sorted(known.items()) if (f, s) not in seen]


def junit_xml(gate: GateResult) -> str:
    """JUnit XML: a suite of one test case per corpus entry, a suite of one test case per fuzzer campaign."""
    root = ET.Element("testsuites", name="fuzz ci")
    replay = ET.SubElement(root, "testsuite", name="corpus replay")
    for e in gate.entries:
        case = ET.SubElement(
            replay,
            "testcase",
            classname=f"corpus.{e.fuzzer or 'unreadable'}",
            name=os.path.basename(e.path),
            file=e.path,
            time=f"{e.seconds:.3f}",
        )
        if e.outcome == "failed":
            ET.SubElement(
                case, "failure", message=f"fails again: {e.signature}", type="regression"
            ).text = f"fuzz repro {e.path}"
        elif e.outcome == "corrupt":
            ET.SubElement(case, "error", message=e.detail[:500], type="corrupt")
        elif e.outcome == "known":
            ET.SubElement(case, "skipped", message=f"known open failure {e.signature}: {e.detail}")
        elif e.outcome == "flaky":
            ET.SubElement(case, "system-out").text = f"flaky: {e.signature} {e.detail}"
    campaigns = ET.SubElement(root, "testsuite", name="campaigns")
    for c in gate.campaigns:
        case = ET.SubElement(campaigns, "testcase", classname="campaign", name=c.fuzzer, time=f"{c.seconds:.3f}")
        if c.failed:
            ET.SubElement(
                case,
                "failure",
                message=f"{len(c.failed)} new finding(s): " + ", ".join(f["signature"] for f in c.failed),
                type="new-finding",
            ).text = "\n".join(f"fuzz repro {f['corpus_path']}" for f in c.failed)
        notes = [f"{c.cases} cases, seed {c.seed}, report {c.report_dir}"]
        notes += [f"known: {k['signature']} ({k['reason']})" for k in c.known]
        notes += [f"flaky: {f['signature']} (case {f['case_index']})" for f in c.flaky]
        ET.SubElement(case, "system-out").text = "\n".join(notes)
    for suite in (replay, campaigns):
        cases = suite.findall("testcase")
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(sum(c.find("failure") is not None for c in cases)))
        suite.set("errors", str(sum(c.find("error") is not None for c in cases)))
        suite.set("skipped", str(sum(c.find("skipped") is not None for c in cases)))
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(sum(int(s.get(key, "0")) for s in (replay, campaigns))))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def markdown_summary(gate: GateResult) -> str:
    """A Markdown page for a CI job summary: the verdict first, then what failed, what is known, flaky, corrupt."""
    by = {k: [e for e in gate.entries if e.outcome == k] for k in ("passed", "failed", "known", "flaky", "corrupt")}
    verdict = {0: "passed", 1: "FAILED", 2: "corrupt corpus entries"}.get(gate.exit_code, "interrupted")
    lines = [f"## fuzz ci: {verdict}", ""]
    lines.append(
        f"Corpus replay: {len(gate.entries)} entries, {len(by['passed'])} pass, {len(by['failed'])} fail again, "
        f"{len(by['known'])} known, {len(by['flaky'])} flaky, {len(by['corrupt'])} corrupt. "
        f"Campaigns: {sum(c.cases for c in gate.campaigns)} cases, seed {gate.seed}."
    )
    failed = [f"- `{e.path}` fails again: `{e.signature}` (`fuzz repro {e.path}`)" for e in by["failed"]]
    failed += [
        f"- {c.fuzzer}: new finding `{f['signature']}` (`fuzz repro {f['corpus_path']}`)"
        for c in gate.campaigns
        for f in c.failed
    ]
    known = [f"- `{e.path}`: `{e.signature}`: {e.detail}" for e in by["known"]]
    known += [f"- {c.fuzzer}: `{k['signature']}`: {k['reason']}" for c in gate.campaigns for k in c.known]
    flaky = [f"- `{e.path}`: `{e.signature}` {e.detail}" for e in by["flaky"]]
    flaky += [
        f"- {c.fuzzer}: `{f['signature']}` at case {f['case_index']} (confirmed as `{f['confirmed_as']}`)"
        for c in gate.campaigns
        for f in c.flaky
    ]
    corrupt = [f"- {e.detail}" for e in by["corrupt"]]
    stale = [f"- [{s['fuzzer']}] `{s['signature']}`: {s['reason']}" for s in gate.stale_known]
    for title, rows in (
        ("Failures", failed),
        (f"Known open failures ({gate.known_file})", known),
        ("Flaky (did not reproduce; not failing the gate)", flaky),
        ("Corrupt corpus entries", corrupt),
        (f"Listed in {gate.known_file} but not seen this run (fixed?)", stale),
    ):
        if rows:
            lines += ["", f"### {title}", "", *rows]
    if gate.campaigns:
        lines += [
            "",
            "### Campaigns",
            "",
            "| fuzzer | cases | cases/s | seconds | new | known | flaky | timeouts | crashes | report |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for c in gate.campaigns:
            lines.append(
                f"| {c.fuzzer} | {c.cases} | {c.cases_per_s:g} | {c.seconds:g} | {len(c.failed)} "
                f"| {len(c.known)} | {len(c.flaky)} | {c.timeouts} | {c.crashes} | `{c.report_dir}` |"
            )
        for c in gate.campaigns:
            if c.never_hit:
                lines += [
                    "",
                    f"{c.fuzzer}: {len(c.never_hit)} rules no case reached: "
                    + ", ".join(f"`{key}`" for key in c.never_hit),
                ]
    if gate.interrupted_by:
        lines += ["", f"Interrupted by {gate.interrupted_by}."]
    lines += ["", f"Findings folder: `{gate.findings_dir}`."]
    return "\n".join(lines) + "\n"
