"""An undefined value (a score's ``-inf``, a statistic's NaN) is JSON's null, made by one function that every output uses."""

from __future__ import annotations

import math

import pytest

import app.analysis.report as report
from scoring import ScoredArch, from_json_number, json_number
from scoring.undefined import from_table_cell, table_cell, with_finite_floor


@pytest.mark.parametrize("value", [-math.inf, math.inf, math.nan])
def test_an_undefined_value_is_null(value):
    assert json_number(value) is None


@pytest.mark.parametrize("value", [0.0, -3.25, 1e300, 7])
def test_a_finite_value_is_kept_exactly(value):
    assert json_number(value) == value and type(json_number(value)) is type(value)


@pytest.mark.parametrize("value", [-math.inf, 0.0, -3.25])
def test_null_reads_back_as_minus_infinity_and_a_number_as_itself(value):
    assert from_json_number(json_number(value)) == value


COSTS = {"params": 1, "flops": 1}
OUTPUTS = {
    "score result (API, CLI, cache)": lambda v: ScoredArch("a", {"naswot": v}, COSTS).to_json()["score"],
    "score result values": lambda v: ScoredArch("a", {"naswot": v}, COSTS).to_json()["values"]["naswot"],
    "search evaluation (job view, CLI, store)": lambda v: ScoredArch("a", {"naswot": v}, COSTS, step=1).to_json()["score"],
    "search evaluation values": lambda v: ScoredArch("a", {"naswot": 1.0, "synflow": v}, COSTS, step=1).json_values()["synflow"],
}


@pytest.mark.parametrize("output", OUTPUTS.values(), ids=OUTPUTS.keys())
def test_every_output_carries_a_singular_score_as_null_and_a_finite_one_unchanged(output):
    assert output(-math.inf) is None
    assert output(-2.5) == -2.5


def test_the_report_carries_an_undefined_statistic_as_null_and_a_defined_one_rounded():
    assert report.rank_correlations([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) == {"kendall": None, "spearman": None}, "constant input: undefined"
    assert report.rank_correlations([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == {"kendall": 1.0, "spearman": 1.0}


@pytest.mark.parametrize(
    "scores, expected",
    [
        ([3.0, -math.inf, 1.5, math.nan], [3.0, 0.5, 1.5, 0.5]),
        ([2.0, 5.0], [2.0, 5.0]),
        ([-math.inf, -math.inf], [0.0, 0.0]),
        ([], []),
    ],
    ids=["undefined-below-the-lowest", "all-finite", "none-finite", "empty"],
)
def test_rank_statistics_see_undefined_scores_just_below_the_lowest_finite_one(scores, expected):
    assert with_finite_floor(scores) == expected


@pytest.mark.parametrize("value", [-math.inf, 0.0, -3.25, 0.1 + 0.2, 1e-300])
def test_a_score_table_cell_reads_back_exactly_and_undefined_is_empty(value):
    cell = table_cell(value)
    assert (cell == "") is (value == -math.inf), f"the cell of {value} is {cell!r}"
    assert from_table_cell(cell) == value, "the way back from the CSV cell"
