"""HTTP edges found by a review (issue 31): text no answer could carry, numbers past Python's digit limit,
oversized headers, the server's own refusals, secrets in logged URLs, and what unauthenticated callers learn."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from helpers import fake_app

ROUTES = ["/v1/score", "/v1/searches", "/v1/spaces/nb201/sample"]


def post(http: TestClient, path: str, body: str):
    return http.post(path, content=body.encode(), headers={"content-type": "application/json"})


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("/v1/score", '{"archs": ["\\ud800"]}', ["body", "archs", 0]),
        ("/v1/score", '{"archs": ["x"], "data": "no\\udfffise"}', ["body", "data"]),
        ("/v1/searches", '{"space": "nb201", "strategy": "\\udbff"}', ["body", "strategy"]),
        ("/v1/searches", '{"constraints": {"\\ud800": 1}}', ["body", "constraints", "\ud800"]),
        ("/v1/spaces/nb201/sample", '{"n": 1, "\\udc00x": 2}', ["body", "\udc00x"]),
    ],
)
def test_a_lone_surrogate_in_a_string_is_a_422_naming_the_field(tmp_path, path, body, loc):
    with TestClient(fake_app(tmp_path), raise_server_exceptions=False) as http:
        response = post(http, path, body)
    assert response.status_code == 422, f"{path}: {response.status_code} {response.text[:200]}"
    [item] = response.json()["detail"]
    assert item["type"] == "string_unicode" and "lone surrogate" in item["msg"], item
    assert item["loc"] == [part.encode("utf-8", "backslashreplace").decode() if isinstance(part, str) else part for part in loc], item


def test_a_surrogate_pair_is_one_character_and_accepted(tmp_path):
    with TestClient(fake_app(tmp_path)) as http:
        response = post(http, "/v1/score", '{"archs": ["\\ud83d\\ude00"]}')
    assert response.status_code == 422 and response.json()["detail"][0]["type"] == "encoding_error", response.text[:300]


@pytest.mark.parametrize("path", ROUTES)
def test_an_integer_past_the_digit_limit_is_json_invalid_at_its_position(tmp_path, path):
    prefix = '{"seed": '
    with TestClient(fake_app(tmp_path)) as http:
        response = post(http, path, prefix + "7" * 5000 + "}")
    assert response.status_code == 422, f"{path}: {response.status_code} {response.text[:200]}"
    [item] = response.json()["detail"]
    assert item["type"] == "json_invalid" and item["loc"] == ["body", len(prefix)] and "4300 digits" in item["msg"], item


@pytest.mark.parametrize(
    "query",
    ["api_key=LEAK1", "api%5Fkey=LEAK1", "API%5fKEY=LEAK1", "%61pi_key=LEAK1", "x=1&tok%65n=LEAK1", "x=1;key=LEAK1", "access%5Ftoken=LEAK1&y=2"],
)
def test_a_secret_query_parameter_is_redacted_in_the_access_log_however_its_name_is_encoded(query):
    import logging

    from app.api.httpserver import RedactSecrets

    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "GET", f"/healthz?{query}", "1.1", 200), None)
    RedactSecrets().filter(record)
    assert "LEAK1" not in record.getMessage() and "***" in record.getMessage(), record.getMessage()


def test_other_query_parameters_are_logged_as_sent():
    from app.api.httpserver import redact

    assert redact("/v1/searches?keyboard=1&monkey=2&key_id=3") == "/v1/searches?keyboard=1&monkey=2&key_id=3"


#: what a PostgreSQL driver says when the database is down: its host, port, user and name
DOWN = 'connection to server at "db.internal" (10.0.0.5), port 5433 failed: FATAL: password authentication failed for user "naswot" database "jobs"'


@pytest.mark.parametrize(("authorization", "shown"), [(None, False), ("Bearer wrong", False), ("Bearer k3y", True)])
def test_readyz_says_database_unavailable_without_its_location_unless_the_caller_has_the_key(tmp_path, monkeypatch, authorization, shown):
    with TestClient(fake_app(tmp_path, api_key="k3y")) as http:
        monkeypatch.setattr(http.app.state.service.store, "problem", lambda: DOWN)
        response = http.get("/readyz", headers={"Authorization": authorization} if authorization else {})
    assert response.status_code == 503 and "database: unavailable" in " ".join(response.json()["reasons"]) or shown, response.text
    leaked = [part for part in ("db.internal", "10.0.0.5", "5433", '"naswot"', '"jobs"') if part in response.text]
    assert bool(leaked) == shown, f"/readyz with {authorization!r} shows {leaked}"


def test_a_missing_data_source_does_not_show_the_servers_data_directory(tmp_path):
    with TestClient(fake_app(tmp_path)) as http:
        answers = [http.post("/v1/score", json={"archs": [[0] * 6], "data": "cifar10"}), http.post("/v1/searches", json={"data": "cifar10"})]
    for answer in answers:
        assert answer.status_code == 422, answer.text
        [item] = answer.json()["detail"]
        assert item["loc"] == ["body", "data"] and "not available on this server" in item["msg"], item
        assert str(tmp_path) not in answer.text and "$NASWOT_DATA_DIR/cifar-10-batches-py not found" in item["msg"], item["msg"]
