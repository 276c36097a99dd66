"""One SQLite file, one server: the owner's lock follows the file itself (device and inode), not the name it is opened by."""

from __future__ import annotations

import os
import sqlite3

import pytest

from app.store import DatabaseInUse, hold_database


@pytest.fixture
def database(tmp_path):
    path = tmp_path / "db.sqlite"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    return path


@pytest.mark.parametrize("link", [os.link, os.symlink], ids=["hard link", "symbolic link"])
def test_a_second_owner_by_another_name_of_the_same_file_is_refused_naming_the_owner(database, tmp_path, link):
    owner = hold_database(database)
    other = tmp_path / "elsewhere" / "other.sqlite"
    other.parent.mkdir()
    link(database, other)
    try:
        with pytest.raises(DatabaseInUse) as refused:
            hold_database(other)
        message = str(refused.value)
        assert (str(other) in message or str(database) in message) and f"pid {os.getpid()}" in message and "NASWOT_DB" in message, message
    finally:
        owner.release()
    hold_database(other).release()  # free once the owner let go


def test_the_owner_lock_leaves_the_database_usable_by_other_connections(database):
    owner = hold_database(database)
    try:
        with sqlite3.connect(database) as conn:
            conn.execute("INSERT INTO t VALUES (1)")
        assert sqlite3.connect(database).execute("SELECT count(*) FROM t").fetchone() == (1,)
    finally:
        owner.release()


def test_a_database_not_yet_created_is_owned_and_then_usable(tmp_path):
    path = tmp_path / "new" / "db.sqlite"
    owner = hold_database(path)
    try:
        sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    finally:
        owner.release()
