"""The dashboard in a real browser: Playwright driving the system's Chromium against a live server
(set-up in ``browser_support``; screenshots in each test's temporary folder, ``-s`` prints their paths).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from browser_support import KEY, TIMEOUT_MS, browser, chart_points, page, screenshot, start_from_form  # noqa: F401 (fixtures)
from live_server import live_server, paced_scorers
from playwright.sync_api import expect

from scoring import list_scores
from searchspace import list_spaces


def test_a_search_started_from_the_form_shows_progress_plots_top_table_and_bias(page, tmp_path):
    scorers = paced_scorers(delay=0.03)
    with live_server(tmp_path, scorers) as url:
        page.goto(url + "/")
        expect(page.locator("#spaces tbody tr")).to_have_count(len(list_spaces()))
        expect(page.locator("#scores tbody tr")).to_have_count(len(list_scores()))
        start_from_form(page, budget=60)
        expect(page.locator("#d-status")).to_have_text("running")
        page.wait_for_function("() => Chart.getChart('chart-steps').data.datasets[0].data.length >= 10")
        during = screenshot(page, tmp_path, "dashboard-during-search")
        expect(page.locator("#d-status")).to_have_text("done")
        expect(page.locator("#d-progress-text")).to_contain_text("60/60 evaluated")
        page.wait_for_function("() => Chart.getChart('chart-steps').data.datasets[0].data.length === 60")
        assert chart_points(page, "chart-params") == 60, "score-against-params plot should hold every evaluation"
        smallest = page.evaluate("Math.min(...state.evaluations.map((e) => e.params))")
        assert page.evaluate("Chart.getChart('chart-params').scales.x.min") <= smallest, "the #params axis must reach the smallest cell"
        expect(page.locator("#top tbody tr")).to_have_count(10)
        expect(page.locator("#top tbody tr").first.locator("code.arch")).to_contain_text("~0|+|")
        expect(page.locator("#cell svg .edge-label")).to_have_count(6)
        expect(page.locator("#bias tbody")).to_contain_text("Kendall score vs #params")
        page.wait_for_function("() => Chart.getChart('chart-ops').data.labels.length === 30")
        shown = page.evaluate("Chart.getChart('chart-ops').scales.y.ticks.length")
        assert shown == 30, f"the op chart shows {shown} of NB-201's 30 decision values' labels"
        after = screenshot(page, tmp_path, "dashboard-after-search")
        origin = urlsplit(url).netloc
        assert all(urlsplit(u).netloc == origin for u in page.requested), "the page must load nothing from outside the server"
        assert page.evaluate("typeof Chart") == "function" and not page.refused, f"the page broke its own policy: {page.refused}"
    assert during.stat().st_size > 10_000 and after.stat().st_size > 10_000, "screenshots should hold the rendered page"


def test_a_running_search_can_be_cancelled_from_the_page(page, tmp_path):
    scorers = paced_scorers(delay=0.2)
    with live_server(tmp_path, scorers) as url:
        page.goto(url + "/")
        start_from_form(page, budget=500)
        expect(page.locator("#d-status")).to_have_text("running")
        page.click("#d-cancel")
        expect(page.locator("#d-status")).to_have_text("cancelled")
        expect(page.locator("#searches tbody tr").first.locator("td.badge")).to_have_text("cancelled")
        screenshot(page, tmp_path, "dashboard-cancelled")


def test_with_a_key_the_page_asks_for_it_and_never_puts_it_in_a_url(page, tmp_path):
    with live_server(tmp_path, paced_scorers(), api_key=KEY) as url:
        page.goto(url + "/")
        expect(page.locator("#key-dialog")).to_be_visible()
        screenshot(page, tmp_path, "dashboard-key-prompt")
        page.fill("#key-input", "wrong")
        page.click("#key-submit")
        expect(page.locator("#key-dialog")).to_be_visible()
        expect(page.locator("#key-error")).to_contain_text("wrong API key")
        page.fill("#key-input", KEY)
        page.click("#key-submit")
        expect(page.locator("#key-dialog")).to_be_hidden()
        expect(page.locator("#spaces tbody tr")).not_to_have_count(0)
        start_from_form(page, budget=12)
        expect(page.locator("#d-status")).to_have_text("done")
        assert not [u for u in page.requested if KEY in u], "the key must never appear in a URL"
        assert page.evaluate("localStorage.length") == 0, "the key is kept for the tab's session only"


def test_bad_form_input_is_shown_next_to_the_form(page, tmp_path):
    with live_server(tmp_path, paced_scorers()) as url:
        page.goto(url + "/")
        expect(page.locator("#f-strategy option")).not_to_have_count(0)
        page.select_option("#f-strategy", "evolution")
        page.fill("#f-population_size", "5")
        page.fill("#f-sample_size", "9")
        page.click("#f-submit")
        expect(page.locator("#form-errors")).to_contain_text("sample_size")


def test_the_form_fields_follow_the_declared_parameters_and_constraints(page, tmp_path):
    with live_server(tmp_path, paced_scorers()) as url:
        page.goto(url + "/")
        expect(page.locator("#f-strategy option")).not_to_have_count(0)
        page.select_option("#f-strategy", "random")
        draws = page.locator("#f-max_draws_per_eval")
        expect(draws).to_have_attribute("max", "10000")
        expect(draws).to_have_attribute("placeholder", "100")
        expect(page.locator("#f-population_size")).to_have_count(0)
        page.fill("#f-max_flops", "5000000")
        body = page.evaluate("searchBody()")
    assert body["constraints"] == {"max_flops": 5_000_000}, "constraint fields come from GET /v1/strategies and go into constraints"
    assert "max_params" not in body["constraints"], "an empty constraint field is left out"


def staircase_value(corners: list[dict], x: float) -> float:
    """The height of a line through ``corners`` (straight segments, x never decreasing) at ``x``: its highest corner at or left of ``x``."""
    return max(c["y"] for c in corners if c["x"] <= x)


def assert_across_then_up(corners: list[dict]) -> None:
    """Each segment of the staircase runs right at one score or up at one cost: never a slope, never down nor left."""
    for a, b in zip(corners, corners[1:]):
        across, up = a["y"] == b["y"] and b["x"] > a["x"], a["x"] == b["x"] and b["y"] > a["y"]
        assert across or up, f"segment {a} -> {b} is neither across nor up"
    assert all(a["y"] == b["y"] for a, b in zip(corners[::2], corners[1::2])), "every step starts across, then goes up"


def test_a_multi_objective_search_plots_score_against_its_first_cost_and_lists_its_front(page, tmp_path):
    with live_server(tmp_path, paced_scorers(delay=0.01)) as url:
        page.goto(url + "/")
        expect(page.locator("#f-strategy option")).not_to_have_count(0)
        page.select_option("#f-strategy", "nsga2")
        page.fill("#f-budget", "40")
        page.fill("#f-minimize", "flops, params")
        expect(page.locator("#pareto-block")).to_be_hidden()
        page.click("#f-submit")
        expect(page.locator("#d-status")).to_have_text("done", timeout=TIMEOUT_MS)
        expect(page.locator("#pareto-block")).to_be_visible()
        front = page.evaluate("fetch(`/v1/searches/${state.selected}`).then((r) => r.json()).then((job) => job.pareto)")
        expect(page.locator("#pareto tbody tr")).to_have_count(len(front))
        expect(page.locator("#pareto thead")).to_contain_text("FLOPs")
        first = page.locator("#pareto tbody tr").first.locator("td")
        expect(first.nth(1)).to_have_text(re.compile(r"^-?\d+\.\d\d$|^singular$"))  # the score as the top table writes it
        expect(first.nth(2)).to_have_text(re.compile(r"^\d+(\.\d+)? [kMG]$"))  # FLOPs as "94.29 M"
        expect(first.nth(3)).to_have_text(re.compile(r"^\d+(\.\d+)? [kMG]$"))  # params as "428.3 k"
        page.wait_for_function("() => Chart.getChart('chart-pareto').data.datasets[0].data.length === 40")
        marked = page.evaluate("Chart.getChart('chart-pareto').data.datasets[1].data")
        assert marked == [{"x": e["flops"], "y": e["score"]} for e in front if e["score"] is not None], "the front's points are the job's front, by FLOPs"
        assert page.evaluate("Chart.getChart('chart-pareto').options.scales.x.title.text") == "flops"
        shot = screenshot(page, tmp_path, "dashboard-pareto")
    assert shot.stat().st_size > 10_000 and len(front) >= 2, "a 40-cell search over two costs should have a front of several cells"


def test_the_pareto_staircase_shows_the_best_score_the_front_offers_at_each_cost(page, tmp_path):
    with live_server(tmp_path, paced_scorers(delay=0.01)) as url:
        page.goto(url + "/")
        expect(page.locator("#f-strategy option")).not_to_have_count(0)
        page.select_option("#f-strategy", "nsga2")
        page.fill("#f-budget", "60")
        page.fill("#f-minimize", "params")
        page.click("#f-submit")
        expect(page.locator("#d-status")).to_have_text("done", timeout=TIMEOUT_MS)
        page.wait_for_function("() => Chart.getChart('chart-pareto').data.datasets[0].data.length === 60")
        line = page.evaluate("(({data, stepped, showLine}) => ({data, stepped, showLine}))(Chart.getChart('chart-pareto').data.datasets[2])")
        evaluated = page.evaluate("Chart.getChart('chart-pareto').data.datasets[0].data")
        front = page.evaluate("Chart.getChart('chart-pareto').data.datasets[1].data")
        screenshot(page, tmp_path, "dashboard-pareto-staircase")
    corners = line["data"]
    assert line["showLine"] and not line["stepped"], "the staircase is drawn straight through its corners, not by Chart.js's stepping"
    run_on = max(p["x"] for p in evaluated) > max(p["x"] for p in front)
    assert len(front) >= 3 and len(corners) == 2 * len(front) - 1 + run_on, f"one step per front point (and the run on to the largest cost), got {len(corners)} corners for {len(front)}"
    assert_across_then_up(corners)
    for x in sorted({p["x"] for p in evaluated + front}):
        best = max((p["y"] for p in front if p["x"] <= x), default=None)
        if best is None:
            assert x < corners[0]["x"], f"the line starts at the cheapest front point, not before ({x})"
            continue
        assert staircase_value(corners, x) == best, f"at {x} params the line shows {staircase_value(corners, x)}, the front offers {best}"
    assert corners[-1]["x"] == max(p["x"] for p in evaluated), "the last step runs on to the largest evaluated cost"


def test_several_scores_from_the_form_are_asked_for_and_shown_beside_the_ranking_one(page, tmp_path):
    with live_server(tmp_path, paced_scorers(delay=0.01)) as url:
        page.goto(url + "/")
        expect(page.locator("#f-more-scores option")).to_have_count(len(list_scores()))
        page.select_option("#f-score", "naswot")
        page.select_option("#f-more-scores", ["synflow", "zen"])
        body = page.evaluate("searchBody()")
        assert body["score"] == ["naswot", "synflow", "zen"], f"the ranking score first, then the others: {body.get('score')}"
        page.select_option("#f-more-scores", [])
        assert "score" not in page.evaluate("searchBody()"), "naswot alone is the server's default: left out"
        page.select_option("#f-more-scores", ["synflow"])
        start_from_form(page, budget=12)
        expect(page.locator("#d-status")).to_have_text("done", timeout=TIMEOUT_MS)
        expect(page.locator("#top thead th").nth(2)).to_have_text("synflow")
        expect(page.locator("#top tbody tr")).to_have_count(10)
        best = page.evaluate("state.top[0]")
        expect(page.locator("#top tbody tr").first.locator("td").nth(2)).to_have_text(f"{best['values']['synflow']:.2f}")
        screenshot(page, tmp_path, "dashboard-several-scores")


def test_the_example_space_file_is_listed_and_searched_from_the_form(page, tmp_path):
    example = Path(__file__).resolve().parent.parent / "examples" / "resnetlike" / "space.json"
    with live_server(tmp_path, paced_scorers(delay=0.01), spaces=[str(example)]) as url:
        page.goto(url + "/")
        expect(page.locator("#spaces tbody")).to_contain_text("resnetlike")
        page.select_option("#f-space", "resnetlike")
        page.fill("#f-batch_size", "8")
        start_from_form(page, budget=12)
        expect(page.locator("#d-status")).to_have_text("done")
        expect(page.locator("#top tbody tr").first.locator("code.arch")).to_contain_text('"depth":')
        expect(page.locator("#bias tbody")).to_contain_text("Kendall score vs #params")
        labels = page.evaluate("Chart.getChart('chart-ops').data.labels")
        assert "depth=2" in labels and "pool=avg" in labels, f"the op-share chart should show the space's own keys, got {labels}"
        screenshot(page, tmp_path, "dashboard-own-space")
        assert not page.refused, f"the page broke its own policy: {page.refused}"
