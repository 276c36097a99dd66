"""One search as a job thread runs it: its space, data and score specs, scored through the dispatcher.

:class:`SearchRunner` turns a stored job into a ``run_search`` call: it scores each batch through the
dispatcher (tagged with the job's id, so a cancel can withdraw its queued work), records every
evaluation in the store as it completes, and reports each step as progress (its lease is renewed
while it makes some).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from scoring import ScoredArch, SearchCosts, parse_ensemble
from search import SearchResult, SearchStopped, list_strategies, needs_latency, run_search
from searchspace import ArchitectureError, SearchSpace, get_space, list_spaces

from app.service.dispatch import Dispatcher
from app.service.latency import LatencyService, LatencyUnavailable
from app.records import JobRecord, JobRequest
from app.service.reference import StoredReference
from app.service.scorers import ScoreSpec, is_out_of_memory
from app.service.sources import Sources
from app.store import Store, StoreError
from app.service.taskqueue import BACKGROUND, WorkerStopped


log = logging.getLogger("naswot.jobs")


class Unresumable(RuntimeError):
    """The job cannot run here any more (the message says why); it ends ``interrupted``."""


class Control:
    """Stop flags a running job polls, and ``touch()``, called at each step it makes (its lease is renewed while it does)."""

    def __init__(self, shutdown: threading.Event, touch: Callable[[], None]):
        self.cancelled = threading.Event()
        self.shutdown = shutdown
        self.touch = touch

    def should_stop(self) -> bool:
        return self.cancelled.is_set() or self.shutdown.is_set()


@dataclass(frozen=True)
class Run:
    """What a job thread needs to run one search."""

    job: JobRecord
    space: SearchSpace
    spec: ScoreSpec
    control: Control
    #: the scores computed for every candidate besides the ranking one (cached, shown with each evaluation)
    reported: tuple[ScoreSpec, ...] = ()


def measures_latency(request: JobRequest) -> bool:
    """The switch for latency in a job's costs: on when its search needs the figure (a ``max_latency_ms`` bound, or minimised)."""
    return needs_latency(request.constraints.max_latency_ms if request.constraints else None, request.minimize)


def unresumable(job: JobRecord) -> str | None:
    """Why a stored job can no longer run here (its strategy or space is gone), or ``None``."""
    request = job.request
    if request.strategy not in list_strategies():
        return f"server restarted and strategy {request.strategy!r} no longer exists; partial results kept"
    if request.space not in list_spaces():
        return f"server restarted and space {request.space!r} no longer exists; partial results kept"
    return None


class SearchRunner:
    """Prepares and runs the searches of jobs; ``bump(job_id)`` tells followers a job changed."""

    def __init__(
        self, store: Store, dispatcher: Dispatcher, sources: Sources, bump: Callable[[str], None], latency: LatencyService | None = None,
    ):
        self.store = store
        self.latency = latency
        self.dispatcher = dispatcher
        self.sources = sources
        self._bump = bump
        self._scoring: dict[str, tuple[int, int, int | None]] = {}

    def scoring(self, job_id: str) -> dict[str, int] | None:
        """The batch a running job is waiting on: architectures scored so far and its size (they count as evaluated once all
        are in), and ``reference_sample``, the networks of an ensemble's reference sample scored before it, while they are."""
        state = self._scoring.get(job_id)
        if state is None:
            return None
        return {"scored": state[0], "size": state[1], **({"reference_sample": state[2]} if state[2] else {})}

    def _reference_pending(self, run: Run) -> int | None:
        """The size of an ensemble reference sample the store lacks, which this job's next batch scores first; else None."""
        for spec in (run.spec, *run.reported):
            members = {m for name in spec.scores if (e := parse_ensemble(name)) is not None for m in e.members}
            try:
                if members and not members <= set(StoredReference(self.store, spec.reference_key)):
                    return spec.reference_key.size
            except StoreError:
                return None  # the batch finds out itself; the state only says less
        return None

    def prepare(self, job: JobRecord, control: Control) -> Run:
        """The space, data and score spec of a job; :class:`Unresumable` when they are gone or changed."""
        reason = unresumable(job)
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
        return Run(job, space, specs[0], control, tuple(specs[1:]))

    def execute(self, run: Run) -> SearchResult:
        """``run_search`` with the job's request, scoring through the dispatcher and recording each evaluation."""
        request = run.job.request
        return run_search(
            request.strategy,
            run.space,
            lambda archs: self._score(run, archs),
            budget=request.budget,
            seed=request.seed,
            top_k=request.top_k,
            constraints=request.constraints,
            exclude_singular=request.exclude_singular,
            cost=self._costs(run),
            minimize=request.minimize,
            on_evaluation=lambda e: self._record(run, e),
            should_stop=run.control.should_stop,
            **request.strategy_params,
        )

    def _costs(self, run: Run) -> SearchCosts:
        """The job's cost callable: parameters and FLOPs, and the measured latency when :func:`measures_latency` says so."""
        spec = run.spec
        latency = (lambda archs: self._latency(run, archs)) if measures_latency(run.job.request) else None
        return SearchCosts(run.space, spec.source, spec.num_classes, latency)

    def _latency(self, run: Run, archs: list[str]) -> list[float]:
        """The latencies of ``archs`` from the latency service, at background priority (a stop while waiting stops the search)."""
        if self.latency is None:
            raise LatencyUnavailable("this job runner was given no latency service")
        try:
            return self.latency.measure(
                run.space, run.spec.source, archs, run.job.request.latency_batch, priority=BACKGROUND, abort=run.control.should_stop,
            )
        except WorkerStopped:
            if run.control.should_stop():
                raise SearchStopped from None
            raise

    def _score(self, run: Run, archs: list[str]) -> list[ScoredArch | ArchitectureError]:
        """The strategy's scorer: a batch through the dispatcher, its progress visible while it is scored. An architecture
        whose network cannot be built or run is handed back as its error (the search skips it); any other error fails the job."""
        job_id = run.job.id
        pending = self._reference_pending(run)
        if pending:
            log.info("search %s scores the ensemble's reference sample (%d networks) before its batch: once per space, data and settings", job_id, pending)
        self._scoring[job_id] = (0, len(archs), pending)

        def tick() -> None:
            scored, size, _ = self._scoring.get(job_id, (0, len(archs), None))
            self._scoring[job_id] = (scored + 1, size, None)  # the sample is scored before the batch's first architecture
            run.control.touch()
            self._bump(job_id)

        try:
            outcomes = self.dispatcher.score_all_blocking((run.spec, *run.reported), archs, run.control.should_stop, tick, owner=job_id)
            return [_skipped_or_raised(job_id, outcome) for outcome in outcomes]
        except WorkerStopped:
            if run.control.should_stop():
                raise SearchStopped from None
            raise
        finally:
            self._scoring.pop(job_id, None)

    def _record(self, run: Run, evaluation: ScoredArch) -> None:
        self.store.add_evaluation(run.job.id, evaluation)
        run.control.touch()
        self._bump(run.job.id)

    @staticmethod
    def failure_message(job: JobRecord, exc: Exception) -> str:
        if is_out_of_memory(exc):
            return f"out of memory on the device while scoring (batch_size {job.request.batch_size}); lower batch_size"
        return f"{type(exc).__name__}: {exc}"


def _skipped_or_raised(job_id: str, outcome: ScoredArch | BaseException) -> ScoredArch | ArchitectureError:
    """A record as it is; an :class:`ArchitectureError` (logged) for the search to skip; any other error raised."""
    if isinstance(outcome, ArchitectureError):
        log.warning("search %s skips an architecture: %s", job_id, outcome)
        return outcome
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome
