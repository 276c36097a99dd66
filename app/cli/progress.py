"""Progress bars for the command line: rich on stderr, silent when stderr is not a terminal.

Machine-readable output goes to stdout; everything here goes to stderr, so pipes stay clean.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

#: the console every command line bar and table writes to
stderr = Console(stderr=True)
#: the bar shown while an ensemble's reference sample is scored (a command line scorer keeps it for its run only)
REFERENCE_BAR = "ensemble reference sample"
REFERENCE_NOTE = "scored once per run here; the service keeps it in its store"


class RateColumn(ProgressColumn):
    """Items per second, once there is a rate to show."""

    def render(self, task: Task) -> Text:
        return Text("" if task.speed is None else f"{task.speed:.2f}/s", style="magenta")


class Bar:
    """One task's bar: ``advance`` per item, with the rate, the time left and an optional note (the best so far)."""

    def __init__(self, progress: Progress, description: str, total: int | None):
        self._progress = progress
        self._task = progress.add_task(description, total=total, note="")

    def advance(self, step: int = 1, note: str | None = None) -> None:
        fields = {} if note is None else {"note": note}
        self._progress.update(self._task, advance=step, **fields)

    def total(self, total: int) -> None:
        self._progress.update(self._task, total=total)

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
def bar(description: str, total: int | None, console: Console | None = None) -> Iterator[Bar]:
    """A progress bar on ``console`` for ``total`` items (disabled, and so silent, when the console is not a terminal)."""
    columns = (
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), TextColumn("[cyan]{task.fields[note]}"),
    )
    console = console or stderr
    # rate and ETA from the last 10 minutes: slow items (seconds each) still get an estimate
    with Progress(*columns, console=console, disable=not console.is_terminal, speed_estimate_period=600) as progress:
        yield Bar(progress, description, total)


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
