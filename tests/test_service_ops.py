"""Operations through the ASGI app: auth on and off, health, readiness, metrics, OpenAPI, spaces, settings."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from helpers import serve

from app.client import ApiError, Client
from app.settings import Settings, SettingsError
from scoring import kernels
from searchspace import get_space, list_spaces

KEY = "s3cret-key"


def wait_for_data(client: Client, timeout: float = 60.0) -> dict:
    """/readyz once the default data source has loaded or failed (it loads in the background) and every device
    worker has started (it measures its product kernel first)."""
    deadline = time.monotonic() + timeout
    while ((ready := client.ready())["data"] is None and ready["data_error"] is None) or not all(
        d["ready"] or d["error"] for d in ready["devices"]
    ):
        assert time.monotonic() < deadline, ready
        time.sleep(0.05)
    return ready


PROTECTED = [
    ("GET", "/v1/spaces", None),
    ("POST", "/v1/spaces/nb201/sample", {"n": 2}),
    ("POST", "/v1/score", {"archs": [[0, 0, 0, 0, 0, 0]], "batch_size": 2}),
    ("GET", "/v1/searches", None),
    ("POST", "/v1/searches", {"budget": 1, "batch_size": 2}),
    ("GET", "/v1/searches/x", None),
    ("DELETE", "/v1/searches/x", None),
    ("GET", "/v1/searches/x/events", None),
    ("GET", "/v1/strategies", None),
    ("GET", "/metrics", None),
    ("GET", "/openapi.json", None),
    ("GET", "/docs", None),
]


def test_with_an_api_key_every_route_but_health_needs_the_bearer_token(tmp_path):
    with serve(tmp_path, api_key=KEY) as http:
        for method, path, body in PROTECTED:
            response = http.request(method, path, json=body)
            assert response.status_code == 401, path
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert response.json()["detail"][0]["loc"] == ["header", "Authorization"]
        wrong = http.get("/v1/spaces", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["detail"][0]["msg"] == "wrong API key"
        assert http.get("/v1/spaces", headers={"Authorization": f"Basic {KEY}"}).status_code == 401
        assert http.get("/healthz").status_code == 200
        assert http.get("/readyz").status_code in (200, 503)
        client = Client(http=http, api_key=KEY)
        assert [s["name"] for s in client.spaces()] == list_spaces()
        assert "naswot_http_requests_total" in client.metrics()
        assert http.get("/openapi.json").json()["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
        assert "swagger-ui" in http.get("/docs").text


def test_without_an_api_key_everything_is_open(tmp_path):
    with serve(tmp_path) as http:
        for method, path, body in PROTECTED:
            assert http.request(method, path, json=body).status_code != 401, path


def test_health_readiness_and_metrics(tmp_path):
    with serve(tmp_path) as http:
        client = Client(http=http)
        assert client.health()["status"] == "ok"
        ready = wait_for_data(client)
        assert ready["ready"] and ready["database"] and ready["data"]["spec"] == "noise" and ready["data"]["synthetic"]
        assert ready["devices"][0]["device"] == "cpu" and ready["devices"][0]["ready"]
        assert ready["devices"][0]["gram_kernel"] == kernels.choice("cpu").to_json(), "the worker's measured product kernel"
        client.spaces()
        text = client.metrics()
        for name in ("naswot_http_requests_total", "naswot_http_request_seconds", "naswot_queue_depth", "naswot_scores_computed_total",
                     "naswot_cache_hits_total", "naswot_score_seconds", "naswot_jobs"):
            assert name in text, name
        assert 'naswot_http_requests_total{method="GET",route="/v1/spaces",status="200"} 1.0' in text
        assert http.get("/metrics").headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize("mode", kernels.KERNELS)
def test_readiness_shows_the_kernel_the_setting_forces(tmp_path, mode):
    with serve(tmp_path, gram_kernel=mode) as http:
        device = wait_for_data(Client(http=http))["devices"][0]
        assert (device["gram_kernel"]["kernel"], device["gram_kernel"]["how"]) == (mode, "override"), device


def test_not_ready_while_the_default_data_cannot_be_loaded(tmp_path):
    with serve(tmp_path, data="cifar100") as http:  # nothing under the empty data directory, downloads off
        wait_for_data(Client(http=http))
        response = http.get("/readyz")
        assert response.status_code == 503 and response.json()["ready"] is False
        assert "not available" in response.json()["data_error"]
        assert http.get("/healthz").status_code == 200  # alive all the same


def test_spaces_and_seeded_sampling(tmp_path):
    with serve(tmp_path, max_archs=50) as http:
        client = Client(http=http)
        nb201 = next(s for s in client.spaces() if s["name"] == "nb201")
        assert nb201["size"] == 15625 and nb201["example"] == get_space("nb201").example and nb201["encoding"]
        assert http.get("/v1/spaces/nb201").json() == nb201
        assert client.sample("nb201", 5, seed=4) == client.sample("nb201", 5, seed=4) == get_space("nb201").sample(5, seed=4)
        assert len(set(client.sample("nb201", 50, seed=1, unique=True))) == 50
        assert http.get("/v1/spaces/nb999").status_code == 404
        assert http.get("/v1/spaces/nb999").json()["detail"][0]["loc"] == ["path", "name"]
        assert http.post("/v1/spaces/nb201/sample", json={"n": 51}).json()["detail"][0]["loc"] == ["body", "n"]
        assert http.post("/v1/spaces/nb201/sample", json={"n": 0}).status_code == 422
        with pytest.raises(ApiError) as info:
            client.sample("nb999", 1)
        assert info.value.status == 404


def test_openapi_is_generated_from_the_schemas(tmp_path):
    with serve(tmp_path) as http:
        spec = http.get("/openapi.json").json()
    assert {"/v1/score", "/v1/searches", "/v1/searches/{search_id}", "/v1/searches/{search_id}/events", "/v1/spaces", "/healthz", "/readyz", "/metrics"} <= set(spec["paths"])
    result = spec["components"]["schemas"]["ScoreResult"]["properties"]
    assert {"arch", "score", "singular", "params", "flops", "seconds", "cached"} <= set(result)
    assert "202" in spec["paths"]["/v1/searches"]["post"]["responses"]
    assert "text/event-stream" in spec["paths"]["/v1/searches/{search_id}/events"]["get"]["responses"]["200"]["content"]


def test_settings_come_from_the_environment_and_name_the_bad_variable(tmp_path):
    env = {
        "NASWOT_DB": str(tmp_path / "x.sqlite"), "NASWOT_PORT": "9001", "NASWOT_DOWNLOAD": "1", "NASWOT_API_KEY": "k",
        "NASWOT_DATA_SOURCES": "c10=cifar10:/data/c10.npz, mine=npz:/data/mine.npz", "NASWOT_MAX_ARCHS": "10", "NASWOT_QUEUE_SIZE": "20",
    }
    settings = Settings.from_env(env)
    assert settings.port == 9001 and settings.download is True and settings.api_key == "k" and settings.max_archs == 10
    assert settings.data_sources == {"c10": "cifar10:/data/c10.npz", "mine": "npz:/data/mine.npz"}
    assert settings.request_sources() == ["auto", "cifar10", "cifar100", "noise", "c10", "mine"]
    assert settings.db_path == str(tmp_path / "x.sqlite")
    defaults = Settings.from_env({})
    assert defaults.data == "auto" and defaults.devices == "auto" and defaults.api_key is None and defaults.db_path.endswith("naswot.sqlite")
    for bad, name in [({"NASWOT_PORT": "eighty"}, "NASWOT_PORT"), ({"NASWOT_DATA_SOURCES": "nonsense"}, "NASWOT_DATA_SOURCES"),
                      ({"NASWOT_DATA_SOURCES": "noise=npz:/x.npz"}, "NASWOT_DATA_SOURCES"), ({"NASWOT_MAX_ARCHS": "2000"}, "NASWOT_MAX_ARCHS"),
                      ({"NASWOT_DOWNLOAD": "maybe"}, "NASWOT_DOWNLOAD")]:
        with pytest.raises(SettingsError, match=name):
            Settings.from_env(bad)


def test_settings_read_the_process_environment_by_exact_upper_case_names(monkeypatch):
    monkeypatch.setenv("NASWOT_PORT", "9002")
    monkeypatch.setenv("NASWOT_SPACES", "a.json, ,b.yaml")
    monkeypatch.setenv("naswot_max_archs", "3")
    monkeypatch.setenv("NASWOT_HOST", "")
    settings = Settings()
    assert (settings.port, settings.spaces, settings.max_archs) == (9002, ["a.json", "b.yaml"], 256), "NASWOT_* only, lists as comma-separated text"
    assert settings.host == "127.0.0.1", "an empty variable counts as unset"
    assert Settings(port=1).port == 1, "keyword arguments win over the environment"


def test_cli_serve_rejects_bad_settings(monkeypatch, capsys):
    from app.cli.main import main

    monkeypatch.setenv("NASWOT_DEVICES", "tpu")
    monkeypatch.setenv("NASWOT_DB", ":memory:")
    assert main(["serve", "--port", "0"]) == 2
    assert "device" in capsys.readouterr().err


def test_the_docs_document_every_setting():
    docs = (Path(__file__).resolve().parent.parent / "docs" / "settings.md").read_text()
    missing = [f"NASWOT_{name.upper()}" for name in Settings.model_fields if f"`NASWOT_{name.upper()}`" not in docs]
    assert missing == [], f"undocumented settings: {missing}; run .venv/bin/python -m app.settings_doc --write docs/settings.md"


def test_every_executor_the_settings_accept_is_registered():
    from typing import get_args

    import app.executors  # noqa: F401  (registers the Ray executor, as app.main does)
    from app.service.executors import executor_names

    accepted = sorted(get_args(Settings.model_fields["executor"].annotation))
    assert executor_names() == accepted, f"NASWOT_EXECUTOR accepts {accepted}, the registry has {executor_names()}"
