"""How ``naswot serve`` runs uvicorn: bounded connections, deadlines for a request's head and body, and an access log without secrets.

uvicorn closes an idle keep-alive connection, but holds a connection whose client never finishes its
headers or its body for ever (slow loris). :class:`DeadlineH11Protocol` gives each request a deadline
for its head (``NASWOT_HEADER_TIMEOUT``) and then one for its body (``NASWOT_BODY_TIMEOUT``), and
closes the connection when one passes.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any
from urllib.parse import unquote_plus

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

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


def protocol_for(settings: Settings) -> type[DeadlineH11Protocol]:
    """:class:`DeadlineH11Protocol` with ``settings``' deadlines."""
    return type("ServiceH11Protocol", (DeadlineH11Protocol,), {"header_timeout": settings.header_timeout, "body_timeout": settings.body_timeout})


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.run``/``uvicorn.Config`` that bound connections as ``settings`` say."""
    return {
        "http": protocol_for(settings),
        "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": settings.keep_alive_seconds,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "timeout_graceful_shutdown": 10,
    }
