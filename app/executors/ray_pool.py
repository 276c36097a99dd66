"""Score architectures on a pool of Ray actors: one per GPU, or N CPU actors with one torch thread each.

Every actor keeps its :class:`scoring.Scorer` objects warm (each holds its minibatch on the actor's
device), keyed as the local device workers key theirs: space, data, batch size, seed, precision.
A batch is cut into chunks that go to the least loaded actors; results come back in input order.
An error fails only its architecture (an out-of-memory frees the actor's scorers first); an actor
that dies has the chunks it held retried once on another actor, so no item is lost or returned twice.
Ensemble reference samples are read from (and written to) the service's database when the actor's
host reaches it: PostgreSQL, or the SQLite file on the service's own host.
``ray`` is an optional dependency (``pip install '.[ray]'``), imported only when a pool starts.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from scoring import ArchScore, Scorer, describe_device, kernels, open_source
from searchspace import ArchitectureError, SearchSpace, get_space
from searchspace.spacefile import SpaceSource, load_space_text

from ..reference import StoredReference, reference_key
from ..store import Store, open_shared
from ..worker import is_out_of_memory

log = logging.getLogger("naswot.ray")

#: the error kind of an item whose actor died twice while holding it
ACTOR_DIED = "actor_died"


@dataclass(frozen=True)
class ScorerKey:
    """What determines a score apart from the architecture, in a form that travels to another process."""

    space: str
    data: str  # the source's spec, opened by the actor
    identity: str  # the digest the actor's copy of the data must have
    batch_size: int
    seed: int
    precision: str = "exact"
    scores: tuple[str, ...] = ("naswot",)  # the scores each result carries (names as scoring.list_scores)
    space_file: SpaceSource | None = None  # a space file's text, which the actor loads (its builder imported there)

    def search_space(self) -> SearchSpace:
        """The space, as the actor rebuilds it: from its file's text, else the installed space of that name."""
        return load_space_text(self.space_file) if self.space_file is not None else get_space(self.space)


@dataclass(frozen=True)
class ItemFailed:
    """One architecture that could not be scored; the others of its batch are unaffected."""

    arch: str
    kind: str  # "out_of_memory", "invalid" (the architecture's network cannot be built or run), "error" or ACTOR_DIED
    message: str


Outcome = ArchScore | ItemFailed


class DataMismatch(RuntimeError):
    """The actor's copy of a data source differs from the caller's (another file on another host)."""


def score_each(scorer: Any, archs: Sequence[str], on_error: Callable[[BaseException], None]) -> list[Outcome]:
    """Every architecture's outcome in order: an exception fails only the item it happened on."""
    outcomes: list[Outcome] = []
    rest = list(archs)
    while rest:
        try:
            for result in scorer.score_many(list(rest)):
                outcomes.append(result)
                rest.pop(0)
        except Exception as exc:  # noqa: BLE001 - any failure is reported for its one item
            on_error(exc)
            kind = "out_of_memory" if is_out_of_memory(exc) else "invalid" if isinstance(exc, ArchitectureError) else "error"
            outcomes.append(ItemFailed(rest.pop(0), kind, f"{type(exc).__name__}: {exc}"))
    return outcomes


class ScoringActor:
    """Runs inside a Ray actor: builds and keeps scorers on its device and scores chunks with them."""

    def __init__(
        self, device: str, threads: int | None, scorer_cache: int, data_dir: str | None, download: bool, store: str | None = None,
        gram_kernel: str = "auto",
    ):
        if threads:
            torch.set_num_threads(threads)
        kernels.configure(gram_kernel)
        self.device = torch.device(device)
        self.scorer_cache = scorer_cache
        self.data_dir = data_dir
        self.download = download
        self.store_location = store
        self._store: Store | None = None
        self._store_opened = False
        self._scorers: OrderedDict[ScorerKey, Scorer] = OrderedDict()

    def describe(self) -> dict[str, Any]:
        """Where this actor runs: host, process, device, torch threads."""
        import ray

        return {
            "node": ray.util.get_node_ip_address(),
            "pid": os.getpid(),
            "device": describe_device(self.device),
            "threads": torch.get_num_threads(),
            "gram_kernel": kernels.choice(self.device).to_json(),
        }

    def cpu_seconds(self) -> float:
        """CPU time this actor's process has used: against wall time, the share of a core it got."""
        return time.process_time()

    def score(self, key: ScorerKey, archs: list[str]) -> list[Outcome]:
        """Outcomes of ``archs`` in order; a scorer that cannot be built fails every item."""
        try:
            scorer = self._scorer(key)
        except Exception as exc:  # noqa: BLE001 - reported per item to the caller
            return [ItemFailed(a, "error", f"{type(exc).__name__}: {exc}") for a in archs]
        return score_each(scorer, archs, self._recover)

    def _scorer(self, key: ScorerKey) -> Scorer:
        if key in self._scorers:
            self._scorers.move_to_end(key)
            return self._scorers[key]
        source = open_source(key.data, self.data_dir, download=self.download)
        if source.identity != key.identity:
            raise DataMismatch(f"data source {key.data!r} here is {source.identity}, the caller's is {key.identity}")
        space = key.search_space()
        scorer = Scorer(
            space, source, batch_size=key.batch_size, seed=key.seed, device=self.device, precision=key.precision, scores=key.scores,
            **self._reference_options(key, space.identity),
        )
        self._scorers[key] = scorer
        while len(self._scorers) > self.scorer_cache:
            self._scorers.popitem(last=False)
        return scorer

    def _reference_options(self, key: ScorerKey, space: str) -> dict[str, Any]:
        """Scorer arguments that keep ensemble reference samples in the service's store (none when this host cannot reach it)."""
        if not self._store_opened and self.store_location is not None:
            self._store = open_shared(self.store_location)
            self._store_opened = True
        if self._store is None:
            return {}
        reference = StoredReference(self._store, reference_key(space, key.identity, key.batch_size, key.seed, key.precision))
        return reference.scorer_options()

    def _recover(self, exc: BaseException) -> None:
        """After an out-of-memory: drop the scorers (their minibatches hold device memory)."""
        log.warning("scoring on %s failed: %s: %s", self.device, type(exc).__name__, exc)
        if is_out_of_memory(exc):
            self._scorers.clear()
            gc.collect()
            if self.device.type == "cuda":
                torch.cuda.empty_cache()


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
        self._lock = threading.Lock()
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
            slot = self._least_loaded(chunk.avoid)
            if slot is None:
                continue
            waiting.remove(chunk)
            with self._lock:
                slot.inflight += 1
            ref = slot.handle.score.remote(key, [archs[i] for i in chunk.indices])
            running[ref] = (chunk, slot)

    def _least_loaded(self, avoid: str | None) -> ActorSlot | None:
        """The open actor with the fewest chunks; never ``avoid`` (where a chunk's actor died) unless it is the only one."""
        with self._lock:
            candidates = [s for s in self.slots if s.name != avoid] if len(self.slots) > 1 else self.slots
            return min((s for s in candidates if s.inflight < self.per_actor), key=lambda s: s.inflight, default=None)

    def _collect(self, archs: Sequence[str], waiting: deque[_Chunk], running: dict, land: Callable[[int, Outcome], None]) -> None:
        """Wait for one chunk; land its outcomes, or retry it once elsewhere when its actor died."""
        ray = _ray()
        ready, _ = ray.wait(list(running), num_returns=1)
        for ref in ready:
            chunk, slot = running.pop(ref)
            with self._lock:
                slot.inflight -= 1
            try:
                outcomes = ray.get(ref)
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as exc:
                self._actor_died(slot, chunk, archs, exc, waiting, land)
                continue
            for index, outcome in zip(chunk.indices, outcomes):
                self._count(slot, outcome)
                land(index, outcome)

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


def key_for(space: str, source: Any, batch_size: int, seed: int, precision: str = "exact", scores: tuple[str, ...] = ("naswot",)) -> ScorerKey:
    """The :class:`ScorerKey` of a loaded data source and settings."""
    return ScorerKey(space, source.spec, source.identity, batch_size, seed, precision, tuple(scores))
