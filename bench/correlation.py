"""Rank correlation between a score and NAS-Bench-201 test accuracy on uniformly sampled cells.

    python bench/correlation.py --n 300 --seed 0 --data cifar10:../shared/data/cifar10-sample.npz [--score synflow]
    python bench/correlation.py --table bench/results/nb201-c10-s0-3000.csv.gz --score all

Prints a table per target (CIFAR-10, CIFAR-100, ImageNet16-120) and, last,
``kendall=K spearman=S n=N`` for CIFAR-10.  Undefined values (score -inf) rank below all others.
With ``--table`` it scores nothing and correlates every cell of a table written by
``naswot table`` instead (e.g. the whole space); ``--score`` then names a column or an
ensemble of columns, and ``--score all`` prints one row per column and the default ensemble, beside
the published Spearman figures (design.md section 7).
"""

from __future__ import annotations

import argparse
import math
import sys
import time

from common import DEFAULT_DATA, SHORT, Tables, add_accuracy_option, add_table_option, correlations, describe_tables, read_columns, read_scores
from scoring import Scorer, describe_device, open_source, resolve_device
from searchspace import get_space
from searchspace.nb201.accuracy import TARGETS, load_accuracy

PAPER_KENDALL = {"cifar10_test": 0.574, "cifar100_test": 0.611, "imagenet16_120_test": 0.549}
#: published Spearman (C10, C100, IN16-120) on NB-201: ZiCo Table 1, Abdelfattah et al. 2021 (batch 64), SWAP, AZ-NAS, NASWOT
PUBLISHED_SPEARMAN: dict[str, tuple[float, float, float]] = {
    "params": (0.75, 0.73, 0.69),
    "flops": (0.74, 0.73, 0.69),
    "grad_norm": (0.594, 0.637, 0.578),
    "snip": (0.596, 0.637, 0.578),
    "grasp": (0.514, 0.547, 0.549),
    "fisher": (0.36, 0.385, 0.327),
    "synflow": (0.737, 0.763, 0.751),
    "jacob_cov": (0.731, 0.704, 0.701),
    "zen": (0.38, 0.36, 0.40),
    "zico": (0.80, 0.81, 0.79),
    "swap": (0.81, 0.82, 0.77),
    "naswot": (0.77, 0.80, 0.77),
    "ensemble": (0.913, 0.900, 0.886),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300, help="number of distinct cells to sample")
    parser.add_argument("--seed", type=int, default=0, help="seeds the cell sample, the minibatch and the weights")
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="auto")
    add_accuracy_option(parser)
    add_table_option(parser, required=False, help="correlate the cells of this score table (several: joined on arch) instead of scoring")
    parser.add_argument("--score", default="naswot", help="score name (naswot scores lists them), an ensemble, or with --table: all")
    args = parser.parse_args()

    truth = load_accuracy(args.accuracy)
    if args.table is not None and args.score == "all":
        report_all(args.table, truth)
        return
    if args.table is not None:
        table = read_scores(args.table, args.score)
        report(list(table), list(table.values()), truth, f"table={describe_tables(args.table)} score={args.score}")
        return
    space = get_space("nb201")
    device = resolve_device(args.device)
    source = open_source(args.data)
    scorer = Scorer(space, source, batch_size=args.batch_size, seed=args.seed, device=device, scores=(args.score,))
    archs = space.sample(args.n, seed=args.seed, unique=True)

    start = time.perf_counter()
    scores = []
    for i, result in enumerate(scorer.score_many(archs), 1):
        scores.append(result.score)
        if i % 25 == 0 or i == len(archs):
            print(f"  scored {i}/{len(archs)} ({time.perf_counter() - start:.1f} s)", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - start

    data = source.describe()
    print(f"space=nb201 score={args.score} cells={len(archs)} seed={args.seed} batch={args.batch_size} device={describe_device(device)}")
    print(f"data={data['spec']} synthetic={data['synthetic']} identity={data['identity'][:23]}")
    report(archs, scores, truth, f"seconds={elapsed:.1f}  seconds_per_cell={elapsed / len(archs):.3f}")


def report(archs: list[str], scores: list[float], truth: dict[str, dict[str, float]], note: str) -> None:
    """The per-target table and the final ``kendall=K spearman=S n=N`` line (CIFAR-10)."""
    singular = sum(1 for s in scores if s == -math.inf)
    print(f"cells={len(archs)} singular={singular} ({100 * singular / len(archs):.1f}%)  {note}")
    print(f"{'target':<22}{'kendall':>9}{'spearman':>10}{'paper kendall (1000 cells)':>28}")
    results = {}
    for target in TARGETS:
        k, s = correlations(scores, [truth[a][target] for a in archs])
        results[target] = (k, s)
        print(f"{target:<22}{k:>9.3f}{s:>10.3f}{PAPER_KENDALL[target]:>28.3f}")
    k, s = results["cifar10_test"]
    print(f"kendall={k:.3f} spearman={s:.3f} n={len(archs)}")


def report_all(path: Tables, truth: dict[str, dict[str, float]]) -> None:
    """One row per score column of ``path`` (and the default ensemble when its members are there)."""
    names = list(read_columns(path))
    try:
        tables = {name: read_scores(path, name) for name in names}
        tables["ensemble"] = read_scores(path, "ensemble")
    except SystemExit as exc:
        print(f"(no default ensemble: {exc})")
    archs = list(tables[names[0]])
    print(f"table={describe_tables(path)} cells={len(archs)}")
    head = "".join(f"{SHORT[t] + ' tau/rho':>16}" for t in TARGETS)
    print(f"{'score':<18}{'undef':>6}{head}{'published rho':>22}")
    for name, table in tables.items():
        scores = [table[a] for a in archs]
        cells = "".join("{:>16}".format("{:.3f}/{:.3f}".format(*correlations(scores, [truth[a][t] for a in archs]))) for t in TARGETS)
        published = "/".join(f"{v:.2f}" for v in PUBLISHED_SPEARMAN[name]) if name in PUBLISHED_SPEARMAN else "-"
        print(f"{name:<18}{sum(1 for v in scores if v == -math.inf):>6}{cells}{published:>22}")


if __name__ == "__main__":
    main()
