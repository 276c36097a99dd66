"""AREA: a random phase of init_size evaluations, then evolution from its best cells, within one budget."""

from __future__ import annotations

import math
import random

import pytest
from test_search_evolution import NB201, BitSpace, Spy, hash_score, one_edge_apart

from search import Constraints, check_params, run_search, strategy_params


def test_the_first_init_size_evaluations_are_the_random_search_of_the_same_seed():
    spy = Spy()
    result = run_search("area", NB201, spy, budget=100, seed=4, init_size=60)
    rand = run_search("random", NB201, Spy(), budget=60, seed=4)
    assert [e.arch for e in result.history[:60]] == [e.arch for e in rand.history]
    assert result.evaluated == 100 == len(spy.calls) == len(set(spy.calls))
    assert all(any(one_edge_apart(e.arch, d.arch) for d in result.history[:i]) for i, e in enumerate(result.history[60:], 60))


def test_the_population_is_seeded_with_the_best_of_the_random_phase():
    mutations: list[tuple[str, str]] = []
    space = BitSpace(12, mutations)
    result = run_search("area", space, Spy(lambda a: random.Random(a).random()), budget=80, seed=0, init_size=40, population_size=5)
    best5 = {e.arch for e in sorted(result.history[:40], key=lambda e: -e.score)[:5]}
    first_parent, first_child = mutations[0]
    assert first_parent in best5 and first_child == result.history[40].arch
    # until a seed member ages out, every parent is one of them or a child of this phase
    born = {a for _, a in mutations}
    assert all(p in best5 or p in born for p, _ in mutations)


def test_default_init_size_is_half_the_budget():
    assert strategy_params("area") == {**strategy_params("evolution"), "init_size": None}, "evolution's parameters, then init_size"
    mutations: list[tuple[str, str]] = []
    mutated_before: list[int] = []  # for each evaluation, how many mutations had happened
    result = run_search("area", BitSpace(12, mutations), Spy(), budget=100, seed=1, on_evaluation=lambda e: mutated_before.append(len(mutations)))
    assert result.evaluated == 100 and mutated_before[:50] == [0] * 50 and mutated_before[50] >= 1


def test_constraints_and_singular_exclusion():
    limits = Constraints(max_params=400_000)
    result = run_search("area", NB201, Spy(), budget=60, seed=2, constraints=limits, init_size=30)
    assert result.evaluated == 60 and result.rejected > 0 and all(e.params <= 400_000 for e in result.history)

    def score(a):
        return -math.inf if hash_score(a) % 2 < 1 else hash_score(a)

    excluded = run_search("area", NB201, Spy(score), budget=60, seed=2, exclude_singular=True, top_k=60)
    assert any(e.singular for e in excluded.history) and not any(e.singular for e in excluded.top)


def test_same_seed_same_history_other_seed_other_history_and_cancellation():
    a = run_search("area", NB201, Spy(), budget=50, seed=3)
    b = run_search("area", NB201, Spy(), budget=50, seed=3)
    c = run_search("area", NB201, Spy(), budget=50, seed=9)
    assert a.history == b.history and a.history != c.history
    seen = []
    stopped = run_search("area", NB201, Spy(), budget=100, seed=0, on_evaluation=seen.append, should_stop=lambda: len(seen) >= 70)
    assert stopped.stopped and 70 <= stopped.evaluated < 100 and stopped.history == seen


def test_area_beats_random_on_a_smooth_landscape():
    target = "101100111001"

    def closeness(a):
        return -sum(x != y for x, y in zip(a, target))

    space = BitSpace(len(target))
    hits = {
        s: sum(run_search(s, space, Spy(closeness), budget=150, seed=seed, top_k=1).best.arch == target for seed in range(20))
        for s in ("random", "area")
    }
    assert hits["area"] >= 6 and hits["random"] <= 3, hits  # about 59% and 2% over 100 seeds


def test_parameters_are_checked_with_their_names():
    assert check_params("area", 100, init_size=20)["init_size"] == 20
    with pytest.raises(ValueError, match="init_size must be <= the budget"):
        run_search("area", NB201, Spy(), budget=50, init_size=51)
    with pytest.raises(ValueError, match=r"init_size must be >= population_size \(10\)"):
        run_search("area", NB201, Spy(), budget=50, init_size=5)
    with pytest.raises(ValueError, match="sample_size"):
        check_params("area", 50, sample_size=0)
