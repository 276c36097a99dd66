"""The store and its records: typed rows in and out, -inf <-> null in one place, and no Python lock held through a locked database."""

from __future__ import annotations

import math
import sqlite3
import threading
import time

import pytest

from app.records import DataRef, JobOutcome, JobRecord, ScoredArch, SearchSpec
from app.store import CacheKey, StoreBusy, open_store
from scoring import ArchScore
from search import Constraints

KEY = CacheKey("nb201", "gaussian:3x8x8", 8, 0, "naswot", "exact")
REQUEST = SearchSpec(space="nb201", strategy="random", budget=10, top_k=3, seed=1, data="noise", batch_size=8,
                     constraints=Constraints(max_params=10**6), strategy_params={"max_draws_per_eval": 5})
DATA = DataRef(name="noise", spec="noise", identity="gaussian:3x32x32", synthetic=True)


def job(job_id: str = "j1", **fields) -> JobRecord:
    return JobRecord(id=job_id, status="queued", request=REQUEST, data=DATA, created_at=time.time(), **fields)


@pytest.fixture
def store(tmp_path):
    opened = open_store(tmp_path / "db.sqlite", busy_timeout=0.3)
    yield opened
    opened.close()


@pytest.mark.parametrize("score, nullable", [(12.5, 12.5), (-math.inf, None)])
def test_a_scored_arch_carries_minus_infinity_as_null_and_back(score, nullable):
    record = ScoredArch("a", score, 1, 2)
    assert record.nullable_score == nullable, "the JSON/SQL form of the score"
    assert ScoredArch.score_from(record.nullable_score) == score, "the way back"
    assert record.to_json()["singular"] is (score == -math.inf), "singular follows -inf"


def test_a_computed_score_comes_back_from_the_cache_marked_cached(store):
    computed = ScoredArch.computed(ArchScore("a", -math.inf, 10, 20, 0.5), "cpu")
    store.put_score(KEY, computed)
    found = store.get_scores(KEY, ["a", "missing"])
    assert found == {"a": computed.from_cache()}, "only the stored arch, cached, same values"


def test_a_job_record_round_trips_with_its_typed_request_data_and_outcome(store):
    store.create_job(job())
    assert store.start_job("j1", 5.0), "a queued job starts"
    outcome = JobOutcome(stopped=False, exhausted=True, rejected=3, immigrants=0, evaluated=7, budget=10)
    assert store.finish_job("j1", "done", outcome=outcome), "a running job finishes"
    stored = store.get_job("j1")
    assert (stored.status, stored.started_at, stored.outcome, stored.request, stored.data) == ("done", 5.0, outcome, REQUEST, DATA)
    assert not store.finish_job("j1", "failed"), "a finished job never changes again"


@pytest.mark.parametrize("status, expected_after", [("queued", "cancelled"), ("running", "running")])
def test_cancel_ends_a_queued_job_and_flags_a_running_one(store, status, expected_after):
    store.create_job(job())
    if status == "running":
        store.start_job("j1", 1.0)
    assert store.request_cancel("j1") == status, "reports the status it found"
    after = store.get_job("j1")
    assert (after.status, after.cancel_requested) == (expected_after, True)


def test_evaluations_are_ranked_singular_last_and_paged_in_order(store):
    store.create_job(job())
    for step, score in enumerate([1.0, -math.inf, 3.0], start=1):
        store.add_evaluation("j1", ScoredArch(f"a{step}", score, 1, 1, step=step))
    assert [e.step for e in store.top("j1", 3)] == [3, 1, 2], "best first, singular last"
    assert [e.step for e in store.top("j1", 3, exclude_singular=True)] == [3, 1], "singular left out"
    assert [e.step for e in store.evaluations("j1", after_step=1, limit=1)] == [2], "paging after a step"


def test_a_locked_database_fails_a_write_after_the_busy_timeout_while_checks_answer_at_once(store):
    locker = sqlite3.connect(store.location, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        failure: list[BaseException] = []
        writer = threading.Thread(target=lambda: _capture(failure, store.put_score, KEY, ScoredArch("b", 1.0, 1, 1)))
        started = time.monotonic()
        writer.start()
        time.sleep(0.05)
        checked = time.monotonic()
        problem = store.problem()
        assert time.monotonic() - checked < 0.1, "the health check waited on the writer's busy wait"
        assert problem is not None and "locked" in problem, f"the check must say the database is locked, said {problem!r}"
        assert store.get_scores(KEY, ["b"]) == {}, "reads go on while another connection writes"
        writer.join(5)
        assert isinstance(failure[0], StoreBusy), f"the write must fail with StoreBusy, got {failure!r}"
        assert time.monotonic() - started < 1.0, "the write gave up long after the busy timeout"
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert store.problem() is None, "writable again once the lock is gone"


def _capture(sink: list[BaseException], call, *args) -> None:
    try:
        call(*args)
    except BaseException as exc:  # noqa: BLE001 - the test inspects it
        sink.append(exc)


@pytest.mark.parametrize(
    "version, kept_names",
    [(3, ["naswot", "synflow"]), (4, ["meco", "naswot", "swap", "synflow"])],
    ids=["v3-meco-swap-ensembles-redefined", "v4-ensemble-ranks-interpolated"],
)
def test_upgrade_drops_cached_values_of_redefined_scores_only(tmp_path, version, kept_names):
    """Migrations 4 and 5: values cached under a score's old definition are scored afresh, the rest kept."""
    from app.store.sqlite import MIGRATIONS

    path = tmp_path / f"v{version}.sqlite"
    with sqlite3.connect(path) as old:
        old.executescript("".join(MIGRATIONS[:version]) + f"PRAGMA user_version={version};")
        for name in ("naswot", "synflow", "meco", "swap", "ensemble", "ensemble:naswot+flops"):
            old.execute("INSERT INTO scores VALUES ('nb201','a','d',8,0,?,'exact',1.0,0,1,1,0.1,'cpu',0)", (name,))
    open_store(path).close()
    with sqlite3.connect(path) as upgraded:
        kept = sorted(r[0] for r in upgraded.execute("SELECT score_name FROM scores"))
    assert kept == kept_names, f"the upgrade from version {version} kept {kept}"
