"""Persistence of the score cache, search jobs and their evaluations, behind one backend-neutral interface.

:class:`Store` says what the service needs; :class:`SQLiteStore` is the SQLite implementation (all of
its SQL lives in :mod:`app.store.sqlite`), the embedded default; :mod:`app.store.postgres` is the
PostgreSQL one, for several replicas sharing one database. :func:`open_store` picks by location.
"""

from __future__ import annotations

from pathlib import Path

from .base import CacheKey, ReferenceKey, Store, StoreBusy, StoreError
from .owner import DatabaseInUse, hold_database
from .sqlite import SQLiteStore

__all__ = [
    "CacheKey", "DatabaseInUse", "POSTGRES_SCHEMES", "ReferenceKey", "SQLiteStore", "Store", "StoreBusy", "StoreError", "hold_database", "open_shared", "open_store", "shared_location",
]

#: locations that name a PostgreSQL database rather than a SQLite file
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_store(location: str | Path, *, busy_timeout: float = 5.0) -> Store:
    """The store at ``location``: a ``postgresql://`` URL (needs the postgres extra), else a SQLite file path (or ``:memory:``)."""
    if str(location).startswith(POSTGRES_SCHEMES):
        from .postgres import PostgresStore

        return PostgresStore(str(location), busy_timeout=busy_timeout)
    return SQLiteStore(location, busy_timeout=busy_timeout)


def shared_location(location: str | Path) -> str | None:
    """Where another process opens the same database (a SQLite path made absolute); ``None`` for an in-memory one."""
    text = str(location)
    if text == ":memory:":
        return None
    return text if text.startswith(POSTGRES_SCHEMES) else str(Path(text).expanduser().resolve())


def open_shared(location: str) -> Store | None:
    """The database at a :func:`shared_location` as another process reaches it; ``None`` for a SQLite file this host lacks."""
    if not location.startswith(POSTGRES_SCHEMES) and not Path(location).exists():
        return None
    return open_store(location)
