"""Resident memory over a long random search: flat once the bounded caches are full, or growing?

    .venv/bin/python bench/memory.py                            # 1,000 ofa-mbv3 evaluations, batch 2, noise data
    .venv/bin/python bench/memory.py --n 200 --batch-size 64    # fewer, heavier evaluations

Runs ``search.run_search("random", ...)`` with the in-process :class:`scoring.Scorer` through
:func:`app.service.scorers.score_each` (what a device worker, a Ray actor and ``naswot search`` run; it gives freed
heap pages back, unless ``--no-trim``) and prints, every ``--every`` evaluations, the process's resident set size and the size of each
cache that an ofa-mbv3 search fills: the resized minibatches (one per input resolution met, bounded in entries
and bytes), the per-architecture cost cache and the per-part cost caches of ofa-mbv3. The last lines give the
growth from the first sample after ``--warm`` evaluations (the caches filled) to the end.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from app.service import scorers
from scoring import Scorer, open_source
from scoring import inputs
from search import run_search
from searchspace import get_space
from searchspace import base as space_base
from searchspace.ofa import cost as ofa_cost


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--space", default="ofa-mbv3")
    p.add_argument("--data", default="noise")
    p.add_argument("--n", type=int, default=1000, help="evaluations")
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--every", type=int, default=100, help="evaluations between samples")
    p.add_argument("--warm", type=int, default=200, help="evaluations after which the caches count as filled")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-trim", action="store_true", help="never give freed heap pages back (the behaviour before issue 31)")
    return p.parse_args(argv)


def rss_mb() -> float:
    """This process's resident set size in MB (Linux /proc)."""
    with open("/proc/self/status") as status:
        kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return kb / 1024


def cache_sizes() -> dict[str, str]:
    resized_mb = sum(t.numel() * t.element_size() for t in inputs._resized.values()) / 2**20
    parts = sum(f.cache_info().currsize for f in (ofa_cost._stem, ofa_cost._block, ofa_cost._head))
    return {
        "resized": f"{len(inputs._resized)} ({resized_mb:.0f} MB)",
        "costs": str(space_base._cached_cost.cache_info().currsize),
        "ofa parts": str(parts),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    space, source = get_space(args.space), open_source(args.data)
    scorer = Scorer(space, source, batch_size=args.batch_size, seed=args.seed)
    samples: list[tuple[int, float]] = []
    start = time.perf_counter()
    print(f"{args.space} random search, {args.n} evaluations, batch {args.batch_size}, data {args.data}, {args.threads} torch thread(s), "
          f"heap trimmed: {not args.no_trim}")
    print(f"{'evaluations':>11} {'RSS MB':>8} {'seconds':>8}  caches")

    def sample(done: int) -> None:
        samples.append((done, rss_mb()))
        caches = "  ".join(f"{k}: {v}" for k, v in cache_sizes().items())
        print(f"{done:>11} {samples[-1][1]:>8.0f} {time.perf_counter() - start:>8.0f}  {caches}", flush=True)

    count = [0]

    def counted(_evaluation) -> None:
        count[0] += 1
        if count[0] % args.every == 0:
            sample(count[0])

    sample(0)
    if args.no_trim:
        scorers.trim_heap.every = float("inf")
    score = lambda archs: [outcome for _arch, outcome in scorers.score_each(scorer, archs, recover=lambda exc: None)]  # noqa: E731
    run_search("random", space, score, budget=args.n, seed=args.seed, on_evaluation=counted)
    warm = [rss for done, rss in samples if done >= args.warm]
    if len(warm) >= 2:
        print(f"RSS after {args.warm} evaluations: {warm[0]:.0f} MB; at {samples[-1][0]}: {warm[-1]:.0f} MB; "
              f"growth {warm[-1] - warm[0]:+.0f} MB ({(warm[-1] - warm[0]) / warm[0]:+.1%}); max {max(warm):.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
