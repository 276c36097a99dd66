"""Regularised evolution: budget, deduplication, tournament and aging, constraints, reproducibility."""

from __future__ import annotations

import hashlib
import math
import random
from collections import deque

import pytest
from torch import nn

from search import Constraints, check_params, run_search, strategy_params
from searchspace import ModelCost, SearchSpace, get_space, list_spaces

NB201 = get_space("nb201")


def hash_score(arch: str) -> float:
    return int(hashlib.sha256(arch.encode()).hexdigest()[:8], 16) / 1e6


class Spy:
    """A table-like scorer that records every architecture it is asked to score."""

    def __init__(self, score=hash_score):
        self.calls: list[str] = []
        self.score = score

    def __call__(self, archs):
        self.calls.extend(archs)
        return [self.score(a) for a in archs]


class BitSpace(SearchSpace):
    """Bit strings of length L; a mutation flips one bit. Small enough to reason about."""

    name = "bits"
    description = "bit strings"
    encoding = "a string of 0 and 1"
    example = "0000"

    def __init__(self, length: int, mutations: list | None = None):
        self.length = length
        self.mutations = mutations  # (parent, child) pairs, when given

    @property
    def size(self) -> int:
        return 2**self.length

    def canonical(self, arch) -> str:
        return arch

    def random(self, rng: random.Random) -> str:
        return "".join(rng.choice("01") for _ in range(self.length))

    def mutate(self, arch, rng: random.Random) -> str:
        i = rng.randrange(self.length)
        child = arch[:i] + ("1" if arch[i] == "0" else "0") + arch[i + 1 :]
        if self.mutations is not None:
            self.mutations.append((arch, child))
        return child

    def build(self, arch, num_classes: int = 10) -> nn.Module:
        return nn.Identity()

    def cost(self, arch, num_classes: int = 10, input_size=None) -> ModelCost:
        ones = arch.count("1")
        return ModelCost(params=1000 * ones, flops=10 * ones)


class ChainSpace(BitSpace):
    """Integers 0..n-1 as text; the only mutation is n -> n+1 (mod size): trajectories are predictable."""

    def __init__(self, n: int):
        super().__init__(length=0)
        self.n = n

    @property
    def size(self) -> int:
        return self.n

    def random(self, rng: random.Random) -> str:
        return str(rng.randrange(self.n))

    def mutate(self, arch, rng: random.Random) -> str:
        return str((int(arch) + 1) % self.n)


def one_edge_apart(a: str, b: str) -> bool:
    return sum(x != y for x, y in zip(NB201.ops(a), NB201.ops(b))) == 1


def test_budget_counts_distinct_evaluations_and_the_scorer_never_sees_a_cell_twice():
    spy = Spy()
    result = run_search("evolution", NB201, spy, budget=150, seed=3, top_k=5)
    assert result.evaluated == 150 == len(spy.calls) == len(set(spy.calls))
    assert [e.step for e in result.history] == list(range(1, 151))
    assert result.best.score == max(e.score for e in result.history) and not result.exhausted
    # a tiny space makes repeats frequent: they are free, yet the budget is still met exactly
    tiny = Spy(lambda a: a.count("1") + int(a, 2) / 1000)
    small = run_search("evolution", BitSpace(6), tiny, budget=50, seed=0, population_size=5, sample_size=2)
    assert small.evaluated == 50 == len(tiny.calls) == len(set(tiny.calls))


def test_every_child_is_a_one_edge_mutation_of_an_earlier_cell():
    result = run_search("evolution", NB201, Spy(), budget=120, seed=1, population_size=10, sample_size=3)
    for i, e in enumerate(result.history[10:], start=10):
        assert any(one_edge_apart(e.arch, earlier.arch) for earlier in result.history[:i]), e.arch


def test_aging_replaces_the_parent_even_with_a_worse_child():
    # one member, a tournament of one: each child (always worse here) replaces its parent
    result = run_search("evolution", ChainSpace(1000), Spy(lambda a: -int(a)), budget=20, seed=0, population_size=1, sample_size=1)
    start = int(result.history[0].arch)
    assert [e.arch for e in result.history] == [str((start + i) % 1000) for i in range(20)]
    assert result.best.arch == str(start)  # the ranking still reports the best scored


def test_parents_are_tournament_winners_from_the_aging_population():
    mutations: list[tuple[str, str]] = []
    space = BitSpace(10, mutations)
    score = {}

    def scorer(archs):
        return [score.setdefault(a, random.Random(a).random()) for a in archs]

    result = run_search("evolution", space, scorer, budget=200, seed=2, population_size=8, sample_size=3)
    population = deque(e.arch for e in result.history[:8])
    quantiles = []
    for parent, child in mutations:  # replay: parents come from the population, children push out the oldest
        assert parent in population
        members = sorted(score[a] for a in population)
        quantiles.append(members.index(score[parent]) / (len(members) - 1))
        population.append(child)
        if len(population) > 8:
            population.popleft()
    assert len(mutations) >= 192
    # best of 3 draws: mean quantile 0.75 for distinct scores; a uniform choice would give 0.5
    assert sum(quantiles) / len(quantiles) > 0.65


def test_constraints_are_never_broken():
    limits = Constraints(max_params=500_000, max_flops=70_000_000)
    result = run_search("evolution", NB201, Spy(), budget=80, seed=0, constraints=limits)
    assert result.evaluated == 80 and result.rejected > 0
    assert all(e.params <= 500_000 and e.flops <= 70_000_000 for e in result.history)


def test_exclude_singular_keeps_singular_cells_out_of_results_and_parents():
    def score(a):
        return -math.inf if hash_score(a) % 3 < 1 else hash_score(a)

    mutations: list[tuple[str, str]] = []
    space = BitSpace(9, mutations)
    result = run_search("evolution", space, Spy(score), budget=120, seed=0, exclude_singular=True, top_k=200)
    assert any(e.singular for e in result.history)
    assert not any(e.singular for e in result.top)
    assert all(score(parent) != -math.inf for parent, _ in mutations)


def test_same_seed_same_history_other_seed_other_history():
    a = run_search("evolution", NB201, Spy(), budget=60, seed=7)
    b = run_search("evolution", NB201, Spy(), budget=60, seed=7)
    c = run_search("evolution", NB201, Spy(), budget=60, seed=8)
    assert a.history == b.history and a.history != c.history


def test_cancellation_keeps_partial_results():
    seen = []
    result = run_search(
        "evolution", NB201, Spy(), budget=100, seed=0, on_evaluation=seen.append, should_stop=lambda: len(seen) >= 25
    )
    assert result.stopped and 25 <= result.evaluated < 100 and result.history == seen


def test_a_search_that_runs_out_of_new_cells_ends_and_says_so():
    # only the 5 bit strings with at most one 1 meet the constraint
    result = run_search("evolution", BitSpace(4), Spy(), budget=10, seed=0, constraints=Constraints(max_params=1000))
    assert result.evaluated == 5 and result.exhausted and result.immigrants == 0
    assert {e.arch for e in result.history} == {"0000", "1000", "0100", "0010", "0001"}


def test_a_used_up_neighbourhood_brings_in_a_random_immigrant():
    class PairSpace(ChainSpace):
        """Each cell's only neighbour is its partner n ^ 1: evolution alone is stuck after two cells."""

        def mutate(self, arch, rng):
            return str(int(arch) ^ 1)

    result = run_search("evolution", PairSpace(1000), Spy(), budget=10, seed=0, population_size=1, sample_size=1)
    archs = [int(e.arch) for e in result.history]
    assert result.evaluated == 10 and not result.exhausted and result.immigrants == 4
    assert all(archs[i + 1] == archs[i] ^ 1 for i in range(0, 10, 2))


def test_evolution_finds_the_optimum_of_a_smooth_landscape_far_more_often_than_random():
    target = "101100111001"

    def closeness(a):  # minus the Hamming distance: one smooth peak
        return -sum(x != y for x, y in zip(a, target))

    space = BitSpace(len(target))
    hits = {
        s: sum(run_search(s, space, Spy(closeness), budget=150, seed=seed, top_k=1).best.arch == target for seed in range(20))
        for s in ("random", "evolution")
    }
    assert hits["evolution"] >= 12 and hits["random"] <= 3, hits  # about 83% and 2% over 100 seeds


@pytest.mark.parametrize("name", list_spaces())
@pytest.mark.parametrize("strategy", ["evolution", "area"])
def test_every_registered_space_can_be_searched(name, strategy):
    space = get_space(name)
    spy = Spy()
    result = run_search(strategy, space, spy, budget=30, seed=0, cost=lambda arch: ModelCost(0, 0))
    assert result.evaluated == 30 == len(set(spy.calls)) and not result.exhausted
    assert all(space.canonical(e.arch) == e.arch for e in result.history)


def test_parameters_are_checked_with_their_names():
    rea = {"population_size": 10, "sample_size": 3}  # NAS-Bench-201's REA settings
    assert strategy_params("evolution").items() >= rea.items(), "the defaults"
    assert check_params("evolution", 100).items() >= rea.items(), "absent parameters take their defaults"
    with pytest.raises(ValueError, match="sample_size must be <= population_size"):
        run_search("evolution", NB201, Spy(), budget=50, population_size=4, sample_size=5)
    with pytest.raises(ValueError, match="population_size must be <= the budget"):
        run_search("evolution", NB201, Spy(), budget=5)
    with pytest.raises(ValueError, match="population_size must be an integer"):
        check_params("evolution", 100, population_size="10")
    with pytest.raises(ValueError, match="unknown parameter"):
        check_params("evolution", 100, init_size=50)
