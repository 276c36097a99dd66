"""Name -> strategy, and the one entry point that runs any of them."""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scoring import ScoredArch
from searchspace import ModelCost, SearchSpace

from . import area, evolution, nsga2, pls, random_search
from .base import Constraints, ScoreFn, SearchContext, SearchResult, SearchStopped
from .params import Param, ParameterError, check_all, require_int
from .pareto import check_minimize


@dataclass(frozen=True)
class Strategy:
    """A search strategy: ``run(ctx, rng, **params)`` returns True when the space ran out before the budget.

    ``params`` is the one declaration of its parameters; ``run`` takes exactly those as keyword-only
    arguments, or some of them and a ``**`` catch-all for the rest (AREA hands evolution's on).
    """

    run: Callable[..., bool]
    params: tuple[Param, ...]
    summary: str

    def __post_init__(self) -> None:
        arguments = inspect.signature(self.run).parameters.values()
        taken = [p.name for p in arguments if p.kind is p.KEYWORD_ONLY]
        declared = [p.name for p in self.params]
        rest = any(p.kind is p.VAR_KEYWORD for p in arguments)
        if (not set(taken) <= set(declared)) if rest else taken != declared:
            raise TypeError(f"{self.run.__name__} takes {taken}{' and **' if rest else ''}, but its declaration lists {declared}")

    def defaults(self) -> dict[str, Any]:
        """The strategy's own parameters and their defaults."""
        return {p.name: p.default for p in self.params}


STRATEGIES: dict[str, Strategy] = {
    "random": Strategy(random_search.random_search, random_search.PARAMS, "score distinct uniformly drawn architectures, keep the best (NASWOT-N)"),
    "evolution": Strategy(
        evolution.evolution, evolution.PARAMS, "regularised evolution: tournament of sample_size, one-decision mutation, oldest removed"
    ),
    "area": Strategy(
        area.area, area.PARAMS, "score init_size random architectures (default half the budget), evolve from the best population_size"
    ),
    "nsga2": Strategy(
        nsga2.nsga2, nsga2.PARAMS, "NSGA-II: score against the minimize costs by non-dominated sorting and crowding distance, one-decision mutation"
    ),
    "pls": Strategy(
        pls.pls, pls.PARAMS, "Pareto local search seeded by NSGA-II: explore the one-decision neighbourhood of every front member, keep the non-dominated archive"
    ),
}


def list_strategies() -> list[str]:
    return sorted(STRATEGIES)


def strategy_params(name: str) -> dict[str, Any]:
    """The strategy's own parameters and their defaults (``None``: derived from the budget, see its docs)."""
    return _strategy(name).defaults()


def declared_params(name: str) -> tuple[Param, ...]:
    """The declaration of the strategy's parameters."""
    return _strategy(name).params


def params_by_name() -> dict[str, tuple[Param, tuple[str, ...]]]:
    """Every strategy parameter by name, with the strategies that take it; TypeError if one name has two declarations."""
    found: dict[str, tuple[Param, tuple[str, ...]]] = {}
    for name in list_strategies():
        for param in STRATEGIES[name].params:
            earlier, users = found.get(param.name, (param, ()))
            if earlier != param:
                raise TypeError(f"strategy parameter {param.name!r} is declared twice, differently ({users[0]} and {name})")
            found[param.name] = (param, (*users, name))
    return found


def describe_strategies() -> list[dict[str, Any]]:
    """Name, one-line summary, parameters with defaults, and each parameter's declaration, of every strategy, for listings."""
    return [
        {"name": n, "summary": STRATEGIES[n].summary, "params": strategy_params(n), "parameters": [p.describe() for p in STRATEGIES[n].params]}
        for n in list_strategies()
    ]


def check_params(strategy: str, budget: int, **params: Any) -> dict[str, Any]:
    """Validate a search request without running it; the full parameter set with defaults filled in.

    Raises :class:`ParameterError` (a ValueError) naming the budget or parameter at fault, or
    ValueError for an unknown strategy.
    """
    spec = _strategy(strategy)
    require_int("budget", budget, minimum=1)
    known = spec.defaults()
    unknown = set(params) - set(known)
    if unknown:
        raise ParameterError(
            sorted(unknown)[0],
            f"unknown parameter(s) for strategy {strategy!r}: {', '.join(sorted(unknown))}; expected {', '.join(known) or 'none'}",
        )
    return check_all(spec.params, budget, params)


def _strategy(name: str) -> Strategy:
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; expected one of {', '.join(list_strategies())}")
    return STRATEGIES[name]


def run_search(
    strategy: str,
    space: SearchSpace,
    scorer: ScoreFn,
    *,
    budget: int,
    seed: int = 0,
    top_k: int = 10,
    constraints: Constraints | None = None,
    exclude_singular: bool = False,
    cost: Callable[[str], ModelCost] | None = None,
    minimize: tuple[str, ...] = (),
    on_evaluation: Callable[[ScoredArch], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    **params: Any,
) -> SearchResult:
    """Run ``strategy`` with at most ``budget`` distinct evaluations; same seed and scorer, same result.

    ``minimize`` names costs (:data:`search.pareto.COSTS`) to minimise beside maximising the
    score: the result then carries ``pareto``, and ``nsga2`` searches for that front.

    ``should_stop`` is polled before each scoring call (and each evolution cycle); when it
    returns True the search ends with what it has (``stopped=True``).
    """
    full = check_params(strategy, budget, **params)
    require_int("top_k", top_k, minimum=1)
    ctx = SearchContext(
        space=space,
        scorer=scorer,
        budget=budget,
        constraints=constraints or Constraints(),
        exclude_singular=exclude_singular,
        cost=cost,
        minimize=check_minimize(minimize),
        on_evaluation=on_evaluation,
        should_stop=should_stop,
    )
    try:
        exhausted = STRATEGIES[strategy].run(ctx, random.Random(seed), **full)
    except SearchStopped:
        return ctx.result(strategy, top_k, stopped=True, params=full)
    return ctx.result(strategy, top_k, exhausted=exhausted, params=full)
