"""Rank correlation between NASWOT scores and NAS-Bench-201 test accuracy on uniformly sampled cells.

    python bench/correlation.py --n 300 --seed 0 --data cifar10:../shared/data/cifar10-sample.npz

Prints a table per target (CIFAR-10, CIFAR-100, ImageNet16-120) and, last,
``kendall=K spearman=S n=N`` for CIFAR-10.  Singular cells (score -inf) rank below all others.
With ``--table`` it scores nothing and correlates every cell of a table written by
``bench/score_table.py`` instead (e.g. the whole space).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

from score_table import read_table
from scoring import Scorer, describe_device, open_source, resolve_device
from searchspace import get_space
from searchspace.nb201.accuracy import TARGETS, load_accuracy

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ACCURACY = os.environ.get("NASWOT_NB201_ACCURACY", str(ROOT.parent / "shared" / "data" / "nb201-accuracy.csv"))
PAPER_KENDALL = {"cifar10_test": 0.574, "cifar100_test": 0.611, "imagenet16_120_test": 0.549}


def correlations(scores: list[float], accuracy: list[float]) -> tuple[float, float]:
    """Kendall tau-b and Spearman rho; -inf scores (singular) rank lowest."""
    finite_floor = min((s for s in scores if math.isfinite(s)), default=0.0) - 1.0
    ranked = np.array([s if math.isfinite(s) else finite_floor for s in scores])
    return float(stats.kendalltau(ranked, accuracy).statistic), float(stats.spearmanr(ranked, accuracy).statistic)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300, help="number of distinct cells to sample")
    parser.add_argument("--seed", type=int, default=0, help="seeds the cell sample, the minibatch and the weights")
    parser.add_argument("--data", default="cifar10:" + str(ROOT.parent / "shared" / "data" / "cifar10-sample.npz"))
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--accuracy", default=DEFAULT_ACCURACY, help="nb201-accuracy.csv [$NASWOT_NB201_ACCURACY]")
    parser.add_argument("--table", type=Path, help="correlate the cells of this score table instead of scoring")
    args = parser.parse_args()

    truth = load_accuracy(args.accuracy)
    if args.table is not None:
        table = read_table(args.table)
        report(list(table), list(table.values()), truth, f"table={args.table}")
        return
    space = get_space("nb201")
    device = resolve_device(args.device)
    source = open_source(args.data)
    scorer = Scorer(space, source, batch_size=args.batch_size, seed=args.seed, device=device)
    archs = space.sample(args.n, seed=args.seed, unique=True)

    start = time.perf_counter()
    scores = []
    for i, result in enumerate(scorer.score_many(archs), 1):
        scores.append(result.score)
        if i % 25 == 0 or i == len(archs):
            print(f"  scored {i}/{len(archs)} ({time.perf_counter() - start:.1f} s)", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - start

    data = source.describe()
    print(f"space=nb201 cells={len(archs)} seed={args.seed} batch={args.batch_size} device={describe_device(device)}")
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


if __name__ == "__main__":
    main()
