"""The bounded, prioritised queue of architectures in front of one device worker, and the batches taken from it.

Interactive score requests go ahead of search jobs (lower priority number first, then first come,
first served). A request either fits in the queue whole or is refused (the caller answers 429);
a search job waits for room instead. Capacity counts architectures: the several scores asked of one
architecture (with the same settings) are one unit. A cancelled search's tasks are withdrawn by a predicate.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import Counter
from concurrent.futures import Future
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from scoring import ScoredArch

from app.service.scorers import ScoreSpec

#: queue priorities: interactive requests before search jobs
INTERACTIVE, BACKGROUND = 0, 1


@dataclass(eq=False)
class Task:
    """One architecture to score; ``done`` receives the record its scorer computed (every score of its joint pass) or the exception."""

    spec: ScoreSpec
    arch: str
    done: Callable[[Task, ScoredArch | BaseException, str], None]


class WorkerStopped(RuntimeError):
    """The worker shut down before the task ran."""


@dataclass(order=True)
class _Entry:
    priority: int
    seq: int
    task: Task = field(compare=False)


def _unit(task: Task) -> tuple:
    """What the queue's capacity counts: an architecture with its settings (its several scores are one unit)."""
    return (*task.spec.settings_key, task.arch)


class TaskQueue:
    """Tasks waiting for one worker, ``capacity`` architectures at most; ``busy`` counts those of the batch taken last."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.closed = False
        self.busy = 0  # architectures in the batch being scored
        self._heap: list[_Entry] = []
        self._waiting: Counter[tuple] = Counter()  # architecture (with its settings) -> its queued tasks, one per score
        self._seq = itertools.count()
        self._cond = threading.Condition()

    @property
    def depth(self) -> int:
        """Architectures waiting (not counting the batch being scored); several scores of one count once."""
        return len(self._waiting)

    @property
    def load(self) -> int:
        return len(self._waiting) + self.busy

    def queued(self) -> list[Task]:
        """The waiting tasks, in no particular order."""
        with self._cond:
            return [e.task for e in self._heap]

    def close(self) -> list[Task]:
        """Refuse new work and wake every waiter; the tasks still queued are returned undelivered."""
        with self._cond:
            self.closed = True
            pending, self._heap = self._heap, []
            self._waiting.clear()
            self._cond.notify_all()
        return [e.task for e in pending]

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

    def offer(self, tasks: Sequence[Task], priority: int) -> bool:
        """Queue all of ``tasks`` or none of them; False when the queue lacks room for their architectures."""
        with self._cond:
            if self.closed:
                raise WorkerStopped("the service is shutting down")
            if len(self._waiting) + len({_unit(t) for t in tasks} - self._waiting.keys()) > self.capacity:
                return False
            for task in tasks:
                self._push(task, priority)
            self._cond.notify_all()
            return True

    def put(self, task: Task, priority: int, abort: Callable[[], bool] | None = None) -> None:
        """Queue ``task``, waiting for room; raises :class:`WorkerStopped` on shutdown or when ``abort()`` says so."""
        with self._cond:
            while not self.closed and len(self._waiting) >= self.capacity and _unit(task) not in self._waiting:
                if abort is not None and abort():
                    raise WorkerStopped("aborted while waiting for queue room")
                self._cond.wait(0.5)
            if self.closed:
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

    def take(self, limit: int) -> list[Task] | None:
        """The next batch, waiting for one (None once closed): the first task and the ones right behind it that share
        its settings (score names may differ), up to ``limit`` of them; ``busy`` becomes its architectures."""
        with self._cond:
            while not self._heap and not self.closed:
                self._cond.wait()
            if self.closed:
                return None
            batch = [self._pop()]
            while self._heap and _fits(batch, self._heap[0].task, limit):
                batch.append(self._pop())
            self.busy = len({t.arch for t in batch})
            self._cond.notify_all()  # room for waiting producers
            return batch

    def finished(self) -> None:
        """The batch taken last is done (scored or failed): no architecture is busy."""
        self.busy = 0


def _fits(batch: list[Task], task: Task, limit: int) -> bool:
    """``task`` may join ``batch``: same settings, and room left, or the same architecture as the last task
    (an architecture's scores are not split across batches, so they share their passes)."""
    if task.spec.settings_key != batch[0].spec.settings_key:
        return False
    return len(batch) < limit or task.arch == batch[-1].arch


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


def settle(future: Future | None, outcome: object) -> None:
    """Resolve ``future`` (if still waiting) with ``outcome``: its exception when it is one, else its result."""
    if future is None or future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
