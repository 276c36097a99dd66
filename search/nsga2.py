"""NSGA-II: the multi-objective search, maximising the score and minimising the costs of ``ctx.minimize``.

Deb, Pratap, Agarwal and Meyarivan, "A Fast and Elitist Multiobjective Genetic Algorithm:
NSGA-II", IEEE TEC 2002.  A population of ``pareto_population`` (mu) random architectures;
each generation breeds ``offspring`` (lambda) children, each the space's own one-decision
``mutate`` of a parent picked by binary tournament (lower front rank wins, then the larger
crowding distance, then the earlier evaluation); the children are scored as one batch, and
elitist (mu + lambda) survival keeps the mu best of parents and children by front rank, the
last front admitted cut by crowding distance.  There is no crossover: the spaces offer none.

As in :mod:`search.evolution`, a child already scored costs no budget.  Elitist survival can
settle on a population whose every neighbour is scored (all children repeats); a generation that
brings nothing new is therefore followed by one of ``offspring`` uniformly drawn architectures
("random immigrants", Grefenstette 1992; counted in ``immigrants``), which survival then judges
like children.  Without ``minimize`` the only objective is
the score and NSGA-II is a plain elitist (mu + lambda) evolution.  Singular cells take part
with score ``-inf`` (the worst) unless ``exclude_singular``.
"""

from __future__ import annotations

import random
from collections import deque

import numpy as np

from scoring import ScoredArch

from .base import SearchContext
from .evolution import seed_population
from .params import Param
from .pareto import crowding, front_ranks, objectives
from .random_search import fill_random

PARETO_POPULATION = 20

#: NSGA-II's parameters (see :mod:`search.params`)
PARAMS = (
    Param("pareto_population", PARETO_POPULATION, "architectures kept between generations (mu); the first ones are random", minimum=2),
    Param("offspring", None, "children bred per generation (lambda; default pareto_population)", minimum=1),
)


def nsga2(ctx: SearchContext, rng: random.Random, *, pareto_population: int, offspring: int | None) -> bool:
    """Random start of ``pareto_population``, then generations of ``offspring`` children until the budget is spent.

    Returns True when no new admissible architecture could be found before the budget.
    """
    start: deque[ScoredArch] = deque()
    if seed_population(ctx, rng, start, pareto_population):
        return ctx.remaining > 0
    population = list(start)
    children = offspring or pareto_population
    stale = False
    while ctx.remaining > 0:
        ctx.check_stop()
        before = len(ctx.history)
        if not stale:
            brood = breed(ctx, rng, population, children)
        else:
            ran_out = fill_random(ctx, rng, children)
            brood = [e for e in ctx.history[before:] if ctx.eligible(e)]
            ctx.immigrants += len(ctx.history) - before
            if ran_out:
                return ctx.remaining > 0
        stale = len(ctx.history) == before
        population = survivors(population, brood, pareto_population, ctx.minimize)
    return False


def breed(ctx: SearchContext, rng: random.Random, population: list[ScoredArch], n: int) -> list[ScoredArch]:
    """``n`` mutated tournament winners, scored in one batch; the eligible ones not already in the population."""
    points = objectives(population, ctx.minimize)
    ranks = front_ranks(points)
    distance = np.zeros(len(population))
    for rank in np.unique(ranks):
        members = np.flatnonzero(ranks == rank)
        distance[members] = crowding(points[members])
    parents = [tournament(population, ranks, distance, rng) for _ in range(n)]
    scored = ctx.evaluate([ctx.space.mutate(parent.arch, rng) for parent in parents])
    present = {e.arch for e in population}
    brood = []
    for child in scored:
        if child is not None and ctx.eligible(child) and child.arch not in present:
            present.add(child.arch)
            brood.append(child)
    return brood


def tournament(population: list[ScoredArch], ranks: np.ndarray, distance: np.ndarray, rng: random.Random) -> ScoredArch:
    """Binary tournament by the crowded-comparison operator: lower rank, then larger crowding distance, then earlier step."""
    a, b = rng.randrange(len(population)), rng.randrange(len(population))
    return population[min(a, b, key=lambda i: (ranks[i], -distance[i], population[i].step))]


def survivors(population: list[ScoredArch], brood: list[ScoredArch], size: int, minimize: tuple[str, ...]) -> list[ScoredArch]:
    """Elitist (mu + lambda) survival: whole fronts in rank order, the last one admitted cut by crowding distance."""
    pool = population + brood
    if len(pool) <= size:
        return pool
    points = objectives(pool, minimize)
    ranks = front_ranks(points)
    kept: list[int] = []
    for rank in np.unique(ranks):
        members = np.flatnonzero(ranks == rank)
        if len(kept) + len(members) > size:
            distance = crowding(points[members])
            order = sorted(range(len(members)), key=lambda i: (-distance[i], pool[members[i]].step))
            members = members[order[: size - len(kept)]]
        kept.extend(members.tolist())
        if len(kept) == size:
            break
    return [pool[i] for i in sorted(kept, key=lambda i: pool[i].step)]
