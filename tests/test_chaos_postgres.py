"""Chaos against real `naswot serve` replicas on PostgreSQL (a throw-away server on loopback, bounded): the database
stopped mid-search (``pg_ctl stop -m immediate``) and started again, and a replica killed after it recorded at least
one evaluation. Each case ends with no search stuck, none failed, evaluations identical to an uninterrupted run, and
an empty device queue."""

from __future__ import annotations

import time

import pytest
from chaos import BATCH, assert_settled, evaluated, finished, server, uninterrupted, wait_for
from pgserver import PostgresServer, server_bin_dir

from app.client import Client

LEASE = 2  # seconds before a surviving replica takes over a killed one's search
ENV = {"NASWOT_JOB_LEASE_SECONDS": str(LEASE), "NASWOT_MAX_RUNNING_JOBS": "1"}


@pytest.fixture(scope="module")
def postgres():
    """A server of this module's own: stopping it must not disturb the other PostgreSQL tests."""
    pytest.importorskip("psycopg")
    pg = PostgresServer(server_bin_dir())
    pg.start()
    yield pg
    pg.stop()


def test_the_database_stopped_mid_search_and_started_again_pauses_the_search_which_then_matches_an_uninterrupted_run(postgres, tmp_path):
    dsn = postgres.new_database()
    proc = server(dsn, tmp_path, "replica", **ENV).start()
    try:
        client = Client(proc.url)
        job_id = client.start_search(budget=32, seed=8, batch_size=BATCH)["id"]
        wait_for(lambda: client.search(job_id)["progress"]["evaluated"] >= 1, "a recorded evaluation", proc)
        postgres.halt()
        try:
            time.sleep(3)  # longer than a lease: nobody else may take it, the replica must wait
            # the outage lasts until the search has met it (a slow batch may not touch the store for a while)
            log = tmp_path / "replica.log"
            wait_for(lambda: f"search {job_id} paused" in log.read_text(), "the search to pause on the outage", proc)
        finally:
            postgres.resume()
        final = wait_for(lambda: finished(client, job_id), "the search to end after the outage", proc)
        assert final["status"] == "done" and final["resumed"] >= 1, final
        assert evaluated(client, job_id) == uninterrupted(dsn, 32, 8), "the search left its trajectory across the outage"
        assert_settled(client, proc)
    finally:
        proc.kill()


def lease_owner(dsn: str, job_id: str) -> str | None:
    """The replica running the search, by its lease."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT lease_owner FROM jobs WHERE id=%s AND status='running'", (job_id,)).fetchone()
    return row[0] if row else None


def test_a_replica_killed_after_recording_an_evaluation_is_taken_over_and_the_search_matches_an_uninterrupted_run(postgres, tmp_path):
    dsn = postgres.new_database()
    replicas = {name: server(dsn, tmp_path, name, **ENV) for name in ("first", "second")}
    try:
        for replica in replicas.values():
            replica.start()
        job_id = Client(replicas["first"].url).start_search(budget=32, seed=9, batch_size=BATCH)["id"]
        owner = wait_for(lambda: lease_owner(dsn, job_id), "a replica to run the search", replicas["first"])
        runner, survivor = replicas[owner], next(r for name, r in replicas.items() if name != owner)
        wait_for(lambda: 1 <= Client(runner.url).search(job_id)["progress"]["evaluated"] < 32, "an evaluation on the runner", runner)
        runner.kill()  # SIGKILL after at least one evaluation was recorded
        client = Client(survivor.url)
        final = wait_for(lambda: finished(client, job_id), "the survivor to finish the search", survivor)
        assert (final["status"], final["resumed"]) == ("done", 1), final
        assert evaluated(client, job_id) == uninterrupted(dsn, 32, 9)
        assert_settled(client, survivor)
    finally:
        for replica in replicas.values():
            replica.kill()
