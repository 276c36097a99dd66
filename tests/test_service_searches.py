"""Search jobs through the ASGI app: start, follow (status and events), list, cancel, 4xx, resume after a restart.

A deterministic stand-in scorer keeps these fast; the real scorer runs in test_service_score and
test_service_server.
"""

from __future__ import annotations

import time

import pytest
from helpers import FakeScorers, nb201_score, serve, until

from app.client import ApiError, Client
from app.records import DataRef, JobRecord, JobRequest
from app.store import open_store
from scoring import ScoredArch
from search import Constraints, list_strategies, run_search
from searchspace import get_space

SPACE = get_space("nb201")


def expected(budget: int, seed: int, top_k: int = 10, **kwargs):
    return run_search("random", SPACE, lambda archs: [nb201_score(a) for a in archs], budget=budget, seed=seed, top_k=top_k, **kwargs)


BODY = {"data": "noise", "batch_size": 8}


def test_search_runs_to_the_same_result_as_the_library(tmp_path):
    with serve(tmp_path, FakeScorers()) as http:
        client = Client(http=http)
        response = http.post("/v1/searches", json={**BODY, "strategy": "random", "budget": 40, "top_k": 5, "seed": 7})
        assert response.status_code == 202
        job = response.json()
        assert response.headers["Location"] == f"/v1/searches/{job['id']}" == job["status_url"]
        assert job["status"] in ("queued", "running") and job["progress"]["budget"] == 40
        final = client.wait(job["id"], timeout=60, poll=0.05)
        want = expected(40, seed=7, top_k=5)
        assert final["status"] == "done" and final["progress"] == {"evaluated": 40, "budget": 40, "batch": None}
        assert [t["arch"] for t in final["top"]] == [e.arch for e in want.top]
        assert [t["params"] for t in final["top"]] == [e.params for e in want.top]
        assert final["best"] == final["top"][0] and set(final["top"][0]) >= {"arch", "score", "params", "flops"}
        assert final["outcome"]["stopped"] is False and final["elapsed"] >= 0
        history = client.evaluations(job["id"])
        assert [(e["step"], e["arch"]) for e in history] == [(e.step, e.arch) for e in want.history]
        assert [s["id"] for s in client.searches()] == [job["id"]]
        assert client.searches(status="running") == []


def test_event_stream_carries_status_every_evaluation_and_the_end(tmp_path):
    with serve(tmp_path, FakeScorers(delay=0.005)) as http:
        client = Client(http=http)
        job = client.start_search(**BODY, budget=12, seed=1)
        events = list(client.events(job["id"]))
        assert events[0].event == "status"
        steps = [int(e.id) for e in events if e.event == "evaluation"]
        assert steps == list(range(1, 13))
        assert any(e.event == "progress" for e in events)
        assert events[-1].event == "end" and events[-1].data["status"] == "done"
        assert events[-1].data["progress"] == {"evaluated": 12, "budget": 12, "batch": None}
        # reconnecting with Last-Event-ID sends only what came after
        tail = list(client.events(job["id"], last_event_id="10"))
        assert [int(e.id) for e in tail if e.event == "evaluation"] == [11, 12]


def test_constraints_and_exclude_singular_shape_the_results(tmp_path):
    limit = 600_000
    with serve(tmp_path, FakeScorers()) as http:
        client = Client(http=http)
        job = client.start_search(**BODY, budget=30, seed=3, top_k=30, constraints={"max_params": limit}, exclude_singular=True)
        final = client.wait(job["id"], timeout=60, poll=0.05)
        want = expected(30, seed=3, top_k=30, constraints=Constraints(max_params=limit), exclude_singular=True)
        assert [t["arch"] for t in final["top"]] == [e.arch for e in want.top]
        assert all(t["params"] <= limit and not t["singular"] for t in final["top"])
        assert final["outcome"]["rejected"] == want.rejected > 0


def test_singular_results_rank_last_as_null(tmp_path):
    with serve(tmp_path, FakeScorers()) as http:
        client = Client(http=http)
        final = client.wait(client.start_search(**BODY, budget=400, top_k=400, seed=0)["id"], timeout=120, poll=0.05)
        singular = [t for t in final["top"] if t["singular"]]
        assert singular and all(t["score"] is None for t in singular)
        assert final["top"][-len(singular):] == singular


def test_cancel_a_running_and_a_queued_search(tmp_path):
    scorers = FakeScorers(gated=True)
    with serve(tmp_path, scorers, max_running_jobs=1) as http:
        client = Client(http=http)
        running = client.start_search(**BODY, budget=50, seed=1)
        waiting = client.start_search(**BODY, budget=50, seed=2)
        until(lambda: client.search(running["id"])["status"] == "running")
        assert client.search(waiting["id"])["status"] == "queued"
        queued_cancel = client.cancel(waiting["id"])
        assert queued_cancel["status"] == "cancelled"
        asked = client.cancel(running["id"])
        assert asked["cancel_requested"] is True and asked["status"] in ("running", "cancelled")
        scorers.gate.set()
        final = client.wait(running["id"], timeout=30, poll=0.05)
        assert final["status"] == "cancelled" and final["progress"]["evaluated"] < 50
        assert client.cancel(running["id"])["status"] == "cancelled"  # idempotent
        with pytest.raises(ApiError) as info:  # a finished job cannot be cancelled
            done = client.start_search(**BODY, budget=2, seed=3)
            client.wait(done["id"], timeout=30, poll=0.05)
            client.cancel(done["id"])
        assert info.value.status == 409 and info.value.detail[0]["loc"] == ["path", "search_id"]


def test_too_many_waiting_searches_get_429(tmp_path):
    scorers = FakeScorers(gated=True)
    with serve(tmp_path, scorers, max_running_jobs=1, max_queued_jobs=1) as http:
        client = Client(http=http)
        first = client.start_search(**BODY, budget=5, seed=1)
        until(lambda: client.search(first["id"])["status"] == "running")
        client.start_search(**BODY, budget=5, seed=2)
        response = http.post("/v1/searches", json={**BODY, "budget": 5, "seed": 3})
        assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
        scorers.gate.set()


@pytest.mark.parametrize(
    ("body", "loc", "words"),
    [
        ({"strategy": "annealing"}, ["body", "strategy"], "unknown strategy 'annealing'"),
        ({"strategy": "random", "population_size": 10}, ["body", "population_size"], "not a parameter of strategy 'random'"),
        ({"strategy": "random", "tournament": 3}, ["body", "tournament"], "not a parameter of strategy 'random'"),
        ({"strategy": "random", "max_draws_per_eval": "many"}, ["body", "max_draws_per_eval"], "integer"),
        ({"budget": 0}, ["body", "budget"], "greater than or equal to 1"),
        ({"budget": 501}, ["body", "budget"], "at most 500"),
        ({"top_k": 51}, ["body", "top_k"], "at most 50"),
        ({"space": "darts9"}, ["body", "space"], "unknown search space"),
        ({"data": "/data/cifar"}, ["body", "data"], "unknown data source"),
        ({"constraints": {"max_params": 0}}, ["body", "constraints", "max_params"], "greater than or equal to 1"),
        ({"constraints": {"max_parms": 5}}, ["body", "constraints", "max_parms"], "Extra inputs"),
        ({"exclude_singular": "perhaps"}, ["body", "exclude_singular"], "boolean"),
        ({"sample_size": 0}, ["body", "sample_size"], "greater than or equal to 1"),
        ({"strategy": "evolution", "population_size": 5, "sample_size": 6}, ["body", "sample_size"], "<= population_size (5)"),
        ({"strategy": "evolution", "budget": 20, "population_size": 30}, ["body", "population_size"], "<= the budget (20)"),
        ({"strategy": "area", "population_size": 10, "init_size": 4}, ["body", "init_size"], ">= population_size (10)"),
        ({"minimize": ["size"]}, ["body", "minimize", 0], "'params', 'flops' or 'latency_ms'"),
        ({"minimize": ["params", "flops", "params"]}, ["body", "minimize"], "minimize[2] 'params' repeats minimize[0]"),
        ({"minimize": "params"}, ["body", "minimize"], "valid list"),
        ({"strategy": "nsga2", "pareto_population": 1}, ["body", "pareto_population"], "greater than or equal to 2"),
    ],
)
def test_every_invalid_search_field_gets_a_422_naming_it(tmp_path, body, loc, words):
    with serve(tmp_path, FakeScorers(), max_budget=500, max_top_k=50) as http:
        response = http.post("/v1/searches", json={**BODY, **body})
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"] == loc
        assert words in response.json()["detail"][0]["msg"]


def test_unknown_search_ids_are_404(tmp_path):
    with serve(tmp_path, FakeScorers()) as http:
        for method, path in [("GET", "/v1/searches/nope"), ("DELETE", "/v1/searches/nope"), ("GET", "/v1/searches/nope/events"), ("GET", "/v1/searches/nope/evaluations")]:
            response = http.request(method, path)
            assert response.status_code == 404, path
            assert response.json()["detail"][0]["loc"] == ["path", "search_id"]
        assert http.get("/v1/searches", params={"status": "lost"}).status_code == 422


def test_a_search_stopped_by_shutdown_resumes_on_the_next_start_with_nothing_lost(tmp_path):
    scorers = FakeScorers(delay=0.02)
    with serve(tmp_path, scorers) as http:
        client = Client(http=http)
        job = client.start_search(**BODY, budget=60, seed=11, top_k=5)
        until(lambda: client.search(job["id"])["progress"]["evaluated"] >= 10)
    before = open_store(tmp_path / "db.sqlite")
    paused = before.get_job(job["id"])
    kept = [e.to_json() for e in before.evaluations(job["id"])]
    before.close()
    assert paused.status == "queued" and 10 <= len(kept) < 60, f"paused as {paused.status} with {len(kept)} evaluations"
    computed_before = scorers.calls
    with serve(tmp_path, scorers) as http:
        client = Client(http=http)
        final = client.wait(job["id"], timeout=60, poll=0.05)
        assert final["status"] == "done" and final["resumed"] == 1
        history = client.evaluations(job["id"])
    want = expected(60, seed=11, top_k=5)
    assert [(e["step"], e["arch"]) for e in history] == [(e.step, e.arch) for e in want.history]
    assert history[: len(kept)] == kept, "evaluations from before the restart changed"
    assert [t["arch"] for t in final["top"]] == [e.arch for e in want.top]
    assert scorers.calls - computed_before <= 60 - len(kept)  # the replay scored nothing twice


def test_a_search_that_cannot_resume_is_marked_interrupted_with_its_partial_results(tmp_path):
    store = open_store(tmp_path / "db.sqlite")
    request = JobRequest(space="nb201", strategy="withdrawn", budget=10, top_k=3, seed=0, data="noise", batch_size=8)
    data = DataRef(name="noise", spec="noise", identity="gaussian:3x32x32", synthetic=True)
    store.create_job(JobRecord(id="old", status="running", request=request, data=data, created_at=time.time(), started_at=time.time()))
    for step, arch in enumerate(SPACE.sample(2, seed=0, unique=True), start=1):
        store.add_evaluation("old", ScoredArch(arch, {"naswot": nb201_score(arch)}, {"params": 1, "flops": 1}, step=step))
    store.close()
    with serve(tmp_path, FakeScorers()) as http:
        status = Client(http=http).search("old")
    assert status["status"] == "interrupted" and "withdrawn" in status["error"]
    assert status["progress"]["evaluated"] == 2 and len(status["top"]) == 2


def test_strategies_are_listed_with_their_parameters(tmp_path):
    with serve(tmp_path, FakeScorers()) as http:
        strategies = Client(http=http).strategies()
    listed = {s["name"]: s["params"] for s in strategies}
    assert set(listed) == set(list_strategies()) == {"random", "evolution", "area", "nsga2", "pls"}
    assert {"population_size", "sample_size"} <= set(listed["evolution"]) and "init_size" in listed["area"]
    assert all(s["summary"] for s in strategies)


@pytest.mark.parametrize(("strategy", "params"), [("evolution", {"population_size": 8, "sample_size": 3}), ("area", {"population_size": 8, "sample_size": 3, "init_size": 16})])
def test_evolution_and_area_run_over_http(tmp_path, strategy, params):
    with serve(tmp_path, FakeScorers()) as http:
        client = Client(http=http)
        job = client.start_search(**BODY, strategy=strategy, budget=30, seed=2, top_k=3, **params)
        final = client.wait(job["id"], timeout=60, poll=0.05)
    want = run_search(strategy, SPACE, lambda archs: [nb201_score(a) for a in archs], budget=30, seed=2, top_k=3, **params)
    assert final["status"] == "done" and final["request"]["strategy_params"] == params
    assert [t["arch"] for t in final["top"]] == [e.arch for e in want.top]


@pytest.mark.parametrize("strategy", list_strategies())
def test_a_search_with_minimize_reports_its_pareto_front_by_the_first_cost(tmp_path, strategy):
    minimize = ["flops", "params"]
    with serve(tmp_path, FakeScorers()) as http:
        client = Client(http=http)
        job = client.start_search(**BODY, strategy=strategy, budget=40, seed=4, minimize=minimize)
        final = client.wait(job["id"], timeout=60, poll=0.05)
    want = run_search(strategy, SPACE, lambda archs: [nb201_score(a) for a in archs], budget=40, seed=4, minimize=tuple(minimize))
    assert final["request"]["minimize"] == minimize
    assert [(e["step"], e["arch"]) for e in final["pareto"]] == [(e.step, e.arch) for e in want.pareto], "another front than the library's"
    assert [e["flops"] for e in final["pareto"]] == sorted(e["flops"] for e in final["pareto"]), "the front is not sorted by the first cost"


def test_a_search_without_minimize_reports_no_front(tmp_path):
    with serve(tmp_path, FakeScorers()) as http:
        client = Client(http=http)
        final = client.wait(client.start_search(**BODY, budget=10)["id"], timeout=60, poll=0.05)
    assert final["pareto"] == []
