"""The running service: settings, database, device workers, dispatcher, jobs, and when it is ready."""

from __future__ import annotations

import logging
import threading
from typing import Any

from .dispatch import Dispatcher
from .jobs import JobManager
from .metrics import Metrics
from .settings import Settings
from .sources import SourceUnavailable, Sources, describe
from .store import ACTIVE, TERMINAL, Store
from .worker import DeviceWorker, ScorerFactory, default_scorer_factory, describe_devices, resolve_devices

log = logging.getLogger("naswot.service")


class Service:
    """Everything the routes use; ``start()`` / ``stop()`` bracket its life (the app's lifespan)."""

    def __init__(self, settings: Settings, scorer_factory: ScorerFactory = default_scorer_factory):
        self.settings = settings
        self.metrics = Metrics()
        self.sources = Sources(settings)
        devices = resolve_devices(settings.devices)
        self.store = Store(settings.db_path)
        self.workers = [
            DeviceWorker(
                device,
                capacity=settings.queue_size,
                batch=settings.worker_batch,
                scorer_cache=settings.scorer_cache,
                factory=scorer_factory,
                on_scored=self.metrics.scored,
            )
            for device in devices
        ]
        self.dispatcher = Dispatcher(self.store, self.workers, self.metrics)
        self.jobs = JobManager(
            self.store, self.dispatcher, self.sources, self.metrics,
            max_running=settings.max_running_jobs, max_queued=settings.max_queued_jobs,
        )
        for worker in self.workers:
            self.metrics.track_queue(worker.name, lambda w=worker: w.depth)
        self.metrics.track_jobs(self.jobs.counts, ACTIVE + TERMINAL)
        self.default_data: dict[str, Any] | None = None
        self.data_error: str | None = None
        self._loader = threading.Thread(target=self._load_default_data, name="naswot-data", daemon=True)

    def start(self) -> None:
        for worker in self.workers:
            worker.start()
        self.jobs.start()
        self._loader.start()
        log.info("serving on %s; database %s; default data %s", ", ".join(w.name for w in self.workers), self.store.path, self.settings.data)

    def stop(self) -> None:
        self.jobs.stop()
        for worker in self.workers:
            worker.stop()
        self.store.close()

    def _load_default_data(self) -> None:
        """Load the default data source in the background; /readyz reports it."""
        try:
            name, source = self.sources.open(None)
            self.default_data = describe(name, source)
        except SourceUnavailable as exc:
            self.data_error = str(exc)
            log.error("default data source unavailable: %s", exc)

    def readiness(self) -> dict[str, Any]:
        reasons = []
        for worker in self.workers:
            if worker.error:
                reasons.append(f"device {worker.name}: {worker.error}")
            elif not worker.ready:
                reasons.append(f"device {worker.name} is starting")
        if self.default_data is None:
            reasons.append(f"default data source: {self.data_error}" if self.data_error else "default data source is loading")
        try:
            database = self.store.ping()
        except Exception as exc:  # sqlite3.Error, closed connection
            database = False
            reasons.append(f"database: {exc}")
        return {
            "ready": not reasons,
            "devices": describe_devices(self.workers),
            "data": self.default_data,
            "data_error": self.data_error,
            "database": database,
            "reasons": reasons,
        }
