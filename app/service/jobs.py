"""Search jobs: each runs ``search.run_search`` in a job thread, scoring through the cache and the device workers.

Every evaluation is written to the database as it completes. On startup, jobs left ``queued`` or
``running`` by a previous process are resumed: the same strategy with the same seed replays the
same trajectory, every architecture scored before comes back from the cache at once, and the
stored evaluations are rewritten with identical values. A job whose cancel was requested before
the restart ends ``cancelled``. A job that cannot be resumed (its strategy or space is gone, its
data changed) is marked ``interrupted`` and keeps its partial results.

A store error pauses a search instead of failing it: its thread waits for the database with bounded
backoff, then re-queues it (``resumed`` + 1) to replay from its start, every score from the cache;
only an outage longer than ``outage_seconds`` ends it ``interrupted``. Job threads are supervised
(:mod:`app.service.jobslots`): whatever ends one, its job is left ``queued`` or ``failed``, never ``running``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections import Counter

from search import SearchResult

from app.service.dispatch import Dispatcher
from app.service.jobrun import Control, SearchRunner, Unresumable, unresumable
from app.service.latency import LatencyService
from app.service.jobslots import Backoff, JobSlot, PendingMarks
from app.service.leases import JobLeases, default_owner
from app.service.metrics import Metrics
from app.service.notify import JobNotifier
from app.records import DataRef, JobOutcome, JobRecord, JobRequest
from app.service.sources import Sources
from app.store import Store, StoreError

log = logging.getLogger("naswot.jobs")


class TooManyJobs(RuntimeError):
    """The job queue is full."""


class JobConflict(RuntimeError):
    """The job is in a state that does not allow the operation."""


class JobManager:
    """Queues, runs, cancels and resumes search jobs; at most ``max_running`` run at once."""

    def __init__(
        self, store: Store, dispatcher: Dispatcher, sources: Sources, metrics: Metrics, *,
        max_running: int, max_queued: int, notifier: JobNotifier | None = None,
        owner: str | None = None, lease_seconds: float = 30.0, outage_seconds: float = 300.0, stall_seconds: float = 600.0,
        latency: LatencyService | None = None,
    ):
        self.store = store
        self.dispatcher = dispatcher
        self.sources = sources
        self.metrics = metrics
        self.max_running = max_running
        self.max_queued = max_queued
        self.notifier = notifier or JobNotifier(max_streams=64)
        self.outage_seconds = outage_seconds
        self.stall_seconds = stall_seconds
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._waiting: Counter[str] = Counter()  # job id -> its entries in the local queue
        self._controls: dict[str, Control] = {}
        self.runner = SearchRunner(store, dispatcher, sources, self._bump, latency)
        self._lock = threading.Lock()
        self._shutdown = threading.Event()
        self._slots = [JobSlot(i, self._loop) for i in range(max_running)]
        self._marks = PendingMarks()  # job states the store could not take yet
        #: with a shared database, jobs are claimed under leases instead of all resumed at start
        self._leases = JobLeases(
            store, owner=owner or default_owner(), seconds=lease_seconds,
            has_room=self._has_room, take=self._take_leased, cancelled=self._cancel_flagged, held=self.held,
        ) if store.shared else None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._leases is not None:
            self._leases.start()
        else:
            self.recover()
        for slot in self._slots:
            slot.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop running jobs where they stand; they stay resumable (status ``queued``) for the next start."""
        self._shutdown.set()
        if self._leases is not None:
            self._leases.stop()
        for slot in self._slots:
            slot.stop()
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for slot in self._slots:
            slot.join(max(0.0, deadline - time.monotonic()))

    def supervise(self) -> list[str]:
        """Write the job states still pending; restart dead job threads, each one's job settled first; the names restarted."""
        for job_id in self._marks.flush():
            self._bump(job_id)
        restarted = []
        for slot in self._slots:
            if slot.dead and not self._shutdown.is_set():
                self._orphaned(slot)
                slot.restart()
                restarted.append(slot.name)
        return restarted

    def problems(self) -> list[str]:
        """Why job threads cannot run searches now (for /readyz): the dead ones not yet replaced."""
        return [f"{slot.name}: {slot.death}; restarting it" for slot in self._slots if slot.dead]

    def held(self) -> list[str]:
        """The jobs whose leases to renew: waiting here for a thread, paused by a store error (their thread keeps its
        claim until it re-queues them), or run by a live thread that made progress lately."""
        with self._lock:
            running = [s.job_id for s in self._slots if s.job_id is not None and (s.paused or s.progressing(self.stall_seconds))]
            return [*self._waiting, *running]  # type: ignore[list-item]

    def _orphaned(self, slot: JobSlot) -> None:
        """The job of a dead thread: queued again after a store error, else failed with the reason; its slot freed."""
        job_id, job = slot.job_id, slot.job  # read now: the slot is reset when its thread restarts
        if job_id is None:
            return
        with self._lock:
            self._controls.pop(job_id, None)
        if isinstance(slot.fatal, StoreError):
            self._marks.write(job_id, lambda: self._requeue(job_id, job), "queued")
        else:
            self._finish(job_id, "failed", error=f"{slot.death}; see the server log")

    def recover(self) -> list[str]:
        """Re-queue the jobs a previous process left unfinished; end the cancelled and the unresumable ones."""
        resumed = []
        for job in self.store.active_jobs():
            if self._end_unrunnable(job):
                continue
            self.store.requeue_job(job.id, resumed=job.resumed + (1 if job.started_at is not None else 0))  # a job that never ran is only re-queued
            self._enqueue(job.id)
            resumed.append(job.id)
            log.info("search %s resumed after a restart (%d evaluations kept)", job.id, self.store.evaluated(job.id))
        return resumed

    def _end_unrunnable(self, job: JobRecord) -> bool:
        """End a job found unfinished that must not run again (cancel requested, strategy or space gone); whether it was."""
        if job.cancel_requested:
            self.store.finish_job(job.id, "cancelled")
            log.info("search %s cancelled: its cancel was requested before the restart", job.id)
            return True
        reason = unresumable(job)
        if reason is not None:
            self.store.finish_job(job.id, "interrupted", error=reason)
            log.warning("search %s interrupted: %s", job.id, reason)
            return True
        return False

    def _take_leased(self, job: JobRecord) -> None:
        """A job this replica just leased: run it (or end it when it cannot run); never a second time while a thread
        here still holds it (paused by an outage during which its lease expired, or stalled)."""
        with self._lock:
            here = job.id in self._waiting or any(slot.job_id == job.id for slot in self._slots)
        if here:
            log.info("search %s: its lease expired while a job thread here still holds it; not run twice", job.id)
        elif not self._end_unrunnable(job):
            self._enqueue(job.id)

    def _has_room(self) -> bool:
        """A job thread is free for one more leased job."""
        with self._lock:
            busy = sum(slot.job_id is not None for slot in self._slots)
            return sum(self._waiting.values()) + busy < self.max_running

    def _cancel_flagged(self, job_id: str) -> None:
        """A cancel requested on another replica, for a job running here."""
        with self._lock:
            control = self._controls.get(job_id)
        if control is not None:
            control.cancelled.set()
            self.dispatcher.withdraw(job_id)

    # -- requests ----------------------------------------------------------------------------

    def submit(self, request: JobRequest, data: DataRef) -> JobRecord:
        """Persist a new job as ``queued`` and queue it; raises :class:`TooManyJobs` when the queue is full."""
        with self._lock:
            waiting = sum(self._waiting.values()) if self._leases is None else self.store.count_jobs().get("queued", 0)
            if waiting >= self.max_queued:
                raise TooManyJobs(f"{waiting} searches are already waiting (at most {self.max_queued}); retry later")
            job = JobRecord(id=uuid.uuid4().hex, status="queued", request=request, data=data, created_at=time.time())
            self.store.create_job(job)
        if self._leases is None:
            self._enqueue(job.id)
        else:
            self._leases.poke()  # this replica or another claims it
        return job

    def cancel(self, job_id: str) -> JobRecord:
        """Cancel a queued job at once, or ask a running one to stop; raises :class:`JobConflict` when finished."""
        before = self.store.request_cancel(job_id)
        if before is None:
            raise KeyError(job_id)
        if before == "running":
            with self._lock:
                control = self._controls.get(job_id)
            if control is not None:
                control.cancelled.set()
            self.dispatcher.withdraw(job_id)  # its architectures still queued on a device are dropped now
        elif before not in ("queued", "cancelled"):
            raise JobConflict(f"search {job_id} is already {before}; only queued or running searches can be cancelled")
        self._bump(job_id)
        return self.store.get_job(job_id)  # type: ignore[return-value]

    def scoring(self, job_id: str) -> dict[str, int] | None:
        """The batch a running job is waiting on: architectures scored so far and its size (they count as evaluated once all are in)."""
        return self.runner.scoring(job_id)

    def counts(self) -> dict[str, int]:
        return self.store.count_jobs()

    # -- running -----------------------------------------------------------------------------

    def _enqueue(self, job_id: str) -> None:
        with self._lock:
            self._waiting[job_id] += 1
        self._queue.put(job_id)

    def _bump(self, job_id: str) -> None:
        self.notifier.bump(job_id)

    def _loop(self, slot: JobSlot) -> None:
        """A job thread's body: run queued jobs until shutdown (a job left by a thread that dies is settled by :meth:`supervise`)."""
        while (job_id := self._queue.get()) is not None:
            with self._lock:
                self._waiting[job_id] -= 1
                if self._waiting[job_id] <= 0:
                    del self._waiting[job_id]
                slot.take(job_id)
            if not self._shutdown.is_set():  # at shutdown it stays queued in the database: the next start resumes it
                self._attend(slot, job_id)
            slot.take(None)
            if self._leases is not None:
                self._leases.poke()  # a slot came free

    def _attend(self, slot: JobSlot, job_id: str) -> None:
        """Run a job; whatever it raises, leave it in a defined state: paused and re-queued on a store error, else failed."""
        try:
            self._run(slot, job_id)
        except StoreError as exc:
            slot.paused = True  # its thread keeps its claim (lease renewed) until it re-queues the job
            try:
                self._pause(job_id, slot.job, exc)
            finally:
                slot.paused = False
        except Exception as exc:  # never lose the job thread; the job itself is marked failed
            log.exception("search %s crashed", job_id)
            self._finish(job_id, "failed", error=f"internal error ({type(exc).__name__}); see the server log")

    def _run(self, slot: JobSlot, job_id: str) -> None:
        """Run a queued job to its end (or its pause at shutdown)."""
        job = self.store.get_job(job_id)
        if job is None or job.status != "queued":
            return
        slot.job = job
        if job.cancel_requested:  # cancelled while it was paused by a store error
            self._finish(job_id, "cancelled")
            return
        control = Control(self._shutdown, slot.touch)
        with self._lock:
            self._controls[job_id] = control
        try:
            if not self.store.start_job(job_id, job.started_at or time.time()):
                return
            self._bump(job_id)
            self._search(job, control)
        finally:
            with self._lock:
                self._controls.pop(job_id, None)
            self._bump(job_id)

    def _pause(self, job_id: str, job: JobRecord | None, exc: StoreError) -> None:
        """A store error stopped the search: wait for the store with bounded backoff, then re-queue the search (it
        replays from its start, every score from the cache); past ``outage_seconds`` it ends ``interrupted``."""
        log.warning("search %s paused: %s", job_id, exc)
        deadline = time.monotonic() + self.outage_seconds
        for delay in Backoff().delays():
            if self._shutdown.is_set():
                return  # left active in the database: the next start resumes it
            try:
                self._requeue(job_id, job)
                return
            except StoreError as again:
                exc = again
            if time.monotonic() + delay > deadline:
                break
            self._shutdown.wait(delay)
        error = f"the database stayed unavailable for over {self.outage_seconds:g} s ({exc}); partial results kept"
        log.warning("search %s interrupted: %s", job_id, error)
        self._finish(job_id, "interrupted", error=error)

    def _requeue(self, job_id: str, job: JobRecord | None) -> None:
        """Queued again after a store error, to run from its start; ``resumed`` + 1 when it had run (a lease claim counts it)."""
        resumed = None if job is None or self._leases is not None else job.resumed + 1
        if not self.store.requeue_job(job_id, resumed=resumed):
            return  # it ended meanwhile (cancelled while queued)
        log.info("search %s re-queued after a database error; it resumes from the cache", job_id)
        self._bump(job_id)
        if self._leases is None:
            self._enqueue(job_id)  # with leases, the claimer takes it once its thread is free (the loop pokes it)

    def _search(self, job: JobRecord, control: Control) -> None:
        """Prepare, run and settle one search."""
        try:
            run = self.runner.prepare(job, control)
        except Unresumable as exc:
            self._finish(job.id, "interrupted", error=str(exc))
            return
        try:
            result = self.runner.execute(run)
        except StoreError:
            raise  # a pause, not a failure (see _attend)
        except Exception as exc:
            message = self.runner.failure_message(job, exc)
            log.warning("search %s failed: %s", job.id, message)
            self._finish(job.id, "failed", error=message)
            return
        self._settle(job.id, result, control)

    def _settle(self, job_id: str, result: SearchResult, control: Control) -> None:
        """A search that returned: cancelled, paused by shutdown (resumed by the next start) or done."""
        if control.cancelled.is_set():
            self._finish(job_id, "cancelled", outcome=JobOutcome.of(result))
        elif result.stopped and self._shutdown.is_set():
            try:
                self.store.requeue_job(job_id)
            except StoreError as exc:  # left running in the database, which the next start resumes as well
                log.warning("search %s: could not record its pause at shutdown: %s", job_id, exc)
            log.info("search %s paused by shutdown after %d evaluations", job_id, result.evaluated)
        else:
            self._finish(job_id, "done", outcome=JobOutcome.of(result))

    def _finish(self, job_id: str, status: str, *, error: str | None = None, outcome: JobOutcome | None = None) -> None:
        """End a job; when the store refuses, the state is kept and retried with backoff (:meth:`supervise`), never raised."""
        self._marks.write(job_id, lambda: self.store.finish_job(job_id, status, error=error, outcome=outcome), status)  # type: ignore[arg-type]
        self._bump(job_id)
