"""What the chaos tests share: real `naswot serve` processes on loopback, the uninterrupted run a search must match,
and the checks every case ends with (no stuck job, no failed job, an empty queue)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from app.client import ApiError, Client
from app.api.serverproc import ServerProcess
from app.store import CacheKey, open_store
from scoring import Scorer, open_source
from search import run_search
from searchspace import get_space

DATA = "noise:3x8x8"  # small inputs keep the real scorer quick
BATCH = 8
SETTLE_SECONDS = 60  # how long a cancelled or finishing search may take to end before it counts as stuck
T = TypeVar("T")


def server(db: str, folder: Path, name: str, **env: str) -> ServerProcess:
    """A `naswot serve` child process on ``db`` (a SQLite path or a postgresql:// URL), logging to ``folder/name.log``."""
    settings = {"NASWOT_DB": db, "NASWOT_DATA": DATA, "NASWOT_DATA_DIR": str(folder / "data"), "NASWOT_REPLICA": name, **env}
    return ServerProcess(settings, log=folder / f"{name}.log")


def uninterrupted(db: str, budget: int, seed: int, recompute: int = 4) -> tuple[tuple[str, float | None], ...]:
    """(arch, score) of every evaluation of the same random search run start to end in this process.

    Its scores are read from the cache the server filled (computing here any it lacks), and ``recompute`` of
    them, spread over the run, are computed afresh here and must match bit for bit: the reference stays an
    independent run while the chaos set stays within its time bound on 2 shared cores.
    """
    space, source = get_space("nb201"), open_source(DATA)
    scorer = Scorer(space, source, batch_size=BATCH, seed=seed)
    key = CacheKey.for_score(space.name, source.identity, BATCH, seed, "naswot", "exact")
    store = open_store(db)
    try:
        def score(archs: list[str]) -> list[float]:
            cached = store.get_scores(key, archs)
            fresh = {r.arch: r.score for r in scorer([a for a in archs if a not in cached])}
            return [cached[a].score if a in cached else fresh[a] for a in archs]

        result = run_search("random", space, score, budget=budget, seed=seed)
    finally:
        store.close()
    sample = [e.arch for e in result.history[:: max(1, len(result.history) // recompute)]][:recompute]
    assert {r.arch: r.score for r in scorer(sample)} == {e.arch: e.score for e in result.history if e.arch in sample}, "a cached score differs from a fresh one"
    return tuple((e.arch, None if e.score == float("-inf") else e.score) for e in result.history)


def evaluated(client: Client, job_id: str) -> tuple[tuple[str, float | None], ...]:
    return tuple((e["arch"], e["score"]) for e in client.evaluations(job_id))


def patiently(call: Callable[[], T]) -> T | None:
    """``call()``, or ``None`` while the server cannot answer (restarting, or its database away)."""
    try:
        return call()
    except (ApiError, httpx.TransportError):
        return None


def wait_for(condition: Callable[[], Any], what: str, proc: ServerProcess, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := patiently(condition)):
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {proc.log_tail()}"
        time.sleep(0.05)
    return value


def finished(client: Client, job_id: str) -> dict[str, Any] | None:
    job = client.search(job_id)
    return job if job["status"] not in ("queued", "running") else None


def queue_depth(client: Client) -> int:
    return sum(d["queue_depth"] for d in client.ready()["devices"])


def assert_settled(client: Client, proc: ServerProcess) -> list[dict[str, Any]]:
    """Every search ended (none stuck ``queued``/``running``), none ``failed``, and the device queue is empty; the searches."""
    def unsettled() -> list[tuple[str, str]]:
        return [(j["id"], j["status"]) for j in client.searches(limit=500) if j["status"] in ("queued", "running")]

    # a cancelled search ends once its thread has seen the cancel (after the architecture the device is on):
    # stuck means it has not ended within SETTLE_SECONDS
    deadline = time.monotonic() + SETTLE_SECONDS
    while (stuck := unsettled()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not stuck, f"searches stuck for {SETTLE_SECONDS} s: {stuck}: {proc.log_tail()}"
    jobs = client.searches(limit=500)
    failed = [(j["id"], j.get("error")) for j in jobs if j["status"] == "failed"]
    assert not failed, f"searches failed: {failed}"
    wait_for(lambda: queue_depth(client) == 0, "an empty device queue", proc, timeout=1.0)
    return jobs
