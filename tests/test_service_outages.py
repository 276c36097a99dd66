"""Store outages and cancellations never strand a search (issue 23): supervised job threads, a pause instead of a
failure, a cancel that takes its queued work along, and one server per SQLite file."""

from __future__ import annotations

import sqlite3
import time

import pytest
from helpers import FakeScorers, serve, until
from test_service_searches import BODY, expected

import app.service.core
from app.client import Client
from app.main import create_app
from app.settings import Settings
from app.store import DatabaseInUse, StoreBusy

#: a busy timeout far below the lock the tests hold, so every write in between fails with StoreBusy
BUSY = {"db_busy_timeout": 0.1}


def service_of(http):
    return http.app.state.service


def hold_exclusive(path, seconds: float) -> None:
    """Hold an exclusive transaction on the database from another connection for ``seconds``."""
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    time.sleep(seconds)
    locker.execute("ROLLBACK")
    locker.close()


def history(client: Client, job_id: str) -> list[tuple[int, str, float | None]]:
    return [(e["step"], e["arch"], e["score"]) for e in client.evaluations(job_id)]


def want_history(budget: int, seed: int) -> list[tuple[int, str, float | None]]:
    return [(e.step, e.arch, None if e.score == float("-inf") else e.score) for e in expected(budget, seed=seed).history]


def test_a_lock_held_past_the_busy_timeout_pauses_two_searches_which_then_finish_as_if_uninterrupted(tmp_path):
    with serve(tmp_path, FakeScorers(delay=0.01), **BUSY) as http:
        client = Client(http=http)
        jobs = [client.start_search(**BODY, budget=48, seed=seed) for seed in (4, 5)]
        until(lambda: all(client.search(j["id"])["progress"]["evaluated"] >= 4 for j in jobs))
        hold_exclusive(tmp_path / "db.sqlite", 1.0)  # ten busy timeouts
        finals = [client.wait(j["id"], timeout=60, poll=0.05) for j in jobs]
        assert [f["status"] for f in finals] == ["done", "done"], [f.get("error") for f in finals]
        for job, seed in zip(jobs, (4, 5)):
            assert history(client, job["id"]) == want_history(48, seed), "the trajectory changed across the pause"
        assert service_of(http).readiness()["ready"], service_of(http).readiness()["reasons"]


def test_a_paused_search_is_requeued_with_resumed_plus_one_and_ends_done(tmp_path):
    scorers = FakeScorers(gated=True)
    with serve(tmp_path, scorers, **BUSY) as http:
        client = Client(http=http)
        job = client.start_search(**BODY, budget=32, seed=6)
        until(lambda: client.search(job["id"])["status"] == "running")
        locker = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        scorers.gate.set()  # the first scores cannot be cached: the search pauses
        time.sleep(0.8)
        locker.execute("ROLLBACK")
        locker.close()
        final = client.wait(job["id"], timeout=60, poll=0.05)
        assert (final["status"], final["resumed"]) == ("done", 1), final
        assert history(client, job["id"]) == want_history(32, 6)


def test_an_outage_past_the_limit_ends_the_search_interrupted_not_failed(tmp_path):
    scorers = FakeScorers(gated=True)
    with serve(tmp_path, scorers, store_outage_seconds=0.3, **BUSY) as http:
        client = Client(http=http)
        job = client.start_search(**BODY, budget=32, seed=6)
        until(lambda: client.search(job["id"])["status"] == "running")
        locker = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        scorers.gate.set()  # 16 scores fail to cache, 0.1 s each, then the pause outlasts its limit
        time.sleep(3.0)
        locker.execute("ROLLBACK")
        locker.close()
        final = client.wait(job["id"], timeout=30, poll=0.05)
        assert final["status"] == "interrupted" and "unavailable for over 0.3 s" in final["error"], final


def test_a_store_error_while_a_failed_search_is_marked_never_kills_its_job_thread(tmp_path, monkeypatch):
    scorers = FakeScorers(score=lambda arch, _params: 1 / 0)  # every score fails: the search fails
    with serve(tmp_path, scorers, max_running_jobs=1) as http:
        client, store = Client(http=http), service_of(http).store
        refusals = iter(range(3))
        finish = store.finish_job

        def busy_finish(*args, **kwargs):
            if next(refusals, None) is not None:
                raise StoreBusy("the database stayed locked by another connection for 0.1 s")
            return finish(*args, **kwargs)

        monkeypatch.setattr(store, "finish_job", busy_finish)
        first = client.start_search(**BODY, budget=8, seed=1)
        final = client.wait(first["id"], timeout=30, poll=0.05)
        assert final["status"] == "failed" and "ZeroDivisionError" in final["error"], final
        scorers.score = lambda arch, _params: 1.0
        second = client.wait(client.start_search(**BODY, budget=8, seed=2)["id"], timeout=30, poll=0.05)
        assert second["status"] == "done", "the job slot was lost with the first search's thread"
        assert service_of(http).jobs.problems() == []


def test_a_dead_job_thread_is_reported_then_replaced_and_its_search_failed_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(app.service.core, "SUPERVISE_SECONDS", 3600)  # the test supervises by hand
    with serve(tmp_path, FakeScorers(), max_running_jobs=1) as http:
        client, service = Client(http=http), service_of(http)
        runner = service.jobs.runner
        execute = runner.execute

        def die(_run):
            raise SystemExit("killed mid-search")  # not an Exception: nothing in the job code catches it

        monkeypatch.setattr(runner, "execute", die)
        doomed = client.start_search(**BODY, budget=8, seed=1)
        until(lambda: service.jobs.problems() != [])
        response = http.get("/readyz")
        assert response.status_code == 503 and any("naswot-job-0" in r for r in response.json()["reasons"]), response.text
        monkeypatch.setattr(runner, "execute", execute)
        assert service.supervise() == ["naswot-job-0"]
        failed = client.search(doomed["id"])
        assert failed["status"] == "failed" and "SystemExit: killed mid-search" in failed["error"], failed
        assert client.wait(client.start_search(**BODY, budget=8, seed=2)["id"], timeout=30, poll=0.05)["status"] == "done"
        assert http.get("/readyz").status_code == 200


def test_a_job_thread_killed_by_a_store_error_leaves_its_search_queued_to_run_again(tmp_path, monkeypatch):
    monkeypatch.setattr(app.service.core, "SUPERVISE_SECONDS", 3600)  # the test supervises by hand
    with serve(tmp_path, FakeScorers(), max_running_jobs=1) as http:
        client, service = Client(http=http), service_of(http)
        jobs, runner = service.jobs, service.jobs.runner
        execute = runner.execute

        def outage(_run):
            raise StoreBusy("the database stayed locked by another connection for 0.1 s")

        def broken_pause(_job_id, _job, exc):
            raise exc  # a fault in the pause itself: the store error ends the thread

        monkeypatch.setattr(runner, "execute", outage)
        monkeypatch.setattr(jobs, "_pause", broken_pause)
        job = client.start_search(**BODY, budget=8, seed=1)
        until(lambda: jobs.problems() != [])
        monkeypatch.setattr(runner, "execute", execute)
        assert service.supervise() == ["naswot-job-0"]
        final = client.wait(job["id"], timeout=30, poll=0.05)
        assert (final["status"], final["resumed"]) == ("done", 1), final
        assert history(client, job["id"]) == want_history(8, 1)


def test_only_the_leases_of_jobs_making_progress_are_held(tmp_path):
    scorers = FakeScorers(gated=True)
    with serve(tmp_path, scorers, job_stall_seconds=0.3) as http:
        client, jobs = Client(http=http), service_of(http).jobs
        job = client.start_search(**BODY, budget=8, seed=1)
        until(lambda: client.search(job["id"])["status"] == "running")
        assert jobs.held() == [job["id"]], "a job just started counts as progressing"
        until(lambda: jobs.held() == [], timeout=5)  # scoring is held: no progress, so no lease renewal
        scorers.gate.set()


def queue_depth(http) -> int:
    return sum(d["queue_depth"] for d in http.get("/readyz").json()["devices"])


@pytest.mark.parametrize("cycles", [1, 12], ids=["one-cancel", "cancel-storm"])
def test_a_cancel_takes_the_searchs_queued_scoring_tasks_off_the_device_within_a_second(tmp_path, cycles):
    scorers = FakeScorers(gated=True)  # nothing is scored: every task stays queued
    with serve(tmp_path, scorers, worker_batch=1) as http:  # the worker holds one architecture, the rest wait in its queue
        client = Client(http=http)
        for seed in range(cycles):
            job = client.start_search(**BODY, budget=64, seed=seed)
            until(lambda: queue_depth(http) > 0)
            client.cancel(job["id"])
            cancelled_at = time.monotonic()
            until(lambda: queue_depth(http) == 0, timeout=1.0)
            assert time.monotonic() - cancelled_at < 1.0
            assert client.wait(job["id"], timeout=10, poll=0.02)["status"] == "cancelled"
        scorers.gate.set()


def test_a_cancel_keeps_the_tasks_a_score_request_also_waits_for(tmp_path):
    scorers = FakeScorers(gated=True)
    with serve(tmp_path, scorers, worker_batch=1) as http:
        client, service = Client(http=http), service_of(http)
        dispatcher = service.dispatcher
        job = client.start_search(**BODY, budget=16, seed=3)
        until(lambda: queue_depth(http) > 0)
        queued = service.workers[0].queue.queued()[-1]
        shared = queued.spec.cache_key.of(queued.arch)  # a task of the search, also asked for by a request
        dispatcher._owners[shared].add(None)
        client.cancel(job["id"])
        until(lambda: client.search(job["id"])["status"] == "cancelled")
        assert shared in dispatcher._inflight and queue_depth(http) == 1, "the request's task was dropped with the search"
        scorers.gate.set()


def test_a_second_server_on_the_same_sqlite_file_refuses_to_start_naming_the_file_owner_and_setting(tmp_path):
    settings = Settings(db=tmp_path / "db.sqlite", data="noise", data_dir=tmp_path)
    first = create_app(settings, scorer_factory=FakeScorers())
    with pytest.raises(DatabaseInUse) as refused:
        create_app(settings, scorer_factory=FakeScorers())
    message = str(refused.value)
    assert str(tmp_path / "db.sqlite") in message and "NASWOT_DB" in message, message
    assert f"pid {__import__('os').getpid()}" in message, message
    first.state.service.stop()
    create_app(settings, scorer_factory=FakeScorers()).state.service.stop()  # free once the owner stopped


def test_an_in_memory_database_needs_no_owner(tmp_path):
    settings = Settings(db=":memory:", data="noise", data_dir=tmp_path)
    apps = [create_app(settings, scorer_factory=FakeScorers()) for _ in range(2)]
    for each in apps:
        each.state.service.stop()
