"""The command line beyond ``score --arch``: files of encodings, CSV, search (in-process and on a server), sample, spaces, table, report."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest
from live_server import live_server, paced_score, paced_scorers
from rich.console import Console

import app.cli.search as cli_search

import app.cli.progress as progress
from app.cli.main import main
from scoring import ScoredArch, list_scores
from searchspace import get_space, list_spaces

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
QUICK = ["--data", "noise", "--batch-size", "4", "--device", "cpu"]


class PacedScorer:
    """In-process stand-in for scoring.Scorer with the live server's scores, so both paths can be compared."""

    def __init__(self, space, source, *, batch_size, seed, device, scores=("naswot",), **_options):
        self.space, self.source, self.num_classes, self.score_names = space, source, 10, tuple(scores)

    def score_many(self, archs):
        for arch in archs:
            cost = self.space.cost(arch)
            yield ScoredArch(arch, {"naswot": paced_score(arch, cost.params)}, {"params": cost.params, "flops": cost.flops}, 0.0)

    def describe(self):
        return {"space": self.space.name, "scores": list(self.score_names)}


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_score_reads_encodings_from_stdin_and_writes_csv(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(f"# two cells\n{BEST}\n\n[0,0,0,0,0,0]\n"))
    assert main(["score", "--file", "-", "--format", "csv", *QUICK]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["arch"] for r in rows] == [BEST, NONE], "one CSV row per encoding, comments and blank lines skipped"
    assert rows[0]["params"] == "1288506" and rows[1]["singular"] == "True" and rows[1]["score"] == ""
    assert json.loads(rows[0]["data"])["spec"] == "noise", "nested values are written as JSON"


def test_a_bad_line_in_a_file_is_named_with_its_line_number(capsys, tmp_path):
    file = tmp_path / "cells.txt"
    file.write_text(f"{BEST}\n|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|\n")
    assert main(["score", "--file", str(file), *QUICK]) == 2
    err = capsys.readouterr().err
    assert f"{file} line 2" in err and "unknown op 'conv'" in err, err


def test_score_without_any_architecture_is_an_error(capsys):
    assert main(["score", *QUICK]) == 2
    assert "no architecture given" in capsys.readouterr().err


@pytest.mark.parametrize("space", ["nb201", "nats-sss"])
def test_sample_prints_the_same_canonical_encodings_for_the_same_seed(capsys, space):
    main(["sample", "--space", space, "--n", "5", "--seed", "4", "--unique"])
    first = capsys.readouterr().out.splitlines()
    main(["sample", "--space", space, "--n", "5", "--seed", "4", "--unique"])
    assert capsys.readouterr().out.splitlines() == first == get_space(space).sample(5, seed=4, unique=True)


def test_spaces_lists_every_space_as_json_lines(capsys):
    assert main(["spaces"]) == 0
    assert [s["name"] for s in json_lines(capsys.readouterr().out)] == list_spaces()


def test_scores_lists_the_registry_as_json_lines(capsys):
    assert main(["scores"]) == 0
    listed = json_lines(capsys.readouterr().out)
    assert [s["name"] for s in listed] == [s.name for s in list_scores()] and "naswot" in [s["name"] for s in listed]
    assert {"description", "needs_backward", "needs_labels", "data_free", "higher_is_better"} <= set(listed[0])


@pytest.mark.parametrize("command", [["score", "--arch", BEST], ["search", "--budget", "3"]])
def test_an_unknown_score_exits_2_naming_it(capsys, command):
    assert main([*command, "--score", "nope", *QUICK]) == 2
    assert "unknown score 'nope'" in capsys.readouterr().err


def test_progress_stays_off_stderr_when_it_is_not_a_terminal(capsys, monkeypatch):
    monkeypatch.setattr(cli_search, "Scorer", PacedScorer)
    assert main(["search", "--strategy", "random", "--budget", "5", "--top-k", "2", *QUICK]) == 0
    assert capsys.readouterr().err == "", "no bar nor table when stderr is not a terminal"


def test_at_a_terminal_search_shows_a_bar_with_the_best_so_far_and_the_top_table(capsys, monkeypatch):
    terminal = Console(file=io.StringIO(), force_terminal=True, width=200)
    monkeypatch.setattr(progress, "stderr", terminal)
    monkeypatch.setattr(cli_search, "Scorer", PacedScorer)
    assert main(["search", "--strategy", "random", "--budget", "6", "--top-k", "2", *QUICK]) == 0
    shown = terminal.file.getvalue()
    best = json_lines(capsys.readouterr().out)[0]["score"]
    assert "random search" in shown and "6/6" in shown, "the bar counts evaluations against the budget"
    assert f"best {best:.2f}" in shown and "top 2 of 6" in shown, "best so far beside the bar, then the top table"


def test_search_in_process_and_on_a_server_print_the_same_top_table(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(cli_search, "Scorer", PacedScorer)
    args = ["search", "--strategy", "evolution", "--budget", "30", "--top-k", "5", "--seed", "3", "--population-size", "6", "--sample-size", "2"]
    assert main([*args, *QUICK, "--out", str(tmp_path / "local.json")]) == 0
    local = json_lines(capsys.readouterr().out)
    with live_server(tmp_path, paced_scorers(delay=0.0)) as url:
        assert main([*args, "--data", "noise", "--batch-size", "4", "--url", url, "--out", str(tmp_path / "remote.json")]) == 0
    remote = json_lines(capsys.readouterr().out)
    assert [r["rank"] for r in local] == [1, 2, 3, 4, 5]
    assert local == remote, "the same search gives the same top table in-process and on a server"
    saved = [json.loads((tmp_path / f"{name}.json").read_text()) for name in ("local", "remote")]
    assert [len(s["evaluations"]) for s in saved] == [30, 30], "--out keeps every evaluation"
    assert [e["arch"] for e in saved[0]["evaluations"]] == [e["arch"] for e in saved[1]["evaluations"]]


def test_search_errors_exit_2_naming_the_field(capsys, monkeypatch):
    monkeypatch.setattr(cli_search, "Scorer", PacedScorer)
    assert main(["search", "--population-size", "4", "--sample-size", "9", *QUICK]) == 2
    assert "sample_size" in capsys.readouterr().err


def test_search_on_a_server_reports_its_422_by_field(capsys, tmp_path):
    with live_server(tmp_path, paced_scorers(), max_budget=50) as url:
        assert main(["search", "--budget", "80", "--url", url, "--data", "noise"]) == 2
    err = capsys.readouterr().err
    assert "body.budget" in err and "at most 50" in err, err


def test_search_on_an_unreachable_server_is_a_clear_error(capsys):
    assert main(["search", "--url", "http://127.0.0.1:9", "--budget", "5"]) == 2
    assert "cannot reach the service" in capsys.readouterr().err


def table_rows(path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_table_scores_a_subset_then_resumes_without_rescoring(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr("app.cli.report.Scorer", PacedScorer)
    out = tmp_path / "table.csv"
    assert main(["table", "--out", str(out), "--n", "6", *QUICK]) == 0
    assert json.loads(capsys.readouterr().out)["new"] == 6
    rows = table_rows(out)
    assert list(rows[0]) == ["index", "arch", "params", "flops", "naswot"], "the columns of a score table: index, arch, params, flops, then the scores"
    assert [r["arch"] for r in rows] == get_space("nb201").sample(6, seed=0, unique=True)
    assert all(r["index"].isdigit() for r in rows), "NB-201 rows carry the cell's enumeration index"
    assert main(["table", "--out", str(out), "--n", "8", *QUICK]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["cells"], summary["new"]) == (8, 2), "a larger subset only scores the new cells"
    assert table_rows(out)[:6] == rows


def test_table_refuses_a_file_made_with_other_settings(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr("app.cli.report.Scorer", PacedScorer)
    out = tmp_path / "table.csv"
    main(["table", "--out", str(out), "--n", "2", *QUICK])
    (out.with_name(out.name + ".meta.json")).write_text('{"space": "nb201", "seed": 99}')
    assert main(["table", "--out", str(out), "--n", "2", *QUICK]) == 2
    assert "other (or unknown) settings" in capsys.readouterr().err


def write_table(path, archs: list[str], column: str = "naswot") -> None:
    space = get_space("nb201")
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["index", "arch", column])
        for arch in archs:
            score = paced_score(arch, space.params(arch))
            writer.writerow(["", arch, "" if score == -math.inf else score])


def test_report_on_a_table_writes_plots_markdown_and_json(capsys, tmp_path):
    archs = [NONE, *get_space("nb201").sample(80, seed=1, unique=True)]
    table, accuracy = tmp_path / "t.csv", tmp_path / "acc.csv"
    write_table(table, archs)
    accuracy.write_text("arch,cifar10_test\n" + "".join(f"{a},{i % 13 + 80}\n" for i, a in enumerate(archs)))
    assert main(["report", str(table), "--accuracy", str(accuracy), "--top-k", "10"]) == 0
    figures = json.loads(capsys.readouterr().out)
    folder = tmp_path / "t.csv.report"
    assert figures["n"] == len(set(archs)) and figures["singular"] == 1 and figures["score_name"] == "naswot"
    assert figures["size"]["params"]["kendall"] > 0.6, "the stand-in score is mostly log #params"
    assert figures["accuracy"]["n"] == len(set(archs)) and figures["ops"]["top_k"] == 10
    assert sorted(p.name for p in folder.glob("*.png")) == ["accuracy-vs-score.png", "ops-top-k.png", "score-vs-flops.png", "score-vs-params.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in folder.glob("*.png"))
    markdown = (folder / "report.md").read_text()
    assert f"{figures['size']['params']['kendall']:.3f}" in markdown and "![score-vs-params](score-vs-params.png)" in markdown


def test_report_picks_the_score_column_by_name(capsys, tmp_path):
    table = tmp_path / "t.csv"
    write_table(table, get_space("nb201").sample(20, seed=2, unique=True), column="synflow")
    assert main(["report", str(table), "--out-dir", str(tmp_path / "r")]) == 2
    assert "no score column 'naswot' or 'score'" in capsys.readouterr().err and "synflow" in table.read_text()
    assert main(["report", str(table), "--score", "synflow", "--out-dir", str(tmp_path / "r")]) == 0
    assert json.loads(capsys.readouterr().out)["score_name"] == "synflow"


def test_report_on_a_search_id_reads_it_from_the_server(capsys, tmp_path):
    with live_server(tmp_path, paced_scorers(delay=0.0)) as url:
        assert main(["search", "--budget", "25", "--strategy", "random", "--url", url, "--data", "noise", "--out", str(tmp_path / "s.json")]) == 0
        job_id = json.loads((tmp_path / "s.json").read_text())["id"]
        capsys.readouterr()
        assert main(["report", job_id, "--url", url, "--out-dir", str(tmp_path / "r")]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["n"] == 25 and figures["accuracy"] is None and figures["source"].startswith(f"search {job_id}")
    assert (tmp_path / "r" / "report.md").is_file()



def test_table_settings_compare_the_data_by_digest_not_by_path():
    from scoring.evaluate import value_settings

    here = {"space": "nb201", "seed": 0, "device": "cpu", "data": {"spec": "cifar10:../shared/x.npz", "identity": "sha256:1"}}
    there = {**here, "device": "cuda:0", "data": {"spec": "cifar10:/elsewhere/x.npz", "identity": "sha256:1"}}
    other = {**here, "data": {"spec": "cifar10:../shared/x.npz", "identity": "sha256:2"}}
    assert value_settings(here) == value_settings(there), "the same data read from another path (or on another device) must resume"
    assert value_settings(here) != value_settings(other), "other data must not resume the table"


def test_a_table_of_an_earlier_score_definition_does_not_resume(revise):
    from scoring import Scorer, open_source
    from scoring.evaluate import value_settings

    def settings() -> dict:
        return value_settings(Scorer(get_space("nb201"), open_source("noise"), batch_size=4, scores=["naswot"]).describe())

    before = settings()
    revise("naswot")
    assert settings() != before, "a table scored under naswot's earlier definition would resume under the current one"


def test_search_with_minimize_prints_the_same_front_in_process_and_on_a_server(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(cli_search, "Scorer", PacedScorer)
    args = ["search", "--strategy", "nsga2", "--budget", "30", "--seed", "2", "--pareto-population", "8", "--minimize", "params", "flops"]
    assert main([*args, *QUICK]) == 0
    local = json_lines(capsys.readouterr().out)
    with live_server(tmp_path, paced_scorers(delay=0.0)) as url:
        assert main([*args, "--data", "noise", "--batch-size", "4", "--url", url]) == 0
    remote = json_lines(capsys.readouterr().out)
    assert local and [(r["step"], r["arch"]) for r in local] == [(r["step"], r["arch"]) for r in remote], "the same front in-process and on a server"
    assert [r["params"] for r in local] == sorted(r["params"] for r in local), "the front is printed by its first cost"


def test_a_repeated_cost_in_minimize_exits_2_naming_it(capsys, monkeypatch):
    monkeypatch.setattr(cli_search, "Scorer", PacedScorer)
    assert main(["search", "--strategy", "random", "--budget", "5", "--minimize", "params", "params", *QUICK]) == 2
    assert "minimize[1] 'params' repeats minimize[0]" in capsys.readouterr().err


def test_table_rows_from_worker_processes_equal_the_rows_scored_here(capsys, tmp_path):
    options = ["--n", "3", "--space", "nb201", "--data", "noise:3x8x8", "--batch-size", "8", "--scores", "naswot,synflow", "--device", "cpu"]
    here, pooled = tmp_path / "here.csv", tmp_path / "pooled.csv"
    assert main(["table", "--out", str(here), *options]) == 0
    assert main(["table", "--out", str(pooled), "--workers", "2", *options]) == 0
    assert table_rows(pooled) == table_rows(here), "--workers changes where cells are scored, never what is written"
