"""Pareto local search (``pls``): its archive is the front of its evaluations, it is deterministic, it honours constraints."""

from __future__ import annotations

import pytest

from search import Constraints, run_search
from search.pareto import non_dominated, objectives
from test_search_nsga2 import NB201, fingerprint, hash_score, latency_cost

MINIMIZE = [("params",), ("flops", "params"), ("latency_ms",)]
#: each constraint with a bound that about half of NB-201 meets
BOUNDS = {"max_params": 600_000, "max_flops": 80_000_000, "max_latency_ms": 20.0}


def search(seed: int = 0, minimize=("params",), budget: int = 150, **kwargs):
    scorer = lambda archs: [hash_score(a) for a in archs]  # noqa: E731
    return run_search("pls", NB201, scorer, budget=budget, seed=seed, minimize=minimize, cost=latency_cost, pareto_population=10, **kwargs)


@pytest.mark.parametrize("minimize", MINIMIZE)
def test_the_archive_is_exactly_the_non_dominated_set_of_the_evaluations(minimize):
    result = search(minimize=minimize)
    mask = non_dominated(objectives(result.history, minimize))
    expected = {e.arch for e, keep in zip(result.history, mask) if keep}
    assert {e.arch for e in result.pareto} == expected, f"pls's archive differs from the front of its {result.evaluated} evaluations"


@pytest.mark.parametrize("minimize", MINIMIZE)
def test_the_same_seed_gives_the_same_front(minimize):
    first, again = search(seed=5, minimize=minimize), search(seed=5, minimize=minimize)
    assert [e.arch for e in first.pareto] == [e.arch for e in again.pareto], "two runs with one seed found different fronts"
    assert fingerprint(first) == fingerprint(again), "two runs with one seed evaluated differently"


def test_different_seeds_search_differently():
    assert fingerprint(search(seed=1)) != fingerprint(search(seed=2))


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_a_constraint_is_never_broken(name):
    result = search(constraints=Constraints(**{name: BOUNDS[name]}))
    cost = name.removeprefix("max_")
    over = [e.arch for e in result.history if getattr(e, cost) > BOUNDS[name]]
    assert result.evaluated > 0 and not over, f"{len(over)} evaluations break {name}={BOUNDS[name]}"


def test_the_budget_is_spent_on_distinct_architectures_after_the_nsga2_start():
    result = search(budget=200, pls_start=30)
    assert result.evaluated == 200 and len({e.arch for e in result.history}) == 200, "an architecture was scored twice"


def test_the_local_search_scores_neighbours_of_the_front():
    """After the NSGA-II start every evaluation is one decision from an earlier one (immigrants aside)."""
    result = search(budget=120, pls_start=20)
    assert result.immigrants == 0, "the fronts' neighbourhoods ran out on a budget this small"
    earlier: set[str] = {e.arch for e in result.history[:20]}
    for e in result.history[20:]:
        assert any(e.arch in NB201.neighbours(a) for a in earlier), f"step {e.step} is no neighbour of an earlier evaluation"
        earlier.add(e.arch)

