"""From architectures to scores: the cache first, then work already in flight, then a device worker.

The same (cache key, architecture) is never computed twice at once: a second request for work
in flight waits on the first one's future. A result is written to the cache before it leaves the
in-flight table, so a request always finds it in one or the other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field

from scoring import ArchScore

from .metrics import Metrics
from .store import CachedScore, Store
from .worker import BACKGROUND, INTERACTIVE, DeviceWorker, ScoreSpec, Task, WorkerStopped, is_out_of_memory


@dataclass(frozen=True)
class Scored(CachedScore):
    """One architecture's answer; ``cached`` when no device work was done for it."""

    cached: bool = field(default=False, kw_only=True)


class QueueFull(RuntimeError):
    """No worker has room for the request; retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int, needed: int, capacity: int):
        self.retry_after = retry_after
        super().__init__(
            f"the scoring queue is full ({needed} architecture(s) to queue, at most {capacity} may wait); "
            f"retry in about {retry_after} s"
        )


class NoWorker(RuntimeError):
    """Every device worker is stopped or unusable."""


class Dispatcher:
    """Routes scoring work through the cache, the in-flight table and the least loaded device worker."""

    def __init__(self, store: Store, workers: Sequence[DeviceWorker], metrics: Metrics):
        if not workers:
            raise ValueError("at least one device worker is needed")
        self.store = store
        self.workers = list(workers)
        self.metrics = metrics
        self._inflight: dict[tuple, Future[Scored]] = {}
        self._lock = threading.Lock()

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    def _worker(self) -> DeviceWorker:
        alive = [w for w in self.workers if w.alive]
        if not alive:
            errors = "; ".join(f"{w.name}: {w.error}" for w in self.workers if w.error) or "stopped"
            raise NoWorker(f"no device worker is available ({errors})")
        return min(alive, key=lambda w: w.load)

    def submit(
        self, spec: ScoreSpec, archs: Sequence[str], *, block: bool = False, abort: Callable[[], bool] | None = None
    ) -> tuple[list[Future[Scored]], str]:
        """A future per architecture (canonical; repeats share one) and the device new work went to.

        Non-blocking (requests): everything new is queued at once on one worker or nothing is,
        raising :class:`QueueFull`. Blocking (search jobs): waits for room, a task at a time.
        """
        key = spec.cache_key
        distinct = list(dict.fromkeys(archs))
        futures: dict[str, Future[Scored]] = {}
        for arch, hit in self.store.get_scores(key, distinct).items():
            futures[arch] = _resolved(Scored(hit.arch, hit.score, hit.params, hit.flops, hit.seconds, device=hit.device, cached=True))
        self.metrics.cache_hits.inc(len(futures))
        missing = [a for a in distinct if a not in futures]
        if not missing:
            return [futures[a] for a in archs], self.workers[0].name
        worker = self._worker()
        new: list[Task] = []
        with self._lock:
            late_hits = self.store.get_scores(key, [a for a in missing if key.of(a) not in self._inflight])
            for arch in missing:
                shared = self._inflight.get(key.of(arch))
                if shared is not None:
                    futures[arch] = shared
                    self.metrics.deduplicated.inc()
                elif arch in late_hits:
                    hit = late_hits[arch]
                    futures[arch] = _resolved(Scored(hit.arch, hit.score, hit.params, hit.flops, hit.seconds, device=hit.device, cached=True))
                    self.metrics.cache_hits.inc()
                else:
                    futures[arch] = self._inflight[key.of(arch)] = Future()
                    new.append(Task(spec, arch, self._done))
            if new and not block:
                try:
                    accepted: bool | None = worker.offer(new, INTERACTIVE)
                except WorkerStopped:
                    accepted = None
                if not accepted:
                    for task in new:
                        del self._inflight[key.of(task.arch)]
                    if accepted is None:
                        raise NoWorker(f"device worker {worker.name} is shutting down")
                    self.metrics.rejected.labels("score").inc()
                    raise QueueFull(worker.retry_after(len(self.workers)), len(new), worker.capacity)
        if new and block:
            for i, task in enumerate(new):
                try:
                    self._worker().put(task, BACKGROUND, abort)
                except (WorkerStopped, NoWorker) as exc:
                    for unqueued in new[i:]:  # settle every future nobody will compute, so no waiter hangs
                        self._done(unqueued, exc, worker.name)
                    break
        return [futures[a] for a in archs], worker.name

    def score_blocking(
        self, spec: ScoreSpec, archs: Sequence[str], abort: Callable[[], bool] | None = None, on_each: Callable[[], None] | None = None
    ) -> list[Scored]:
        """Scores of ``archs`` (waiting for room and for results); raises what scoring raised.

        ``on_each`` is called as each architecture's result arrives. When ``abort()`` turns true
        while waiting, raises :class:`WorkerStopped`; work already queued still completes and
        lands in the cache.
        """
        futures, _device = self.submit(spec, archs, block=True, abort=abort)
        if on_each is not None:
            for future in futures:
                future.add_done_callback(lambda _f: on_each())
        pending = set(futures)
        while pending:
            _done, pending = wait_futures(pending, timeout=0.25)
            if pending and abort is not None and abort():
                raise WorkerStopped("aborted while waiting for scores")
        return [f.result() for f in futures]

    def _done(self, task: Task, outcome: ArchScore | BaseException, device: str) -> None:
        """Worker callback: cache the result, leave the in-flight table, wake the waiters."""
        key = task.spec.cache_key
        if isinstance(outcome, BaseException):
            kind = "out_of_memory" if is_out_of_memory(outcome) else "stopped" if isinstance(outcome, WorkerStopped) else "error"
            self.metrics.score_errors.labels(kind).inc()
            result: Scored | BaseException = outcome
        else:
            result = Scored(outcome.arch, outcome.score, outcome.params, outcome.flops, outcome.seconds, device=device, cached=False)
            self.store.put_score(key, CachedScore(outcome.arch, outcome.score, outcome.params, outcome.flops, outcome.seconds, device=device))
        with self._lock:
            future = self._inflight.pop(key.of(task.arch), None)
        if future is None or future.done():
            return
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


def _resolved(value: Scored) -> Future[Scored]:
    future: Future[Scored] = Future()
    future.set_result(value)
    return future

