"""Job threads supervised like device workers, and job states that get written however long the database is away.

A :class:`JobSlot` is one job thread: the job it runs, when that job last made progress, and why the
thread died if it did (the supervisor then restarts it, as it restarts a device worker). A job state
the database could not take is kept by :class:`PendingMarks` and retried with bounded exponential
backoff, so no store error ever escapes a job thread and no job is left ``running`` with nobody on it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from app.records import JobRecord
from app.store import StoreError

log = logging.getLogger("naswot.jobs")


@dataclass(frozen=True)
class Backoff:
    """Bounded exponential delays: ``first``, doubling, never above ``cap`` seconds."""

    first: float = 0.05
    cap: float = 2.0

    def delays(self) -> Iterator[float]:
        delay = self.first
        while True:
            yield delay
            delay = min(delay * 2, self.cap)


class JobSlot:
    """One job thread; ``run(slot)`` is its body. ``job_id`` is the job it took (``None`` when idle), ``job`` that job as read."""

    def __init__(self, index: int, run: Callable[[JobSlot], None]):
        self.name = f"naswot-job-{index}"
        self._run = run
        self.job_id: str | None = None
        self.job: JobRecord | None = None
        self.progress_at = 0.0  # monotonic time of the running job's last step (start, score, evaluation)
        self.paused = False  # its job waits out a store error (see JobManager._pause)
        self.death: str | None = None  # why the thread last died unexpectedly
        self.fatal: BaseException | None = None
        self.restarts = 0
        self._started = False
        self._stopping = False
        self._thread = self._new_thread()

    def _new_thread(self) -> threading.Thread:
        return threading.Thread(target=self._main, name=self.name, daemon=True)

    def _main(self) -> None:
        try:
            self._run(self)
        except BaseException as exc:  # noqa: BLE001 - a dead thread must say why; the supervisor marks its job and restarts it
            self.fatal = exc
            self.death = f"job thread died: {type(exc).__name__}: {exc}"
            log.error("%s: %s", self.name, self.death, exc_info=exc)

    def start(self) -> None:
        self._started = True
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def take(self, job_id: str | None) -> None:
        """The thread took ``job_id`` (or went idle with ``None``); either counts as progress."""
        self.job_id, self.job = job_id, None
        self.touch()

    def touch(self) -> None:
        self.progress_at = time.monotonic()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def dead(self) -> bool:
        """The thread ended without being asked to (the supervisor restarts it)."""
        return self._started and not self._stopping and not self._thread.is_alive()

    def progressing(self, within: float) -> bool:
        """Alive, running a job, and that job made progress in the last ``within`` seconds (its lease may be renewed)."""
        return self.alive and self.job_id is not None and time.monotonic() - self.progress_at <= within

    def restart(self) -> None:
        """A new thread in place of a dead one (its job already settled by the caller)."""
        log.warning("%s: restarting after: %s", self.name, self.death)
        self.restarts += 1
        self.job_id, self.job, self.fatal = None, None, None
        self._thread = self._new_thread()
        self._thread.start()


@dataclass
class _Mark:
    write: Callable[[], object]
    what: str
    due: float
    delays: Iterator[float] = field(default_factory=lambda: Backoff(0.5, 10.0).delays())


class PendingMarks:
    """Job states the database could not take yet: each one retried, with backoff, on every :meth:`flush`."""

    def __init__(self) -> None:
        self._marks: dict[str, _Mark] = {}
        self._lock = threading.Lock()

    def write(self, job_id: str, write: Callable[[], object], what: str) -> bool:
        """Write a job's state now, or keep it to retry when the store refuses; whether it was written now."""
        with self._lock:
            self._marks.pop(job_id, None)  # a newer state replaces one still pending
        try:
            write()
            return True
        except StoreError as exc:
            log.warning("search %s: could not record %s yet (%s); retrying with backoff", job_id, what, exc)
            with self._lock:
                mark = _Mark(write, what, 0.0)
                mark.due = time.monotonic() + next(mark.delays)
                self._marks[job_id] = mark
            return False

    def flush(self) -> list[str]:
        """Retry the marks that are due; the ids of the jobs written now (never raises a store error)."""
        now = time.monotonic()
        with self._lock:
            due = [(job_id, mark) for job_id, mark in self._marks.items() if mark.due <= now]
        written = []
        for job_id, mark in due:
            try:
                mark.write()
            except StoreError:
                mark.due = time.monotonic() + next(mark.delays)
                continue
            with self._lock:
                if self._marks.get(job_id) is mark:
                    del self._marks[job_id]
            log.info("search %s: recorded %s", job_id, mark.what)
            written.append(job_id)
        return written

    def __len__(self) -> int:
        return len(self._marks)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._marks
