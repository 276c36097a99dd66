"""``naswot table`` and ``naswot report``: score a whole space into a table, and report a table's or a search's size bias."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from scoring import Scorer, describe_device, from_json_number, open_source, resolve_device
from searchspace import SearchSpace, get_space

from . import report, scoretable
from .client import Client
from .progress import bar, best_note

def rows_with_costs(space: SearchSpace, scored: list[tuple[str, float]], accuracy: dict[str, float]) -> list[report.Row]:
    """Report rows for (arch, score) pairs: #params and FLOPs from the space's cost model, accuracy when known."""
    rows = []
    for arch, score in scored:
        cost = space.cost(arch)
        rows.append(report.Row(arch, score, cost.params, cost.flops, accuracy.get(arch)))
    return rows


def table_space(path: Path, fallback: str) -> SearchSpace:
    """The table's space as its meta file records it, else ``--space``."""
    meta = scoretable.meta_path(path)
    name = json.loads(meta.read_text()).get("space", fallback) if meta.exists() else fallback
    return get_space(name)


def rows_from_search(args: argparse.Namespace) -> tuple[str, SearchSpace, str, list[tuple[str, float]], list[str]]:
    """(label, space, score name, [(arch, score)], the costs it minimised) of a search job on ``--url``."""
    with Client(args.url, api_key=args.api_key) as client:
        job = client.search(args.source)
        evaluations = client.evaluations(args.source)
    scored = [(e["arch"], from_json_number(e["score"])) for e in evaluations]
    label = f"search {job['id']} ({job['strategy']}, {len(scored)} evaluations)"
    return label, get_space(job["space"]), job["request"].get("score", "naswot"), scored, job["request"].get("minimize", [])


def load_rows(args: argparse.Namespace) -> tuple[str, SearchSpace, str, list[report.Row], Path, list[str]]:
    """(label, space, score name, rows, default output folder, costs of the front) for a table file or a search id."""
    accuracy = report.read_accuracy(args.accuracy, args.accuracy_column) if args.accuracy else {}
    path = Path(args.source)
    if path.is_file():
        column, scored = report.read_score_table(path, args.score)
        space, label, folder = table_space(path, args.space), f"table {path.name}", path.with_name(path.name + ".report")
        minimize: list[str] = []
    else:
        label, space, column, scored, minimize = rows_from_search(args)
        folder = Path(f"report-{args.source}")
    return label, space, column, rows_with_costs(space, scored, accuracy), folder, minimize


def run_report(args: argparse.Namespace) -> int:
    """Write the PNG plots and ``report.md``; print the figures as JSON on stdout."""
    label, space, column, rows, folder, minimize = load_rows(args)
    if not rows:
        raise ValueError(f"{args.source}: no scored architectures to report on")
    figures = report.bias_report(space, rows, report.base_archs(space.name), top_k=args.top_k, score_name=column, minimize=minimize)
    out = args.out_dir or folder
    plots = report.write_plots(rows, figures, out)
    (out / "report.md").write_text(report.markdown(figures, label, plots))
    print(json.dumps({"source": label, "space": space.name, "folder": str(out), **figures}))
    print(f"report written to {out / 'report.md'}", file=sys.stderr)
    return 0


def run_table(args: argparse.Namespace) -> int:
    """Score the space (or ``--n`` seeded cells) into ``--out``, skipping the cells already there; a progress bar with rate and ETA."""
    space = get_space(args.space)
    index = scoretable.enumeration_index(space)
    archs = scoretable.chosen_archs(space, index, args.n, args.seed)
    device = resolve_device(args.device)
    source = open_source(args.data, args.data_dir, download=args.download)
    scorer = Scorer(space, source, batch_size=args.batch_size, seed=args.seed, device=device, scores=args.scores)
    done = scoretable.open_table(args.out, scoretable.table_settings(scorer), list(scorer.score_names))
    todo = [a for a in archs if a not in done]
    best = None
    with bar(f"{space.name} table", len(todo)) as progress:
        for result in scoretable.append_scores(args.out, scorer, todo, index):
            best = result.score if best is None or result.score > best else best
            progress.advance(note=best_note(best))
    summary: dict[str, Any] = {"out": str(args.out), "space": space.name, "scores": list(scorer.score_names), "cells": len(done) + len(todo),
                               "new": len(todo), "device": describe_device(device), "data": source.spec}
    print(json.dumps(summary))
    return 0
