"""From architectures to scores: the cache first, then work already in flight, then a device worker.

The same (cache key, architecture) is never computed twice at once: a second request for work
in flight waits on the first one's future. A result is written to the cache before it leaves the
in-flight table, so a request always finds it in one or the other. A result the cache cannot take
(the database stays locked) fails only the architectures it concerns, with :class:`StoreError`.
Work is tagged with who waits for it (a search job's id, or ``None`` for a request), so a cancelled
search's queued work leaves every device queue at once, unless someone else still waits for it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures

from scoring import ScoredArch

from app.service.metrics import Metrics
from app.service.scorers import ScoreSpec, is_out_of_memory
from app.store import CacheKey, Store, StoreError
from app.service.taskqueue import BACKGROUND, INTERACTIVE, Task, WorkerStopped, settle
from app.service.worker import DeviceWorker

log = logging.getLogger("naswot.dispatch")


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


def error_kind(exc: BaseException) -> str:
    """The ``naswot_score_errors_total`` label of a scoring failure."""
    if is_out_of_memory(exc):
        return "out_of_memory"
    if isinstance(exc, WorkerStopped):
        return "stopped"
    if isinstance(exc, StoreError):
        return "store"
    return "error"


class Dispatcher:
    """Routes scoring work through the cache, the in-flight table and the least loaded device worker."""

    def __init__(self, store: Store, workers: Sequence[DeviceWorker], metrics: Metrics):
        if not workers:
            raise ValueError("at least one device worker is needed")
        self.store = store
        self.workers = list(workers)
        self.metrics = metrics
        self._inflight: dict[tuple, Future[ScoredArch]] = {}
        self._owners: dict[tuple, set[str | None]] = {}  # who waits for each task in flight (a job id; None: a request)
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

    def withdraw(self, owner: str) -> int:
        """Drop from every queue the tasks no one but ``owner`` (a cancelled search) waits for; how many were dropped."""
        stopped = WorkerStopped(f"search {owner} was cancelled")
        with self._lock:
            orphaned = set()
            for key, owners in self._owners.items():
                if owner in owners:
                    owners.discard(owner)
                    if not owners:
                        orphaned.add(key)
            if not orphaned:
                return 0
            dropped = [t for w in self.workers for t in w.withdraw(lambda t: t.spec.cache_key.of(t.arch) in orphaned)]
            futures = [self._forget(t.spec.cache_key.of(t.arch)) for t in dropped]
        for future in futures:
            if future is not None and not future.done():
                future.set_exception(stopped)
        return len(dropped)

    def submit_all(
        self, specs: Sequence[ScoreSpec], archs: Sequence[str], *, block: bool = False, abort: Callable[[], bool] | None = None,
        owner: str | None = None, admit: Callable[[list[str]], None] | None = None,
    ) -> tuple[list[Future[ScoredArch]], str]:
        """A future per architecture (canonical; repeats share one) for its record with each spec's value by name, and the
        device new work went to. Each score is cached and shared in flight on its own; an architecture's record is
        their merge (:meth:`scoring.ScoredArch.merge`), or the first of its scores' errors.

        Non-blocking (requests): everything new is queued at once on one worker or nothing is,
        raising :class:`QueueFull`. Blocking (search jobs): waits for room, a task at a time.
        New tasks are queued architecture by architecture, so a worker takes an architecture's
        scores together and computes them in shared passes; each score is still cached on its own.
        ``owner`` is the search job waiting for them (``None``: a request, whose work is never withdrawn); the job, or
        else this call, is the flow the device is shared by (see :mod:`app.service.taskqueue`). ``admit`` is shown the
        architectures the cache does not hold before any is queued, and may refuse them by raising.
        """
        unique = list(dict.fromkeys(archs))
        futures = [self._cached(spec.cache_key, unique) for spec in specs]
        missing = [(k, a) for a in unique for k in range(len(specs)) if a not in futures[k]]
        device = self.workers[0].name
        if missing and admit is not None:
            admit(list(dict.fromkeys(a for _, a in missing)))
        if missing:
            worker = self._worker()
            device = worker.name
            with self._lock:
                new = self._claim(specs, missing, futures, owner, flow=owner if owner is not None else object())
                if new and not block:
                    self._offer(worker, new)
            if new and block:
                self._put_waiting(new, worker, abort)
        joined = {a: _merged([per_spec[a] for per_spec in futures]) for a in unique}
        return [joined[a] for a in archs], device

    def _cached(self, key: CacheKey, archs: list[str]) -> dict[str, Future[ScoredArch]]:
        """Resolved futures for the architectures the cache already holds."""
        hits = self.store.get_scores(key, archs)
        self.metrics.cache_hits.inc(len(hits))
        return {arch: _resolved(hit) for arch, hit in hits.items()}

    def _claim(
        self, specs: Sequence[ScoreSpec], missing: list[tuple[int, str]], futures: list[dict[str, Future[ScoredArch]]], owner: str | None,
        flow: object,
    ) -> list[Task]:
        """Under the lock: share work in flight, take late cache hits, and claim the rest as new tasks.

        ``missing`` holds (index into ``specs``, architecture) pairs; ``futures[index]`` receives each one's future.
        """
        late_hits = self._late_hits(specs, missing)
        new: list[Task] = []
        for k, arch in missing:
            key = specs[k].cache_key.of(arch)
            shared = self._inflight.get(key)
            if shared is not None:
                futures[k][arch] = shared
                self._owners[key].add(owner)
                self.metrics.deduplicated.inc()
            elif arch in late_hits[k]:
                futures[k][arch] = _resolved(late_hits[k][arch])
                self.metrics.cache_hits.inc()
            else:
                futures[k][arch] = self._inflight[key] = Future()
                self._owners[key] = {owner}
                new.append(Task(specs[k], arch, self._done, flow))
        return new

    def _late_hits(self, specs: Sequence[ScoreSpec], missing: list[tuple[int, str]]) -> list[dict[str, ScoredArch]]:
        """Under the lock: per spec, the cache hits that landed since the first look (work in flight aside)."""
        hits: list[dict[str, ScoredArch]] = []
        for i, spec in enumerate(specs):
            archs = [a for k, a in missing if k == i and spec.cache_key.of(a) not in self._inflight]
            hits.append(self.store.get_scores(spec.cache_key, archs) if archs else {})
        return hits

    def _offer(self, worker: DeviceWorker, new: list[Task]) -> None:
        """Under the lock: queue all of ``new`` on ``worker`` or release the claims and raise."""
        try:
            accepted = worker.offer(new, INTERACTIVE)
        except WorkerStopped:
            self._release(new)
            raise NoWorker(f"device worker {worker.name} is shutting down") from None
        if not accepted:
            self._release(new)
            self.metrics.rejected.labels("score").inc()
            raise QueueFull(worker.retry_after(len(self.workers)), len(new), worker.capacity)

    def _release(self, tasks: list[Task]) -> None:
        for task in tasks:
            self._forget(task.spec.cache_key.of(task.arch))

    def _forget(self, key: tuple) -> Future[ScoredArch] | None:
        """Under the lock: a task leaves the in-flight table; its future (``None`` when it had already left)."""
        self._owners.pop(key, None)
        return self._inflight.pop(key, None)

    def _put_waiting(self, new: list[Task], worker: DeviceWorker, abort: Callable[[], bool] | None) -> None:
        """Queue ``new`` one at a time, waiting for room; settle every unqueued future when that fails, so no waiter hangs."""
        for i, task in enumerate(new):
            try:
                self._worker().put(task, BACKGROUND, abort)
            except (WorkerStopped, NoWorker) as exc:
                for unqueued in new[i:]:
                    self._done(unqueued, exc, worker.name)
                return

    def score_all_blocking(
        self, specs: Sequence[ScoreSpec], archs: Sequence[str], abort: Callable[[], bool] | None = None,
        on_each: Callable[[], None] | None = None, owner: str | None = None,
    ) -> list[ScoredArch | BaseException]:
        """Each architecture's record with every spec's value, or the error that failed it (waiting for room and for results), in order.

        ``on_each`` is called as each architecture's record is complete. When ``abort()`` turns true while
        waiting, raises :class:`WorkerStopped`; work already queued still completes and lands in the cache.
        """
        futures, _device = self.submit_all(specs, archs, block=True, abort=abort, owner=owner)
        if on_each is not None:
            for future in futures:
                future.add_done_callback(lambda _f: on_each())
        pending = set(futures)
        while pending:
            _done, pending = wait_futures(pending, timeout=0.25)
            if pending and abort is not None and abort():
                raise WorkerStopped("aborted while waiting for scores")
        return [f.exception() or f.result() for f in futures]

    def _done(self, task: Task, outcome: ScoredArch | BaseException, device: str) -> None:
        """Worker callback: cache the task's value of the joint record, leave the in-flight table, wake the waiters."""
        key = task.spec.cache_key
        result = outcome if isinstance(outcome, BaseException) else self._cache(key, replace(outcome.only(task.spec.score), device=device))
        if isinstance(result, BaseException):
            self.metrics.score_errors.labels(error_kind(result)).inc()
        with self._lock:
            future = self._forget(key.of(task.arch))
        settle(future, result)

    def _cache(self, key: CacheKey, result: ScoredArch) -> ScoredArch | StoreError:
        """Write a computed score to the cache; the store's error instead when it cannot take it."""
        try:
            self.store.put_score(key, result)
        except StoreError as exc:
            log.warning("could not cache the score of %s: %s", result.arch, exc)
            return exc
        return result


def _merged(parts: list[Future[ScoredArch]]) -> Future[ScoredArch]:
    """A future for the merge of ``parts`` (one architecture's scores, in order), or the first part's error, once all are done."""
    if len(parts) == 1:
        return parts[0]
    merged: Future[ScoredArch] = Future()
    left = [len(parts)]
    lock = threading.Lock()

    def landed(_future: Future[ScoredArch]) -> None:
        with lock:
            left[0] -= 1
            if left[0]:
                return
        errors = [e for e in (p.exception() for p in parts) if e is not None]
        settle(merged, errors[0] if errors else ScoredArch.merge([p.result() for p in parts]))

    for part in parts:
        part.add_done_callback(landed)
    return merged


def _resolved(value: ScoredArch) -> Future[ScoredArch]:
    future: Future[ScoredArch] = Future()
    future.set_result(value)
    return future
