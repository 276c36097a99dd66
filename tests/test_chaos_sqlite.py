"""Chaos against a real `naswot serve` on a SQLite file (loopback only, bounded): a lock held past the busy timeout while
two searches run, a cancel storm, a kill -9 between evaluations, and a second server on the same file.

Every case ends with no search stuck, none failed, evaluations identical to an uninterrupted run of the same
seed, and an empty device queue. The whole set takes about a minute on 2 cores (see docs/operations.md).
"""

from __future__ import annotations

import sqlite3
import time

import pytest
from chaos import BATCH, assert_settled, evaluated, finished, queue_depth, server, uninterrupted, wait_for

from app.client import Client

BUSY_TIMEOUT = 0.5  # seconds; the lock below is held six times as long
ENV = {"NASWOT_DB_BUSY_TIMEOUT": str(BUSY_TIMEOUT), "NASWOT_MAX_RUNNING_JOBS": "2", "NASWOT_WORKER_BATCH": "2"}


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    """One server for the cases that do not kill it: its process, client and database file."""
    folder = tmp_path_factory.mktemp("chaos-sqlite")
    db = folder / "db.sqlite"
    proc = server(str(db), folder, "server", **ENV)
    proc.start()
    started = time.monotonic()
    yield proc, Client(proc.url), db
    proc.stop()
    print(f"\nchaos sqlite: shared server up {time.monotonic() - started:.1f} s")


def test_a_lock_held_past_the_busy_timeout_pauses_two_searches_that_then_match_an_uninterrupted_run(running):
    proc, client, db = running
    jobs = {seed: client.start_search(budget=16, seed=seed, batch_size=BATCH)["id"] for seed in (1, 2)}
    wait_for(lambda: any((client.search(j)["progress"]["batch"] or {}).get("scored") for j in jobs.values()), "scoring to begin", proc)
    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    held_from = time.monotonic()
    time.sleep(6 * BUSY_TIMEOUT)
    wait_for(lambda: " paused: " in proc.log_tail(100_000), "a search to pause on the lock", proc)  # the fault did happen
    locker.execute("ROLLBACK")
    locker.close()
    print(f"\nlock held {time.monotonic() - held_from:.1f} s (busy timeout {BUSY_TIMEOUT} s)")
    finals = {seed: wait_for(lambda j=j: finished(client, j), "the searches to end", proc) for seed, j in jobs.items()}
    assert {s: f["status"] for s, f in finals.items()} == {1: "done", 2: "done"}, [f.get("error") for f in finals.values()]
    assert sum(f["resumed"] for f in finals.values()) >= 1, "a paused search was not re-queued"
    for seed, job_id in jobs.items():
        assert evaluated(client, job_id) == uninterrupted(str(db), 16, seed), f"search {seed} left its trajectory across the pause"
    assert_settled(client, proc)


def test_a_cancel_storm_leaves_an_empty_queue_after_each_cancel_and_every_slot_usable(running):
    proc, client, db = running
    for seed in range(100, 110):
        job_id = client.start_search(budget=64, seed=seed, batch_size=BATCH)["id"]
        wait_for(lambda: queue_depth(client) > 0, "the search's first batch to be queued", proc)
        client.cancel(job_id)
        cancelled_at = time.monotonic()
        wait_for(lambda: queue_depth(client) == 0, "the queue to empty after a cancel", proc, timeout=1.0)
        assert time.monotonic() - cancelled_at < 1.0
    assert_settled(client, proc)
    job_id = client.start_search(budget=16, seed=7, batch_size=BATCH)["id"]  # both job slots still work
    assert wait_for(lambda: finished(client, job_id), "a search after the storm", proc)["status"] == "done"
    assert evaluated(client, job_id) == uninterrupted(str(db), 16, 7)


def test_a_second_server_on_the_same_file_refuses_to_start_naming_file_owner_and_setting(running, tmp_path):
    proc, client, db = running
    second = server(str(db), tmp_path, "second", **ENV)
    with pytest.raises(RuntimeError) as refused:
        second.start()
    message = str(refused.value)
    assert second.proc.returncode == 2, message
    assert str(db) in message and f"pid {proc.proc.pid}" in message and "NASWOT_DB" in message, message
    assert client.health()["status"] == "ok", "the owner stopped serving"
    assert_settled(client, proc)


def test_a_search_killed_between_evaluations_resumes_on_restart_as_if_uninterrupted(tmp_path):
    db = str(tmp_path / "db.sqlite")
    first = server(db, tmp_path, "killed", **ENV).start()
    try:
        job_id = Client(first.url).start_search(budget=32, seed=3, batch_size=BATCH)["id"]
        wait_for(lambda: 1 <= Client(first.url).search(job_id)["progress"]["evaluated"] < 32, "some evaluations", first)
        first.kill()  # SIGKILL: the kernel releases the file's owner lock, nothing else runs
    finally:
        first.kill()
    restarted = server(db, tmp_path, "restarted", **ENV).start()
    try:
        client = Client(restarted.url)
        final = wait_for(lambda: finished(client, job_id), "the resumed search to end", restarted)
        assert (final["status"], final["resumed"]) == ("done", 1), final
        assert evaluated(client, job_id) == uninterrupted(db, 32, 3)
        assert_settled(client, restarted)
    finally:
        restarted.stop()

