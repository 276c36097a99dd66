"""Multi-objective search: NSGA-II, and the front every strategy reports with ``minimize``."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import pytest

from search import list_strategies, run_search
from search.nsga2 import survivors
from search.pareto import front_order
from searchspace import get_space, list_spaces, load_space_file

NB201 = get_space("nb201")


def hash_score(arch: str) -> float:
    return int(hashlib.sha256(arch.encode()).hexdigest()[:8], 16) / 1e6


def latency_cost(arch: str) -> SimpleNamespace:
    """A cost callable that also measures latency, as the job's does when ``latency_ms`` is minimised (a made-up figure)."""
    cost = NB201.cost(arch)
    return SimpleNamespace(params=cost.params, flops=cost.flops, latency_ms=hash_score(arch[::-1]) / 100)


def search(strategy: str, seed: int = 0, minimize=("params",), **kwargs):
    scorer = lambda archs: [hash_score(a) for a in archs]  # noqa: E731
    return run_search(strategy, NB201, scorer, budget=kwargs.pop("budget", 120), seed=seed, minimize=minimize, **kwargs)


def fingerprint(result) -> list[tuple]:
    return [(e.arch, e.score, e.step) for e in result.history]


EXAMPLE_SPACE_FILE = Path(__file__).resolve().parent.parent / "examples" / "resnetlike" / "space.json"


def spaces_to_search() -> list:
    """Every registered space, and the example space file (a user's own space, loaded as a service would)."""
    return [*list_spaces(), "file:resnetlike"]


@pytest.mark.parametrize("strategy", list_strategies())
@pytest.mark.parametrize("name", spaces_to_search())
def test_every_strategy_reports_a_front_in_every_space(name, strategy):
    space = load_space_file(EXAMPLE_SPACE_FILE) if name.startswith("file:") else get_space(name)
    made_up_cost = lambda arch: SimpleNamespace(params=int(hash_score(arch[::-1]) * 1e3), flops=0)  # noqa: E731
    scorer = lambda archs: [hash_score(a) for a in archs]  # noqa: E731
    small = {"pareto_population": 8} if strategy == "nsga2" else {}
    result = run_search(strategy, space, scorer, budget=24, seed=0, minimize=("params",), cost=made_up_cost, **small)
    assert result.evaluated == 24 and result.pareto, f"{strategy} on {name}: no front from {result.evaluated} evaluations"
    assert result.pareto == [result.history[i] for i in front_order(result.history, ("params",))], f"{strategy} on {name}: not the front"


def test_nsga2_is_deterministic_for_a_seed():
    assert fingerprint(search("nsga2", seed=3, pareto_population=12)) == fingerprint(search("nsga2", seed=3, pareto_population=12))


def test_nsga2_differs_between_seeds():
    assert fingerprint(search("nsga2", seed=1, pareto_population=12)) != fingerprint(search("nsga2", seed=2, pareto_population=12))


def test_nsga2_spends_the_budget_on_distinct_architectures():
    result = search("nsga2", budget=200, pareto_population=20, offspring=10)
    assert result.evaluated == 200
    assert len({e.arch for e in result.history}) == 200, "an architecture was scored twice"


@pytest.mark.parametrize("strategy", list_strategies())
@pytest.mark.parametrize("minimize", [("params",), ("flops", "params"), ("latency_ms",)])
def test_every_strategy_reports_the_front_of_what_it_evaluated(strategy, minimize):
    result = search(strategy, minimize=minimize, cost=latency_cost)
    expected = [result.history[i] for i in front_order(result.history, minimize)]
    assert result.pareto == expected, f"{strategy} reported another front than that of its {result.evaluated} evaluations"
    firsts = [getattr(e, minimize[0]) for e in result.pareto]
    assert firsts == sorted(firsts), f"the front is not sorted by {minimize[0]}"


def test_latency_is_read_from_the_cost_callable():
    result = search("random", minimize=("latency_ms",), cost=latency_cost, budget=10)
    assert all(e.latency_ms == latency_cost(e.arch).latency_ms for e in result.history)


def test_without_minimize_no_front_is_reported():
    assert search("random", minimize=()).pareto == []


def test_exclude_singular_keeps_singular_cells_off_the_front():
    singular_if_cheap = lambda archs: [float("-inf") if NB201.cost(a).params < 400_000 else hash_score(a) for a in archs]  # noqa: E731
    result = run_search("random", NB201, singular_if_cheap, budget=80, minimize=("params",), exclude_singular=True)
    assert result.pareto and not any(e.singular for e in result.pareto)


def test_nsga2_finds_a_better_front_than_random_at_the_same_budget():
    """With a score that grows with size (the common case), NSGA-II's front dominates more than random's."""
    from search.pareto import hypervolume, objectives

    def size_score(archs):
        return [NB201.cost(a).params / 1e6 + hash_score(a) / 1e4 for a in archs]

    def volume(strategy, seed):
        result = run_search(strategy, NB201, size_score, budget=300, seed=seed, minimize=("params",))
        return hypervolume(objectives(result.pareto, ("params",)), (0.0, 2e6))

    assert sum(volume("nsga2", s) for s in range(3)) > sum(volume("random", s) for s in range(3))


def test_survival_keeps_whole_fronts_then_the_least_crowded():
    population = [SimpleNamespace(score=s, params=p, step=i) for i, (s, p) in enumerate([(1, 1), (2, 1.5), (3, 3), (4, 4), (0, 5)])]
    kept = survivors(population[:3], population[3:], 3, ("params",))
    assert [e.step for e in kept] == [0, 2, 3], "the boundaries of the first front (steps 0 and 3) and the widest gap (step 2) stay"
