"""Name -> strategy, and the one entry point that runs any of them."""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable
from typing import Any

from searchspace import ModelCost, SearchSpace

from .base import Constraints, Evaluation, Scorer, SearchContext, SearchResult, SearchStopped
from .random_search import random_search

#: strategy(ctx, rng, **params) -> True when the admissible space ran out before the budget
Strategy = Callable[..., bool]
STRATEGIES: dict[str, Strategy] = {"random": random_search}


def list_strategies() -> list[str]:
    return sorted(STRATEGIES)


def strategy_params(name: str) -> dict[str, Any]:
    """The strategy's own parameters and their defaults."""
    fn = _strategy(name)
    return {p.name: p.default for p in list(inspect.signature(fn).parameters.values())[2:]}


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

    ``should_stop`` is polled before each scoring call; when it returns True the search ends
    with what it has (``stopped=True``).
    """
    fn = _strategy(strategy)
    unknown = set(params) - set(strategy_params(strategy))
    if unknown:
        raise ValueError(f"unknown parameter(s) for strategy {strategy!r}: {', '.join(sorted(unknown))}")
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
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
        exhausted = fn(ctx, random.Random(seed), **params)
    except SearchStopped:
        return ctx.result(strategy, top_k, stopped=True)
    return ctx.result(strategy, top_k, exhausted=exhausted)
