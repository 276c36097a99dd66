"""Where architectures are scored (``NASWOT_EXECUTOR``): a registry of executors by name, as spaces and scores have.

An executor turns the settings into the workers the dispatcher queues onto. ``local`` (one thread per
device of ``NASWOT_DEVICES``) is registered here; others register themselves when their package is
imported (``app.executors``: ``ray``), so the service never imports an executor.
"""

from __future__ import annotations

from collections.abc import Callable

from app.service.metrics import Metrics
from app.service.scorers import ScorerFactory
from app.service.worker import DeviceWorker, resolve_devices
from app.settings import Settings

#: settings, the scorer factory of local workers, the service's metrics -> the workers
Executor = Callable[[Settings, ScorerFactory, Metrics], list[DeviceWorker]]

_EXECUTORS: dict[str, Executor] = {}


def register_executor(name: str) -> Callable[[Executor], Executor]:
    """Register the decorated function as the executor ``name``."""

    def register(executor: Executor) -> Executor:
        if _EXECUTORS.setdefault(name, executor) is not executor:
            raise ValueError(f"executor {name!r} is already registered")
        return executor

    return register


def executor_names() -> list[str]:
    return sorted(_EXECUTORS)


def make_workers(settings: Settings, scorer_factory: ScorerFactory, metrics: Metrics) -> list[DeviceWorker]:
    """The workers of ``settings.executor``; a ValueError naming the registered ones when it is unknown."""
    executor = _EXECUTORS.get(settings.executor)
    if executor is None:
        raise ValueError(f"NASWOT_EXECUTOR: no executor {settings.executor!r} is registered (registered: {', '.join(executor_names())})")
    return executor(settings, scorer_factory, metrics)


@register_executor("local")
def local_workers(settings: Settings, scorer_factory: ScorerFactory, metrics: Metrics) -> list[DeviceWorker]:
    """One worker thread per local device (``NASWOT_DEVICES``)."""
    return [
        DeviceWorker(
            device, capacity=settings.queue_size, batch=settings.worker_batch, scorer_cache=settings.scorer_cache,
            factory=scorer_factory, on_scored=metrics.scored,
        )
        for device in resolve_devices(settings.devices)
    ]
