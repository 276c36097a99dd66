"""HTTP hardening, in-process and on a loopback server: 503 while the database is unavailable (the connection
survives), security headers on every response, a depth limit on JSON bodies, full ``Allow`` headers, and JSON
error bodies documented on the event stream."""

from __future__ import annotations

import base64
import hashlib
import re
import sqlite3
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from live_server import live_server, paced_scorers
from test_service_hardening import stored_job, wait_ready

from app.api.errors import MAX_JSON_DEPTH
from app.api.headers import SECURITY_HEADERS
from app.store import StoreError
from helpers import fake_app

SMALL = {"data": "noise", "batch_size": 8}


def detail(response: httpx.Response) -> list[dict]:
    return response.json()["detail"]


def local_port(response: httpx.Response) -> int | None:
    """The client-side port of the connection that carried ``response`` (None once the server closed it)."""
    try:
        return response.extensions["network_stream"].get_extra_info("client_addr")[1]
    except OSError:
        return None


# -- the database unavailable: 503 --------------------------------------------------------------------


def test_a_locked_database_gives_503_with_retry_after_and_keeps_the_connection(tmp_path):
    with live_server(tmp_path, paced_scorers(), db_busy_timeout=0.2) as url, httpx.Client(base_url=url, timeout=30) as http:
        until_ready = time.monotonic() + 30
        while http.get("/readyz").status_code != 200:
            assert time.monotonic() < until_ready, "the server never became ready"
        locker = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            refused = http.post("/v1/searches", json={"budget": 3, **SMALL})
            refused_on = local_port(refused)
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        after = http.get("/healthz")
        after_on = local_port(after)
    assert refused.status_code == 503, refused.text[:300]
    assert refused.headers["Retry-After"] == "5"
    assert [(d["loc"], d["type"]) for d in detail(refused)] == [(["server"], "store_unavailable")]
    assert after.status_code == 200 and after_on == refused_on, "the server dropped the keep-alive connection after the 503"


def unreachable(*_args, **_kwargs):
    raise StoreError("cannot connect to postgresql://db/naswot: connection refused")


@pytest.mark.parametrize(
    ("method", "path", "store_method"),
    [("POST", "/v1/searches", "create_job"), ("GET", "/v1/searches", "list_jobs"), ("GET", "/v1/searches/old", "get_job"),
     ("DELETE", "/v1/searches/old", "get_job"), ("GET", "/v1/searches/old/evaluations", "evaluations"),
     ("GET", "/v1/searches/old/events", "get_job")],
)
def test_an_unreachable_database_gives_503_on_every_search_route(tmp_path, monkeypatch, method, path, store_method):
    stored_job(tmp_path)
    application = fake_app(tmp_path)
    with TestClient(application, raise_server_exceptions=True) as http:
        monkeypatch.setattr(application.state.service.store, store_method, unreachable)
        response = http.request(method, path, json={"budget": 3, **SMALL} if method == "POST" else None)
    assert response.status_code == 503, f"{method} {path}: {response.status_code} {response.text[:300]}"
    assert response.headers["Retry-After"] == "5" and detail(response)[0]["type"] == "store_unavailable"
    assert "connection refused" in detail(response)[0]["msg"], "the 503 says why"


def test_a_stream_whose_database_becomes_unavailable_ends_with_an_error_event(tmp_path, monkeypatch):
    stored_job(tmp_path)
    application = fake_app(tmp_path)
    with TestClient(application) as http:
        monkeypatch.setattr(application.state.service.store, "evaluations", unreachable)
        response = http.get("/v1/searches/old/events")
    events = re.findall(r"^event: (\w+)$", response.text, re.MULTILINE)
    assert response.status_code == 200 and events == ["status", "error"], response.text[:500]
    assert "store_unavailable" in response.text and "retry: 5000" in response.text


# -- security headers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("GET", "/", None), ("GET", "/dashboard/app.js", None), ("GET", "/v1/spaces", None), ("GET", "/openapi.json", None),
     ("GET", "/healthz", None), ("GET", "/metrics", None), ("GET", "/nope", None), ("POST", "/v1/score", {"archs": ["x"], **SMALL}),
     ("POST", "/v1/score", {"archs": ["x" * 2_000_000]}), ("GET", "/v1/searches/old/events", None), ("PUT", "/v1/searches/old", None)],
    ids=["dashboard", "script", "api", "openapi", "health", "metrics", "404", "422", "413", "event-stream", "405"],
)
def test_every_response_carries_the_security_headers(tmp_path, method, path, body):
    stored_job(tmp_path)
    with TestClient(fake_app(tmp_path)) as http:
        response = http.request(method, path, json=body)
    missing = {name: response.headers.get(name) for name, value in SECURITY_HEADERS.items() if response.headers.get(name) != value}
    assert not missing, f"{method} {path} ({response.status_code}) lacks or changes: {missing}"


def test_the_policy_allows_only_the_servers_own_scripts_and_styles_and_no_framing():
    policy = dict(part.split(" ", 1) for part in SECURITY_HEADERS["Content-Security-Policy"].split("; "))
    assert (policy["script-src"], policy["style-src"], policy["frame-ancestors"]) == ("'self'", "'self'", "'none'")
    assert "unsafe" not in SECURITY_HEADERS["Content-Security-Policy"]


def test_a_500_carries_the_security_headers_too(tmp_path, monkeypatch):
    import app.api.spaces

    monkeypatch.setattr(app.api.spaces, "load_all", lambda: 1 / 0)
    with TestClient(fake_app(tmp_path), raise_server_exceptions=False) as http:
        response = http.get("/v1/spaces")
    assert response.status_code == 500 and response.headers.get("X-Frame-Options") == "DENY", response.headers


def test_the_docs_page_allows_its_one_inline_script_by_hash_and_nothing_inline_else(tmp_path):
    with TestClient(fake_app(tmp_path)) as http:
        response = http.get("/docs")
    policy = response.headers["Content-Security-Policy"]
    inline = re.search(rb"<script>(.*?)</script>", response.content, re.DOTALL).group(1)
    digest = base64.b64encode(hashlib.sha256(inline).digest()).decode()
    assert f"'sha256-{digest}'" in policy and "unsafe" not in policy and "frame-ancestors 'none'" in policy, policy


# -- bodies, methods, documented errors ----------------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 990, 5000])
@pytest.mark.parametrize("path", ["/v1/score", "/v1/searches", "/v1/spaces/nb201/sample"])
def test_json_nested_too_deep_gets_422_naming_where(tmp_path, path, depth):
    body = '{"archs": ' + "[" * depth + "]" * depth + "}"
    with TestClient(fake_app(tmp_path)) as http:
        response = http.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text[:300]
    item = detail(response)[0]
    assert item["type"] == "json_invalid" and f"deeper than {MAX_JSON_DEPTH}" in item["msg"]
    assert item["loc"] == ["body", len('{"archs": ') + MAX_JSON_DEPTH - 1], "loc names the bracket that opens one level too many"


def test_json_at_the_depth_limit_is_parsed(tmp_path):
    depth = MAX_JSON_DEPTH - 1  # the body object is one level
    with TestClient(fake_app(tmp_path)) as http:
        response = http.post("/v1/score", content='{"archs": ' + "[" * depth + "]" * depth + "}", headers={"content-type": "application/json"})
    assert response.status_code == 422 and detail(response)[0]["type"] != "json_invalid", response.text[:300]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("OPTIONS", "/v1/searches/old", "GET, DELETE"), ("PUT", "/v1/searches/old", "GET, DELETE"),
     ("OPTIONS", "/v1/searches", "GET, POST"), ("DELETE", "/healthz", "GET"), ("POST", "/dashboard/app.js", "GET, HEAD")],
)
def test_a_405_names_every_method_the_path_takes(tmp_path, method, path, allowed):
    with TestClient(fake_app(tmp_path)) as http:
        response = http.request(method, path)
    assert response.status_code == 405 and response.headers["Allow"] == allowed, (response.status_code, response.headers.get("Allow"))


def test_a_405_has_the_documented_error_shape(tmp_path):
    with TestClient(fake_app(tmp_path)) as http:
        response = http.request("PUT", "/v1/searches/old")
    assert [(d["loc"], d["type"]) for d in detail(response)] == [(["method"], "method_not_allowed")]


def test_the_event_streams_404_is_a_documented_json_error(tmp_path):
    with TestClient(fake_app(tmp_path)) as http:
        documented = http.get("/openapi.json").json()["paths"]["/v1/searches/{search_id}/events"]["get"]["responses"]
        response = http.get("/v1/searches/missing/events")
    assert documented["404"]["content"] == {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
    assert set(documented["200"]["content"]) == {"text/event-stream"}
    assert response.status_code == 404 and response.headers["content-type"] == "application/json"
    assert [(d["loc"], d["type"]) for d in detail(response)] == [(["path", "search_id"], "not_found")]


def test_a_key_in_the_query_string_is_not_accepted(tmp_path):
    with TestClient(fake_app(tmp_path, api_key="k3y")) as http:
        wait_ready(http)
        response = http.get("/v1/spaces?api_key=k3y")
    assert response.status_code == 401, "only the Authorization header carries the key"
