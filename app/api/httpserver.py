"""How ``naswot serve`` runs uvicorn: bounded connections, deadlines for a request's head and body, and an access log without secrets.

uvicorn closes an idle keep-alive connection, but holds a connection whose client never finishes its
headers or its body for ever (slow loris). :class:`DeadlineH11Protocol` gives each request a deadline
for its head (``NASWOT_HEADER_TIMEOUT``) and then one for its body (``NASWOT_BODY_TIMEOUT``), and
closes the connection when one passes. :class:`ServiceH11Protocol` also answers what uvicorn refuses itself
(a head over ``NASWOT_MAX_HEADER_BYTES``: 431, also when it comes in one write; a request h11 cannot parse:
400; a connection beyond ``NASWOT_MAX_CONNECTIONS``: 503 with ``Retry-After``) as the app answers: a JSON
``detail`` and the security headers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any
from urllib.parse import unquote_plus

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from app.api.headers import with_security_headers
from app.settings import Settings

#: query parameters whose values the access log never shows (by name as a server reads it: percent-decoded, any case)
SECRET_PARAMETERS = ("api_key", "apikey", "access_token", "token", "key")
_PARAMETER = re.compile(r"([?&;])([^=&;#\s\"]*)=([^&;#\s\"]*)")


def redact(text: str) -> str:
    """``text`` with the value of every :data:`SECRET_PARAMETERS` query parameter replaced by ``***``
    (``api%5Fkey`` and ``API_KEY`` are ``api_key`` to a server, so they are to this too)."""

    def hide(found: re.Match[str]) -> str:
        secret = unquote_plus(found.group(2)).lower() in SECRET_PARAMETERS
        return f"{found.group(1)}{found.group(2)}=***" if secret else found.group(0)

    return _PARAMETER.sub(hide, text)


class RedactSecrets(logging.Filter):
    """A filter for ``uvicorn.access``: the request line it logs never carries an API key given in the query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose client does not send a request's head, then its body, in time."""

    header_timeout = 10.0
    body_timeout = 30.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_for: object = None
        super().connection_made(transport)
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._arm(None, 0.0)
        super().connection_lost(exc)

    def _watch(self) -> None:
        """Arm the deadline of what the connection now waits for from the client (head, body), or none."""
        state = self.conn.their_state
        if state is h11.IDLE and self.conn.our_state is h11.IDLE:
            self._arm(h11.IDLE, self.header_timeout)
        elif state is h11.SEND_BODY:
            self._arm(h11.SEND_BODY, self.body_timeout)
        else:
            self._arm(None, 0.0)

    def _arm(self, waiting_for: object, seconds: float) -> None:
        """Start a deadline for ``waiting_for`` unless one runs for it already (a byte at a time does not extend it)."""
        if waiting_for is self._waiting_for and waiting_for is not None:
            return
        if self._deadline is not None:
            self._deadline.cancel()
        self._waiting_for = waiting_for
        self._deadline = self.loop.call_later(seconds, self._expire) if waiting_for is not None else None

    def _expire(self) -> None:
        part = "headers" if self._waiting_for is h11.IDLE else "body"
        self.logger.info("closing a connection from %s: its request %s did not arrive in time", self.client, part)
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def refusal(status: int, kind: str, msg: str, *extra: tuple[bytes, bytes]) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The headers and JSON body of an answer the server gives itself, in the app's error shape; the connection closes."""
    body = json.dumps({"detail": [{"loc": ["request"], "msg": msg, "type": kind}]}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close"), *extra]
    return with_security_headers(raw), body


#: seconds a client refused for too many connections is asked to wait
RETRY_AFTER_SECONDS = 1
#: seconds a refused request's connection stays half-open, its further bytes read and dropped, so that closing it
#: does not reset it under the answer (a client still sending a large head would otherwise never read the 431)
LINGER_SECONDS = 2.0


class ServiceH11Protocol(DeadlineH11Protocol):
    """:class:`DeadlineH11Protocol` whose own refusals (431, 400, 503) read like the app's answers."""

    max_header_bytes = 16_384

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connection_limit, self.limit_concurrency = self.limit_concurrency, None  # uvicorn's own check would answer in text
        self._app, self._head_too_large, self._lingering = self.app, False, False
        self._h11_next_event, self.conn.next_event = self.conn.next_event, self._next_event  # type: ignore[method-assign]

    def data_received(self, data: bytes) -> None:
        if not self._lingering:  # after a refusal the rest of the request is dropped unread
            super().data_received(data)

    def _next_event(self) -> Any:
        """h11's next event; a request's head over the limit is a protocol error, a request beyond the connections is refused."""
        event = self._h11_next_event()
        if isinstance(event, h11.Request):
            size = len(event.method) + len(event.target) + sum(len(name) + len(value) + 4 for name, value in event.headers) + 13
            if size > self.max_header_bytes:
                self._head_too_large = True
                raise h11.RemoteProtocolError("request head too large", error_status_hint=431)
            limit = self.connection_limit
            busy = limit is not None and (len(self.connections) >= limit or len(self.tasks) >= limit)
            self.app = self._too_many_connections if busy else self._app
        return event

    def send_400_response(self, msg: str) -> None:
        """Answer a request h11 refused (its head too large: 431, else 400) in JSON with the security headers, then close."""
        if self._head_too_large or len(self.conn.trailing_data[0]) > self.max_header_bytes:
            status, kind = 431, "header_too_large"
            text = f"request line and headers larger than {self.max_header_bytes} bytes (this server's NASWOT_MAX_HEADER_BYTES)"
        else:
            status, kind, text = 400, "bad_request", "not a valid HTTP/1.1 request"
        headers, body = refusal(status, kind, text)
        for event in (h11.Response(status_code=status, headers=headers), h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self._linger()

    def _linger(self) -> None:
        """Close after the answer without resetting the connection under it: half-close, drop what still comes, close
        after :data:`LINGER_SECONDS` (or at once where the transport cannot half-close)."""
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self._lingering = True
        self.transport.write_eof()
        self._arm(None, 0.0)
        self.loop.call_later(LINGER_SECONDS, self._close_now)

    def _close_now(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()

    def eof_received(self) -> bool | None:
        if self._lingering:
            self._close_now()
            return None
        return super().eof_received()

    async def _too_many_connections(self, scope: Any, receive: Any, send: Any) -> None:
        """The ASGI answer to a request beyond ``NASWOT_MAX_CONNECTIONS``: 503 with ``Retry-After``."""
        self.logger.warning("refused a request: %s connections are open (NASWOT_MAX_CONNECTIONS)", self.connection_limit)
        headers, body = refusal(
            503, "too_many_connections", f"{self.connection_limit} connections are open, this server's NASWOT_MAX_CONNECTIONS; retry later",
            (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
        )
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def protocol_for(settings: Settings) -> type[ServiceH11Protocol]:
    """:class:`ServiceH11Protocol` with ``settings``' deadlines and head limit."""
    options = {"header_timeout": settings.header_timeout, "body_timeout": settings.body_timeout, "max_header_bytes": settings.max_header_bytes}
    return type("ConfiguredH11Protocol", (ServiceH11Protocol,), options)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.run``/``uvicorn.Config`` that bound connections as ``settings`` say."""
    return {
        "http": protocol_for(settings),
        "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": settings.keep_alive_seconds,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "timeout_graceful_shutdown": 10,
    }
