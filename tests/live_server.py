"""A real HTTP server (uvicorn in a thread) around the app, with a deterministic, paced stand-in scorer.

The browser and the command line need a socket to talk to; the stand-in scorer keeps searches
fast and their results known. Its score grows with the cell's #params plus a per-cell offset,
so the size-bias figures have something to find.
"""

from __future__ import annotations

import math
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import uvicorn
from helpers import FakeScorers

from app.api.httpserver import uvicorn_options
from app.main import create_app
from app.api.serverproc import free_port
from app.settings import Settings


def paced_score(arch: str, params: int) -> float:
    """log #params plus a stable per-cell offset; minus infinity for the all-``none`` cell (as the real score)."""
    if arch.count("none~") == 6:
        return -math.inf
    return 100 * math.log(params) + zlib.crc32(arch.encode()) % 97


class PacedScorers(FakeScorers):
    """The service tests' stand-in scorer factory, giving every score a search asks for: ``paced_score`` for the
    first, and for each further one the same shifted by its place in the list (so the values differ)."""

    def __call__(self, spec, device):
        inner = super().__call__(spec, device)

        class Scorer:
            def score_many(self, archs):
                for scored in inner.score_many(archs):
                    first = scored.values["naswot"]
                    yield replace(scored, values={name: first + place for place, name in enumerate(spec.scores)})

        return Scorer()


def paced_scorers(delay: float = 0.02) -> FakeScorers:
    """The stand-in scorer factory, scoring with ``paced_score`` after ``delay`` seconds per architecture."""
    return PacedScorers(delay=delay, score=paced_score)


@contextmanager
def live_server(folder: Path, scorers: FakeScorers, **settings: object) -> Iterator[str]:
    """Serve the app on a free loopback port for the duration; yields its base URL."""
    config = Settings(db=folder / "db.sqlite", data="noise", data_dir=folder, **settings)
    port = free_port()
    application = create_app(config, scorer_factory=scorers)
    server = uvicorn.Server(uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning", **uvicorn_options(config)))
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
