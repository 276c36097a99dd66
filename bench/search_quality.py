"""Search quality on NAS-Bench-201: accuracy of the cell each strategy picks, looked up in a score table.

    python bench/search_quality.py --table /work/tables/nb201-c10sample-s0-3000.csv --runs 500 [--score ensemble]

Each strategy runs ``--runs`` times (seeds 0..R-1) with the table as its scorer (a lookup, so
runs are instant), and the chosen cell (the best-scored one) is looked up in
``nb201-accuracy.csv``.  Printed per strategy and budget: mean +- std over runs (population std)
of its CIFAR-10, CIFAR-100 and ImageNet16-120 test accuracy, beside the paper's Table 2 and the
reimplementation figures of design.md section 4; then the percentile of the chosen cell's score
within the table and how often the table's top-scored cell was found.  Last line:
``random_n100_c10=MEAN±STD evolution_b100_c10=MEAN±STD``.

Mode ``full``: the table scores every cell, and strategies draw from the whole space.  Mode
``pool``: the table covers a subset; strategies run on :class:`PoolSpace`, uniform draws from
the scored cells and mutations among a cell's one-edge neighbours that were scored.  Budgets
above a tenth of the pool are marked: they reflect the pool as much as the strategy.  ``--mode full``
searches the whole space with a table that scores only part of it: the cells a costly score was
computed for because seeded searches needed them.  Every cell those searches visit must be in the
table (a run that needs another stops with its name); the score percentile is then among the table's cells.
"""

from __future__ import annotations

import argparse
import bisect
import math
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from score_table import describe_tables, read_scores
from search import SearchResult, run_search
from search.options import add_strategy_options, given_params
from searchspace import EncodingError, ModelCost, SearchSpace, get_space
from searchspace.nb201.accuracy import TARGETS, load_accuracy

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ACCURACY = os.environ.get("NASWOT_NB201_ACCURACY", str(ROOT.parent / "shared" / "data" / "nb201-accuracy.csv"))

#: (strategy, budget) -> target -> (mean, std): paper Table 2, NB201, searched on CIFAR-10 (design.md section 4)
PAPER: dict[tuple[str, int], dict[str, tuple[float, float]]] = {
    ("random", 10): {"cifar10_test": (92.44, 1.13)},
    ("random", 100): {"cifar10_test": (92.81, 0.99), "cifar100_test": (69.48, 1.70), "imagenet16_120_test": (43.10, 3.16)},
    ("random", 1000): {"cifar10_test": (92.96, 0.81)},
}
#: CIFAR-10 figures of the independent reimplementation (3,000-cell pool, 500 runs; design.md section 4)
REIMPLEMENTATION: dict[tuple[str, int], tuple[float, float]] = {
    ("random", 10): (92.39, 1.24),
    ("random", 100): (92.83, 0.99),
    ("random", 1000): (93.10, 0.36),
}
PAPER_REA_TRAINED = (93.92, 0.30)  # REA with training, 12000 s
PAPER_BEST_CELL = 94.37
SHORT = {"cifar10_test": "c10", "cifar100_test": "c100", "imagenet16_120_test": "in16"}
#: the configurations the benchmark runs by default: (strategy, budget)
CONFIGS: tuple[tuple[str, int], ...] = (
    ("random", 10),
    ("random", 100),
    ("random", 1000),
    ("evolution", 100),
    ("evolution", 1000),
    ("area", 100),
    ("area", 1000),
)


class PoolSpace(SearchSpace):
    """The scored cells of a partial table as a space, for simulating searches on that table only.

    ``random`` draws uniformly from the pool; ``mutate`` picks uniformly among the cell's
    one-decision neighbours (``neighbours``, default ``base.neighbours``) that are in the pool:
    the distribution of the base space's mutation conditioned on landing in the pool.  A cell
    with no neighbour in the pool mutates to a uniformly drawn other pool cell (a restart),
    which keeps the search going where the full space would have offered a neighbour.
    """

    def __init__(self, base: SearchSpace, pool: Iterable[str], neighbours: Callable[[str], Sequence[str]] | None = None):
        self.base = base
        self.pool = sorted({base.canonical(a) for a in pool})
        if not self.pool:
            raise ValueError("the pool is empty")
        members = set(self.pool)
        near = neighbours if neighbours is not None else getattr(base, "neighbours", None)
        if near is None:
            raise ValueError(f"space {base.name!r} lists no neighbours; pass neighbours=")
        self.adjacent = {a: [n for n in near(a) if n in members] for a in self.pool}
        self.isolated = sum(1 for a in self.pool if not self.adjacent[a])
        self.name = f"{base.name}-pool"
        self.description = f"{len(self.pool)} cells of {base.name} (a score table's pool)"
        self.encoding = base.encoding
        self.example = self.pool[0]
        self.input_shape = base.input_shape

    @property
    def size(self) -> int:
        return len(self.pool)

    def canonical(self, arch: Any) -> str:
        if isinstance(arch, str) and arch in self.adjacent:  # the common case, without parsing
            return arch
        c = self.base.canonical(arch)
        if c not in self.adjacent:
            raise EncodingError(f"{c} is not in the pool")
        return c

    def random(self, rng: random.Random) -> str:
        return self.pool[rng.randrange(len(self.pool))]

    def mutate(self, arch: Any, rng: random.Random) -> str:
        c = self.canonical(arch)
        near = self.adjacent[c]
        if near:
            return near[rng.randrange(len(near))]
        if len(self.pool) < 2:
            raise ValueError("a one-cell pool has no other cell to mutate to")
        while (other := self.random(rng)) == c:
            pass
        return other

    def build(self, arch: Any, num_classes: int = 10):
        return self.base.build(self.canonical(arch), num_classes)

    def cost(self, arch: Any, num_classes: int = 10, input_size: int | tuple[int, int] | None = None) -> ModelCost:
        return self.base.cost(self.canonical(arch), num_classes, input_size)

    def enumerate(self) -> Iterator[str]:
        return iter(self.pool)


def table_scorer(table: Mapping[str, float]) -> Callable[[Sequence[str]], list[float]]:
    """A scorer that looks scores up in ``table`` (arch -> score, ``-inf`` singular); a cell the table lacks ends the run."""

    def score(archs: Sequence[str]) -> list[float]:
        try:
            return [table[a] for a in archs]
        except KeyError as exc:
            raise SystemExit(
                f"a search needed {exc.args[0]}, which the table does not hold (--mode full on a partial table needs every cell its searches visit)"
            ) from None

    return score


def simulation_space(base: SearchSpace, table: Mapping[str, float], mode: str = "auto") -> tuple[SearchSpace, str]:
    """The whole space (``"full"``) when the table scores all of it or ``mode`` is ``full``, else the table's pool (``"pool"``)."""
    covers = base.size is not None and len(table) >= base.size and all(a in table for a in base.enumerate())
    if mode == "full" or (mode == "auto" and covers):
        return base, "full"
    return PoolSpace(base, table), "pool"


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and population standard deviation (as the paper's tables report)."""
    return statistics.fmean(values), statistics.pstdev(values)


def run_many(
    strategy: str, space: SearchSpace, scorer: Callable[[Sequence[str]], Sequence[float]], budget: int, runs: int, **params: Any
) -> list[SearchResult]:
    """``runs`` searches with seeds 0..runs-1."""
    return [run_search(strategy, space, scorer, budget=budget, seed=seed, top_k=1, **params) for seed in range(runs)]


@dataclass
class Quality:
    """How good the cells chosen by one (strategy, budget) were, over runs."""

    strategy: str
    budget: int
    runs: int
    accuracy: dict[str, tuple[float, float]]  # target -> (mean, std)
    score_percentile: float  # mean share of table cells scored below the chosen one, in percent
    top_hit: float  # share of runs that chose the table's top-scored cell, in percent
    evaluated: float  # mean distinct evaluations per run
    exhausted: int  # runs that ended early for want of new cells
    immigrants: float  # mean random immigrants per run (evolution whose mutations kept repeating)
    seconds: float


def quality(
    strategy: str,
    budget: int,
    results: Sequence[SearchResult],
    truth: Mapping[str, Mapping[str, float]],
    table: Mapping[str, float],
    seconds: float = 0.0,
) -> Quality:
    """Accuracy statistics of the best cell of each result, plus how well the score itself was optimised."""
    chosen = [r.best.arch for r in results if r.best is not None]
    if not chosen:
        raise ValueError(f"{strategy} with budget {budget} chose no cell in any run")
    ordered = sorted(table.values())
    top = max(table, key=lambda a: (table[a], a))
    below = [bisect.bisect_left(ordered, table[a]) / len(ordered) * 100 for a in chosen]
    return Quality(
        strategy=strategy,
        budget=budget,
        runs=len(results),
        accuracy={t: mean_std([truth[a][t] for a in chosen]) for t in TARGETS},
        score_percentile=statistics.fmean(below),
        top_hit=100 * sum(a == top for a in chosen) / len(chosen),
        evaluated=statistics.fmean(r.evaluated for r in results),
        exhausted=sum(r.exhausted for r in results),
        immigrants=statistics.fmean(r.immigrants for r in results),
        seconds=seconds,
    )


def fmt(ms: tuple[float, float] | None) -> str:
    return "-" if ms is None else f"{ms[0]:.2f}±{ms[1]:.2f}"


def format_rows(rows: Sequence[Quality], pool_size: int, mode: str) -> list[str]:
    """The printed table: ours, the paper's and the reimplementation's figures side by side."""
    head = (
        f"{'strategy':<10}{'budget':>7}  "
        + "".join(f"{SHORT[t] + ' (ours)':>15}" for t in TARGETS)
        + "".join(f"{SHORT[t] + ' (paper)':>16}" for t in TARGETS)
        + f"{'c10 (reimpl)':>15}{'score pct':>11}{'top hit':>9}{'evals':>8}{'immig':>7}{'exh':>5}{'s':>7}"
    )
    lines = [head]
    for q in rows:
        paper = PAPER.get((q.strategy, q.budget), {})
        flag = "*" if mode == "pool" and q.budget > pool_size / 10 else " "
        lines.append(
            f"{q.strategy:<10}{q.budget:>6}{flag}  "
            + "".join(f"{fmt(q.accuracy[t]):>15}" for t in TARGETS)
            + "".join(f"{fmt(paper.get(t)):>16}" for t in TARGETS)
            + f"{fmt(REIMPLEMENTATION.get((q.strategy, q.budget))):>15}"
            + f"{q.score_percentile:>10.2f}%{q.top_hit:>8.1f}%{q.evaluated:>8.1f}{q.immigrants:>7.1f}{q.exhausted:>5}{q.seconds:>7.1f}"
        )
    return lines


def summary_line(rows: Sequence[Quality]) -> str:
    """``random_n100_c10=MEAN±STD evolution_b100_c10=MEAN±STD`` (``nan`` when not run)."""
    by = {(q.strategy, q.budget): q.accuracy["cifar10_test"] for q in rows}
    nan = (math.nan, math.nan)
    return f"random_n100_c10={fmt(by.get(('random', 100), nan))} evolution_b100_c10={fmt(by.get(('evolution', 100), nan))}"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", type=Path, nargs="+", required=True, help="score table written by bench/score_table.py (several: joined on arch)")
    parser.add_argument("--score", default="naswot", help="the table column to search with, or an ensemble of its columns (ensemble, ensemble:a+b)")
    parser.add_argument("--accuracy", default=DEFAULT_ACCURACY, help="nb201-accuracy.csv [$NASWOT_NB201_ACCURACY]")
    parser.add_argument("--runs", type=int, default=500, help="searches per configuration (seeds 0..R-1)")
    parser.add_argument("--configs", default=",".join(f"{s}:{b}" for s, b in CONFIGS), help="strategy:budget,...")
    add_strategy_options(parser)
    parser.add_argument("--mode", choices=("auto", "full", "pool"), default="auto",
                        help="full: search the whole space even with a partial table (every cell a search visits must be in it); default: full when the table covers the space")
    return parser.parse_args()


def print_header(args: argparse.Namespace, table: dict[str, float], truth: dict[str, dict[str, float]], space: SearchSpace, mode: str) -> None:
    """What is searched: the table, the simulated space, and the accuracy of its mean, best and top-scored cells."""
    singular = sum(1 for s in table.values() if s == -math.inf)
    print(f"table={describe_tables(args.table)} score={args.score} cells={len(table)} of {get_space('nb201').size} singular={singular} mode={mode} runs={args.runs} (seeds 0..{args.runs - 1})")
    if isinstance(space, PoolSpace):
        print(f"pool mode: draws from the {space.size} scored cells; mutation among scored one-edge neighbours "
              f"({space.isolated} cells have none and restart at a random pool cell)")
    top = max(table, key=lambda a: (table[a], a))
    pool_acc = [truth[a]["cifar10_test"] for a in table]
    print(f"{mode} c10: mean {statistics.fmean(pool_acc):.2f}  best {max(pool_acc):.2f}  top-scored cell {truth[top]['cifar10_test']:.2f}")


def main() -> None:
    args = parse_args()
    table = read_scores(args.table, args.score)
    truth = load_accuracy(args.accuracy)
    missing = [a for a in table if a not in truth]
    if missing:
        sys.exit(f"{len(missing)} table cells are not in {args.accuracy}, e.g. {missing[0]}")
    space, mode = simulation_space(get_space("nb201"), table, args.mode)
    scorer = table_scorer(table)
    print_header(args, table, truth, space, mode)

    rows = []
    for item in args.configs.split(","):
        strategy, _, budget_text = item.partition(":")
        budget = int(budget_text)
        if budget > space.size:
            print(f"skipping {strategy}:{budget}: more than the {space.size} cells available", file=sys.stderr)
            continue
        start = time.perf_counter()
        results = run_many(strategy, space, scorer, budget, args.runs, **given_params(args, strategy))
        rows.append(quality(strategy, budget, results, truth, table, time.perf_counter() - start))
        print(f"  {strategy}:{budget} done in {rows[-1].seconds:.1f} s", file=sys.stderr, flush=True)

    print("\n".join(format_rows(rows, space.size, mode)))
    if mode == "pool" and any(q.budget > space.size / 10 for q in rows):
        print(f"* budget above a tenth of the {space.size}-cell pool: a pool artefact (the search sees a large share of what exists)")
    print(f"paper: REA with training {fmt(PAPER_REA_TRAINED)} (c10, 12000 s); best cell {PAPER_BEST_CELL}; "
          "score pct = share of table cells scored below the chosen one; top hit = runs that chose the table's top-scored cell; "
          "evals = distinct cells scored per run; immig = random immigrants per run; exh = runs that ran out of new cells")
    print(summary_line(rows))


if __name__ == "__main__":
    main()
