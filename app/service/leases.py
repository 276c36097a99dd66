"""Search jobs shared by several replicas through one database: claim a job under a lease, keep it alive.

With a shared store (PostgreSQL) no replica re-queues every unfinished job at start, as a lone
process does; instead each one claims a job whenever it has a free job slot (the oldest job nobody
holds, or one whose holder stopped renewing its lease), and a heartbeat renews the leases it holds
and carries cancel requests made on other replicas. A replica killed mid-search stops renewing; once
its lease expires another replica takes the search over and resumes it as a restart would. So does a
replica whose job thread died or stopped making progress: only the leases of jobs ``held()`` are renewed.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Collection

from app.records import JobRecord
from app.store import Store, StoreError

log = logging.getLogger("naswot.jobs")


def default_owner() -> str:
    """This process's name in leases: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


class JobLeases:
    """Two threads: a claimer that takes jobs while ``has_room()``, and a heartbeat that renews the leases held."""

    def __init__(
        self, store: Store, *, owner: str, seconds: float,
        has_room: Callable[[], bool], take: Callable[[JobRecord], None], cancelled: Callable[[str], None],
        held: Callable[[], Collection[str]],
    ):
        self.store = store
        self.owner = owner
        self.seconds = seconds
        self.has_room = has_room
        self.take = take
        self.cancelled = cancelled
        self.held = held
        self.poll = min(1.0, seconds / 4)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._claim_loop, name="naswot-job-claimer", daemon=True),
            threading.Thread(target=self._heartbeat_loop, name="naswot-job-heartbeat", daemon=True),
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def poke(self) -> None:
        """A job was submitted or a slot came free: look for work now rather than at the next poll."""
        self._wake.set()

    def claim_one(self) -> bool:
        """Claim and hand over one job when there is room; whether one was taken."""
        if not self.has_room():
            return False
        job = self.store.claim_job(self.owner, self.seconds)
        if job is None:
            return False
        log.info("search %s leased to %s (resumed %d time(s))", job.id, self.owner, job.resumed)
        self.take(job)
        return True

    def renew(self) -> None:
        """Extend the leases of the jobs ``held()`` (alive and making progress here); forward cancel requests made on any replica."""
        held = self.held()
        if not held:
            return
        for job_id, cancel_requested in self.store.renew_leases(self.owner, self.seconds, held).items():
            if cancel_requested:
                self.cancelled(job_id)

    def _claim_loop(self) -> None:
        while not self._stop.is_set():
            try:
                while self.claim_one():
                    pass
            except StoreError as exc:
                log.warning("claiming a search failed: %s", exc)
            self._wake.wait(self.poll)
            self._wake.clear()

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                self.renew()
            except StoreError as exc:
                log.warning("renewing search leases failed: %s", exc)
