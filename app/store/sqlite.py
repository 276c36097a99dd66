"""The SQLite store: one connection in WAL mode, every statement of the service's database in this module.

Each write is its own transaction, so a process killed at any moment keeps everything written
before it. SQLite's own busy wait is off: a statement that finds the database locked gives the
Python lock back and retries after a short sleep, until ``busy_timeout`` has passed. So no thread
waits on the lock while another waits on the database, and :meth:`SQLiteStore.problem` answers at once.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..records import JobOutcome, JobRecord, JobStatus, ScoredArch
from .base import (
    ACTIVE_SQL, DROP_ENSEMBLE_SCORES, DROP_REDEFINED_SCORES, EVALUATION_COLUMNS, JOB_COLUMNS, CacheKey, SharedSQL, Store, StoreBusy, StoreError, claim_next,
    evaluation_from, finish_values, job_values,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scores (
    space TEXT NOT NULL, arch TEXT NOT NULL, data TEXT NOT NULL, batch_size INTEGER NOT NULL,
    seed INTEGER NOT NULL, score_name TEXT NOT NULL, precision TEXT NOT NULL,
    score REAL, singular INTEGER NOT NULL, params INTEGER NOT NULL, flops INTEGER NOT NULL,
    seconds REAL NOT NULL, device TEXT NOT NULL, created_at REAL NOT NULL,
    PRIMARY KEY (space, data, batch_size, seed, score_name, precision, arch)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, status TEXT NOT NULL, request TEXT NOT NULL, data TEXT,
    created_at REAL NOT NULL, started_at REAL, finished_at REAL, resumed INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0, error TEXT, outcome TEXT, device TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, created_at);
CREATE TABLE IF NOT EXISTS evaluations (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE, step INTEGER NOT NULL,
    arch TEXT NOT NULL, score REAL, singular INTEGER NOT NULL, params INTEGER NOT NULL, flops INTEGER NOT NULL,
    created_at REAL NOT NULL, PRIMARY KEY (job_id, step)
) WITHOUT ROWID;
"""

#: schema migrations, version i+1 at index i; never edit one that has shipped, append a new one
MIGRATIONS: tuple[str, ...] = (
    _SCHEMA,
    "ALTER TABLE jobs ADD COLUMN lease_owner TEXT; ALTER TABLE jobs ADD COLUMN lease_expires REAL;",
    """
    CREATE TABLE reference_values (
        space TEXT NOT NULL, data TEXT NOT NULL, batch_size INTEGER NOT NULL, seed INTEGER NOT NULL,
        precision TEXT NOT NULL, size INTEGER NOT NULL, member TEXT NOT NULL,
        sorted_values TEXT NOT NULL, created_at REAL NOT NULL,
        PRIMARY KEY (space, data, batch_size, seed, precision, size, member)
    ) WITHOUT ROWID;
    """,
    DROP_REDEFINED_SCORES,
    DROP_ENSEMBLE_SCORES,
)
SCHEMA_VERSION = len(MIGRATIONS)

_GET_SCORES = (
    "SELECT arch, score, params, flops, seconds, device FROM scores WHERE space=? AND data=? "
    "AND batch_size=? AND seed=? AND score_name=? AND precision=? AND arch IN ({marks})"
)
_PUT_SCORE = "INSERT OR REPLACE INTO scores VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
_INSERT_JOB = f"INSERT INTO jobs ({JOB_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
_START = "UPDATE jobs SET status='running', started_at=?, error=NULL WHERE id=? AND status='queued'"
_NO_LEASE = "lease_owner=NULL, lease_expires=NULL"
_REQUEUE = f"UPDATE jobs SET status='queued', resumed=COALESCE(?, resumed), {_NO_LEASE} WHERE id=? AND status IN {ACTIVE_SQL}"
_FINISH = f"UPDATE jobs SET status=?, finished_at=?, error=?, outcome=COALESCE(?, outcome), {_NO_LEASE} WHERE id=? AND status IN {ACTIVE_SQL}"
_CLAIMABLE = (
    f"SELECT {JOB_COLUMNS} FROM jobs WHERE status IN {ACTIVE_SQL} AND (lease_expires IS NULL OR lease_expires < ?) "
    "AND NOT (status='running' AND lease_expires IS NULL) ORDER BY created_at, id LIMIT 1"
)
_TAKE = "UPDATE jobs SET status='queued', resumed=?, lease_owner=?, lease_expires=? WHERE id=?"
_RENEW = f"UPDATE jobs SET lease_expires=? WHERE lease_owner=? AND status IN {ACTIVE_SQL} {{only}} RETURNING id, cancel_requested"
_CANCEL_QUEUED = "UPDATE jobs SET status='cancelled', cancel_requested=1, finished_at=? WHERE id=? AND status='queued'"
_FLAG_CANCEL = "UPDATE jobs SET cancel_requested=1 WHERE id=? AND status='running'"

T = TypeVar("T")


class SQLiteStore(SharedSQL, Store):
    """The service database in a SQLite file (or ``:memory:`` for tests)."""

    def __init__(self, path: str | Path, *, busy_timeout: float = 5.0):
        path = str(path)
        if path != ":memory:":
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
            path = str(Path(path).expanduser())
        self.location = path
        self.busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=0)
        self._db.row_factory = sqlite3.Row
        self._attempt(self._migrate)

    @property
    def path(self) -> str:
        return self.location

    def _migrate(self, db: sqlite3.Connection) -> None:
        """Open the database in WAL mode and create (or check) its schema."""
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(f"database {self.location} has schema version {version}; this service knows up to {SCHEMA_VERSION}")
        for step in range(version + 1, SCHEMA_VERSION + 1):
            db.executescript(f"BEGIN; {MIGRATIONS[step - 1]} PRAGMA user_version={step}; COMMIT;")

    # -- one place that talks to the connection --------------------------------------------

    def _attempt(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` under the lock; while the database is locked elsewhere, retry with the lock released."""
        deadline = time.monotonic() + self.busy_timeout
        pause = 0.005
        while True:
            with self._lock:
                try:
                    return work(self._db)
                except sqlite3.OperationalError as exc:
                    if not _is_busy(exc):
                        raise StoreError(f"database error: {exc}") from exc
                except sqlite3.Error as exc:
                    raise StoreError(f"database error: {exc}") from exc
            if time.monotonic() >= deadline:
                raise StoreBusy(f"the database stayed locked by another connection for {self.busy_timeout:g} s")
            time.sleep(pause)
            pause = min(pause * 2, 0.1)

    def _write(self, sql: str, args: Sequence[Any]) -> int:
        """Execute one write; the rows it changed."""
        return self._attempt(lambda db: db.execute(sql, args).rowcount)

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self._attempt(lambda db: db.execute(sql, args).fetchall())

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def problem(self) -> str | None:
        def probe(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            db.execute("ROLLBACK")

        with self._lock:
            try:
                probe(self._db)
            except sqlite3.OperationalError as exc:
                if _is_busy(exc):
                    return f"database is locked by another connection (writes wait up to {self.busy_timeout:g} s, then fail)"
                return f"database error: {exc}"
            except sqlite3.Error as exc:
                return f"database error: {exc}"
        return None

    # -- score cache -------------------------------------------------------------------------

    def get_scores(self, key: CacheKey, archs: Iterable[str]) -> dict[str, ScoredArch]:
        wanted = list(dict.fromkeys(archs))
        found: dict[str, ScoredArch] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            sql = _GET_SCORES.format(marks=",".join("?" * len(chunk)))
            for r in self._rows(sql, (key.space, key.data, key.batch_size, key.seed, key.definition, key.precision, *chunk)):
                found[r["arch"]] = ScoredArch(
                    r["arch"], ScoredArch.score_from(r["score"]), r["params"], r["flops"], r["seconds"], r["device"], cached=True
                )
        return found

    def put_score(self, key: CacheKey, result: ScoredArch) -> None:
        self._write(_PUT_SCORE, (
            key.space, result.arch, key.data, key.batch_size, key.seed, key.definition, key.precision,
            result.nullable_score, int(result.singular), result.params, result.flops, result.seconds, result.device, time.time(),
        ))

    def count_scores(self) -> int:
        return self._rows("SELECT COUNT(*) FROM scores")[0][0]

    # -- jobs --------------------------------------------------------------------------------

    def create_job(self, job: JobRecord) -> None:
        self._write(_INSERT_JOB, job_values(job))

    def start_job(self, job_id: str, started_at: float) -> bool:
        return self._write(_START, (started_at, job_id)) == 1

    def requeue_job(self, job_id: str, resumed: int | None = None) -> bool:
        return self._write(_REQUEUE, (resumed, job_id)) == 1

    def finish_job(self, job_id: str, status: JobStatus, *, error: str | None = None, outcome: JobOutcome | None = None) -> bool:
        return self._write(_FINISH, finish_values(job_id, status, error, outcome)) == 1

    def request_cancel(self, job_id: str) -> JobStatus | None:
        def cancel(db: sqlite3.Connection) -> JobStatus | None:
            row = db.execute("SELECT status FROM jobs WHERE id=?", (job_id,)).fetchone()
            if row is None:
                return None
            if row["status"] == "queued":
                db.execute(_CANCEL_QUEUED, (time.time(), job_id))
            elif row["status"] == "running":
                db.execute(_FLAG_CANCEL, (job_id,))
            return row["status"]

        return self._attempt(cancel)

    # -- leases ------------------------------------------------------------------------------

    def claim_job(self, owner: str, lease_seconds: float) -> JobRecord | None:
        def claim(db: sqlite3.Connection) -> JobRecord | None:
            db.execute("BEGIN IMMEDIATE")
            try:
                taken = claim_next(db.execute(_CLAIMABLE, (time.time(),)).fetchone(), owner, lease_seconds, lambda a: db.execute(_TAKE, a))
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return taken

        return self._attempt(claim)

    def renew_leases(self, owner: str, lease_seconds: float, job_ids: Collection[str] | None = None) -> dict[str, bool]:
        ids = [] if job_ids is None else list(job_ids)
        only = "" if job_ids is None else f"AND id IN ({','.join('?' * len(ids))})"
        sql = _RENEW.format(only=only)
        rows = self._attempt(lambda db: db.execute(sql, (time.time() + lease_seconds, owner, *ids)).fetchall())
        return {r["id"]: bool(r["cancel_requested"]) for r in rows}

    # -- evaluations -------------------------------------------------------------------------

    def add_evaluation(self, job_id: str, evaluation: ScoredArch) -> None:
        if evaluation.step is None:
            raise ValueError("an evaluation needs its step")
        self._write("INSERT OR REPLACE INTO evaluations VALUES (?,?,?,?,?,?,?,?)", (
            job_id, evaluation.step, evaluation.arch, evaluation.nullable_score, int(evaluation.singular),
            evaluation.params, evaluation.flops, time.time(),
        ))

    def evaluations(self, job_id: str, after_step: int = 0, limit: int = 1000) -> list[ScoredArch]:
        rows = self._rows(
            f"SELECT {EVALUATION_COLUMNS} FROM evaluations WHERE job_id=? AND step>? ORDER BY step LIMIT ?", (job_id, after_step, limit)
        )
        return [evaluation_from(r) for r in rows]

    def evaluated(self, job_id: str) -> int:
        return self._rows("SELECT COUNT(*) FROM evaluations WHERE job_id=?", (job_id,))[0][0]

    def top(self, job_id: str, k: int, exclude_singular: bool = False) -> list[ScoredArch]:
        extra = "AND singular=0" if exclude_singular else ""
        rows = self._rows(
            f"SELECT {EVALUATION_COLUMNS} FROM evaluations WHERE job_id=? {extra} ORDER BY singular, score DESC, step LIMIT ?", (job_id, k)
        )
        return [evaluation_from(r) for r in rows]



def _is_busy(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED: another connection holds the database."""
    text = str(exc).lower()
    return "locked" in text or "busy" in text
