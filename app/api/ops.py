"""Operations: liveness, readiness, Prometheus metrics, and the (protected) OpenAPI document and docs page."""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from app.service.metrics import CONTENT_TYPE_LATEST
from app.api.deps import ServiceDep, authorized, bearer


class Health(BaseModel):
    status: Literal["ok"]
    version: str


class Readiness(BaseModel):
    ready: bool
    devices: list[dict[str, Any]]
    actors: list[dict[str, Any]] = Field(default_factory=list, description="with executor=ray: each scoring actor, where it runs and its work")
    data: dict[str, Any] | None = Field(None, description="the default data source, once loaded")
    data_error: str | None = None
    database: bool
    reasons: list[str] = Field(default_factory=list, description="why the server is not ready")
    spaces_unavailable: list[str] = Field(
        default_factory=list, description="installed spaces whose plugin fails to load, one line each (the error's type; the log has its message); the other spaces work")


#: open to everyone, also when an API key is set (orchestrators probe them)
health = APIRouter(tags=["operations"])
#: behind the API key when one is set
protected = APIRouter(tags=["operations"])


def _version() -> str:
    try:
        return version("naswot-service")
    except PackageNotFoundError:
        return "unknown"


@health.get("/healthz", response_model=Health, summary="Liveness: the process answers")
def healthz() -> Health:
    return Health(status="ok", version=_version())


@health.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness, "description": "not ready; `reasons` says why"}},
            summary="Readiness: devices initialised, default data loaded, database reachable")
def readyz(service: ServiceDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> JSONResponse:
    """The database's location and server paths only to a caller who could use the protected routes (the key, when one is set)."""
    state = service.readiness(detail=authorized(service, credentials))
    return JSONResponse(Readiness(**state).model_dump(), status_code=200 if state["ready"] else 503)


@protected.get("/metrics", summary="Prometheus metrics", response_class=Response,
               responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}})
def metrics(service: ServiceDep) -> Response:
    return Response(service.metrics.render(), media_type=CONTENT_TYPE_LATEST)


@protected.get("/openapi.json", include_in_schema=False)
def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


#: Swagger UI, vendored from the npm package ``swagger-ui-dist`` under the dashboard's files (served by this app: /docs works offline)
SWAGGER_UI_VERSION = "5.32.0"
SWAGGER_ASSETS = "/dashboard/vendor/"


def _docs_page() -> tuple[bytes, str]:
    """FastAPI's Swagger UI page on the vendored Swagger UI, and its own Content-Security-Policy: scripts, styles and
    images from this server only, and the page's one inline script by its hash."""
    html = bytes(get_swagger_ui_html(
        openapi_url="/openapi.json", title="naswot API", swagger_js_url=SWAGGER_ASSETS + "swagger-ui-bundle.js",
        swagger_css_url=SWAGGER_ASSETS + "swagger-ui.css", swagger_favicon_url=SWAGGER_ASSETS + "swagger-ui-favicon-32x32.png",
    ).body)
    inline = re.search(rb"<script>(.*?)</script>", html, re.DOTALL)
    if inline is None:
        raise RuntimeError("FastAPI's Swagger UI page has no inline script to allow")
    digest = base64.b64encode(hashlib.sha256(inline.group(1)).digest()).decode()
    policy = "; ".join((
        "default-src 'none'", f"script-src 'self' 'sha256-{digest}'", "style-src 'self'",
        "img-src 'self' data:", "connect-src 'self'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
    ))
    return html, policy


DOCS_HTML, DOCS_POLICY = _docs_page()


@protected.get("/docs", include_in_schema=False)
def docs() -> HTMLResponse:
    return HTMLResponse(DOCS_HTML, headers={"Content-Security-Policy": DOCS_POLICY})
