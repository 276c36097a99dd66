"""Random search (the paper's NASWOT-N): score N distinct uniformly drawn architectures, keep the best."""

from __future__ import annotations

import random

from .base import SearchContext
from .params import Param

#: candidates handed to the scorer at once (lets a batched scorer work on several networks)
CHUNK = 16
#: default give-up point: consecutive useless draws allowed per unit of budget
MAX_DRAWS_PER_EVAL = 100
#: the largest ``max_draws_per_eval`` accepted (beyond it a search could draw for hours)
MAX_DRAWS_PER_EVAL_LIMIT = 10_000

#: random search's parameters (see :mod:`search.params`)
PARAMS = (
    Param(
        "max_draws_per_eval", MAX_DRAWS_PER_EVAL,
        "consecutive useless draws (repeats, constraint breakers) allowed per unit of budget before the space counts as used up",
        minimum=1, maximum=MAX_DRAWS_PER_EVAL_LIMIT,
    ),
)


def fill_random(ctx: SearchContext, rng: random.Random, n: int, *, max_draws_per_eval: int = MAX_DRAWS_PER_EVAL) -> bool:
    """Score up to ``n`` new distinct admissible architectures drawn uniformly, in chunks of :data:`CHUNK`.

    Draws that repeat a scored architecture or break the constraints are skipped without
    scoring.  Returns True when the space looks used up: more than ``max_draws_per_eval``
    times the budget consecutive draws gave nothing new (e.g. constraints that almost
    nothing meets, or a finite space nearly fully scored), or every architecture of a finite
    space has been scored or rejected.  Polls ``ctx.should_stop`` after every useless draw.
    """
    target = len(ctx.history) + min(n, ctx.remaining)
    misses = 0
    limit = max_draws_per_eval * ctx.budget
    while len(ctx.history) < target:
        if ctx.constraints.active:  # each draw is checked: measure what the next draws will be, together
            ctx.prepare_costs(upcoming(ctx, rng, min(CHUNK, target - len(ctx.history))))
        chunk: list[str] = []
        while len(chunk) < min(CHUNK, target - len(ctx.history)):
            arch = ctx.space.random(rng)
            if arch in ctx.seen or arch in chunk or not ctx.admissible(arch):
                misses += 1
                if misses > limit or _stop_or_used_up(ctx, chunk):
                    break
                continue
            misses = 0
            chunk.append(arch)
        if chunk:
            ctx.evaluate(chunk)
        if misses > limit or (not chunk and _used_up(ctx)):
            return True
    return False


def upcoming(ctx: SearchContext, rng: random.Random, n: int) -> list[str]:
    """The next ``n`` distinct unseen architectures ``rng`` will draw, read from a copy of it (``rng`` is not advanced,
    so the search draws exactly what it would have drawn); at most ``4 n`` draws are looked at."""
    ahead = random.Random()
    ahead.setstate(rng.getstate())
    found: list[str] = []
    for _ in range(4 * n):
        arch = ctx.space.random(ahead)
        if arch not in ctx.seen and arch not in found:
            found.append(arch)
            if len(found) == n:
                break
    return found


def _stop_or_used_up(ctx: SearchContext, chunk: list[str]) -> bool:
    """Raise :class:`SearchStopped` when asked to stop; True when no admissible new architecture is left."""
    ctx.check_stop()
    return _used_up(ctx, len(chunk))


def _used_up(ctx: SearchContext, pending: int = 0) -> bool:
    """Every architecture of a finite space is scored, pending, known to break the constraints or known to fail."""
    size = ctx.space.size
    return size is not None and len(ctx.seen) + len(ctx.rejected_archs) + len(ctx.failed) + pending >= size


def random_search(ctx: SearchContext, rng: random.Random, *, max_draws_per_eval: int) -> bool:
    """Draw uniformly until ``ctx.budget`` distinct admissible architectures are scored.

    Returns True when the space ran out first (see :func:`fill_random`).
    """
    return fill_random(ctx, rng, ctx.budget, max_draws_per_eval=max_draws_per_eval)
