"""One SQLite file, one server: an exclusive ``flock`` on ``<db>.lock``, holding the owner's pid, and one on the
database file itself (its device and inode: a hard link is the same file), for the server's life.

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


#: database files opened to be locked and refused: kept open (see :meth:`DatabaseOwner._lock_the_file`)
_REFUSED: list[IO[bytes]] = []


class DatabaseInUse(RuntimeError):
    """Another live server owns the SQLite database (the message names the file, its pid and ``NASWOT_DB``)."""


class DatabaseOwner:
    """This process's hold on a SQLite file (a no-op for ``:memory:`` and a database server); :meth:`release` gives it up."""

    def __init__(self, database: Path | None):
        self.database = database
        self.lock_path = None if database is None else database.with_name(database.name + ".lock")
        self._file: IO[str] | None = None
        self._inode: IO[bytes] | None = None

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
            raise self._in_use(f"pid {pid}; lock {self.lock_path}") from None
        try:
            self._inode = self._lock_the_file()
        except BaseException:
            handle.close()
            raise
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        return self

    def _lock_the_file(self) -> IO[bytes]:
        """A ``flock`` on the database file itself (made empty when new, as SQLite would): held by its device and inode,
        it refuses a second server that names the same file otherwise (a hard link). SQLite's own locks are ``fcntl``
        locks, which a ``flock`` never meets."""
        assert self.database is not None
        handle = open(self.database, "ab")  # noqa: SIM115 - held open for the server's lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            stat = os.fstat(handle.fileno())
            _REFUSED.append(handle)  # not closed: a close drops every POSIX lock this process's SQLite connections hold on the file
            raise self._in_use(f"pid {_flock_holder(stat.st_dev, stat.st_ino)}; the same file under another name, a hard link") from None
        return handle

    def _in_use(self, who: str) -> DatabaseInUse:
        return DatabaseInUse(
            f"database {self.database} is in use by another naswot server ({who}); "
            "stop that server, or give this one its own database with NASWOT_DB (a postgresql:// URL for several replicas)"
        )

    def release(self) -> None:
        """Give the lock up (the file stays: removing it would let two servers lock two different files); call it after the
        store is closed, as closing the database file drops the POSIX locks of this process's SQLite connections on it."""
        for handle in (self._inode, self._file):
            if handle is not None:
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()
        self._file = self._inode = None


def _flock_holder(device: int, inode: int) -> str:
    """The pid holding a ``flock`` on the file (device, inode), from Linux's ``/proc/locks``; "unknown" elsewhere."""
    wanted = f"{os.major(device):02x}:{os.minor(device):02x}:{inode}"
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return "unknown"
    for fields in (line.split() for line in lines):
        if len(fields) > 5 and fields[1] == "FLOCK" and fields[5] == wanted:
            return fields[4]
    return "unknown"

