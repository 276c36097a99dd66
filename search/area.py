"""AREA (assisted regularised evolution): score many random cells, seed the population with the best, evolve.

Mellor et al., "Neural Architecture Search without Training", ICML 2021, section on AREA:
the training-free score picks the initial population of REA from a larger random sample.
Here the score is also REA's fitness, so AREA is evolution whose first ``init_size``
evaluations are a random search; they count against the budget.  The best
``population_size`` of them (by score, singular ones only when nothing else is left or
``exclude_singular`` is off) form the population, aged in the order they were scored; the
cycles then follow :mod:`search.evolution`.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any

from .base import SearchContext, rank_key
from .evolution import PARAMS as EVOLUTION_PARAMS
from .evolution import evolve, seed_population
from .params import BUDGET, Param
from .random_search import fill_random

#: AREA's parameters: evolution's (whatever they are: ``area`` hands them on to :func:`evolve`), then the size of
#: the random start (see :mod:`search.params`)
PARAMS = (
    *EVOLUTION_PARAMS,
    Param(
        "init_size", None, "random architectures scored to seed the population (default: half the budget, at least population_size)",
        minimum=1, at_least="population_size", at_most=BUDGET,
    ),
)


def default_init_size(budget: int, population_size: int) -> int:
    """Half the budget, but never fewer than the population."""
    return max(population_size, budget // 2)


def area(ctx: SearchContext, rng: random.Random, *, init_size: int | None, **evolution: Any) -> bool:
    """Random search on ``init_size`` cells (default: half the budget), then evolution (``evolution``: its parameters)
    from the best of them.

    Returns True when no new admissible architecture could be found before the budget.
    """
    population_size = evolution["population_size"]
    m = default_init_size(ctx.budget, population_size) if init_size is None else init_size
    ran_out = fill_random(ctx, rng, m)
    best = sorted((e for e in ctx.history if ctx.eligible(e)), key=rank_key)[:population_size]
    population = deque(sorted(best, key=lambda e: e.step))
    if not population and not ran_out:  # every one of them singular and excluded: draw on until one is not
        seed_population(ctx, rng, population, population_size)
    if not population:
        return ctx.remaining > 0
    return evolve(ctx, rng, population, **evolution)
