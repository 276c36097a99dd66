"""Several scores per request: ``"score"`` as one name or a list, a value per name, each score cached on its own."""

from __future__ import annotations

import json
import math
import sqlite3
import warnings
from collections import Counter

import pytest
from helpers import api_client, fake_app, fake_score

from app.cli.main import main
from app.client import ApiError, Client
from app.service.scorers import ScoreSpec
from app.service.taskqueue import Task, joint_groups
from scoring import ScoredArch, Scorer, open_source
from searchspace import get_space

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's notice that its TestClient will move to httpx2
    from fastapi.testclient import TestClient

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
#: what each score adds to the fake score, so every name has its own value
OFFSET = {"naswot": 0.0, "synflow": 1000.0, "flops": 2000.0}


class ScoresByName:
    """A scorer factory whose values depend on the score name (``synflow`` is undefined for NONE); it counts the
    passes per set of scores a scorer computes together, and so the work per score."""

    def __init__(self):
        self.passes: Counter[tuple[str, ...]] = Counter()

    def __call__(self, spec, device):
        return _NamedScorer(spec.scores, self.passes)

    @property
    def scored(self) -> Counter[str]:
        """Values computed per score name."""
        return Counter({name: n for names, n in self.passes.items() for name in names})


class _NamedScorer:
    def __init__(self, names: tuple[str, ...], passes: Counter[tuple[str, ...]]):
        self.names, self.passes = names, passes

    def score_many(self, archs):
        for arch in archs:
            self.passes[self.names] += 1
            values = {name: -math.inf if name == "synflow" and arch == NONE else fake_score(arch) + OFFSET[name] for name in self.names}
            yield ScoredArch(arch, values, {"params": 1, "flops": 1}, 0.5)


@pytest.fixture
def scorers() -> ScoresByName:
    return ScoresByName()


@pytest.fixture
def client(tmp_path, scorers):
    with api_client(tmp_path, scorers) as client:
        yield client


def test_a_list_gives_every_named_value_with_the_first_as_score(client):
    answer = client.score([BEST], score=["synflow", "naswot"])
    [result] = answer["results"]
    assert result["values"] == {"synflow": fake_score(BEST) + 1000.0, "naswot": fake_score(BEST)}, "values are not one per named score"
    assert result["score"] == result["values"]["synflow"], "the primary score is not the first name's value"
    assert (answer["score_name"], answer["score_names"]) == ("synflow", ["synflow", "naswot"]), "the response does not name its scores"


def test_one_name_keeps_the_response_shape(client):
    answer = client.score([BEST], score="naswot")
    [result] = answer["results"]
    assert result["score"] == fake_score(BEST) and result["values"] == {"naswot": fake_score(BEST)}, "a single score changed shape"
    assert (answer["score_name"], answer["score_names"]) == ("naswot", ["naswot"]), "a single score is not named"


def test_an_undefined_value_is_null_beside_the_defined_ones(client):
    [result] = client.score([NONE], score=["naswot", "synflow"])["results"]
    assert result["values"] == {"naswot": fake_score(NONE), "synflow": None}, "an undefined value is not null"
    assert result["singular"] is False, "singular must follow the primary score alone"


def test_a_score_already_cached_is_not_computed_again_for_a_list(client, scorers):
    client.score([BEST], score="naswot")
    [result] = client.score([BEST], score=["naswot", "synflow"])["results"]
    assert scorers.scored == Counter({"naswot": 1, "synflow": 1}), f"work per score: {dict(scorers.scored)}"
    assert result["cached"] is False, "an answer with a newly computed synflow value is marked cached"
    assert result["seconds"] == 1.0, "seconds is not the device time of both values (each 0.5 s, the cached one originally)"


def test_a_list_is_computed_in_one_pass_per_architecture(client, scorers):
    client.score([BEST, NONE], score=["synflow", "naswot"])
    assert scorers.passes == Counter({("synflow", "naswot"): 2}), f"passes per set of scores: {dict(scorers.passes)}"


def test_an_architectures_scores_are_not_split_across_worker_batches(tmp_path, scorers):
    with TestClient(fake_app(tmp_path, scorer_factory=scorers, worker_batch=2)) as http:
        Client(http=http).score([BEST, NONE], score=["synflow", "naswot", "flops"])
    assert scorers.passes == Counter({("synflow", "naswot", "flops"): 2}), f"passes per set of scores: {dict(scorers.passes)}"


def test_the_queue_counts_an_architectures_scores_once(tmp_path, scorers):
    with TestClient(fake_app(tmp_path, scorer_factory=scorers, queue_size=2, max_archs=2)) as http:
        answer = Client(http=http).score([BEST, NONE], score=["synflow", "naswot", "flops"])
    assert len(answer["results"]) == 2, "two architectures with three scores each did not fit a queue of two architectures"


def test_a_batch_is_grouped_by_the_scores_each_architecture_asks_for():
    base = ScoreSpec(get_space("nb201"), open_source("noise"), 4, 0)
    tasks = [Task(base.joint([name]), arch, lambda *_: None) for arch, name in [(BEST, "naswot"), (NONE, "naswot"), (BEST, "synflow")]]
    groups = {group.spec.scores: group.archs for group in joint_groups(tasks)}
    assert groups == {("naswot", "synflow"): [BEST], ("naswot",): [NONE]}, f"groups {groups}"


def test_scores_computed_together_share_their_device_time(client):
    [result] = client.score([BEST], score=["synflow", "naswot"])["results"]
    assert result["seconds"] == 0.5, "the seconds of one joint pass (0.5 s) are not what the answer reports"


def test_a_value_cached_under_an_earlier_definition_is_scored_afresh(client, scorers, revise):
    client.score([BEST], score="naswot")
    revise("naswot")
    [result] = client.score([BEST], score="naswot")["results"]
    assert result["cached"] is False and scorers.scored["naswot"] == 2, "a value of naswot's earlier definition was served from the cache"


def test_a_list_whose_every_value_is_cached_answers_cached(client, scorers):
    client.score([BEST], score=["naswot", "synflow"])
    answer = client.score([BEST], score=["naswot", "synflow"])
    assert (answer["cached"], answer["computed"], answer["results"][0]["cached"]) == (1, 0, True), "a fully cached answer is not marked cached"
    assert sum(scorers.scored.values()) == 2, "a cached score was computed again"


@pytest.mark.parametrize(
    "score, says",
    [
        (["naswot", "nope"], "score[1] 'nope': unknown score"),
        (["naswot", "ensemble:naswot"], "score[1] 'ensemble:naswot'"),
        (["naswot", " naswot"], "score[1] ' naswot' repeats score[0]"),
        ([], "at least 1 item"),
        ("nope", "unknown score 'nope'"),
    ],
    ids=["unknown", "malformed-ensemble", "repeat", "empty", "unknown-string"],
)
@pytest.mark.parametrize("route", ["score", "search"])
def test_a_bad_score_list_is_a_422_naming_score_and_the_entry(client, route, score, says):
    with pytest.raises(ApiError) as raised:
        client.score([BEST], score=score) if route == "score" else client.start_search(budget=2, score=score)
    assert raised.value.status == 422, f"status {raised.value.status}, not 422"
    text = json.dumps(raised.value.detail)
    assert '"score"' in text and says in text, f"the 422 does not name score and {says!r}: {text}"


@pytest.fixture
def searched(client):
    """A finished random search of 6 cells ranked by synflow, with naswot reported beside it."""
    job = client.start_search(strategy="random", budget=6, top_k=3, seed=0, score=["synflow", "naswot"])
    return client.wait(job["id"], timeout=60)


def test_a_search_ranks_by_the_first_score_and_reports_the_others(client, searched):
    evaluations = client.evaluations(searched["id"])
    assert searched["status"] == "done" and len(evaluations) == 6, f"the search did not finish its budget: {searched['status']}"
    for e in evaluations:
        assert e["values"] == {"synflow": e["score"], "naswot": fake_score(e["arch"])}, f"step {e['step']} lacks its values"
    best = max(evaluations, key=lambda e: e["score"])
    assert searched["best"]["arch"] == best["arch"] and searched["best"]["values"]["synflow"] == best["score"], "not ranked by synflow"


def test_a_search_shows_the_values_it_computed_not_the_score_caches(client, searched, tmp_path):
    with sqlite3.connect(tmp_path / "db.sqlite") as db:
        db.execute("DELETE FROM scores")  # the cache may be emptied or shared; the search's record of its evaluations stays
    for e in client.evaluations(searched["id"]):
        assert e["values"] == {"synflow": e["score"], "naswot": fake_score(e["arch"])}, f"step {e['step']} lost its reported values"


def test_a_search_computes_its_scores_in_one_pass_per_candidate(scorers, searched):
    assert scorers.passes == Counter({("synflow", "naswot"): 6}), f"passes per set of scores: {dict(scorers.passes)}"


def test_a_search_stores_the_ranking_score_and_the_reported_ones(searched):
    assert (searched["request"]["score"], searched["request"]["reported_scores"]) == ("synflow", ["naswot"]), "the job does not keep its scores"


def test_the_score_command_takes_comma_separated_names(capsys):
    assert main(["score", "--arch", BEST, "--score", "naswot,flops", "--data", "noise", "--batch-size", "4", "--device", "cpu"]) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert set(row["values"]) == {"naswot", "flops"} and row["score"] == row["values"]["naswot"], f"not both scores: {row}"


def test_real_values_match_the_library_score_by_score(tmp_path):
    with api_client(tmp_path) as client:
        [result] = client.score([BEST], score=["flops", "naswot"], batch_size=8, seed=1)["results"]
    for name in ("flops", "naswot"):
        alone = Scorer(get_space("nb201"), open_source("noise"), batch_size=8, seed=1, scores=[name]).score_one(BEST)
        assert result["values"][name] == alone.score, f"{name} differs from the library's value"
