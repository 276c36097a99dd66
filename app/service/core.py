"""The running service: settings, database, device workers, dispatcher, jobs, and when it is ready."""

from __future__ import annotations

import logging
import threading
from typing import Any

from scoring import kernels
from searchspace import broken_spaces

from app.service.dispatch import Dispatcher
from app.service.executors import make_workers
from app.service.jobs import JobManager
from app.service.latency import LatencyService, with_latency
from app.service.metrics import Metrics
from app.service.notify import JobNotifier
from app.service.scorers import ScorerFactory, stored_scorer_factory
from app.settings import Settings
from app.service.spacefiles import load_installed, load_spaces
from app.service.sources import SourceUnavailable, Sources, describe
from app.records import ACTIVE, TERMINAL
from app.store import hold_database, open_store
from app.service.worker import describe_devices

log = logging.getLogger("naswot.service")

#: seconds between checks for dead worker threads
SUPERVISE_SECONDS = 0.5


class Service:
    """Everything the routes use; ``start()`` / ``stop()`` bracket its life (the app's lifespan)."""

    def __init__(self, settings: Settings, scorer_factory: ScorerFactory | None = None):
        self.settings = settings
        kernels.configure(settings.gram_kernel)  # process-wide, as the workers of this process share it
        self.spaces = load_spaces(settings.spaces, settings.max_params)  # a bad space file stops the start here
        load_installed()  # a plugin that fails to load is logged, named by /readyz, and left out; the others work
        self.metrics = Metrics()
        self.sources = Sources(settings)
        self.owner = hold_database(settings.db_path)  # one server per SQLite file: a second one refuses to start
        try:
            self.store = open_store(settings.db_path, busy_timeout=settings.db_busy_timeout)
        except BaseException:
            self.owner.release()
            raise
        factory = with_latency(scorer_factory or stored_scorer_factory(self.store))  # ensemble reference samples kept in the store
        self.workers = make_workers(settings, factory, self.metrics)
        self.dispatcher = Dispatcher(self.store, self.workers, self.metrics)
        #: latency is timed by the first live worker: a local device, or the Ray actors (their own device identity)
        self.latency = LatencyService(self.store, self.workers, threads=settings.latency_threads)
        self.jobs = JobManager(
            self.store, self.dispatcher, self.sources, self.metrics,
            max_running=settings.max_running_jobs, max_queued=settings.max_queued_jobs,
            notifier=JobNotifier(settings.max_event_streams),
            owner=settings.replica, lease_seconds=settings.job_lease_seconds,
            outage_seconds=settings.store_outage_seconds, stall_seconds=settings.job_stall_seconds, latency=self.latency,
        )
        for worker in self.workers:
            self.metrics.track_queue(worker.name, lambda w=worker: w.depth)
        self.metrics.track_jobs(self.jobs.counts, ACTIVE + TERMINAL)
        self.default_data: dict[str, Any] | None = None
        self.data_error: str | None = None
        self._loader = threading.Thread(target=self._load_default_data, name="naswot-data", daemon=True)
        self._stopping = threading.Event()
        self._supervisor = threading.Thread(target=self._supervise_loop, name="naswot-supervisor", daemon=True)

    def actors(self) -> list[dict[str, Any]]:
        """The Ray actors behind the score queue (none with local device workers)."""
        return [actor for worker in self.workers for actor in getattr(worker, "actors", list)()]

    def start(self) -> None:
        for worker in self.workers:
            worker.start()
        self.jobs.start()
        self._loader.start()
        self._supervisor.start()
        log.info("serving on %s; database %s; default data %s", ", ".join(w.name for w in self.workers), self.store.location, self.settings.data)

    def stop(self) -> None:
        self._stopping.set()
        self.jobs.stop()
        for worker in self.workers:
            worker.stop()
        self.store.close()
        self.owner.release()

    def supervise(self) -> list[str]:
        """Restart every worker and job thread that died (job states not yet written retried); the names of those restarted."""
        restarted = self.jobs.supervise()
        for worker in self.workers:
            if worker.dead:
                worker.restart()
                restarted.append(worker.name)
        return restarted

    def _supervise_loop(self) -> None:
        while not self._stopping.wait(SUPERVISE_SECONDS):
            try:
                self.supervise()
            except Exception:  # noqa: BLE001 - the supervisor itself must outlive anything it supervises
                log.exception("supervising the worker and job threads failed")

    def _load_default_data(self) -> None:
        """Load the default data source in the background; /readyz reports it."""
        try:
            name, source = self.sources.open(None)
            self.default_data = describe(name, source)
        except SourceUnavailable as exc:
            self.data_error = str(exc)
            log.error("default data source unavailable: %s", exc)

    def readiness(self, detail: bool = True) -> dict[str, Any]:
        """Whether the service can do its work now, and if not, why (never waits on the database); without ``detail``
        (an unauthenticated caller) the database's problem is only "unavailable" and no server path is shown."""
        reasons = [*self._device_problems(), *(f"job thread {p}" for p in self.jobs.problems()), *self._data_problems()]
        database = self.store.problem()
        if database is not None:
            reasons.append(f"database: {database}" if detail else "database: unavailable (the server log and /readyz with the API key say why)")
        if not detail:
            reasons = [self.settings.hide_paths(reason) for reason in reasons]
        return {
            "ready": not reasons,
            "devices": describe_devices(self.workers),
            "actors": self.actors(),
            "data": self.default_data,
            "data_error": self.data_error if detail or self.data_error is None else self.settings.hide_paths(self.data_error),
            "database": database is None,
            "reasons": reasons,
            "spaces_unavailable": list(broken_spaces(messages=False).values()),
        }

    def _device_problems(self) -> list[str]:
        reasons = []
        for worker in self.workers:
            if worker.error:
                reasons.append(f"device {worker.name}: {worker.error}")
            elif worker.dead:
                reasons.append(f"device {worker.name}: {worker.death}; restarting it")
            elif not worker.ready:
                reasons.append(f"device {worker.name} is starting")
        return reasons

    def _data_problems(self) -> list[str]:
        if self.default_data is not None:
            return []
        return [f"default data source: {self.data_error}" if self.data_error else "default data source is loading"]
