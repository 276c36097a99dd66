"""Size-bias report: how much a score says beyond an architecture's size.

Pure functions over rows of (arch, score, params, flops[, accuracy]): rank correlations of the
score with #params and FLOPs; with ground truth, the partial correlation with accuracy given
#params and the mean Kendall inside equal-#params groups; how often each value of each decision
appears among the top-k against the space's base rate (the space decomposes its encodings itself,
:meth:`searchspace.SearchSpace.decisions`); how much of the Pareto front of score against cost is
"the bigger the better" (:mod:`app.analysis.front_bias`). ``write_plots`` and ``markdown`` add PNG plots and Markdown.
"""

from __future__ import annotations

import csv
import gzip
import math
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from scipy import stats

from scoring import json_number
from scoring.undefined import from_table_cell, with_finite_floor
from searchspace import SearchSpace, get_space

from app.analysis.front_bias import front_bias, front_lines


@dataclass(frozen=True)
class Row:
    """One scored architecture; ``score`` is ``-inf`` when singular, ``accuracy`` ``None`` when unknown."""

    arch: str
    score: float
    params: int
    flops: int
    accuracy: float | None = None
    latency_ms: float | None = None  # measured by a search that asked for it


def _finite_scores(rows: Sequence[Row]) -> np.ndarray:
    """Scores with ``-inf`` (singular) replaced by a value below every finite one: the same ranks, usable by rank statistics."""
    return np.array(with_finite_floor(r.score for r in rows), dtype=float)


def _clean(value: float) -> float | None:
    """A statistic as JSON can carry it: ``None`` when undefined (constant input, too few rows)."""
    value = json_number(float(value))
    return None if value is None else round(value, 4)


def _kendall(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall tau-b; NaN (never a warning) when an input is constant."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        return float(stats.kendalltau(x, y).statistic)


def _spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rho; NaN (never a warning) when an input is constant."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        return float(stats.spearmanr(x, y).statistic)


def rank_correlations(x: Sequence[float], y: Sequence[float]) -> dict[str, float | None]:
    """Kendall tau-b and Spearman rho between two sequences (``None`` where undefined)."""
    if len(x) < 3:
        return {"kendall": None, "spearman": None}
    return {"kendall": _clean(_kendall(x, y)), "spearman": _clean(_spearman(x, y))}


def partial_spearman(x: Sequence[float], y: Sequence[float], given: Sequence[float]) -> float | None:
    """Spearman correlation of x and y with ``given`` partialled out (first-order partial correlation on ranks)."""
    rxy, rxz, ryz = (_spearman(a, b) for a, b in ((x, y), (x, given), (y, given)))
    denominator = math.sqrt(max((1 - rxz**2) * (1 - ryz**2), 0.0))
    return None if denominator == 0 or math.isnan(denominator) else _clean((rxy - rxz * ryz) / denominator)


def within_groups_kendall(scores: Sequence[float], accuracy: Sequence[float], params: Sequence[int]) -> dict[str, Any]:
    """Kendall of score against accuracy inside each group of equal #params: the plain and the pair-weighted mean over groups."""
    groups: dict[int, list[int]] = defaultdict(list)
    for i, p in enumerate(params):
        groups[p].append(i)
    taus, pairs = [], []
    for members in groups.values():
        if len(members) < 3:
            continue
        tau = _kendall([scores[i] for i in members], [accuracy[i] for i in members])
        if not math.isnan(tau):
            taus.append(tau)
            pairs.append(len(members) * (len(members) - 1) / 2)
    return {
        "groups": len(taus),
        "cells": int(sum(len(m) for m in groups.values() if len(m) >= 3)),
        "mean_kendall": _clean(np.mean(taus)) if taus else None,
        "pair_weighted_kendall": _clean(np.average(taus, weights=pairs)) if taus else None,
    }


def size_bias(rows: Sequence[Row]) -> dict[str, Any]:
    """Kendall and Spearman of the score with #params and with FLOPs."""
    scores = _finite_scores(rows)
    return {
        "params": rank_correlations(scores, [r.params for r in rows]),
        "flops": rank_correlations(scores, [r.flops for r in rows]),
    }


def accuracy_figures(rows: Sequence[Row]) -> dict[str, Any] | None:
    """With ground truth: the score's and #params' correlation with accuracy, the partial one given #params, and within equal-#params groups."""
    known = [r for r in rows if r.accuracy is not None]
    if len(known) < 3:
        return None
    scores, accuracy, params = _finite_scores(known), [r.accuracy for r in known], [r.params for r in known]
    return {
        "n": len(known),
        "score": rank_correlations(scores, accuracy),
        "params": rank_correlations(params, accuracy),
        "partial_spearman_given_params": partial_spearman(scores, accuracy, params),
        "within_equal_params": within_groups_kendall(list(scores), accuracy, params),
    }


@dataclass(frozen=True)
class Shares:
    """How a set of architectures decides: each value's share of its position's decisions, and the parameter-free share."""

    rates: dict[tuple[str, object], float]  # (position, value) -> share among that position's decisions, positions in order
    free: float | None  # share of all decisions taking a parameter-free value (None: no decisions)


def decision_shares(space: SearchSpace, archs: Iterable[str]) -> Shares:
    """The :class:`Shares` of ``archs``, read through the space's own :meth:`~searchspace.SearchSpace.decisions`."""
    counts: Counter[tuple[str, object]] = Counter()
    per_position: Counter[str] = Counter()
    for arch in archs:
        for position, value in space.decisions(arch):
            counts[position, value] += 1
            per_position[position] += 1
    order = {p: i for i, p in enumerate(per_position)}
    keys = sorted(counts, key=lambda pv: (order[pv[0]], *value_order(pv[1])))
    total = sum(per_position.values())
    free = sum(c for (_, v), c in counts.items() if v in space.parameter_free) / total if total else None
    return Shares({k: counts[k] / per_position[k[0]] for k in keys}, free)


def value_order(value: object) -> tuple[int, float, str]:
    """How a decision's values are listed: numbers by size (8, 16, 128), before any other value by its text."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def top_rows(rows: Sequence[Row], k: int) -> list[Row]:
    """The k best rows by score (singular last; ties keep the earlier row first)."""
    return sorted(rows, key=lambda r: -r.score)[:k]


def op_frequencies(space: SearchSpace, rows: Sequence[Row], base_archs: Sequence[str], k: int) -> dict[str, Any]:
    """How often each value of each decision appears among the top-k rows against its base rate in ``base_archs``
    (a uniform sample of the space), and the same for the parameter-free values taken together."""
    top, base = decision_shares(space, (r.arch for r in top_rows(rows, k))), decision_shares(space, base_archs)
    ops = [
        {"position": p, "value": v, "top_rate": round(top.rates.get((p, v), 0.0), 4), "base_rate": round(rate, 4), "ratio": _clean(top.rates.get((p, v), 0.0) / rate)}
        for (p, v), rate in base.rates.items()
    ]
    free_values = sorted({v for (_, v) in base.rates if v in space.parameter_free}, key=value_order)
    parameter_free = None
    if free_values and base.free and top.free is not None:
        parameter_free = {"values": free_values, "top_rate": round(top.free, 4), "base_rate": round(base.free, 4), "ratio": _clean(top.free / base.free)}
    return {"top_k": min(k, len(rows)), "ops": ops, "parameter_free": parameter_free}


#: base rates come from the whole space when it is this small, else from a seeded uniform sample of this many
BASE_SAMPLE = 4000


@lru_cache(maxsize=8)
def base_archs(space_name: str) -> tuple[str, ...]:
    """Architectures that stand for the space's base rate of each op: all of them, or a seeded uniform sample."""
    space = get_space(space_name)
    if space.size is not None and space.size <= 4 * BASE_SAMPLE:
        try:
            return tuple(space.enumerate())
        except NotImplementedError:
            pass
    return tuple(space.sample(BASE_SAMPLE, seed=0))


def default_top_k(n: int) -> int:
    """Top-k for the op frequencies when none is given: the best tenth, at least one row."""
    return max(1, n // 10)


def bias_report(
    space: SearchSpace, rows: Sequence[Row], base_archs: Sequence[str], *, top_k: int | None = None, score_name: str = "naswot", minimize: Sequence[str] = (),
) -> dict[str, Any]:
    """Every figure of the report, JSON-ready; ``minimize``: the costs of the front whose size bias it states (default params)."""
    k = top_k or default_top_k(len(rows))
    return {
        "score_name": score_name,
        "n": len(rows),
        "singular": sum(1 for r in rows if r.score == -math.inf),
        "size": size_bias(rows),
        "accuracy": accuracy_figures(rows),
        "ops": op_frequencies(space, rows, base_archs, k),
        "front": front_bias(rows, minimize),
    }


# -- reading tables ---------------------------------------------------------------------------


def score_column(header: Sequence[str], wanted: str | None) -> str:
    """The score column of a table: ``wanted`` when given, else ``naswot``, else ``score``; ValueError naming the columns."""
    candidates = [wanted] if wanted else ["naswot", "score"]
    for name in candidates:
        if name in header:
            return name
    raise ValueError(f"no score column {' or '.join(map(repr, candidates))} in the table (its columns: {', '.join(header)})")


def open_csv(path: Path) -> TextIO:
    """A CSV file for reading, gzip-compressed when its name ends in ``.gz`` (as the committed tables are)."""
    return gzip.open(path, "rt", newline="") if path.suffix == ".gz" else path.open(newline="")


def read_score_table(path: Path, score: str | None = None) -> tuple[str, list[tuple[str, float]]]:
    """(score column used, [(arch, score)]) from a score table CSV (or .csv.gz); an empty score cell is a singular (``-inf``) one."""
    with open_csv(path) as f:
        reader = csv.DictReader(f)
        column = score_column(reader.fieldnames or [], score)
        if "arch" not in (reader.fieldnames or []):
            raise ValueError(f"{path}: no 'arch' column")
        return column, [(row["arch"], from_table_cell(row[column])) for row in reader]


def read_accuracy(path: Path, column: str = "cifar10_test") -> dict[str, float]:
    """arch -> accuracy from a ground-truth CSV or .csv.gz (``arch`` and the named column)."""
    with open_csv(path) as f:
        reader = csv.DictReader(f)
        if column not in (reader.fieldnames or []):
            raise ValueError(f"{path}: no accuracy column {column!r} (its columns: {', '.join(reader.fieldnames or [])})")
        return {row["arch"]: float(row[column]) for row in reader if row[column]}


# -- plots and Markdown -------------------------------------------------------------------------


def _fmt(value: float | None) -> str:
    """A statistic in the Markdown tables (``n/a`` when undefined)."""
    return "n/a" if value is None else f"{value:.3f}"


def _size_lines(report: dict[str, Any]) -> list[str]:
    """Markdown rows: the score against #params and FLOPs."""
    size = report["size"]
    return [
        "| measure | Kendall | Spearman |",
        "|---|---|---|",
        *(f"| {report['score_name']} vs {label} | {_fmt(size[key]['kendall'])} | {_fmt(size[key]['spearman'])} |" for key, label in (("params", "#params"), ("flops", "FLOPs"))),
    ]


def _accuracy_lines(report: dict[str, Any]) -> list[str]:
    """Markdown rows: the figures that need ground truth."""
    acc = report["accuracy"]
    if not acc:
        return ["No ground truth given: accuracy figures left out."]
    groups = acc["within_equal_params"]
    return [
        f"| with accuracy ({acc['n']} cells) | Kendall | Spearman |",
        "|---|---|---|",
        f"| {report['score_name']} | {_fmt(acc['score']['kendall'])} | {_fmt(acc['score']['spearman'])} |",
        f"| #params | {_fmt(acc['params']['kendall'])} | {_fmt(acc['params']['spearman'])} |",
        "",
        f"- partial Spearman of {report['score_name']} with accuracy given #params: {_fmt(acc['partial_spearman_given_params'])}",
        f"- Kendall with accuracy inside equal-#params groups ({groups['groups']} groups of >= 3 cells, {groups['cells']} cells): "
        f"mean {_fmt(groups['mean_kendall'])}, pair-weighted {_fmt(groups['pair_weighted_kendall'])}",
    ]


def _ops_lines(ops: dict[str, Any]) -> list[str]:
    """Markdown rows: each decision value's share among the top-k against the space."""
    lines = [f"| position | value | top {ops['top_k']} | space | ratio |", "|---|---|---|---|---|"]
    lines += [f"| {o['position']} | {o['value']} | {o['top_rate']:.3f} | {o['base_rate']:.3f} | {_fmt(o['ratio'])} |" for o in ops["ops"]]
    if free := ops["parameter_free"]:
        lines.append(f"| parameter-free | {', '.join(map(str, free['values']))} | {free['top_rate']:.3f} | {free['base_rate']:.3f} | {_fmt(free['ratio'])} |")
    return lines


def markdown(report: dict[str, Any], source: str, plots: Sequence[Path] = ()) -> str:
    """The report as a Markdown summary: size correlations, accuracy figures, op shares, the plots."""
    lines = [
        f"# Size bias of {report['score_name']}: {source}",
        "",
        f"{report['n']} architectures, {report['singular']} singular (ranked below every finite score).",
        "",
        *_size_lines(report),
        "",
        *_accuracy_lines(report),
        "",
        *_ops_lines(report["ops"]),
        "",
        *front_lines(report["front"]),
        "",
        *(f"![{p.stem}]({p.name})" for p in plots),
    ]
    return "\n".join(lines) + "\n"
