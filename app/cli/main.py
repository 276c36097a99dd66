"""``naswot`` command line: score, search, sample, tables, size-bias reports, and the HTTP service.

Machine-readable output (JSON lines or CSV) goes to stdout; progress bars and tables for a person
go to stderr, and only when it is a terminal. Errors exit with status 2 and name the bad input.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx

from scoring import COSTS, LATENCY, LatencyMeter, Scorer, describe_device, kernels, list_scores, open_source, resolve_device
from search import list_strategies
from search.options import add_constraint_options, add_strategy_options
from searchspace import EncodingError, broken_spaces, get_space, list_spaces, load_all

import app.cli.calibrate as cli_calibrate
import app.cli.report as cli_report
import app.cli.search as cli_search
import app.cli.serve as cli_serve
from app.client import ApiError
from app.cli.inputs import arch_inputs, canonical_archs
from app.cli.interrupt import EXIT_INTERRUPTED, first_interrupt_stops
from app.cli.progress import REFERENCE_BAR, REFERENCE_NOTE, bar, best_note, print_table
from app.settings import Settings, gram_kernel_from_env, variables_of
from app.service.spacefiles import load_cli_spaces

SCORE_COLUMNS = ["space", "arch", "score", "singular", "params", "flops", "seconds", "batch_size", "seed", "device", "data"]
TOP_COLUMNS = ["rank", "step", "arch", "score", "singular", "params", "flops"]
LATENCY_BATCH_OPTION: dict[str, Any] = {"type": int, "default": 1, "help": "inputs per timed forward pass when latency is measured [1]"}


def write_rows(rows: Iterable[dict[str, Any]], fmt: str, columns: list[str]) -> None:
    """Rows to stdout as JSON lines or CSV (CSV keeps ``columns``; nested values as JSON), flushed one by one."""
    out, writer = sys.stdout, None
    if fmt == "csv":
        writer = csv.DictWriter(out, columns, extrasaction="ignore")
        writer.writeheader()
    for row in rows:
        if writer is None:
            out.write(json.dumps(row) + "\n")
        else:
            writer.writerow({k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in row.items()})
        out.flush()


def _score(args: argparse.Namespace) -> int:
    """``naswot score``: score the given architectures in this process, one output row each as it is done."""
    archs = canonical_archs(args.space, arch_inputs(args))
    device = resolve_device(args.device)
    source = open_source(args.data, args.data_dir, download=args.download)
    scorer = Scorer(get_space(args.space), source, batch_size=args.batch_size, seed=args.seed, device=device, **({"scores": args.score} if args.score else {}))
    extra = {"batch_size": args.batch_size, "seed": args.seed, "device": describe_device(device), "data": source.describe()}
    meter = LatencyMeter(scorer.space, source, device, batch=args.latency_batch) if LATENCY in args.costs else None

    def scored() -> Iterable[dict[str, Any]]:
        best = None
        with bar("scoring", len(archs)) as progress:
            scorer.on_reference = progress.along(REFERENCE_BAR, REFERENCE_NOTE)
            for result in scorer.score_many(archs):
                best = result.score if best is None or result.score > best else best
                progress.advance(note=best_note(best))
                yield {"space": args.space, **result.to_json(), **extra, **latency_columns(meter, result.arch)}

    write_rows(scored(), args.format, SCORE_COLUMNS + (["latency_ms", "latency_device"] if meter else []))
    return 0


def latency_columns(meter: LatencyMeter | None, arch: str) -> dict[str, Any]:
    """``latency_ms`` (and the device identity it was measured on) when ``--costs latency_ms`` asked for it."""
    return {} if meter is None else {"latency_ms": meter.measure(arch), "latency_device": meter.identity}


def cost_names(text: str) -> list[str]:
    """``latency_ms,...`` -> the cost names; an unknown one is a usage error naming it."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if unknown := [name for name in names if name not in COSTS]:
        raise argparse.ArgumentTypeError(f"unknown cost {unknown[0]!r}; known: {', '.join(COSTS)}")
    return names


def _search(args: argparse.Namespace) -> int:
    """``naswot search``: run a search here or on ``--url`` with a progress bar; print the top table.
    Ctrl-C ends it with the results so far (the job on ``--url`` cancelled) and exit status 130."""
    best: list[float | None] = [None]
    with bar(f"{args.strategy} search", args.budget) as progress, first_interrupt_stops(enabled=not args.url) as stop:

        def on_evaluation(evaluation: dict[str, Any]) -> None:
            best[0] = cli_search.best_of(best[0], evaluation)
            progress.advance(note=best_note(best[0]))

        if args.url:
            result = cli_search.run_remote(args, on_evaluation, lambda job: progress.total(job["progress"]["budget"]), stop)
        else:
            result = cli_search.run_local(args, on_evaluation, stop, progress.along(REFERENCE_BAR, REFERENCE_NOTE))
    top = [{"rank": rank, **e} for rank, e in enumerate(result["top"], 1)]
    print_table(f"top {len(top)} of {len(result['evaluations'])} ({result['status']})", TOP_COLUMNS, [[r[c] for c in TOP_COLUMNS] for r in top])
    if args.minimize:  # a multi-objective search answers with its front
        columns = cli_search.pareto_columns(args.minimize)
        print_table(f"Pareto front: {len(result['pareto'])} (score up; {', '.join(args.minimize)} down)", columns,
                    [[r.get(c) for c in columns] for r in result["pareto"]])
        write_rows(result["pareto"], args.format, columns)
    else:
        write_rows(top, args.format, TOP_COLUMNS)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    _say_skipped(result.get("outcome") or {})
    if stop.is_set():
        print(f"naswot: interrupted: the results of the {len(result['evaluations'])} evaluations so far", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0 if result["status"] == "done" else 1


def _say_skipped(outcome: dict[str, Any]) -> None:
    """On stderr: how many candidates the search skipped because their network could not be made, and the first reason."""
    if outcome.get("failed"):
        print(f"skipped {outcome['failed']} architecture(s) whose network could not be built or run; "
              f"first: {outcome['failures'][0]}", file=sys.stderr)


def _sample(args: argparse.Namespace) -> int:
    """``naswot sample``: uniformly drawn canonical encodings, one per line."""
    for arch in get_space(args.space).sample(args.n, seed=args.seed, unique=args.unique):
        print(arch)
    return 0


def _spaces(args: argparse.Namespace) -> int:
    """``naswot spaces``: every search space's description, one JSON object per line."""
    described = [space.describe() for space in load_all()]
    for line in broken_spaces().values():
        print(f"naswot: warning: {line}", file=sys.stderr)
    print_table("search spaces", ["name", "size", "encoding"], [[d["name"], d["size"], d["encoding"]] for d in described])
    write_rows(described, "jsonl", [])
    return 0


def _scores(args: argparse.Namespace) -> int:
    """``naswot scores``: every registered score and what computing it needs, one JSON object per line."""
    described = [info.to_json() for info in list_scores()]
    rows = [[d["name"], "backward" if d["needs_backward"] else "forward", "yes" if d["needs_labels"] else "no", d["description"]] for d in described]
    print_table("scores", ["name", "pass", "labels", "what"], rows)
    write_rows(described, "jsonl", [])
    return 0


def score_names(text: str) -> list[str]:
    """``a,b,c`` -> the score names (the Scorer checks each against the registry)."""
    return [name.strip() for name in text.split(",") if name.strip()]


def _add_space_options(parser: argparse.ArgumentParser, help_text: str | None = None) -> None:
    """``--space`` (the registered names) and ``--space-file`` (read before parsing: see :func:`main`)."""
    # a broken plugin's name is a choice too, so that choosing it says why it is unavailable
    parser.add_argument(
        "--space", default="nb201", choices=sorted([*list_spaces(), *broken_spaces()]), help=help_text or "the search space (see naswot spaces) [nb201]"
    )
    _add_space_file_option(parser)


def _add_space_file_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space-file", action="append", default=[], metavar="PATH", help="a space file (JSON/YAML) to load beside $NASWOT_SPACES (repeatable)")


def _add_scoring_options(parser: argparse.ArgumentParser, *, data_default: str | None = "auto") -> None:
    """Options every in-process scoring command shares: space, data, batch, seed, device."""
    _add_space_options(parser)
    parser.add_argument("--data", default=data_default, help="data source: cifar10, cifar100, cifar10:PATH, npz:PATH, noise, auto")
    parser.add_argument("--data-dir", default=_variable("data_dir"), help="folder holding (or receiving) data sets [$NASWOT_DATA_DIR]")
    parser.add_argument("--download", action="store_true", help="download CIFAR from its public home if missing")
    parser.add_argument("--batch-size", type=int, default=128, help="inputs per scoring pass (the minibatch the score sees) [128]")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data batch and the weights (and of the search or the subset drawn): same seed, same values [0]")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N [auto]")


def _variable(name: str) -> Any:
    """The setting ``name`` from its ``NASWOT_*`` variable alone, as an option's default."""
    return getattr(Settings.from_env(variables_of(None, name)), name)


def _add_service_options(parser: argparse.ArgumentParser, url_default: str | None) -> None:
    """Options of commands that can talk to a running service."""
    parser.add_argument("--url", default=url_default, help="a running service to ask instead of working in this process")
    parser.add_argument("--api-key", default=_variable("api_key"), help="the service's API key [$NASWOT_API_KEY]")


def _score_parser(commands: Any) -> None:
    """The ``score`` subcommand's options."""
    score = commands.add_parser("score", help="score architectures; one JSON object (or CSV row) per architecture")
    _add_scoring_options(score)
    score.add_argument("--arch", action="append", help="architecture encoding (repeatable)")
    score.add_argument("--file", help="file of encodings, one per line ('#' comments); - for stdin")
    score.add_argument(
        "--score", action="extend", type=score_names, default=None, metavar="NAME[,NAME...]",
        help="score names, comma-separated or repeated (see naswot scores); the first is the score column, each one a key of 'scores' [naswot]",
    )
    score.add_argument("--costs", action="extend", type=cost_names, default=[], help=f"costs to add to each row, comma-separated: {', '.join(COSTS)} (latency_ms is timed on --device) []")
    score.add_argument("--latency-batch", **LATENCY_BATCH_OPTION)
    score.add_argument("--format", choices=("jsonl", "csv"), default="jsonl", help="stdout as JSON lines or CSV [jsonl]")
    score.set_defaults(func=_score)


def _search_parser(commands: Any) -> None:
    """The ``search`` subcommand's options (the strategy parameters as flags)."""
    search = commands.add_parser("search", help="run a search with progress; prints the top table (JSON lines or CSV)")
    _add_scoring_options(search, data_default=None)
    search.add_argument("--strategy", default="evolution", help=f"the search strategy: {', '.join(list_strategies())} [evolution]")
    search.add_argument("--minimize", nargs="+", choices=COSTS, default=None,
                        help="costs to minimise while maximising the score: prints the Pareto front instead of the top table")
    search.add_argument("--budget", type=int, default=100, help="distinct architectures to score")
    search.add_argument("--top-k", type=int, default=10, help="architectures in the top table [10]")
    search.add_argument("--exclude-singular", action="store_true", help="leave architectures with an undefined score out of the top table")
    add_constraint_options(search)
    search.add_argument("--latency-batch", **LATENCY_BATCH_OPTION)
    add_strategy_options(search)
    search.add_argument("--format", choices=("jsonl", "csv"), default="jsonl", help="stdout as JSON lines or CSV [jsonl]")
    search.add_argument("--out", default=None, help="also write the whole result (request, top, every evaluation) as JSON")
    _add_service_options(search, None)
    search.add_argument("--score", default=None, help="score to search with (see naswot scores) [naswot]")
    search.set_defaults(func=_search)


def _small_parsers(commands: Any) -> None:
    """The ``sample``, ``spaces``, ``scores`` and ``serve`` subcommands."""
    sample = commands.add_parser("sample", help="architectures drawn uniformly; one canonical encoding per line")
    _add_space_options(sample)
    sample.add_argument("--n", type=int, default=10, help="architectures to draw [10]")
    sample.add_argument("--seed", type=int, default=0, help="seed of the draws: same seed, same architectures [0]")
    sample.add_argument("--unique", action="store_true", help="no architecture twice")
    sample.set_defaults(func=_sample)
    spaces = commands.add_parser("spaces", help="the search spaces; one JSON object per line")
    _add_space_file_option(spaces)
    spaces.set_defaults(func=_spaces)
    scores = commands.add_parser("scores", help="the training-free scores; one JSON object per line")
    scores.set_defaults(func=_scores)
    serve = commands.add_parser("serve", help="run the HTTP scoring service and dashboard (settings from NASWOT_* variables)")
    serve.add_argument("--host", default=None, help="address to bind [$NASWOT_HOST, else 127.0.0.1]")
    serve.add_argument("--port", type=int, default=None, help="port to listen on [$NASWOT_PORT, else 8000]")
    serve.set_defaults(func=cli_serve.serve)


def _table_parser(commands: Any) -> None:
    """The ``table`` subcommand's options."""
    table = commands.add_parser("table", help="score a whole space (or --n cells) into a resumable index,arch,score CSV")
    _add_scoring_options(table)
    cli_report.add_table_options(table)
    table.add_argument("--score", dest="scores", action="extend", type=score_names, default=None, metavar="NAME[,NAME...]",
                       help="score names, comma-separated or repeated (see naswot scores), one column each [naswot]")
    table.add_argument("--scores", dest="scores", action="extend", type=score_names, help=argparse.SUPPRESS)  # its older name, kept working
    table.set_defaults(func=cli_report.run_table)


def _report_parser(commands: Any) -> None:
    """The ``report`` subcommand's options."""
    report = commands.add_parser("report", help="size-bias report of a score table or a search: PNG plots, report.md, JSON on stdout")
    report.add_argument("source", metavar="TABLE_OR_SEARCH_ID", help="a score table CSV, or the id of a search on --url")
    report.add_argument("--score", default=None, help="the table's score column [naswot, else score]")
    _add_space_options(report, "the table's space when it has no meta file")
    report.add_argument("--accuracy", type=Path, default=None, help="ground truth CSV (arch and accuracy columns), e.g. nb201-accuracy.csv")
    report.add_argument("--accuracy-column", default="cifar10_test", help="the accuracy CSV's column to compare with [cifar10_test]")
    report.add_argument("--top-k", type=int, default=None, help="top-k for the op shares [a tenth of the rows]")
    report.add_argument("--out-dir", type=Path, default=None, help="folder for the plots and report.md [TABLE.report/ or report-ID/]")
    _add_service_options(report, _variable("url") or "http://127.0.0.1:8000")
    report.set_defaults(func=cli_report.run_report)


def _calibrate_parser(commands: Any) -> None:
    """The ``calibrate`` subcommand's options."""
    calibrate = commands.add_parser("calibrate", help="score trained networks with every score, report each against size, write a calibrated scorer")
    _add_scoring_options(calibrate)
    cli_calibrate.add_options(calibrate)
    calibrate.set_defaults(func=cli_calibrate.run)


def build_parser() -> argparse.ArgumentParser:
    """The ``naswot`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="naswot", description="Training-free architecture scoring (NASWOT).")
    commands = parser.add_subparsers(dest="command", required=True)
    for add in (_score_parser, _search_parser, _table_parser, _report_parser, _calibrate_parser, _small_parsers):
        add(commands)
    return parser


def _api_message(exc: ApiError) -> str:
    """A service error as one line per problem: the field, then the reason."""
    if isinstance(exc.detail, list):
        return "; ".join(f"{'.'.join(map(str, d.get('loc', [])))}: {d.get('msg')}" for d in exc.detail)
    return f"HTTP {exc.status}: {exc.detail}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; errors print one line naming the bad input and exit 2."""
    try:
        load_cli_spaces(argv)  # before parsing: --space lists the loaded spaces
    except ValueError as exc:
        print(f"naswot: error: {exc}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    try:
        kernels.configure(gram_kernel_from_env())
        return args.func(args)
    except ApiError as exc:
        print(f"naswot: error: {_api_message(exc)}", file=sys.stderr)
        return 2
    except httpx.TransportError as exc:
        print(f"naswot: error: cannot reach the service at --url: {exc}", file=sys.stderr)
        return 2
    except (EncodingError, ValueError, KeyError, FileNotFoundError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"naswot: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a second Ctrl-C in a search, or one in any other command: no traceback
        print("\nnaswot: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
