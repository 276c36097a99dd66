"""How stable measured latency is: two measurement runs over the same NB-201 cells, ranked against each other.

    python bench/latency_stability.py --n 50 --seed 0 --threads 1

Draws ``--n`` distinct NB-201 cells (seeded) and times each one's forward pass in two whole runs over the cells
(batch ``--latency-batch`` on the CPU, ``--threads`` torch threads pinned, warm-up, the median of the timed blocks,
as :class:`scoring.LatencyMeter` does), the second run in a shuffled order so that a drift over time is not taken
for a difference between cells.  It does so twice: once with all cells measured together (their blocks
interleaved, as a device worker measures a batch), once one cell at a time (as a search measures each
candidate), and prints Kendall's tau between the two runs of each.  It also scores the same cells with NASWOT
(batch ``--batch-size`` of ``--data``) and prints the per-cell cost of a latency measurement relative to
NASWOT's scoring cost, and the CPU model.  The last line is ``kendall=K kendall_one_by_one=K1
latency_s_per_cell=A naswot_s_per_cell=B ratio=R``.  The figure needs an idle CPU: another process on the cores
makes both runs noisy.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

import torch
from scipy import stats

from scoring import LatencyMeter, Scorer, cpu_model, device_identity, open_source
from searchspace import get_space

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT.parent / "shared" / "data" / "cifar10-sample.npz"
DEFAULT_DATA = f"cifar10:{SAMPLE}" if SAMPLE.exists() else "noise"

Measure = Callable[[list[str]], list[float]]


def timed_run(measure: Measure, archs: list[str], order: list[int]) -> tuple[list[float], float]:
    """Each cell's latency (ms, in the order of ``archs``), measured in ``order``, and the wall seconds the run took."""
    start = time.perf_counter()
    figures = dict(zip(order, measure([archs[i] for i in order])))
    return [figures[i] for i in range(len(archs))], time.perf_counter() - start


def two_runs(measure: Measure, archs: list[str], seed: int) -> tuple[float, float, list[float]]:
    """Kendall's tau between two runs (the second shuffled), the seconds per cell of one run, and every figure."""
    shuffled = list(range(len(archs)))
    random.Random(seed).shuffle(shuffled)
    first, first_s = timed_run(measure, archs, list(range(len(archs))))
    second, second_s = timed_run(measure, archs, shuffled)
    return stats.kendalltau(first, second).statistic, (first_s + second_s) / (2 * len(archs)), first + second


def naswot_seconds(space, source, archs: list[str], batch_size: int, seed: int) -> float:
    """Wall seconds NASWOT takes to score ``archs`` (after one warm-up cell)."""
    scorer = Scorer(space, source, batch_size=batch_size, seed=seed, device="cpu")
    list(scorer.score_many(space.sample(1, seed + 1)))
    start = time.perf_counter()
    list(scorer.score_many(archs))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50, help="cells [50]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads pinned while timing [1]")
    parser.add_argument("--latency-batch", type=int, default=1)
    parser.add_argument("--data", default=DEFAULT_DATA, help="NASWOT's data (and the input resolution)")
    parser.add_argument("--batch-size", type=int, default=128, help="NASWOT's minibatch [128]")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    space, source = get_space("nb201"), open_source(args.data)
    archs = space.sample(args.n, args.seed, unique=True)
    meter = LatencyMeter(space, source, torch.device("cpu"), batch=args.latency_batch, threads=args.threads)
    print(f"cpu={cpu_model()} identity={device_identity(torch.device('cpu'), args.threads)} load={os.getloadavg()[0]:.1f} "
          f"cells={len(archs)} seed={args.seed} latency_batch={args.latency_batch} warmup={meter.warmup} runs={meter.runs} "
          f"min_block_s={meter.min_block_s}")
    tau, latency_s, figures = two_runs(meter.measure_many, archs, args.seed)
    tau_one, latency_one_s, _ = two_runs(lambda cells: [meter.measure(a) for a in cells], archs, args.seed)
    naswot_s = naswot_seconds(space, source, archs, args.batch_size, args.seed) / len(archs)
    print(f"latency ms: median={sorted(figures)[len(figures) // 2]:.2f} min={min(figures):.2f} max={max(figures):.2f}; "
          f"one by one: {latency_one_s:.3f} s/cell; naswot data={source.spec} batch={args.batch_size}; load={os.getloadavg()[0]:.1f}")
    print(f"kendall={tau:.3f} kendall_one_by_one={tau_one:.3f} latency_s_per_cell={latency_s:.3f} "
          f"naswot_s_per_cell={naswot_s:.3f} ratio={latency_s / naswot_s:.2f}")


if __name__ == "__main__":
    main()
