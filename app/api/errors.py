"""Errors as clients see them: strict JSON bodies, bounded 422 answers, and a 500 that never leaks a traceback.

Python's ``json`` accepts ``NaN`` and ``Infinity``, which are not JSON and which no answer could
carry back; :class:`StrictJSONRoute` refuses them as a JSON decode error (422). Every validation
error repeats at most a bounded prefix of the input (:func:`app.api.deps.echo`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from .deps import error

log = logging.getLogger("naswot.app")


def _refuse_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not a JSON number (JSON has no NaN or Infinity)", name, 0)


class StrictJSONRequest(Request):
    """A request whose JSON body may not contain ``NaN``, ``Infinity`` or ``-Infinity``."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise json.JSONDecodeError(f"the body is not UTF-8 ({exc.reason} at byte {exc.start})", "", exc.start) from None
            self._json = json.loads(text, parse_constant=_refuse_constant)
        return self._json


class StrictJSONRoute(APIRoute):
    """A route that parses its body with :class:`StrictJSONRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict


def _item(raw: dict[str, Any]) -> dict[str, Any]:
    """A validation error item as this API answers it: loc, msg (with its context), type, a bounded input."""
    msg = raw.get("msg", "invalid")
    context = (raw.get("ctx") or {}).get("error")
    if raw.get("type") == "json_invalid" and context:
        msg = f"{msg}: {context}"
    return error(raw.get("loc", ()), str(msg), str(raw.get("type", "value_error")), raw.get("input") if raw.get("type") != "json_invalid" else None)


def install(app: FastAPI) -> None:
    """Register the 422 and 500 handlers on ``app``."""

    @app.exception_handler(RequestValidationError)
    async def unprocessable(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": [_item(dict(e)) for e in exc.errors()]}, status_code=422)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        message = f"internal error ({type(exc).__name__}); the server keeps serving"
        return JSONResponse({"detail": [error(("server",), message, "internal_error")]}, status_code=500)
