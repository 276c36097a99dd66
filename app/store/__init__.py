"""Persistence of the score cache, search jobs and their evaluations, behind one backend-neutral interface.

:class:`Store` says what the service needs; :class:`SQLStore` (:mod:`app.store.sql`) is its one implementation,
every statement written once; a back end is a :class:`Dialect` in its own module: :mod:`app.store.sqlite`
(the embedded default) and :mod:`app.store.postgres` (several replicas sharing one database).
:data:`BACKENDS` maps a location's URL scheme to its module; :func:`open_store` picks by location.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from app.store.base import CacheKey, ReferenceKey, Store, StoreBusy, StoreError
from app.store.dialect import Dialect
from app.store.owner import DatabaseInUse, DatabaseOwner
from app.store.sql import SQLStore

__all__ = [
    "BACKENDS", "CacheKey", "DatabaseInUse", "Dialect", "ReferenceKey", "SQLStore", "Store", "StoreBusy", "StoreError", "dialect_for",
    "hold_database", "is_server_url", "open_shared", "open_store", "shared_location",
]

#: a location's URL scheme -> the module of this package whose ``DIALECT`` serves it; any other location is a SQLite file
BACKENDS: dict[str, str] = {"postgresql://": "postgres", "postgres://": "postgres"}


def is_server_url(location: str | Path) -> bool:
    """Whether ``location`` names a database server (a URL of :data:`BACKENDS`) rather than a SQLite file."""
    return str(location).startswith(tuple(BACKENDS))


def dialect_for(location: str | Path) -> Dialect:
    """The dialect serving ``location`` (its module imported only then: a server's driver is an optional dependency)."""
    text = str(location)
    module = next((name for scheme, name in BACKENDS.items() if text.startswith(scheme)), "sqlite")
    return importlib.import_module(f"{__name__}.{module}").DIALECT


def open_store(location: str | Path, *, busy_timeout: float = 5.0) -> Store:
    """The store at ``location``: a URL of :data:`BACKENDS` (``postgresql://`` needs the postgres extra), else a SQLite file path (or ``:memory:``)."""
    return SQLStore(dialect_for(location), str(location), busy_timeout=busy_timeout)


def shared_location(location: str | Path) -> str | None:
    """Where another process opens the same database (a SQLite path made absolute); ``None`` for an in-memory one."""
    text = str(location)
    if text == ":memory:":
        return None
    return text if is_server_url(text) else str(Path(text).expanduser().resolve())


def open_shared(location: str) -> Store | None:
    """The database at a :func:`shared_location` as another process reaches it; ``None`` for a SQLite file this host lacks."""
    if not is_server_url(location) and not Path(location).exists():
        return None
    return open_store(location)


def hold_database(location: str | Path) -> DatabaseOwner:
    """Own the SQLite database at ``location`` for this process (nothing to own for ``:memory:`` or a server's URL)."""
    text = str(location)
    if text == ":memory:" or is_server_url(text):
        return DatabaseOwner(None)
    return DatabaseOwner(Path(text).expanduser().resolve()).acquire()
