"""GET /v1/scores: the registry as the service shows it."""

from __future__ import annotations

import warnings

import pytest

from app.main import create_app
from app.settings import Settings
from scoring import DEFAULT_MEMBERS, list_scores

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def listing(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("svc")
    with TestClient(create_app(Settings(db=folder / "db.sqlite", data="noise", data_dir=folder / "data"))) as http:
        response = http.get("/v1/scores")
    assert response.status_code == 200, response.text
    return response.json()


def test_every_registered_score_is_listed_with_its_metadata(listing):
    shown = {s["name"]: s for s in listing["scores"]}
    for info in list_scores():
        assert shown.get(info.name) == info.to_json(), f"GET /v1/scores shows {info.name!r} differently from the registry"


def test_the_listing_names_the_default_ensemble_members(listing):
    assert listing["ensemble"]["default_members"] == list(DEFAULT_MEMBERS)
    assert listing["ensemble"]["reference_size"] >= 1
