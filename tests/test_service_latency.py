"""Latency over HTTP: ``costs: ["latency_ms"]`` in score requests, ``max_latency_ms`` in searches, and the 422s
for what the server cannot take."""

from __future__ import annotations

import time

import pytest
from helpers import serve
from test_latency import FixedMeter, fixed_latency

from scoring import cpu_model, device_identity

BODY = {"space": "nb201", "data": "noise", "batch_size": 8}
ARCHS = [[0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1]]


@pytest.fixture
def http(tmp_path):
    with serve(tmp_path, latency_threads=1) as client:
        yield client


@pytest.fixture
def fixed_meter(monkeypatch):
    """Device workers time latencies with :class:`FixedMeter` (no clock) instead of a real forward pass."""
    FixedMeter.timed = []
    monkeypatch.setattr(
        "app.service.latency.LatencyMeter", lambda space, source, device, *, batch, threads: FixedMeter(device_identity(device, threads)),
    )


def test_costs_latency_ms_adds_a_positive_measured_figure_per_architecture(http):
    response = http.post("/v1/score", json={**BODY, "archs": ARCHS, "costs": ["latency_ms"]})
    assert response.status_code == 200, response.text
    body = response.json()
    figures = [r["latency_ms"] for r in body["results"]]
    assert len(figures) == len(ARCHS) and all(isinstance(f, float) and f > 0 for f in figures), figures
    assert cpu_model() in body["latency_device"] and "torch threads: 1" in body["latency_device"]


def test_without_costs_no_latency_is_measured(http):
    body = http.post("/v1/score", json={**BODY, "archs": ARCHS}).json()
    assert [r["latency_ms"] for r in body["results"]] == [None, None] and body["latency_device"] is None


@pytest.mark.parametrize(("field", "value", "loc"), [
    ("costs", ["latency"], ["body", "costs", 0]),
    ("costs", ["latency_ms", "watts"], ["body", "costs", 1]),
    ("latency_batch", 0, ["body", "latency_batch"]),
    ("latency_batch", 4096, ["body", "latency_batch"]),
])
def test_a_bad_latency_field_of_a_score_request_is_a_422_naming_it(http, field, value, loc):
    response = http.post("/v1/score", json={**BODY, "archs": ARCHS, "costs": ["latency_ms"], field: value})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == loc, response.text


@pytest.mark.parametrize("limit", [0, -1, -0.5])
def test_a_latency_bound_that_is_not_positive_is_a_422_naming_it(http, limit):
    response = http.post("/v1/searches", json={**BODY, "budget": 5, "constraints": {"max_latency_ms": limit}})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "constraints", "max_latency_ms"], response.text


def finished(http, job_id: str) -> dict:
    deadline = time.monotonic() + 60
    while (job := http.get(f"/v1/searches/{job_id}").json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, "the search did not finish"
        time.sleep(0.05)
    return job


def test_a_search_job_honours_max_latency_ms_and_shows_each_latency(http, fixed_meter):
    limit = 20.0
    response = http.post("/v1/searches", json={**BODY, "strategy": "random", "budget": 30, "constraints": {"max_latency_ms": limit}})
    assert response.status_code == 202, response.text
    job = finished(http, response.json()["id"])
    assert job["status"] == "done" and job["outcome"]["rejected"] > 0, job
    evaluations = http.get(f"/v1/searches/{job['id']}/evaluations").json()["evaluations"]
    assert len(evaluations) == 30
    for e in evaluations:
        assert e["latency_ms"] == fixed_latency(e["arch"]) <= limit, f"{e['arch']} broke max_latency_ms={limit}"
    assert all(e["latency_ms"] is not None for e in job["top"]), "the top list shows each latency"


def test_a_search_without_a_latency_bound_measures_none(http, fixed_meter):
    job = finished(http, http.post("/v1/searches", json={**BODY, "strategy": "random", "budget": 5}).json()["id"])
    assert job["status"] == "done" and FixedMeter.timed == [] and all(e["latency_ms"] is None for e in job["top"])


def test_the_report_of_a_search_minimising_latency_has_its_front_over_latency(http, fixed_meter):
    body = {**BODY, "strategy": "random", "budget": 12, "minimize": ["latency_ms"]}
    job = finished(http, http.post("/v1/searches", json=body).json()["id"])
    assert job["status"] == "done", job
    front = http.get(f"/v1/searches/{job['id']}/report").json()["front"]
    assert front["costs"] == ["latency_ms"], f"the summary front of a latency search is over {front['costs']}"
