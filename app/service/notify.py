"""Change notifications of search jobs, pushed to the event streams that follow them.

A job thread calls :meth:`JobNotifier.bump` whenever a job's status, evaluations or progress change;
each open stream awaits :meth:`JobNotifier.changed` on its own event loop instead of polling the
database. At most ``max_streams`` streams are open at once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class TooManyStreams(RuntimeError):
    """Every event-stream slot is taken."""


class JobNotifier:
    """Per-job change counters and the streams waiting on them."""

    def __init__(self, max_streams: int):
        self.max_streams = max_streams
        self._versions: dict[str, int] = {}
        self._waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self._streams = 0
        self._lock = threading.Lock()

    @property
    def streams(self) -> int:
        """Event streams open now."""
        return self._streams

    def version(self, job_id: str) -> int:
        """Changes whenever the job changes in this process."""
        return self._versions.get(job_id, 0)

    def bump(self, job_id: str) -> None:
        """Record a change and wake every stream following the job."""
        with self._lock:
            self._versions[job_id] = self._versions.get(job_id, 0) + 1
            waiters = list(self._waiters.get(job_id, ()))
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    async def changed(self, job_id: str, seen: int, timeout: float) -> bool:
        """Wait until the job's version differs from ``seen`` (True) or ``timeout`` passes (False)."""
        event = asyncio.Event()
        entry = (asyncio.get_running_loop(), event)
        with self._lock:
            self._waiters.setdefault(job_id, set()).add(entry)
        try:
            if self.version(job_id) != seen:
                return True
            try:
                await asyncio.wait_for(event.wait(), timeout)
            except asyncio.TimeoutError:
                return False
            return True
        finally:
            with self._lock:
                waiting = self._waiters.get(job_id, set())
                waiting.discard(entry)
                if not waiting:
                    self._waiters.pop(job_id, None)

    @contextmanager
    def stream(self) -> Iterator[None]:
        """Hold one event-stream slot; :class:`TooManyStreams` when none is free."""
        with self._lock:
            if self._streams >= self.max_streams:
                raise TooManyStreams(f"{self._streams} event streams are open (at most {self.max_streams}, NASWOT_MAX_EVENT_STREAMS); retry later")
            self._streams += 1
        try:
            yield
        finally:
            with self._lock:
                self._streams -= 1
