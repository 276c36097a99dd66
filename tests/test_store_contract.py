"""The store's backend-neutral contract: every test runs on each back end (SQLite, PostgreSQL) and must pass alike.

Typed rows in and out (-inf <-> null in one place), the first write of a cached key wins, job transitions,
leases shared by several stores on one database, and versioned migrations that bring an old database up.
The few tests at the end check how a location picks its back end (run once).
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

import pytest
from pgserver import postgres_dsn, postgres_server  # noqa: F401 - fixtures
from store_backends import location, store  # noqa: F401 - each back end in turn

from app.service.records import DataRef, JobOutcome, JobRecord, JobRequest
from app.store import CacheKey, ReferenceKey, StoreError, dialect_for, open_store
from app.store.connection import Connection
from app.store.schema import SCHEMA_VERSION, migrations, statements
from scoring import ScoredArch, LatencyKey
from search import Constraints

KEY = CacheKey("nb201", "gaussian:3x8x8", 8, 0, "naswot", "exact")
REFERENCE = ReferenceKey("nb201", "sha256:abc", 8, 3, "exact", 4)
REQUEST = JobRequest(space="nb201", strategy="random", budget=10, top_k=3, seed=1, data="noise", batch_size=8,
                     constraints=Constraints(max_params=10**6), strategy_params={"max_draws_per_eval": 5})
DATA = DataRef(name="noise", spec="noise", identity="gaussian:3x32x32", synthetic=True)
LEASE = 0.5
#: score names cached before migrations 4 and 5
CACHED = ("naswot", "synflow", "meco", "swap", "ensemble", "ensemble:naswot+flops")
#: values a reference may hold: undefined members (-inf), a subnormal, digits a decimal text would round
AWKWARD = sorted([-math.inf, -1e-310, 0.1, 1 / 3, 2.0**60 + 1, 5e-324])


def job(job_id: str = "j1", **fields) -> JobRecord:
    return JobRecord(**{"id": job_id, "status": "queued", "request": REQUEST, "data": DATA, "created_at": time.time(), **fields})


@pytest.fixture
def two_stores(location):
    """Two stores on one database, as two processes (service replicas, or a server and the command line) hold them."""
    first, second = open_store(location), open_store(location)
    yield first, second
    first.close()
    second.close()


def at_version(location: str, version: int, scores: tuple[str, ...] = ()) -> None:
    """Make ``location`` a database of schema ``version``, holding one cached row per score name of ``scores``."""
    dialect = dialect_for(location)
    target, _ = dialect.locate(location)

    def build(execute) -> None:
        for statement in dialect.version_setup:
            execute(statement)
        for step, migration in enumerate(migrations(dialect)[:version], start=1):
            for statement in statements(migration):
                execute(statement)
            execute(dialect.write_version.format(version=step))
        for name in scores:
            execute("INSERT INTO scores VALUES ('nb201','a','d',8,0,?,'exact',1.0,?,1,1,0.1,'cpu',0)", (name, False))

    connection = Connection(dialect, target, 2.0)
    connection.transaction(build)
    connection.close()


# -- score cache ------------------------------------------------------------------------------


@pytest.mark.parametrize("score", [12.5, -math.inf], ids=["finite", "singular"])
def test_a_computed_score_comes_back_from_the_cache_marked_cached(store, score):
    computed = ScoredArch("a", {"naswot": score}, {"params": 10, "flops": 20}, 0.5, "cpu")
    store.put_score(KEY, computed)
    assert store.get_scores(KEY, ["a", "missing"]) == {"a": replace(computed, cached=True)}, "only the stored arch, cached, same values"


@pytest.mark.parametrize("score", [12.5, -math.inf], ids=["finite", "undefined"])
def test_a_cached_value_keeps_its_note_and_an_undefined_one_its_reason(store, score):
    reasons = {} if math.isfinite(score) else {"naswot": "the network has no elementwise activation module"}
    computed = ScoredArch("a", {"naswot": score}, {"params": 10, "flops": 20}, 0.5, "cpu", reasons=reasons, notes={"naswot": "codes of GELU x2"})
    store.put_score(KEY, computed)
    back = store.get_scores(KEY, ["a"])["a"]
    assert (back.reasons, back.notes) == (computed.reasons, computed.notes), f"reason or note changed in the cache: {back}"


def test_a_cache_query_over_many_archs_finds_every_stored_one(store):
    archs = [f"a{i}" for i in range(1203)]
    for arch in archs[::100]:
        store.put_score(KEY, ScoredArch(arch, {"naswot": 1.0}, {"params": 1, "flops": 1}))
    assert sorted(store.get_scores(KEY, archs)) == sorted(archs[::100]), "a stored arch was missed past the first chunk"


def test_the_first_write_of_a_cached_key_stays_and_is_seen_by_every_store_on_the_database(two_stores):
    first, second = two_stores
    first.put_score(KEY, ScoredArch("a", {"naswot": 2.5}, {"params": 10, "flops": 20}, 0.1, "cuda:0"))
    second.put_score(KEY, ScoredArch("a", {"naswot": 9.9}, {"params": 10, "flops": 20}, 0.1, "cuda:1"))  # a late duplicate: the first write stays
    assert second.get_scores(KEY, ["a"]) == {"a": ScoredArch("a", {"naswot": 2.5}, {"params": 10, "flops": 20}, 0.1, "cuda:0", cached=True)}, "not shared"
    assert first.count_scores() == 1, "a key was stored twice"


# -- ensemble reference samples ---------------------------------------------------------------


def test_reference_values_round_trip_bit_exactly(store):
    store.put_reference(REFERENCE, "naswot", AWKWARD)
    back = store.get_references(REFERENCE)["naswot"]
    assert [v.hex() for v in back] == [v.hex() for v in AWKWARD], "a stored reference value changed on the way back"


def test_the_first_write_of_a_reference_member_stays_until_it_is_deleted(store):
    store.put_reference(REFERENCE, "naswot", [1.0, 2.0])
    store.put_reference(REFERENCE, "naswot", [9.0])
    assert store.get_references(REFERENCE) == {"naswot": [1.0, 2.0]}, "a second write replaced the stored reference"
    assert store.delete_reference(REFERENCE, "naswot") and not store.delete_reference(REFERENCE, "naswot"), "delete says what it did"
    assert store.get_references(REFERENCE) == {}, "a deleted member is still served"


@pytest.mark.parametrize("field, other", [("seed", 4), ("data", "sha256:other"), ("size", 8), ("precision", "tf32")])
def test_a_reference_belongs_to_its_key_alone(store, field, other):
    store.put_reference(REFERENCE, "naswot", [1.0])
    moved = ReferenceKey(**{**REFERENCE.__dict__, field: other})
    assert store.get_references(moved) == {}, f"a reference stored under one {field} was found under another"


# -- jobs -------------------------------------------------------------------------------------


def test_a_job_record_round_trips_with_its_typed_request_data_and_outcome(store):
    store.create_job(job())
    assert store.start_job("j1", 5.0), "a queued job starts"
    outcome = JobOutcome(stopped=False, exhausted=True, rejected=3, immigrants=0, evaluated=7, budget=10)
    assert store.finish_job("j1", "done", outcome=outcome), "a running job finishes"
    stored = store.get_job("j1")
    assert (stored.status, stored.started_at, stored.outcome, stored.request, stored.data) == ("done", 5.0, outcome, REQUEST, DATA)
    assert not store.finish_job("j1", "failed"), "a finished job never changes again"
    with pytest.raises(ValueError, match="not a finished state"):
        store.finish_job("j1", "running")


def test_jobs_are_listed_newest_first_counted_and_filtered_by_status(store):
    for number, job_id in enumerate(["old", "mid", "new"]):
        store.create_job(job(job_id, created_at=100.0 + number))
    store.start_job("mid", 1.0)
    assert [j.id for j in store.list_jobs()] == ["new", "mid", "old"], "not newest first"
    assert [j.id for j in store.list_jobs(limit=1, offset=1)] == ["mid"], "paging"
    assert [j.id for j in store.list_jobs(status="queued")] == ["new", "old"], "status filter"
    assert store.count_jobs() == {"queued": 2, "running": 1} and [j.id for j in store.active_jobs()] == ["old", "mid", "new"]


@pytest.mark.parametrize("status, expected_after", [("queued", "cancelled"), ("running", "running")])
def test_cancel_ends_a_queued_job_and_flags_a_running_one(store, status, expected_after):
    store.create_job(job())
    if status == "running":
        store.start_job("j1", 1.0)
    assert store.request_cancel("j1") == status, "reports the status it found"
    after = store.get_job("j1")
    assert (after.status, after.cancel_requested) == (expected_after, True)
    assert store.request_cancel("unknown") is None, "an unknown job has no status"


# -- leases -----------------------------------------------------------------------------------


def test_a_job_is_leased_to_one_store_at_a_time(two_stores):
    first, second = two_stores
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


def test_renewal_of_named_jobs_extends_only_those(store):
    for job_id in ("a", "b"):
        store.create_job(job(job_id))
        store.claim_job("replica-a", 30)
    assert store.renew_leases("replica-a", 30, ["b", "unknown"]) == {"b": False}, "renewed a job it was not asked to"
    assert store.renew_leases("replica-a", 30, []) == {}, "no jobs named, none renewed"


def test_a_finished_or_paused_job_gives_its_lease_back(store):
    for job_id in ("done", "paused"):
        store.create_job(job(job_id))
        store.claim_job("replica-a", 30)
        store.start_job(job_id, 1.0)
    store.finish_job("done", "done")
    store.requeue_job("paused")
    assert store.renew_leases("replica-a", 30) == {}, "a lease outlived its job's run"
    assert store.claim_job("replica-b", 30).id == "paused", "a paused job cannot be taken by another replica at once"


# -- evaluations ------------------------------------------------------------------------------


def test_evaluations_are_ranked_singular_last_and_paged_in_order(store):
    store.create_job(job())
    for step, score in enumerate([1.0, -math.inf, 3.0], start=1):
        store.add_evaluation("j1", ScoredArch(f"a{step}", {"naswot": score}, {"params": 1, "flops": 1}, step=step))
    assert [e.step for e in store.top("j1", 3)] == [3, 1, 2], "best first, singular last"
    assert [e.step for e in store.top("j1", 3, exclude_singular=True)] == [3, 1], "singular left out"
    assert [e.step for e in store.evaluations("j1", after_step=1, limit=1)] == [2], "paging after a step"
    assert store.evaluated("j1") == 3


def test_a_replayed_step_rewrites_its_evaluation(store):
    store.create_job(job())
    store.add_evaluation("j1", ScoredArch("first", {"naswot": 1.0}, {"params": 1, "flops": 1}, step=1))
    store.add_evaluation("j1", ScoredArch("replay", {"naswot": -math.inf}, {"params": 2, "flops": 3}, step=1))
    assert store.evaluations("j1") == [ScoredArch("replay", {"naswot": -math.inf}, {"params": 2, "flops": 3}, step=1)] and store.evaluated("j1") == 1


# -- schema -----------------------------------------------------------------------------------


def test_an_old_database_is_brought_to_the_current_version_once(location):
    at_version(location, 1)
    for job_id in ("first-open", "second-open"):  # a second store opening it finds the schema current and changes nothing
        opened = open_store(location)
        assert opened.schema_version() == SCHEMA_VERSION, "the database was not migrated"
        opened.create_job(job(job_id))
        assert opened.claim_job("replica-a", 30).id == job_id, "the lease columns of migration 2 are missing"
        opened.close()


@pytest.mark.parametrize(
    "version, kept_names",
    [(3, ["naswot", "synflow"]), (4, ["meco", "naswot", "swap", "synflow"])],
    ids=["v3-meco-swap-ensembles-redefined", "v4-ensemble-ranks-interpolated"],
)
def test_upgrade_drops_cached_values_of_redefined_scores_only(location, version, kept_names):
    """Migrations 4 and 5: values cached under a score's old definition are scored afresh, the rest kept."""
    at_version(location, version, scores=CACHED)
    opened = open_store(location)
    kept = sorted(name for name in CACHED if opened.get_scores(CacheKey("nb201", "d", 8, 0, name, "exact"), ["a"]))
    opened.close()
    assert kept == kept_names, f"the upgrade from version {version} kept {kept}"


def test_upgrade_to_schema_8_drops_cached_nulls_that_carry_no_reason(location):
    """Migration 8: a null cached before reasons were kept is scored afresh (then it keeps its reason); values stay."""
    at_version(location, 7, scores=("naswot",))  # arch 'a', value 1.0
    dialect = dialect_for(location)
    connection = Connection(dialect, dialect.locate(location)[0], 2.0)
    connection.transaction(lambda execute: execute("INSERT INTO scores VALUES ('nb201','b','d',8,0,'naswot','exact',NULL,?,1,1,0.1,'cpu',0)", (True,)))
    connection.close()
    opened = open_store(location)
    kept = sorted(opened.get_scores(CacheKey("nb201", "d", 8, 0, "naswot", "exact"), ["a", "b"]))
    opened.close()
    assert kept == ["a"], f"the upgrade kept {kept}: the reasonless null 'b' must go, the value 'a' stay"


def test_a_database_of_a_newer_schema_is_refused(location):
    at_version(location, SCHEMA_VERSION)
    dialect = dialect_for(location)
    connection = Connection(dialect, dialect.locate(location)[0], 2.0)
    connection.transaction(lambda execute: execute(dialect.write_version.format(version=SCHEMA_VERSION + 1)))
    connection.close()
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}; this service knows up to {SCHEMA_VERSION}"):
        open_store(location)


# -- back ends --------------------------------------------------------------------------------


@pytest.mark.parametrize("where, backend", [
    ("db.sqlite", "sqlite"), (":memory:", "sqlite"), ("postgresql://h/db", "postgresql"), ("postgres://h/db", "postgresql"),
])
def test_a_location_is_served_by_the_back_end_its_scheme_names(where, backend):
    assert dialect_for(where).name == backend, f"{where} went to {dialect_for(where).name}"


def test_a_dialect_must_name_every_ddl_type_the_schema_uses():
    sqlite = dialect_for("db.sqlite")
    with pytest.raises(ValueError, match=r"names no DDL type for \['bigint'\]"):
        replace(sqlite, types={role: name for role, name in sqlite.types.items() if role != "bigint"})


def test_a_server_location_is_shown_with_its_password_masked():
    shown = dialect_for("postgresql://u:secret@h/db").locate("postgresql://u:secret@h/db")
    assert shown == ("postgresql://u:secret@h/db", "postgresql://u:***@h/db"), f"shown as {shown[1]}"


# -- measured latencies ----------------------------------------------------------------------------


def test_a_stored_latency_is_found_only_under_its_own_device(store):
    key = LatencyKey("nb201", "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|", "cuda: GPU A", 1, "3x32x32")
    store.put_latency(key, 1.5)
    assert store.get_latency(key) == 1.5
    for other in ({"device": "cuda: GPU B"}, {"batch": 8}, {"resolution": "3x64x64"}):
        assert store.get_latency(LatencyKey(**{**key.__dict__, **other})) is None, f"a figure crossed to {other}"


def test_an_evaluation_keeps_its_latency(store):
    store.create_job(job("job1"))
    store.add_evaluation("job1", ScoredArch("a", {"naswot": 1.0}, {"params": 10, "flops": 10, "latency_ms": 2.5}, step=1))
    store.add_evaluation("job1", ScoredArch("b", {"naswot": 2.0}, {"params": 10, "flops": 10}, step=2))
    assert [e.latency_ms for e in store.evaluations("job1")] == [2.5, None], "an evaluation's latency was not kept as written"


def test_an_evaluation_keeps_every_value_its_search_reported_by_name_and_in_order(store):
    store.create_job(job("job1"))
    values = {"naswot": 12.5, "synflow": -math.inf, "ensemble": 1 / 3}
    store.add_evaluation("job1", ScoredArch("a", values, {"params": 10, "flops": 20}, step=1))
    [back] = store.evaluations("job1")
    assert list(back.values.items()) == list(values.items()), f"values changed in the store: {back.values}"
    assert store.top("job1", 1)[0].values == values, "top reads the values too"


def test_an_evaluation_stored_before_schema_7_reads_as_its_jobs_ranking_score(location):
    at_version(location, 6)
    old = open_store(location)
    try:
        old.create_job(job("job1"))
        columns = "job_id, step, arch, score, singular, params, flops, created_at"
        old._db.write(f"INSERT INTO evaluations ({columns}) VALUES (?,?,?,?,?,?,?,?)", ("job1", 1, "a", 2.5, False, 10, 20, 0.0))
        [back] = old.evaluations("job1")
    finally:
        old.close()
    assert back.values == {REQUEST.score: 2.5} and back.costs == {"params": 10, "flops": 20}, f"a legacy row read as {back}"
