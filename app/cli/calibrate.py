"""``naswot calibrate``: score a few trained networks with every score, report how each ranks them against model
size, and write the calibrated scorer (:mod:`scoring.calibration`) as JSON.

The labels file is a CSV with ``arch`` and ``accuracy`` columns (any metric where higher is better; with
``--lower-is-better`` an error rate). Scoring runs in this process with :class:`scoring.Scorer`, as ``naswot
score`` does: every registered score, the default ensemble among them (scores needing labelled data only when
the data source has labels); a score undefined on every labelled network is left out and named.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path
from typing import Any

from scoring import Scorer, describe_device, list_scores, open_source, resolve_device
from scoring.calibration import Calibration, CalibrationError, calibrate
from scoring.ensemble import PREFIX as ENSEMBLE
from searchspace import EncodingError, get_space

from app.cli.progress import bar, print_table

COLUMNS = ("arch", "accuracy")


def add_options(parser: argparse.ArgumentParser) -> None:
    """The options beside the scoring ones (space, data, batch size, seed, device)."""
    parser.add_argument("--labels", type=Path, required=True, help="CSV with arch and accuracy columns (10 to 10,000 trained networks)")
    parser.add_argument("--lower-is-better", action="store_true", help="the labels are an error rate, not an accuracy")
    parser.add_argument("--name", default=None, help="the calibration's name [the labels file's stem]")
    parser.add_argument("--out", type=Path, default=None, help="where to write the model JSON [NAME.calibration.json]")


def read_labels(path: Path, space_name: str) -> tuple[list[str], list[float]]:
    """Canonical encodings and labels from the CSV; a bad row is named by its line."""
    space = get_space(space_name)
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(f"{path}: no {' or '.join(missing)} column (expected a header {','.join(COLUMNS)})")
        lines: dict[str, int] = {}
        labels = []
        for line, row in enumerate(reader, 2):
            try:
                arch = space.canonical(row["arch"])
            except EncodingError as exc:
                raise EncodingError(f"{path} line {line}: {exc}") from exc
            if arch in lines:
                raise ValueError(f"{path} line {line}: the network of line {lines[arch]} again ({arch})")
            lines[arch] = line
            labels.append(_number(row["accuracy"], f"{path} line {line}"))
    return list(lines), labels


def _number(text: str | None, where: str) -> float:
    try:
        value = float(text or "")
    except ValueError:
        raise ValueError(f"{where}: accuracy {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{where}: accuracy {text!r} is not a finite number")
    return value


def score_names(source: Any, batch_size: int, seed: int) -> list[str]:
    """Every registered score (the default ensemble first); those needing labels only when the source has them."""
    labelled = source.labels(batch_size, seed) is not None
    names = [info.name for info in list_scores() if labelled or not info.needs_labels]
    return sorted(names, key=lambda n: n != ENSEMBLE)


def score_values(scorer: Scorer, archs: list[str]) -> dict[str, list[float]]:
    """Each score's values on ``archs`` (in order), with a progress bar; scores undefined everywhere are dropped and named."""
    with bar("scoring", len(archs)) as progress:
        results = []
        for result in scorer.score_many(archs):
            results.append(result)
            progress.advance()
    values = {name: [r.values[name] for r in results] for name in scorer.score_names}
    undefined = [n for n, v in values.items() if not any(math.isfinite(x) for x in v)]
    if undefined:
        print(f"left out, undefined on every labelled network: {', '.join(undefined)}", file=sys.stderr)
    return {n: v for n, v in values.items() if n not in undefined}


def print_result(result: Calibration, name: str) -> None:
    """The per-score table and the candidates' cross-validated Kendall (stderr, for a person)."""
    print_table(f"calibration {name!r}: {result.labels} labelled networks", ["score", "kendall", "95% interval", "spearman", "P(beats size)"],
                [[r.name, f"{r.kendall:.3f}", f"{r.interval[0]:.3f} .. {r.interval[1]:.3f}", f"{r.spearman:.3f}", f"{r.beats_size:.2f}"] for r in result.scores])
    print_table("cross-validated Kendall (same folds)", ["model", "kendall", "95% interval", "chosen"],
                [[v.name, f"{v.kendall:.3f}", f"{v.interval[0]:.3f} .. {v.interval[1]:.3f}", "yes" if v is result.chosen else ""] for v in result.validated])


def run(args: argparse.Namespace) -> int:
    """Score the labelled networks, calibrate, print the tables, write the model; one JSON summary line on stdout."""
    archs, labels = read_labels(args.labels, args.space)
    source = open_source(args.data, args.data_dir, download=args.download)
    scorer = Scorer(get_space(args.space), source, batch_size=args.batch_size, seed=args.seed, device=resolve_device(args.device), scores=score_names(source, args.batch_size, args.seed))
    values = score_values(scorer, archs)
    try:
        result = calibrate(archs, labels, values, higher_is_better=not args.lower_is_better, seed=args.seed)
    except CalibrationError as exc:
        raise ValueError(f"{args.labels}: {_line_of(exc)}") from None
    name = args.name or args.labels.stem
    out = args.out or Path(f"{name}.calibration.json")
    settings = {k: v for k, v in scorer.describe().items() if k != "device"}
    out.write_text(json.dumps({"name": name, "settings": settings, "higher_is_better": not args.lower_is_better, **result.to_json()}, indent=1))
    print_result(result, name)
    summary = {"name": name, "out": str(out), "labels": result.labels, "chosen": result.chosen.name, "kendall": result.chosen.kendall,
               "interval": list(result.chosen.interval), "device": describe_device(scorer.device)}
    print(json.dumps(summary))
    return 0


def _line_of(exc: CalibrationError) -> str:
    """The error with ``labels[i]`` given as the file's line (the header is line 1)."""
    if exc.field.startswith("labels[") and exc.field.endswith("]"):
        return f"line {int(exc.field[len('labels[') : -1]) + 2}: {exc.reason}"
    return str(exc)
