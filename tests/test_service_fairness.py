"""Sharing the device: round-robin between requests, a small request served between a large one's items, a
request past the work budget refused up front, and a cancelled search's batch stopped at its next item.

A scripted scorer stands in for the network: each item waits for a turn the test hands out, so every
assertion is about the order in which items reached the device, never about wall-clock times.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import SimpleNamespace

import pytest
import torch
from fastapi.testclient import TestClient

from app.main import create_app
from app.service.scorers import ScoreSpec
from app.service.taskqueue import INTERACTIVE, Task, TaskQueue
from app.settings import Settings
from scoring import ScoredArch
from searchspace import get_space

SPACE = get_space("nb201")
ARCHS = SPACE.sample(12, seed=11, unique=True)
BODY = {"data": "noise", "batch_size": 8}


class Turns:
    """A scorer factory whose every item logs its architecture, then waits for a turn (``allow(n)`` hands out n)."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self._turns = threading.Semaphore(0)

    def allow(self, n: int = 1) -> None:
        for _ in range(n):
            self._turns.release()

    def __call__(self, spec: ScoreSpec, device: torch.device):
        turns = self

        class Scorer:
            def score_many(self, archs):
                for arch in archs:
                    turns.log.append(arch)
                    assert turns._turns.acquire(timeout=30), "no turn was handed out"
                    yield ScoredArch(arch, {"naswot": 1.0}, {"params": 1, "flops": 1}, 0.0)

        return Scorer()


def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def serve(tmp_path, turns: Turns, **overrides) -> TestClient:
    settings = Settings(db=tmp_path / "db.sqlite", data="noise", data_dir=tmp_path, **overrides)
    return TestClient(create_app(settings, scorer_factory=turns))


def post_in_background(http: TestClient, path: str, body: dict, into: dict, name: str) -> threading.Thread:
    thread = threading.Thread(target=lambda: into.__setitem__(name, http.post(path, json=body)), daemon=True)
    thread.start()
    return thread


def task(flow: str, arch: str) -> Task:
    source = SimpleNamespace(spec="noise", identity="noise")  # all a queue reads of a data source
    return Task(ScoreSpec(SPACE, source, 8, 0), arch, lambda *_: None, flow)  # type: ignore[arg-type]


def test_the_queue_takes_batches_round_robin_between_flows():
    queue = TaskQueue(capacity=16)
    queue.offer([task("large", a) for a in ARCHS[:6]], INTERACTIVE)
    queue.offer([task("small", ARCHS[6])], INTERACTIVE)
    order = []
    for _ in range(4):
        order.append([t.flow for t in queue.take(limit=2)])
        queue.finished()
    assert order == [["large"] * 2, ["small"], ["large"] * 2, ["large"] * 2], f"batches taken: {order}"


def test_a_small_request_is_scored_between_the_items_of_a_large_one(tmp_path):
    turns = Turns()
    large, small = ARCHS[:8], ARCHS[8]
    with serve(tmp_path, turns, worker_batch=16) as http:
        worker = http.app.state.service.workers[0]
        until(lambda: worker.ready)
        answers: dict = {}
        threads = [post_in_background(http, "/v1/score", {**BODY, "archs": large}, answers, "large")]
        until(lambda: turns.log == [large[0]])  # the large request's batch is on the device
        threads.append(post_in_background(http, "/v1/score", {**BODY, "archs": [small]}, answers, "small"))
        until(lambda: worker.depth == 1)  # the small request waits in the queue
        turns.allow(100)
        for thread in threads:
            thread.join(30)
    assert answers["large"].status_code == answers["small"].status_code == 200
    waited = turns.log.index(small)
    assert waited == 1, f"the small request was scored after {waited} items of the large one (device order {turns.log})"


def test_a_cancelled_searchs_batch_stops_at_its_next_item(tmp_path):
    turns = Turns()
    with serve(tmp_path, turns, worker_batch=16) as http:
        service = http.app.state.service
        worker = service.workers[0]
        until(lambda: worker.ready)
        answers: dict = {}
        blocker = post_in_background(http, "/v1/score", {**BODY, "archs": [ARCHS[0]]}, answers, "blocker")
        until(lambda: turns.log == [ARCHS[0]])  # the device is held while the search queues its batch
        job = http.post("/v1/searches", json={**BODY, "strategy": "random", "budget": 8, "seed": 3}).json()
        until(lambda: worker.depth == 8)
        turns.allow(1)  # the blocker ends; the search's batch of 8 goes to the device
        until(lambda: len(turns.log) == 2 and worker.busy == 8)
        assert http.delete(f"/v1/searches/{job['id']}").status_code == 200
        turns.allow(100)
        blocker.join(30)
        until(lambda: service.store.get_job(job["id"]).status == "cancelled")
        until(lambda: worker.busy == 0)
    scored = len(turns.log) - 1
    assert scored == 1, f"{scored} of the cancelled search's 8 architectures reached the device after the cancel was asked"


@pytest.mark.parametrize("costs, limit, refused", [([], 60.0, False), ([], 20.0, True), (["latency_ms"], 60.0, True)],
                         ids=["within", "scores-past-limit", "latency-past-limit"])
def test_a_request_past_the_work_budget_is_refused_up_front_naming_the_limit(tmp_path, costs, limit, refused):
    turns = Turns()
    archs = ARCHS[:8]
    work = sum(SPACE.cost(a).flops for a in archs) * 64 / 1e9  # the scores' pass: 64 images each
    assert 20.0 < work < 60.0 < work * (64 + 8 * 14) / 64, f"the test's request should ask for between the limits, not {work:.2f} GFLOP"
    with serve(tmp_path, turns, max_request_gflop=limit) as http:
        turns.allow(100)
        response = http.post("/v1/score", json={"data": "noise", "batch_size": 64, "archs": archs, "costs": costs, "latency_batch": 8})
    if not refused:
        assert response.status_code == 200, response.text
        return
    assert response.status_code == 422, f"{response.status_code}: {response.text}"
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["body", "archs"] and "NASWOT_MAX_REQUEST_GFLOP" in detail["msg"], detail
    assert turns.log == [], "a refused request must not reach the device"
