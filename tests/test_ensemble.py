"""Specification of the rank ensemble: relative ranks, their log-sum, parsing, and independence from company."""

from __future__ import annotations

import math

import pytest

from scoring.data.base import NoiseSource
from scoring.ensemble import DEFAULT_MEMBERS, EnsembleSpec, combine, definition_name, parse_ensemble, relative_rank
from scoring.evaluate import Scorer
from search import run_search
from searchspace.nb201 import NB201Space

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REFERENCE = sorted([-math.inf, 0.5, 1.0, 1.0, 2.0, 7.0])


@pytest.mark.parametrize("value", [-math.inf, -5.0, 0.5, 1.0, 1.5, 7.0, 100.0, math.inf])
def test_relative_rank_is_strictly_inside_zero_one(value):
    assert 0.0 < relative_rank(value, REFERENCE) < 1.0, f"rank of {value} outside (0, 1)"


@pytest.mark.parametrize("n", [1, 2, 5])
def test_ties_rank_halfway(n):
    assert relative_rank(3.0, [3.0] * n) == pytest.approx(0.5), f"a value tied with all {n} references is not ranked 1/2"


def test_relative_rank_grows_strictly_with_finite_values():
    values = [-1e9, -1.0, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 7.0, 8.0, 1e3, 1e6]
    ranks = [relative_rank(v, REFERENCE) for v in values]
    assert all(a < b for a, b in zip(ranks, ranks[1:])), f"ranks {ranks} do not grow strictly with the values {values}"


def test_an_undefined_value_ranks_below_every_finite_one():
    assert relative_rank(-math.inf, REFERENCE) < relative_rank(-1e300, REFERENCE), "-inf does not rank below a finite value"


def test_between_two_reference_values_the_rank_is_interpolated_linearly():
    low, high = relative_rank(2.0, REFERENCE), relative_rank(7.0, REFERENCE)
    assert relative_rank(3.25, REFERENCE) == pytest.approx(low + 0.25 * (high - low), rel=1e-12), "not linear between 2 and 7"


@pytest.mark.parametrize("value", [7.5, 1e3, 1e300])
def test_the_upper_tail_stays_within_half_a_step(value):
    n = len(REFERENCE)
    rank = relative_rank(value, REFERENCE)
    assert relative_rank(7.0, REFERENCE) < rank <= (n + 0.5) / (n + 1), f"rank {rank} of {value} leaves the last half step"


@pytest.mark.parametrize("value", [0.25, -1e3, -1e300])
def test_the_lower_tail_stays_above_the_undefined_references(value):
    below_finite = 1  # REFERENCE holds one -inf
    rank = relative_rank(value, REFERENCE)
    assert (below_finite + 0.5) / (len(REFERENCE) + 1) <= rank < relative_rank(0.5, REFERENCE), f"rank {rank} of {value} leaves the first half step"


def test_combine_is_the_sum_of_log_ranks():
    spec = EnsembleSpec(("naswot", "flops"))
    reference = {"naswot": [1.0, 2.0, 3.0], "flops": [10.0, 10.0, 30.0]}
    values = {"naswot": 2.0, "flops": 10.0}
    naive = 0.0
    for member in spec.members:
        below = sum(r < values[member] for r in reference[member])
        equal = sum(r == values[member] for r in reference[member])
        naive += math.log((below + equal / 2 + 0.5) / (len(reference[member]) + 1))
    assert combine(spec, values, reference) == pytest.approx(naive, rel=1e-12), "combine is not the sum of log relative ranks"


def test_a_score_is_stored_under_its_name_until_its_definition_is_revised(revise):
    assert definition_name("synflow") == "synflow", "an unrevised score is not stored under its plain name"
    revise("synflow")
    assert definition_name("synflow") == "synflow@r2", "a revised score is stored under its old name"
    assert definition_name("naswot") == "naswot@r2", "naswot (codes of every rectifier) is stored under its revision"


def test_the_default_ensemble_is_stored_under_its_members_and_revisions():
    explicit = "ensemble:" + "+".join(DEFAULT_MEMBERS)
    assert definition_name("ensemble") == definition_name(explicit) == explicit + "@r2" + ".1" * len(DEFAULT_MEMBERS), (
        f"the default ensemble is stored as {definition_name('ensemble')!r}, not under its members and revisions"
    )


@pytest.mark.parametrize("revised", ["ensemble", "naswot"], ids=["rank-formula", "member"])
def test_revising_an_ensemble_or_a_member_moves_the_ensemble(revise, revised):
    before = definition_name("ensemble:naswot+flops")
    revise(revised)
    assert definition_name("ensemble:naswot+flops") != before, f"revising {revised} left the ensemble's stored name as it was"


@pytest.mark.parametrize(
    "name, says",
    [
        ("ensemble:naswot+no_such_score", "no_such_score"),
        ("ensemble:naswot", "two or more"),
        ("ensemble:naswot+naswot", "distinct"),
        ("ensemble:naswot+ensemble", "cannot contain another ensemble"),
    ],
    ids=["unknown-member", "one-member", "repeat", "nested"],
)
def test_malformed_ensemble_name_raises(name, says):
    with pytest.raises(ValueError, match=says):
        parse_ensemble(name)


SPACE = NB201Space(C=8, N=1)
NAME = "ensemble:naswot+synflow+flops"
ARCH = NB201Space.example


def scorer() -> Scorer:
    return Scorer(SPACE, NoiseSource((3, 8, 8)), batch_size=8, seed=2, scores=[NAME], reference_size=8)


@pytest.fixture(scope="module")
def alone(one_torch_thread) -> Scorer:
    return scorer()


def test_ensemble_value_alone_equals_value_in_a_batch(alone):
    others = SPACE.sample(3, seed=9, unique=True)
    batch = {s.arch: s.values[NAME] for s in scorer().score_many([others[0], ARCH, *others[1:]])}
    assert batch[ARCH] == alone.score_one(ARCH).values[NAME], "the ensemble value depends on the batch it is scored in"


def test_ensemble_value_alone_equals_value_in_a_search(alone):
    inside = scorer()
    result = run_search("random", SPACE, lambda archs: [s.values[NAME] for s in inside(archs)], budget=4, seed=3)
    for e in result.history:
        assert e.score == alone.score_one(e.arch).values[NAME], f"{e.arch}: ensemble value differs inside a search"
