"""Inputs and faults that used to break the service: each now gets a clear 4xx, or the service recovers from it."""

from __future__ import annotations

import json
import sqlite3
import threading
import time

import pytest
from fastapi.testclient import TestClient
from helpers import ConstantScorer, fake_app, until

import app.service.core
from app.records import DataRef, JobRecord, JobRequest
from app.store import open_store
from scoring import ScoredArch
from searchspace import get_space

NB201 = get_space("nb201")
DARTS_EXAMPLE = get_space("darts").describe()["example"]
SMALL = {"data": "noise", "batch_size": 8}


def wait_ready(http: TestClient) -> None:
    until(lambda: http.get("/readyz").status_code == 200, what="readiness")


def detail(response) -> list[dict]:
    return response.json()["detail"]


# -- searches that cannot find anything ------------------------------------------------------------


def test_max_draws_per_eval_beyond_its_maximum_is_refused(tmp_path):
    body = {"strategy": "random", "budget": 1, "constraints": {"max_params": 1}, "max_draws_per_eval": 10**12, **SMALL}
    with TestClient(fake_app(tmp_path)) as http:
        response = http.post("/v1/searches", json=body)
    assert response.status_code == 422, response.text
    assert detail(response)[0]["loc"] == ["body", "max_draws_per_eval"], "the error names the parameter"


def test_a_search_that_nothing_satisfies_stops_when_cancelled(tmp_path):
    body = {"strategy": "random", "budget": 20000, "constraints": {"max_params": 1}, "max_draws_per_eval": 10000, **SMALL}
    with TestClient(fake_app(tmp_path, max_running_jobs=1)) as http:
        job = http.post("/v1/searches", json=body).json()
        until(lambda: http.get(f"/v1/searches/{job['id']}").json()["status"] == "running", what="running")
        assert http.delete(f"/v1/searches/{job['id']}").status_code == 200
        # generous: the first cost count in a fresh process imports much of torch (seconds on a busy machine)
        until(lambda: http.get(f"/v1/searches/{job['id']}").json()["status"] == "cancelled", timeout=60, what="cancelled")
        follower = http.post("/v1/searches", json={"budget": 3, **SMALL}).json()
        until(lambda: http.get(f"/v1/searches/{follower['id']}").json()["status"] == "done", what="the next search done")


def stored_job(tmp_path, status: str = "done", **fields) -> str:
    """A job written to the database before the app starts (no search runs for it); its id."""
    store = open_store(tmp_path / "db.sqlite")
    request = JobRequest(space="nb201", strategy="random", budget=10, top_k=3, seed=0, data="noise", batch_size=8)
    data = DataRef(name="noise", spec="noise", identity="gaussian:3x32x32", synthetic=True)
    store.create_job(JobRecord(id="old", status=status, request=request, data=data, created_at=time.time(), started_at=time.time(), **fields))
    store.close()
    return "old"


def test_a_cancel_requested_before_a_restart_is_honoured_at_recovery(tmp_path):
    stored_job(tmp_path, "running", cancel_requested=True)
    with TestClient(fake_app(tmp_path)) as http:
        status = http.get("/v1/searches/old").json()
    assert (status["status"], status["resumed"]) == ("cancelled", 0), "the job must end cancelled, not resume"


# -- a locked database and a dying worker ----------------------------------------------------------


def test_a_locked_database_fails_only_the_new_items_and_readiness_tells_the_truth_at_once(tmp_path):
    fresh = NB201.sample(2, seed=1, unique=True)
    with TestClient(fake_app(tmp_path, db_busy_timeout=0.5)) as http:
        wait_ready(http)
        locker = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")
        try:
            started = time.monotonic()
            refused = http.post("/v1/score", json={"archs": fresh, **SMALL})
            answered = time.monotonic() - started
            checked = time.monotonic()
            readiness = http.get("/readyz")
            check_seconds = time.monotonic() - checked
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        after = http.post("/v1/score", json={"archs": fresh, **SMALL})
        ready_after = http.get("/readyz")
    assert refused.status_code == 503 and answered < 2.0, f"{refused.status_code} after {answered:.1f} s"
    assert [(d["loc"], d["type"]) for d in detail(refused)] == [(["body", "archs", i], "store_unavailable") for i in range(2)]
    assert readiness.status_code == 503 and check_seconds < 1.0, f"/readyz {readiness.status_code} after {check_seconds:.2f} s"
    assert any("locked" in r for r in readiness.json()["reasons"]), readiness.json()["reasons"]
    assert after.status_code == 200 and ready_after.status_code == 200, "the worker must live on once the lock is gone"


class Doomed(BaseException):
    """Kills the worker thread: not an Exception, so no ordinary handler catches it."""


class DyingOnce:
    """A scorer factory whose first scorer kills the worker thread, then scores normally."""

    def __init__(self):
        self.calls = 0

    def __call__(self, spec, device):
        self.calls += 1
        if self.calls == 1:
            raise Doomed("simulated crash of the worker thread")
        return ConstantScorer()


def test_a_dead_worker_fails_its_batch_turns_readiness_503_and_is_restarted(tmp_path, monkeypatch):
    monkeypatch.setattr(app.service.core, "SUPERVISE_SECONDS", 3600.0)  # the test runs the supervisor's check itself
    application = fake_app(tmp_path, scorer_factory=DyingOnce())
    with TestClient(application) as http:
        wait_ready(http)
        lost = http.post("/v1/score", json={"archs": [NB201.sample(1, seed=2)[0]], **SMALL})
        dead = http.get("/readyz")
        restarted = application.state.service.supervise()
        served = http.post("/v1/score", json={"archs": [NB201.sample(1, seed=3)[0]], **SMALL})
        ready = http.get("/readyz")
    assert lost.status_code == 503, f"the batch of the dying thread must fail, got {lost.status_code}"
    assert dead.status_code == 503 and "worker thread died" in " ".join(dead.json()["reasons"]), dead.json()
    assert restarted == ["cpu"], "the supervisor restarts the dead worker"
    assert served.status_code == 200 and ready.status_code == 200, "the restarted worker serves"


# -- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arch",
    [DARTS_EXAMPLE.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(2, 1000000)"),
     DARTS_EXAMPLE.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(2, 0x" + "f" * 40 + ")"),
     "-" * 9000 + "1", "f" + "()" * 4900],
    ids=["range-million", "range-overflow", "unary-run", "call-chain"],
)
def test_pathological_darts_text_gets_a_short_422(tmp_path, arch):
    with TestClient(fake_app(tmp_path)) as http:
        response = http.post("/v1/score", json={"space": "darts", "archs": [arch], **SMALL})
    assert response.status_code == 422, response.text[:300]
    assert len(response.content) < 2000, f"a {len(response.content)}-byte error body"
    assert detail(response)[0]["loc"] == ["body", "archs", 0]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("path", ["/v1/score", "/v1/searches", "/v1/spaces/nb201/sample"])
def test_json_with_nan_or_infinity_gets_422(tmp_path, constant, path):
    with TestClient(fake_app(tmp_path)) as http:
        response = http.post(path, content=f'{{"archs": [{constant}], "seed": {constant}}}', headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text[:300]
    assert detail(response)[0]["type"] == "json_invalid" and constant.lstrip("-") in detail(response)[0]["msg"]


@pytest.mark.parametrize(
    "path", ["/v1/searches?offset=9223372036854775808", "/v1/searches/{id}/evaluations?after=9223372036854775808",
             "/v1/searches?limit=99999999999999999999"],
)
def test_integer_query_parameters_beyond_the_database_range_get_422(tmp_path, path):
    job_id = stored_job(tmp_path)
    with TestClient(fake_app(tmp_path)) as http:
        response = http.get(path.format(id=job_id))
    assert response.status_code == 422, response.text[:300]


@pytest.mark.parametrize("last_event_id", ["99999999999999999999", "9" * 5000, "²", "-1", "1e3"])
def test_a_bad_last_event_id_gets_422_naming_the_header(tmp_path, last_event_id):
    job_id = stored_job(tmp_path)
    with TestClient(fake_app(tmp_path)) as http:
        response = http.get(f"/v1/searches/{job_id}/events", headers={"Last-Event-ID": last_event_id.encode()})
    assert response.status_code == 422, response.text[:300]
    assert detail(response)[0]["loc"][:2] == ["header", "last-event-id"]


def test_unknown_http_methods_share_one_metrics_label(tmp_path):
    with TestClient(fake_app(tmp_path)) as http:
        for method in ("FOO1", "FOO2", "BREW"):
            assert http.request(method, "/healthz").status_code == 405
        metrics = http.get("/metrics").text
    assert "FOO1" not in metrics and "BREW" not in metrics, "each unknown method made its own series"
    assert 'method="other"' in metrics


def test_a_422_repeats_only_a_bounded_prefix_of_a_huge_encoding(tmp_path):
    with TestClient(fake_app(tmp_path)) as http:
        response = http.post("/v1/score", json={"archs": ["x" * 1_000_000], **SMALL})
    assert response.status_code == 422
    assert len(response.content) < 2000, f"a {len(response.content)}-byte error body for a 1 MB input"


# -- event streams -------------------------------------------------------------------------------


def test_event_streams_beyond_the_limit_get_429_and_a_finished_stream_frees_its_slot(tmp_path):
    job_id = stored_job(tmp_path)
    with TestClient(fake_app(tmp_path, max_event_streams=1)) as http:
        notifier = http.app.state.service.jobs.notifier
        with notifier.stream():  # another client holds the only slot
            refused = http.get(f"/v1/searches/{job_id}/events")
        streamed = http.get(f"/v1/searches/{job_id}/events")
        open_after = notifier.streams
    assert refused.status_code == 429 and detail(refused)[0]["type"] == "too_many_streams"
    assert streamed.status_code == 200 and "event: end" in streamed.text
    assert open_after == 0, "the finished stream kept its slot"


def test_a_job_change_wakes_its_streams_without_polling():
    import asyncio

    from app.service.notify import JobNotifier

    notifier = JobNotifier(max_streams=2)

    async def follow() -> tuple[bool, float]:
        started = time.monotonic()
        threading.Timer(0.05, notifier.bump, args=("job",)).start()
        woken = await notifier.changed("job", notifier.version("job"), timeout=5)
        return woken, time.monotonic() - started

    woken, seconds = asyncio.run(follow())
    assert woken and seconds < 1.0, f"woken={woken} after {seconds:.2f} s"
    assert asyncio.run(notifier.changed("quiet", 0, timeout=0.05)) is False, "no change, no wake-up"


# -- data sources ----------------------------------------------------------------------------------


def test_a_data_source_that_failed_is_not_retried_until_its_retry_time(tmp_path, monkeypatch):
    import app.service.sources as sources_module
    from app.settings import Settings

    attempts = []

    def failing(spec, data_dir, download):
        attempts.append(spec)
        raise OSError("download failed: network unreachable")

    monkeypatch.setattr(sources_module, "open_source", failing)
    now = [0.0]
    sources = sources_module.Sources(Settings(data_dir=tmp_path, download=True, data_retry_seconds=60), clock=lambda: now[0])
    for at in (0.0, 1.0, 59.0, 61.0):
        now[0] = at
        with pytest.raises(sources_module.SourceUnavailable):
            sources.open_spec("cifar10")
    assert attempts == ["cifar10", "cifar10"], f"loads attempted: {attempts} (at 0 s and again after 60 s only)"


def test_scored_archs_unchanged_through_json(tmp_path):
    """The score record answers with null for a singular score and the value otherwise (one conversion)."""

    class Singular(ConstantScorer):
        def score_many(self, archs):
            for arch in archs:
                yield ScoredArch(arch, {"naswot": float("-inf")}, {"params": 1, "flops": 1}, 0.0)

    with TestClient(fake_app(tmp_path, scorer_factory=Singular)) as http:
        result = http.post("/v1/score", json={"archs": [[0, 0, 0, 0, 0, 0]], **SMALL}).json()["results"][0]
    assert (result["score"], result["singular"]) == (None, True)
    json.dumps(result, allow_nan=False)
