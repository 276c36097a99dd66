"""Each store back end in turn: the ``location`` of a fresh database (the ``store`` fixture of conftest opens it).

A test module importing ``location`` (with ``postgres_dsn`` and ``postgres_server`` from :mod:`pgserver`)
runs each of its tests once per back end; PostgreSQL's follow :mod:`pgserver`'s rule (skip without it, fail under CI).
"""

from __future__ import annotations

import pytest

#: every back end, by the name of its dialect
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(params=BACKENDS)
def location(request, tmp_path) -> str:
    """A fresh, empty database of each back end: a SQLite file path, or a database on the test session's PostgreSQL server."""
    return request.getfixturevalue("postgres_dsn") if request.param == "postgresql" else str(tmp_path / "db.sqlite")
