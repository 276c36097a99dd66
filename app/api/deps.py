"""What every route shares: the service, the bearer-token check, and errors that name the field and the reason."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..service import Service

bearer = HTTPBearer(auto_error=False, description="the server's NASWOT_API_KEY (only when one is set)")


def get_service(request: Request) -> Service:
    return request.app.state.service


def require_key(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
    """When NASWOT_API_KEY is set, the request must carry ``Authorization: Bearer <key>``."""
    key = get_service(request).settings.api_key
    if key is None:
        return
    if credentials is None:
        raise problem(401, ("header", "Authorization"), "missing bearer token: send Authorization: Bearer <API key>", "unauthorized",
                      headers={"WWW-Authenticate": 'Bearer realm="naswot"'})
    if not secrets.compare_digest(credentials.credentials.encode(), key.encode()):
        raise problem(401, ("header", "Authorization"), "wrong API key", "unauthorized",
                      headers={"WWW-Authenticate": 'Bearer realm="naswot", error="invalid_token"'})


def error(loc: Sequence[str | int], msg: str, type_: str, value: Any = None) -> dict[str, Any]:
    """One error item in FastAPI's format: where, what, which kind (and the offending input)."""
    item: dict[str, Any] = {"loc": list(loc), "msg": msg, "type": type_}
    if value is not None:
        item["input"] = value
    return item


def invalid(*errors: dict[str, Any]) -> RequestValidationError:
    """A 422 with the same body shape FastAPI gives for schema violations."""
    return RequestValidationError(list(errors))


def problem(status: int, loc: Sequence[str | int], msg: str, type_: str, headers: dict[str, str] | None = None) -> HTTPException:
    """Any other 4xx/5xx, with the same ``detail`` list shape."""
    return HTTPException(status, detail=[error(loc, msg, type_)], headers=headers)


ERRORS = {
    401: {"description": "missing or wrong bearer token (only when NASWOT_API_KEY is set)"},
    413: {"description": "request body larger than NASWOT_MAX_BODY_BYTES"},
    422: {"description": "invalid request: `detail` names each field (with item index) and the reason"},
}
