"""Name -> strategy, and the one entry point that runs any of them."""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from searchspace import ModelCost, SearchSpace

from .area import area, check_area
from .base import Constraints, Evaluation, Scorer, SearchContext, SearchResult, SearchStopped
from .evolution import check_evolution, evolution
from .params import ParameterError, require_int
from .random_search import check_random, random_search


@dataclass(frozen=True)
class Strategy:
    """A search strategy: ``run(ctx, rng, **params)`` returns True when the space ran out before the budget."""

    run: Callable[..., bool]
    #: ``check(budget, **params)`` raises ValueError naming a bad parameter
    check: Callable[..., None]
    summary: str

    def params(self) -> dict[str, Any]:
        """The strategy's own keyword parameters and their defaults."""
        return {p.name: p.default for p in inspect.signature(self.run).parameters.values() if p.kind is p.KEYWORD_ONLY}


STRATEGIES: dict[str, Strategy] = {
    "random": Strategy(random_search, check_random, "score distinct uniformly drawn architectures, keep the best (NASWOT-N)"),
    "evolution": Strategy(
        evolution, check_evolution, "regularised evolution: tournament of sample_size, one-decision mutation, oldest removed"
    ),
    "area": Strategy(
        area, check_area, "score init_size random architectures (default half the budget), evolve from the best population_size"
    ),
}


def list_strategies() -> list[str]:
    return sorted(STRATEGIES)


def strategy_params(name: str) -> dict[str, Any]:
    """The strategy's own parameters and their defaults (``None``: derived from the budget, see its docs)."""
    return _strategy(name).params()


def describe_strategies() -> list[dict[str, Any]]:
    """Name, one-line summary and parameters with defaults of every strategy, for listings."""
    return [{"name": n, "summary": STRATEGIES[n].summary, "params": strategy_params(n)} for n in list_strategies()]


def check_params(strategy: str, budget: int, **params: Any) -> dict[str, Any]:
    """Validate a search request without running it; the full parameter set with defaults filled in.

    Raises :class:`ParameterError` (a ValueError) naming the budget or parameter at fault, or
    ValueError for an unknown strategy.
    """
    spec = _strategy(strategy)
    require_int("budget", budget, minimum=1)
    known = spec.params()
    unknown = set(params) - set(known)
    if unknown:
        raise ParameterError(
            sorted(unknown)[0],
            f"unknown parameter(s) for strategy {strategy!r}: {', '.join(sorted(unknown))}; expected {', '.join(known) or 'none'}",
        )
    full = {**known, **params}
    spec.check(budget, **full)
    return full


def _strategy(name: str) -> Strategy:
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; expected one of {', '.join(list_strategies())}")
    return STRATEGIES[name]


def run_search(
    strategy: str,
    space: SearchSpace,
    scorer: Scorer,
    *,
    budget: int,
    seed: int = 0,
    top_k: int = 10,
    constraints: Constraints | None = None,
    exclude_singular: bool = False,
    cost: Callable[[str], ModelCost] | None = None,
    on_evaluation: Callable[[Evaluation], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    **params: Any,
) -> SearchResult:
    """Run ``strategy`` with at most ``budget`` distinct evaluations; same seed and scorer, same result.

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
        on_evaluation=on_evaluation,
        should_stop=should_stop,
    )
    try:
        exhausted = STRATEGIES[strategy].run(ctx, random.Random(seed), **full)
    except SearchStopped:
        return ctx.result(strategy, top_k, stopped=True, params=full)
    return ctx.result(strategy, top_k, exhausted=exhausted, params=full)
