"""Size-bias report: the statistics on rows built to have known answers, the files, and the endpoint."""

from __future__ import annotations

import csv
import gzip
import math

import helpers
import pytest
from live_server import paced_scorers

import app.cli.scoretable as scoretable
import app.analysis.report as report
import app.analysis.report_plots as report_plots
from app.client import Client
from app.analysis.report import Row
from searchspace import get_space

SPACE = get_space("nb201")


@pytest.mark.parametrize(
    ("space", "arch", "expected"),
    [
        ("nb201", "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
         [("edge 0->1", "nor_conv_3x3"), ("edge 0->2", "nor_conv_3x3"), ("edge 1->2", "nor_conv_3x3"),
          ("edge 0->3", "skip_connect"), ("edge 1->3", "nor_conv_3x3"), ("edge 2->3", "nor_conv_3x3")]),
        ("nats-sss", "8:8:8:16:40", [("c1", 8), ("c2", 8), ("c3", 8), ("c4", 16), ("c5", 40)]),
    ],
)
def test_a_space_decomposes_an_encoding_into_its_decisions(space, arch, expected):
    assert get_space(space).decisions(arch) == expected


@pytest.mark.parametrize(("space", "count"), [("darts", 32), ("nb101", None)])
def test_every_space_decomposes_its_encodings(space, count):
    decisions = get_space(space).decisions(get_space(space).sample(1, seed=0)[0])
    assert decisions and all(isinstance(p, str) for p, _ in decisions), f"no (position, value) decisions from a {space} encoding"
    if count is not None:
        assert len(decisions) == count, "DARTS: an op and an input for each of 8 edges in each of the two cells"


def test_a_score_that_is_size_correlates_one_with_it_and_singular_ranks_last():
    rows = [Row("a", -math.inf, 1, 10), *(Row(str(p), float(p), p, 10 * p) for p in range(2, 30))]
    bias = report.size_bias(rows)
    assert bias["params"] == {"kendall": 1.0, "spearman": 1.0}, "score = #params, the singular one the smallest"
    assert bias["flops"]["kendall"] == 1.0


def test_correlations_are_none_when_undefined():
    assert report.rank_correlations([1, 2, 3, 4], [5, 5, 5, 5]) == {"kendall": None, "spearman": None}
    assert report.rank_correlations([1, 2], [1, 2]) == {"kendall": None, "spearman": None}


def test_partial_correlation_takes_out_what_size_explains():
    # the score mixes size and an independent part; accuracy is that independent part alone
    size = list(range(200))
    independent = [(i * 7919) % 200 for i in range(200)]
    score = [s + u for s, u in zip(size, independent)]
    raw = report.rank_correlations(score, independent)["spearman"]
    partial = report.partial_spearman(score, independent, size)
    assert partial > 0.9 > raw, f"given size, the score ranks accuracy far better: raw {raw}, partial {partial}"
    assert report.partial_spearman(score, size, size) is None, "accuracy that is size itself leaves nothing to explain"


def test_within_group_kendall_averages_groups_of_three_or_more():
    scores = [1, 2, 3, 1, 2, 3, 4, 1, 2]
    accuracy = [1, 2, 3, 4, 3, 2, 1, 5, 6]
    params = [10, 10, 10, 20, 20, 20, 20, 30, 30]  # the last group has two cells: left out
    groups = report.within_groups_kendall(scores, accuracy, params)
    assert (groups["groups"], groups["cells"]) == (2, 7)
    assert groups["mean_kendall"] == 0.0, "+1 in one group, -1 in the other"
    assert groups["pair_weighted_kendall"] == round((1 * 3 - 1 * 6) / 9, 4), "weighted by each group's pairs (3 and 6)"


def test_op_shares_compare_the_top_k_with_the_base_rate():
    skip = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
    conv = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    rows = [Row(skip, 5.0, 1, 1), Row(conv, 1.0, 2, 2)]
    ops = report.op_frequencies(SPACE, rows, [skip, conv], k=1)
    assert len(ops["ops"]) == 12, "two values at each of the six edges"
    shares = {o["value"]: (o["top_rate"], o["base_rate"], o["ratio"]) for o in ops["ops"]}
    assert shares == {"skip_connect": (1.0, 0.5, 2.0), "nor_conv_3x3": (0.0, 0.5, 0.0)}, "the same shares at every edge"
    assert ops["parameter_free"] == {"values": ["skip_connect"], "top_rate": 1.0, "base_rate": 0.5, "ratio": 2.0}


def test_the_base_rate_of_nb201_is_uniform_over_its_five_ops():
    rates = report.decision_shares(SPACE, report.base_archs("nb201")).rates
    assert sorted({value for _, value in rates}) == ["avg_pool_3x3", "none", "nor_conv_1x1", "nor_conv_3x3", "skip_connect"]
    assert len(rates) == 30 and all(rate == pytest.approx(0.2) for rate in rates.values()), "the whole space: each op on a fifth of each edge"


@pytest.mark.parametrize(("header", "wanted", "column"), [(["arch", "score"], None, "score"), (["arch", "score", "naswot"], None, "naswot"), (["arch", "naswot", "synflow"], "synflow", "synflow")])
def test_score_column_prefers_naswot_then_score_unless_named(header, wanted, column):
    assert report.score_column(header, wanted) == column


def test_a_missing_score_column_names_the_columns_there_are():
    with pytest.raises(ValueError, match="its columns: arch, zen"):
        report.score_column(["arch", "zen"], None)


def test_real_ground_truth_size_alone_ranks_like_the_published_figure(nb201_accuracy):
    """#params against NB-201 CIFAR-10 accuracy: Kendall 0.57 on the whole space (ZiCo, Table 1)."""
    accuracy = report.read_accuracy(nb201_accuracy)
    archs = SPACE.sample(2000, seed=0, unique=True)
    rows = [Row(a, float(SPACE.params(a)), SPACE.params(a), SPACE.flops(a), accuracy[a]) for a in archs]
    figures = report.accuracy_figures(rows)
    assert 0.52 <= figures["params"]["kendall"] <= 0.62, figures["params"]
    assert figures["score"] == figures["params"], "the score here is #params itself"


def test_the_report_files_are_written(tmp_path):
    archs = SPACE.sample(40, seed=3, unique=True)
    rows = [Row(a, math.log(SPACE.params(a)), SPACE.params(a), SPACE.flops(a), float(i)) for i, a in enumerate(archs)]
    figures = report.bias_report(SPACE, rows, report.base_archs("nb201"))
    plots = report_plots.write_plots(rows, figures, tmp_path)
    assert [p.name for p in plots] == ["score-vs-params.png", "score-vs-flops.png", "ops-top-k.png", "accuracy-vs-score.png"]
    text = report.markdown(figures, "a test table", plots)
    assert text.startswith("# Size bias of naswot: a test table") and "| naswot vs #params | 1.000 |" in text


def test_read_score_table_takes_an_empty_score_as_singular(tmp_path):
    path = tmp_path / "t.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([["index", "arch", "score"], [0, "a", "1.5"], [1, "b", ""]])
    assert report.read_score_table(path) == ("score", [("a", 1.5), ("b", -math.inf)])


def test_a_compressed_table_reads_like_the_plain_one_and_finds_the_same_meta_file(tmp_path):
    rows = [["index", "arch", "score"], [0, "a", "1.5"], [1, "b", ""]]
    plain = tmp_path / "t.csv"
    with plain.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    packed = tmp_path / "t.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert report.read_score_table(packed) == report.read_score_table(plain), "a .csv.gz table (as committed) is read as its CSV"
    assert scoretable.meta_path(packed) == scoretable.meta_path(plain) == tmp_path / "t.csv.meta.json", "one meta file for both"


# -- GET /v1/searches/{id}/report -------------------------------------------------------------------


def serve(tmp_path, **settings):
    return helpers.serve(tmp_path, paced_scorers(delay=0.0), **settings)


def test_the_report_endpoint_covers_every_evaluation_of_a_search(tmp_path):
    with serve(tmp_path) as http:
        client = Client(http=http)
        job = client.start_search(data="noise", strategy="random", budget=40, seed=2)
        client.wait(job["id"], timeout=60, poll=0.05)
        answer = http.get(f"/v1/searches/{job['id']}/report", params={"top_k": 5})
        bad = http.get(f"/v1/searches/{job['id']}/report", params={"top_k": 0})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "top_k"]
    assert answer.status_code == 200, answer.text
    figures = answer.json()
    assert (figures["id"], figures["n"], figures["space"]) == (job["id"], 40, "nb201")
    assert figures["size"]["params"]["kendall"] > 0.5, "the stand-in score grows with #params"
    assert figures["ops"]["top_k"] == 5 and figures["accuracy"] is None


def test_the_report_of_an_unknown_search_is_404_naming_the_id(tmp_path):
    with serve(tmp_path) as http:
        answer = http.get("/v1/searches/nope/report")
    assert answer.status_code == 404 and answer.json()["detail"][0]["loc"] == ["path", "search_id"]


def test_the_page_is_open_but_the_api_behind_it_needs_the_key(tmp_path):
    with serve(tmp_path, api_key="k") as http:
        page = http.get("/")
        assert page.status_code == 200 and "naswot dashboard" in page.text
        assert http.get("/dashboard/vendor/chart.umd.min.js").status_code == 200, "the chart library is served by the app"
        assert http.get("/v1/searches").status_code == 401
        assert http.get("/v1/searches/x/report").status_code == 401
        assert "http://" not in page.text and "https://" not in page.text, "nothing loaded from outside the server"
