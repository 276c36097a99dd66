"""Which data sources a request may name, and what each name opens.

Requests name a source (``auto``, ``cifar10``, ``cifar100``, ``noise`` or one the operator
configured with ``NASWOT_DATA_SOURCES``); they never pass a filesystem path. A request that
names none gets ``NASWOT_DATA``, which the operator may set to any spec.
"""

from __future__ import annotations

from typing import Any

from scoring import DataSource, open_source

from .settings import Settings


class UnknownSource(ValueError):
    """The request named a source this server does not offer."""


class SourceUnavailable(ValueError):
    """The source is offered but cannot be loaded here (missing files, failed download, bad file)."""


class Sources:
    """Resolves data source names to loaded :class:`DataSource` objects (each loaded once)."""

    def __init__(self, settings: Settings):
        self.settings = settings

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
