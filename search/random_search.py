"""Random search (the paper's NASWOT-N): score N distinct uniformly drawn architectures, keep the best."""

from __future__ import annotations

import random

from .base import SearchContext

#: candidates handed to the scorer at once (lets a batched scorer work on several networks)
CHUNK = 16


def random_search(ctx: SearchContext, rng: random.Random, *, max_draws_per_eval: int = 100) -> bool:
    """Draw uniformly until ``ctx.budget`` distinct admissible architectures are scored.

    Returns True when the space ran out first: the draws since the last new admissible
    architecture exceed ``max_draws_per_eval`` times the budget (e.g. constraints that
    almost nothing meets).
    """
    misses = 0
    while ctx.remaining > 0:
        chunk: list[str] = []
        while len(chunk) < min(CHUNK, ctx.remaining):
            arch = ctx.space.random(rng)
            if arch in ctx.seen or arch in chunk or not ctx.admissible(arch):
                misses += 1
                if misses > max_draws_per_eval * ctx.budget:
                    break
                continue
            chunk.append(arch)
        if not chunk:
            return True
        ctx.evaluate(chunk)
    return False
