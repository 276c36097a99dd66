"""The one place that talks to a database connection: one statement or transaction at a time, errors made store errors.

A busy database (another connection holds its lock) is retried with the Python lock released, after a
short sleep, until ``busy_timeout`` has passed, then :class:`StoreBusy`: no thread waits on the lock while
another waits on the database, so :meth:`Connection.problem` answers at once. A lost connection is reopened
and the work retried once; any other database error is a :class:`StoreError` at once.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from app.store.base import StoreBusy, StoreError
from app.store.dialect import BUSY, LOST, Dialect

T = TypeVar("T")


class Connection:
    """One connection to the database at ``target``, shared by every thread of a store."""

    def __init__(self, dialect: Dialect, target: str, busy_timeout: float):
        self.dialect = dialect
        self.busy_timeout = busy_timeout
        self._target = target
        self._lock = threading.Lock()
        self._db: Any = None

    def attempt(self, work: Callable[[Any], T], *, wait: bool = True) -> T:
        """``work(connection)`` under the lock; busy: retried until the busy timeout (at once without ``wait``)."""
        deadline = time.monotonic() + (self.busy_timeout if wait else 0.0)
        pause, reopened = 0.005, False
        while True:
            with self._lock:
                try:
                    if self._db is None or self.dialect.broken(self._db):
                        self._db = self.dialect.connect(self._target)
                    return work(self._db)
                except Exception as exc:
                    kind = self.dialect.classify(exc)
                    if kind is None:
                        raise
                    if kind == LOST and not reopened:
                        reopened = True
                        continue
                    if kind != BUSY:
                        raise StoreError(f"database error: {exc}") from exc
            if time.monotonic() >= deadline:
                raise StoreBusy(f"the database stayed locked by another connection for {self.busy_timeout:g} s")
            time.sleep(pause)
            pause = min(pause * 2, 0.1)

    def transaction(self, work: Callable[[Callable[..., Any]], T]) -> T:
        """``work(execute)`` inside one write transaction (rolled back when it raises), retried as :meth:`attempt` retries."""
        begin = [s.format(lock_ms=int(self.busy_timeout * 1000)) for s in self.dialect.begin]

        def in_transaction(db: Any) -> T:
            execute(db, begin[0])
            try:
                for statement in begin[1:]:
                    execute(db, statement)
                result = work(lambda sql, args=(): execute(db, self.dialect.sql(sql), args))
                execute(db, "COMMIT")
            except BaseException:
                with contextlib.suppress(Exception):  # a lost connection cannot roll back; the first error says why
                    execute(db, "ROLLBACK")
                raise
            return result

        return self.attempt(in_transaction)

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        """Run one statement (``?`` placeholders) on its own; the driver's cursor, already run."""
        return self.attempt(lambda db: execute(db, self.dialect.sql(sql), args))

    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """The rows of one query (readable by column name)."""
        return self.attempt(lambda db: execute(db, self.dialect.sql(sql), args).fetchall())

    def write(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run one write; the rows it changed."""
        return self.attempt(lambda db: execute(db, self.dialect.sql(sql), args).rowcount)

    def problem(self) -> str | None:
        """Why the database cannot take writes right now, found without waiting; ``None`` when it can."""
        try:
            self.attempt(lambda db: [execute(db, s) for s in self.dialect.probe], wait=False)
        except StoreBusy:
            return f"database is locked by another connection (writes wait up to {self.busy_timeout:g} s, then fail)"
        except StoreError as exc:
            return str(exc)
        return None

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()


def execute(db: Any, sql: str, args: Sequence[Any] = ()) -> Any:
    """One statement on the driver's connection (no arguments: sent as written, so a literal ``%`` stays one)."""
    return db.execute(sql, tuple(args)) if args else db.execute(sql)
