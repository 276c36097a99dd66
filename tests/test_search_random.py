import hashlib

import pytest

from search import Constraints, run_search
from searchspace import get_space

SPACE = get_space("nb201")


def table_scorer(calls=None):
    """A deterministic stand-in for NASWOT: a hash of the arch string."""

    def score(archs):
        if calls is not None:
            calls.extend(archs)
        return [int(hashlib.sha256(a.encode()).hexdigest()[:8], 16) / 1e6 for a in archs]

    return score


def test_random_search_scores_budget_distinct_cells_and_ranks_them():
    calls = []
    result = run_search("random", SPACE, table_scorer(calls), budget=60, seed=0, top_k=5)
    assert result.evaluated == 60 == len(calls) == len(set(calls))
    assert [e.step for e in result.history] == list(range(1, 61))
    scores = [e.score for e in result.top]
    assert scores == sorted(scores, reverse=True) and result.best.score == max(e.score for e in result.history)
    assert len(result.top) == 5


def test_same_seed_same_result():
    a = run_search("random", SPACE, table_scorer(), budget=30, seed=4)
    b = run_search("random", SPACE, table_scorer(), budget=30, seed=4)
    c = run_search("random", SPACE, table_scorer(), budget=30, seed=5)
    assert a.history == b.history and a.history != c.history


def test_constraints_are_never_broken_and_unsatisfiable_ones_end_the_search():
    limits = Constraints(max_params=300_000, max_flops=40_000_000)
    result = run_search("random", SPACE, table_scorer(), budget=40, seed=1, constraints=limits)
    assert result.evaluated == 40 and result.rejected > 0
    assert all(e.params <= 300_000 and e.flops <= 40_000_000 for e in result.history)
    impossible = run_search("random", SPACE, table_scorer(), budget=10, seed=1, constraints=Constraints(max_params=1000))
    assert impossible.evaluated == 0 and impossible.exhausted and impossible.best is None


def test_cancellation_keeps_partial_results():
    seen = []
    result = run_search(
        "random", SPACE, table_scorer(), budget=100, seed=0, on_evaluation=seen.append, should_stop=lambda: len(seen) >= 20
    )
    assert result.stopped and 20 <= result.evaluated < 100 and result.history == seen


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="unknown strategy"):
        run_search("grid", SPACE, table_scorer(), budget=5)
    with pytest.raises(ValueError, match="unknown parameter"):
        run_search("random", SPACE, table_scorer(), budget=5, population=3)
    with pytest.raises(ValueError, match="budget"):
        run_search("random", SPACE, table_scorer(), budget=0)
