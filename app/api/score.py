"""``POST /v1/score``: architectures -> scores, through the cache, the in-flight table and a device worker."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool


from scoring import LATENCY, InputMismatch, MeasuredCost, ScoredArch, check_pairing
from searchspace import ArchitectureError, EncodingError, SearchSpace, SpaceUnavailable, get_space, list_spaces

from app.service.budget import request_gflop
from app.service.dispatch import NoWorker, QueueFull
from app.service.latency import LatencyUnavailable
from app.api.schemas import ErrorResponse, ScoreRequest, ScoreResponse, ScoreResult
from app.service.scorers import ScoreSpec, is_out_of_memory
from app.service.core import Service
from app.store import StoreError
from app.service.sources import SourceUnavailable, UnknownSource, describe, image_count
from app.service.taskqueue import INTERACTIVE, WorkerStopped
from app.api.deps import ERRORS, RETRY_LATER, ServiceDep, error, invalid, problem, unavailable
from app.api.errors import StrictJSONRoute

router = APIRouter(prefix="/v1/score", tags=["scoring"], route_class=StrictJSONRoute)


@dataclass
class Prepared:
    specs: list[ScoreSpec]  # one per requested score, the primary first
    archs: list[str]
    data: dict[str, Any]

    @property
    def spec(self) -> ScoreSpec:
        """The primary score's spec (each result's ``score``)."""
        return self.specs[0]


def check_space(name: str) -> SearchSpace:
    """The named space, or a 422 on ``space`` listing the known ones."""
    try:
        return get_space(name)
    except SpaceUnavailable:
        raise invalid(error(("body", "space"), unavailable(name), "value_error", name)) from None
    except KeyError:
        raise invalid(error(("body", "space"), f"unknown search space {name!r}; known: {', '.join(list_spaces())}", "value_error", name)) from None


def open_data(service: Service, name: str | None, batch_size: int) -> tuple[str, Any]:
    """The data source a request names (422 on ``data`` when unknown or unavailable; on ``batch_size`` when too large)."""
    settings = service.settings
    try:
        resolved, source = service.sources.open(name)
    except (UnknownSource, SourceUnavailable) as exc:
        raise invalid(error(("body", "data"), settings.hide_paths(str(exc)), "value_error", name)) from None
    if batch_size > settings.max_batch_size:
        raise invalid(error(("body", "batch_size"), f"at most {settings.max_batch_size} on this server (NASWOT_MAX_BATCH_SIZE)", "less_than_equal", batch_size))
    available = image_count(source)
    if available is not None and batch_size > available:
        raise invalid(error(("body", "batch_size"), f"data source {resolved!r} holds only {available} images", "less_than_equal", batch_size))
    return resolved, source


def check_input(space: SearchSpace, name: str, source: Any) -> None:
    """A 422 naming ``space`` and ``data`` when the source's images cannot feed the space's networks (channel counts)."""
    try:
        check_pairing(space, source)
    except InputMismatch as exc:
        raise invalid(*(error(("body", field), str(exc), "input_mismatch", value) for field, value in (("space", space.name), ("data", name)))) from None


def canonical_archs(space: SearchSpace, archs: list[Any]) -> list[str]:
    """Canonical encodings; every bad item is reported (index, token, reason) in one 422."""
    out: list[str] = []
    problems = []
    for i, arch in enumerate(archs):
        try:
            out.append(space.canonical(arch))
        except EncodingError as exc:
            problems.append(error(("body", "archs", i), str(exc), "encoding_error", arch))
        except (TypeError, ValueError) as exc:  # a space that raises a plain error for a wrong JSON type
            problems.append(error(("body", "archs", i), f"not a {space.name} architecture: {exc}", "encoding_error", arch))
    if problems:
        raise invalid(*problems)
    return out


def check_latency(service: Service, batch: int, loc: tuple[str, ...]) -> None:
    """A 422 on ``latency_batch`` over the server's batch limit, or on ``loc`` when this server cannot measure latency."""
    if batch > service.settings.max_batch_size:
        raise invalid(error(("body", "latency_batch"), f"at most {service.settings.max_batch_size} on this server (NASWOT_MAX_BATCH_SIZE)", "less_than_equal", batch))
    try:
        service.latency.device()
    except LatencyUnavailable as exc:
        raise invalid(error(loc, str(exc), "latency_unavailable")) from None


def prepare(service: Service, body: ScoreRequest) -> Prepared:
    space = check_space(body.space)
    if len(body.archs) > service.settings.max_archs:
        raise invalid(error(("body", "archs"), f"at most {service.settings.max_archs} architectures per request on this server (NASWOT_MAX_ARCHS), got {len(body.archs)}", "too_long"))
    archs = canonical_archs(space, body.archs)
    name, source = open_data(service, body.data, body.batch_size)
    check_input(space, name, source)
    if LATENCY in body.costs:
        check_latency(service, body.latency_batch, ("body", "costs"))
    specs = [ScoreSpec(space, source, body.batch_size, body.seed, score=score) for score in body.scores]
    return Prepared(specs, archs, describe(name, source))


def check_work(service: Service, body: ScoreRequest, spec: ScoreSpec, archs: list[str]) -> None:
    """A 422 on ``archs`` when scoring ``archs`` (those not cached) asks for more device work than ``NASWOT_MAX_REQUEST_GFLOP``
    (see :mod:`app.service.budget`)."""
    limit = service.settings.max_request_gflop
    latency_batch = body.latency_batch if LATENCY in body.costs else None
    work = request_gflop(spec.space, spec.source, archs, spec.num_classes, spec.batch_size, latency_batch)
    if work > limit:
        raise invalid(error(
            ("body", "archs"),
            f"this request asks for {work:,.0f} GFLOP of device work (each architecture's FLOPs times the images of its passes), more than "
            f"{limit:,.0f} on this server (NASWOT_MAX_REQUEST_GFLOP): send fewer or smaller architectures, or a smaller batch_size or latency_batch",
            "too_much_work",
        ))


def _submit(service: Service, body: ScoreRequest) -> tuple[Prepared, list[Future[ScoredArch]], str]:
    """A future per architecture for its record with every requested score (each cached on its own, computed jointly), and the device."""
    prepared = prepare(service, body)
    try:
        futures, device = service.dispatcher.submit_all(
            prepared.specs, prepared.archs, admit=lambda new: check_work(service, body, prepared.spec, new),
        )
    except QueueFull as exc:
        raise problem(429, ("body", "archs"), str(exc), "queue_full", headers={"Retry-After": str(exc.retry_after)}) from None
    except (NoWorker, WorkerStopped, StoreError) as exc:
        raise problem(503, ("server",), str(exc), "unavailable", headers=RETRY_LATER) from None
    return prepared, futures, device


async def _wait(future: Future[ScoredArch]) -> ScoredArch:
    """Await a worker's future without cancelling it when this request goes away (others may share it)."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[ScoredArch] = loop.create_future()

    def relay(done: Future[ScoredArch]) -> None:
        def settle() -> None:
            if waiter.cancelled():
                return
            exc = done.exception()
            if exc is not None:
                waiter.set_exception(exc)
            else:
                waiter.set_result(done.result())

        loop.call_soon_threadsafe(settle)

    future.add_done_callback(relay)
    return await waiter


@router.post(
    "",
    response_model=ScoreResponse,
    summary="Score architectures",
    responses={**ERRORS, 429: {"model": ErrorResponse, "description": "queue full; retry after Retry-After seconds"},
               503: {"model": ErrorResponse, "description": "out of device memory for this request, no device worker, or the database busy or unreachable"}},
)
async def score(body: ScoreRequest, service: ServiceDep) -> ScoreResponse:
    """Score each architecture (canonical encoding, score or `null` with `singular: true`, parameters, FLOPs, seconds, `cached`)."""
    start = time.perf_counter()
    prepared, futures, device = await run_in_threadpool(_submit, service, body)
    outcomes = await asyncio.gather(*(_wait(f) for f in futures), return_exceptions=True)
    failures = [(i, outcome) for i, outcome in enumerate(outcomes) if isinstance(outcome, BaseException) and not isinstance(outcome, ArchitectureError)]
    if failures:
        raise _failure(failures, prepared)
    records = {i: outcome for i, outcome in enumerate(outcomes) if isinstance(outcome, ScoredArch)}
    latency_device = None
    if LATENCY in body.costs and records:
        records, latency_device = await run_in_threadpool(_with_latency, service, body, prepared, records)
    results = [ScoreResult(**records[i].to_json()) if i in records else _unmade(prepared.archs[i], outcome, device) for i, outcome in enumerate(outcomes)]
    names = [spec.score for spec in prepared.specs]
    cached = sum(r.cached for r in results)
    return ScoreResponse(
        results=results, device=device, latency_device=latency_device, data=prepared.data, space=prepared.spec.space.name, batch_size=prepared.spec.batch_size,
        seed=prepared.spec.seed, score_name=prepared.spec.score, score_names=names, precision=prepared.spec.precision,
        computed=len({r.arch for r in results if not r.cached and r.error is None}), cached=cached, seconds=round(time.perf_counter() - start, 6),
    )


def _unmade(arch: str, exc: BaseException, device: str) -> ScoreResult:
    """The result of an architecture whose network could not be built or run: no figures, the reason (the others are unaffected)."""
    return ScoreResult(arch=arch, score=None, singular=False, params=None, flops=None, seconds=0.0, cached=False, device=device, error=str(exc))


def _with_latency(service: Service, body: ScoreRequest, prepared: Prepared, records: dict[int, ScoredArch]) -> tuple[dict[int, ScoredArch], str]:
    """``records`` (by request index) with each architecture's measured latency among its costs, and the identity of the device that measured them."""
    spec = prepared.spec
    try:
        _, identity = service.latency.device()
        figures = service.latency.measure(spec.space, spec.source, [r.arch for r in records.values()], body.latency_batch, priority=INTERACTIVE)
    except (LatencyUnavailable, WorkerStopped, StoreError) as exc:
        raise problem(503, ("server",), f"latency could not be measured: {exc}", "unavailable", headers=RETRY_LATER) from None
    return {i: r.with_costs(MeasuredCost.of(r, ms)) for (i, r), ms in zip(records.items(), figures)}, identity


def _failure(failures: list[tuple[int, BaseException]], prepared: Prepared) -> Exception:
    """The HTTP error for architectures whose scoring failed: a 503 to retry, a 422 naming each bad one, else the error."""
    unavailable = _unavailable(failures, prepared)
    if unavailable is not None:
        return unavailable
    invalid_items = [(i, e) for i, e in failures if isinstance(e, ValueError)]
    if len(invalid_items) == len(failures):
        return invalid(*(error(("body", "archs", i), str(e), "value_error") for i, e in invalid_items))
    return failures[0][1] if isinstance(failures[0][1], Exception) else RuntimeError(str(failures[0][1]))


def _unavailable(failures: list[tuple[int, BaseException]], prepared: Prepared) -> HTTPException | None:
    """The 503 (with Retry-After) for failures that a retry may get past: device memory (naming each architecture),
    the score store, or no running worker; None when there are none."""
    retry = RETRY_LATER
    oom = [i for i, e in failures if is_out_of_memory(e)]
    if oom:
        items = [
            error(("body", "archs", i), f"out of device memory scoring {prepared.archs[i]} with batch_size {prepared.spec.batch_size}; "
                  "nothing else was affected: retry later or with a smaller batch_size", "out_of_memory")
            for i in oom
        ]
        return HTTPException(503, detail=items, headers=retry)
    unstored = [(i, e) for i, e in failures if isinstance(e, StoreError)]
    if unstored:
        items = [error(("body", "archs", i), f"scored, but the score cache could not store it ({e}); retry later", "store_unavailable") for i, e in unstored]
        return HTTPException(503, detail=items, headers=retry)
    stopped = [e for _, e in failures if isinstance(e, (WorkerStopped, NoWorker))]
    if stopped:
        return problem(503, ("server",), str(stopped[0]), "unavailable", headers=retry)
    return None
