"""The PostgreSQL store: the SQLite store's specification, a shared cache, job leases, versioned migrations."""

from __future__ import annotations

import time

import pytest
from pgserver import postgres_dsn, postgres_server  # noqa: F401 - fixtures
from test_service_store import (  # noqa: F401 - the back-end-neutral specification, run here on PostgreSQL
    KEY,
    job,
    test_a_computed_score_comes_back_from_the_cache_marked_cached,
    test_a_job_record_round_trips_with_its_typed_request_data_and_outcome,
    test_cancel_ends_a_queued_job_and_flags_a_running_one,
    test_evaluations_are_ranked_singular_last_and_paged_in_order,
)

from app.records import ScoredArch
from app.store import SQLiteStore, open_store

LEASE = 0.5


@pytest.fixture(params=["postgresql", "sqlite"])
def store(request, tmp_path):
    """Each back end in turn (the imported specification runs on both; leases must behave alike)."""
    location = request.getfixturevalue("postgres_dsn") if request.param == "postgresql" else tmp_path / "db.sqlite"
    opened = open_store(location, busy_timeout=2)
    yield opened
    opened.close()


@pytest.fixture
def replicas(postgres_dsn):
    """Two stores on one PostgreSQL database, as two service replicas hold them."""
    first, second = open_store(postgres_dsn), open_store(postgres_dsn)
    yield first, second
    first.close()
    second.close()


def test_a_score_written_by_one_replica_is_a_cache_hit_on_the_other(replicas):
    first, second = replicas
    first.put_score(KEY, ScoredArch("a", 2.5, 10, 20, 0.1, "cuda:0"))
    second.put_score(KEY, ScoredArch("a", 9.9, 10, 20, 0.1, "cuda:1"))  # a late duplicate: the first write stays
    assert second.get_scores(KEY, ["a"]) == {"a": ScoredArch("a", 2.5, 10, 20, 0.1, "cuda:0", cached=True)}, "not shared"
    assert first.count_scores() == 1, "a key was stored twice"


def test_a_job_is_leased_to_one_replica_at_a_time(replicas):
    first, second = replicas
    first.create_job(job("j1"))
    assert first.claim_job("replica-a", 30).id == "j1", "the free job was not leased"
    assert second.claim_job("replica-b", 30) is None, "a leased job was leased again"
    assert first.renew_leases("replica-a", 30) == {"j1": False}, "the holder does not hold its lease"


def test_a_job_whose_lease_expired_is_taken_over_as_a_restart(store):
    store.create_job(job("j1"))
    store.claim_job("replica-a", LEASE)
    store.start_job("j1", 1.0)
    assert store.claim_job("replica-b", 30) is None, "a running job was taken while its lease held"
    time.sleep(LEASE + 0.1)
    taken = store.claim_job("replica-b", 30)
    assert (taken.id, taken.status, taken.resumed) == ("j1", "queued", 1), f"not taken over as a restart: {taken}"
    assert store.renew_leases("replica-a", 30) == {}, "the replica that lost the lease still renews it"
    assert store.start_job("j1", 1.0), "the new holder cannot start it"


def test_a_cancel_request_reaches_the_lease_holder(store):
    store.create_job(job("j1"))
    store.claim_job("replica-a", 30)
    store.start_job("j1", 1.0)
    store.request_cancel("j1")
    assert store.renew_leases("replica-a", 30) == {"j1": True}, "the heartbeat does not carry the cancel request"


def test_a_finished_or_paused_job_gives_its_lease_back(store):
    for job_id in ("done", "paused"):
        store.create_job(job(job_id))
        store.claim_job("replica-a", 30)
        store.start_job(job_id, 1.0)
    store.finish_job("done", "done")
    store.requeue_job("paused")
    assert store.renew_leases("replica-a", 30) == {}, "a lease outlived its job's run"
    assert store.claim_job("replica-b", 30).id == "paused", "a paused job cannot be taken by another replica at once"


def test_migrations_bring_an_old_database_to_the_current_version(tmp_path, postgres_dsn):
    import sqlite3

    from app.store.postgres import MIGRATIONS as POSTGRES_MIGRATIONS
    from app.store.sqlite import MIGRATIONS as SQLITE_MIGRATIONS

    path = tmp_path / "v1.sqlite"
    with sqlite3.connect(path) as old:
        old.executescript(SQLITE_MIGRATIONS[0] + "PRAGMA user_version=1;")
    SQLiteStore(path).close()
    with sqlite3.connect(path) as upgraded:
        columns = {r[1] for r in upgraded.execute("PRAGMA table_info(jobs)")}
        version = upgraded.execute("PRAGMA user_version").fetchone()[0]
    assert version == len(SQLITE_MIGRATIONS) and {"lease_owner", "lease_expires"} <= columns, "SQLite was not migrated"
    for _ in range(2):  # a second replica connecting finds the schema current and changes nothing
        store = open_store(postgres_dsn)
        assert store.schema_version() == len(POSTGRES_MIGRATIONS), "PostgreSQL was not migrated"
        store.close()
