"""Each store back end in turn: the ``location`` of a fresh database and the ``store`` opened on it.

A test module importing ``location``/``store`` (with ``postgres_dsn`` and ``postgres_server`` from :mod:`pgserver`)
runs each of its tests once per back end; PostgreSQL's follow :mod:`pgserver`'s rule (skip without it, fail under CI).
"""

from __future__ import annotations

import pytest

from app.store import open_store

#: every back end, by the name of its dialect
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(params=BACKENDS)
def location(request, tmp_path) -> str:
    """A fresh, empty database of each back end: a SQLite file path, or a database on the test session's PostgreSQL server."""
    return request.getfixturevalue("postgres_dsn") if request.param == "postgresql" else str(tmp_path / "db.sqlite")


@pytest.fixture
def store(location):
    """The store on ``location``."""
    opened = open_store(location, busy_timeout=2)
    yield opened
    opened.close()
