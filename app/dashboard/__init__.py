"""The dashboard: one page at ``/`` with its scripts and styles, all served by the app itself (no CDN).

The page and its static files hold no data and are open; every call the page makes goes to the
``/v1`` API, with ``Authorization: Bearer <key>`` when the server asks for a key.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"

router = APIRouter(include_in_schema=False)


@router.get("/")
def index() -> FileResponse:
    """The dashboard page (never cached, so an upgraded server serves its new page at once)."""
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/searches/{search_id}")
def search_page(search_id: str) -> FileResponse:
    """The same page, showing one search: a link to share (the page reads the id from its path;
    an unknown id is reported on the page by the API's 404)."""
    del search_id
    return index()


def mount(app: FastAPI) -> None:
    """Serve the page at ``/`` and ``/searches/<id>``, and its files under ``/dashboard/``."""
    app.include_router(router)
    app.mount("/dashboard", StaticFiles(directory=STATIC), name="dashboard")
