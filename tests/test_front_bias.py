"""The size bias of a Pareto front: how much of climbing it is buying parameters."""

from __future__ import annotations

import math

import pytest

from app.analysis.front_bias import front_bias, front_costs, front_lines
from app.analysis.report import Row


def rows(*points: tuple[float, int, int]) -> list[Row]:
    """Rows of (score, params, flops)."""
    return [Row(f"a{i}", score, params, flops) for i, (score, params, flops) in enumerate(points)]


def test_a_front_where_more_flops_buy_score_only_through_params_is_all_size():
    figures = front_bias(rows((1.0, 10, 100), (2.0, 20, 200), (3.0, 30, 300), (0.5, 40, 400)), ("flops",))
    assert figures["size"] == 3 and figures["kendall_score_params"] == 1.0 and figures["same_order_share"] == 1.0


def test_a_front_where_smaller_networks_score_higher_is_not_size():
    figures = front_bias(rows((1.0, 30, 100), (2.0, 20, 200), (3.0, 10, 300)), ("flops",))
    assert figures["kendall_score_params"] == -1.0 and figures["same_order_share"] == 0.0
    assert figures["bigger_half_share"] == pytest.approx(1 / 3, abs=1e-4), "one of three front cells is above the median #params (20)"


def test_singular_cells_are_left_out_of_the_kendall_along_the_front():
    figures = front_bias(rows((-math.inf, 5, 50), (1.0, 10, 100), (2.0, 20, 200)), ("params",))
    assert figures["size"] == 3 and figures["kendall_score_params"] == 1.0


def test_one_cell_fronts_have_undefined_figures():
    assert front_bias(rows((1.0, 10, 100)))["kendall_score_params"] is None


@pytest.mark.parametrize(("minimize", "costs"), [((), ("params",)), (("latency_ms",), ("params",)), (("latency_ms", "flops"), ("flops",))])
def test_the_front_uses_the_costs_a_report_row_carries(minimize, costs):
    assert front_costs(minimize, rows((1.0, 10, 100))) == costs, "rows without a measured latency"


def test_a_latency_searchs_front_is_over_latency():
    measured = [Row("a", 10.0, 100, 1000, latency_ms=5.0), Row("b", 9.0, 50, 500, latency_ms=1.0), Row("c", 8.0, 10, 100, latency_ms=10.0)]
    figures = front_bias(measured, ("latency_ms",))
    assert figures["costs"] == ["latency_ms"], f"the front of a latency search was computed on {figures['costs']}"
    assert figures["size"] == 2, "c is slower than b and scores lower: off the latency front (on the params front it is not)"


def test_the_markdown_says_when_the_kendall_is_one_by_construction():
    text = "\n".join(front_lines(front_bias(rows((1.0, 10, 100), (2.0, 20, 200)))))
    assert "1 by construction" in text and "Front of score against params: 2 cells" in text
