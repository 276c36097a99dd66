"""Device workers under load, through the ASGI app: de-duplication, queue-full backpressure, out-of-memory isolation.

A scripted scorer stands in for the network so each test controls exactly when scoring happens.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx
import pytest
import torch
from helpers import fake_app, until_async

from app.service.scorers import ScoreSpec
from scoring import ScoredArch
from searchspace import get_space

SPACE = get_space("nb201")
ARCHS = SPACE.sample(8, seed=5, unique=True)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Script:
    """A scorer factory whose scorers log each arch, wait for ``gate``, and run out of memory on ``oom`` archs."""

    def __init__(self, oom: set[str] = frozenset()):
        self.gate = threading.Event()
        self.log: list[str] = []
        self.oom = set(oom)

    def __call__(self, spec: ScoreSpec, device: torch.device):
        script = self

        class Scorer:
            def score_many(self, archs):
                for arch in archs:
                    script.log.append(arch)
                    script.gate.wait(30)
                    if arch in script.oom:
                        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
                    yield ScoredArch(arch, {"naswot": float(len(script.log))}, {"params": 1000, "flops": 2000}, 0.001)

        return Scorer()


@asynccontextmanager
async def serving(tmp_path, script: Script, **overrides) -> AsyncIterator[tuple[object, httpx.AsyncClient]]:
    app = fake_app(tmp_path, script, **overrides)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as client:
                yield app, client
    finally:
        script.gate.set()


def score_body(*archs: str) -> dict:
    return {"archs": list(archs), "data": "noise", "batch_size": 8}


@pytest.mark.anyio
async def test_concurrent_requests_for_the_same_work_compute_it_once(tmp_path):
    script = Script()
    async with serving(tmp_path, script) as (app, client):
        results: dict[str, httpx.Response] = {}

        async def post(name: str, body: dict) -> None:
            results[name] = await client.post("/v1/score", json=body)

        async with anyio.create_task_group() as tg:
            tg.start_soon(post, "first", score_body(ARCHS[0], ARCHS[1]))
            await until_async(lambda: len(script.log) == 1)  # the first arch is on the device
            tg.start_soon(post, "second", score_body(ARCHS[1], ARCHS[0]))
            await until_async(lambda: app.state.service.metrics.registry.get_sample_value("naswot_inflight_shared_total") == 2)
            script.gate.set()
        first, second = results["first"].json(), results["second"].json()
        assert results["first"].status_code == results["second"].status_code == 200
        assert script.log == [ARCHS[0], ARCHS[1]]  # each computed once, for both requests
        assert [r["score"] for r in first["results"]] == [r["score"] for r in reversed(second["results"])]
        metrics = (await client.get("/metrics")).text
        assert "naswot_inflight_shared_total 2.0" in metrics
        assert 'naswot_scores_computed_total{device="cpu"} 2.0' in metrics


@pytest.mark.anyio
async def test_a_full_queue_answers_429_with_retry_after_and_searches_wait(tmp_path):
    script = Script()
    async with serving(tmp_path, script, queue_size=2, max_archs=2, worker_batch=1) as (app, client):
        results: dict[str, httpx.Response] = {}

        async def post(name: str, body: dict) -> None:
            results[name] = await client.post("/v1/score", json=body)

        async with anyio.create_task_group() as tg:
            tg.start_soon(post, "running", score_body(ARCHS[0]))
            await until_async(lambda: len(script.log) == 1)  # on the device; the queue is empty
            tg.start_soon(post, "queued", score_body(ARCHS[1], ARCHS[2]))
            worker = app.state.service.workers[0]
            await until_async(lambda: worker.depth == 2)  # the queue is now full
            refused = await client.post("/v1/score", json=score_body(ARCHS[3]))
            assert refused.status_code == 429
            assert int(refused.headers["Retry-After"]) >= 1
            assert refused.json()["detail"][0]["loc"] == ["body", "archs"] and "queue is full" in refused.json()["detail"][0]["msg"]
            # a search waits for room instead of failing
            job = (await client.post("/v1/searches", json={"budget": 2, "data": "noise", "batch_size": 8, "seed": 1})).json()
            await until_async(lambda: app.state.service.store.get_job(job["id"]).status == "running")
            script.gate.set()
        assert results["running"].status_code == 200 and results["queued"].status_code == 200
        await until_async(lambda: app.state.service.store.get_job(job["id"]).status == "done")
        status = (await client.get(f"/v1/searches/{job['id']}")).json()
        assert status["progress"] == {"evaluated": 2, "budget": 2, "batch": None}
        assert 'naswot_rejected_total{queue="score"} 1.0' in (await client.get("/metrics")).text
        # nothing left behind: the next request is served
        assert (await client.post("/v1/score", json=score_body(ARCHS[3]))).status_code == 200


@pytest.mark.anyio
async def test_out_of_memory_fails_only_that_architecture_and_the_server_keeps_serving(tmp_path):
    script = Script(oom={ARCHS[1]})
    script.gate.set()
    async with serving(tmp_path, script) as (_app, client):
        response = await client.post("/v1/score", json=score_body(ARCHS[0], ARCHS[1], ARCHS[2]))
        assert response.status_code == 503
        assert int(response.headers["Retry-After"]) > 0
        detail = response.json()["detail"]
        assert [d["loc"] for d in detail] == [["body", "archs", 1]]
        assert detail[0]["type"] == "out_of_memory" and "batch_size" in detail[0]["msg"]
        # the architectures around it were scored and cached; the server goes on
        again = await client.post("/v1/score", json=score_body(ARCHS[0], ARCHS[2], ARCHS[4]))
        assert again.status_code == 200
        assert [r["cached"] for r in again.json()["results"]] == [True, True, False]
        assert (await client.get("/readyz")).status_code == 200
        assert 'naswot_score_errors_total{kind="out_of_memory"} 1.0' in (await client.get("/metrics")).text
