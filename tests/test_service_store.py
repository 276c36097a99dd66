"""SQLite specifics of the store (the backend-neutral contract is tests/test_store_contract.py): -inf <-> null in one place,
and no Python lock held through a database another connection has locked."""

from __future__ import annotations

import math
import sqlite3
import threading
import time

import pytest

from scoring import ScoredArch
from app.store import CacheKey, StoreBusy

KEY = CacheKey("nb201", "gaussian:3x8x8", 8, 0, "naswot", "exact")


@pytest.fixture
def busy_timeout() -> float:
    """Short: the tests below wait it out."""
    return 0.3


@pytest.mark.parametrize("score, nullable", [(12.5, 12.5), (-math.inf, None)])
def test_a_scored_arch_carries_minus_infinity_as_null_and_back(store, score, nullable):
    record = ScoredArch("a", {"naswot": score}, {"params": 1, "flops": 2})
    assert record.to_json()["score"] == nullable, "the JSON form of the score"
    store.put_score(KEY, record)
    assert store.get_scores(KEY, ["a"])["a"].score == score, "the way back from the SQL column"
    assert record.to_json()["singular"] is (score == -math.inf), "singular follows -inf"


def test_a_locked_database_fails_a_write_after_the_busy_timeout_while_checks_answer_at_once(store):
    locker = sqlite3.connect(store.location, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        failure: list[BaseException] = []
        writer = threading.Thread(target=lambda: _capture(failure, store.put_score, KEY, ScoredArch("b", {"naswot": 1.0}, {"params": 1, "flops": 1})))
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
