"""A space file served: listed, scored and searched over HTTP, bad encodings and misbehaving builders as 422s,
a bad file refusing the start, the cache keyed by the file, the CLI, a Ray actor rebuilding the space from its text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import serve
from spacefile_support import forget_spaces, write_space  # noqa: F401  (fixture)

from app.cli.main import main
from app.executors.ray_pool import ScoringActor, key_for
from app.executors.ray_worker import as_result, scorer_key
from app.main import create_app
from app.analysis.report import Row, base_archs, bias_report
from app.service.scorers import ScoreSpec
from app.settings import Settings
from app.service.spacefiles import load_spaces
from scoring import Scorer, list_scores, open_source
from searchspace import ArchitectureError, SpaceFileError, get_space

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "resnetlike" / "space.json"
SMALL = {"depth": 1, "width": 16, "kernel": 3, "stages": 2, "pool": "avg"}
BAD_AT_ONE = [{"width": 16, "depth": 1, "act": "relu"}, {"width": 8, "depth": 1, "act": "relu"}]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("spaces")
    odd = [write_space(folder, name=name, builder=f"space_builders:{name}") for name in ("raises", "not_module", "bad_forward", "huge")]
    return [EXAMPLE, *odd]


@pytest.fixture(scope="module")
def http(tmp_path_factory, files):
    with serve(tmp_path_factory.mktemp("svc"), None, spaces=[str(f) for f in files], max_params=10_000_000) as client:
        yield client


def score(http, space: str, archs: list, **extra):
    return http.post("/v1/score", json={"space": space, "archs": archs, "data": "noise", "batch_size": 8, **extra})


def test_the_example_is_listed_with_its_input_and_scored_then_cached(http):
    listed = {s["name"]: s for s in http.get("/v1/spaces").json()["spaces"]}
    assert listed["resnetlike"]["size"] == 72 and listed["resnetlike"]["input_shape"] == [3, 32, 32]
    assert {"nb201", "darts"} <= set(listed), "beside the built-in spaces"
    first, again = score(http, "resnetlike", [SMALL]), score(http, "resnetlike", [json.dumps(SMALL)])
    assert first.status_code == 200, first.text
    result = first.json()["results"][0]
    assert result["arch"] == '{"depth":1,"kernel":3,"pool":"avg","stages":2,"width":16}' and isinstance(result["score"], float)
    assert again.json()["results"][0]["cached"] is True and again.json()["results"][0]["score"] == result["score"]


def test_the_cache_key_holds_the_file_identity_and_built_in_keys_are_unchanged(http):
    from searchspace import get_space

    source = open_source("noise")
    mine, builtin = (ScoreSpec(get_space(n), source, 8, 0) for n in ("resnetlike", "nb201"))
    assert mine.cache_key.space == get_space("resnetlike").identity != "resnetlike"
    assert builtin.cache_key.space == "nb201" and builtin.reference_key.space == "nb201"


@pytest.mark.parametrize(
    ("arch", "key", "reason"),
    [
        ({**SMALL, "colour": "red"}, "colour", "unknown key"),
        ({k: v for k, v in SMALL.items() if k != "pool"}, "pool", "missing key"),
        ({**SMALL, "depth": 9}, "depth", "value outside the choices"),
    ],
)
def test_a_bad_encoding_is_a_422_naming_the_key(http, arch, key, reason):
    answer = score(http, "resnetlike", [SMALL, arch])
    assert answer.status_code == 422, answer.text
    [item] = answer.json()["detail"]
    assert item["loc"] == ["body", "archs", 1] and reason in item["msg"] and key in item["msg"]


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ("raises", "RuntimeError: width 8 is not supported by this family"),
        ("not_module", "returned str"),
        ("bad_forward", "fails in the forward pass"),
        ("huge", "more than the limit of 10,000,000 (NASWOT_MAX_PARAMS)"),
    ],
)
def test_a_misbehaving_builder_fails_only_its_architecture_and_the_others_are_answered(http, space, message):
    archs = [BAD_AT_ONE[0], BAD_AT_ONE[1], {**BAD_AT_ONE[0], "depth": 2}]
    answer = score(http, space, archs)
    assert answer.status_code == 200, f"one bad architecture lost the others: {answer.text}"
    results = answer.json()["results"]
    assert [r["arch"] for r in results] == [get_space(space).canonical(a) for a in archs], "one result per architecture, in order"
    assert all(isinstance(results[i]["score"], float) and results[i]["error"] is None for i in (0, 2)), results
    bad = results[1]
    assert message in bad["error"] and bad["score"] is None and bad["params"] is None, bad
    assert score(http, space, BAD_AT_ONE[:1]).status_code == 200, "the same worker scores the next request"
    assert http.get("/readyz").json()["ready"] is True


def test_a_failed_architecture_is_left_out_of_the_latencies(http):
    answer = score(http, "raises", BAD_AT_ONE, costs=["latency_ms"])
    assert answer.status_code == 200, answer.text
    good, bad = answer.json()["results"]
    assert good["latency_ms"] > 0 and bad["latency_ms"] is None and "width 8" in bad["error"], answer.json()["results"]


@pytest.mark.parametrize(
    ("space", "message"),
    [("raises", "width 8 is not supported"), ("not_module", "returned str"), ("bad_forward", "fails in the forward pass"), ("huge", "NASWOT_MAX_PARAMS")],
)
def test_a_search_skips_an_architecture_its_builder_fails_on_and_says_why(http, space, message):
    from app.client import Client

    body = {"space": space, "strategy": "random", "budget": 4, "top_k": 4, "seed": 0, "data": "noise", "batch_size": 8}
    job = http.post("/v1/searches", json=body)
    assert job.status_code == 202, job.text
    done = Client(http=http).wait(job.json()["id"], timeout=120, poll=0.1)
    assert done["status"] == "done", f"the search did not survive its builder: {done['status']} {done.get('error')}"
    outcome = done["outcome"]
    assert outcome["failed"] >= 1 and any(message in m for m in outcome["failures"]), f"the failure is not reported: {outcome}"
    assert all(json.loads(e["arch"])["width"] != 8 for e in done["top"]), "a failed architecture was ranked"
    assert outcome["evaluated"] == body["budget"], f"skipped architectures counted against the budget: {outcome}"


@pytest.mark.parametrize("strategy", ["random", "evolution", "area"])
def test_every_strategy_searches_the_example_within_the_constraints(http, strategy):
    limit = 300_000
    body = {"space": "resnetlike", "strategy": strategy, "budget": 12, "top_k": 3, "seed": 1, "data": "noise", "batch_size": 8,
            "constraints": {"max_params": limit}}
    job = http.post("/v1/searches", json=body)
    assert job.status_code in (200, 201, 202), job.text
    from app.client import Client

    done = Client(http=http).wait(job.json()["id"], timeout=300, poll=0.1)
    assert done["status"] == "done", done
    evaluations = Client(http=http).evaluations(job.json()["id"])
    assert 0 < len(evaluations) <= 12 and all(e["params"] <= limit for e in evaluations)
    assert all(json.loads(e["arch"]).keys() == SMALL.keys() for e in evaluations)


def test_a_bad_space_file_stops_the_service_from_starting(tmp_path, monkeypatch, capsys, forget_spaces):
    bad = write_space(tmp_path, name="broken", builder="nowhere_to_be_found:build")
    with pytest.raises(SpaceFileError, match=f"space file {bad}: builder: cannot import module"):
        create_app(Settings(db=tmp_path / "db.sqlite", spaces=[str(bad)]))
    monkeypatch.setenv("NASWOT_SPACES", str(bad))
    monkeypatch.setenv("NASWOT_DB", ":memory:")
    assert main(["serve", "--port", "0"]) == 2
    assert f"space file {bad}: builder" in capsys.readouterr().err


def test_every_registered_score_and_the_ensemble_score_the_example(forget_spaces):
    [space] = load_spaces([EXAMPLE])
    names = [info.name for info in list_scores()] + ["ensemble"]
    scorer = Scorer(space, open_source("noise"), batch_size=8, scores=names, reference_size=8)
    result = scorer.score_one(SMALL)
    assert set(result.values) == set(names), sorted(set(names) - set(result.values))


def test_the_cli_scores_and_searches_the_example_and_a_bad_encoding_exits_non_zero(capsys):
    common = ["--space-file", str(EXAMPLE), "--space", "resnetlike", "--data", "noise", "--batch-size", "8"]
    assert main(["score", *common, "--arch", json.dumps(SMALL)]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["space"] == "resnetlike" and isinstance(row["score"], float)
    assert main(["search", *common, "--strategy", "evolution", "--budget", "12", "--top-k", "2"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert main(["score", *common, "--arch", json.dumps({**SMALL, "width": 7})]) == 2
    assert "value outside the choices of key \"width\": 7" in capsys.readouterr().err


def test_table_rows_of_a_space_file_from_worker_processes_equal_the_rows_scored_here(tmp_path):
    common = ["table", "--space-file", str(EXAMPLE), "--space", "resnetlike", "--n", "3", "--data", "noise", "--batch-size", "8", "--device", "cpu"]
    here, pooled = tmp_path / "here.csv", tmp_path / "pooled.csv"
    assert main([*common, "--out", str(here)]) == 0
    assert main([*common, "--out", str(pooled), "--workers", "2"]) == 0, "worker processes could not rebuild the space file's space"
    rows = [path.read_text().splitlines() for path in (here, pooled)]
    assert len(rows[0]) == 4 and rows[1] == rows[0], "--workers changes where cells are scored, never what is written"


def test_the_cli_search_skips_what_the_builder_fails_on_and_says_so(files, forget_spaces, tmp_path, capsys):
    common = ["--space-file", str(files[1]), "--space", "raises", "--data", "noise", "--batch-size", "8"]
    assert main(["search", *common, "--strategy", "random", "--budget", "4", "--out", str(tmp_path / "out.json")]) == 0
    outcome = json.loads((tmp_path / "out.json").read_text())["outcome"]
    assert outcome["evaluated"] == 4 and outcome["failed"] >= 1, f"the failure was not skipped and counted: {outcome}"
    assert "width 8 is not supported" in capsys.readouterr().err, "the CLI did not say why it skipped"


def test_a_ray_actor_rebuilds_the_space_from_the_file_text(files, forget_spaces):
    spaces = load_spaces([files[1]])  # "raises"
    spec = ScoreSpec(spaces[0], open_source("noise"), 8, 0)
    key = scorer_key(spec)
    assert key.space_file is not None and key.space_file.text == files[1].read_text()
    good, bad = ScoringActor("cpu", 1, 2, None, False).score(key, [spaces[0].canonical(a) for a in BAD_AT_ONE])
    assert isinstance(good.score, float)
    assert bad.kind == "invalid" and isinstance(as_result(bad), ArchitectureError) and "width 8 is not supported" in bad.message
    assert key_for(get_space("nb201"), open_source("noise"), 8, 0).space_file is None


def test_the_size_bias_report_shares_each_key_value(forget_spaces):
    [space] = load_spaces([EXAMPLE])
    archs = space.sample(20, seed=0, unique=True)
    rows = [Row(a, float(json.loads(a)["width"]), space.params(a), space.flops(a)) for a in archs]
    ops = bias_report(space, rows, base_archs("resnetlike"), top_k=5)["ops"]
    shares = {(o["position"], o["value"]): o["base_rate"] for o in ops["ops"]}
    assert shares[("width", 16)] == pytest.approx(1 / 3, abs=1e-4) and shares[("pool", "max")] == 0.5, "the whole space as the base"
    assert {o["top_rate"] for o in ops["ops"] if o["position"] == "width" and o["value"] == 32} == {1.0}, "the top 5 are all width 32"


def test_the_report_orders_numeric_values_as_numbers(tmp_path):
    from searchspace import load_space_file

    space = load_space_file(write_space(tmp_path, name="widths", choices={"width": [128, 8, 32, 64, 16], "act": ["relu", "gelu"]}))
    archs = list(space.enumerate())
    rows = [Row(a, float(json.loads(a)["width"]), 1, 1) for a in archs]
    ops = bias_report(space, rows, archs, top_k=3)["ops"]["ops"]
    widths = [o["value"] for o in ops if o["position"] == "width"]
    assert widths == [8, 16, 32, 64, 128], f"numeric values sorted as text: {widths}"
    assert [o["value"] for o in ops if o["position"] == "act"] == ["gelu", "relu"]
