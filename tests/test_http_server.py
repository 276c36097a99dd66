"""`naswot serve` itself on a loopback port: deadlines for a request's head and body, the connection limit, and
an access log that never shows an API key."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from app.api.serverproc import ServerProcess

KEY = "loopback-secret-key"
HEADER_TIMEOUT = 1.5
BODY_TIMEOUT = 2.0
MAX_CONNECTIONS = 6
#: what a disconnect may lag behind its deadline on a busy machine
SLACK = 3.0


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("http-server")
    env = {
        "NASWOT_DB": str(folder / "naswot.sqlite"), "NASWOT_DATA": "noise:3x8x8", "NASWOT_DATA_DIR": str(folder / "data"),
        "NASWOT_API_KEY": KEY, "NASWOT_LOG_LEVEL": "info", "NASWOT_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
        "NASWOT_BODY_TIMEOUT": str(BODY_TIMEOUT), "NASWOT_MAX_CONNECTIONS": str(MAX_CONNECTIONS), "NASWOT_MAX_EVENT_STREAMS": "2",
    }
    with ServerProcess(env, log=folder / "server.log") as running:
        yield running


def connect(server: ServerProcess) -> socket.socket:
    return socket.create_connection((server.host, server.port), timeout=30)


def seconds_until_closed(sock: socket.socket, trickle: bytes = b"", every: float = 0.3, limit: float = 30.0) -> float:
    """Seconds until the server closes ``sock``, sending ``trickle`` (one byte at a time) meanwhile, as a slow client does."""
    started = time.monotonic()
    sock.settimeout(every)
    pending = list(trickle)
    while time.monotonic() - started < limit:
        if pending:
            try:
                sock.send(bytes([pending.pop(0)]))
            except OSError:
                break
        try:
            if sock.recv(4096) == b"":
                break
        except TimeoutError:
            continue
        except OSError:
            break
    return time.monotonic() - started


@pytest.mark.parametrize(
    ("sent", "trickle", "deadline"),
    [(b"", b"", HEADER_TIMEOUT), (b"GET /healthz HTTP/1.1\r\n", b"X-Slow: " + b"a" * 200, HEADER_TIMEOUT),
     (b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n", b'{"archs": ["' + b"a" * 200, BODY_TIMEOUT)],
    ids=["silent", "slow-headers", "slow-body"],
)
def test_a_slow_client_is_disconnected_at_its_deadline(server, sent, trickle, deadline):
    with connect(server) as sock:
        sock.sendall(sent)
        held = seconds_until_closed(sock, trickle)
    assert deadline - 0.2 <= held < deadline + SLACK, f"the connection was held {held:.1f} s (deadline {deadline} s)"


def test_a_prompt_client_keeps_its_connection_across_requests(server):
    with httpx.Client(base_url=server.url, timeout=30) as http:
        first = http.get("/healthz")
        time.sleep(HEADER_TIMEOUT / 2)
        second = http.get("/healthz")
    assert first.status_code == second.status_code == 200


def test_connections_beyond_the_limit_get_503_until_others_close(server):
    held = [connect(server) for _ in range(MAX_CONNECTIONS)]
    try:
        beyond = httpx.get(server.url + "/healthz", timeout=30)
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    assert beyond.status_code == 503, f"{MAX_CONNECTIONS} open connections, yet another request got {beyond.status_code}"
    assert httpx.get(server.url + "/healthz", timeout=30).status_code == 200


def test_an_api_key_in_the_query_string_is_refused_and_never_logged(server):
    response = httpx.get(server.url + f"/v1/spaces?api_key={KEY}&limit=1", timeout=30)
    time.sleep(0.3)  # the access line is written after the answer
    log = server.log_tail(200_000)
    assert response.status_code == 401, "only the Authorization header carries the key"
    assert "/v1/spaces?api_key=***&limit=1" in log, "the access log shows the request, key hidden"
    assert KEY not in log


def raw_exchange(server: ServerProcess, request: bytes, chunk: int | None = None) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` (in one write, or ``chunk`` bytes at a time) and read the answer to the close: status, headers, body."""
    with connect(server) as sock:
        try:
            for start in range(0, len(request), chunk or len(request)):
                sock.sendall(request[start : start + (chunk or len(request))])
        except OSError:
            pass  # the server answered and closed before the rest was sent
        answer = b""
        while (part := sock.recv(65536)) != b"":
            answer += part
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def assert_documented(status: int, headers: dict[str, str], body: bytes, expected: int, kind: str) -> None:
    """A refusal from the server itself reads like every other answer: JSON detail, the security headers."""
    import json

    from app.api.headers import SECURITY_HEADERS

    assert status == expected, (status, headers, body[:200])
    assert headers.get("content-type") == "application/json", headers
    assert [d["type"] for d in json.loads(body)["detail"]] == [kind], body
    missing = {name for name, value in SECURITY_HEADERS.items() if headers.get(name.lower()) != value}
    assert not missing, f"a {status} lacks {missing}"


@pytest.mark.parametrize(("size", "chunk"), [(17_000, None), (60_000, None), (40_000, 4096)], ids=["17KB", "60KB", "streamed"])
def test_a_request_head_over_the_limit_gets_431(server, size, chunk):
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * size + b"\r\n\r\n"
    status, headers, body = raw_exchange(server, request, chunk)
    assert_documented(status, headers, body, 431, "header_too_large")


def test_an_invalid_request_line_gets_a_json_400_with_the_security_headers(server):
    status, headers, body = raw_exchange(server, b"THIS IS NOT HTTP\r\n\r\n")
    assert_documented(status, headers, body, 400, "bad_request")


def test_the_503_beyond_the_connection_limit_is_json_with_retry_after(server):
    held = [connect(server) for _ in range(MAX_CONNECTIONS)]
    try:
        status, headers, body = raw_exchange(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    assert_documented(status, headers, body, 503, "too_many_connections")
    assert headers.get("retry-after", "").isdigit(), headers
