"""A score undefined on a network says why, from the pass through the Scorer, the score cache, HTTP, the CLI's JSON
and a Ray actor: ``null`` with ``"undefined": "<reason>"``, never 0 and never an error."""

from __future__ import annotations

import json
import pickle
import warnings

import pytest
from spacefile_support import forget_spaces, write_space  # noqa: F401  (fixture)

from app.cli.main import main
from app.executors.ray_pool import ScoringActor
from app.executors.ray_worker import scorer_key
from app.main import create_app
from app.service.scorers import ScoreSpec
from app.service.spacefiles import load_spaces
from app.settings import Settings
from scoring import Scorer, ScoredArch, open_source

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ARCH = {"width": 8}
NO_CODES = "no elementwise activation module"
SCORES = ["naswot", "swap", "synflow"]


@pytest.fixture(scope="module")
def flat_file(tmp_path_factory):
    return write_space(tmp_path_factory.mktemp("flat"), name="flat", builder="reason_builders:no_activation", choices={"width": [8, 16]})


@pytest.fixture
def flat(flat_file, forget_spaces):
    [space] = load_spaces([flat_file])
    return space


@pytest.fixture(scope="module")
def http(tmp_path_factory, flat_file):
    folder = tmp_path_factory.mktemp("svc")
    settings = Settings(db=folder / "db.sqlite", data="noise", data_dir=folder, spaces=[str(flat_file)])
    with TestClient(create_app(settings)) as client:
        yield client


def _says_no_codes(record: ScoredArch, names) -> None:
    for name in names:
        assert NO_CODES in record.reasons.get(name, ""), f"{name}: reason {record.reasons.get(name)!r}"


@pytest.mark.parametrize("scores", [("naswot",), tuple(SCORES)], ids=["fast-path", "passes"])
def test_the_scorer_gives_each_code_score_its_reason_and_keeps_the_others(flat, scores):
    record = Scorer(flat, open_source("noise"), batch_size=8, seed=0, scores=scores).score_one(ARCH)
    _says_no_codes(record, [n for n in scores if n != "synflow"])
    assert record.undefined == record.reasons["naswot"] and record.singular, "the ranking score's reason"
    if "synflow" in scores:
        assert record.values["synflow"] > -float("inf") and "synflow" not in record.reasons, "a defined value has no reason"


def test_http_says_why_a_score_is_null_and_the_cache_keeps_it(http):
    body = {"space": "flat", "archs": [ARCH], "data": "noise", "batch_size": 8, "score": SCORES}
    first, again = (http.post("/v1/score", json=body) for _ in range(2))
    assert first.status_code == 200, first.text
    result, cached = first.json()["results"][0], again.json()["results"][0]
    assert result["score"] is None and result["singular"] and NO_CODES in result["undefined"], f"result {result}"
    assert set(result["reasons"]) == {"naswot", "swap"} and isinstance(result["values"]["synflow"], float), f"result {result}"
    assert cached["cached"] is True, "the second answer did not come from the cache"
    assert (cached["undefined"], cached["reasons"]) == (result["undefined"], result["reasons"]), "the cache lost the reasons"


def test_a_defined_score_answers_with_its_note_and_no_reason(http):
    body = {"space": "nb201", "archs": [[3] * 6], "data": "noise", "batch_size": 8}  # conv 3x3 on every edge
    result = http.post("/v1/score", json=body).json()["results"][0]
    assert isinstance(result["score"], float) and result["undefined"] is None and result["reasons"] == {}, f"result {result}"
    assert result["notes"]["naswot"].startswith("codes of ReLU x"), f"notes {result['notes']}"


def test_the_cli_json_says_why(flat_file, capsys, forget_spaces):
    argv = ["score", "--space-file", str(flat_file), "--space", "flat", "--data", "noise", "--batch-size", "8", "--arch", json.dumps(ARCH)]
    assert main([*argv, "--score", "naswot,synflow"]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[0])
    assert row["score"] is None and NO_CODES in row["undefined"] and list(row["reasons"]) == ["naswot"], f"row {row}"


def test_a_ray_actor_hands_back_the_reasons(flat):
    spec = ScoreSpec(flat, open_source("noise"), 8, 0, score="naswot", also=("synflow",))
    [record] = ScoringActor("cpu", 1, 2, None, False).score(scorer_key(spec), [flat.canonical(ARCH)])
    _says_no_codes(record, ["naswot"])
    assert pickle.loads(pickle.dumps(record)) == record, "the record does not survive Ray's serialisation"
