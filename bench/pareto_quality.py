"""Multi-objective search quality on NAS-Bench-201: hypervolume of the (score, params) front each strategy finds.

    python bench/pareto_quality.py --runs 500

(defaults: the committed whole-space tables ``bench/results/nb201-c10-s0-all-synflow-az-meco.csv.gz`` and
``bench/results/nb201-c10-s0-jacob-cov.csv.gz`` joined on arch, ``--score ensemble``, budgets 100 and 1000,
strategies random, nsga2 and pls.)  Each (strategy, budget) runs ``--runs`` times (seeds 0..R-1) with
``minimize=("params",)`` and the table as its scorer and cost (lookups: nothing is recomputed).

Printed per configuration, mean ± std over runs (population std):

- ``score HV``: the hypervolume of the run's front in (score up, params down) as a fraction of
  the hypervolume of the table's true front, both against the reference point (the table's
  lowest finite score, the space's largest params);
- ``c10 / c100 / in16 HV``: ground truth.  The front's cells are looked up in ``nb201-accuracy.csv``,
  and the hypervolume of their (test accuracy up, params down) front, against the reference
  (accuracy 0, the space's largest params), is divided by that of the space's true accuracy/params front;
- ``front``: cells on the run's front; ``s``: seconds for all runs of the configuration.

and, in a second table, what a user of the front gets:

- ``recall``: the share of the true (score, params) front's distinct points that the run's front holds
  (isomorphic cells tie: one point);
- ``IGD``: the mean distance from each true front point to the nearest point of the run's front, in
  the plane normalised to [0, 1] (the table's finite scores and the space's params, min to max);
- ``c10@pN``: the ground-truth C10 test accuracy of the front's best-scored cell with at most the
  N-th percentile of the space's params (runs whose front has no such cell are left out of the mean).

``--seeds`` (an alias of ``--runs``) keeps a run short.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from common import DEFAULT_ACCURACY, SHORT, describe_tables, read_columns, read_scores
from search import SearchResult, run_search
from search.options import add_strategy_options, given_params
from search.pareto import hypervolume, non_dominated
from searchspace import get_space
from searchspace.nb201.accuracy import TARGETS, load_accuracy
from table_search import mean_std, simulation_space, table_scorer

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_TABLES = [RESULTS / "nb201-c10-s0-all-synflow-az-meco.csv.gz", RESULTS / "nb201-c10-s0-jacob-cov.csv.gz"]
CONFIGS = (("random", 100), ("nsga2", 100), ("pls", 100), ("random", 1000), ("nsga2", 1000), ("pls", 1000))
#: the size budgets a user picks under: percentiles of the space's params
PERCENTILES = (10, 25, 50)
MINIMIZE = ("params",)


@dataclass(frozen=True)
class Objective:
    """One (value up, params down) plane: each cell's value, the reference point and the true front's hypervolume."""

    name: str
    values: Mapping[str, float]
    reference: tuple[float, float]  # (value, params), in the plane's own units
    true_volume: float
    true_front: int  # cells on the true front

    @classmethod
    def over(cls, name: str, values: Mapping[str, float], params: Mapping[str, int], floor: float) -> Objective:
        """The plane of ``values`` over every cell, against the reference (``floor``, the largest params)."""
        reference = (floor, float(max(params.values())))
        archs = list(values)
        points = np.array([(-values[a], params[a]) for a in archs], dtype=float)
        return cls(name, values, reference, volume(archs, values, params, reference), int(non_dominated(points).sum()))


def volume(archs: Sequence[str], values: Mapping[str, float], params: Mapping[str, int], reference: tuple[float, float]) -> float:
    """Hypervolume of the cells' (value up, params down) points against ``reference``."""
    points = np.array([(-values[a], params[a]) for a in archs], dtype=float).reshape(len(archs), 2)
    return hypervolume(points, (-reference[0], reference[1]))


def table_cost(params: Mapping[str, int], flops: Mapping[str, int]):
    """A cost callable that reads params and FLOPs from the table (as the search's ``cost``)."""
    return lambda arch: SimpleNamespace(params=params[arch], flops=flops[arch])


@dataclass
class FrontQuality:
    """How close the fronts of one (strategy, budget) came to the true fronts, over runs."""

    strategy: str
    budget: int
    ratios: dict[str, tuple[float, float]]  # objective name -> (mean, std) of the hypervolume ratio
    front: float
    seconds: float
    points: PointQuality | None = None


@dataclass(frozen=True)
class TrueFront:
    """The table's true (score up, params down) front as distinct points, the plane's scale and the size budgets."""

    points: frozenset[tuple[float, int]]
    low: tuple[float, float]  # (score, params) minima over the space
    span: tuple[float, float]  # (score, params) ranges
    budgets: dict[int, float]  # percentile -> params

    @classmethod
    def of(cls, table: Mapping[str, float], params: Mapping[str, int]) -> TrueFront:
        """The distinct front points of every finite-scored cell."""
        archs = [a for a in table if math.isfinite(table[a])]
        distinct = sorted({(table[a], params[a]) for a in archs})
        mask = non_dominated(np.array([(-s, p) for s, p in distinct], dtype=float))
        scores, sizes = [table[a] for a in archs], [params[a] for a in params]
        low = (min(scores), float(min(sizes)))
        span = (max(scores) - low[0] or 1.0, float(max(sizes)) - low[1] or 1.0)
        budgets = {q: float(np.percentile(sizes, q)) for q in PERCENTILES}
        return cls(frozenset(p for p, keep in zip(distinct, mask) if keep), low, span, budgets)

    def normalised(self, points) -> np.ndarray:
        return (np.array(list(points), dtype=float).reshape(-1, 2) - self.low) / self.span

    def recall(self, found: set[tuple[float, int]]) -> float:
        return len(found & self.points) / len(self.points)

    def igd(self, found: set[tuple[float, int]]) -> float:
        """Inverted generational distance of ``found`` to the true front, in the normalised plane."""
        truth, got = self.normalised(self.points), self.normalised(found)
        return float(np.linalg.norm(truth[:, None, :] - got[None, :, :], axis=2).min(axis=1).mean())


@dataclass
class PointQuality:
    """Recall, IGD and the C10 accuracy picked under each size budget: (mean, std) over runs."""

    recall: tuple[float, float]
    igd: tuple[float, float]
    picks: dict[int, tuple[float, float]]


def point_quality(results: Sequence[SearchResult], truth: TrueFront, params: Mapping[str, int], c10: Mapping[str, float]) -> PointQuality:
    """How many of the true front's points each run found, how far it stayed, and what a user picking from it gets."""
    fronts = [[e for e in r.pareto if math.isfinite(e.score)] for r in results]
    found = [{(e.score, params[e.arch]) for e in front} for front in fronts]
    picks = {}
    for q, limit in truth.budgets.items():
        chosen = [max((e for e in front if params[e.arch] <= limit), key=lambda e: e.score, default=None) for front in fronts]
        picks[q] = mean_std([c10[e.arch] for e in chosen if e is not None] or [math.nan])
    return PointQuality(mean_std([truth.recall(f) for f in found]), mean_std([truth.igd(f) for f in found if f]), picks)


def front_quality(strategy: str, budget: int, results: Sequence[SearchResult], planes: Sequence[Objective], params: Mapping[str, int], seconds: float) -> FrontQuality:
    """The hypervolume ratio of each run's front in every plane."""
    ratios = {}
    for plane in planes:
        found = [volume([e.arch for e in r.pareto], plane.values, params, plane.reference) / plane.true_volume for r in results]
        ratios[plane.name] = mean_std(found)
    return FrontQuality(strategy, budget, ratios, statistics.fmean(len(r.pareto) for r in results), seconds)


def fmt(ms: tuple[float, float]) -> str:
    """A ratio's mean±std to four places (the ratios sit close to 1)."""
    return f"{ms[0]:.4f}±{ms[1]:.4f}"


def format_rows(rows: Sequence[FrontQuality], planes: Sequence[Objective]) -> list[str]:
    head = f"{'strategy':<10}{'budget':>7}" + "".join(f"{p.name + ' HV':>16}" for p in planes) + f"{'front':>8}{'s':>8}"
    lines = [head]
    for q in rows:
        lines.append(f"{q.strategy:<10}{q.budget:>7}" + "".join(f"{fmt(q.ratios[p.name]):>16}" for p in planes) + f"{q.front:>8.1f}{q.seconds:>8.1f}")
    return lines


def format_points(rows: Sequence[FrontQuality]) -> list[str]:
    """The second table: recall, IGD and the accuracy picked under each size budget."""
    head = f"{'strategy':<10}{'budget':>7}{'recall':>16}{'IGD':>16}" + "".join(f"{f'c10@p{q}':>14}" for q in PERCENTILES)
    lines = [head]
    for q in rows:
        if q.points is not None:
            p = q.points
            picks = "".join(f"{f'{p.picks[k][0]:.2f}±{p.picks[k][1]:.2f}':>14}" for k in PERCENTILES)
            lines.append(f"{q.strategy:<10}{q.budget:>7}{fmt(p.recall):>16}{fmt(p.igd):>16}" + picks)
    return lines


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", type=Path, nargs="+", default=DEFAULT_TABLES, help="whole-space score tables, joined on arch")
    parser.add_argument("--score", default="ensemble", help="the table column to search with, or an ensemble of its columns")
    parser.add_argument("--accuracy", default=DEFAULT_ACCURACY, help="nb201-accuracy.csv [$NASWOT_NB201_ACCURACY]")
    parser.add_argument("--runs", "--seeds", dest="runs", type=int, default=500, help="searches per configuration (seeds 0..R-1)")
    parser.add_argument("--configs", default=",".join(f"{s}:{b}" for s, b in CONFIGS), help="strategy:budget,...")
    add_strategy_options(parser)
    return parser.parse_args()


def planes_of(table: Mapping[str, float], params: Mapping[str, int], truth: Mapping[str, Mapping[str, float]], score: str) -> list[Objective]:
    """The score plane (reference: the lowest finite score) and one ground-truth plane per target (reference: accuracy 0)."""
    floor = min(s for s in table.values() if math.isfinite(s))
    planes = [Objective.over("score", table, params, floor)]
    planes += [Objective.over(SHORT[t], {a: truth[a][t] for a in table}, params, 0.0) for t in TARGETS]
    return planes


def main() -> None:
    args = parse_args()
    table = read_scores(args.table, args.score)
    columns = read_columns(args.table)
    params, flops = {a: int(v) for a, v in columns["params"].items()}, {a: int(v) for a, v in columns["flops"].items()}
    truth = load_accuracy(args.accuracy)
    space, mode = simulation_space(get_space("nb201"), table)
    if mode != "full":
        sys.exit(f"{describe_tables(args.table)} does not score the whole space; this benchmark needs every cell")
    planes = planes_of(table, params, truth, args.score)
    print(f"table={describe_tables(args.table)} score={args.score} cells={len(table)} runs={args.runs} (seeds 0..{args.runs - 1}) minimize={list(MINIMIZE)}")
    print("reference points: " + "; ".join(f"{p.name} ({p.reference[0]:.4g}, {p.reference[1]:.0f} params)" for p in planes))
    print("true fronts: " + "; ".join(f"{p.name} {p.true_front} cells" for p in planes))
    front = TrueFront.of(table, params)
    c10 = {a: truth[a][TARGETS[0]] for a in table}
    print(f"true front: {len(front.points)} distinct (score, params) points; size budgets: "
          + ", ".join(f"p{q} {v:.0f} params" for q, v in front.budgets.items()))
    scorer, cost = table_scorer(table), table_cost(params, flops)
    rows = []
    for item in args.configs.split(","):
        strategy, _, budget = item.partition(":")
        start = time.perf_counter()
        results = [
            run_search(strategy, space, scorer, budget=int(budget), seed=seed, top_k=1, cost=cost, minimize=MINIMIZE, **given_params(args, strategy))
            for seed in range(args.runs)
        ]
        rows.append(front_quality(strategy, int(budget), results, planes, params, time.perf_counter() - start))
        rows[-1].points = point_quality(results, front, params, c10)
        print(f"  {strategy}:{budget} done in {rows[-1].seconds:.1f} s", file=sys.stderr, flush=True)
    print("\n".join(format_rows(rows, planes)))
    print("HV = hypervolume of the run's front / that of the true front of the whole space (mean±std over runs); "
          "score: (score, params); c10/c100/in16: the front's cells in (test accuracy, params)")
    print("\n".join(format_points(rows)))
    print("recall: share of the true front's distinct points found; IGD: mean distance of the true front to the run's, "
          "plane normalised to [0, 1]; c10@pN: C10 test accuracy of the front's best-scored cell within the N-th percentile of params")


if __name__ == "__main__":
    main()
