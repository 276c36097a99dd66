"""A request body is parsed only after the API key is checked, and in a worker thread: an unauthenticated or
large body never holds the event loop, so ``/healthz`` keeps answering (issue 31 row 7)."""

from __future__ import annotations

import threading

import anyio
import httpx
import pytest

import app.api.errors as errors
from app.main import create_app
from app.settings import Settings
from scoring import ScoredArch

KEY = "k" * 32
BODY = {"archs": [[0, 0, 0, 0, 0, 0]] * 4, "data": "noise", "batch_size": 8}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class ConstantScorer:
    def __init__(self, spec=None, device=None):
        pass

    def score_many(self, archs):
        for arch in archs:
            yield ScoredArch(arch, {"naswot": 1.0}, {"params": 1, "flops": 1}, 0.0)


def keyed_app(tmp_path):
    settings = Settings(db=tmp_path / "db.sqlite", data="noise", data_dir=tmp_path / "data", api_key=KEY)
    return create_app(settings, scorer_factory=ConstantScorer)


@pytest.mark.anyio
async def test_a_body_without_the_key_is_refused_before_it_is_parsed(tmp_path, monkeypatch):
    parsed: list[str] = []
    real = errors._parse
    monkeypatch.setattr(errors, "_parse", lambda text: parsed.append(text) or real(text))
    app = keyed_app(tmp_path)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            refused = await client.post("/v1/score", json=BODY)
            allowed = await client.post("/v1/score", json=BODY, headers={"Authorization": f"Bearer {KEY}"})
    assert refused.status_code == 401, refused.text
    assert allowed.status_code == 200, allowed.text
    assert len(parsed) == 1, f"bodies parsed: {len(parsed)} (the one without the key must not be)"


@pytest.mark.anyio
async def test_healthz_answers_while_a_body_is_being_parsed(tmp_path, monkeypatch):
    parsing, release, order = threading.Event(), threading.Event(), []
    real = errors._parse

    def slow_parse(text):
        parsing.set()
        release.wait(30)
        return real(text)

    def let_go(who: str) -> None:
        if not release.is_set():
            order.append(who)
            release.set()

    monkeypatch.setattr(errors, "_parse", slow_parse)
    app = keyed_app(tmp_path)
    timer = threading.Timer(10, let_go, args=("timer",))  # frees a parse that holds the event loop (today's behaviour)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", timeout=60) as client:
            async def post() -> None:
                await client.post("/v1/score", json=BODY, headers={"Authorization": f"Bearer {KEY}"})

            async with anyio.create_task_group() as tg:
                tg.start_soon(post)
                timer.start()
                while not parsing.is_set():
                    await anyio.sleep(0.01)
                health = await client.get("/healthz")
                order.append("healthz")
                let_go("test")
    timer.cancel()
    assert health.status_code == 200
    assert order[0] == "healthz", f"/healthz answered only after the body parse was let go ({order})"
