"""The bounded, prioritised queue of architectures in front of one device worker, and the batches taken from it.

Interactive score requests go ahead of search jobs (lower priority number first). Within a priority the
device is shared round-robin between *flows* (a request, a search job): each batch comes from one flow,
and the flow goes to the back of the line, so a small request is never stuck behind all of a large one's
architectures; a worker hands a batch back (:meth:`TaskQueue.requeue`) between its items when another flow
waits (:meth:`TaskQueue.contended`), so it waits for one item, not one batch. A request either fits in the
queue whole or is refused (the caller answers 429); a search job waits for room instead. Capacity counts
architectures: the several scores asked of one architecture (with the same settings) are one unit.
A cancelled search's tasks are withdrawn by a predicate.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict, deque
from concurrent.futures import Future
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass

from scoring import ScoredArch

from app.service.scorers import ScoreSpec

#: queue priorities: interactive requests before search jobs
INTERACTIVE, BACKGROUND = 0, 1


@dataclass(eq=False)
class Task:
    """One architecture to score; ``done`` receives the record its scorer computed (every score of its joint pass) or the exception.
    ``flow`` is who the work is for (a request, a search job): the device is shared round-robin between flows."""

    spec: ScoreSpec
    arch: str
    done: Callable[[Task, ScoredArch | BaseException, str], None]
    flow: Hashable = None


class WorkerStopped(RuntimeError):
    """The worker shut down before the task ran."""


def _unit(task: Task) -> tuple:
    """What the queue's capacity counts: an architecture with its settings (its several scores are one unit)."""
    return (*task.spec.settings_key, task.arch)


class TaskQueue:
    """Tasks waiting for one worker, ``capacity`` architectures at most; ``busy`` counts those of the batch taken last."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.closed = False
        self.busy = 0  # architectures in the batch being scored
        #: priority -> flow -> its waiting tasks; a flow's place in its OrderedDict is its turn
        self._levels: dict[int, OrderedDict[Hashable, deque[Task]]] = {}
        self._waiting: Counter[tuple] = Counter()  # architecture (with its settings) -> its queued tasks, one per score
        self._serving: tuple[int, Hashable] | None = None  # (priority, flow) of the batch taken last
        self._cond = threading.Condition()

    @property
    def depth(self) -> int:
        """Architectures waiting (not counting the batch being scored); several scores of one count once."""
        return len(self._waiting)

    @property
    def load(self) -> int:
        return len(self._waiting) + self.busy

    def _tasks(self) -> Iterable[Task]:
        return (task for flows in self._levels.values() for tasks in flows.values() for task in tasks)

    def queued(self) -> list[Task]:
        """The waiting tasks, in no particular order."""
        with self._cond:
            return list(self._tasks())

    def close(self) -> list[Task]:
        """Refuse new work and wake every waiter; the tasks still queued are returned undelivered."""
        with self._cond:
            self.closed = True
            pending = list(self._tasks())
            self._levels.clear()
            self._waiting.clear()
            self._cond.notify_all()
        return pending

    def _push(self, task: Task, priority: int) -> None:
        self._levels.setdefault(priority, OrderedDict()).setdefault(task.flow, deque()).append(task)
        self._waiting[_unit(task)] += 1

    def _counted_out(self, task: Task) -> Task:
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

    def requeue(self, tasks: Sequence[Task]) -> bool:
        """Hand back the untouched rest of the batch taken last, at the head of its flow, whose turn comes after the
        flows waiting now (admitted work is never refused for room); False once closed (the caller fails them)."""
        with self._cond:
            if self.closed or self._serving is None:
                return False
            priority, flow = self._serving
            flows = self._levels.setdefault(priority, OrderedDict())
            flows.setdefault(flow, deque()).extendleft(reversed(tasks))
            flows.move_to_end(flow)
            for task in tasks:
                self._waiting[_unit(task)] += 1
            self._cond.notify_all()
            return True

    def contended(self) -> bool:
        """Another flow waits for the device, at the priority of the batch taken last or a more urgent one."""
        with self._cond:
            if self._serving is None:
                return False
            priority, flow = self._serving
            return any(
                level < priority or (level == priority and any(f != flow for f in flows))
                for level, flows in self._levels.items() if flows
            )

    def withdraw(self, drop: Callable[[Task], bool]) -> list[Task]:
        """Take the queued tasks ``drop`` picks (a cancelled search's) out of the queue; they are returned undelivered."""
        with self._cond:
            taken = [task for task in self._tasks() if drop(task)]
            if taken:
                for flows in self._levels.values():
                    for flow, tasks in list(flows.items()):
                        kept = deque(t for t in tasks if not drop(t))
                        if kept:
                            flows[flow] = kept
                        else:
                            del flows[flow]
                self._waiting = Counter(_unit(t) for t in self._tasks())
                self._cond.notify_all()  # room for waiting producers
        return taken

    def take(self, limit: int) -> list[Task] | None:
        """The next batch, waiting for one (None once closed): from the most urgent priority, the flow whose turn it is
        (it then goes to the back of the line), its first task and the ones behind it that share its settings (score names
        may differ), up to ``limit`` of them; ``busy`` becomes its architectures."""
        with self._cond:
            while not self.closed and not any(self._levels.values()):
                self._cond.wait()
            if self.closed:
                return None
            priority = min(p for p, flows in self._levels.items() if flows)
            flows = self._levels[priority]
            flow, tasks = next(iter(flows.items()))
            batch = [self._counted_out(tasks.popleft())]
            while tasks and _fits(batch, tasks[0], limit):
                batch.append(self._counted_out(tasks.popleft()))
            if tasks:
                flows.move_to_end(flow)
            else:
                del flows[flow]
            self._serving = (priority, flow)
            self.busy = len({t.arch for t in batch})
            self._cond.notify_all()  # room for waiting producers
            return batch

    def finished(self) -> None:
        """The batch taken last is done (scored, failed or handed back): no architecture is busy."""
        self.busy = 0
        self._serving = None


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
