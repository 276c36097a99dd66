"""Progress bars for the command line: rich on stderr, silent when stderr is not a terminal.

Machine-readable output goes to stdout; everything here goes to stderr, so pipes stay clean.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

#: the console every command line bar and table writes to
stderr = Console(stderr=True)
#: the bar shown while an ensemble's reference sample is scored (a command line scorer keeps it for its run only)
REFERENCE_BAR = "ensemble reference sample"
REFERENCE_NOTE = "scored once per run here; the service keeps it in its store"


def wall_rate(task: Task) -> float | None:
    """Items per second of wall time since the bar started, counting only the items done since then (rows of a
    resumed table were there before): a burst of cached results after a slow start cannot inflate it, as a rate
    over the last few items would (rich's own ``task.speed``); None until an item is done."""
    done = task.completed - task.fields.get("done_before", 0)
    return done / task.elapsed if done > 0 and task.elapsed else None


class RateColumn(ProgressColumn):
    """Items per second (:func:`wall_rate`), once there is a rate to show."""

    def render(self, task: Task) -> Text:
        rate = wall_rate(task)
        return Text("" if rate is None else f"{rate:.2f}/s", style="progress.data.speed")


class EtaColumn(ProgressColumn):
    """The time left at :func:`wall_rate`, as rich's time columns write it (``eta 0:08:15``); empty once finished."""

    def render(self, task: Task) -> Text:
        rate = wall_rate(task)
        if task.finished or task.total is None:
            return Text("")
        left = "-:--:--" if rate is None else str(timedelta(seconds=math.ceil(task.remaining / rate)))
        return Text(f"eta {left}", style="progress.remaining")


#: the columns of every bar: what, how far, how fast, how long so far and how long still, and a note
COLUMNS = (
    TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
    TimeElapsedColumn(), EtaColumn(), TextColumn("[cyan]{task.fields[note]}"),
)


class Bar:
    """One task's bar: ``advance`` per item, with the rate, the time left and an optional note (the best so far)."""

    def __init__(self, progress: Progress, description: str, total: int | None, done_before: int = 0):
        self._progress = progress
        self._task = progress.add_task(description, total=total, completed=done_before, note="", done_before=done_before)

    def advance(self, step: int = 1, note: str | None = None) -> None:
        fields = {} if note is None else {"note": note}
        self._progress.update(self._task, advance=step, **fields)

    def total(self, total: int) -> None:
        self._progress.update(self._task, total=total)

    @property
    def task(self) -> Task:
        """The bar's rich task (what its columns render)."""
        return self._progress.tasks[0]

    def along(self, description: str, note: str = "") -> Callable[[int, int], None]:
        """A ``(done, total)`` reporter for work met along the way (an ensemble's reference sample): its own bar
        under this one, added at its first report, so work that never happens shows nothing."""
        task: list[TaskID] = []

        def report(done: int, total: int) -> None:
            if not task:
                task.append(self._progress.add_task(description, total=total, note=note))
            self._progress.update(task[0], completed=done, total=total)

        return report


@contextmanager
def bar(description: str, total: int | None, console: Console | None = None, *, done_before: int = 0,
        clock: Callable[[], float] | None = None) -> Iterator[Bar]:
    """A progress bar on ``console`` for ``total`` items, ``done_before`` of them done before it started (disabled,
    and so silent, when the console is not a terminal); ``clock`` replaces rich's monotonic clock (tests)."""
    console = console or stderr
    timing = {} if clock is None else {"get_time": clock}
    with Progress(*COLUMNS, console=console, disable=not console.is_terminal, **timing) as progress:
        yield Bar(progress, description, total, done_before)


def best_note(score: float | None) -> str:
    """The 'best so far' text beside a bar."""
    if score is None:
        return ""
    return "best singular" if score == -math.inf else f"best {score:.2f}"


def print_table(title: str, columns: list[str], rows: list[list[object]], console: Console | None = None) -> None:
    """A rich table on stderr (for a person at a terminal; stdout keeps the machine-readable copy)."""
    console = console or stderr
    if not console.is_terminal:
        return
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(str(v) for v in row))
    console.print(table)
