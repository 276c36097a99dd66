"""The pure parts of bench/pareto_quality.py: planes, reference points and hypervolume ratios."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import pareto_quality as pq  # noqa: E402

from search import run_search  # noqa: E402
from searchspace import get_space  # noqa: E402

NB201 = get_space("nb201")
CELLS = NB201.sample(300, seed=0, unique=True)
PARAMS = {a: NB201.cost(a).params for a in CELLS}
SCORE = {a: PARAMS[a] / 1e5 + (sum(NB201.ops(a)) % 7) / 10 for a in CELLS}


def test_the_true_front_has_ratio_one_and_a_subset_less():
    plane = pq.Objective.over("score", SCORE, PARAMS, floor=min(SCORE.values()))
    assert pq.volume(CELLS, SCORE, PARAMS, plane.reference) / plane.true_volume == pytest.approx(1.0)
    assert pq.volume(CELLS[:30], SCORE, PARAMS, plane.reference) < plane.true_volume


def test_the_reference_point_is_the_floor_and_the_largest_params():
    plane = pq.Objective.over("c10", {a: 90.0 for a in CELLS}, PARAMS, floor=0.0)
    assert plane.reference == (0.0, float(max(PARAMS.values())))
    assert plane.true_front >= 1


def test_front_quality_averages_the_ratio_over_runs():
    planes = [pq.Objective.over("score", SCORE, PARAMS, floor=min(SCORE.values()))]
    scorer, cost = (lambda archs: [SCORE[a] for a in archs]), pq.table_cost(PARAMS, PARAMS)
    space = pq.simulation_space(NB201, SCORE, "pool")[0]
    results = [run_search("random", space, scorer, budget=20, seed=s, cost=cost, minimize=("params",)) for s in range(3)]
    quality = pq.front_quality("random", 20, results, planes, PARAMS, 0.0)
    mean, std = quality.ratios["score"]
    assert 0 < mean < 1 and std >= 0 and quality.front >= 1
    assert pq.format_rows([quality], planes)[1].startswith("random         20")


def test_the_true_front_has_recall_one_and_igd_zero_and_a_part_less():
    front = pq.TrueFront.of(SCORE, PARAMS)
    everything = {(SCORE[a], PARAMS[a]) for a in CELLS}
    assert front.recall(everything) == 1.0 and front.igd(everything) == pytest.approx(0.0), "the whole table should find its own front"
    one = {next(iter(front.points))}
    assert front.recall(one) == pytest.approx(1 / len(front.points)) and front.igd(one) > 0, "one point of several is a partial front"


def test_isomorphic_cells_count_as_one_point():
    tied = {**SCORE, "twin": SCORE[CELLS[0]]}
    assert pq.TrueFront.of(tied, {**PARAMS, "twin": PARAMS[CELLS[0]]}).points == pq.TrueFront.of(SCORE, PARAMS).points


def test_the_pick_under_a_size_budget_is_the_best_scored_front_cell_within_it():
    scorer, cost = (lambda archs: [SCORE[a] for a in archs]), pq.table_cost(PARAMS, PARAMS)
    space = pq.simulation_space(NB201, SCORE, "pool")[0]
    result = run_search("random", space, scorer, budget=60, seed=0, cost=cost, minimize=("params",))
    front = pq.TrueFront.of(SCORE, PARAMS)
    accuracy = {a: float(i) for i, a in enumerate(CELLS)}
    quality = pq.point_quality([result], front, PARAMS, accuracy)
    for q, limit in front.budgets.items():
        within = [e for e in result.pareto if PARAMS[e.arch] <= limit]
        expected = accuracy[max(within, key=lambda e: e.score).arch] if within else None
        assert expected is None or quality.picks[q][0] == expected, f"p{q}: picked another cell than the best-scored within {limit}"
