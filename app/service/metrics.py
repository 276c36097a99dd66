"""Prometheus metrics of one app instance (its own registry, so several apps can live in one process)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    """The service's counters, gauges and histograms."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("naswot_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=r)
        self.request_seconds = Histogram(
            "naswot_http_request_seconds", "HTTP request latency", ["method", "route"], buckets=_LATENCY_BUCKETS, registry=r
        )
        self.queue_depth = Gauge("naswot_queue_depth", "architectures waiting for a device worker", ["device"], registry=r)
        self.scores_computed = Counter("naswot_scores_computed", "architectures scored on a device", ["device"], registry=r)
        self.cache_hits = Counter("naswot_cache_hits", "architectures answered from the score cache", registry=r)
        self.deduplicated = Counter(
            "naswot_inflight_shared", "architectures already being scored for another request (computed once)", registry=r
        )
        self.score_errors = Counter("naswot_score_errors", "architectures whose scoring failed", ["kind"], registry=r)
        self.rejected = Counter("naswot_rejected", "requests refused with 429 because a queue was full", ["queue"], registry=r)
        self.score_seconds = Histogram(
            "naswot_score_seconds", "time to score one architecture on a device", ["device"], buckets=_LATENCY_BUCKETS, registry=r
        )
        self.jobs = Gauge("naswot_jobs", "search jobs by status", ["status"], registry=r)

    def track_queue(self, device: str, depth: Callable[[], int]) -> None:
        self.queue_depth.labels(device).set_function(depth)

    def track_jobs(self, counts: Callable[[], dict[str, int]], statuses: tuple[str, ...]) -> None:
        for status in statuses:
            self.jobs.labels(status).set_function(lambda s=status: counts().get(s, 0))

    def scored(self, device: str, seconds: float) -> None:
        self.scores_computed.labels(device).inc()
        self.score_seconds.labels(device).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)

