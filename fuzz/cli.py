"""The `fuzz` command: run campaigns, reproduce and minimize findings, manage the corpus, print reports."""

from __future__ import annotations

import argparse
import importlib
import math
import os
import random
import shlex
import signal
import stat
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fuzz.case import strict_dumps
from fuzz.errors import BadInputError
from fuzz.worker import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S

# Fuzzer-specific subcommands: name -> "module:function", called with the remaining argv, returning an exit code.
EXTRA_COMMANDS: dict[str, str] = {
    "prove-rules": "fuzz.symbolic.prove_rules:main",
    "onnx-check": "fuzz.onnx.check:main",
}

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERNAL_ERROR = 0, 1, 2, 3
EXIT_SIGINT, EXIT_SIGTERM, EXIT_BROKEN_PIPE = 130, 143, 141

EXIT_STATUSES = """exit statuses:
  0    nothing new failed
  1    new confirmed failures (run); the case still fails (repro, corpus replay); a reproducible
       regression not in corpus/known.toml (ci)
  2    bad usage or bad input: arguments, corpus files, folders that cannot be written (corpus replay and
       ci report a corrupt entry by name and replay the rest first)
  3    an internal error of the harness (a bug in fuzz/ itself, never a finding)
  130  interrupted by Ctrl-C (SIGINT); 143 by SIGTERM: the report is written all the same
  141  the output pipe was closed early (e.g. piped into head)"""


def _positive_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite positive number, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number, not negative, got {text}")
    return value


def _version() -> str:
    from importlib import metadata

    from fuzz.corpus import engine_version

    try:
        package = metadata.version("uopfuzz")
    except metadata.PackageNotFoundError:
        package = "unknown"
    return f"fuzz (uopfuzz) {package}, engine {engine_version()}"


def _add_isolation_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=None,
        metavar="S",
        help=f"time limit per case in seconds (default: the fuzzer's own, else {DEFAULT_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--memory-mb",
        type=_positive_int,
        default=DEFAULT_MEMORY_MB,
        metavar="N",
        help=f"writable memory (heap and anonymous maps: RLIMIT_DATA) a worker may add to what it starts with, in MB "
        f"(default {DEFAULT_MEMORY_MB})",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser for all built-in subcommands."""
    extra = "fuzzer-specific commands: " + ", ".join(sorted(EXTRA_COMMANDS)) + "\n\n" if EXTRA_COMMANDS else ""
    parser = argparse.ArgumentParser(
        prog="fuzz",
        description="Fuzz the engine against independent references.",
        epilog=extra + EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, text: str) -> argparse.ArgumentParser:
        formatter = argparse.RawDescriptionHelpFormatter
        return sub.add_parser(name, help=text, description=text, epilog=EXIT_STATUSES, formatter_class=formatter)

    listing = add("list", "list the registered fuzzers and what each checks")
    listing.add_argument("--json", action="store_true", help="print JSON")

    run = add("run", "run a fuzzing campaign")
    run.add_argument("fuzzers", nargs="*", metavar="FUZZER", help="registered fuzzer names")
    run.add_argument("--seconds", type=_positive_float, metavar="S", help="time budget")
    run.add_argument("--cases", type=_positive_int, metavar="N", help="case budget (with --seconds: first to end)")
    run.add_argument("--seed", type=int, help="campaign seed (default: a random one, printed with the command)")
    run.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                     help="worker processes (default: one per core this process may use)")
    run.add_argument(
        "--resume",
        metavar="DIR",
        help="continue the campaign of this report folder (reports/<id>) from its last checkpoint; its fuzzers, "
        "seed, budget, corpus and limits come from the report (only --workers and --dask may change)",
    )
    run.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="check cases on a Dask cluster: tcp://HOST:8786 (a running `dask scheduler`) or local:N",
    )
    run.add_argument(
        "--guided",
        action="store_true",
        help="coverage-guided: cases that reach a new coverage key join a seed pool, half of each round's cases "
        "mutate pool cases (same seed, same cases with any --workers)",
    )
    run.add_argument(
        "--branch-coverage",
        action="store_true",
        help="with --guided: the arcs run in engine/symbolic.py guide too (sys.settrace; slower cases)",
    )
    run.add_argument(
        "--guided-round", type=_positive_int, default=None, metavar="N", help="cases per guided round (default 256)"
    )
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

    repro = add("repro", "re-run a corpus entry in isolation; exit 1 if it still fails")
    repro.add_argument("file", metavar="FILE")
    repro.add_argument("--json", action="store_true", help="print the result as JSON")
    _add_isolation_args(repro)

    mini = add("minimize", "minimize a corpus entry further and rewrite it")
    mini.add_argument("file", metavar="FILE")
    mini.add_argument("--seconds", type=_positive_float, default=60.0, metavar="S", help="budget (default 60)")
    _add_isolation_args(mini)

    corpus = add("corpus", "list or replay the corpus")
    corpus_sub = corpus.add_subparsers(dest="corpus_command", required=True, metavar="ACTION")
    entries = corpus_sub.add_parser(
        "list", help="list corpus entries (piped: one tab-separated line each, path first)"
    )
    replay = corpus_sub.add_parser(
        "replay",
        help="re-check entries (the given paths, else paths read from a pipe, else the whole corpus); "
        "exit 1 if any still fails",
    )
    replay.add_argument("paths", nargs="*", metavar="PATH", help="corpus entries (default: stdin or the corpus)")
    for p in (entries, replay):
        p.add_argument("--corpus", default="corpus", metavar="DIR", help="corpus directory (default corpus)")
        p.add_argument("--fuzzer", metavar="NAME", help="only this fuzzer's entries")
        p.add_argument("--json", action="store_true", help="print JSON")
    _add_isolation_args(replay)

    ci = add(
        "ci",
        "the CI gate: replay the corpus, then a short campaign of each fuzzer; exit 1 only on a reproducible "
        "regression not listed in the known-failures file",
    )
    ci.add_argument("fuzzers", nargs="*", metavar="FUZZER", help="fuzzers to run (default: every registered one)")
    ci.add_argument("--seconds", type=_positive_float, default=120.0, metavar="S",
                    help="campaign budget in all, split between the fuzzers (default 120)")
    ci.add_argument("--seed", type=int, help="campaign seed (default: a random one, printed)")
    ci.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                    help="worker processes (default: the cores available)")
    ci.add_argument("--corpus", default="corpus", metavar="DIR", help="corpus directory (default corpus)")
    ci.add_argument("--known", metavar="FILE", help="known open failures (default CORPUS/known.toml)")
    ci.add_argument("--findings", default="fuzz-findings", metavar="DIR",
                    help="where new findings and campaign reports go, what CI uploads (default fuzz-findings)")
    ci.add_argument("--junit", metavar="FILE", help="write JUnit XML: a test case per corpus entry and per campaign")
    ci.add_argument("--summary", metavar="FILE", help="write a Markdown summary (e.g. $GITHUB_STEP_SUMMARY)")
    ci.add_argument("--minimize-seconds", type=_non_negative_float, default=10.0, metavar="S",
                    help="minimization budget per new finding (default 10)")
    ci.add_argument("--json", action="store_true", help="print the result as JSON")
    _add_isolation_args(ci)

    report = add("report", "print a saved campaign report and write its HTML page")
    report.add_argument("dir", metavar="DIR")
    report.add_argument("--html", metavar="PATH", help="where to write the HTML page (default DIR/report.html)")
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    """fuzz run: a campaign; exit 1 on new confirmed failures, 130/143 when interrupted."""
    from fuzz.campaign import resume_campaign, run_campaign

    if args.resume is not None:
        if args.fuzzers or args.seconds is not None or args.cases is not None or args.seed is not None:
            raise BadInputError("fuzz run --resume DIR: the fuzzers, budget and seed come from the report; give none")
        if args.guided or args.branch_coverage or args.guided_round is not None:
            raise BadInputError("fuzz run --resume DIR: whether the campaign is guided comes from the report")
        result = resume_campaign(
            args.resume, workers=args.workers, progress=not args.json and not args.no_progress, dask=args.dask
        )
        return _print_run(result, args.json)
    if not args.fuzzers:
        raise BadInputError("fuzz run: name at least one fuzzer (see fuzz list), or --resume a campaign")
    args.workers = args.workers or available_cores()
    if args.seconds is None and args.cases is None:
        raise BadInputError("fuzz run: give a budget with --seconds S and/or --cases N")
    if len(set(args.fuzzers)) != len(args.fuzzers):
        raise BadInputError(f"fuzz run: a fuzzer is named twice in {' '.join(args.fuzzers)}")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    command = repeat_command(args.argv, seed)
    print(f"fuzz: seed {seed}; repeat this campaign with: {command}", file=sys.stderr)
    cores = available_cores()
    if args.workers > cores:
        print(
            f"fuzz: warning: --workers {args.workers} is more than the {cores} cores available; "
            "the workers will share them (slower cases, more timeouts)",
            file=sys.stderr,
        )
    result = run_campaign(
        args.fuzzers,
        seconds=args.seconds,
        cases=args.cases,
        seed=seed,
        workers=args.workers,
        corpus_dir=args.corpus,
        report_dir=args.report,
        timeout_s=args.timeout,
        memory_mb=args.memory_mb,
        minimize_seconds=args.minimize_seconds,
        progress=not args.json and not args.no_progress,
        command=command,
        dask=args.dask,
        **_guided_args(args),
    )
    return _print_run(result, args.json)


def _guided_args(args: argparse.Namespace) -> dict[str, Any]:
    """run_campaign's guided arguments (none unless given: an unguided campaign is called as before)."""
    out: dict[str, Any] = {}
    if args.guided:
        out["guided"] = True
    if args.branch_coverage:
        out["branch_coverage"] = True
    if args.guided_round is not None:
        if not args.guided:
            raise BadInputError("fuzz run: --guided-round needs --guided")
        out["guided_round"] = args.guided_round
    return out


def _print_run(result: Any, as_json: bool) -> int:
    from fuzz.report import render_summary

    summary = result.to_dict()
    if as_json:
        print(strict_dumps(summary, indent=2, sort_keys=True))
    else:
        render_summary(summary)
    return int(result.exit_code)


def repeat_command(argv: list[str], seed: int) -> str:
    """The `fuzz run` command line of argv with its --seed set to seed (shell-quoted)."""
    words, skip = [], False
    for word in argv:
        if skip:
            skip = False
        elif word == "--seed":
            skip = True
        elif not word.startswith("--seed="):
            words.append(word)
    return shlex.join(["fuzz", *words, "--seed", str(seed)])


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cmd_list(args: argparse.Namespace) -> int:
    """fuzz list: the registered fuzzers and what each checks."""
    from fuzz.registry import known_fuzzers

    rows = [
        {"name": name, "spec": spec, "description": fuzzer_description(spec)} for name, spec in known_fuzzers().items()
    ]
    if args.json:
        print(strict_dumps(rows, indent=2))
        return EXIT_OK
    width = max((len(r["name"]) for r in rows), default=0)
    for row in rows:
        print(f"{row['name']:<{width}}  {row['description']}")
    return EXIT_OK


def fuzzer_description(spec: str) -> str:
    """A fuzzer class's `description` attribute, else the first line of its docstring (no instance is made)."""
    module_name, _, class_name = spec.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except Exception as e:  # a broken plugin is listed, not fatal
        return f"(cannot be loaded: {type(e).__name__}: {e})"
    text = getattr(cls, "description", None) or (cls.__doc__ or "").strip()
    return str(text).strip().splitlines()[0] if str(text).strip() else "(no description)"


def cmd_repro(args: argparse.Namespace) -> int:
    """fuzz repro FILE: exit 1 while the entry still fails, 0 once it passes."""
    from fuzz.replay import replay_entry

    done = replay_entry(args.file, args.timeout, args.memory_mb)
    verdict = done["verdict"]
    if args.json:
        print(strict_dumps(done, indent=2, sort_keys=True))
    elif done["still_failing"]:
        recorded = done["recorded_signature"]
        same = "same signature" if verdict["signature"] == recorded else f"recorded {recorded}"
        print(f"{args.file}: {verdict['status']} {verdict['signature']} ({same})")
        if verdict["details"]:
            print(strict_dumps(verdict["details"], indent=2, sort_keys=True)[:4000])
    else:
        print(f"{args.file}: pass (recorded {done['recorded_signature']})")
    return EXIT_FAILED if done["still_failing"] else EXIT_OK


def cmd_minimize(args: argparse.Namespace) -> int:
    """fuzz minimize FILE: shrink the entry further, keeping its signature, and rewrite it atomically."""
    from fuzz.case import Verdict
    from fuzz.corpus import write_entry
    from fuzz.minimize import minimize
    from fuzz.replay import load_checked_entry

    entry, fuzzer = load_checked_entry(args.file)
    case, stats = minimize(
        entry["fuzzer"],
        entry["case"],
        entry["signature"],
        time_budget_s=args.seconds,
        timeout_s=args.timeout or fuzzer.timeout_s or DEFAULT_TIMEOUT_S,
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
    if args.corpus_command == "replay" and (args.paths or _stdin_is_piped()):
        paths = args.paths or [line.split("\t", 1)[0].strip() for line in sys.stdin if line.strip()]
        return _replay(paths, args)
    from fuzz.corpus import list_entries
    from fuzz.replay import corpus_paths

    if not Path(args.corpus).is_dir():
        raise BadInputError(f"--corpus {args.corpus}: no such directory")
    if args.corpus_command == "replay":
        return _replay([str(path) for path in corpus_paths(args.corpus, args.fuzzer)], args)
    entries = list_entries(args.corpus, args.fuzzer)
    rows = [
        {
            "path": str(path),
            "fuzzer": entry["fuzzer"],
            "status": entry["verdict"]["status"],
            "signature": entry["signature"],
            "size": entry.get("size_after"),
            "engine_version": entry.get("engine_version"),
            "created": entry.get("created"),
        }
        for path, entry in entries
    ]
    if args.json:
        print(strict_dumps(rows, indent=2))
    elif sys.stdout.isatty():
        _print_corpus_table(args.corpus, rows)
    else:  # for pipes (`fuzz corpus list | fuzz corpus replay`, grep, cut): path first, tab-separated
        for row in rows:
            print("\t".join(str(row[k]) for k in ("path", "fuzzer", "status", "signature", "size")))
    return EXIT_OK


def _stdin_is_piped() -> bool:
    """True if stdin is a pipe or a file (not a terminal, not /dev/null, not a test harness's stand-in)."""
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (AttributeError, OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISREG(mode)


def _print_corpus_table(corpus: str, rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    from fuzz.report import report_console

    table = Table(title=f"corpus {corpus} ({len(rows)} entries)")
    for column in ("fuzzer", "status", "signature", "size", "engine", "created", "file"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row["fuzzer"],
            row["status"],
            row["signature"],
            str(row["size"] if row["size"] is not None else "?"),
            str(row["engine_version"] or "?"),
            str(row["created"] or "?"),
            row["path"],
        )
    report_console().print(table)


def _replay(paths: list[str], args: argparse.Namespace) -> int:
    """Re-check each entry; a corrupt one is reported naming its file, and the rest still replay.

    Exit 1 if an entry still fails, else 2 if one was corrupt, else 0.
    """
    from fuzz.replay import replay_or_report

    results = []
    for path in paths:
        if args.fuzzer is not None and _entry_fuzzer(path) not in (None, args.fuzzer):
            continue
        done = replay_or_report(path, args.timeout, args.memory_mb)
        results.append(done)
        if "error" in done:
            print(f"fuzz: error: {done['error']}", file=sys.stderr)
        elif not args.json:
            verdict = done["verdict"]
            print(f"{'FAIL' if done['still_failing'] else 'ok  '} {path}: {verdict['status']} {verdict['signature']}")
    failing = sum(r["still_failing"] for r in results)
    corrupt = sum("error" in r for r in results)
    if args.json:
        print(strict_dumps({"entries": results, "failing": failing, "corrupt": corrupt}, indent=2, sort_keys=True))
    else:
        print(f"{len(results)} entries, {failing} still failing" + (f", {corrupt} corrupt" if corrupt else ""))
    return EXIT_FAILED if failing else EXIT_BAD_INPUT if corrupt else EXIT_OK


def _entry_fuzzer(path: str) -> str | None:
    """The fuzzer an entry names (None if it cannot be read: it is replayed, to be reported)."""
    from fuzz.corpus import CorpusError, load_entry

    try:
        return str(load_entry(path)["fuzzer"])
    except CorpusError:
        return None


def cmd_ci(args: argparse.Namespace) -> int:
    """fuzz ci: exit 1 on a reproducible regression, 2 on a corrupt corpus entry, else 0 (see fuzz/ci.py)."""
    from fuzz.ci import markdown_summary, run_ci
    from fuzz.registry import fuzzer_spec, known_fuzzers

    fuzzers = args.fuzzers or sorted(known_fuzzers())
    for name in fuzzers:
        fuzzer_spec(name)  # an unknown name is bad input before anything runs
    if len(set(fuzzers)) != len(fuzzers):
        raise BadInputError(f"fuzz ci: a fuzzer is named twice in {' '.join(fuzzers)}")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    print(f"fuzz ci: seed {seed}, fuzzers {' '.join(fuzzers)}, {args.seconds:g} s of campaigns", file=sys.stderr)
    gate = run_ci(
        fuzzers,
        corpus_dir=args.corpus,
        known_file=args.known,
        findings_dir=args.findings,
        seconds=args.seconds,
        seed=seed,
        workers=args.workers or available_cores(),
        timeout_s=args.timeout,
        memory_mb=args.memory_mb,
        minimize_seconds=args.minimize_seconds,
        junit=args.junit,
        summary=args.summary,
        echo=not args.json,
    )
    print(strict_dumps(gate.to_dict(), indent=2, sort_keys=True) if args.json else markdown_summary(gate))
    return gate.exit_code


def cmd_report(args: argparse.Namespace) -> int:
    """fuzz report DIR: re-print a saved summary and write its HTML page."""
    from fuzz.report import print_report

    page = print_report(args.dir, html_path=args.html)
    print(f"report page: {page}")
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "list": cmd_list,
    "run": cmd_run,
    "repro": cmd_repro,
    "minimize": cmd_minimize,
    "corpus": cmd_corpus,
    "report": cmd_report,
    "ci": cmd_ci,
}


def _run_extra(name: str, argv: list[str]) -> int:
    module_name, _, func_name = EXTRA_COMMANDS[name].partition(":")
    try:
        func = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError) as e:
        raise BadInputError(f"fuzz {name}: command not available ({EXTRA_COMMANDS[name]}: {e})") from None
    return int(func(argv) or 0)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `fuzz` command; returns the exit status (see EXIT_STATUSES)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    previous = _handle_sigterm_like_ctrl_c()
    try:
        if argv and argv[0] in EXTRA_COMMANDS:
            code = _run_extra(argv[0], argv[1:])
        else:
            args = build_parser().parse_args(argv)
            args.argv = argv
            code = COMMANDS[args.command](args)
        sys.stdout.flush()  # a closed pipe shows up here, not at exit
        return code
    except BadInputError as e:
        print(f"fuzz: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SystemExit as e:  # argparse: --help exits 0, usage errors exit 2
        return e.code if isinstance(e.code, int) else EXIT_BAD_INPUT
    except KeyboardInterrupt as e:
        print("fuzz: interrupted", file=sys.stderr)
        return EXIT_SIGTERM if e.args[:1] == ("SIGTERM",) else EXIT_SIGINT
    except BrokenPipeError:  # piped into head: stop quietly, and keep the exit-time flush from complaining
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception:  # a bug of the harness itself: its own status, never 1 ("new failure")
        traceback.print_exc()
        print("fuzz: internal error of the harness (exit 3); the traceback above is the bug to report", file=sys.stderr)
        return EXIT_INTERNAL_ERROR
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _raise_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt("SIGTERM")


def _handle_sigterm_like_ctrl_c() -> Any:
    """SIGTERM stops any command as Ctrl-C does (exit 143); return the handler to restore (None: not installed)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_sigterm)

