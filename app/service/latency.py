"""Measured latency in the service: looked up in memory, then in the store, else timed on a device worker.

A latency is timed by the device worker that scores (the first one alive, so every figure of a server
comes from one device while it lives), as a task in its queue like a score: the worker's scorer for a
:class:`LatencySpec` is a :class:`scoring.LatencyMeter` (:func:`with_latency` wraps the scorer factory;
a Ray actor builds its own).  Every figure is keyed by the identity of the device that measured it
(:class:`scoring.LatencyKey`; :meth:`DeviceWorker.latency_device`, the actors' common device with
``NASWOT_EXECUTOR=ray``), so a figure from one device is never served for another, and a figure that comes
back from another device than its key names (an actor restarted elsewhere) is refused, not kept.  The
thread count pinned by a local worker is this process's torch intra-op thread count when the service
starts; an actor times with its own.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch

from scoring import LATENCY, ScoredArch, DataSource, LatencyKey, LatencyMeter, latency_key
from searchspace import SearchSpace

from app.store import CacheKey, Store, StoreError
from app.service.scorers import ScoreSpec, ScorerFactory
from app.service.taskqueue import Task, WorkerStopped, settle
from app.service.worker import DeviceWorker

log = logging.getLogger("naswot.latency")

#: latencies kept in memory (least recently used dropped first)
MEMORY_SIZE = 100_000


class LatencyUnavailable(RuntimeError):
    """This server cannot measure latency now (no device worker is alive, or its Ray actors run on different devices)."""


@dataclass(frozen=True, eq=False)
class LatencySpec(ScoreSpec):
    """A latency measurement as a device worker's task: ``batch_size`` is the timed batch, ``device`` the identity it is keyed by."""

    score: str = LATENCY
    threads: int = 1
    device: str = ""

    @property
    def settings_key(self) -> tuple[Any, ...]:
        """Never shared with a score's tasks: a worker batches latency tasks only with each other."""
        return (LATENCY, self.space.identity, self.source.identity, self.batch_size, self.threads, self.device)

    @cached_property
    def cache_key(self) -> CacheKey:
        """A key no score is cached under (the dispatcher reads one for every queued task when it withdraws work)."""
        return CacheKey(self.space.identity, self.source.identity, self.batch_size, 0, f"{LATENCY}@{self.device}", "exact")

    def key(self, arch: str) -> LatencyKey:
        return latency_key(self.space, self.source, arch, self.device, self.batch_size)


def with_latency(factory: ScorerFactory) -> ScorerFactory:
    """``factory``, except that a :class:`LatencySpec` gets a :class:`scoring.LatencyMeter` on the worker's device."""

    def make(spec: ScoreSpec, device: torch.device) -> Any:
        if isinstance(spec, LatencySpec):
            return LatencyMeter(spec.space, spec.source, device, batch=spec.batch_size, threads=spec.threads)
        return factory(spec, device)

    return make


class LatencyService:
    """Latencies of architectures on this server's scoring device: memory, store, else measured there (each key once at a time)."""

    def __init__(self, store: Store, workers: Sequence[DeviceWorker], *, threads: int | None = None, memory: int = MEMORY_SIZE):
        self.store = store
        self.workers = list(workers)
        self.threads = threads or torch.get_num_threads()
        self._memory: OrderedDict[LatencyKey, float] = OrderedDict()
        self._memory_size = memory
        self._inflight: dict[LatencyKey, Future[float]] = {}
        self._lock = threading.Lock()

    def worker(self) -> DeviceWorker:
        """The worker that measures: the first alive; :class:`LatencyUnavailable` when there is none."""
        for worker in self.workers:
            if worker.alive:
                return worker
        raise LatencyUnavailable("no device worker is alive to measure latency on")

    def device(self) -> tuple[DeviceWorker, str]:
        """The worker that measures and the identity of its device; :class:`LatencyUnavailable` when there is none."""
        worker = self.worker()
        return worker, worker.latency_device(self.threads)

    def measure(
        self, space: SearchSpace, source: DataSource, archs: Sequence[str], batch: int, *,
        priority: int, abort: Callable[[], bool] | None = None,
    ) -> list[float]:
        """Milliseconds per forward pass of each of ``archs`` (canonical) with a batch of ``batch``, in order."""
        worker, device = self.device()
        spec = LatencySpec(space, source, batch, 0, threads=self.threads, device=device)
        keys = {arch: spec.key(arch) for arch in dict.fromkeys(archs)}
        futures = {arch: self._known(key) for arch, key in keys.items()}
        self._queue(worker, self._claim(spec, keys, futures), priority, abort)
        return self._wait(futures, archs, abort)

    def _queue(self, worker: DeviceWorker, tasks: list[Task], priority: int, abort: Callable[[], bool] | None) -> None:
        """Queue ``tasks`` all at once when there is room (so the worker times them as one interleaved batch), else one
        by one as room frees; a shutdown or an abort fails the tasks not queued."""
        queued = 0
        try:
            if tasks and worker.offer(tasks, priority):
                return
            for queued, task in enumerate(tasks):
                worker.put(task, priority, abort)
        except WorkerStopped as exc:
            for unqueued in tasks[queued:]:
                self._settle(unqueued.spec.key(unqueued.arch), exc)
            raise

    def _known(self, key: LatencyKey) -> Future[float] | None:
        """A resolved future for a figure in memory or in the store, else ``None``."""
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return _resolved(self._memory[key])
        stored = self.store.get_latency(key)
        if stored is None:
            return None
        self._remember(key, stored)
        return _resolved(stored)

    def _claim(self, spec: LatencySpec, keys: dict[str, LatencyKey], futures: dict[str, Future[float] | None]) -> list[Task]:
        """Share measurements in flight; claim the rest as new tasks (their futures go into ``futures``)."""
        new: list[Task] = []
        flow = object()  # this call shares the device round-robin with the others (see app.service.taskqueue)
        with self._lock:
            for arch, key in keys.items():
                if futures[arch] is not None:
                    continue
                if key in self._inflight:
                    futures[arch] = self._inflight[key]
                else:
                    futures[arch] = self._inflight[key] = Future()
                    new.append(Task(spec, arch, self._done, flow))
        return new

    def _wait(self, futures: dict[str, Future[float] | None], archs: Sequence[str], abort: Callable[[], bool] | None) -> list[float]:
        pending = {f for f in futures.values() if f is not None}
        while pending:
            _done, pending = wait_futures(pending, timeout=0.25)
            if pending and abort is not None and abort():
                raise WorkerStopped("aborted while waiting for latency measurements")
        return [futures[arch].result() for arch in archs]  # type: ignore[union-attr]

    def _done(self, task: Task, outcome: ScoredArch | BaseException, device: str) -> None:
        """Worker callback: keep the figure (memory, then store) and wake the waiters."""
        key = task.spec.key(task.arch)  # type: ignore[attr-defined]
        if isinstance(outcome, BaseException):
            self._settle(key, outcome)
            return
        if outcome.device != key.device:
            self._settle(key, LatencyUnavailable(f"{task.arch} was timed on {outcome.device!r}, not on {key.device!r}; the figure is not kept"))
            return
        ms = outcome.latency_ms
        assert ms is not None, "a latency task's record carries its latency_ms cost"
        self._remember(key, ms)
        try:
            self.store.put_latency(key, ms)
        except StoreError as exc:
            log.warning("could not store the latency of %s: %s", task.arch, exc)
        self._settle(key, ms)

    def _settle(self, key: LatencyKey, outcome: float | BaseException) -> None:
        with self._lock:
            future = self._inflight.pop(key, None)
        settle(future, outcome)

    def _remember(self, key: LatencyKey, value: float) -> None:
        with self._lock:
            self._memory[key] = value
            self._memory.move_to_end(key)
            while len(self._memory) > self._memory_size:
                self._memory.popitem(last=False)


def _resolved(value: float) -> Future[float]:
    future: Future[float] = Future()
    future.set_result(value)
    return future
