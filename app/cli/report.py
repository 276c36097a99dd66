"""``naswot table`` and ``naswot report``: score a whole space into a table, and report a table's or a search's size bias."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from scoring import ScoredArch, Scorer, describe_device, from_json_number, open_source, resolve_device
from searchspace import ChoiceSpace, SearchSpace, get_space

import app.analysis.report as report
import app.analysis.report_plots as report_plots

import app.cli.scoretable as scoretable
from app.client import Client
from app.cli.progress import bar, best_note

#: the scores of a table when ``--score`` names none
TABLE_SCORES = ("naswot",)


def rows_with_costs(
    space: SearchSpace, scored: list[tuple[str, float]], accuracy: dict[str, float], latency: dict[str, float] | None = None,
) -> list[report.Row]:
    """Report rows for (arch, score) pairs: #params and FLOPs from the space's cost model, accuracy and latency when known."""
    rows = []
    for arch, score in scored:
        cost = space.cost(arch)
        rows.append(report.Row(arch, score, cost.params, cost.flops, accuracy.get(arch), (latency or {}).get(arch)))
    return rows


def table_space(path: Path, fallback: str) -> SearchSpace:
    """The table's space as its meta file records it, else ``--space``."""
    meta = scoretable.meta_path(path)
    name = json.loads(meta.read_text()).get("space", fallback) if meta.exists() else fallback
    return get_space(name)


def rows_from_search(args: argparse.Namespace) -> tuple[str, SearchSpace, str, list[tuple[str, float]], list[str], dict[str, float]]:
    """(label, space, score name, [(arch, score)], the costs it minimised, measured latencies by arch) of a search job on ``--url``."""
    with Client(args.url, api_key=args.api_key) as client:
        job = client.search(args.source)
        evaluations = client.evaluations(args.source)
    scored = [(e["arch"], from_json_number(e["score"])) for e in evaluations]
    label = f"search {job['id']} ({job['strategy']}, {len(scored)} evaluations)"
    latency = {e["arch"]: e["latency_ms"] for e in evaluations if e.get("latency_ms") is not None}
    return label, get_space(job["space"]), job["request"].get("score", "naswot"), scored, job["request"].get("minimize", []), latency


def load_rows(args: argparse.Namespace) -> tuple[str, SearchSpace, str, list[report.Row], Path, list[str]]:
    """(label, space, score name, rows, default output folder, costs of the front) for a table file or a search id."""
    accuracy = report.read_accuracy(args.accuracy, args.accuracy_column) if args.accuracy else {}
    path = Path(args.source)
    if path.is_file():
        column, scored = report.read_score_table(path, args.score)
        space, label, folder = table_space(path, args.space), f"table {path.name}", path.with_name(path.name + ".report")
        minimize: list[str] = []
        latency: dict[str, float] = {}
    else:
        label, space, column, scored, minimize, latency = rows_from_search(args)
        folder = Path(f"report-{args.source}")
    return label, space, column, rows_with_costs(space, scored, accuracy, latency), folder, minimize


def run_report(args: argparse.Namespace) -> int:
    """Write the PNG plots and ``report.md``; print the figures as JSON on stdout."""
    label, space, column, rows, folder, minimize = load_rows(args)
    if not rows:
        raise ValueError(f"{args.source}: no scored architectures to report on")
    figures = report.bias_report(space, rows, report.base_archs(space.name), top_k=args.top_k, score_name=column, minimize=minimize)
    out = args.out_dir or folder
    plots = report_plots.write_plots(rows, figures, out)
    (out / "report.md").write_text(report.markdown(figures, label, plots))
    print(json.dumps({"source": label, "space": space.name, "folder": str(out), **figures}))
    print(f"report written to {out / 'report.md'}", file=sys.stderr)
    return 0


def add_table_options(table: argparse.ArgumentParser) -> None:
    """``naswot table``'s own options (beside the scoring options every in-process command shares)."""
    table.add_argument("--out", type=Path, required=True, help="CSV file to write or resume (keep it outside the repository)")
    table.add_argument("--n", type=int, default=None, help="a seeded subset of this many distinct cells (default: all)")
    table.add_argument("--first", type=int, default=None, help="score only the first K cells of that list")
    table.add_argument("--precision", default="exact", help="exact (default), or an opt-in faster mode: bf16, tf32 (CUDA)")
    table.add_argument("--cells-per-pass", type=int, default=1, help="NB-201 only, opt-in: stack this many cells per forward pass")
    table.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice; with --executor ray: per actor, default 1)")
    table.add_argument("--workers", type=int, default=1, help="score in this many processes, one torch thread each")
    table.add_argument("--executor", choices=["local", "ray"], default="local", help="score here (--workers), or on Ray actors")
    table.add_argument("--address", default=None, help="Ray cluster address (default: RAY_ADDRESS, else a local cluster)")
    table.add_argument("--actors", type=int, default=None, help="Ray actors (default: one per GPU, else one per CPU)")


def table_scorer(args: argparse.Namespace, space: SearchSpace | None = None) -> Scorer:
    """The scorer of ``naswot table`` (module level: ``--workers`` processes build their own from ``args``, given
    ``space`` when it comes from a space file, which they have not loaded: such a space pickles as its text)."""
    source = open_source(args.data, args.data_dir, download=args.download)
    return Scorer(
        space or get_space(args.space), source, batch_size=args.batch_size, seed=args.seed, device=resolve_device(args.device),
        precision=args.precision, cells_per_pass=args.cells_per_pass, scores=args.scores or TABLE_SCORES,
    )


def table_results(scorer: Scorer, args: argparse.Namespace, todo: list[str]) -> Iterator[ScoredArch]:
    """Scores of ``todo`` in order: here, in ``--workers`` processes, or on Ray actors."""
    if args.executor == "ray":
        if args.cells_per_pass != 1:
            raise ValueError("--cells-per-pass is not available with --executor ray")
        return scoretable.ray_scores(scorer, todo, address=args.address, actors=args.actors, threads=args.threads or 1)
    if args.workers > 1:
        from_file = scorer.space if isinstance(scorer.space, ChoiceSpace) else None
        return scoretable.pooled_scores(functools.partial(table_scorer, args, from_file), todo, args.workers)
    return scorer.score_many(todo)


def run_table(args: argparse.Namespace) -> int:
    """Score the space (or ``--n`` seeded cells) into ``--out``, skipping the cells already there; a progress bar with rate and ETA."""
    if args.threads and args.executor == "local":
        torch.set_num_threads(args.threads)
    space = get_space(args.space)
    index = scoretable.enumeration_index(space)
    archs = scoretable.chosen_archs(space, index, args.n, args.seed)[: args.first]
    scorer = table_scorer(args)
    names = list(scorer.score_names)
    done = scoretable.open_table(args.out, scoretable.table_settings(scorer), names)
    todo = [a for a in archs if a not in done]
    best = None
    with bar(f"{space.name} table", len(archs), done_before=len(archs) - len(todo)) as progress:
        for result in scoretable.append_results(args.out, table_results(scorer, args, todo), index, names):
            best = result.score if best is None or result.score > best else best
            progress.advance(note=best_note(best))
    summary: dict[str, Any] = {"out": str(args.out), "space": space.name, "scores": names, "cells": len(done) + len(todo),
                               "new": len(todo), "device": describe_device(resolve_device(args.device)), "data": scorer.source.spec}
    print(json.dumps(summary))
    return 0
