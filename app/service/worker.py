"""One worker thread per device: it alone touches the device, scoring the batches it takes from its queue.

A :class:`DeviceWorker` composes three parts: a :class:`~app.service.taskqueue.TaskQueue` (bounded, prioritised,
all-or-nothing admission, withdrawal), a :class:`~app.service.scorers.ScorerCache` (warm scorers and the recovery
after an out-of-memory) and the thread below, which takes a batch, scores each architecture once for all
the scores asked of it (:func:`~app.service.scorers.score_each`: a failure fails only its item) and hands every
task its outcome. Consecutive tasks with the same settings are handed to one ``score_many`` call, so a
batched scorer can work on several networks at once. Another executor (``executors/ray_worker.py``)
subclasses it and replaces where a batch is scored.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch

from scoring import ScoredArch, describe_device, device_identity, kernels

from app.service.scorers import ScorerCache, ScorerFactory, ScoreSpec, default_scorer_factory, score_each
from app.service.taskqueue import BACKGROUND, INTERACTIVE, JointGroup, Task, TaskQueue, WorkerStopped, joint_groups

log = logging.getLogger("naswot.worker")


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
        self.batch = batch
        self.on_scored = on_scored
        self.queue = TaskQueue(capacity)
        self.scorers: ScorerCache[ScoreSpec] = ScorerCache(
            device, lambda spec: factory(spec, device), scorer_cache, key=lambda spec: spec.scorer_key
        )
        self._thread = self._new_thread()
        self.ready = False
        self.error: str | None = None
        self.mean_seconds = 1.0  # running estimate of one architecture's scoring time
        self.death: str | None = None  # why the thread last died unexpectedly
        self.restarts = 0
        self._started = False
        self._current: list[Task] = []  # the batch being scored
        self._withdrawn: set[int] = set()  # ids of the batch's tasks withdrawn while it is scored
        self._withdrawn_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------

    def _new_thread(self) -> threading.Thread:
        return threading.Thread(target=self._run, name=f"naswot-worker-{self.device}", daemon=True)

    def start(self) -> None:
        self._started = True
        self._thread.start()

    def stop(self, timeout: float = 120.0) -> None:
        """Refuse new work, fail what is still queued, and wait for the architecture being scored."""
        self._close("the service is shutting down")
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _close(self, reason: str) -> None:
        for task in self.queue.close():
            self._deliver(task, WorkerStopped(reason))

    @property
    def _stopping(self) -> bool:
        return self.queue.closed

    @property
    def alive(self) -> bool:
        """Taking work: not stopping and not unusable (a dead thread's queue waits for its restart)."""
        return not self._stopping and self.error is None and (self._thread.is_alive() or self.dead)

    @property
    def dead(self) -> bool:
        """The thread ended without being asked to (the supervisor restarts it)."""
        return self._started and not self._thread.is_alive() and not self._stopping and self.error is None

    def restart(self) -> None:
        """A new thread for a dead worker; the queue is kept."""
        log.warning("device %s: restarting its worker thread after: %s", self.name, self.death)
        self.restarts += 1
        self._thread = self._new_thread()
        self._thread.start()

    def latency_device(self, threads: int) -> str:
        """The identity of the device this worker times latency on, with ``threads`` torch threads pinned."""
        return device_identity(self.device, threads)

    # -- queue -------------------------------------------------------------------------------

    @property
    def capacity(self) -> int:
        return self.queue.capacity

    @property
    def depth(self) -> int:
        """Architectures waiting (not counting the batch being scored); several scores of one count once."""
        return self.queue.depth

    @property
    def busy(self) -> int:
        """Architectures in the batch being scored."""
        return self.queue.busy

    @property
    def load(self) -> int:
        return self.queue.load

    def offer(self, tasks: Sequence[Task], priority: int = INTERACTIVE) -> bool:
        """Queue all of ``tasks`` or none of them; False when the queue lacks room for their architectures."""
        return self.queue.offer(tasks, priority)

    def put(self, task: Task, priority: int = BACKGROUND, abort: Callable[[], bool] | None = None) -> None:
        """Queue ``task``, waiting for room; raises :class:`WorkerStopped` on shutdown or when ``abort()`` says so."""
        self.queue.put(task, priority, abort)

    def withdraw(self, drop: Callable[[Task], bool]) -> list[Task]:
        """Take the tasks ``drop`` picks (a cancelled search's) out of the queue, and out of the batch being scored, which
        skips them from its next item on; they are returned undelivered."""
        taken = self.queue.withdraw(drop)
        with self._withdrawn_lock:
            current = [t for t in self._current if id(t) not in self._withdrawn and drop(t)]
            self._withdrawn.update(id(t) for t in current)
        return taken + current

    def _is_withdrawn(self, task: Task) -> bool:
        return id(task) in self._withdrawn

    def retry_after(self, workers: int = 1) -> int:
        """Seconds a refused client should wait: the queue's expected drain time, 1..60."""
        estimate = (self.load * self.mean_seconds) / max(workers, 1)
        return int(min(60, max(1, round(estimate))))

    # -- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        if not self._open_device():
            return
        try:
            while (batch := self.queue.take(self.batch)) is not None:
                self._current = batch
                self._execute(batch)
                self._end_batch()
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
            if not self._is_withdrawn(task):
                self._deliver(task, WorkerStopped(f"device {self.name}: {self.death}"))
        self._end_batch()

    def _end_batch(self) -> None:
        with self._withdrawn_lock:
            self._current = []
            self._withdrawn.clear()
        self.queue.finished()

    def _deliver(self, task: Task, outcome: ScoredArch | BaseException) -> None:
        """Hand a task its outcome; an error in the callback is logged, never fatal to the worker."""
        try:
            task.done(task, outcome, self.name)
        except Exception:
            log.exception("device %s: delivering the result of %s failed", self.name, task.arch)

    def _deliver_arch(self, group: JointGroup, arch: str, outcome: ScoredArch | BaseException) -> None:
        """Hand each task of ``arch`` the joint record (its taker keeps its own score's value) or the error
        (a withdrawn task was already answered by whoever withdrew it)."""
        for task in group.tasks[arch]:
            if not self._is_withdrawn(task):
                self._deliver(task, outcome)

    def _execute(self, batch: list[Task]) -> None:
        """Score a batch, each architecture once for all the scores asked of it (shared passes); between items, hand
        the rest back to the queue when another flow waits or the service stops (see :meth:`_feed`)."""
        groups = joint_groups(batch)
        for i, group in enumerate(groups):
            left = self._score_group(group) or []
            if left or (i + 1 < len(groups) and self._interrupted()):
                later = [t for g in groups[i + 1:] for tasks in g.tasks.values() for t in tasks]
                self._hand_back([t for arch in left for t in group.tasks[arch]] + later)
                return

    def _interrupted(self) -> bool:
        """Stop handing items to the scorer: the service is stopping, or another flow waits for the device."""
        return self._stopping or self.queue.contended()

    def _hand_back(self, tasks: list[Task]) -> None:
        """The batch's tasks not begun go back to the queue (withdrawn ones are dropped); stopped when it is closed."""
        tasks = [t for t in tasks if not self._is_withdrawn(t)]
        if tasks and not self.queue.requeue(tasks):
            for task in tasks:
                self._deliver(task, WorkerStopped("the service is shutting down"))

    def _feed(self, group: JointGroup, left: list[str]) -> Iterator[str]:
        """The group's architectures, one as the scorer asks for it: those whose every task was withdrawn (a cancelled
        search) are skipped, and once one was given, an interruption stops the feed (the rest go into ``left``)."""
        wanted = [a for a in group.archs if not self._abandoned(group, a)]
        for i, arch in enumerate(wanted):
            if i and self._abandoned(group, arch):
                continue
            if i and self._interrupted():
                left.extend(a for a in wanted[i:] if not self._abandoned(group, a))
                return
            yield arch

    def _abandoned(self, group: JointGroup, arch: str) -> bool:
        """Every task of ``arch`` in ``group`` was withdrawn: no one waits for it."""
        return all(self._is_withdrawn(t) for t in group.tasks[arch])

    def _score_group(self, group: JointGroup) -> list[str]:
        """Score a group; an error fails only the architecture it happened on (a scorer that cannot be built, all);
        returns the architectures not begun after an interruption, to hand back."""
        try:
            scorer = self.scorers.get(group.spec)
        except Exception as exc:
            for arch in group.archs:
                self._deliver_arch(group, arch, exc)
            return []
        left: list[str] = []
        for arch, outcome in self._timed(score_each(scorer, self._feed(group, left), self.scorers.recover)):
            self._deliver_arch(group, arch, outcome)
        return left

    def _timed(self, outcomes: Iterator[tuple[str, ScoredArch | BaseException]]) -> Iterator[tuple[str, ScoredArch | BaseException]]:
        """``outcomes`` as they come, each score's device time (not the delivery's) recorded."""
        start = time.perf_counter()
        for arch, outcome in outcomes:
            if not isinstance(outcome, BaseException):
                self._scored(time.perf_counter() - start)
            yield arch, outcome
            start = time.perf_counter()

    def _scored(self, seconds: float, concurrency: int = 1) -> None:
        """One architecture took ``seconds``, ``concurrency`` of them in parallel: update the estimate and tell ``on_scored``."""
        self.mean_seconds = 0.8 * self.mean_seconds + 0.2 * seconds / concurrency
        if self.on_scored is not None:
            self.on_scored(self.name, seconds)


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
