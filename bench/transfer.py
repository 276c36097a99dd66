"""How the scores' rankings transfer between spaces: Kendall and Spearman with CIFAR-10 test accuracy on NB-201 and on
nb-macro (NAS-Bench-Macro), from the committed score tables and the shared ground truth.

    python bench/transfer.py [--spaces nb201,nb-macro] [--resamples 200] [--seed 0]

For each space it reads every committed table of that space (``bench/results/*.csv.gz`` whose meta file
names it) and prints, per score column, ``params`` and ``flops``: the rows it was computed on (the
largest table holding it: the whole space where one does), Kendall tau-b and Spearman rho with the
CIFAR-10 test accuracy (NB-201: ``cifar10_test``; nb-macro: the mean of its three trainings), each with
a seeded bootstrap 95% percentile interval; params and flops also over every network of the ground truth.  Then the default ensemble on the rows where all its
members were computed (its tables joined on ``arch``), beside params and flops on the same rows, and its
margin over the better of the two.  Last line, per space: ``SPACE: ensemble_kendall=K size_kendall=K
margin=M rows=N`` (``ensemble_kendall=nan`` where a member is missing).
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from common import RESULTS, correlations, load_truth, read_columns, read_scores
from scoring import DEFAULT_MEMBERS
from searchspace import get_space

SIZE = ("params", "flops")
TARGET = "cifar10_test"


@dataclass(frozen=True)
class Figure:
    """One correlation with its bootstrap interval."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:6.3f} [{self.low:6.3f}, {self.high:6.3f}]"


def space_tables(space: str, folder: Path = RESULTS) -> list[Path]:
    """The committed tables of ``space`` (their meta files name it), largest first."""
    found = []
    for path in sorted(folder.glob("*.csv.gz")):
        meta = path.with_name(path.name.removesuffix(".gz") + ".meta.json")
        if meta.exists() and json.loads(meta.read_text()).get("space") == space:
            found.append(path)
    return sorted(found, key=lambda p: -len(next(iter(read_columns(p).values()))))


def column_sources(tables: list[Path]) -> dict[str, Path]:
    """Each column -> the largest table holding it (``tables`` largest first)."""
    sources: dict[str, Path] = {}
    for path in tables:
        for column in read_columns(path):
            sources.setdefault(column, path)
    return sources


def floored(values: list[float]) -> np.ndarray:
    """Values with undefined ones (-inf) just below the lowest defined one, as :func:`common.correlations` ranks them."""
    floor = min((v for v in values if math.isfinite(v)), default=0.0) - 1.0
    return np.array([v if math.isfinite(v) else floor for v in values])


def bootstrap(scores: list[float], accuracy: list[float], resamples: int, seed: int) -> tuple[Figure, Figure]:
    """Kendall and Spearman of ``scores`` with ``accuracy``, each with a 95% percentile interval over ``resamples``
    resamples of the rows drawn with ``seed`` (the same draws for every score of a space with the same rows)."""
    kendall, spearman = correlations(scores, accuracy)
    x, y = floored(scores), np.asarray(accuracy)
    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, len(x), len(x)) for _ in range(resamples)]
    ks = [stats.kendalltau(x[i], y[i]).statistic for i in draws]
    rs = [stats.spearmanr(x[i], y[i]).statistic for i in draws]
    return tuple(Figure(v, *np.nanpercentile(b, [2.5, 97.5])) for v, b in ((kendall, ks), (spearman, rs)))  # type: ignore[return-value]


def correlate(values: dict[str, float], truth: dict[str, dict[str, float]], resamples: int, seed: int) -> tuple[Figure, Figure]:
    archs = list(values)
    return bootstrap([values[a] for a in archs], [truth[a][TARGET] for a in archs], resamples, seed)


def row(name: str, rows: int, kendall: Figure, spearman: Figure, source: str) -> str:
    return f"{name:<18}{rows:>7}  {kendall!s:<26}{spearman!s:<26}{source}"


def ensemble_tables(sources: dict[str, Path]) -> list[Path] | None:
    """The tables holding the default members (one per member, each its largest), or None when one is missing."""
    if any(m not in sources for m in DEFAULT_MEMBERS):
        return None
    return list(dict.fromkeys(sources[m] for m in DEFAULT_MEMBERS))


def report_space(space: str, resamples: int, seed: int, folder: Path = RESULTS) -> str:
    """Print the space's transfer table; return its summary line."""
    truth = load_truth(space)
    tables = space_tables(space, folder)
    sources = column_sources(tables)
    print(f"\n{space}: {len(truth)} networks with CIFAR-10 accuracy; tables: {', '.join(p.name for p in tables)}")
    print(f"{'score':<18}{'rows':>7}  {'Kendall [95% CI]':<26}{'Spearman [95% CI]':<26}table")
    for column, path in sorted(sources.items(), key=lambda item: (item[0] not in SIZE, item[0])):
        values = read_columns(path)[column]
        print(row(column, len(values), *correlate(values, truth, resamples, seed), path.name))
    print_whole_space_size(space, truth)
    joined = ensemble_tables(sources)
    if joined is None:
        missing = [m for m in DEFAULT_MEMBERS if m not in sources]
        print(f"default ensemble ({'+'.join(DEFAULT_MEMBERS)}): not computable, no table holds {', '.join(missing)}")
        return f"{space}: ensemble_kendall=nan"
    return compare_with_size(space, joined, truth, resamples, seed)


def print_whole_space_size(space: str, truth: dict[str, dict[str, float]]) -> None:
    """Kendall and Spearman of params and flops over every network with a ground truth (costs need no table)."""
    archs = list(truth)
    accuracy = [truth[a][TARGET] for a in archs]
    costs = [get_space(space).cost(a) for a in archs]
    figures = "  ".join(f"{name} {k:.3f}/{r:.3f}" for name in SIZE for k, r in [correlations([getattr(c, name) for c in costs], accuracy)])
    print(f"size over all {len(archs)} networks (Kendall/Spearman): {figures}")


def compare_with_size(space: str, joined: list[Path], truth: dict[str, dict[str, float]], resamples: int, seed: int) -> str:
    """The default ensemble beside params and flops on the rows of its members' tables; the summary line."""
    ensemble = read_scores(joined, "ensemble")
    columns = read_columns(joined)
    where = " + ".join(p.name for p in joined)
    print(f"default ensemble ({'+'.join(DEFAULT_MEMBERS)}) on the {len(ensemble)} rows of {where}:")
    figures = {"ensemble": correlate(ensemble, truth, resamples, seed)}
    for name in SIZE:
        figures[name] = correlate({a: columns[name][a] for a in ensemble}, truth, resamples, seed)
    for name, (kendall, spearman) in figures.items():
        print(row(name, len(ensemble), kendall, spearman, "same rows"))
    size = max(figures[name][0].value for name in SIZE)
    margin = figures["ensemble"][0].value - size
    print(f"ensemble Kendall {figures['ensemble'][0].value:.3f} vs max(params, flops) {size:.3f}: margin {margin:+.3f}")
    return f"{space}: ensemble_kendall={figures['ensemble'][0].value:.3f} size_kendall={size:.3f} margin={margin:+.3f} rows={len(ensemble)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spaces", default="nb201,nb-macro", help="comma-separated spaces with committed tables and ground truth")
    parser.add_argument("--resamples", type=int, default=200, help="bootstrap resamples per figure")
    parser.add_argument("--seed", type=int, default=0, help="seeds the bootstrap draws")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the folder of score tables (default: the committed bench/results)")
    args = parser.parse_args()
    print(f"transfer table: Kendall tau-b and Spearman rho with CIFAR-10 test accuracy; bootstrap {args.resamples} resamples, seed {args.seed}, 95% percentile intervals")
    summaries = [report_space(space, args.resamples, args.seed, args.results) for space in args.spaces.split(",")]
    print()
    print("\n".join(summaries))


if __name__ == "__main__":
    main()
