"""Search jobs: each runs ``search.run_search`` in a job thread, scoring through the cache and the device workers.

Every evaluation is written to the database as it completes. On startup, jobs left ``queued`` or
``running`` by a previous process are resumed: the same strategy with the same seed replays the
same trajectory, every architecture scored before comes back from the cache at once, and the
stored evaluations are rewritten with identical values. A job whose cancel was requested before
the restart ends ``cancelled``. A job that cannot be resumed (its strategy or space is gone, its
data changed) is marked ``interrupted`` and keeps its partial results.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass

from scoring import cost_for
from search import Evaluation, SearchResult, SearchStopped, list_strategies, run_search
from searchspace import SearchSpace, get_space, list_spaces

from .dispatch import Dispatcher
from .leases import JobLeases, default_owner
from .metrics import Metrics
from .notify import JobNotifier
from .records import DataRef, JobOutcome, JobRecord, ScoredArch, SearchSpec
from .sources import Sources
from .store import Store
from .worker import ScoreSpec, WorkerStopped, is_out_of_memory

log = logging.getLogger("naswot.jobs")


class TooManyJobs(RuntimeError):
    """The job queue is full."""


class JobConflict(RuntimeError):
    """The job is in a state that does not allow the operation."""


class Unresumable(RuntimeError):
    """The job cannot run here any more (the message says why); it ends ``interrupted``."""


class _Control:
    """Stop flags a running job polls."""

    def __init__(self, shutdown: threading.Event):
        self.cancelled = threading.Event()
        self.shutdown = shutdown

    def should_stop(self) -> bool:
        return self.cancelled.is_set() or self.shutdown.is_set()


@dataclass(frozen=True)
class _Run:
    """What a job thread needs to run one search."""

    job: JobRecord
    space: SearchSpace
    spec: ScoreSpec
    control: _Control
    #: the scores computed for every candidate besides the ranking one (cached, shown with each evaluation)
    reported: tuple[ScoreSpec, ...] = ()


class JobManager:
    """Queues, runs, cancels and resumes search jobs; at most ``max_running`` run at once."""

    def __init__(
        self, store: Store, dispatcher: Dispatcher, sources: Sources, metrics: Metrics, *,
        max_running: int, max_queued: int, notifier: JobNotifier | None = None,
        owner: str | None = None, lease_seconds: float = 30.0,
    ):
        self.store = store
        self.dispatcher = dispatcher
        self.sources = sources
        self.metrics = metrics
        self.max_running = max_running
        self.max_queued = max_queued
        self.notifier = notifier or JobNotifier(max_streams=64)
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._queued = 0
        self._controls: dict[str, _Control] = {}
        self._scoring: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()
        self._shutdown = threading.Event()
        self._threads = [threading.Thread(target=self._loop, name=f"naswot-job-{i}", daemon=True) for i in range(max_running)]
        #: with a shared database, jobs are claimed under leases instead of all resumed at start
        self._leases = JobLeases(
            store, owner=owner or default_owner(), seconds=lease_seconds,
            has_room=self._has_room, take=self._take_leased, cancelled=self._cancel_flagged,
        ) if store.shared else None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._leases is not None:
            self._leases.start()
        else:
            self.recover()
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop running jobs where they stand; they stay resumable (status ``queued``) for the next start."""
        self._shutdown.set()
        if self._leases is not None:
            self._leases.stop()
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))

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
        reason = self._unresumable(job)
        if reason is not None:
            self.store.finish_job(job.id, "interrupted", error=reason)
            log.warning("search %s interrupted: %s", job.id, reason)
            return True
        return False

    def _take_leased(self, job: JobRecord) -> None:
        """A job this replica just leased: run it (or end it when it cannot run)."""
        if not self._end_unrunnable(job):
            self._enqueue(job.id)

    def _has_room(self) -> bool:
        """A job thread is free for one more leased job."""
        with self._lock:
            return self._queued + len(self._controls) < self.max_running

    def _cancel_flagged(self, job_id: str) -> None:
        """A cancel requested on another replica, for a job running here."""
        with self._lock:
            control = self._controls.get(job_id)
        if control is not None:
            control.cancelled.set()

    @staticmethod
    def _unresumable(job: JobRecord) -> str | None:
        request = job.request
        if request.strategy not in list_strategies():
            return f"server restarted and strategy {request.strategy!r} no longer exists; partial results kept"
        if request.space not in list_spaces():
            return f"server restarted and space {request.space!r} no longer exists; partial results kept"
        return None

    # -- requests ----------------------------------------------------------------------------

    def submit(self, request: SearchSpec, data: DataRef) -> JobRecord:
        """Persist a new job as ``queued`` and queue it; raises :class:`TooManyJobs` when the queue is full."""
        with self._lock:
            waiting = self._queued if self._leases is None else self.store.count_jobs().get("queued", 0)
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
        elif before not in ("queued", "cancelled"):
            raise JobConflict(f"search {job_id} is already {before}; only queued or running searches can be cancelled")
        self._bump(job_id)
        return self.store.get_job(job_id)  # type: ignore[return-value]

    def version(self, job_id: str) -> int:
        """Changes whenever the job's status or evaluations change in this process (for event streams)."""
        return self.notifier.version(job_id)

    def scoring(self, job_id: str) -> dict[str, int] | None:
        """The batch a running job is waiting on: architectures scored so far and its size (they count as evaluated once all are in)."""
        state = self._scoring.get(job_id)
        return None if state is None else {"scored": state[0], "size": state[1]}

    def counts(self) -> dict[str, int]:
        return self.store.count_jobs()

    # -- running -----------------------------------------------------------------------------

    def _enqueue(self, job_id: str) -> None:
        with self._lock:
            self._queued += 1
        self._queue.put(job_id)

    def _bump(self, job_id: str) -> None:
        self.notifier.bump(job_id)

    def _loop(self) -> None:
        while (job_id := self._queue.get()) is not None:
            with self._lock:
                self._queued -= 1
            if self._shutdown.is_set():
                continue  # stays queued in the database: the next start resumes it
            try:
                self._run(job_id)
            except Exception as exc:  # never lose the job thread; the job itself is marked failed
                log.exception("search %s crashed", job_id)
                self._finish(job_id, "failed", error=f"internal error ({type(exc).__name__}); see the server log")
            if self._leases is not None:
                self._leases.poke()  # a slot came free

    def _run(self, job_id: str) -> None:
        """Run a queued job to its end (or its pause at shutdown)."""
        job = self.store.get_job(job_id)
        if job is None or job.status != "queued":
            return
        control = _Control(self._shutdown)
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

    def _search(self, job: JobRecord, control: _Control) -> None:
        """Prepare, run and settle one search."""
        try:
            run = self._prepare(job, control)
        except Unresumable as exc:
            self._finish(job.id, "interrupted", error=str(exc))
            return
        try:
            result = self._execute(run)
        except Exception as exc:
            message = self._failure_message(job, exc)
            log.warning("search %s failed: %s", job.id, message)
            self._finish(job.id, "failed", error=message)
            return
        self._settle(job.id, result, control)

    def _prepare(self, job: JobRecord, control: _Control) -> _Run:
        """The space, data and score spec of a job; :class:`Unresumable` when they are gone or changed."""
        reason = self._unresumable(job)
        if reason is not None:
            raise Unresumable(reason)
        request, data = job.request, job.data
        assert data is not None, "every job is stored with its data source"
        try:
            source = self.sources.open_spec(data.spec)
        except ValueError as exc:
            raise Unresumable(f"{exc}; partial results kept") from None
        if source.identity != data.identity:
            raise Unresumable(f"data source {data.spec!r} changed since the search started; partial results kept")
        space = get_space(request.space)
        specs = [ScoreSpec(space, source, request.batch_size, request.seed, score=name) for name in request.scores]
        return _Run(job, space, specs[0], control, tuple(specs[1:]))

    def _execute(self, run: _Run) -> SearchResult:
        """``run_search`` with the job's request, scoring through the dispatcher and recording each evaluation."""
        request, spec = run.job.request, run.spec
        return run_search(
            request.strategy,
            run.space,
            lambda archs: self._score(run, archs),
            budget=request.budget,
            seed=request.seed,
            top_k=request.top_k,
            constraints=request.constraints,
            exclude_singular=request.exclude_singular,
            cost=lambda arch: cost_for(run.space, spec.source, arch, spec.num_classes),
            on_evaluation=lambda e: self._record(run.job.id, e),
            should_stop=run.control.should_stop,
            **request.strategy_params,
        )

    def _score(self, run: _Run, archs: list[str]) -> list[float]:
        """The strategy's scorer: a batch through the dispatcher, its progress visible while it is scored."""
        job_id = run.job.id
        self._scoring[job_id] = (0, len(archs))

        def tick() -> None:
            scored, size = self._scoring.get(job_id, (0, len(archs)))
            self._scoring[job_id] = (scored + 1, size)
            self._bump(job_id)

        try:
            # the reported scores go into the cache, where each evaluation's values are read from
            scored, *_reported = self.dispatcher.score_all_blocking((run.spec, *run.reported), archs, run.control.should_stop, tick)
            return [s.score for s in scored]
        except WorkerStopped:
            if run.control.should_stop():
                raise SearchStopped from None
            raise
        finally:
            self._scoring.pop(job_id, None)

    def _record(self, job_id: str, evaluation: Evaluation) -> None:
        self.store.add_evaluation(job_id, ScoredArch.evaluated(evaluation))
        self._bump(job_id)

    @staticmethod
    def _failure_message(job: JobRecord, exc: Exception) -> str:
        if is_out_of_memory(exc):
            return f"out of memory on the device while scoring (batch_size {job.request.batch_size}); lower batch_size"
        return f"{type(exc).__name__}: {exc}"

    def _settle(self, job_id: str, result: SearchResult, control: _Control) -> None:
        """A search that returned: cancelled, paused by shutdown (resumed by the next start) or done."""
        if control.cancelled.is_set():
            self._finish(job_id, "cancelled", outcome=JobOutcome.of(result))
        elif result.stopped and self._shutdown.is_set():
            self.store.requeue_job(job_id)
            log.info("search %s paused by shutdown after %d evaluations", job_id, result.evaluated)
        else:
            self._finish(job_id, "done", outcome=JobOutcome.of(result))

    def _finish(self, job_id: str, status: str, *, error: str | None = None, outcome: JobOutcome | None = None) -> None:
        self.store.finish_job(job_id, status, error=error, outcome=outcome)  # type: ignore[arg-type]
        self._bump(job_id)
