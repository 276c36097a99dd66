"""The PostgreSQL store (psycopg 3): the SQLite store's schema and semantics, shared by several replicas.

Every replica of the service may point at one database: a score written by one is a cache hit on
the others (the first write of a key wins), and a search job runs on one replica at a time through
a lease (``lease_owner``, ``lease_expires``) that its runner renews; a job whose lease expired is
taken over by another replica (``SELECT ... FOR UPDATE SKIP LOCKED``) and resumed as after a restart.
The schema is versioned: :data:`MIGRATIONS` are applied in order, under an advisory lock, at connect.
``psycopg`` is an optional dependency (``pip install '.[postgres]'``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, TypeVar

from ..records import JobOutcome, JobRecord, JobStatus, ScoredArch
from .base import (
    ACTIVE_SQL, DROP_ENSEMBLE_SCORES, DROP_REDEFINED_SCORES, EVALUATION_COLUMNS, JOB_COLUMNS, CacheKey, SharedSQL, Store, StoreError, claim_next,
    evaluation_from, finish_values, job_values,
)

T = TypeVar("T")

#: schema migrations, version i+1 at index i; never edit one that has shipped, append a new one
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE scores (
        space TEXT NOT NULL, arch TEXT NOT NULL, data TEXT NOT NULL, batch_size INTEGER NOT NULL,
        seed BIGINT NOT NULL, score_name TEXT NOT NULL, precision TEXT NOT NULL,
        score DOUBLE PRECISION, singular BOOLEAN NOT NULL, params BIGINT NOT NULL, flops BIGINT NOT NULL,
        seconds DOUBLE PRECISION NOT NULL, device TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (space, data, batch_size, seed, score_name, precision, arch)
    );
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY, status TEXT NOT NULL, request TEXT NOT NULL, data TEXT,
        created_at DOUBLE PRECISION NOT NULL, started_at DOUBLE PRECISION, finished_at DOUBLE PRECISION,
        resumed INTEGER NOT NULL DEFAULT 0, cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
        error TEXT, outcome TEXT, device TEXT
    );
    CREATE INDEX jobs_status ON jobs (status, created_at);
    CREATE TABLE evaluations (
        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE, step INTEGER NOT NULL,
        arch TEXT NOT NULL, score DOUBLE PRECISION, singular BOOLEAN NOT NULL, params BIGINT NOT NULL,
        flops BIGINT NOT NULL, created_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (job_id, step)
    );
    """,
    """
    ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
    ALTER TABLE jobs ADD COLUMN lease_expires DOUBLE PRECISION;
    """,
    """
    CREATE TABLE reference_values (
        space TEXT NOT NULL, data TEXT NOT NULL, batch_size INTEGER NOT NULL, seed BIGINT NOT NULL,
        precision TEXT NOT NULL, size INTEGER NOT NULL, member TEXT NOT NULL,
        sorted_values TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (space, data, batch_size, seed, precision, size, member)
    );
    """,
    DROP_REDEFINED_SCORES,
    DROP_ENSEMBLE_SCORES,
)

_KEY_MATCH = "space=%s AND data=%s AND batch_size=%s AND seed=%s AND score_name=%s AND precision=%s"
_PUT_SCORE = (
    "INSERT INTO scores VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) "
    "ON CONFLICT (space, data, batch_size, seed, score_name, precision, arch) DO NOTHING"
)
_START = "UPDATE jobs SET status='running', started_at=%s, error=NULL WHERE id=%s AND status='queued'"
_REQUEUE = (
    f"UPDATE jobs SET status='queued', resumed=COALESCE(%s, resumed), lease_owner=NULL, lease_expires=NULL "
    f"WHERE id=%s AND status IN {ACTIVE_SQL}"
)
_FINISH = (
    f"UPDATE jobs SET status=%s, finished_at=%s, error=%s, outcome=COALESCE(%s, outcome), lease_owner=NULL, lease_expires=NULL "
    f"WHERE id=%s AND status IN {ACTIVE_SQL}"
)
_CLAIMABLE = (
    f"SELECT {JOB_COLUMNS} FROM jobs WHERE status IN {ACTIVE_SQL} AND (lease_expires IS NULL OR lease_expires < %s) "
    "AND NOT (status='running' AND lease_expires IS NULL) ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED"
)
_TAKE = "UPDATE jobs SET status='queued', resumed=%s, lease_owner=%s, lease_expires=%s WHERE id=%s"
_RENEW = (
    f"UPDATE jobs SET lease_expires=%s WHERE lease_owner=%s AND status IN {ACTIVE_SQL} "
    "AND (%s::text[] IS NULL OR id = ANY(%s::text[])) RETURNING id, cancel_requested"
)


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise StoreError("a postgresql:// database needs the postgres extra: pip install 'naswot-service[postgres]'") from exc
    return psycopg


class PostgresStore(SharedSQL, Store):
    """The service database in PostgreSQL; one connection, one statement (or transaction) at a time."""

    shared = True  # other processes use the same jobs: run them through leases
    placeholder = "%s"

    def __init__(self, dsn: str, *, busy_timeout: float = 5.0):
        psycopg = _psycopg()
        self.location = _without_password(dsn)
        self.busy_timeout = busy_timeout
        self._dsn = dsn
        self._lock = threading.Lock()
        self._psycopg = psycopg
        self._db = self._connect()
        self._transaction(self._migrate)

    def _connect(self) -> Any:
        from psycopg.rows import dict_row

        try:
            return self._psycopg.connect(self._dsn, autocommit=True, row_factory=dict_row, connect_timeout=10)
        except self._psycopg.Error as exc:
            raise StoreError(f"cannot connect to {self.location}: {exc}") from exc

    @staticmethod
    def _migrate(db: Any) -> None:
        """Apply the migrations this database has not had yet (one replica at a time)."""
        db.execute("SELECT pg_advisory_xact_lock(hashtext('naswot schema'))")
        db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)")
        current = db.execute("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations").fetchone()["v"]
        if current > len(MIGRATIONS):
            raise StoreError(f"database has schema version {current}; this service knows up to {len(MIGRATIONS)}")
        for version in range(current + 1, len(MIGRATIONS) + 1):
            db.execute(MIGRATIONS[version - 1])
            db.execute("INSERT INTO schema_migrations VALUES (%s, %s)", (version, time.time()))

    def schema_version(self) -> int:
        return self._rows("SELECT MAX(version) AS v FROM schema_migrations")[0]["v"]

    # -- one place that talks to the connection --------------------------------------------

    def _attempt(self, work: Callable[[Any], T]) -> T:
        """Run ``work`` under the lock, reconnecting once when the connection was lost."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._db.closed or self._db.broken:
                        self._db = self._connect()
                    return work(self._db)
                except self._psycopg.OperationalError as exc:
                    if attempt == 2:
                        raise StoreError(f"database error: {exc}") from exc
                except self._psycopg.Error as exc:
                    raise StoreError(f"database error: {exc}") from exc
        raise AssertionError("unreachable")

    def _transaction(self, work: Callable[[Any], T]) -> T:
        def in_transaction(db: Any) -> T:
            with db.transaction():
                db.execute("SELECT set_config('lock_timeout', %s, true)", (f"{int(self.busy_timeout * 1000)}ms",))
                return work(db)

        return self._attempt(in_transaction)

    def _write(self, sql: str, args: Sequence[Any]) -> int:
        return self._attempt(lambda db: db.execute(sql, args).rowcount)

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self._attempt(lambda db: db.execute(sql, args).fetchall())

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def problem(self) -> str | None:
        try:
            self._rows("SELECT 1")
        except StoreError as exc:
            return str(exc)
        return None

    # -- score cache -------------------------------------------------------------------------

    def get_scores(self, key: CacheKey, archs: Iterable[str]) -> dict[str, ScoredArch]:
        wanted = list(dict.fromkeys(archs))
        if not wanted:
            return {}
        rows = self._rows(
            f"SELECT arch, score, params, flops, seconds, device FROM scores WHERE {_KEY_MATCH} AND arch = ANY(%s)",
            (key.space, key.data, key.batch_size, key.seed, key.definition, key.precision, wanted),
        )
        return {
            r["arch"]: ScoredArch(r["arch"], ScoredArch.score_from(r["score"]), r["params"], r["flops"], r["seconds"], r["device"], cached=True)
            for r in rows
        }

    def put_score(self, key: CacheKey, result: ScoredArch) -> None:
        self._write(_PUT_SCORE, (
            key.space, result.arch, key.data, key.batch_size, key.seed, key.definition, key.precision,
            result.nullable_score, result.singular, result.params, result.flops, result.seconds, result.device, time.time(),
        ))

    def count_scores(self) -> int:
        return self._rows("SELECT COUNT(*) AS n FROM scores")[0]["n"]

    # -- jobs --------------------------------------------------------------------------------

    def create_job(self, job: JobRecord) -> None:
        self._write(f"INSERT INTO jobs ({JOB_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", job_values(job))

    def start_job(self, job_id: str, started_at: float) -> bool:
        return self._write(_START, (started_at, job_id)) == 1

    def requeue_job(self, job_id: str, resumed: int | None = None) -> bool:
        return self._write(_REQUEUE, (resumed, job_id)) == 1

    def finish_job(self, job_id: str, status: JobStatus, *, error: str | None = None, outcome: JobOutcome | None = None) -> bool:
        return self._write(_FINISH, finish_values(job_id, status, error, outcome)) == 1

    def request_cancel(self, job_id: str) -> JobStatus | None:
        def cancel(db: Any) -> JobStatus | None:
            row = db.execute("SELECT status FROM jobs WHERE id=%s FOR UPDATE", (job_id,)).fetchone()
            if row is None:
                return None
            if row["status"] == "queued":
                db.execute("UPDATE jobs SET status='cancelled', cancel_requested=TRUE, finished_at=%s WHERE id=%s", (time.time(), job_id))
            elif row["status"] == "running":
                db.execute("UPDATE jobs SET cancel_requested=TRUE WHERE id=%s", (job_id,))
            return row["status"]

        return self._transaction(cancel)

    # -- leases ------------------------------------------------------------------------------

    def claim_job(self, owner: str, lease_seconds: float) -> JobRecord | None:
        def claim(db: Any) -> JobRecord | None:
            return claim_next(db.execute(_CLAIMABLE, (time.time(),)).fetchone(), owner, lease_seconds, lambda a: db.execute(_TAKE, a))

        return self._transaction(claim)

    def renew_leases(self, owner: str, lease_seconds: float, job_ids: Collection[str] | None = None) -> dict[str, bool]:
        ids = None if job_ids is None else list(job_ids)
        rows = self._rows(_RENEW, (time.time() + lease_seconds, owner, ids, ids))
        return {r["id"]: r["cancel_requested"] for r in rows}

    # -- evaluations -------------------------------------------------------------------------

    def add_evaluation(self, job_id: str, evaluation: ScoredArch) -> None:
        if evaluation.step is None:
            raise ValueError("an evaluation needs its step")
        self._write(
            "INSERT INTO evaluations VALUES (%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (job_id, step) DO UPDATE SET "
            "arch=EXCLUDED.arch, score=EXCLUDED.score, singular=EXCLUDED.singular, params=EXCLUDED.params, flops=EXCLUDED.flops",
            (job_id, evaluation.step, evaluation.arch, evaluation.nullable_score, evaluation.singular,
             evaluation.params, evaluation.flops, time.time()),
        )

    def evaluations(self, job_id: str, after_step: int = 0, limit: int = 1000) -> list[ScoredArch]:
        rows = self._rows(
            f"SELECT {EVALUATION_COLUMNS} FROM evaluations WHERE job_id=%s AND step>%s ORDER BY step LIMIT %s", (job_id, after_step, limit)
        )
        return [evaluation_from(r) for r in rows]

    def evaluated(self, job_id: str) -> int:
        return self._rows("SELECT COUNT(*) AS n FROM evaluations WHERE job_id=%s", (job_id,))[0]["n"]

    def top(self, job_id: str, k: int, exclude_singular: bool = False) -> list[ScoredArch]:
        extra = "AND NOT singular" if exclude_singular else ""
        rows = self._rows(
            f"SELECT {EVALUATION_COLUMNS} FROM evaluations WHERE job_id=%s {extra} ORDER BY singular, score DESC, step LIMIT %s", (job_id, k)
        )
        return [evaluation_from(r) for r in rows]



def _without_password(dsn: str) -> str:
    """The connection string as logged and shown: any password masked."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
