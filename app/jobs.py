"""Search jobs: each runs ``search.run_search`` in a job thread, scoring through the cache and the device workers.

Every evaluation is written to the database as it completes. On startup, jobs left ``queued`` or
``running`` by a previous process are resumed: the same strategy with the same seed replays the
same trajectory, every architecture scored before comes back from the cache at once, and the
stored evaluations are rewritten with identical values. A job that cannot be resumed (its strategy
or space is gone, its data changed) is marked ``interrupted`` and keeps its partial results.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from typing import Any

from search import Constraints, Evaluation, SearchStopped, list_strategies, run_search
from searchspace import get_space, list_spaces

from .dispatch import Dispatcher
from .metrics import Metrics
from .sources import Sources
from .store import ACTIVE, Store
from .worker import ScoreSpec, WorkerStopped, is_out_of_memory

log = logging.getLogger("naswot.jobs")


class TooManyJobs(RuntimeError):
    """The job queue is full."""


class JobConflict(RuntimeError):
    """The job is in a state that does not allow the operation."""


class _Control:
    """Stop flags a running job polls."""

    def __init__(self, shutdown: threading.Event):
        self.cancelled = threading.Event()
        self.shutdown = shutdown

    def should_stop(self) -> bool:
        return self.cancelled.is_set() or self.shutdown.is_set()


class JobManager:
    """Queues, runs, cancels and resumes search jobs; at most ``max_running`` run at once."""

    def __init__(self, store: Store, dispatcher: Dispatcher, sources: Sources, metrics: Metrics, *, max_running: int, max_queued: int):
        self.store = store
        self.dispatcher = dispatcher
        self.sources = sources
        self.metrics = metrics
        self.max_running = max_running
        self.max_queued = max_queued
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._queued = 0
        self._controls: dict[str, _Control] = {}
        self._versions: dict[str, int] = {}
        self._scoring: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self._shutdown = threading.Event()
        self._threads = [threading.Thread(target=self._loop, name=f"naswot-job-{i}", daemon=True) for i in range(max_running)]

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self.recover()
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop running jobs where they stand; they stay resumable (status ``queued``) for the next start."""
        self._shutdown.set()
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))

    def recover(self) -> list[str]:
        """Re-queue the jobs a previous process left unfinished; mark the unresumable ones interrupted."""
        resumed = []
        for job in self.store.active_jobs():
            reason = self._unresumable(job)
            if reason is not None:
                self.store.update_job(job["id"], status="interrupted", finished_at=time.time(), error=reason)
                log.warning("search %s interrupted: %s", job["id"], reason)
                continue
            resumed_count = job["resumed"] + (1 if job["started_at"] is not None else 0)  # a job that never ran is only re-queued
            self.store.update_job(job["id"], status="queued", resumed=resumed_count)
            self._enqueue(job["id"])
            resumed.append(job["id"])
            log.info("search %s resumed after a restart (%d evaluations kept)", job["id"], self.store.evaluated(job["id"]))
        return resumed

    @staticmethod
    def _unresumable(job: dict[str, Any]) -> str | None:
        request = job["request"]
        if request["strategy"] not in list_strategies():
            return f"server restarted and strategy {request['strategy']!r} no longer exists; partial results kept"
        if request["space"] not in list_spaces():
            return f"server restarted and space {request['space']!r} no longer exists; partial results kept"
        return None

    # -- requests ----------------------------------------------------------------------------

    def submit(self, request: dict[str, Any], data: dict[str, Any]) -> str:
        """Persist a new job as ``queued`` and queue it; raises :class:`TooManyJobs` when the queue is full."""
        with self._lock:
            if self._queued >= self.max_queued:
                raise TooManyJobs(f"{self._queued} searches are already waiting (at most {self.max_queued}); retry later")
            job_id = uuid.uuid4().hex
            self.store.create_job(job_id, request, data)
        self._enqueue(job_id)
        return job_id

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Cancel a queued job at once, or ask a running one to stop; raises :class:`JobConflict` when finished."""
        job = self.store.get_job(job_id)
        if job is None:
            raise KeyError(job_id)
        if job["status"] == "cancelled":
            return job
        if self.store.set_status_if(job_id, ["queued"], status="cancelled", cancel_requested=1, finished_at=time.time()):
            self._bump(job_id)
        elif self.store.set_status_if(job_id, ["running"], cancel_requested=1):
            with self._lock:
                control = self._controls.get(job_id)
            if control is not None:
                control.cancelled.set()
            self._bump(job_id)
        else:
            current = self.store.get_job(job_id)
            if current is not None and current["status"] != "cancelled":
                raise JobConflict(f"search {job_id} is already {current['status']}; only queued or running searches can be cancelled")
        return self.store.get_job(job_id)  # type: ignore[return-value]

    def version(self, job_id: str) -> int:
        """Changes whenever the job's status or evaluations change in this process (for event streams)."""
        return self._versions.get(job_id, 0)

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
        with self._lock:
            self._versions[job_id] = self._versions.get(job_id, 0) + 1

    def _loop(self) -> None:
        while (job_id := self._queue.get()) is not None:
            with self._lock:
                self._queued -= 1
            if self._shutdown.is_set():
                continue  # stays queued in the database: the next start resumes it
            try:
                self._run(job_id)
            except Exception:  # never lose the job thread; the job itself is marked failed below
                log.exception("search %s crashed", job_id)
                self.store.update_job(job_id, status="failed", finished_at=time.time(), error="internal error; see the server log")
                self._bump(job_id)

    def _run(self, job_id: str) -> None:
        job = self.store.get_job(job_id)
        if job is None or job["status"] != "queued":
            return
        control = _Control(self._shutdown)
        with self._lock:
            self._controls[job_id] = control
        try:
            started = job["started_at"] or time.time()
            if not self.store.set_status_if(job_id, ["queued"], status="running", started_at=started, error=None):
                return
            self._bump(job_id)
            self._search(job, control)
        finally:
            with self._lock:
                self._controls.pop(job_id, None)
            self._bump(job_id)

    def _search(self, job: dict[str, Any], control: _Control) -> None:
        job_id, request, data = job["id"], job["request"], job["data"]
        reason = self._unresumable(job)
        if reason is not None:
            self._finish(job_id, "interrupted", error=reason)
            return
        space = get_space(request["space"])
        try:
            source = self.sources.open_spec(data["spec"])
        except ValueError as exc:
            self._finish(job_id, "interrupted", error=f"{exc}; partial results kept")
            return
        if source.identity != data["identity"]:
            self._finish(job_id, "interrupted", error=f"data source {data['spec']!r} changed since the search started; partial results kept")
            return
        spec = ScoreSpec(space, source, request["batch_size"], request["seed"])

        def scorer(archs: list[str]) -> list[float]:
            state = self._scoring[job_id] = [0, len(archs)]

            def tick() -> None:
                state[0] += 1
                self._bump(job_id)

            try:
                return [s.score for s in self.dispatcher.score_blocking(spec, archs, abort=control.should_stop, on_each=tick)]
            except WorkerStopped:
                if control.should_stop():
                    raise SearchStopped from None
                raise
            finally:
                self._scoring.pop(job_id, None)

        def record(e: Evaluation) -> None:
            self.store.add_evaluation(job_id, e.step, e.arch, e.score, e.params, e.flops)
            self._bump(job_id)

        constraints = request.get("constraints") or {}
        try:
            result = run_search(
                request["strategy"],
                space,
                scorer,
                budget=request["budget"],
                seed=request["seed"],
                top_k=request["top_k"],
                constraints=Constraints(constraints.get("max_params"), constraints.get("max_flops")),
                exclude_singular=request["exclude_singular"],
                cost=lambda arch: space.cost(arch, spec.num_classes, source.image_shape[1:]),
                on_evaluation=record,
                should_stop=control.should_stop,
                **request.get("strategy_params", {}),
            )
        except Exception as exc:
            if is_out_of_memory(exc):
                message = f"out of memory on the device while scoring (batch_size {request['batch_size']}); lower batch_size"
            else:
                message = f"{type(exc).__name__}: {exc}"
            log.warning("search %s failed: %s", job_id, message)
            self._finish(job_id, "failed", error=message)
            return
        outcome = {
            "stopped": result.stopped, "exhausted": result.exhausted, "rejected": result.rejected, "immigrants": result.immigrants,
            "evaluated": result.evaluated, "budget": result.budget,
        }
        if control.cancelled.is_set():
            self._finish(job_id, "cancelled", outcome=outcome)
        elif result.stopped and self._shutdown.is_set():
            self.store.update_job(job_id, status="queued")  # resumed by the next start
            log.info("search %s paused by shutdown after %d evaluations", job_id, result.evaluated)
        else:
            self._finish(job_id, "done", outcome=outcome)

    def _finish(self, job_id: str, status: str, *, error: str | None = None, outcome: dict[str, Any] | None = None) -> None:
        if outcome is not None:
            self.store.update_job(job_id, outcome=outcome)
        self.store.set_status_if(job_id, ACTIVE, status=status, finished_at=time.time(), error=error)
        self._bump(job_id)
