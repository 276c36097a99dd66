"""Search quality on NAS-Bench-201 (or nb-macro): accuracy of the cell each strategy picks, looked up in a score table.

    python bench/search_quality.py --table /work/tables/nb201-c10sample-s0-3000.csv --runs 500 [--score ensemble]

Each strategy runs ``--runs`` times (seeds 0..R-1) with the table as its scorer (a lookup, so
runs are instant), and the chosen cell (the best-scored one) is looked up in
``nb201-accuracy.csv`` (for an nb-macro table, CIFAR-10 alone in ``nbmacro-accuracy.csv``; the table's meta
file names its space).  Printed per strategy and budget: mean +- std over runs (population std)
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
import math
import statistics
import sys
import time
from collections.abc import Sequence

from common import SHORT, add_accuracy_option, add_table_option, describe_tables, load_truth, read_scores, table_space, targets_of
from search.options import add_strategy_options, given_params
from searchspace import SearchSpace, get_space
from searchspace.nb201.accuracy import TARGETS
from table_search import PoolSpace, Quality, quality, run_many, simulation_space, table_scorer

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


def fmt(ms: tuple[float, float] | None) -> str:
    return "-" if ms is None else f"{ms[0]:.2f}±{ms[1]:.2f}"


def format_rows(rows: Sequence[Quality], pool_size: int, mode: str, targets: Sequence[str] = TARGETS, published: bool = True) -> list[str]:
    """The printed table: ours, and (``published``: NB-201) the paper's and the reimplementation's figures side by side."""
    paper_of, reimpl_of = (PAPER, REIMPLEMENTATION) if published else ({}, {})
    head = (
        f"{'strategy':<10}{'budget':>7}  "
        + "".join(f"{SHORT[t] + ' (ours)':>15}" for t in targets)
        + "".join(f"{SHORT[t] + ' (paper)':>16}" for t in targets)
        + f"{'c10 (reimpl)':>15}{'score pct':>11}{'top hit':>9}{'evals':>8}{'immig':>7}{'exh':>5}{'s':>7}"
    )
    lines = [head]
    for q in rows:
        paper = paper_of.get((q.strategy, q.budget), {})
        flag = "*" if mode == "pool" and q.budget > pool_size / 10 else " "
        lines.append(
            f"{q.strategy:<10}{q.budget:>6}{flag}  "
            + "".join(f"{fmt(q.accuracy[t]):>15}" for t in targets)
            + "".join(f"{fmt(paper.get(t)):>16}" for t in targets)
            + f"{fmt(reimpl_of.get((q.strategy, q.budget))):>15}"
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
    add_table_option(parser, required=True, help="score table written by naswot table (several: joined on arch)")
    parser.add_argument("--score", default="naswot", help="the table column to search with, or an ensemble of its columns (ensemble, ensemble:a+b)")
    add_accuracy_option(parser, any_space=True)
    parser.add_argument("--runs", type=int, default=500, help="searches per configuration (seeds 0..R-1)")
    parser.add_argument("--configs", default=",".join(f"{s}:{b}" for s, b in CONFIGS), help="strategy:budget,...")
    add_strategy_options(parser)
    parser.add_argument("--mode", choices=("auto", "full", "pool"), default="auto",
                        help="full: search the whole space even with a partial table (every cell a search visits must be in it); default: full when the table covers the space")
    return parser.parse_args()


def print_header(args: argparse.Namespace, table: dict[str, float], truth: dict[str, dict[str, float]], space: SearchSpace, mode: str) -> None:
    """What is searched: the table, the simulated space, and the accuracy of its mean, best and top-scored cells."""
    singular = sum(1 for s in table.values() if s == -math.inf)
    print(f"table={describe_tables(args.table)} score={args.score} cells={len(table)} of {space.base.size if isinstance(space, PoolSpace) else space.size} singular={singular} mode={mode} runs={args.runs} (seeds 0..{args.runs - 1})")
    if isinstance(space, PoolSpace):
        print(f"pool mode: draws from the {space.size} scored cells; mutation among scored one-edge neighbours "
              f"({space.isolated} cells have none and restart at a random pool cell)")
    top = max(table, key=lambda a: (table[a], a))
    pool_acc = [truth[a]["cifar10_test"] for a in table]
    print(f"{mode} c10: mean {statistics.fmean(pool_acc):.2f}  best {max(pool_acc):.2f}  top-scored cell {truth[top]['cifar10_test']:.2f}")


def main() -> None:
    args = parse_args()
    table = read_scores(args.table, args.score)
    space_name = table_space(args.table)
    truth = load_truth(space_name, args.accuracy)
    missing = [a for a in table if a not in truth]
    if missing:
        sys.exit(f"{len(missing)} table cells are not in the {space_name} ground truth, e.g. {missing[0]}")
    space, mode = simulation_space(get_space(space_name), table, args.mode)
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

    published = space_name == "nb201"
    print("\n".join(format_rows(rows, space.size, mode, targets_of(truth), published)))
    if mode == "pool" and any(q.budget > space.size / 10 for q in rows):
        print(f"* budget above a tenth of the {space.size}-cell pool: a pool artefact (the search sees a large share of what exists)")
    best = f"paper: REA with training {fmt(PAPER_REA_TRAINED)} (c10, 12000 s); best cell {PAPER_BEST_CELL}" if published else (
        f"{space_name}: best network {max(t['cifar10_test'] for t in truth.values()):.2f} (c10)")
    print(f"{best}; "
          "score pct = share of table cells scored below the chosen one; top hit = runs that chose the table's top-scored cell; "
          "evals = distinct cells scored per run; immig = random immigrants per run; exh = runs that ran out of new cells")
    print(summary_line(rows))


if __name__ == "__main__":
    main()
