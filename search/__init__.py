"""Architecture search driven by a training-free score: random, regularised evolution, AREA and NSGA-II.

    from search import run_search
    result = run_search("evolution", space, scorer, budget=100, seed=0, population_size=10, sample_size=3)
    result.best.arch, result.best.score
"""

from .params import Param, ParameterError
from .pareto import COSTS, check_minimize, needs_latency
from .base import Constraints, ScoreFn, SearchContext, SearchResult, SearchStopped
from .runner import (
    STRATEGIES,
    Strategy,
    check_params,
    declared_params,
    describe_strategies,
    list_strategies,
    params_by_name,
    run_search,
    strategy_params,
)

__all__ = [
    "needs_latency",
    "COSTS",
    "STRATEGIES",
    "Constraints",
    "Param",
    "ParameterError",
    "ScoreFn",
    "SearchContext",
    "SearchResult",
    "SearchStopped",
    "Strategy",
    "check_minimize",
    "check_params",
    "declared_params",
    "describe_strategies",
    "list_strategies",
    "params_by_name",
    "run_search",
    "strategy_params",
]
