"""One worker thread per device: it alone touches the device, taking architectures from a bounded queue.

Interactive score requests go ahead of search jobs (lower priority number first, then first come,
first served). A request either fits in the queue whole or is refused (the caller answers 429);
a search job waits for room instead. Consecutive tasks for the same scorer are handed to one
``score_many`` call, so a batched scorer can work on several networks at once.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Protocol

import torch

from scoring import ArchScore, DataSource, Scorer, describe_device, kernels
from searchspace import SearchSpace

from .reference import StoredReference, reference_key
from .store import CacheKey, ReferenceKey, Store

log = logging.getLogger("naswot.worker")

#: queue priorities: interactive requests before search jobs
INTERACTIVE, BACKGROUND = 0, 1


class ScorerLike(Protocol):
    def score_many(self, archs: Iterable[str]) -> Iterator[ArchScore]: ...


@dataclass(frozen=True, eq=False)
class ScoreSpec:
    """What determines a score apart from the architecture (and the device that computes it)."""

    space: SearchSpace
    source: DataSource
    batch_size: int
    seed: int
    precision: str = "exact"
    #: the canonical name of the score (see scoring.list_scores; ensembles as ``ensemble`` or ``ensemble:a+b``)
    score: str = "naswot"
    #: further scores a scorer built from this spec computes in the same passes (a joint batch; never cached under ``score``)
    also: tuple[str, ...] = ()

    @property
    def scores(self) -> tuple[str, ...]:
        """Every score a scorer for this spec computes, ``score`` first."""
        return (self.score, *self.also)

    @property
    def settings_key(self) -> tuple[str, str, str, int, int, str]:
        """What a scorer shares apart from its score names: tasks alike in this may be scored jointly."""
        return (self.space.identity, self.source.spec, self.source.identity, self.batch_size, self.seed, self.precision)

    @property
    def scorer_key(self) -> tuple[Any, ...]:
        return (*self.settings_key, self.scores)

    def joint(self, scores: Sequence[str]) -> ScoreSpec:
        """The same settings with ``scores`` (first as ``score``, the rest ``also``), for one scorer of several scores."""
        return replace(self, score=scores[0], also=tuple(scores[1:]))

    @cached_property
    def cache_key(self) -> CacheKey:
        """Where ``score``'s values are cached (built once per spec: the dispatcher reads it for every architecture)."""
        return CacheKey.for_score(self.space.identity, self.source.identity, self.batch_size, self.seed, self.score, self.precision)

    @property
    def reference_key(self) -> ReferenceKey:
        """Where the ensemble reference sample of this spec's scorers is stored."""
        return reference_key(self.space.identity, self.source.identity, self.batch_size, self.seed, self.precision)

    @property
    def num_classes(self) -> int:
        return max(self.source.num_classes, 1)


@dataclass
class JointGroup:
    """The tasks of a batch that one scorer serves in one pass per architecture: the same score names for each."""

    spec: ScoreSpec
    tasks: dict[str, list[Task]]  # architecture -> its tasks, one per score name

    @property
    def archs(self) -> list[str]:
        return list(self.tasks)


def joint_groups(batch: Sequence[Task]) -> list[JointGroup]:
    """``batch`` (tasks of one settings key) grouped by architecture, then by the score names each asks for."""
    per_arch: dict[str, list[Task]] = {}
    for task in batch:
        per_arch.setdefault(task.arch, []).append(task)
    groups: dict[tuple[str, ...], JointGroup] = {}
    for arch, tasks in per_arch.items():
        names = tuple(dict.fromkeys(t.spec.score for t in tasks))
        groups.setdefault(names, JointGroup(tasks[0].spec.joint(names), {})).tasks[arch] = tasks
    return list(groups.values())


def for_score(result: ArchScore, name: str, shares: int = 1) -> ArchScore:
    """A joint result as the task for score ``name`` receives it: that score's value as ``score``, and an equal
    share of the device time among the ``shares`` scores computed together (so shares add up to the whole)."""
    value = result.values[name] if result.values else result.score  # a scorer of one score may leave ``values`` empty
    return replace(result, score=value, values={name: value}, seconds=result.seconds / shares)


#: (spec, device) -> a scorer for that spec on that device; the default is :class:`scoring.Scorer`
ScorerFactory = Callable[[ScoreSpec, torch.device], ScorerLike]


def default_scorer_factory(spec: ScoreSpec, device: torch.device, **options: Any) -> ScorerLike:
    """A :class:`scoring.Scorer` for ``spec`` on ``device`` (``options``: further Scorer arguments)."""
    return Scorer(
        spec.space, spec.source, batch_size=spec.batch_size, seed=spec.seed, device=device, precision=spec.precision, scores=spec.scores,
        **options,
    )


def stored_scorer_factory(store: Store) -> ScorerFactory:
    """Scorers that read each ensemble reference sample from ``store`` (computing and storing it only when absent)."""

    def factory(spec: ScoreSpec, device: torch.device) -> ScorerLike:
        reference = StoredReference(store, spec.reference_key)
        return default_scorer_factory(spec, device, **reference.scorer_options())

    return factory


@dataclass(eq=False)
class Task:
    """One architecture to score; ``done`` receives the :class:`ArchScore` or the exception."""

    spec: ScoreSpec
    arch: str
    done: Callable[[Task, ArchScore | BaseException, str], None]


@dataclass(order=True)
class _Entry:
    priority: int
    seq: int
    task: Task = field(compare=False)


class WorkerStopped(RuntimeError):
    """The worker shut down before the task ran."""


def _unit(task: Task) -> tuple:
    """What the queue's capacity counts: an architecture with its settings (its several scores are one unit)."""
    return (*task.spec.settings_key, task.arch)


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA (or CPU allocator) out-of-memory, however torch reported it."""
    return isinstance(exc, torch.cuda.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
    )


class DeviceWorker:
    """Owns ``device``: builds scorers and scores architectures on it, one batch at a time."""

    def __init__(
        self,
        device: torch.device,
        *,
        capacity: int,
        batch: int = 16,
        scorer_cache: int = 8,
        factory: ScorerFactory = default_scorer_factory,
        on_scored: Callable[[str, float], None] | None = None,
    ):
        self.device = device
        self.name = describe_device(device)
        self.capacity = capacity
        self.batch = batch
        self.factory = factory
        self.on_scored = on_scored
        self._scorers: OrderedDict[tuple, ScorerLike] = OrderedDict()
        self._scorer_cache = scorer_cache
        self._heap: list[_Entry] = []
        self._waiting: Counter[tuple] = Counter()  # architecture (with its settings) -> its queued tasks, one per score
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"naswot-worker-{device}", daemon=True)
        self.busy = 0  # architectures in the batch being scored
        self.ready = False
        self.error: str | None = None
        self.mean_seconds = 1.0  # running estimate of one architecture's scoring time
        self.death: str | None = None  # why the thread last died unexpectedly
        self.restarts = 0
        self._started = False
        self._current: list[Task] = []  # the batch being scored

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._started = True
        self._thread.start()

    def stop(self, timeout: float = 120.0) -> None:
        """Refuse new work, fail what is still queued, and wait for the architecture being scored."""
        self._close("the service is shutting down")
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _close(self, reason: str) -> None:
        with self._cond:
            self._stopping = True
            pending, self._heap = self._heap, []
            self._waiting.clear()
            self._cond.notify_all()
        for entry in pending:
            self._deliver(entry.task, WorkerStopped(reason))

    @property
    def alive(self) -> bool:
        """Taking work: not stopping and not unusable (a dead thread's queue waits for its restart)."""
        return not self._stopping and self.error is None and (self._thread.is_alive() or self.dead)

    # -- queue -------------------------------------------------------------------------------

    @property
    def depth(self) -> int:
        """Architectures waiting (not counting the batch being scored); several scores of one count once."""
        return len(self._waiting)

    @property
    def load(self) -> int:
        return len(self._waiting) + self.busy

    def _push(self, task: Task, priority: int) -> None:
        heapq.heappush(self._heap, _Entry(priority, next(self._seq), task))
        self._waiting[_unit(task)] += 1

    def _pop(self) -> Task:
        task = heapq.heappop(self._heap).task
        unit = _unit(task)
        self._waiting[unit] -= 1
        if not self._waiting[unit]:
            del self._waiting[unit]
        return task

    def offer(self, tasks: Sequence[Task], priority: int = INTERACTIVE) -> bool:
        """Queue all of ``tasks`` or none of them; False when the queue lacks room for their architectures."""
        with self._cond:
            if self._stopping:
                raise WorkerStopped("the service is shutting down")
            if len(self._waiting) + len({_unit(t) for t in tasks} - self._waiting.keys()) > self.capacity:
                return False
            for task in tasks:
                self._push(task, priority)
            self._cond.notify_all()
            return True

    def put(self, task: Task, priority: int = BACKGROUND, abort: Callable[[], bool] | None = None) -> None:
        """Queue ``task``, waiting for room; raises :class:`WorkerStopped` on shutdown or when ``abort()`` says so."""
        with self._cond:
            while not self._stopping and len(self._waiting) >= self.capacity and _unit(task) not in self._waiting:
                if abort is not None and abort():
                    raise WorkerStopped("aborted while waiting for queue room")
                self._cond.wait(0.5)
            if self._stopping:
                raise WorkerStopped("the service is shutting down")
            self._push(task, priority)
            self._cond.notify_all()

    def withdraw(self, drop: Callable[[Task], bool]) -> list[Task]:
        """Take the queued tasks ``drop`` picks (a cancelled search's) out of the queue; they are returned undelivered."""
        with self._cond:
            taken = [e.task for e in self._heap if drop(e.task)]
            if taken:
                self._heap = [e for e in self._heap if not drop(e.task)]
                heapq.heapify(self._heap)
                self._waiting = Counter(_unit(e.task) for e in self._heap)
                self._cond.notify_all()  # room for waiting producers
        return taken

    def retry_after(self, workers: int = 1) -> int:
        """Seconds a refused client should wait: the queue's expected drain time, 1..60."""
        estimate = (self.load * self.mean_seconds) / max(workers, 1)
        return int(min(60, max(1, round(estimate))))

    # -- the thread --------------------------------------------------------------------------

    def _take(self) -> list[Task] | None:
        """The next batch: the first task and the ones right behind it that share its settings (score names may differ)."""
        with self._cond:
            while not self._heap and not self._stopping:
                self._cond.wait()
            if self._stopping:
                return None
            batch = [self._pop()]
            while self._heap and self._fits(batch, self._heap[0].task):
                batch.append(self._pop())
            self.busy = len({t.arch for t in batch})
            self._cond.notify_all()  # room for waiting producers
            return batch

    def _fits(self, batch: list[Task], task: Task) -> bool:
        """``task`` may join ``batch``: same settings, and room left, or the same architecture as the last task
        (an architecture's scores are not split across batches, so they share their passes)."""
        if task.spec.settings_key != batch[0].spec.settings_key:
            return False
        return len(batch) < self.batch or task.arch == batch[-1].arch

    def _run(self) -> None:
        if not self._open_device():
            return
        try:
            while (batch := self._take()) is not None:
                self._current = batch
                self._execute(batch)
                self._current = []
                self.busy = 0
        except BaseException as exc:  # noqa: BLE001 - a dead thread must say why; the supervisor restarts it
            self._died(exc)

    def _open_device(self) -> bool:
        """Create the device context now, not on the first request; False (and refuse work) when the device is unusable."""
        try:
            if self.device.type == "cuda":
                torch.cuda.set_device(self.device)
                torch.zeros(1, device=self.device)
            kernels.choice(self.device)  # measured (and logged) now, not in the first request
            self.ready = True
            return True
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            log.error("device %s unusable: %s", self.device, self.error)
            self._close(f"device {self.name} is unusable: {self.error}")
            return False

    def _died(self, exc: BaseException) -> None:
        """The thread is ending on an unexpected error: record it and fail the batch it held."""
        self.death = f"worker thread died: {type(exc).__name__}: {exc}"
        log.error("device %s: %s", self.name, self.death, exc_info=exc)
        for task in self._current:
            self._deliver(task, WorkerStopped(f"device {self.name}: {self.death}"))
        self._current = []
        self.busy = 0

    @property
    def dead(self) -> bool:
        """The thread ended without being asked to (the supervisor restarts it)."""
        return self._started and not self._thread.is_alive() and not self._stopping and self.error is None

    def restart(self) -> None:
        """A new thread for a dead worker; the queue is kept."""
        log.warning("device %s: restarting its worker thread after: %s", self.name, self.death)
        self.restarts += 1
        self._thread = threading.Thread(target=self._run, name=f"naswot-worker-{self.device}", daemon=True)
        self._thread.start()

    def _deliver(self, task: Task, outcome: ArchScore | BaseException) -> None:
        """Hand a task its outcome; an error in the callback is logged, never fatal to the worker."""
        try:
            task.done(task, outcome, self.name)
        except Exception:
            log.exception("device %s: delivering the result of %s failed", self.name, task.arch)

    def _scorer(self, spec: ScoreSpec) -> ScorerLike:
        key = spec.scorer_key
        if key in self._scorers:
            self._scorers.move_to_end(key)
            return self._scorers[key]
        scorer = self.factory(spec, self.device)
        self._scorers[key] = scorer
        while len(self._scorers) > self._scorer_cache:
            self._scorers.popitem(last=False)
        return scorer

    def _execute(self, batch: list[Task]) -> None:
        """Score a batch, each architecture once for all the scores asked of it (shared passes)."""
        for group in joint_groups(batch):
            if self._stopping:  # shutting down: the groups not begun go back too
                self._give_back(group, group.archs)
            else:
                self._score_group(group)

    def _deliver_arch(self, group: JointGroup, arch: str, outcome: ArchScore | BaseException) -> None:
        """Hand each task of ``arch`` its score's share of a joint result (or the error)."""
        tasks = group.tasks[arch]
        for task in tasks:
            self._deliver(task, outcome if isinstance(outcome, BaseException) else for_score(outcome, task.spec.score, len(tasks)))

    def _score_group(self, group: JointGroup) -> None:
        """Score a group; an error fails only the architecture it happened on (then the rest go one by one)."""
        try:
            scorer = self._scorer(group.spec)
        except Exception as exc:
            self._recover(exc)
            for arch in group.archs:
                self._deliver_arch(group, arch, exc)
            return
        remaining = group.archs
        try:
            for result in self._timed(scorer, list(remaining)):
                self._deliver_arch(group, remaining.pop(0), result)
                if self._stopping:  # shutting down: give the rest back instead of finishing the batch
                    self._give_back(group, remaining)
                    return
        except Exception as exc:
            self._recover(exc)
            if remaining:
                self._deliver_arch(group, remaining.pop(0), exc)
            self._one_by_one(scorer, group, remaining)

    def _give_back(self, group: JointGroup, archs: list[str]) -> None:
        for arch in archs:
            self._deliver_arch(group, arch, WorkerStopped("the service is shutting down"))

    def _one_by_one(self, scorer: ScorerLike, group: JointGroup, archs: list[str]) -> None:
        """After a failure in a batch: score the rest singly, so one bad architecture fails alone."""
        for arch in archs:
            try:
                result: ArchScore | BaseException = next(self._timed(scorer, [arch]))
            except Exception as single:
                self._recover(single)
                result = single
            self._deliver_arch(group, arch, result)

    def _timed(self, scorer: ScorerLike, archs: list[str]) -> Iterator[ArchScore]:
        start = time.perf_counter()
        for result in scorer.score_many(archs):
            elapsed = time.perf_counter() - start
            self.mean_seconds = 0.8 * self.mean_seconds + 0.2 * elapsed
            if self.on_scored is not None:
                self.on_scored(self.name, elapsed)
            yield result
            start = time.perf_counter()

    def _recover(self, exc: BaseException) -> None:
        """After a failure: release cached device memory so the next request has it."""
        log.warning("scoring on %s failed: %s: %s", self.name, type(exc).__name__, exc)
        if is_out_of_memory(exc):
            self._scorers.clear()  # their minibatches hold device memory
            gc.collect()
            if self.device.type == "cuda":
                torch.cuda.empty_cache()


def resolve_devices(text: str) -> list[torch.device]:
    """``auto`` -> every CUDA device (else the CPU); otherwise a comma-separated list of devices."""
    from scoring import resolve_device

    names = [t.strip() for t in text.split(",") if t.strip()]
    if names == ["auto"]:
        if torch.cuda.is_available():
            return [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
        return [torch.device("cpu")]
    devices = [resolve_device(n) for n in names]
    if not devices:
        raise ValueError("no device named")
    if len(set(map(str, devices))) != len(devices):
        raise ValueError(f"device listed twice in {text!r}")
    return devices


def describe_devices(workers: Iterable[DeviceWorker]) -> list[dict[str, Any]]:
    return [
        {"device": w.name, "ready": w.ready and not w.dead, "error": w.error or (w.death if w.dead else None),
         "queue_depth": w.depth, "busy": w.busy, "restarts": w.restarts, "gram_kernel": _kernel_of(w.device)}
        for w in workers
    ]


def _kernel_of(device: torch.device) -> dict[str, Any] | None:
    """The code-product kernel chosen for ``device`` (None until its worker has started)."""
    made = kernels.cached(device)
    return None if made is None else made.to_json()
