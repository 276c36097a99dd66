"""Ctrl-C during a command line search: the first ends the search with its results so far, a second quits at once.

A shell reports a process ended by Ctrl-C with status 130 (128 + SIGINT); the command line does the same,
after printing what the search found, so a script can tell an interrupted search from a finished one.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

#: the exit status of a command ended by Ctrl-C
EXIT_INTERRUPTED = 128 + signal.SIGINT


@contextmanager
def first_interrupt_stops(enabled: bool = True) -> Iterator[threading.Event]:
    """While inside, the first Ctrl-C sets the yielded event (a search polls it before each scoring call and ends
    with what it has) and says so on stderr; a second raises :class:`KeyboardInterrupt` as usual. Not ``enabled``
    (a search followed on a server: Ctrl-C must break the wait on its stream), or outside the main thread, where
    Python runs no signal handlers, nothing is installed and Ctrl-C raises at once."""
    stop = threading.Event()
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def on_interrupt(_signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("\nnaswot: stopping after the architectures being scored now (Ctrl-C again to quit at once)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
