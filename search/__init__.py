"""Architecture search driven by a training-free score.

    from search import run_search
    result = run_search("random", space, scorer, budget=100, seed=0)
    result.best.arch, result.best.score
"""

from .base import Constraints, Evaluation, Scorer, SearchContext, SearchResult, SearchStopped
from .runner import STRATEGIES, list_strategies, run_search, strategy_params

__all__ = [
    "STRATEGIES",
    "Constraints",
    "Evaluation",
    "Scorer",
    "SearchContext",
    "SearchResult",
    "SearchStopped",
    "list_strategies",
    "run_search",
    "strategy_params",
]
