"""After a database outage a paused search's own thread keeps its claim: the claimer never hands this server a job
that one of its job threads still holds, so no search ever runs twice in one server (issue 31 row 6).

The shared-database path (leases) runs on a SQLite file marked shared, with an outage injected into chosen store
methods, so the test decides the order of events: the lease expires during the outage and the claimer sees the
database again before the paused thread does, the order that ran the same search on two job threads.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable

import pytest
import torch
from fastapi.testclient import TestClient

import app.store.sqlite as sqlite_backend
from app.main import create_app
from app.service.scorers import ScoreSpec
from app.settings import Settings
from app.store import StoreError
from scoring import ScoredArch

BODY = {"data": "noise", "batch_size": 8, "strategy": "random", "budget": 4, "seed": 2}


class GatedScorers:
    def __init__(self) -> None:
        self.gate = threading.Event()

    def __call__(self, spec: ScoreSpec, device: torch.device):
        gate = self.gate

        class Scorer:
            def score_many(self, archs):
                for arch in archs:
                    assert gate.wait(30), "the gate was never opened"
                    yield ScoredArch(arch, {"naswot": float(len(arch))}, {"params": 1, "flops": 1}, 0.0)

        return Scorer()


class Outage:
    """Makes the named methods of ``store`` raise :class:`StoreError` while they are listed in ``down``."""

    def __init__(self, store, names: list[str]) -> None:
        self.down: set[str] = set()
        self.claimed: list[str] = []
        self.refused: list[str] = []
        for name in names:
            setattr(store, name, self._guard(name, getattr(store, name)))

    def _guard(self, name: str, method: Callable):
        def guarded(*args, **kwargs):
            if name in self.down:
                self.refused.append(name)
                raise StoreError(f"database unavailable ({name}, injected)")
            result = method(*args, **kwargs)
            if name == "claim_job" and result is not None:
                self.claimed.append(result.id)
            return result

        return guarded


def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_a_search_paused_by_an_outage_is_never_run_twice_in_one_server(tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_backend, "DIALECT", dataclasses.replace(sqlite_backend.DIALECT, shared=True))
    scorers = GatedScorers()
    settings = Settings(db=tmp_path / "db.sqlite", data="noise", data_dir=tmp_path, max_running_jobs=2, job_lease_seconds=1)
    with TestClient(create_app(settings, scorer_factory=scorers)) as http:
        service = http.app.state.service
        jobs, store = service.jobs, service.store
        assert jobs._leases is not None, "the test needs the shared-database (lease) path"
        handed_twice: list[str] = []
        enqueue = jobs._enqueue

        def watched_enqueue(job_id: str) -> None:
            if job_id in jobs._waiting or any(slot.job_id == job_id for slot in jobs._slots):
                handed_twice.append(job_id)
            enqueue(job_id)

        monkeypatch.setattr(jobs, "_enqueue", watched_enqueue)
        outage = Outage(store, ["add_evaluation", "renew_leases", "claim_job", "requeue_job"])
        job = http.post("/v1/searches", json=BODY).json()
        until(lambda: store.get_job(job["id"]).status == "running")
        outage.down = {"add_evaluation", "renew_leases", "claim_job", "requeue_job"}
        scorers.gate.set()  # its first evaluation cannot be written: the search pauses, its lease is not renewed
        until(lambda: "requeue_job" in outage.refused)  # paused: its thread tries to re-queue it, with backoff
        lease = store._db.rows("SELECT lease_expires FROM jobs WHERE id=?", (job["id"],))[0]["lease_expires"]
        until(lambda: time.time() > lease + 0.2)  # expired during the outage
        outage.down = {"requeue_job"}  # the claimer sees the database again before the paused thread does
        until(lambda: job["id"] in outage.claimed)
        outage.down = set()
        until(lambda: store.get_job(job["id"]).status == "done")
        steps = [e.step for e in store.evaluations(job["id"], 0, 100)]
    assert handed_twice == [], f"search {job['id']} was handed to a job thread while another one here still held it"
    assert steps == [1, 2, 3, 4], f"evaluation steps {steps}: each recorded once"
