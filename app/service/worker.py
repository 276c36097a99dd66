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
        """Take the queued tasks ``drop`` picks (a cancelled search's) out of the queue; they are returned undelivered."""
        return self.queue.withdraw(drop)

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
                self._current = []
                self.queue.finished()
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
        self.queue.finished()

    def _deliver(self, task: Task, outcome: ScoredArch | BaseException) -> None:
        """Hand a task its outcome; an error in the callback is logged, never fatal to the worker."""
        try:
            task.done(task, outcome, self.name)
        except Exception:
            log.exception("device %s: delivering the result of %s failed", self.name, task.arch)

    def _deliver_arch(self, group: JointGroup, arch: str, outcome: ScoredArch | BaseException) -> None:
        """Hand each task of ``arch`` the joint record (its taker keeps its own score's value) or the error."""
        for task in group.tasks[arch]:
            self._deliver(task, outcome)

    def _give_back(self, group: JointGroup, archs: Sequence[str]) -> None:
        for arch in archs:
            self._deliver_arch(group, arch, WorkerStopped("the service is shutting down"))

    def _execute(self, batch: list[Task]) -> None:
        """Score a batch, each architecture once for all the scores asked of it (shared passes)."""
        for group in joint_groups(batch):
            if self._stopping:  # shutting down: the groups not begun go back too
                self._give_back(group, group.archs)
            else:
                self._score_group(group)

    def _score_group(self, group: JointGroup) -> None:
        """Score a group; an error fails only the architecture it happened on (a scorer that cannot be built, all)."""
        try:
            scorer = self.scorers.get(group.spec)
        except Exception as exc:
            for arch in group.archs:
                self._deliver_arch(group, arch, exc)
            return
        archs = group.archs
        for done, (arch, outcome) in enumerate(self._timed(score_each(scorer, archs, self.scorers.recover)), start=1):
            self._deliver_arch(group, arch, outcome)
            if self._stopping:  # shutting down: give the rest back instead of finishing the batch
                self._give_back(group, archs[done:])
                return

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
