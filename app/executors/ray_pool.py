"""Score architectures on a pool of Ray actors: one per GPU, or N CPU actors with one torch thread each.

Every actor keeps its :class:`scoring.Scorer` objects warm (each holds its minibatch on the actor's
device) in the :class:`~app.service.scorers.ScorerCache` the local device workers use, keyed by space, data, batch size,
seed, precision and scores.
A batch is cut into chunks that go to the least loaded actors; results come back in input order.
An error fails only its architecture (an out-of-memory frees the actor's scorers first); an actor
that dies has the chunks it held retried once on another actor, so no item is lost or returned twice.
:meth:`RayScorePool.withdraw` takes a cancelled search's chunks out of the actors' backlogs (and those not sent yet).
Ensemble reference samples are read from (and written to) the service's database when the actor's
host reaches it: PostgreSQL, or the SQLite file on the service's own host.
``ray`` is an optional dependency (``pip install '.[ray]'``), imported only when a pool starts.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from searchspace import ChoiceSpace, SearchSpace

from app.executors.ray_actor import ACTOR_DIED, WITHDRAWN, DataMismatch, ItemFailed, Outcome, ScorerKey, ScoringActor, chunk_outcomes

__all__ = [
    "ACTOR_DIED", "WITHDRAWN", "ActorSlot", "DataMismatch", "ItemFailed", "Outcome", "RayScorePool", "ScorerKey", "ScoringActor",
    "chunk_outcomes", "key_for",
]

log = logging.getLogger("naswot.ray")

@dataclass
class ActorSlot:
    """One actor as the pool sees it: its handle, where it runs, and what it has done."""

    name: str
    handle: Any
    info: dict[str, Any] = field(default_factory=dict)
    inflight: int = 0
    scored: int = 0
    failed: int = 0
    interrupted: int = 0  # chunks lost to the actor dying (each retried once elsewhere)

    def describe(self) -> dict[str, Any]:
        return {"actor": self.name, **self.info, "inflight": self.inflight, "scored": self.scored, "failed": self.failed, "interrupted": self.interrupted}


@dataclass
class _Chunk:
    indices: list[int]
    attempt: int = 0
    avoid: str | None = None  # the actor that died holding it


@dataclass(eq=False)
class _Unsent:
    """Stands for a withdrawn chunk that was never sent, among the running ones, so it is landed at the next collect."""

    chunk: _Chunk


class RayScorePool:
    """A fixed set of scoring actors on a Ray cluster (an existing one at ``address``, else a local one)."""

    def __init__(
        self,
        *,
        address: str | None = None,
        actors: int | None = None,
        use_gpus: bool | None = None,
        threads_per_actor: int = 1,
        chunk: int = 16,
        per_actor: int = 2,
        scorer_cache: int = 8,
        data_dir: str | None = None,
        download: bool = False,
        store: str | None = None,
        gram_kernel: str = "auto",
        init_options: dict[str, Any] | None = None,
    ):
        if chunk < 1 or per_actor < 1:
            raise ValueError("chunk and per_actor must be at least 1")
        self.address = address
        self.requested = actors
        self.use_gpus = use_gpus
        self.threads = threads_per_actor
        self.chunk = chunk
        self.per_actor = per_actor
        self.scorer_cache = scorer_cache
        self.data_dir = data_dir
        self.download = download
        self.store = store
        self.gram_kernel = gram_kernel
        self.init_options = init_options or {}
        self.slots: list[ActorSlot] = []
        self.retried = 0
        self.withdrawn = 0  # chunks taken out of a backlog (or never sent) because their search was cancelled
        self._lock = threading.Lock()
        self._backlog: dict[Any, list[str]] = {}  # chunk sent to an actor and not collected -> its architectures
        self._withdrawn: set[str] = set()  # architectures of the batch being scored that nobody waits for any more
        self._owns_ray = False

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Connect to (or start) Ray, create the actors and wait until each has answered."""
        ray = _ray()
        if not ray.is_initialized():
            ray.init(address=self.address, **self.init_options)
            self._owns_ray = True
        gpus = self._gpus(ray)
        count = self.requested or (gpus if gpus else max(int(ray.cluster_resources().get("CPU", 1)), 1))
        actor_class = ray.remote(ScoringActor).options(
            num_gpus=1 if gpus else 0, num_cpus=0 if gpus else 1, max_restarts=-1, max_task_retries=0
        )
        device = "cuda" if gpus else "cpu"
        handles = [actor_class.remote(device, self.threads, self.scorer_cache, self.data_dir, self.download, self.store, self.gram_kernel) for _ in range(count)]
        self.slots = [ActorSlot(f"ray-actor-{i}", h) for i, h in enumerate(handles)]
        for slot, info in zip(self.slots, ray.get([h.describe.remote() for h in handles])):
            slot.info = info
        log.info("%d Ray actor(s) on %s", count, device)

    def _gpus(self, ray: Any) -> int:
        available = int(ray.cluster_resources().get("GPU", 0))
        if self.use_gpus is None:
            return available
        if self.use_gpus and not available:
            raise RuntimeError("use_gpus is set but the Ray cluster has no GPU")
        return available if self.use_gpus else 0

    def stop(self) -> None:
        """Remove the actors (and the local Ray instance when this pool started it)."""
        ray = _ray()
        for slot in self.slots:
            ray.kill(slot.handle, no_restart=True)
        self.slots = []
        if self._owns_ray:
            ray.shutdown()
            self._owns_ray = False

    def describe(self) -> list[dict[str, Any]]:
        return [slot.describe() for slot in self.slots]

    def cpu_seconds(self) -> float:
        """CPU time used by all actors so far."""
        return sum(_ray().get([slot.handle.cpu_seconds.remote() for slot in self.slots]))

    # -- scoring -------------------------------------------------------------------------------

    def score(self, key: ScorerKey, archs: Sequence[str], on_result: Callable[[int, Outcome], None] | None = None) -> list[Outcome]:
        """Outcomes of ``archs`` in input order; ``on_result(index, outcome)`` is called once per item as it lands."""
        if not self.slots:
            raise RuntimeError("the Ray pool is not started")
        results: dict[int, Outcome] = {}
        with self._lock:
            self._withdrawn = set()

        def land(index: int, outcome: Outcome) -> None:
            results[index] = outcome
            if on_result is not None:
                on_result(index, outcome)

        waiting = deque(_Chunk(list(range(i, min(i + self.chunk, len(archs))))) for i in range(0, len(archs), self.chunk))
        running: dict[Any, tuple[_Chunk, ActorSlot]] = {}
        while waiting or running:
            self._dispatch(key, archs, waiting, running)
            self._collect(archs, waiting, running, land)
        return [results[i] for i in range(len(archs))]

    def _dispatch(self, key: ScorerKey, archs: Sequence[str], waiting: deque[_Chunk], running: dict) -> None:
        """Hand waiting chunks to the least loaded actors, up to ``per_actor`` chunks each."""
        for chunk in list(waiting):
            if self._drop_unsent(chunk, archs, waiting, running):
                continue
            slot = self._least_loaded(chunk.avoid)
            if slot is None:
                continue
            waiting.remove(chunk)
            with self._lock:
                slot.inflight += 1
            ref = slot.handle.score.remote(key, [archs[i] for i in chunk.indices])
            running[ref] = (chunk, slot)
            with self._lock:
                self._backlog[ref] = [archs[i] for i in chunk.indices]

    def _drop_unsent(self, chunk: _Chunk, archs: Sequence[str], waiting: deque[_Chunk], running: dict) -> bool:
        """A waiting chunk that was withdrawn entirely is not sent; its items land as withdrawn at the next collect."""
        with self._lock:
            if not {archs[i] for i in chunk.indices} <= self._withdrawn:
                return False
            self.withdrawn += 1
        waiting.remove(chunk)
        running[_Unsent(chunk)] = (chunk, None)
        return True

    def withdraw(self, archs: set[str]) -> int:
        """Cancel the chunks of the batch being scored whose architectures are all in ``archs`` and that no actor began:
        those in an actor's backlog (Ray drops a queued actor task; one running is never interrupted) and those not sent."""
        import ray

        with self._lock:
            self._withdrawn |= archs
            refs = [ref for ref, chunk in self._backlog.items() if set(chunk) <= archs]
        for ref in refs:
            ray.cancel(ref)
        return len(refs)

    def _least_loaded(self, avoid: str | None) -> ActorSlot | None:
        """The open actor with the fewest chunks; never ``avoid`` (where a chunk's actor died) unless it is the only one."""
        with self._lock:
            candidates = [s for s in self.slots if s.name != avoid] if len(self.slots) > 1 else self.slots
            return min((s for s in candidates if s.inflight < self.per_actor), key=lambda s: s.inflight, default=None)

    def _collect(self, archs: Sequence[str], waiting: deque[_Chunk], running: dict, land: Callable[[int, Outcome], None]) -> None:
        """Wait for one chunk; land its outcomes, or retry it once elsewhere when its actor died."""
        ray = _ray()
        unsent = [ref for ref in running if isinstance(ref, _Unsent)]
        ready = unsent or ray.wait(list(running), num_returns=1)[0]
        for ref in ready:
            chunk, slot = running.pop(ref)
            if slot is None:
                self._land_withdrawn(chunk, archs, land)
                continue
            with self._lock:
                slot.inflight -= 1
                self._backlog.pop(ref, None)
            try:
                outcomes = ray.get(ref)
            except ray.exceptions.TaskCancelledError:
                with self._lock:
                    self.withdrawn += 1
                self._land_withdrawn(chunk, archs, land)
                continue
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as exc:
                self._actor_died(slot, chunk, archs, exc, waiting, land)
                continue
            for index, outcome in zip(chunk.indices, outcomes):
                self._count(slot, outcome)
                land(index, outcome)

    @staticmethod
    def _land_withdrawn(chunk: _Chunk, archs: Sequence[str], land: Callable[[int, Outcome], None]) -> None:
        for index in chunk.indices:
            land(index, ItemFailed(archs[index], WITHDRAWN, "withdrawn before scoring: its search was cancelled"))

    def _actor_died(self, slot: ActorSlot, chunk: _Chunk, archs: Sequence[str], exc: BaseException, waiting: deque[_Chunk], land) -> None:
        with self._lock:
            slot.interrupted += 1
        if chunk.attempt == 0:
            log.warning("%s died holding %d architecture(s); retrying them on another actor", slot.name, len(chunk.indices))
            self.retried += len(chunk.indices)
            waiting.append(_Chunk(chunk.indices, attempt=1, avoid=slot.name))
            return
        for index in chunk.indices:
            land(index, ItemFailed(archs[index], ACTOR_DIED, f"the scoring actor died twice while holding it: {exc}"))

    def _count(self, slot: ActorSlot, outcome: Outcome) -> None:
        with self._lock:
            if isinstance(outcome, ItemFailed):
                slot.failed += 1
            else:
                slot.scored += 1


def _ray() -> Any:
    """The ``ray`` module, imported on first use; a clear error when the extra is not installed."""
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise RuntimeError("the Ray executor needs the ray extra: pip install 'naswot-service[ray]'") from exc
    return ray


def key_for(
    space: SearchSpace, source: Any, batch_size: int, seed: int, precision: str = "exact", scores: tuple[str, ...] = ("naswot",),
) -> ScorerKey:
    """The :class:`ScorerKey` of a space, a loaded data source and settings; a space file's space travels as its text."""
    space_file = space.spec.source if isinstance(space, ChoiceSpace) else None
    return ScorerKey(space.name, source.spec, source.identity, batch_size, seed, precision, tuple(scores), space_file, space.max_params)
