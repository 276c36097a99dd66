"""Errors as clients see them: strict JSON bodies, bounded 422 answers, one ``detail`` list shape for every
error, 503 while the database is unavailable, and a 500 that never leaks a traceback.

Python's ``json`` accepts ``NaN`` and ``Infinity``, which are not JSON and which no answer could
carry back, and nests as deep as its stack allows; :class:`StrictJSONRoute` refuses both as a JSON
decode error (422), and an integer past Python's digit limit too. A string holding a lone UTF-16
surrogate (an unpaired ``\\uD800`` escape: not text, so no answer could repeat it) is a 422 naming its field. Every validation error repeats at most a bounded prefix of the input
(:func:`app.api.deps.echo`).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

from app.api.headers import SECURITY_HEADERS
from app.store import StoreError
from app.api.deps import RETRY_LATER, authorize, error

log = logging.getLogger("naswot.app")

#: deepest nesting of arrays and objects a request body may have (the API's own bodies need 5)
MAX_JSON_DEPTH = 32


def _refuse_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not a JSON number (JSON has no NaN or Infinity)", name, 0)


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests arrays and objects more than ``limit`` levels deep (no recursion; linear, and only
    containers are stacked, so a long flat array costs one C-speed filter)."""
    level: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, (list, dict)) else []
    while level:
        item, depth = level.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        level.extend((child, depth + 1) for child in filter(_is_container, children))
    return False


def _is_container(value: Any) -> bool:
    return isinstance(value, (list, dict))


def _openings(text: str) -> Iterator[tuple[int, int]]:
    """(position, depth it opens) of each ``[`` and ``{`` of JSON ``text`` outside strings."""
    depth, in_string, escaped = 0, False, False
    for position, char in enumerate(text):
        if escaped:
            escaped = False
        elif in_string:
            escaped, in_string = char == "\\", char != '"'
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            yield position, depth
        elif char in "]}":
            depth -= 1


def _depth_error(text: str) -> json.JSONDecodeError:
    """The decode error of a body nested deeper than :data:`MAX_JSON_DEPTH`, at the bracket that opens one level too many."""
    position = next((p for p, depth in _openings(text) if depth > MAX_JSON_DEPTH), 0)
    return json.JSONDecodeError(f"arrays and objects nested deeper than {MAX_JSON_DEPTH} levels", text, position)


def _parse(text: str) -> Any:
    """``text`` as strict JSON, nested at most :data:`MAX_JSON_DEPTH` levels deep."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise _depth_error(text) from None
    except json.JSONDecodeError:
        raise
    except ValueError:  # an integer past the digit limit: the only other ValueError json.loads raises
        raise _digits_error(text) from None
    if _deeper_than(value, MAX_JSON_DEPTH):
        raise _depth_error(text)
    return value


def _digits_error(text: str) -> json.JSONDecodeError:
    """The decode error of an integer longer than Python converts (``sys.get_int_max_str_digits()``), at its first digit."""
    limit = sys.get_int_max_str_digits()
    found = re.search(r"\d{%d,}" % (limit + 1), text)
    return json.JSONDecodeError(f"an integer of more than {limit} digits", text, found.start() if found else 0)


#: the JSON escape of a UTF-16 surrogate: the only way a lone one gets into a body (UTF-8 cannot carry one)
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _lone_surrogate(value: Any) -> tuple[str | int, ...] | None:
    """The location of the first string or key of ``value`` holding a lone surrogate, or None."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ("body",))]
    while stack:
        item, loc = stack.pop()
        if isinstance(item, str) and not _is_text(item):
            return loc
        children = item.items() if isinstance(item, dict) else enumerate(item) if isinstance(item, list) else ()
        for key, child in reversed(list(children)):
            if isinstance(key, str) and not _is_text(key):
                return (*loc, key)
            stack.append((child, (*loc, key)))
    return None


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _refuse_lone_surrogates(text: str, value: Any) -> None:
    """A 422 naming the field whose string holds a lone surrogate (checked only when the body has a surrogate escape)."""
    loc = _lone_surrogate(value) if SURROGATE_ESCAPE.search(text) else None
    if loc is not None:
        shown = [part.encode("utf-8", "backslashreplace").decode() if isinstance(part, str) else part for part in loc]
        raise StarletteHTTPException(422, detail=[error(shown, "holds a lone surrogate (a UTF-16 \\uD800-\\uDFFF escape without its pair), which is not text", "string_unicode")])


class StrictJSONRequest(Request):
    """A request whose JSON body may not contain ``NaN``, ``Infinity`` or ``-Infinity``."""

    async def json(self) -> Any:
        """The body parsed in a worker thread, so a large one never holds the event loop (``/healthz`` keeps answering)."""
        if not hasattr(self, "_json"):
            self._json = await run_in_threadpool(_decode, await self.body())
        return self._json


def _decode(body: bytes) -> Any:
    """``body`` as strict UTF-8 JSON (see :func:`_parse`), with no lone surrogate in any string (a 422 naming the field)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise json.JSONDecodeError(f"the body is not UTF-8 ({exc.reason} at byte {exc.start})", "", exc.start) from None
    value = _parse(text)
    _refuse_lone_surrogates(text, value)
    return value


class StrictJSONRoute(APIRoute):
    """An API route (every one needs the API key when the server has one, see :func:`app.api.deps.require_key`): the key
    is checked before the body is read, so an unauthenticated client never gets its body parsed, and the body is
    parsed with :class:`StrictJSONRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            await authorize(request)
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict


def _item(raw: dict[str, Any]) -> dict[str, Any]:
    """A validation error item as this API answers it: loc, msg (with its context), type, a bounded input."""
    msg = raw.get("msg", "invalid")
    context = (raw.get("ctx") or {}).get("error")
    if raw.get("type") == "json_invalid" and context:
        msg = f"{msg}: {context}"
    return error(raw.get("loc", ()), str(msg), str(raw.get("type", "value_error")), raw.get("input") if raw.get("type") != "json_invalid" else None)


#: methods a 405's ``Allow`` header may name (each route is asked whether it takes them at the path)
PROBED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request, exc: StarletteHTTPException) -> str:
    """The ``Allow`` of a 405: every method some route takes at the request's path (Starlette names only the first route's).
    Mounted apps (the dashboard's files) take any method as far as matching goes; their own ``Allow`` stands."""
    routes = [route for route in request.app.router.routes if not isinstance(route, Mount)]
    methods = [m for m in PROBED_METHODS if any(route.matches({**request.scope, "method": m})[0] is Match.FULL for route in routes)]
    return ", ".join(methods) if methods else (exc.headers or {}).get("Allow", "")


def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """An HTTP error in the documented shape; a 405 names every method the path takes."""
    headers = dict(exc.headers or {})
    detail = exc.detail
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request, exc)
        detail = [error(("method",), f"{request.method} is not allowed here; allowed: {headers['Allow']}", "method_not_allowed")]
    elif exc.status_code == 404 and not isinstance(detail, list):
        detail = [error(("path",), f"no route {request.url.path}", "not_found")]
    elif not isinstance(detail, list):
        detail = [error(("request",), str(detail), "http_error")]
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=headers)


def install(app: FastAPI) -> None:
    """Register the 4xx, 503 (database unavailable) and 500 handlers on ``app``."""

    @app.exception_handler(RequestValidationError)
    async def unprocessable(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": [_item(dict(e)) for e in exc.errors()]}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _http_error(request, exc)

    @app.exception_handler(StoreError)
    async def store_unavailable(request: Request, exc: StoreError) -> JSONResponse:
        """Handled here, inside the app: the answer is a 503 and the exception never reaches uvicorn (which would drop the connection)."""
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        message = f"the database is unavailable ({exc}); retry after {RETRY_LATER['Retry-After']} s"
        return JSONResponse({"detail": [error(("server",), message, "store_unavailable")]}, status_code=503, headers=RETRY_LATER)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        message = f"internal error ({type(exc).__name__}); the server keeps serving"
        # answered by Starlette's outermost middleware, outside SecurityHeadersMiddleware
        return JSONResponse({"detail": [error(("server",), message, "internal_error")]}, status_code=500, headers=SECURITY_HEADERS)
