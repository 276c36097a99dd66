"""The SQLite back end: one file in WAL mode (or ``:memory:``), the embedded default; the dialect only, the SQL is in :mod:`app.store.sql`.

Each write is its own transaction, so a process killed at any moment keeps everything written before it.
SQLite's own busy wait is off (``timeout=0``): a locked database is reported at once as busy, and
:class:`app.store.connection.Connection` retries with its lock released. A write transaction is
``BEGIN IMMEDIATE``: it takes the database's write lock up front, so no row lock clause is needed.
The schema version is the file's ``user_version``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from app.store.dialect import BUSY, FAILED, Dialect


def locate(location: str) -> tuple[str, str]:
    """A file path with ``~`` expanded and its folder created (``:memory:`` as is); shown as opened."""
    if location == ":memory:":
        return location, location
    path = Path(location).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path), str(path)


def connect(target: str) -> sqlite3.Connection:
    """A connection in autocommit mode with rows by column name, the file in WAL mode, foreign keys enforced."""
    db = sqlite3.connect(target, check_same_thread=False, isolation_level=None, timeout=0)
    db.row_factory = sqlite3.Row
    try:
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            db.execute(f"PRAGMA {pragma}")
    except BaseException:
        db.close()
        raise
    return db


def classify(exc: BaseException) -> str | None:
    """SQLITE_BUSY / SQLITE_LOCKED (another connection holds the database) is busy; any other SQLite error fails."""
    if isinstance(exc, sqlite3.OperationalError) and any(word in str(exc).lower() for word in ("locked", "busy")):
        return BUSY
    return FAILED if isinstance(exc, sqlite3.Error) else None


DIALECT = Dialect(
    name="sqlite",
    placeholder="?",
    types={"key": "TEXT", "real": "REAL", "bigint": "INTEGER", "bool": "INTEGER", "false": "0", "table_options": " WITHOUT ROWID"},
    begin=("BEGIN IMMEDIATE",),
    lock_rows="",
    lock_free_row="",
    keep_existing="ON CONFLICT ({key}) DO NOTHING",
    replace_existing="ON CONFLICT ({key}) DO UPDATE SET {sets}",
    set_item="{c}=excluded.{c}",
    probe=("BEGIN IMMEDIATE", "ROLLBACK"),
    version_setup=(),
    read_version="SELECT user_version AS version FROM pragma_user_version",
    write_version="PRAGMA user_version={version}",
    locate=locate,
    connect=connect,
    broken=lambda db: False,  # a closed store stays closed: its statements fail
    classify=classify,
)
