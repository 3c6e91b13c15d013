"""The `fuzz` command: run campaigns, reproduce and minimize findings, manage the corpus, print reports."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fuzz.errors import BadInputError
from fuzz.worker import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S

# Fuzzer-specific subcommands: name -> "module:function", called with the remaining argv, returning an exit code.
EXTRA_COMMANDS: dict[str, str] = {
    "prove-rules": "fuzz.symbolic.prove_rules:main",
}

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return value


def _add_isolation_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=DEFAULT_TIMEOUT_S,
        metavar="S",
        help=f"time limit per case in seconds (default {DEFAULT_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--memory-mb",
        type=_positive_int,
        default=DEFAULT_MEMORY_MB,
        metavar="N",
        help=f"address-space limit per worker in MB (default {DEFAULT_MEMORY_MB})",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser for all built-in subcommands."""
    parser = argparse.ArgumentParser(
        prog="fuzz",
        description="Fuzz the engine against independent references.",
        epilog="fuzzer-specific commands: " + ", ".join(sorted(EXTRA_COMMANDS)) if EXTRA_COMMANDS else None,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a fuzzing campaign")
    run.add_argument("fuzzers", nargs="+", metavar="FUZZER", help="registered fuzzer names")
    run.add_argument("--seconds", type=_positive_float, metavar="S", help="time budget")
    run.add_argument("--cases", type=_positive_int, metavar="N", help="case budget (with --seconds: first to end)")
    run.add_argument("--seed", type=int, default=0, help="campaign seed (default 0)")
    run.add_argument("--workers", type=_positive_int, default=1, metavar="N", help="worker processes (default 1)")
    run.add_argument("--corpus", default="corpus", metavar="DIR", help="corpus directory (default corpus)")
    run.add_argument("--report", default="reports", metavar="DIR", help="reports directory (default reports)")
    _add_isolation_args(run)
    run.add_argument(
        "--minimize-seconds",
        type=_non_negative_float,
        default=30.0,
        metavar="S",
        help="minimization budget per new finding (default 30, 0 disables)",
    )
    run.add_argument("--json", action="store_true", help="print the summary JSON instead of the table")
    run.add_argument("--no-progress", action="store_true", help="no live progress line")

    repro = sub.add_parser("repro", help="re-run a corpus entry in isolation; exit 1 if it still fails")
    repro.add_argument("file", metavar="FILE")
    _add_isolation_args(repro)

    mini = sub.add_parser("minimize", help="minimize a corpus entry further and rewrite it")
    mini.add_argument("file", metavar="FILE")
    mini.add_argument("--seconds", type=_positive_float, default=60.0, metavar="S", help="budget (default 60)")
    _add_isolation_args(mini)

    corpus = sub.add_parser("corpus", help="list or replay the corpus")
    corpus_sub = corpus.add_subparsers(dest="corpus_command", required=True, metavar="ACTION")
    listing = corpus_sub.add_parser("list", help="list corpus entries")
    replay = corpus_sub.add_parser("replay", help="re-check every entry; exit 1 if any still fails")
    for p in (listing, replay):
        p.add_argument("--corpus", default="corpus", metavar="DIR", help="corpus directory (default corpus)")
        p.add_argument("--fuzzer", metavar="NAME", help="only this fuzzer's entries")
    _add_isolation_args(replay)

    report = sub.add_parser("report", help="print a saved campaign report and write its HTML page")
    report.add_argument("dir", metavar="DIR")
    report.add_argument("--html", metavar="PATH", help="where to write the HTML page (default DIR/report.html)")
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    """fuzz run: a campaign; exit 1 on new confirmed failures."""
    from fuzz.campaign import run_campaign
    from fuzz.report import render_summary

    if args.seconds is None and args.cases is None:
        raise BadInputError("fuzz run: give a budget with --seconds S and/or --cases N")
    if len(set(args.fuzzers)) != len(args.fuzzers):
        raise BadInputError(f"fuzz run: a fuzzer is named twice in {' '.join(args.fuzzers)}")
    result = run_campaign(
        args.fuzzers,
        seconds=args.seconds,
        cases=args.cases,
        seed=args.seed,
        workers=args.workers,
        corpus_dir=args.corpus,
        report_dir=args.report,
        timeout_s=args.timeout,
        memory_mb=args.memory_mb,
        minimize_seconds=args.minimize_seconds,
        progress=not args.json and not args.no_progress,
    )
    summary = result.to_dict()
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
    else:
        render_summary(summary)
    if result.interrupted and not result.new_findings:
        return 130
    return result.exit_code


def _load_checked_entry(path: str) -> tuple[dict[str, Any], Any]:
    """Load a corpus entry and its fuzzer; a malformed case raises BadInputError naming the file."""
    from fuzz.corpus import CorpusError, load_entry
    from fuzz.registry import get_fuzzer

    entry = load_entry(path)
    fuzzer = get_fuzzer(entry["fuzzer"])
    try:
        fuzzer.validate(entry["case"])
    except ValueError as e:
        raise CorpusError(f"{path}: malformed {entry['fuzzer']} case: {e}") from None
    return entry, fuzzer


def cmd_repro(args: argparse.Namespace) -> int:
    """fuzz repro FILE: exit 1 while the entry still fails, 0 once it passes."""
    from fuzz.worker import run_isolated

    entry, _ = _load_checked_entry(args.file)
    verdict = run_isolated(entry["fuzzer"], entry["case"], args.timeout, args.memory_mb)
    same = "same signature" if verdict.signature == entry["signature"] else f"recorded {entry['signature']}"
    print(
        f"{args.file}: {verdict.status} {verdict.signature} ({same})"
        if verdict.status != "pass"
        else f"{args.file}: pass (recorded {entry['signature']})"
    )
    if verdict.status != "pass" and verdict.details:
        print(json.dumps(verdict.details, indent=2, sort_keys=True)[:4000])
    return EXIT_OK if verdict.status == "pass" else EXIT_FAILED


def cmd_minimize(args: argparse.Namespace) -> int:
    """fuzz minimize FILE: shrink the entry further, keeping its signature, and rewrite it atomically."""
    from fuzz.case import Verdict
    from fuzz.corpus import write_entry
    from fuzz.minimize import minimize

    entry, fuzzer = _load_checked_entry(args.file)
    case, stats = minimize(
        entry["fuzzer"],
        entry["case"],
        entry["signature"],
        time_budget_s=args.seconds,
        timeout_s=args.timeout,
        memory_mb=args.memory_mb,
    )
    if stats["steps"]:
        verdict = Verdict.from_dict(stats["verdict"])
        entry.update(case=case, size_after=stats["size_after"],
                     reproducer=fuzzer.reproducer(case, entry["signature"], verdict.details))
        entry["verdict"] = verdict.to_dict()
        write_entry(args.file, entry)
    print(
        f"{args.file}: size {stats['size_before']} -> {stats['size_after']} "
        f"({stats['steps']} steps, {stats['candidates']} candidates, {stats['seconds']:.1f} s)"
    )
    return EXIT_OK


def cmd_corpus(args: argparse.Namespace) -> int:
    """fuzz corpus list|replay."""
    from rich.table import Table

    from fuzz.corpus import list_entries
    from fuzz.report import report_console

    if not Path(args.corpus).is_dir():
        raise BadInputError(f"--corpus {args.corpus}: no such directory")
    entries = list_entries(args.corpus, args.fuzzer)
    if args.corpus_command == "list":
        table = Table(title=f"corpus {args.corpus} ({len(entries)} entries)")
        for column in ("fuzzer", "status", "signature", "size", "engine", "created", "file"):
            table.add_column(column, overflow="fold")
        for path, entry in entries:
            table.add_row(
                entry["fuzzer"],
                entry["verdict"]["status"],
                entry["signature"],
                str(entry.get("size_after", "?")),
                str(entry.get("engine_version", "?")),
                str(entry.get("created", "?")),
                str(path),
            )
        report_console().print(table)
        return EXIT_OK
    from fuzz.worker import run_isolated

    failing = 0
    for path, _ in entries:
        entry, _ = _load_checked_entry(str(path))
        verdict = run_isolated(entry["fuzzer"], entry["case"], args.timeout, args.memory_mb)
        failing += verdict.status != "pass"
        print(f"{'FAIL' if verdict.status != 'pass' else 'ok  '} {path}: {verdict.status} {verdict.signature}")
    print(f"{len(entries)} entries, {failing} still failing")
    return EXIT_FAILED if failing else EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    """fuzz report DIR: re-print a saved summary and write its HTML page."""
    from fuzz.report import print_report

    page = print_report(args.dir, html_path=args.html)
    print(f"report page: {page}")
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": cmd_run,
    "repro": cmd_repro,
    "minimize": cmd_minimize,
    "corpus": cmd_corpus,
    "report": cmd_report,
}


def _run_extra(name: str, argv: list[str]) -> int:
    module_name, _, func_name = EXTRA_COMMANDS[name].partition(":")
    try:
        func = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError) as e:
        raise BadInputError(f"fuzz {name}: command not available ({EXTRA_COMMANDS[name]}: {e})") from None
    return int(func(argv) or 0)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `fuzz` command; returns the exit status (0 ok, 1 failures, 2 bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in EXTRA_COMMANDS:
            return _run_extra(argv[0], argv[1:])
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except BadInputError as e:
        print(f"fuzz: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SystemExit as e:  # argparse: --help exits 0, usage errors exit 2
        return e.code if isinstance(e.code, int) else EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("fuzz: interrupted", file=sys.stderr)
        return 130
