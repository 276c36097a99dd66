"""Pareto local search (PLS) seeded by NSGA-II: completes the front that NSGA-II's crowding leaves gappy.

Paquete, Chiarandini and Stützle, "Pareto Local Search and Local Optima", 2004.  The first
``pls_start`` evaluations (default a fifth of the budget) are an NSGA-II run with its own
parameters; from then on the search keeps the **archive** (the result's ``pareto``: the eligible
evaluations none dominates) and explores it and the next ``pls_depth - 1`` fronts of the
evaluations.  Each step scores the next :data:`PLS_CHUNK` neighbours (one decision away:
``space.neighbours`` where the space offers it, else :data:`NEIGHBOUR_DRAWS` of ``space.mutate``,
shuffled) of one member: a member not started yet first, then the best front, then the earliest
evaluated; so the search spreads over the whole front before it finishes any one neighbourhood.
Members with the same (score, costs) point as one started already share its neighbourhood: on
NAS-Bench-201 those are isomorphic cells, whose neighbourhoods hold the same networks.

A neighbour with the same costs and a better score replaces its parent on the archive, so the
search climbs within each cost level as well as stepping to the next level.  Exploring the deeper
fronts too matters on NAS-Bench-201: most true front cells there have no front cell among their 24
neighbours, so they are reached through cells a cheaper one dominates (depth 3 found 0.73 of the
front's points at budget 1000 against 0.57 for the archive alone; chunks of 8 rather than whole
neighbourhoods 0.77; 10 seeds).  When every point of those fronts is explored,
``pareto_population`` uniformly drawn architectures (random immigrants, counted in
``immigrants``) join the evaluations and the exploration goes on from whatever of them is
non-dominated.  Repeats cost no budget, constraints are honoured by the context (candidates over a
limit are never scored), and everything is deterministic for a seed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from scoring import ScoredArch

from . import nsga2
from .base import SearchContext
from .params import BUDGET, Param
from .pareto import front_ranks, objectives
from .random_search import fill_random

#: the share of the budget NSGA-II spends before the local search, when ``pls_start`` is not given
START_SHARE = 0.2
#: neighbours drawn with ``space.mutate`` for a space that cannot list its neighbourhood
NEIGHBOUR_DRAWS = 24
#: default fronts of the evaluations whose members are explored
PLS_DEPTH = 3
#: neighbours of one member scored at a time, before the next member is chosen
PLS_CHUNK = 8

#: PLS's parameters (see :mod:`search.params`); NSGA-II's are handed on to its start
PARAMS = (
    Param("pls_start", None, "evaluations NSGA-II spends before the Pareto local search (default a fifth of the budget)", minimum=1, at_most=BUDGET),
    Param("pls_depth", PLS_DEPTH, "fronts explored: 1 is the archive alone; deeper fronts hold each cost's best networks that a cheaper one dominates", minimum=1),
    *nsga2.PARAMS,
)


def pls(ctx: SearchContext, rng: random.Random, *, pls_start: int | None, pls_depth: int, **nsga2_params: int | None) -> bool:
    """NSGA-II for ``pls_start`` evaluations, then Pareto local search from its archive until the budget is spent.

    Returns True when no new admissible architecture could be found before the budget.
    """
    if start_with_nsga2(ctx, rng, pls_start or max(1, int(START_SHARE * ctx.budget)), nsga2_params):
        return ctx.remaining > 0
    untried: dict[tuple[float, ...], list[str]] = {}  # explored point -> its neighbours not yet scored
    while ctx.remaining > 0:
        ctx.check_stop()
        before = len(ctx.history)
        member = next_member(ctx, untried, pls_depth)
        if member is not None:
            ctx.evaluate(next_neighbours(ctx, member, untried, rng))
        elif fill_random(ctx, rng, nsga2_params.get("pareto_population") or nsga2.PARETO_POPULATION):
            return ctx.remaining > 0
        else:
            ctx.immigrants += len(ctx.history) - before
    return False


def start_with_nsga2(ctx: SearchContext, rng: random.Random, evaluations: int, params: dict[str, int | None]) -> bool:
    """NSGA-II with the budget cut to ``evaluations`` (restored after); True when it ran out of architectures."""
    budget = ctx.budget
    ctx.budget = min(budget, evaluations)
    try:
        return nsga2.nsga2(ctx, rng, **params) and ctx.remaining > 0
    finally:
        ctx.budget = budget


def next_neighbours(ctx: SearchContext, member: ScoredArch, untried: dict[tuple[float, ...], list[str]], rng: random.Random) -> list[str]:
    """The next :data:`PLS_CHUNK` of ``member``'s neighbours, taken off what is left of its point's neighbourhood."""
    key = point(member, ctx.minimize)
    if key not in untried:
        untried[key] = neighbourhood(ctx, member.arch, rng)
    batch, untried[key] = untried[key][:PLS_CHUNK], untried[key][PLS_CHUNK:]
    return batch


def point(e: ScoredArch, minimize: Sequence[str]) -> tuple[float, ...]:
    """The evaluation's objectives (minus its score, then its costs): isomorphic cells share one."""
    return tuple(objectives([e], minimize)[0].tolist())


def next_member(ctx: SearchContext, untried: dict[tuple[float, ...], list[str]], depth: int) -> ScoredArch | None:
    """The eligible evaluation on the first ``depth`` fronts with neighbours left to score: one not started first, then the
    best front, then the earliest; None when there is none."""
    eligible = [e for e in ctx.history if ctx.eligible(e)]
    points = [tuple(p) for p in objectives(eligible, ctx.minimize).tolist()]
    ranks = front_ranks(np.array(points).reshape(len(points), -1))
    open_ = [i for i in np.flatnonzero(ranks < depth).tolist() if untried.get(points[i], True)]
    return eligible[min(open_, key=lambda i: (points[i] in untried, ranks[i], i))] if open_ else None


def neighbourhood(ctx: SearchContext, arch: str, rng: random.Random) -> list[str]:
    """Every architecture one decision from ``arch`` (the space's list, shuffled), or :data:`NEIGHBOUR_DRAWS` mutations."""
    listing = getattr(ctx.space, "neighbours", None)
    found = list(listing(arch)) if listing is not None else [ctx.space.mutate(arch, rng) for _ in range(NEIGHBOUR_DRAWS)]
    found = list(dict.fromkeys(found))
    rng.shuffle(found)
    return found

