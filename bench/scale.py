"""Cells per second with 1 and with 2 Ray CPU actors (one torch thread each), and the ratio, in one run.

    python bench/scale.py --n 64 --data cifar10:../shared/data/cifar10-sample.npz

Both pools score the same seeded NB-201 cells on the same minibatch, after a warm-up that builds
each actor's scorer. The load average before and after is printed beside the figures: other work
on the machine takes CPU time from the actors and lowers the ratio; ``cores_used`` (the actors' CPU
seconds over the wall time) shows how much of the machine they actually got.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from app.executors.ray_pool import RayScorePool, ScorerKey, key_for
from common import DEFAULT_DATA
from scoring import open_source
from searchspace import get_space


def measure(actors: int, key: ScorerKey, cells: list[str], warmup: list[str]) -> tuple[float, float]:
    """(cells/s, CPU cores the actors actually got) of ``actors`` one-thread CPU actors on ``cells`` after ``warmup``."""
    pool = RayScorePool(actors=actors, use_gpus=False, threads_per_actor=1, chunk=4)
    pool.start()
    try:
        pool.score(key, warmup)
        cpu, start = pool.cpu_seconds(), time.perf_counter()
        pool.score(key, cells)
        wall = time.perf_counter() - start
        return len(cells) / wall, (pool.cpu_seconds() - cpu) / wall
    finally:
        pool.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=64, help="cells timed per pool")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--address", default=None, help="an existing Ray cluster (default: a local one with 2 CPUs)")
    args = parser.parse_args()

    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(address=args.address, **({} if args.address else {"num_cpus": 2}), include_dashboard=False, log_to_driver=False)
    source = open_source(args.data)
    space = get_space("nb201")
    key = key_for(space, source, args.batch_size, args.seed)
    cells = space.sample(args.n + 4, seed=args.seed, unique=True)
    warmup, timed = cells[:4], cells[4:]
    load_before = os.getloadavg()[0]
    figures = {actors: measure(actors, key, timed, warmup) for actors in (1, 2)}
    load_after = os.getloadavg()[0]
    ray.shutdown()
    print(f"space=nb201 data={source.spec} images={args.batch_size} cells={len(timed)} cpus={os.cpu_count()}")
    for actors, (rate, cores) in figures.items():
        print(f"actors={actors} threads_per_actor=1 cells_per_s={rate:.2f} cores_used={cores:.2f} cells_per_cpu_s={rate / cores:.2f}")
    print(f"ratio_2_vs_1={figures[2][0] / figures[1][0]:.2f} cores_ratio={figures[2][1] / figures[1][1]:.2f}"
          f" loadavg_1min_before={load_before:.2f} after={load_after:.2f}")


if __name__ == "__main__":
    sys.exit(main())
