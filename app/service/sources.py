"""Which data sources a request may name, and what each name opens.

Requests name a source (``auto``, ``cifar10``, ``cifar100``, ``noise`` or one the operator
configured with ``NASWOT_DATA_SOURCES``); they never pass a filesystem path. A request that
names none gets ``NASWOT_DATA``, which the operator may set to any spec.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from scoring import DataSource, open_source

from app.settings import Settings


class UnknownSource(ValueError):
    """The request named a source this server does not offer."""


class SourceUnavailable(ValueError):
    """The source is offered but cannot be loaded here (missing files, failed download, bad file)."""


class Sources:
    """Resolves data source names to loaded :class:`DataSource` objects (each loaded once).

    A source that fails to load is not tried again for ``NASWOT_DATA_RETRY_SECONDS``: requests in
    between get the same answer at once instead of each repeating a failing download.
    """

    def __init__(self, settings: Settings, clock: Any = time.monotonic):
        self.settings = settings
        self._clock = clock
        self._failures: dict[str, tuple[float, SourceUnavailable]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @property
    def names(self) -> list[str]:
        return self.settings.request_sources()

    def spec_of(self, name: str | None) -> tuple[str, str]:
        """(name, spec) for a requested name, ``None`` meaning the server's default."""
        if name is None:
            default = self.settings.data
            return default, self.settings.data_sources.get(default, default)
        if name not in self.names:
            raise UnknownSource(f"unknown data source {name!r}; this server offers: {', '.join(self.names)}")
        return name, self.settings.data_sources.get(name, name)

    def open(self, name: str | None) -> tuple[str, DataSource]:
        """The name actually used and its loaded source."""
        resolved, spec = self.spec_of(name)
        return resolved, self.open_spec(spec)

    def open_spec(self, spec: str) -> DataSource:
        """The loaded source; a recent failure is answered again without a new attempt."""
        with self._lock_of(spec):
            self._raise_recent_failure(spec)
            try:
                return self._load(spec)
            except SourceUnavailable as exc:
                self._failures[spec] = (self._clock(), exc)
                raise

    def _lock_of(self, spec: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(spec, threading.Lock())

    def _raise_recent_failure(self, spec: str) -> None:
        failure = self._failures.get(spec)
        if failure is None:
            return
        at, exc = failure
        wait = at + self.settings.data_retry_seconds - self._clock()
        if wait > 0:
            raise SourceUnavailable(f"{exc} (not retried for another {wait:.0f} s)")
        del self._failures[spec]

    def _load(self, spec: str) -> DataSource:
        try:
            return open_source(spec, self.settings.data_path, download=self.settings.download)
        except FileNotFoundError as exc:
            raise SourceUnavailable(f"data source {spec!r} is not available on this server: {exc}") from exc
        except (OSError, KeyError, ValueError) as exc:
            raise SourceUnavailable(f"data source {spec!r} could not be loaded: {exc}") from exc


def describe(name: str, source: DataSource) -> dict[str, Any]:
    """What responses report as the data actually used."""
    return {"name": name, **source.describe()}


def image_count(source: DataSource) -> int | None:
    """Training images a real-image source holds (``None`` for generated inputs)."""
    images = getattr(source, "images", None)
    return None if images is None else len(images)
