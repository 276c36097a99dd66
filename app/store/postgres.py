"""The PostgreSQL back end (psycopg 3), for several replicas sharing one database; the dialect only, the SQL is in :mod:`app.store.sql`.

Every replica of the service may point at one database: a score written by one is a cache hit on the
others (the first write of a key wins), and a search job runs on one replica at a time through a lease
(``lease_owner``, ``lease_expires``) that its runner renews; a job whose lease expired is taken over by
another replica (``SELECT ... FOR UPDATE SKIP LOCKED``) and resumed as after a restart. The schema
version is kept in ``schema_migrations``; migrations run under an advisory lock, one replica at a time.
A lost connection (an operational error) is reopened once; a transaction waits on row locks up to the
busy timeout (``lock_timeout``). ``psycopg`` is an optional dependency (``pip install '.[postgres]'``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from app.store.base import StoreError
from app.store.dialect import FAILED, LOST, Dialect


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise StoreError("a postgresql:// database needs the postgres extra: pip install 'naswot-service[postgres]'") from exc
    return psycopg


def locate(dsn: str) -> tuple[str, str]:
    """The connection string, and as logged and shown: any password masked."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn, dsn
    return dsn, urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)))


def connect(dsn: str) -> Any:
    """A connection in autocommit mode with dict rows; a :class:`StoreError` naming the server when there is none."""
    psycopg = _psycopg()
    from psycopg.rows import dict_row

    try:
        return psycopg.connect(dsn, autocommit=True, row_factory=dict_row, connect_timeout=10)
    except psycopg.Error as exc:
        raise StoreError(f"cannot connect to {locate(dsn)[1]}: {exc}") from exc


def classify(exc: BaseException) -> str | None:
    """An operational error (connection lost, lock timeout) is retried once on a fresh connection; any other fails."""
    psycopg = _psycopg()
    if isinstance(exc, psycopg.OperationalError):
        return LOST
    return FAILED if isinstance(exc, psycopg.Error) else None


DIALECT = Dialect(
    name="postgresql",
    placeholder="%s",
    types={"key": "TEXT", "real": "DOUBLE PRECISION", "bigint": "BIGINT", "bool": "BOOLEAN", "false": "FALSE", "table_options": ""},
    begin=("BEGIN", "SELECT set_config('lock_timeout', '{lock_ms}ms', true)"),
    lock_rows=" FOR UPDATE",
    lock_free_row=" FOR UPDATE SKIP LOCKED",
    keep_existing="ON CONFLICT ({key}) DO NOTHING",
    replace_existing="ON CONFLICT ({key}) DO UPDATE SET {sets}",
    set_item="{c}=EXCLUDED.{c}",
    probe=("SELECT 1",),
    version_setup=(
        "SELECT pg_advisory_xact_lock(hashtext('naswot schema'))",
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)",
    ),
    read_version="SELECT COALESCE(MAX(version), 0) AS version FROM schema_migrations",
    write_version="INSERT INTO schema_migrations VALUES ({version}, EXTRACT(EPOCH FROM clock_timestamp()))",
    locate=locate,
    connect=connect,
    broken=lambda db: db.closed or db.broken,
    classify=classify,
    shared=True,
)
