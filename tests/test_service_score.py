"""POST /v1/score through the ASGI app: the contract, real scores, the cache, and every 4xx of the route."""

from __future__ import annotations

import math


import numpy as np
import pytest
from helpers import api_client

from app.client import ApiError, Client
from scoring import Scorer, open_source
from searchspace import get_space

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    rng = np.random.default_rng(0)
    np.savez(path, train_x=rng.integers(0, 256, size=(20, 3, 32, 32), dtype=np.uint8))
    return str(path)


@pytest.fixture(scope="module")
def client(tmp_path_factory, tiny_npz):
    limits = {"max_archs": 4, "max_batch_size": 64, "max_body_bytes": 4096}
    with api_client(tmp_path_factory.mktemp("svc"), data_sources={"tiny": f"npz:{tiny_npz}"}, **limits) as client:
        yield client


def test_scores_match_the_library_and_follow_the_contract(client):
    answer = client.score([BEST, [0, 0, 0, 0, 0, 0]], data="noise", batch_size=8, seed=0)
    assert set(answer) >= {"results", "device", "data"}
    assert answer["device"] == "cpu"
    assert answer["score_name"] == "naswot" and answer["precision"] == "exact"
    assert answer["data"]["spec"] == "noise" and answer["data"]["synthetic"] is True and answer["data"]["name"] == "noise"
    best, none = answer["results"]
    assert set(best) >= {"arch", "score", "singular", "params", "flops", "seconds", "cached"}
    assert best["arch"] == BEST and best["singular"] is False and best["params"] == 1_288_506 and best["flops"] > 0
    expected = Scorer(get_space("nb201"), open_source("noise"), batch_size=8, seed=0).score_one(BEST)
    assert best["score"] == pytest.approx(expected.score, rel=1e-9)
    # a singular K_H: null score, singular true, never 0
    assert none["arch"] == NONE and none["singular"] is True and none["score"] is None
    assert none["params"] == 73_306


def test_second_request_comes_from_the_cache(client):
    first = client.score([BEST], data="noise", batch_size=8, seed=1)["results"][0]
    again = client.score([{"naslib": [2, 2, 0, 2, 2, 2]}], data="noise", batch_size=8, seed=1)
    assert first["cached"] is False
    assert again["results"][0]["cached"] is True and again["cached"] == 1 and again["computed"] == 0
    assert again["results"][0]["score"] == first["score"]
    assert 'naswot_cache_hits_total' in client.metrics()
    # anything that determines the score is in the key: another seed is computed afresh
    other = client.score([BEST], data="noise", batch_size=8, seed=2)["results"][0]
    assert other["cached"] is False and other["score"] != first["score"]


def test_repeated_archs_in_one_request_are_computed_once(client):
    answer = client.score([BEST, BEST, [3, 3, 3, 1, 3, 3]], data="noise", batch_size=8, seed=3)
    assert [r["arch"] for r in answer["results"]] == [BEST] * 3
    assert answer["computed"] == 1 and len({r["score"] for r in answer["results"]}) == 1


def test_configured_named_source_and_its_limits(client):
    answer = client.score([BEST], data="tiny", batch_size=8)
    assert answer["data"]["name"] == "tiny" and answer["data"]["synthetic"] is False
    assert answer["data"]["spec"].startswith("npz:") and answer["data"]["identity"].startswith("sha256:")
    assert math.isfinite(answer["results"][0]["score"])
    with pytest.raises(ApiError) as info:
        client.score([BEST], data="tiny", batch_size=32)
    assert info.value.status == 422
    assert info.value.detail[0]["loc"] == ["body", "batch_size"] and "only 20 images" in info.value.detail[0]["msg"]


def _detail(client: Client, body: dict) -> list[dict]:
    response = client.http.post("/v1/score", json=body)
    assert response.status_code == 422, response.text
    return response.json()["detail"]


def test_bad_items_are_named_by_index_field_and_reason(client):
    detail = _detail(client, {"archs": [BEST, "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", [0, 1, 9, 0, 0, 0]], "data": "noise", "batch_size": 8})
    assert [d["loc"] for d in detail] == [["body", "archs", 1], ["body", "archs", 2]]
    assert "unknown op 'conv'" in detail[0]["msg"]
    assert all(d["type"] == "encoding_error" for d in detail)


@pytest.mark.parametrize(
    ("body", "loc", "words"),
    [
        ({"archs": []}, ["body", "archs"], "at least 1"),
        ({}, ["body", "archs"], "required"),
        ({"archs": [BEST] * 5}, ["body", "archs"], "at most 4"),
        ({"archs": [BEST], "space": "nb999"}, ["body", "space"], "unknown search space"),
        ({"archs": [BEST], "data": "imagenet"}, ["body", "data"], "unknown data source"),
        ({"archs": [BEST], "data": "npz:/etc/passwd"}, ["body", "data"], "unknown data source"),
        ({"archs": [BEST], "data": "cifar100"}, ["body", "data"], "not available"),
        ({"archs": [BEST], "batch_size": 1}, ["body", "batch_size"], "greater than or equal to 2"),
        ({"archs": [BEST], "batch_size": 65}, ["body", "batch_size"], "at most 64"),
        ({"archs": [BEST], "seed": -1}, ["body", "seed"], "greater than or equal to 0"),
        ({"archs": [BEST], "seeds": 3}, ["body", "seeds"], "Extra inputs"),
        ({"archs": "not a list"}, ["body", "archs"], "valid list"),
    ],
)
def test_every_invalid_field_gets_a_422_naming_it(client, body, loc, words):
    detail = _detail(client, {"data": "noise", **body} if "data" not in body else body)
    assert detail[0]["loc"] == loc
    assert words in detail[0]["msg"]


def test_malformed_json_and_oversized_bodies(client):
    response = client.http.post("/v1/score", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and response.json()["detail"][0]["type"] == "json_invalid"
    response = client.http.post("/v1/score", json={"archs": [BEST] * 200, "data": "noise"})
    assert response.status_code == 413
    assert "4096 bytes" in response.json()["detail"][0]["msg"]
