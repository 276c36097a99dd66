"""The Pareto front of score against costs: its invariants, NSGA-II's sorting and crowding, hypervolume."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from search import ParameterError, check_minimize
from search.pareto import COSTS, crowding, front_order, front_ranks, hypervolume, non_dominated, objectives

#: small value ranges so that ties and duplicates are frequent
VALUE = st.integers(min_value=0, max_value=6)
POINTS = st.integers(min_value=1, max_value=4).flatmap(
    lambda m: st.lists(st.lists(VALUE, min_size=m, max_size=m), min_size=0, max_size=40).map(lambda ps: np.array(ps, dtype=float).reshape(len(ps), m))
)


def dominates(a, b) -> bool:
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


@settings(max_examples=300, deadline=None)
@given(POINTS)
def test_no_front_member_is_dominated_by_any_point(points):
    mask = non_dominated(points)
    points = points.tolist()
    for i in np.flatnonzero(mask):
        beaters = [p for p in points if dominates(p, points[i])]
        assert not beaters, f"front member {points[i]} is dominated by {beaters[0]}"


@settings(max_examples=300, deadline=None)
@given(POINTS)
def test_every_non_dominated_point_is_in_the_front(points):
    mask = non_dominated(points)
    points = points.tolist()
    for i, p in enumerate(points):
        if not any(dominates(q, p) for q in points):
            assert mask[i], f"{p} is dominated by no point but was left out of the front"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.integers(-5, 5).map(float), st.just(-math.inf)), VALUE, VALUE), max_size=30))
def test_front_of_evaluations_maximises_the_score_and_minimises_the_costs(rows):
    items = [{"score": s, "params": p, "flops": f} for s, p, f in rows]
    front = front_order(items, ("params", "flops"))
    better = lambda a, b: a["score"] >= b["score"] and a["params"] <= b["params"] and a["flops"] <= b["flops"] and a != b  # noqa: E731
    assert set(front) == {i for i, b in enumerate(items) if not any(better(a, b) for a in items)}
    assert [items[i]["params"] for i in front] == sorted(items[i]["params"] for i in front), "the front is sorted by the first cost"


def test_a_singular_score_is_the_worst_and_a_null_score_is_singular():
    points = objectives([{"score": None, "params": 1}, {"score": -math.inf, "params": 1}, {"score": 0.0, "params": 1}], ("params",))
    assert points[:, 0].tolist() == [math.inf, math.inf, -0.0]
    assert non_dominated(points).tolist() == [False, False, True]


def test_a_missing_cost_is_the_worst():
    assert objectives([{"score": 1.0, "latency_ms": None}], ("latency_ms",)).tolist() == [[-1.0, math.inf]]


@pytest.mark.parametrize("m", [1, 2, 3])
def test_front_ranks_peel_fronts_in_order(m):
    rng = np.random.default_rng(m)
    points = rng.integers(0, 5, size=(60, m)).astype(float)
    ranks = front_ranks(points)
    for r in range(ranks.max() + 1):
        assert non_dominated(points[ranks >= r])[ranks[ranks >= r] == r].all(), f"front {r} is not the front of what is left"
        assert not non_dominated(points[ranks >= r])[ranks[ranks >= r] > r].any(), f"a point behind front {r} is non-dominated"


def test_crowding_gives_boundaries_infinity_and_inner_points_their_normalised_gaps():
    points = np.array([[0.0, 4.0], [1.0, 2.0], [3.0, 1.0], [4.0, 0.0]])
    distance = crowding(points)
    assert distance[[0, 3]].tolist() == [math.inf, math.inf]
    assert distance[1:3].tolist() == pytest.approx([3 / 4 + 3 / 4, 3 / 4 + 2 / 4])


@pytest.mark.parametrize(
    ("points", "reference", "volume"),
    [
        ([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]], [4.0, 4.0], 6.0),
        ([[1.0, 1.0], [2.0, 2.0]], [3.0, 3.0], 4.0),
        ([[5.0, 0.0]], [4.0, 4.0], 0.0),
        ([[1.0, 1.0, 1.0]], [2.0, 3.0, 4.0], 6.0),
        ([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]], [2.0, 2.0, 2.0], 2.0 + 4.0 - 1.0),
    ],
)
def test_hypervolume_of_known_fronts(points, reference, volume):
    assert hypervolume(np.array(points), reference) == pytest.approx(volume)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(VALUE, min_size=3, max_size=3), min_size=1, max_size=8))
def test_hypervolume_in_three_objectives_counts_the_dominated_grid_cells(points):
    reference = (7, 7, 7)
    cells = sum(any(all(p[k] <= c[k] for k in range(3)) for p in points) for c in itertools.product(range(7), repeat=3))
    assert hypervolume(np.array(points, dtype=float), reference) == pytest.approx(cells)


@pytest.mark.parametrize(("names", "message"), [(["size"], "'size' is not a cost"), (["params", "params"], r"repeats minimize\[0\]")])
def test_minimize_names_known_costs_once(names, message):
    with pytest.raises(ParameterError, match=message) as caught:
        check_minimize(names)
    assert caught.value.field == "minimize"


def test_every_cost_may_be_minimised_together():
    assert check_minimize(list(COSTS)) == COSTS
