"""SQLite persistence: the score cache, search jobs and each job's evaluations.

One connection in WAL mode behind a lock, shared by every thread; each write is its own
transaction, so a process killed at any moment keeps everything written before it.
A singular score is stored as ``score NULL, singular 1`` (SQL has no -inf either).
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scoring import ArchScore

SCHEMA_VERSION = 1

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

#: job states that have not finished (a restart resumes them)
ACTIVE = ("queued", "running")
#: job states that never change again
TERMINAL = ("done", "failed", "cancelled", "interrupted")


@dataclass(frozen=True)
class CacheKey:
    """Everything that determines a score except the architecture."""

    space: str
    data: str  # the data source's identity digest
    batch_size: int
    seed: int
    score_name: str
    precision: str

    def of(self, arch: str) -> tuple:
        return (self.space, self.data, self.batch_size, self.seed, self.score_name, self.precision, arch)


@dataclass(frozen=True)
class CachedScore(ArchScore):
    """A stored score (``-inf`` when singular) and the device that computed it."""

    device: str = field(default="", kw_only=True)  # after ArchScore's defaulted ``values``


def _encode_score(score: float) -> tuple[float | None, int]:
    return (None, 1) if score == -math.inf else (float(score), 0)


def _decode_score(score: float | None, singular: int) -> float:
    return -math.inf if singular else float(score)  # type: ignore[arg-type]


class Store:
    """The service database (a file path, or ``:memory:`` for tests)."""

    def __init__(self, path: str | Path):
        path = str(path)
        if path != ":memory:":
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
            path = str(Path(path).expanduser())
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise RuntimeError(f"database {path} has schema version {version}; this service writes version {SCHEMA_VERSION}")
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def ping(self) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1").fetchone()[0] == 1

    # -- score cache -------------------------------------------------------------------------

    def get_scores(self, key: CacheKey, archs: Iterable[str]) -> dict[str, CachedScore]:
        """Cached scores of ``archs`` under ``key`` (missing ones absent)."""
        wanted = list(dict.fromkeys(archs))
        found: dict[str, CachedScore] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            with self._lock:
                rows = self._db.execute(
                    "SELECT arch, score, singular, params, flops, seconds, device FROM scores WHERE space=? AND data=? "
                    f"AND batch_size=? AND seed=? AND score_name=? AND precision=? AND arch IN ({marks})",
                    (key.space, key.data, key.batch_size, key.seed, key.score_name, key.precision, *chunk),
                ).fetchall()
            for r in rows:
                found[r["arch"]] = CachedScore(r["arch"], _decode_score(r["score"], r["singular"]), r["params"], r["flops"], r["seconds"], device=r["device"])
        return found

    def put_score(self, key: CacheKey, result: CachedScore) -> None:
        score, singular = _encode_score(result.score)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO scores VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (key.space, result.arch, key.data, key.batch_size, key.seed, key.score_name, key.precision,
                 score, singular, result.params, result.flops, result.seconds, result.device, time.time()),
            )

    def count_scores(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM scores").fetchone()[0]

    # -- jobs --------------------------------------------------------------------------------

    def create_job(self, job_id: str, request: dict[str, Any], data: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO jobs (id, status, request, data, created_at) VALUES (?, 'queued', ?, ?, ?)",
                (job_id, json.dumps(request), json.dumps(data), time.time()),
            )

    def update_job(self, job_id: str, **fields: Any) -> None:
        """Set columns of a job; ``outcome`` (a dict) is stored as JSON."""
        if "outcome" in fields and fields["outcome"] is not None:
            fields["outcome"] = json.dumps(fields["outcome"])
        names = ", ".join(f"{name}=?" for name in fields)
        with self._lock:
            self._db.execute(f"UPDATE jobs SET {names} WHERE id=?", (*fields.values(), job_id))

    def set_status_if(self, job_id: str, expected: Sequence[str], **fields: Any) -> bool:
        """Update a job only while its status is one of ``expected`` (atomic); True when it was."""
        names = ", ".join(f"{name}=?" for name in fields)
        marks = ",".join("?" * len(expected))
        with self._lock:
            cursor = self._db.execute(
                f"UPDATE jobs SET {names} WHERE id=? AND status IN ({marks})", (*fields.values(), job_id, *expected)
            )
            return cursor.rowcount == 1

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        return _job(row) if row is not None else None

    def list_jobs(self, status: str | None = None, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        """Jobs, newest first."""
        where, args = ("WHERE status=?", [status]) if status else ("", [])
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM jobs {where} ORDER BY created_at DESC, id LIMIT ? OFFSET ?", (*args, limit, offset)
            ).fetchall()
        return [_job(r) for r in rows]

    def count_jobs(self) -> dict[str, int]:
        """Jobs per status."""
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
        return {r[0]: r[1] for r in rows}

    def active_jobs(self) -> list[dict[str, Any]]:
        """Jobs still queued or running, oldest first (what a restart picks up)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM jobs WHERE status IN ('queued', 'running') ORDER BY created_at, id"
            ).fetchall()
        return [_job(r) for r in rows]

    # -- evaluations -------------------------------------------------------------------------

    def add_evaluation(self, job_id: str, step: int, arch: str, score: float, params: int, flops: int) -> None:
        """Record one evaluation; a replay after a restart rewrites the same step."""
        value, singular = _encode_score(score)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO evaluations VALUES (?,?,?,?,?,?,?,?)",
                (job_id, step, arch, value, singular, params, flops, time.time()),
            )

    def evaluations(self, job_id: str, after_step: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """A job's evaluations with ``step > after_step``, in order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT step, arch, score, singular, params, flops FROM evaluations WHERE job_id=? AND step>? ORDER BY step LIMIT ?",
                (job_id, after_step, limit),
            ).fetchall()
        return [_evaluation(r) for r in rows]

    def evaluated(self, job_id: str) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM evaluations WHERE job_id=?", (job_id,)).fetchone()[0]

    def top(self, job_id: str, k: int, exclude_singular: bool = False) -> list[dict[str, Any]]:
        """Best ``k`` evaluations: higher score first, singular last, earlier step first among ties."""
        extra = "AND singular=0" if exclude_singular else ""
        with self._lock:
            rows = self._db.execute(
                f"SELECT step, arch, score, singular, params, flops FROM evaluations WHERE job_id=? {extra} "
                "ORDER BY singular, score DESC, step LIMIT ?",
                (job_id, k),
            ).fetchall()
        return [_evaluation(r) for r in rows]


def _job(row: sqlite3.Row) -> dict[str, Any]:
    job = dict(row)
    job["request"] = json.loads(job["request"])
    job["data"] = json.loads(job["data"]) if job["data"] else None
    job["outcome"] = json.loads(job["outcome"]) if job["outcome"] else None
    job["cancel_requested"] = bool(job["cancel_requested"])
    return job


def _evaluation(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "step": row["step"],
        "arch": row["arch"],
        "score": None if row["singular"] else row["score"],
        "singular": bool(row["singular"]),
        "params": row["params"],
        "flops": row["flops"],
    }
