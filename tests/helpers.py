"""Shared test helpers: stand-ins for the network, the app served on a temporary folder, waiting for a condition.

The stand-ins are for service tests that are about the routes, the store and the workers around scoring;
the real scorer runs where a test passes ``scorer_factory=None``.
"""

from __future__ import annotations

import math
import threading
import time
import warnings
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import torch

from app.client import Client
from app.main import create_app
from app.settings import Settings
from scoring import ScoredArch
from searchspace import get_space

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's notice that its TestClient will move to httpx2
    from fastapi.testclient import TestClient

NB201 = get_space("nb201")


def fake_score(arch: str) -> float:
    """A deterministic score per architecture of any space (no network built)."""
    return float(zlib.crc32(arch.encode()) % 10_000) / 100


def nb201_score(arch: str) -> float:
    """Distinct per NB201 cell; minus infinity when nothing reaches the output node (as for the real score)."""
    ops = NB201.ops(arch)
    if ops[3] == ops[4] == ops[5] == 0:
        return -math.inf
    return float(sum(op * 5**i for i, op in enumerate(ops)))


class ConstantScorer:
    """Scores every architecture at once with :func:`fake_score`."""

    def __init__(self, spec=None, device=None):
        pass

    def score_many(self, archs):
        for arch in archs:
            yield ScoredArch(arch, {"naswot": fake_score(arch)}, {"params": 1, "flops": 1}, 0.0)


class FakeScorers:
    """Scorer factory: deterministic scores (``score(arch, params)``, default :func:`nb201_score`), an optional delay per arch and a gate that holds scoring."""

    def __init__(self, delay: float = 0.0, gated: bool = False, score: Callable[[str, int], float] | None = None):
        self.delay = delay
        self.score = score or (lambda arch, _params: nb201_score(arch))
        self.gate = threading.Event()
        if not gated:
            self.gate.set()
        self.calls = 0

    def __call__(self, spec, device: torch.device):
        factory = self

        class Scorer:
            def score_many(self, archs):
                for arch in archs:
                    factory.gate.wait(30)
                    time.sleep(factory.delay)
                    factory.calls += 1
                    cost = spec.space.cost(arch)
                    yield ScoredArch(arch, {"naswot": factory.score(arch, cost.params)}, {"params": cost.params, "flops": cost.flops}, factory.delay)

        return Scorer()


def settings_in(folder: Path, **overrides) -> Settings:
    """Service settings on a database and data folder under ``folder``, noise data unless ``data`` says otherwise."""
    return Settings(db=folder / "db.sqlite", data_dir=folder / "data", **{"data": "noise", **overrides})


def fake_app(folder: Path, scorer_factory=ConstantScorer, **overrides):
    """The app on :func:`settings_in` ``folder``, scoring with ``scorer_factory`` (``None``: the real scorer)."""
    return create_app(settings_in(folder, **overrides), scorer_factory=scorer_factory)


def serve(folder: Path, scorer_factory=ConstantScorer, **overrides) -> TestClient:
    """A test client of :func:`fake_app` (enter it to run the app's start-up and shutdown)."""
    return TestClient(fake_app(folder, scorer_factory, **overrides))


@contextmanager
def api_client(folder: Path, scorer_factory=None, **overrides) -> Iterator[Client]:
    """The project's :class:`~app.client.Client` on a started app (the real scorer unless ``scorer_factory`` is given)."""
    with serve(folder, scorer_factory, **overrides) as http:
        yield Client(http=http)


def until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    """Wait until ``condition()`` holds, failing the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} not reached in {timeout} s"
        time.sleep(0.02)


async def until_async(condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """:func:`until` inside an event loop (it yields to the loop while it waits)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} not reached in {timeout} s"
        await anyio.sleep(0.01)
