"""Two `naswot serve` replicas on one PostgreSQL database: one search, one runner at a time, taken over after a SIGKILL of the runner."""

from __future__ import annotations

import threading
import time

from pgserver import postgres_dsn, postgres_server  # noqa: F401 - fixtures

from app.client import Client
from app.api.serverproc import ServerProcess
from app.store import open_store
from scoring import Scorer, open_source
from search import run_search
from searchspace import get_space

BUDGET = 16  # one batch of random search: the runner is killed part-way through it
SEED = 5
DATA = "noise:3x8x8"  # small inputs keep the test quick
LEASE = 2  # seconds: how long the survivor waits before it takes the search over


def replica(name: str, dsn: str, tmp_path) -> ServerProcess:
    env = {
        "NASWOT_DB": dsn, "NASWOT_DATA": DATA, "NASWOT_DATA_DIR": str(tmp_path / "data"),
        "NASWOT_JOB_LEASE_SECONDS": str(LEASE), "NASWOT_REPLICA": name, "NASWOT_MAX_RUNNING_JOBS": "1",
    }
    return ServerProcess(env, log=tmp_path / f"{name}.log")


def uninterrupted_top() -> list[tuple[str, float]]:
    """The same search run start to end in this process: (arch, score) of its top 5."""
    space = get_space("nb201")
    scorer = Scorer(space, open_source(DATA), batch_size=8, seed=SEED)
    result = run_search("random", space, lambda archs: [r.score for r in scorer(archs)], budget=BUDGET, seed=SEED, top_k=5)
    return [(e.arch, e.score) for e in result.top]


def wait_for(condition, what: str, server: ServerProcess, timeout: float = 300):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {server.log_tail()}"
        time.sleep(0.05)
    return value


def lease_owner(dsn: str, job_id: str) -> str | None:
    import psycopg

    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT lease_owner FROM jobs WHERE id=%s AND status='running'", (job_id,)).fetchone()


def test_a_second_replica_finishes_the_search_of_a_killed_one_without_scoring_anything_twice(postgres_dsn, tmp_path):
    replicas = {name: replica(name, postgres_dsn, tmp_path) for name in ("first", "second")}
    starting = [threading.Thread(target=r.start) for r in replicas.values()]
    for thread in starting:
        thread.start()
    for thread in starting:
        thread.join()
    first = replicas["first"]
    try:
        job = Client(first.url).start_search(budget=BUDGET, seed=SEED, batch_size=8, top_k=5)
        [owner] = wait_for(lambda: lease_owner(postgres_dsn, job["id"]), "a replica to run the search", first)
        runner, survivor = replicas[owner], next(r for name, r in replicas.items() if name != owner)
        seen = Client(survivor.url).search(job["id"])
        streamed: list = []
        stream = threading.Thread(target=lambda: streamed.extend(Client(survivor.url).events(job["id"])), daemon=True)
        stream.start()  # on the replica that does not run the search (yet)
        wait_for(lambda: _mid_batch(Client(runner.url).search(job["id"])["progress"]), "the search to be mid-batch", runner)
        runner.kill()  # SIGKILL mid-search: no shutdown code runs, the lease is left to expire
        killed_at = time.monotonic()
        store = open_store(postgres_dsn)
        cached_at_kill, kept = store.count_scores(), store.evaluated(job["id"])
        final = wait_for(lambda: _finished(Client(survivor.url).search(job["id"])), "the surviving replica to finish", survivor)
        taken_over_after = time.monotonic() - killed_at
        computed = _sample(Client(survivor.url).metrics(), 'naswot_scores_computed_total{device="cpu"}')
        evaluated = [e.arch for e in store.evaluations(job["id"])]
        cached = store.count_scores()
        store.close()
        stream.join(30)
    finally:
        for server in replicas.values():
            server.kill()
    print(f"\ntwo replicas: submitted to first, run by {owner}, killed after {kept} of {BUDGET} evaluations ({cached_at_kill} scores cached); "
          f"the other finished {taken_over_after:.1f} s later (lease {LEASE} s), computing {computed:.0f} scores; cache holds {cached}")
    assert seen["status"] == "running" and seen["id"] == job["id"], f"the other replica did not see the running search: {seen}"
    assert (final["status"], final["resumed"]) == ("done", 1), f"not finished as one resume: {final}"
    assert len(evaluated) == BUDGET and cached == len(set(evaluated)), f"{cached} cached scores for {len(set(evaluated))} architectures"
    assert computed == cached - cached_at_kill, "the surviving replica recomputed scores the killed one had cached"
    steps = [e.data["step"] for e in streamed if e.event == "evaluation"]
    assert steps == list(range(1, BUDGET + 1)) and streamed[-1].event == "end", "the other replica's event stream missed part of the search"
    assert [(t["arch"], t["score"]) for t in final["top"]] == uninterrupted_top(), "the result differs from an uninterrupted run"


def _mid_batch(progress: dict) -> bool:
    return progress["batch"] is not None and 3 <= progress["batch"]["scored"] < BUDGET - 3


def _finished(job: dict) -> dict | None:
    return job if job["status"] not in ("queued", "running") else None


def _sample(metrics: str, name: str) -> float:
    return next(float(line.split()[-1]) for line in metrics.splitlines() if line.startswith(name + " "))
