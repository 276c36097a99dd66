"""Persistence of the score cache, search jobs and their evaluations, behind one backend-neutral interface.

:class:`Store` says what the service needs; :class:`SQLiteStore` is the SQLite implementation (all of
its SQL lives in :mod:`app.store.sqlite`). :func:`open_store` picks the implementation for a location.
"""

from __future__ import annotations

from pathlib import Path

from .base import CacheKey, Store, StoreBusy, StoreError
from .sqlite import SQLiteStore

__all__ = ["CacheKey", "SQLiteStore", "Store", "StoreBusy", "StoreError", "open_store"]


def open_store(location: str | Path, *, busy_timeout: float = 5.0) -> Store:
    """The store at ``location``: a SQLite file path (or ``:memory:``)."""
    return SQLiteStore(location, busy_timeout=busy_timeout)
