"""The service's score queue in front of a Ray actor pool (``NASWOT_EXECUTOR=ray``).

:class:`RayWorker` is a :class:`~app.service.worker.DeviceWorker` whose batches go to the actors of a
:class:`~app.executors.ray_pool.RayScorePool` instead of a local device: the same bounded queue,
priorities, all-or-nothing admission (429 with Retry-After) and batching; an item that ran out of
memory, or whose actor died twice, fails alone. Each batch holds enough work for every actor.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import torch

from scoring import ScoredArch
from searchspace import ArchitectureError

from app.service.latency import LatencyUnavailable
from app.service.scorers import ScoreSpec
from app.service.taskqueue import JointGroup, Task, WorkerStopped
from app.service.worker import DeviceWorker
from app.executors.ray_pool import ACTOR_DIED, WITHDRAWN, ItemFailed, Outcome, RayScorePool, ScorerKey, key_for

log = logging.getLogger("naswot.ray")


class ActorLost(RuntimeError):
    """The actor scoring an architecture died, and so did the one it was retried on."""


def scorer_key(spec: ScoreSpec) -> ScorerKey:
    """A score spec in the form an actor can rebuild it from."""
    return key_for(spec.space, spec.source, spec.batch_size, spec.seed, spec.precision, spec.scores)


def as_result(outcome: Outcome) -> ScoredArch | BaseException:
    """An actor's outcome as a device worker delivers it: the score, or the exception that failed the item."""
    if not isinstance(outcome, ItemFailed):
        return outcome
    if outcome.kind == "out_of_memory":
        return torch.cuda.OutOfMemoryError(f"out of memory on a Ray actor: {outcome.message}")
    if outcome.kind == ACTOR_DIED:
        return ActorLost(outcome.message)
    if outcome.kind == "invalid":
        return ArchitectureError(outcome.message)
    if outcome.kind == WITHDRAWN:
        return WorkerStopped(outcome.message)
    return RuntimeError(outcome.message)


class RayWorker(DeviceWorker):
    """One score queue whose batches are scored by every actor of ``pool`` at once."""

    def __init__(self, pool: RayScorePool, *, capacity: int, batch: int, on_scored: Any = None):
        super().__init__(torch.device("cpu"), capacity=capacity, batch=batch, on_scored=on_scored)
        self.pool = pool
        self.name = "ray"
        self.per_actor_batch = batch

    def _open_device(self) -> bool:
        """Connect to Ray and start the actors; False (and refuse work) when that fails."""
        try:
            self.pool.start()
        except Exception as exc:  # noqa: BLE001 - any failure makes the executor unusable; say why
            self.error = f"Ray executor unavailable: {type(exc).__name__}: {exc}"
            log.error("%s", self.error)
            self._close(self.error)
            return False
        self.batch = self.per_actor_batch * len(self.pool.slots) * self.pool.per_actor
        self.ready = True
        return True

    def _score_group(self, group: JointGroup) -> None:
        """Score a group on the actors, each architecture once for all its scores; each is delivered as it lands."""
        actors = max(len(self.pool.slots), 1)
        archs = group.archs

        def land(index: int, outcome: Outcome) -> None:
            if isinstance(outcome, ScoredArch):
                self._scored(outcome.seconds, concurrency=actors)
            self._deliver_arch(group, archs[index], as_result(outcome))

        self.pool.score(scorer_key(group.spec), archs, on_result=land)

    def withdraw(self, drop: Callable[[Task], bool]) -> list[Task]:
        """The queued tasks ``drop`` picks, as a device worker withdraws them; and from the batch on the actors, the
        architectures whose every task is dropped leave the actors' backlogs (delivered as stopped when they land)."""
        taken = super().withdraw(drop)
        current = list(self._current)
        kept = {t.arch for t in current if not drop(t)}
        dropped = {t.arch for t in current if drop(t)} - kept
        if dropped:
            self.pool.withdraw(dropped)
        return taken

    def stop(self, timeout: float = 120.0) -> None:
        super().stop(timeout)
        self.pool.stop()

    def latency_device(self, threads: int) -> str:
        """The one device identity the actors time latency on (their own torch threads, not ``threads``);
        :class:`LatencyUnavailable` before they have started, or when they run on different devices."""
        devices = sorted({actor.get("latency_device") for actor in self.actors()} - {None})
        if not devices:
            raise LatencyUnavailable("the Ray actors have not started, so there is no device to time latency on")
        if len(devices) > 1:
            raise LatencyUnavailable(f"the Ray actors run on different devices ({'; '.join(devices)}), and a latency figure must name one")
        return devices[0]

    def actors(self) -> list[dict[str, Any]]:
        """Each actor: where it runs, its work in flight, items scored and failed, chunks lost to its death."""
        return self.pool.describe()


class ActorMetrics:
    """Prometheus collector of a Ray worker's actors: work in flight, items scored and failed, chunks lost to a death."""

    def __init__(self, worker: RayWorker):
        self.worker = worker

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        labels = ["actor", "node", "device"]
        families = {
            "inflight": GaugeMetricFamily("naswot_ray_actor_inflight", "chunks a Ray actor holds", labels=labels),
            "scored": CounterMetricFamily("naswot_ray_actor_scored", "architectures a Ray actor scored", labels=labels),
            "failed": CounterMetricFamily("naswot_ray_actor_failed", "architectures that failed on a Ray actor", labels=labels),
            "interrupted": CounterMetricFamily("naswot_ray_actor_interrupted", "chunks lost to a Ray actor's death (retried once elsewhere)", labels=labels),
        }
        for actor in self.worker.actors():
            values = [actor["actor"], str(actor.get("node", "")), str(actor.get("device", ""))]
            for field, family in families.items():
                family.add_metric(values, actor[field])
        yield from families.values()
