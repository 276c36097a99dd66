"""The one SQL store: every statement of the service's database, written once with ``?`` placeholders.

What differs between back ends (placeholders, upsert and row-lock clauses, DDL type names, the schema
version, opening a connection, telling busy from lost) is the :class:`app.store.dialect.Dialect` it is
given; the connection, its lock and its retries are :class:`app.store.connection.Connection`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

from scoring import LatencyKey, ScoredArch, from_json_number, json_number

from app.service.records import ACTIVE, JobOutcome, JobRecord, JobRequest, JobStatus
from app.store.base import CacheKey, ReferenceKey, Store, StoreError, decode_values, encode_values
from app.store.connection import Connection
from app.store.dialect import Dialect
from app.store.schema import SCHEMA_VERSION, migrations, statements

#: the active job statuses as an SQL list, for ``status IN ...``
_ACTIVE = "(" + ", ".join(f"'{status}'" for status in ACTIVE) + ")"
#: the stored columns of a job, in the order of :func:`_job_values`
_JOB_COLUMNS = "id, status, request, data, created_at, started_at, finished_at, resumed, cancel_requested, error, outcome, device"
#: the stored columns of an evaluation that :func:`_evaluation` reads
_EVALUATION_COLUMNS = "step, arch, score, params, flops, latency_ms, score_values"
#: ``precision`` and ``member`` are quoted throughout: reserved words in MySQL, plain names elsewhere
_SCORE_KEY = ("space", "data", "batch_size", "seed", "score_name", '"precision"', "arch")
_REFERENCE_KEY = ("space", "data", "batch_size", "seed", '"precision"', "size", '"member"')
_REFERENCE_MATCH = "space=? AND data=? AND batch_size=? AND seed=? AND \"precision\"=? AND size=?"
#: a measured latency's key (:class:`scoring.LatencyKey`): the device that measured it is part of it
_LATENCY_KEY = ("space", "arch", "device", "batch", "resolution")
_LATENCY_MATCH = " AND ".join(f"{c}=?" for c in _LATENCY_KEY)
_CHUNK = 500  # archs per cache query: well under every back end's limit on parameters

_GET_SCORES = (
    "SELECT arch, score, params, flops, seconds, device, undefined_reason, note FROM scores WHERE space=? AND data=? "
    "AND batch_size=? AND seed=? AND score_name=? AND \"precision\"=? AND arch IN ({marks})"
)
_NO_LEASE = "lease_owner=NULL, lease_expires=NULL"
_START = "UPDATE jobs SET status='running', started_at=?, error=NULL WHERE id=? AND status='queued'"
_REQUEUE = f"UPDATE jobs SET status='queued', resumed=COALESCE(?, resumed), {_NO_LEASE} WHERE id=? AND status IN {_ACTIVE}"
_FINISH = f"UPDATE jobs SET status=?, finished_at=?, error=?, outcome=COALESCE(?, outcome), {_NO_LEASE} WHERE id=? AND status IN {_ACTIVE}"
_CANCEL_QUEUED = "UPDATE jobs SET status='cancelled', cancel_requested=TRUE, finished_at=? WHERE id=? AND status='queued'"
_FLAG_CANCEL = "UPDATE jobs SET cancel_requested=TRUE WHERE id=? AND status='running'"
_CLAIMABLE = (
    f"SELECT {_JOB_COLUMNS} FROM jobs WHERE status IN {_ACTIVE} AND (lease_expires IS NULL OR lease_expires < ?) "
    "AND NOT (status='running' AND lease_expires IS NULL) ORDER BY created_at, id LIMIT 1"
)
_TAKE = "UPDATE jobs SET status='queued', resumed=?, lease_owner=?, lease_expires=? WHERE id=?"
_HELD = f"lease_owner=? AND status IN {_ACTIVE}"


class SQLStore(Store):
    """The service database on one SQL back end; each method is one statement or one transaction."""

    def __init__(self, dialect: Dialect, location: str, *, busy_timeout: float = 5.0):
        target, self.location = dialect.locate(str(location))
        self.dialect = dialect
        self.shared = dialect.shared
        self.busy_timeout = busy_timeout
        self._db = Connection(dialect, target, busy_timeout)
        self._db.transaction(self._migrate)

    def _migrate(self, execute: Callable[..., Any]) -> None:
        """Bring the schema to :data:`SCHEMA_VERSION` (refusing a newer one), in one transaction."""
        for statement in self.dialect.version_setup:
            execute(statement)
        version = execute(self.dialect.read_version).fetchone()["version"]
        if version > SCHEMA_VERSION:
            raise StoreError(f"database {self.location} has schema version {version}; this service knows up to {SCHEMA_VERSION}")
        for step, migration in enumerate(migrations(self.dialect)[version:], start=version + 1):
            for statement in statements(migration):
                execute(statement)
            execute(self.dialect.write_version.format(version=step))

    def schema_version(self) -> int:
        """The schema version the database records."""
        return self._db.rows(self.dialect.read_version)[0]["version"]

    def close(self) -> None:
        self._db.close()

    def problem(self) -> str | None:
        return self._db.problem()

    # -- score cache -------------------------------------------------------------------------

    def get_scores(self, key: CacheKey, archs: Iterable[str]) -> dict[str, ScoredArch]:
        wanted = list(dict.fromkeys(archs))
        found: dict[str, ScoredArch] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            sql = _GET_SCORES.format(marks=",".join("?" * len(chunk)))
            for r in self._db.rows(sql, (key.space, key.data, key.batch_size, key.seed, key.definition, key.precision, *chunk)):
                found[r["arch"]] = _cached(r, key.name)
        return found

    def put_score(self, key: CacheKey, result: ScoredArch) -> None:
        value = json_number(result.values[key.name])
        reason = result.reasons.get(key.name) if value is None else None
        self._db.write(f"INSERT INTO scores VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) {self.dialect.upsert(_SCORE_KEY)}", (
            key.space, result.arch, key.data, key.batch_size, key.seed, key.definition, key.precision,
            value, value is None, result.params, result.flops, result.seconds, result.device, time.time(),
            reason, result.notes.get(key.name),
        ))

    def count_scores(self) -> int:
        return self._db.rows("SELECT COUNT(*) AS n FROM scores")[0]["n"]

    # -- ensemble reference samples ----------------------------------------------------------

    def get_references(self, key: ReferenceKey) -> dict[str, list[float]]:
        rows = self._db.rows(f'SELECT "member", sorted_values FROM reference_values WHERE {_REFERENCE_MATCH}', key.columns)
        return {r["member"]: decode_values(r["sorted_values"]) for r in rows}

    def put_reference(self, key: ReferenceKey, member: str, values: Sequence[float]) -> None:
        sql = f"INSERT INTO reference_values VALUES (?,?,?,?,?,?,?,?,?) {self.dialect.upsert(_REFERENCE_KEY)}"
        self._db.write(sql, (*key.row(member), encode_values(values), time.time()))

    def delete_reference(self, key: ReferenceKey, member: str) -> bool:
        return self._db.write(f'DELETE FROM reference_values WHERE {_REFERENCE_MATCH} AND "member"=?', key.row(member)) == 1

    # -- jobs --------------------------------------------------------------------------------

    def create_job(self, job: JobRecord) -> None:
        self._db.write(f"INSERT INTO jobs ({_JOB_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", _job_values(job))

    def get_job(self, job_id: str) -> JobRecord | None:
        rows = self._db.rows(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id=?", (job_id,))
        return JobRecord.from_row(rows[0]) if rows else None

    def list_jobs(self, status: JobStatus | None = None, limit: int = 50, offset: int = 0) -> list[JobRecord]:
        where, args = ("WHERE status=?", [status]) if status else ("", [])
        sql = f"SELECT {_JOB_COLUMNS} FROM jobs {where} ORDER BY created_at DESC, id LIMIT ? OFFSET ?"
        return [JobRecord.from_row(r) for r in self._db.rows(sql, (*args, limit, offset))]

    def count_jobs(self) -> dict[str, int]:
        return {r["status"]: r["n"] for r in self._db.rows("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")}

    def active_jobs(self) -> list[JobRecord]:
        rows = self._db.rows(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE status IN {_ACTIVE} ORDER BY created_at, id")
        return [JobRecord.from_row(r) for r in rows]

    def start_job(self, job_id: str, started_at: float) -> bool:
        return self._db.write(_START, (started_at, job_id)) == 1

    def requeue_job(self, job_id: str, resumed: int | None = None) -> bool:
        return self._db.write(_REQUEUE, (resumed, job_id)) == 1

    def finish_job(self, job_id: str, status: JobStatus, *, error: str | None = None, outcome: JobOutcome | None = None) -> bool:
        if status in ACTIVE:
            raise ValueError(f"{status!r} is not a finished state")
        outcome_json = outcome.model_dump_json() if outcome is not None else None
        return self._db.write(_FINISH, (status, time.time(), error, outcome_json, job_id)) == 1

    def request_cancel(self, job_id: str) -> JobStatus | None:
        def cancel(execute: Callable[..., Any]) -> JobStatus | None:
            row = execute(f"SELECT status FROM jobs WHERE id=?{self.dialect.lock_rows}", (job_id,)).fetchone()
            if row is None:
                return None
            if row["status"] == "queued":
                execute(_CANCEL_QUEUED, (time.time(), job_id))
            elif row["status"] == "running":
                execute(_FLAG_CANCEL, (job_id,))
            return row["status"]

        return self._db.transaction(cancel)

    # -- leases ------------------------------------------------------------------------------

    def claim_job(self, owner: str, lease_seconds: float) -> JobRecord | None:
        def claim(execute: Callable[..., Any]) -> JobRecord | None:
            row = execute(_CLAIMABLE + self.dialect.lock_free_row, (time.time(),)).fetchone()
            if row is None:
                return None
            job = JobRecord.from_row(row)
            resumed = job.resumed + (1 if job.started_at is not None else 0)  # taken over after a lease expired: a restart
            execute(_TAKE, (resumed, owner, time.time() + lease_seconds, job.id))
            return job.model_copy(update={"status": "queued", "resumed": resumed})

        return self._db.transaction(claim)

    def renew_leases(self, owner: str, lease_seconds: float, job_ids: Collection[str] | None = None) -> dict[str, bool]:
        ids = [] if job_ids is None else list(job_ids)
        if job_ids is not None and not ids:
            return {}
        held = _HELD + ("" if job_ids is None else f" AND id IN ({','.join('?' * len(ids))})")

        def renew(execute: Callable[..., Any]) -> dict[str, bool]:
            execute(f"UPDATE jobs SET lease_expires=? WHERE {held}", (time.time() + lease_seconds, owner, *ids))
            rows = execute(f"SELECT id, cancel_requested FROM jobs WHERE {held}", (owner, *ids)).fetchall()
            return {r["id"]: bool(r["cancel_requested"]) for r in rows}

        return self._db.transaction(renew)

    # -- measured latencies ------------------------------------------------------------------

    def get_latency(self, key: LatencyKey) -> float | None:
        rows = self._db.rows(f"SELECT latency_ms FROM latencies WHERE {_LATENCY_MATCH}", key.columns)
        return rows[0]["latency_ms"] if rows else None

    def put_latency(self, key: LatencyKey, latency_ms: float) -> None:
        sql = f"INSERT INTO latencies VALUES (?,?,?,?,?,?,?) {self.dialect.upsert(_LATENCY_KEY)}"
        self._db.write(sql, (*key.columns, latency_ms, time.time()))

    # -- evaluations -------------------------------------------------------------------------

    def add_evaluation(self, job_id: str, evaluation: ScoredArch) -> None:
        if evaluation.step is None:
            raise ValueError("an evaluation needs its step")
        upsert = self.dialect.upsert(("job_id", "step"), replace=("arch", "score", "singular", "params", "flops", "latency_ms", "score_values"))
        columns = "job_id, step, arch, score, singular, params, flops, created_at, latency_ms, score_values"
        self._db.write(f"INSERT INTO evaluations ({columns}) VALUES (?,?,?,?,?,?,?,?,?,?) {upsert}", (
            job_id, evaluation.step, evaluation.arch, json_number(evaluation.score), evaluation.singular,
            evaluation.params, evaluation.flops, time.time(), evaluation.latency_ms, json.dumps(evaluation.json_values()),
        ))

    def evaluations(self, job_id: str, after_step: int = 0, limit: int = 1000) -> list[ScoredArch]:
        rows = self._db.rows(
            f"SELECT {_EVALUATION_COLUMNS} FROM evaluations WHERE job_id=? AND step>? ORDER BY step LIMIT ?", (job_id, after_step, limit)
        )
        return self._evaluations(job_id, rows)

    def _evaluations(self, job_id: str, rows: Sequence[Mapping[str, Any]]) -> list[ScoredArch]:
        """Records of a job's evaluation rows; a row stored before schema 7 (its ranking score alone) is named by the job's request."""
        legacy = self._ranking_score(job_id) if any(r["score_values"] is None for r in rows) else ""
        return [_evaluation(r, legacy) for r in rows]

    def _ranking_score(self, job_id: str) -> str:
        rows = self._db.rows("SELECT request FROM jobs WHERE id=?", (job_id,))
        return JobRequest.model_validate_json(rows[0]["request"]).score if rows else "score"

    def evaluated(self, job_id: str) -> int:
        return self._db.rows("SELECT COUNT(*) AS n FROM evaluations WHERE job_id=?", (job_id,))[0]["n"]

    def top(self, job_id: str, k: int, exclude_singular: bool = False) -> list[ScoredArch]:
        where, args = ("job_id=? AND singular=?", (job_id, False)) if exclude_singular else ("job_id=?", (job_id,))
        rows = self._db.rows(
            f"SELECT {_EVALUATION_COLUMNS} FROM evaluations WHERE {where} ORDER BY singular, score DESC, step LIMIT ?", (*args, k)
        )
        return self._evaluations(job_id, rows)


def _job_values(job: JobRecord) -> tuple:
    """A job's :data:`_JOB_COLUMNS` values as stored (request, data and outcome as JSON text)."""
    return (
        job.id, job.status, job.request.model_dump_json(), job.data.model_dump_json() if job.data else None,
        job.created_at, job.started_at, job.finished_at, job.resumed, job.cancel_requested, job.error,
        job.outcome.model_dump_json() if job.outcome else None, job.device,
    )


def _costs(row: Mapping[str, Any], latency_ms: float | None = None) -> dict[str, float]:
    """The costs of a row: its parameters and FLOPs, and ``latency_ms`` when one was measured."""
    costs = {"params": row["params"], "flops": row["flops"]}
    return costs if latency_ms is None else {**costs, "latency_ms": latency_ms}


def _cached(row: Mapping[str, Any], name: str) -> ScoredArch:
    """A cached score (one value, named ``name``, with its reason when undefined and its note) from its row."""
    reasons = {} if row["undefined_reason"] is None else {name: row["undefined_reason"]}
    notes = {} if row["note"] is None else {name: row["note"]}
    return ScoredArch(
        row["arch"], {name: from_json_number(row["score"])}, _costs(row), row["seconds"], row["device"], cached=True, reasons=reasons, notes=notes
    )


def _evaluation(row: Mapping[str, Any], legacy_name: str) -> ScoredArch:
    """An evaluation from a row of :data:`_EVALUATION_COLUMNS`: every value its search reported, by name (a row from
    before schema 7 holds the ranking score alone, named ``legacy_name``)."""
    stored = row["score_values"]
    named = json.loads(stored) if stored is not None else {legacy_name: row["score"]}
    values = {name: from_json_number(value) for name, value in named.items()}
    return ScoredArch(row["arch"], values, _costs(row, row["latency_ms"]), step=row["step"])
