"""Executors that score architectures beyond the service's own device threads (Ray actors).

Importing this package registers them with the service (:mod:`app.service.executors`); each engine is
imported only when it is used.
"""

from __future__ import annotations

from app.executors.ray_pool import RayScorePool
from app.executors.ray_worker import ActorMetrics, RayWorker
from app.service.executors import register_executor
from app.service.metrics import Metrics
from app.service.scorers import ScorerFactory
from app.service.worker import DeviceWorker
from app.settings import Settings
from app.store import shared_location


@register_executor("ray")
def ray_workers(settings: Settings, _scorer_factory: ScorerFactory, metrics: Metrics) -> list[DeviceWorker]:
    """One score queue in front of a pool of Ray actors (``NASWOT_EXECUTOR=ray``); the actors start with the service."""
    pool = RayScorePool(
        address=settings.ray_address, actors=settings.ray_actors, threads_per_actor=settings.ray_threads,
        chunk=settings.worker_batch, scorer_cache=settings.scorer_cache, data_dir=str(settings.data_path), download=settings.download,
        store=shared_location(settings.db_path), gram_kernel=settings.gram_kernel,
    )
    worker = RayWorker(pool, capacity=settings.queue_size, batch=settings.worker_batch, on_scored=metrics.scored)
    metrics.registry.register(ActorMetrics(worker))
    return [worker]
