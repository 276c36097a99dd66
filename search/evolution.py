"""Regularised (aging) evolution driven by the training-free score, with a budget in distinct evaluations.

Real et al., "Regularized Evolution for Image Classifier Architecture Search", AAAI 2019,
Algorithm 1, with the NAS-Bench-201 REA settings as defaults (population 10, tournament
sample 3, drawn with replacement; D-X-Y/AutoDL-Projects ``scripts-search/algos/R-EA.sh`` and
``exps/NATS-algos/regularized_ea.py``).  Each cycle draws ``sample_size`` members of the
population, mutates the best of them on one decision (``space.mutate``: for NB201 one edge to
a different op), appends the child and removes the oldest member, whatever its score.

Deduplication: a child that was already scored is not scored again and costs no budget, but
it still enters the population with its remembered score and ages the oldest member out, so
the dynamics are those of REA with a memo of scores.  When :data:`STALE_LIMIT` cycles in a row
bring nothing new (every child a repeat or over the constraints: the population's
neighbourhood is used up, as happens on small or fragmented spaces), a uniformly drawn new
architecture joins the population instead, like a child (a "random immigrant",
Grefenstette 1992); the result counts them in ``immigrants``.  Only when random draws find
nothing new either does the search end with ``exhausted``.  Singular cells enter the population with score ``-inf`` (they lose every
tournament they share with a finite score) unless ``exclude_singular``, in which case they are
never members nor parents.
"""

from __future__ import annotations

import random
from collections import deque

from scoring import ScoredArch

from .base import SearchContext, rank_key
from .params import BUDGET, Param
from .random_search import fill_random

POPULATION_SIZE = 10
SAMPLE_SIZE = 3
#: consecutive cycles without a new evaluation after which a random immigrant is scored instead
#: (on NAS-Bench-201 runs of repeats rarely pass 15 cycles while new neighbours remain)
STALE_LIMIT = 100

#: regularised evolution's parameters (see :mod:`search.params`); AREA shares them
PARAMS = (
    Param("population_size", POPULATION_SIZE, "population size", minimum=1, at_most=BUDGET),
    Param("sample_size", SAMPLE_SIZE, "tournament sample size", minimum=1, at_most="population_size"),
)


def evolution(ctx: SearchContext, rng: random.Random, *, population_size: int, sample_size: int) -> bool:
    """Seed the population with ``population_size`` random architectures, then evolve until the budget is spent.

    Returns True when no new admissible architecture could be found before the budget.
    """
    population: deque[ScoredArch] = deque()
    seed_population(ctx, rng, population, population_size)
    if not population:
        return ctx.remaining > 0
    return evolve(ctx, rng, population, population_size=population_size, sample_size=sample_size)


def seed_population(ctx: SearchContext, rng: random.Random, population: deque[ScoredArch], size: int) -> bool:
    """Fill ``population`` with random eligible evaluations (oldest first); True when random draws ran out."""
    while len(population) < size and ctx.remaining > 0:
        start = len(ctx.history)
        ran_out = fill_random(ctx, rng, size - len(population))
        population.extend(e for e in ctx.history[start:] if ctx.eligible(e))
        if ran_out:
            return True
    return False


def tournament(population: deque[ScoredArch], sample_size: int, rng: random.Random) -> ScoredArch:
    """The best of ``sample_size`` members drawn with replacement (ties: the earlier evaluation)."""
    return min((population[rng.randrange(len(population))] for _ in range(sample_size)), key=rank_key)


def evolve(
    ctx: SearchContext,
    rng: random.Random,
    population: deque[ScoredArch],
    *,
    population_size: int,
    sample_size: int,
    stale_limit: int = STALE_LIMIT,
) -> bool:
    """Run aging-evolution cycles on ``population`` until the budget is spent; True when no new cell can be found."""
    stale = 0
    while ctx.remaining > 0:
        ctx.check_stop()  # cycles that only repeat scored cells never reach ctx.evaluate's own check
        if not population:
            return True
        before = len(ctx.history)
        if stale < stale_limit:
            parent = tournament(population, sample_size, rng)
            (child,) = ctx.evaluate([ctx.space.mutate(parent.arch, rng)])
        else:
            if fill_random(ctx, rng, 1):
                return True
            child = ctx.history[-1]
            ctx.immigrants += 1
        stale = 0 if len(ctx.history) > before else stale + 1
        if child is not None and ctx.eligible(child):
            population.append(child)
            if len(population) > population_size:
                population.popleft()
    return False
