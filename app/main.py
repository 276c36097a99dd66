"""``create_app(settings)``: the FastAPI application of the scoring service.

    uvicorn --factory app.main:create_app      # or: naswot serve --host 127.0.0.1 --port 8000
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.concurrency import run_in_threadpool

from app import dashboard, executors  # noqa: F401  (importing executors registers them with the service)
from app.api import errors, ops, reports, score, scores, searches, spaces
from app.api.deps import require_key
from app.api.headers import SecurityHeadersMiddleware
from app.api.limits import BodyLimitMiddleware
from app.api.metrics import MetricsMiddleware
from app.service.core import Service
from app.settings import Settings
from app.service.scorers import ScorerFactory

log = logging.getLogger("naswot.app")

DESCRIPTION = """Training-free neural architecture scoring (NASWOT, Mellor et al. 2021) and search.

A singular K_H has score minus infinity: JSON carries `"score": null, "singular": true`, and such
architectures rank below every finite score. When the server has an API key, every route but
`/healthz`, `/readyz` and the dashboard's page and files needs `Authorization: Bearer <key>`. Errors carry `detail`: a list of
`{loc, msg, type}` naming the field (with the item index) and the reason. While the database is busy
or unreachable, every route answers 503 with `Retry-After` and `type` `store_unavailable`.
"""


def create_app(settings: Settings | None = None, *, scorer_factory: ScorerFactory | None = None) -> FastAPI:
    """The app for ``settings`` (default: from ``NASWOT_*``); ``scorer_factory`` replaces :class:`scoring.Scorer` (tests)."""
    settings = settings or Settings.from_env()
    service = Service(settings, scorer_factory)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            await run_in_threadpool(service.stop)

    app = FastAPI(
        title="naswot",
        summary="Training-free architecture scoring service",
        description=DESCRIPTION,
        version=ops._version(),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # served by ops.protected, behind the API key when one is set
    )
    app.state.service = service
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=service.metrics)
    app.add_middleware(SecurityHeadersMiddleware)  # added last: outermost, so even a 413 carries the headers
    app.include_router(ops.health)
    for router in (score.router, scores.router, searches.router, searches.strategies_router, reports.router, spaces.router, ops.protected):
        app.include_router(router, dependencies=[Depends(require_key)])
    errors.install(app)
    dashboard.mount(app)
    return app
