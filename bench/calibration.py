"""Calibration on a few labelled cells: does fitting to k trained networks rank the rest of the space better
than the label-free default ensemble, and do the reported intervals hold?

    python bench/calibration.py [--draws 20] [--ks 20,50,100,200] [--target cifar10_test]

For each k, ``--draws`` seeded draws of k labelled cells from the committed whole-space NB-201 tables
(``--table``, joined on ``arch``); on the unlabelled rest it prints the mean Kendall of the default ensemble, of
the single score with the best Kendall on the labels, and of the calibrated scorer
(:func:`scoring.calibration.calibrate`, which sees the k labelled cells only), with how often each kind of
model was chosen.  Coverage: how often a score's bootstrap 95% interval on the k labels contains its Kendall on
the whole space, and how often the calibrated scorer's cross-validated interval contains its Kendall on the rest.
Last line: ``k=50 default=D best_single=S calibrated=C coverage=P``.
"""

from __future__ import annotations

import argparse
import collections
import random
import statistics
import time

import numpy as np
from common import RESULTS, add_accuracy_option, add_table_option, describe_tables, read_columns, read_scores
from scoring import cpu_model
from scoring.calibration import calibrate
from scoring.calibration.stats import kendall
from searchspace.nb201.accuracy import TARGETS, load_accuracy

TABLES = [RESULTS / "nb201-c10-s0-all-synflow-az-meco.csv.gz", RESULTS / "nb201-c10-s0-jacob-cov.csv.gz"]
DEFAULT = "ensemble"


def load(tables, accuracy: str, target: str) -> tuple[list[str], np.ndarray, dict[str, np.ndarray]]:
    """The cells with a label, their labels and every score column (and the default ensemble), aligned."""
    columns = read_columns(tables)
    columns[DEFAULT] = read_scores(tables, DEFAULT)
    truth = load_accuracy(accuracy)
    archs = [a for a in columns["params"] if a in truth]
    values = {name: np.array([column[a] for a in archs]) for name, column in columns.items()}
    return archs, np.array([truth[a][target] for a in archs]), values


def one_draw(archs, labels, values, k: int, seed: int, whole: dict[str, float]) -> dict:
    """Calibrate on k seeded cells; the figures on the rest."""
    chosen = sorted(random.Random(seed).sample(range(len(archs)), k))
    rest = np.setdiff1d(np.arange(len(archs)), chosen)
    result = calibrate([archs[i] for i in chosen], labels[chosen], {n: v[chosen] for n, v in values.items()}, seed=seed)
    single = max((r for r in result.scores if r.name != DEFAULT), key=lambda r: r.kendall).name
    calibrated = kendall(result.model.predict({n: v[rest] for n, v in values.items()}), labels[rest])
    low, high = result.chosen.interval
    return {
        "default": kendall(values[DEFAULT][rest], labels[rest]),
        "single": kendall(values[single][rest], labels[rest]),
        "calibrated": calibrated,
        "model": result.model.kind,
        "covered": [r.interval[0] <= whole[r.name] <= r.interval[1] for r in result.scores],
        "cv_covered": low <= calibrated <= high,
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_table_option(parser, required=False, help="whole-space score tables joined on arch [the NB-201 ones in bench/results]")
    parser.add_argument("--draws", type=int, default=20, help="seeded draws of labelled cells per k [20]")
    parser.add_argument("--ks", default="20,50,100,200", help="labelled cells per draw, comma-separated")
    parser.add_argument("--target", choices=TARGETS, default="cifar10_test")
    parser.add_argument("--seed", type=int, default=0)
    add_accuracy_option(parser)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    tables = args.table or TABLES
    archs, labels, values = load(tables, args.accuracy, args.target)
    whole = {name: kendall(v, labels) for name, v in values.items()}
    print(f"{describe_tables(tables)}: {len(archs)} cells, target {args.target}, {args.draws} draws per k; CPU {cpu_model()}")
    print(f"{'k':>5} {'default':>8} {'best single':>12} {'calibrated':>11} {'coverage scores':>16} {'coverage cv':>12}  chosen  seconds/draw")
    summary = ""
    for k in (int(part) for part in args.ks.split(",")):
        start = time.perf_counter()
        draws = [one_draw(archs, labels, values, k, args.seed * 100_003 + k * 1_000 + d, whole) for d in range(args.draws)]
        mean = {key: statistics.fmean(d[key] for d in draws) for key in ("default", "single", "calibrated")}
        covered = statistics.fmean(c for d in draws for c in d["covered"])
        cv_covered = statistics.fmean(d["cv_covered"] for d in draws)
        kinds = collections.Counter(d["model"] for d in draws)
        per_draw = (time.perf_counter() - start) / args.draws
        print(f"{k:>5} {mean['default']:>8.3f} {mean['single']:>12.3f} {mean['calibrated']:>11.3f} {covered:>16.1%} {cv_covered:>12.1%}  "
              f"{dict(sorted(kinds.items()))}  {per_draw:.1f}", flush=True)
        if k == 50 or not summary:
            summary = f"k={k} default={mean['default']:.3f} best_single={mean['single']:.3f} calibrated={mean['calibrated']:.3f} coverage={covered:.3f}"
    print(summary)


if __name__ == "__main__":
    main()
