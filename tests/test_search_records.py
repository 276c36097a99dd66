"""A search's evaluations are the scorer's own records: every value it reported, by name, with the search's costs and step."""

from __future__ import annotations

import hashlib
import math

import pytest

from scoring import ScoredArch
from search import list_strategies, run_search
from searchspace import ArchitectureError, get_space

NB201 = get_space("nb201")


def hash_value(arch: str, salt: str) -> float:
    return int(hashlib.sha256((salt + arch).encode()).hexdigest()[:8], 16) / 1e6


def reporting_scorer(archs):
    """Records with a ranking score and two reported ones (one undefined for some architectures), as a job's dispatcher returns."""
    return [
        ScoredArch(a, {"rank": hash_value(a, "r"), "extra": hash_value(a, "e"), "maybe": -math.inf if hash_value(a, "m") < 2000 else 1.0},
                   {"params": 1, "flops": 1}, seconds=0.25, device="test")
        for a in archs
    ]


@pytest.mark.parametrize("strategy", list_strategies())
def test_every_evaluation_keeps_the_values_its_scorer_reported(strategy):
    result = run_search(strategy, NB201, reporting_scorer, budget=30, seed=3, minimize=("params",) if strategy == "nsga2" else ())
    for e in result.history:
        [reported] = reporting_scorer([e.arch])
        assert e.values == reported.values, f"{strategy} step {e.step}: values {e.values} differ from the scorer's {reported.values}"
        assert (e.score_name, e.seconds, e.device) == ("rank", 0.25, "test"), f"{strategy} step {e.step} lost the scorer's record fields"


def test_the_search_ranks_by_the_first_value_and_costs_come_from_its_cost_callable():
    result = run_search("random", NB201, reporting_scorer, budget=20, seed=1, top_k=20)
    assert [e.score for e in result.top] == sorted((e.values["rank"] for e in result.history), reverse=True), "not ranked by the first value"
    assert all(e.costs == {"params": NB201.cost(e.arch).params, "flops": NB201.cost(e.arch).flops} for e in result.history), (
        "the search's costs did not replace the scorer's"
    )


def test_a_bare_number_is_recorded_as_the_ranking_score():
    result = run_search("random", NB201, lambda archs: [hash_value(a, "r") for a in archs], budget=5, seed=0)
    assert all(list(e.values) == ["score"] and e.score == hash_value(e.arch, "r") for e in result.history), "a bare number was not the score"


def failing_on_odd(archs):
    """Records, except for architectures its (made-up) builder cannot make: those come back as their error."""
    return [ArchitectureError(f"builder failed on {a}") if hash_value(a, "f") < 1000 else reporting_scorer([a])[0] for a in archs]


@pytest.mark.parametrize("strategy", list_strategies())
def test_an_architecture_that_cannot_be_made_is_skipped_and_reported_not_counted(strategy):
    result = run_search(strategy, NB201, failing_on_odd, budget=40, seed=2, minimize=("params",) if strategy == "nsga2" else ())
    assert result.evaluated == 40 and not result.exhausted, f"{strategy}: failures counted against the budget ({result.evaluated})"
    assert result.failed > 0 and all(m.startswith("builder failed on") for m in result.failures), f"{strategy}: failures not reported"
    assert all(hash_value(e.arch, "f") >= 1000 for e in result.history), f"{strategy} evaluated an architecture that failed"
