"""Search jobs: start (202), status, evaluations, a server-sent event stream, list, cancel; and the strategies."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.sse import EventSourceResponse, ServerSentEvent

from scoring import ScoredArch
from search import COSTS, Constraints, ParameterError, check_params, describe_strategies, list_strategies, strategy_params
from search.pareto import front_order
from searchspace import get_space, list_spaces

from app.service.jobs import JobConflict, TooManyJobs
from app.service.notify import TooManyStreams
from app.records import DataRef, JobRecord, JobRequest, JobStatus
from app.api.schemas import MAX_INT, ErrorResponse, EvaluationPage, SearchList, SearchRequest, SearchStatus, StrategyList
from app.service.core import Service
from app.store import StoreError
from app.api.deps import ERRORS, RETRY_LATER, JobDep, ServiceDep, error, invalid, problem
from app.api.errors import StrictJSONRoute
from app.api.score import check_input, check_latency, check_space, open_data

router = APIRouter(prefix="/v1/searches", tags=["searches"], route_class=StrictJSONRoute)
strategies_router = APIRouter(prefix="/v1/strategies", tags=["searches"], route_class=StrictJSONRoute)

#: seconds an event stream waits for news before it checks whether its client is still there
IDLE_SECONDS = 5.0
#: with a shared database, seconds between reads of a search that may run on another replica
SHARED_POLL_SECONDS = 1.0
#: evaluations read from the store at once while streaming
EVENT_PAGE = 500


def _check_params(body: SearchRequest) -> dict[str, Any]:
    """The strategy's parameters from the request; a 422 naming every field the strategy does not take or any bad value."""
    accepted = strategy_params(body.strategy)
    given = body.strategy_params()
    problems = [
        error(("body", name), f"not a parameter of strategy {body.strategy!r} (its parameters: {', '.join(accepted) or 'none'})", "extra_forbidden", value)
        for name, value in given.items()
        if name not in accepted
    ]
    if problems:
        raise invalid(*problems)
    try:
        check_params(body.strategy, body.budget, **given)
    except ParameterError as exc:
        raise invalid(error(("body", exc.field), str(exc), "value_error", given.get(exc.field, body.budget))) from exc
    return given


def _check_limits(service: Service, body: SearchRequest) -> None:
    """The server's own maxima of budget and top_k."""
    settings = service.settings
    if body.budget > settings.max_budget:
        raise invalid(error(("body", "budget"), f"at most {settings.max_budget} on this server (NASWOT_MAX_BUDGET)", "less_than_equal", body.budget))
    if body.top_k > settings.max_top_k:
        raise invalid(error(("body", "top_k"), f"at most {settings.max_top_k} on this server (NASWOT_MAX_TOP_K)", "less_than_equal", body.top_k))


def prepare_search(service: Service, body: SearchRequest) -> tuple[JobRequest, DataRef]:
    """(request as stored, data used) after checking every field against this server."""
    space = check_space(body.space)
    if body.strategy not in list_strategies():
        raise invalid(error(("body", "strategy"), f"unknown strategy {body.strategy!r}; this server offers: {', '.join(list_strategies())}", "value_error", body.strategy))
    params = _check_params(body)
    _check_limits(service, body)
    name, source = open_data(service, body.data, body.batch_size)
    check_input(space, name, source)
    if body.constraints is not None and body.constraints.max_latency_ms is not None:
        check_latency(service, body.latency_batch, ("body", "constraints", "max_latency_ms"))
    request = JobRequest(
        space=body.space, strategy=body.strategy, budget=body.budget, top_k=body.top_k, seed=body.seed, data=name,
        batch_size=body.batch_size, score=body.scores[0], reported_scores=tuple(body.scores[1:]), constraints=body.constraints,
        exclude_singular=body.exclude_singular, strategy_params=params, minimize=tuple(body.minimize),
        latency_batch=body.latency_batch,
    )
    return request, DataRef(name=name, spec=source.spec, identity=source.identity, synthetic=source.synthetic)


def view(service: Service, job: JobRecord) -> dict[str, Any]:
    """A job as ``GET /v1/searches/{id}`` shows it."""
    request = job.request
    size = get_space(request.space).size if request.space in list_spaces() else None
    budget = min(request.budget, size) if size is not None else request.budget
    top = evaluation_rows(service.store.top(job.id, request.top_k, request.exclude_singular))
    pareto = pareto_rows(service, job, budget)
    elapsed = ((job.finished_at or time.time()) - job.started_at) if job.started_at else 0.0
    progress = {"evaluated": service.store.evaluated(job.id), "budget": budget, "batch": service.jobs.scoring(job.id)}
    return {
        **job.model_dump(), "progress": progress, "elapsed": round(elapsed, 3), "best": top[0] if top else None, "top": top, "pareto": pareto,
        "space": request.space, "score": request.score, "strategy": request.strategy, "seed": request.seed, "top_k": request.top_k,
        "status_url": f"{router.prefix}/{job.id}", "events_url": f"{router.prefix}/{job.id}/events",
    }


def evaluation_rows(evaluations: list[ScoredArch]) -> list[dict[str, Any]]:
    """Evaluations as the API shows them, each with ``values``: every score its search computed for it, by name (null when undefined)."""
    return [e.to_json() for e in evaluations]


def pareto_rows(service: Service, job: JobRecord, budget: int) -> list[dict[str, Any]]:
    """With ``minimize``: the job's evaluations no other one dominates, by the first cost (singular ones out with exclude_singular).

    The front is taken over the stored evaluations themselves; only its members are expanded into rows.
    """
    request = job.request
    if not request.minimize:
        return []
    evaluations = [e for e in service.store.evaluations(job.id, 0, budget) if not (request.exclude_singular and e.singular)]
    return evaluation_rows([evaluations[i] for i in front_order(evaluations, request.minimize)])


NOT_FOUND = {404: {"model": ErrorResponse, "description": "no such search job"}}


@strategies_router.get("", response_model=StrategyList, summary="Search strategies and their parameters")
def strategies() -> StrategyList:
    """Each strategy with its parameters (as declared in `search/`: type, default, bounds, help), and the constraints every search may set."""
    return StrategyList.model_validate({"strategies": describe_strategies(), "constraints": Constraints.describe(), "costs": list(COSTS)})


@router.post(
    "", status_code=202, response_model=SearchStatus, summary="Start a search job",
    responses={**ERRORS, 429: {"model": ErrorResponse, "description": "too many searches waiting; retry after Retry-After seconds"}},
)
def start_search(body: SearchRequest, response: Response, service: ServiceDep) -> dict[str, Any]:
    """Queue a search; follow it at `status_url` or stream it from `events_url`."""
    request, data = prepare_search(service, body)
    try:
        job = service.jobs.submit(request, data)
    except TooManyJobs as exc:
        service.metrics.rejected.labels("searches").inc()
        raise problem(429, ("body",), str(exc), "queue_full", headers={"Retry-After": "30"}) from None
    response.headers["Location"] = f"{router.prefix}/{job.id}"
    return view(service, job)


@router.get("", response_model=SearchList, responses=ERRORS, summary="List search jobs, newest first")
def list_searches(
    service: ServiceDep,
    status: Annotated[JobStatus | None, Query(description="only jobs in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> dict[str, Any]:
    return {"searches": [view(service, job) for job in service.store.list_jobs(status, limit, offset)]}


@router.get("/{search_id}", response_model=SearchStatus, responses={**ERRORS, **NOT_FOUND}, summary="A search job's status, progress and top-k")
def get_search(job: JobDep, service: ServiceDep) -> dict[str, Any]:
    return view(service, job)


@router.get("/{search_id}/evaluations", response_model=EvaluationPage, responses={**ERRORS, **NOT_FOUND}, summary="Every evaluation of a job, in order")
def get_evaluations(
    job: JobDep,
    service: ServiceDep,
    after: Annotated[int, Query(ge=0, le=MAX_INT, description="return steps after this one")] = 0,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> dict[str, Any]:
    rows = evaluation_rows(service.store.evaluations(job.id, after, limit))
    return {"id": job.id, "evaluations": rows, "next_after": rows[-1]["step"] if len(rows) == limit else None}


@router.delete(
    "/{search_id}", response_model=SearchStatus, summary="Cancel a search job",
    responses={**ERRORS, **NOT_FOUND, 409: {"model": ErrorResponse, "description": "the job already finished"}},
)
def cancel_search(job: JobDep, service: ServiceDep) -> dict[str, Any]:
    """A queued job is cancelled at once; a running one stops before its next scoring call (`cancel_requested` true until then)."""
    try:
        updated = service.jobs.cancel(job.id)
    except JobConflict as exc:
        raise problem(409, ("path", "search_id"), str(exc), "conflict") from None
    return view(service, updated)


def last_event_step(
    last_event_id: Annotated[str | None, Header(max_length=32, description="resume after this evaluation step (a decimal integer)")] = None,
) -> int:
    """The step a reconnecting client saw last (0 when none); 422 unless a decimal integer in 0..2**63-1."""
    text = (last_event_id or "").strip()
    if not text:
        return 0
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_INT:
        raise invalid(error(("header", "last-event-id"), f"must be a decimal integer from 0 to {MAX_INT}", "int_parsing", last_event_id))
    return int(text)


def stream_slot(service: ServiceDep) -> Iterator[None]:
    """One of the NASWOT_MAX_EVENT_STREAMS event-stream slots, held until the stream ends; 429 when none is free."""
    try:
        slot = service.jobs.notifier.stream()
        slot.__enter__()
    except TooManyStreams as exc:
        raise problem(429, ("server",), str(exc), "too_many_streams", headers={"Retry-After": "10"}) from None
    try:
        yield
    finally:
        slot.__exit__(None, None, None)


def json_errors(responses: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    """``responses`` documented as JSON bodies: a route whose success is another media type (an event stream) still answers errors in JSON."""
    schema = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ErrorResponse.__name__}"}}}
    return {code: {"description": entry["description"], "content": schema} for code, entry in responses.items()}


@router.get(
    "/{search_id}/events", response_class=EventSourceResponse,
    responses=json_errors({**ERRORS, **NOT_FOUND, 429: {"model": ErrorResponse, "description": "too many event streams open (NASWOT_MAX_EVENT_STREAMS)"}}),
    summary="Server-sent events: status, each evaluation, progress, end",
)
async def search_events(
    request: Request, job: JobDep, service: ServiceDep,
    cursor: Annotated[int, Depends(last_event_step)], _slot: Annotated[None, Depends(stream_slot)],
) -> AsyncIterator[ServerSentEvent]:
    """`status` (on connect and on every change), `evaluation` (id = step), `progress` (after new evaluations and as a batch is scored), `end` (then the stream closes).
    Should the database become unavailable mid-stream: `error` (`detail` as in every error body, `retry` 5 s), then the stream closes; reconnect with `Last-Event-ID`."""
    try:
        async for event in _events(request, service, job, cursor):
            yield event
    except StoreError as exc:
        message = f"the database became unavailable ({exc}); reconnect with Last-Event-ID after {RETRY_LATER['Retry-After']} s"
        yield ServerSentEvent(event="error", data={"detail": [error(("server",), message, "store_unavailable")]}, retry=int(RETRY_LATER["Retry-After"]) * 1000)


async def _events(request: Request, service: Service, job: JobRecord, cursor: int) -> AsyncIterator[ServerSentEvent]:
    """The stream of one job: replays from ``cursor``, then follows the job's change notifications to its end."""
    notifier = service.jobs.notifier
    current = await run_in_threadpool(view, service, job)
    status, batch, budget = current["status"], current["progress"]["batch"], current["progress"]["budget"]
    yield ServerSentEvent(event="status", data=current)
    seen = -1
    while True:
        seen = notifier.version(job.id)
        # the job row before its evaluations: once it reads finished, every evaluation is already stored
        fresh = await run_in_threadpool(service.store.get_job, job.id)
        rows = await run_in_threadpool(service.store.evaluations, job.id, cursor, EVENT_PAGE)
        for row in evaluation_rows(rows):
            cursor = row["step"]
            yield ServerSentEvent(event="evaluation", id=str(cursor), data={**row, "evaluated": cursor, "budget": budget})
        current = await run_in_threadpool(view, service, fresh)
        if rows or current["progress"]["batch"] != batch:
            batch = current["progress"]["batch"]
            yield ServerSentEvent(event="progress", data=current)
        if current["status"] != status:
            status = current["status"]
            yield ServerSentEvent(event="status", data=current)
        if len(rows) == EVENT_PAGE:
            continue  # more to read at once
        if fresh.finished:
            yield ServerSentEvent(event="end", data=current)
            return
        wait = SHARED_POLL_SECONDS if service.store.shared else IDLE_SECONDS
        while not await notifier.changed(job.id, seen, wait):
            if await request.is_disconnected():
                return
            if service.store.shared:
                break  # the search may advance on another replica: read the database again
