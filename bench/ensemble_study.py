"""Which scores to combine: every subset of a table's score columns as a rank ensemble, selected on one
part of the table and checked on the rest.

    python bench/ensemble_study.py --table bench/results/nb201-c10-s0-3000.csv.gz --select 1000

Each candidate is ``ensemble:a+b+...`` over two or more columns, ranked as the service ranks it
(against the seeded reference sample).  Candidates are ordered by their smallest Kendall tau over the
three NB-201 targets on the *selection* rows (the table's first ``--select`` cells, a seeded random
sample of the space); the printed figures on the *held-out* rows (the others) show whether the
choice carries over.  The default ensemble's members (``scoring.DEFAULT_MEMBERS``) were chosen with
this script.  Last line: ``best=NAME selection_min_kendall=K heldout_min_kendall=K``.
"""

from __future__ import annotations

import argparse
import itertools
import os
from pathlib import Path

from correlation import correlations
from score_table import read_columns, read_scores
from scoring import DEFAULT_MEMBERS
from searchspace.nb201.accuracy import TARGETS, load_accuracy

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ACCURACY = os.environ.get("NASWOT_NB201_ACCURACY", str(ROOT.parent / "shared" / "data" / "nb201-accuracy.csv"))
#: columns that duplicate another's ranking (params and flops order NB-201 cells identically)
REDUNDANT = ("params",)


def kendall_spearman(table: dict[str, float], archs: list[str], truth: dict[str, dict[str, float]]) -> list[tuple[float, float]]:
    """(Kendall, Spearman) of ``table`` over ``archs`` against each NB-201 target."""
    scores = [table[a] for a in archs]
    return [correlations(scores, [truth[a][t] for a in archs]) for t in TARGETS]


def candidates(columns: list[str], max_size: int) -> list[str]:
    """Every ensemble of 2..max_size distinct columns, as canonical ``ensemble:`` names."""
    usable = [c for c in columns if c not in REDUNDANT]
    return ["ensemble:" + "+".join(c) for r in range(2, min(max_size, len(usable)) + 1) for c in itertools.combinations(usable, r)]


def cells(pairs: list[tuple[float, float]]) -> str:
    return " ".join(f"{k:.3f}/{s:.3f}" for k, s in pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", type=Path, required=True)
    parser.add_argument("--select", type=int, default=1000, help="rows (in table order) the candidates are ranked on")
    parser.add_argument("--max-size", type=int, default=6, help="largest ensemble tried")
    parser.add_argument("--top", type=int, default=10, help="candidates printed")
    parser.add_argument("--accuracy", default=DEFAULT_ACCURACY)
    args = parser.parse_args()

    truth = load_accuracy(args.accuracy)
    columns = list(read_columns(args.table))
    names = candidates(columns, args.max_size)
    tables = {name: read_scores(args.table, name) for name in names}
    archs = list(tables[names[0]])
    selection, heldout = archs[: args.select], archs[args.select :]
    rows = []
    for name, table in tables.items():
        sel = kendall_spearman(table, selection, truth)
        rows.append((min(k for k, _ in sel), name, sel))
    rows.sort(reverse=True)
    print(f"table={args.table} cells={len(archs)} selection={len(selection)} heldout={len(heldout)} candidates={len(names)}")
    print(f"{'ensemble':<70} {'selection tau/rho c10 c100 in16':<36} {'held-out tau/rho c10 c100 in16'}")
    for _, name, sel in rows[: args.top]:
        held = kendall_spearman(tables[name], heldout, truth) if heldout else []
        print(f"{name:<70} {cells(sel):<36} {cells(held)}")
    default = "ensemble:" + "+".join(DEFAULT_MEMBERS)
    if default in tables:
        rank = [n for _, n, _ in rows].index(default) + 1
        print(f"default ensemble ({'+'.join(DEFAULT_MEMBERS)}): rank {rank} of {len(rows)}; all rows: {cells(kendall_spearman(tables[default], archs, truth))}")
    best = rows[0][1]
    held_min = min(k for k, _ in kendall_spearman(tables[best], heldout, truth)) if heldout else float("nan")
    print(f"best={best} selection_min_kendall={rows[0][0]:.3f} heldout_min_kendall={held_min:.3f}")


if __name__ == "__main__":
    main()
