"""Which scores to combine: every subset of a table's score columns as a rank ensemble, selected on one
part of the table and checked on the rest.

    python bench/ensemble_study.py --table bench/results/nb201-c10-s0-3000.csv.gz --select 1000 [--objective search]

Each candidate is ``ensemble:a+b+...`` over two or more columns, ranked as the service ranks it
(against the seeded reference sample).  ``--objective kendall`` orders the candidates by their smallest
Kendall tau over the three NB-201 targets on the *selection* rows (the table's first ``--select``
cells, a seeded random sample of the space); the figures on the *held-out* rows (the others) show
whether the choice carries over.  ``--objective search`` (how the default was chosen) keeps the
candidates that meet the ranking bar on the selection rows (Kendall >= 0.70 and Spearman >= 0.88 on
every target) and orders them by what a search with them finds: the mean CIFAR-10 test accuracy of
the cells chosen by random N=100, evolution B=100 and AREA B=100, ``--search-runs`` runs each, on the
table's cells as a pool (as ``bench/search_quality.py`` runs them).  Last line:
``best=NAME selection_min_kendall=K heldout_min_kendall=K`` (and ``search_c10=MEAN`` for ``search``).
``--cost name=ratio,...`` (each score's cost per cell against NASWOT alone, as ``bench/throughput.py
--score NAME`` prints it) leaves out the candidates dearer than ``--max-cost`` (default 3x); members
of one pass pay for it once.  Several ``--table`` files are joined on ``arch``.  The table's space (its meta
file) picks the ground truth: NB-201's three targets, or nb-macro's CIFAR-10.

``--other-table`` (score tables of a second space, e.g. nb-macro beside NB-201) chooses by the *worse*
space instead: every ensemble over the columns both spaces' tables hold, ordered by the smaller of its two
Kendall taus with CIFAR-10 over all rows of each, printed beside each space's size baseline (the better of
params and flops by Kendall) and its margin over it.  Last line: ``best_worse_space=NAME worse_kendall=K
SPACE=K SPACE=K``.

    python bench/ensemble_study.py --table bench/results/nb201-c10-s0-3000.csv.gz ... --other-table bench/results/nbmacro-....csv.gz --max-size 4
"""

from __future__ import annotations

import argparse
import itertools
import statistics
from dataclasses import dataclass
from pathlib import Path

from common import (
    SHORT, add_accuracy_option, add_table_option, correlations, describe_tables, load_truth, read_columns, read_scores, table_space, targets_of,
)
from scoring import DEFAULT_MEMBERS, get_score_info, parse_ensemble
from searchspace import get_space
from table_search import quality, run_many, simulation_space, table_scorer

#: columns that duplicate another's ranking (params and flops order NB-201 cells identically)
REDUNDANT = ("params",)
#: the ranking bar a candidate must meet on the selection rows for ``--objective search``: (Kendall, Spearman) on every target
BAR = (0.70, 0.88)
#: the pool searches whose chosen cells ``--objective search`` averages: (strategy, budget)
SEARCHES = (("random", 100), ("evolution", 100), ("area", 100))
#: the pass of params and flops, which every result carries at no cost
SIZE_PASS = get_score_info("flops").pass_name


def parse_costs(text: str) -> dict[str, float]:
    """``name=ratio,...``: each score's cost per cell as a ratio to NASWOT alone, as
    ``bench/throughput.py --score NAME`` prints it."""
    costs = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, ratio = item.partition("=")
        try:
            costs[get_score_info(name.strip()).name] = float(ratio)
        except (KeyError, ValueError):
            raise SystemExit(f"--cost: {item!r} is not NAME=RATIO with NAME a registered score") from None
    return costs


def ensemble_cost(name: str, costs: dict[str, float]) -> float:
    """An ensemble's cost per cell: one pass per distinct pass of its members (members of one pass share it, the
    dearest member setting its cost); ``params`` and ``flops`` are free (every result carries them)."""
    passes: dict[str, float] = {}
    for member in parse_ensemble(name).members:
        info = get_score_info(member)
        if info.pass_name == SIZE_PASS:
            continue
        if member not in costs:
            raise SystemExit(f"--cost gives no cost for {member!r}, a member of {name}")
        passes[info.pass_name] = max(passes.get(info.pass_name, 0.0), costs[member])
    return sum(passes.values())


def kendall_spearman(table: dict[str, float], archs: list[str], truth: dict[str, dict[str, float]]) -> list[tuple[float, float]]:
    """(Kendall, Spearman) of ``table`` over ``archs`` against each target of ``truth`` (NB-201: C10, C100, IN16-120)."""
    scores = [table[a] for a in archs]
    return [correlations(scores, [truth[a][t] for a in archs]) for t in targets_of(truth)]


def candidates(columns: list[str], max_size: int, redundant: tuple[str, ...] = REDUNDANT) -> list[str]:
    """Every ensemble of 2..max_size distinct columns but ``redundant`` ones, as canonical ``ensemble:`` names."""
    usable = [c for c in columns if c not in redundant]
    return ["ensemble:" + "+".join(c) for r in range(2, min(max_size, len(usable)) + 1) for c in itertools.combinations(usable, r)]


def cells(pairs: list[tuple[float, float]]) -> str:
    return " ".join(f"{k:.3f}/{s:.3f}" for k, s in pairs)


def meets_bar(pairs: list[tuple[float, float]]) -> bool:
    """Every target's (Kendall, Spearman) at or above :data:`BAR`."""
    return all(k >= BAR[0] and r >= BAR[1] for k, r in pairs)


def search_accuracy(table: dict[str, float], truth: dict[str, dict[str, float]], runs: int, space_name: str = "nb201") -> list[float]:
    """Mean CIFAR-10 test accuracy of the cells each of :data:`SEARCHES` chooses over ``runs`` seeds, searching the table's cells."""
    space, _mode = simulation_space(get_space(space_name), table)
    scorer = table_scorer(table)
    found = []
    for strategy, budget in SEARCHES:
        chosen = quality(strategy, budget, run_many(strategy, space, scorer, budget, runs), truth, table)
        found.append(chosen.accuracy["cifar10_test"][0])
    return found


def rank_by_kendall(tables: dict[str, dict[str, float]], selection: list[str], truth) -> list[tuple]:
    """(selection min Kendall, name, selection pairs, extra) per candidate, best first."""
    rows = []
    for name, table in tables.items():
        sel = kendall_spearman(table, selection, truth)
        rows.append((min(k for k, _ in sel), name, sel, ""))
    return sorted(rows, reverse=True)


def rank_by_search(tables: dict[str, dict[str, float]], selection: list[str], truth, runs: int, space_name: str = "nb201") -> list[tuple]:
    """(mean search accuracy, name, selection pairs, per-search figures) per candidate meeting the bar, best first."""
    rows = []
    for _, name, sel, _ in rank_by_kendall(tables, selection, truth):
        if meets_bar(sel):
            found = search_accuracy(tables[name], truth, runs, space_name)
            rows.append((statistics.fmean(found), name, sel, " ".join(f"{a:.2f}" for a in found)))
    return sorted(rows, reverse=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_table_option(parser, required=True, help="score table(s), joined on arch when several")
    parser.add_argument("--select", type=int, default=1000, help="rows (in table order) the candidates are ranked on")
    parser.add_argument("--max-size", type=int, default=6, help="largest ensemble tried")
    parser.add_argument("--top", type=int, default=10, help="candidates printed")
    parser.add_argument("--objective", choices=("kendall", "search"), default="search", help="what orders the candidates (see above)")
    parser.add_argument("--search-runs", type=int, default=500, help="runs of each search for --objective search")
    parser.add_argument("--cost", type=parse_costs, default=None,
                        help="name=ratio,... each score's cost per cell against NASWOT (bench/throughput.py --score NAME); with --max-cost, dearer candidates are left out")
    parser.add_argument("--max-cost", type=float, default=3.0, help="the most an ensemble may cost per cell, as a ratio to NASWOT alone (with --cost)")
    parser.add_argument("--other-table", type=Path, nargs="+", default=None,
                        help="score table(s) of a second space: candidates over the columns both hold, ranked by the worse of the two spaces (see above)")
    add_accuracy_option(parser, any_space=True)
    return parser.parse_args()


def print_ranking(
    rows: list[tuple], tables: dict[str, dict[str, float]], archs: list[str], heldout: list[str], truth, top: int, search: bool,
    costs: dict[str, float] | None,
) -> None:
    """The ``top`` candidates with their selection and held-out figures (and cost), then where the default members rank."""
    extra = ("search c10 random/evolution/area " if search else "") + ("cost" if costs is not None else "")
    targets = " ".join(SHORT[t] for t in targets_of(truth))
    print(f"{'ensemble':<70} {'selection tau/rho ' + targets:<36} {'held-out tau/rho ' + targets:<36} {extra}")
    for _, name, sel, figures in rows[:top]:
        held = kendall_spearman(tables[name], heldout, truth) if heldout else []
        cost = f" {ensemble_cost(name, costs):.2f}x" if costs is not None else ""
        print(f"{name:<70} {cells(sel):<36} {cells(held):<36} {figures}{cost}")
    ranked = [n for _, n, _, _ in rows]
    default = next((n for n in ranked if set(parse_ensemble(n).members) == set(DEFAULT_MEMBERS)), None)
    if default is not None:
        print(f"default ensemble ({'+'.join(DEFAULT_MEMBERS)}): rank {ranked.index(default) + 1} of {len(rows)}; "
              f"all rows: {cells(kendall_spearman(tables[default], archs, truth))}")


@dataclass
class SpaceStudy:
    """One space's side of a worse-space study: its tables, ground truth and the best size baseline there."""

    space: str
    tables: list[Path]
    truth: dict[str, dict[str, float]]

    @classmethod
    def of(cls, tables: list[Path]) -> SpaceStudy:
        space = table_space(tables)
        return cls(space, tables, load_truth(space))

    def c10(self, score: str) -> tuple[float, float]:
        """(Kendall, Spearman) of a column or ensemble with CIFAR-10 test accuracy over every row."""
        values = read_scores(self.tables, score)
        archs = list(values)
        return correlations([values[a] for a in archs], [self.truth[a]["cifar10_test"] for a in archs])

    def size_baseline(self) -> tuple[str, float]:
        """The better of params and flops by Kendall (the bar a score must clear on this space)."""
        return max(((c, self.c10(c)[0]) for c in ("params", "flops")), key=lambda item: item[1])


def rank_by_worse_space(studies: list[SpaceStudy], names: list[str]) -> list[tuple[float, str, list[tuple[float, float]]]]:
    """(worse Kendall C10 over the spaces, name, (Kendall, Spearman) per space) per candidate, best first."""
    rows = []
    for name in names:
        pairs = [study.c10(name) for study in studies]
        rows.append((min(k for k, _ in pairs), name, pairs))
    return sorted(rows, reverse=True)


def worse_space_study(args: argparse.Namespace) -> None:
    """Candidates over the columns both spaces' tables hold, by the worse space's Kendall, beside each space's size baseline."""
    studies = [SpaceStudy.of(args.table), SpaceStudy.of(args.other_table)]
    shared = [c for c in read_columns(args.table) if c in read_columns(args.other_table)]
    rows = rank_by_worse_space(studies, candidates(shared, args.max_size, redundant=()))  # params and flops differ off NB-201
    sizes = [study.size_baseline() for study in studies]
    print(f"worse-space study: {' vs '.join(f'{s.space} ({describe_tables(s.tables)}, {len(read_columns(s.tables)[shared[0]])} rows)' for s in studies)}; "
          f"candidates={len(rows)} over {', '.join(shared)}")
    print("size baseline (max Kendall of params, flops): " + "  ".join(f"{s.space} {name} {k:.3f}" for s, (name, k) in zip(studies, sizes)))
    print(f"{'ensemble':<60} {'worse tau':>9}  " + "  ".join(f"{s.space + ' tau/rho (margin)':>28}" for s in studies))
    ranked = [n for _, n, _ in rows]
    default = next((n for n in ranked if set(parse_ensemble(n).members) == set(DEFAULT_MEMBERS)), None)
    for worse, name, pairs in rows[: args.top] + [r for r in rows if r[1] == default and ranked.index(default) >= args.top]:
        cells_ = "  ".join(f"{f'{k:.3f}/{r:.3f} ({k - size:+.3f})':>28}" for (k, r), (_, size) in zip(pairs, sizes))
        print(f"{name:<60} {worse:>9.3f}  {cells_}")
    if default is not None:
        print(f"default ensemble ({'+'.join(DEFAULT_MEMBERS)}): rank {ranked.index(default) + 1} of {len(rows)} by the worse space")
    print(f"best_worse_space={rows[0][1]} worse_kendall={rows[0][0]:.3f} " + " ".join(f"{s.space}={k:.3f}" for s, (k, _) in zip(studies, rows[0][2])))


def main() -> None:
    args = parse_args()
    if args.other_table is not None:
        worse_space_study(args)
        return
    space_name = table_space(args.table)
    truth = load_truth(space_name, args.accuracy)
    names = candidates(list(read_columns(args.table)), args.max_size)
    if args.cost is not None:
        affordable = [n for n in names if ensemble_cost(n, args.cost) <= args.max_cost]
        print(f"left out {len(names) - len(affordable)} candidates costing more than {args.max_cost}x NASWOT per cell")
        names = affordable
    tables = {name: read_scores(args.table, name) for name in names}
    archs = list(tables[names[0]])
    selection, heldout = archs[: args.select], archs[args.select :]
    search = args.objective == "search"
    rows = rank_by_search(tables, selection, truth, args.search_runs, space_name) if search else rank_by_kendall(tables, selection, truth)
    print(f"table={describe_tables(args.table)} cells={len(archs)} selection={len(selection)} heldout={len(heldout)} candidates={len(names)} "
          f"objective={args.objective}" + (f" meeting the bar={len(rows)}" if search else ""))
    print_ranking(rows, tables, archs, heldout, truth, args.top, search, args.cost)
    best = rows[0][1]
    held_min = min(k for k, _ in kendall_spearman(tables[best], heldout, truth)) if heldout else float("nan")
    sel_min = min(k for k, _ in rows[0][2])
    tail = f" search_c10={rows[0][0]:.2f}" if search else ""
    print(f"best={best} selection_min_kendall={sel_min:.3f} heldout_min_kendall={held_min:.3f}{tail}")


if __name__ == "__main__":
    main()
