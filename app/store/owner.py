"""One SQLite file, one server: an exclusive ``flock`` on ``<db>.lock``, holding the owner's pid, for the server's life.

Only one process may run a SQLite database's jobs: a second server on the same file would resume the
first one's running searches at once and compute them twice. SQLite's own ``locking_mode=EXCLUSIVE``
is not used: it would shut out every other connection (the command line sharing the score cache, Ray
actors reading reference samples, an operator's ``sqlite3`` shell) and cannot say who holds the file.
A ``flock`` on a sidecar file leaves the database open to readers and writers, names its owner, and is
released by the kernel when the owner dies, even by ``kill -9``, so no stale lock outlives a crash.
Several processes on one database are PostgreSQL's job, with leases; ``:memory:`` needs no lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO


class DatabaseInUse(RuntimeError):
    """Another live server owns the SQLite database (the message names the file, its pid and ``NASWOT_DB``)."""


class DatabaseOwner:
    """This process's hold on a SQLite file (a no-op for ``:memory:`` and a database server); :meth:`release` gives it up."""

    def __init__(self, database: Path | None):
        self.database = database
        self.lock_path = None if database is None else database.with_name(database.name + ".lock")
        self._file: IO[str] | None = None

    def acquire(self) -> DatabaseOwner:
        """Take the lock or raise :class:`DatabaseInUse`; the pid written in it names this process."""
        if self.lock_path is None:
            return self
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.lock_path, "a+")  # noqa: SIM115 - held open for the server's lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            pid = handle.read().strip() or "unknown"
            handle.close()
            raise DatabaseInUse(
                f"database {self.database} is in use by another naswot server (pid {pid}; lock {self.lock_path}); "
                "stop that server, or give this one its own database with NASWOT_DB (a postgresql:// URL for several replicas)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        return self

    def release(self) -> None:
        """Give the lock up (the file stays: removing it would let two servers lock two different files)."""
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

