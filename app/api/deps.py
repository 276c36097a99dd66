"""What every route shares: the service, the bearer-token check, the job and space a path names, and error shapes.

The ``Annotated`` aliases (:data:`ServiceDep`, :data:`JobDep`, :data:`SpaceDep`) are what routes declare
instead of ``Depends()`` defaults.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from searchspace import SearchSpace, SpaceUnavailable, get_space, list_spaces

from app.records import JobRecord
from app.api.schemas import ErrorResponse
from app.service.core import Service

bearer = HTTPBearer(auto_error=False, description="the server's NASWOT_API_KEY (only when one is set)")

#: characters of a client's input an error message repeats at most
ECHO_LIMIT = 200
#: the header of every 503 a retry may get past (a busy or unreachable database, a device out of memory)
RETRY_LATER = {"Retry-After": "5"}


def get_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]


def authorized(service: Service, credentials: HTTPAuthorizationCredentials | None) -> bool:
    """Whether the caller may use the protected routes: no key is set, or it sent the key."""
    key = service.settings.api_key
    return key is None or (credentials is not None and secrets.compare_digest(credentials.credentials.encode(), key.encode()))


def require_key(service: ServiceDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
    """When NASWOT_API_KEY is set, the request must carry ``Authorization: Bearer <key>``."""
    check_key(service.settings.api_key, credentials)


async def authorize(request: Request) -> None:
    """:func:`require_key` for a request whose body is not read yet (a route checks the key before it parses a body)."""
    check_key(get_service(request).settings.api_key, await bearer(request))


def check_key(key: str | None, credentials: HTTPAuthorizationCredentials | None) -> None:
    """A 401 unless ``key`` is unset or ``credentials`` carry it."""
    if key is None:
        return
    if credentials is None:
        raise problem(401, ("header", "Authorization"), "missing bearer token: send Authorization: Bearer <API key>", "unauthorized",
                      headers={"WWW-Authenticate": 'Bearer realm="naswot"'})
    if not secrets.compare_digest(credentials.credentials.encode(), key.encode()):
        raise problem(401, ("header", "Authorization"), "wrong API key", "unauthorized",
                      headers={"WWW-Authenticate": 'Bearer realm="naswot", error="invalid_token"'})


def echo(value: Any) -> str:
    """A client's input as an error may repeat it: its text, cut to :data:`ECHO_LIMIT` characters and an ellipsis (idempotent)."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= ECHO_LIMIT else text[:ECHO_LIMIT] + "…"


def error(loc: Sequence[str | int], msg: str, type_: str, value: Any = None) -> dict[str, Any]:
    """One error item in FastAPI's format: where, what, which kind (and a bounded prefix of the offending input)."""
    item: dict[str, Any] = {"loc": [echo(part) if isinstance(part, str) else part for part in loc], "msg": echo(msg), "type": type_}
    if value is not None:
        item["input"] = echo(value)
    return item


def invalid(*errors: dict[str, Any]) -> RequestValidationError:
    """A 422 with the same body shape FastAPI gives for schema violations."""
    return RequestValidationError(list(errors))


def problem(status: int, loc: Sequence[str | int], msg: str, type_: str, headers: dict[str, str] | None = None) -> HTTPException:
    """Any other 4xx/5xx, with the same ``detail`` list shape."""
    return HTTPException(status, detail=[error(loc, msg, type_)], headers=headers)


def existing_job(service: ServiceDep, search_id: Annotated[str, Path(description="the id POST /v1/searches returned", max_length=64)]) -> JobRecord:
    """The job a path names, or 404."""
    job = service.store.get_job(search_id)
    if job is None:
        raise problem(404, ("path", "search_id"), f"no search job {search_id!r}", "not_found")
    return job


def existing_space(name: Annotated[str, Path(description="space name, e.g. nb201", max_length=64)]) -> SearchSpace:
    """The space a path names, or 404."""
    try:
        return get_space(name)
    except SpaceUnavailable:
        raise problem(404, ("path", "name"), unavailable(name), "not_found") from None
    except KeyError:
        raise problem(404, ("path", "name"), f"unknown search space {name!r}; known: {', '.join(list_spaces())}", "not_found") from None


def unavailable(name: str) -> str:
    """What a client is told of a space whose plugin fails to load (the operator's log and ``/readyz`` say more)."""
    return f"search space {name!r} cannot be loaded on this server (its plugin fails; GET /readyz names it)"


JobDep = Annotated[JobRecord, Depends(existing_job)]
SpaceDep = Annotated[SearchSpace, Depends(existing_space)]

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "missing or wrong bearer token (only when NASWOT_API_KEY is set)"},
    413: {"model": ErrorResponse, "description": "request body larger than NASWOT_MAX_BODY_BYTES"},
    422: {"model": ErrorResponse, "description": "invalid request: `detail` names each field (with item index) and the reason"},
    503: {"model": ErrorResponse, "description": "the database is busy or unreachable (`store_unavailable`); retry after Retry-After seconds"},
}
