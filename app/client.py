"""A synchronous Python client for the HTTP API (httpx).

    from app.client import Client
    with Client("http://127.0.0.1:8000", api_key=None) as c:
        c.score(["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"], data="noise")
        job = c.start_search(budget=50, data="noise")
        for event in c.events(job["id"]): ...
        c.wait(job["id"])
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

TERMINAL = ("done", "failed", "cancelled", "interrupted")


class ApiError(Exception):
    """A non-2xx answer: ``status``, ``detail`` (the list of ``{loc, msg, type}``) and ``retry_after`` seconds when given."""

    def __init__(self, status: int, detail: Any, retry_after: float | None = None):
        self.status = status
        self.detail = detail
        self.retry_after = retry_after
        super().__init__(f"HTTP {status}: {detail}")


@dataclass(frozen=True)
class Event:
    """One server-sent event: ``event`` type, ``data`` (parsed JSON) and ``id``."""

    event: str
    data: Any
    id: str | None = None


class Client:
    """The service's routes as methods. Pass ``http`` to reuse an ``httpx.Client`` (e.g. FastAPI's TestClient)."""

    def __init__(self, base_url: str = "http://127.0.0.1:8000", *, api_key: str | None = None, timeout: float = 300.0, http: httpx.Client | None = None):
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        if http is None:
            self.http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout)
        else:
            self.http = http
            self.http.headers.update(headers)
        self._owned = http is None

    def close(self) -> None:
        if self._owned:
            self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        return _answer(response)

    # -- scoring -----------------------------------------------------------------------------

    def score(
        self, archs: Sequence[Any], *, space: str = "nb201", data: str | None = None, batch_size: int = 128, seed: int = 0,
        score: str | Sequence[str] | None = None, costs: Sequence[str] = (), latency_batch: int = 1,
    ) -> dict[str, Any]:
        """``POST /v1/score``: results (one per arch), device and data used; ``score`` one name or several (the server's
        default: naswot); ``costs=["latency_ms"]`` adds each architecture's latency, timed on the server's scoring device."""
        body: dict[str, Any] = {"space": space, "archs": list(archs), "batch_size": batch_size, "seed": seed}
        if data is not None:
            body["data"] = data
        if score is not None:
            body["score"] = score if isinstance(score, str) else list(score)
        if costs:
            body.update(costs=list(costs), latency_batch=latency_batch)
        return self._call("POST", "/v1/score", json=body)

    # -- spaces ------------------------------------------------------------------------------

    def spaces(self) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/spaces")["spaces"]

    def sample(self, space: str = "nb201", n: int = 10, *, seed: int | None = 0, unique: bool = False) -> list[str]:
        return self._call("POST", f"/v1/spaces/{space}/sample", json={"n": n, "seed": seed, "unique": unique})["archs"]

    # -- searches ----------------------------------------------------------------------------

    def strategies(self) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/strategies")["strategies"]

    def start_search(self, **body: Any) -> dict[str, Any]:
        """``POST /v1/searches`` with the given fields (space, strategy, budget, top_k, seed, data, ...)."""
        return self._call("POST", "/v1/searches", json=body)

    def search(self, search_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/searches/{search_id}")

    def searches(self, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        return self._call("GET", "/v1/searches", params=params)["searches"]

    def evaluations(self, search_id: str) -> list[dict[str, Any]]:
        """Every evaluation of a job, in order (all pages)."""
        out: list[dict[str, Any]] = []
        after: int | None = 0
        while after is not None:
            page = self._call("GET", f"/v1/searches/{search_id}/evaluations", params={"after": after})
            out.extend(page["evaluations"])
            after = page["next_after"]
        return out

    def cancel(self, search_id: str) -> dict[str, Any]:
        return self._call("DELETE", f"/v1/searches/{search_id}")

    def wait(self, search_id: str, *, timeout: float = 600.0, poll: float = 0.5) -> dict[str, Any]:
        """Poll the status endpoint until the job finishes; raises ``TimeoutError``."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.search(search_id)
            if status["status"] in TERMINAL:
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"search {search_id} still {status['status']} after {timeout} s")
            time.sleep(poll)

    def events(self, search_id: str, *, last_event_id: str | None = None) -> Iterator[Event]:
        """The job's server-sent events until ``end`` (status, evaluation, progress, end)."""
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        with self.http.stream("GET", f"/v1/searches/{search_id}/events", headers=headers, timeout=None) as response:
            if response.status_code >= 400:
                response.read()
                _answer(response)
            yield from parse_events(response.iter_lines())

    # -- operations --------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/healthz")

    def ready(self) -> dict[str, Any]:
        """``/readyz`` as a dict (its ``ready`` says whether the server is ready; never raises for 503)."""
        response = self.http.get("/readyz")
        if response.status_code in (200, 503):
            return response.json()
        return _answer(response)

    def metrics(self) -> str:
        response = self.http.get("/metrics")
        if response.status_code >= 400:
            _answer(response)
        return response.text


def _answer(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail")
        except (json.JSONDecodeError, AttributeError):
            detail = response.text
        retry = response.headers.get("Retry-After")
        raise ApiError(response.status_code, detail, float(retry) if retry else None)
    return response.json()


def parse_events(lines: Iterator[str]) -> Iterator[Event]:
    """Server-sent events from a stream of lines (the ``text/event-stream`` format); comments skipped."""
    kind, data, event_id = "message", [], None
    for line in lines:
        if line == "":
            if data:
                yield Event(kind, json.loads("\n".join(data)), event_id)
            kind, data, event_id = "message", [], None
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            kind = value
        elif field == "data":
            data.append(value)
        elif field == "id":
            event_id = value
    if data:
        yield Event(kind, json.loads("\n".join(data)), event_id)
