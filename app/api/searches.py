"""Search jobs: start (202), status, evaluations, a server-sent event stream, list, cancel."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.sse import EventSourceResponse, ServerSentEvent

from search import ParameterError, check_params, describe_strategies, list_strategies, strategy_params
from searchspace import get_space, list_spaces

from ..jobs import JobConflict, TooManyJobs
from ..schemas import (
    ErrorResponse,
    EvaluationPage,
    JobStatus,
    SearchList,
    SearchRequest,
    SearchStatus,
    StrategyInfo,
    StrategyList,
)
from ..service import Service
from ..store import TERMINAL
from .deps import ERRORS, error, get_service, invalid, problem
from .score import check_space, open_data

router = APIRouter(tags=["searches"])

#: seconds between checks for news while streaming events
POLL_SECONDS = 0.1


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


def prepare_search(service: Service, body: SearchRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    """(request as stored, data used) after checking every field against this server."""
    settings = service.settings
    check_space(body.space)
    if body.strategy not in list_strategies():
        raise invalid(error(("body", "strategy"), f"unknown strategy {body.strategy!r}; this server offers: {', '.join(list_strategies())}", "value_error", body.strategy))
    params = _check_params(body)
    if body.budget > settings.max_budget:
        raise invalid(error(("body", "budget"), f"at most {settings.max_budget} on this server (NASWOT_MAX_BUDGET)", "less_than_equal", body.budget))
    if body.top_k > settings.max_top_k:
        raise invalid(error(("body", "top_k"), f"at most {settings.max_top_k} on this server (NASWOT_MAX_TOP_K)", "less_than_equal", body.top_k))
    name, source = open_data(service, body.data, body.batch_size)
    request = {
        "space": body.space, "strategy": body.strategy, "budget": body.budget, "top_k": body.top_k, "seed": body.seed,
        "data": name, "batch_size": body.batch_size,
        "constraints": body.constraints.model_dump() if body.constraints else None,
        "exclude_singular": body.exclude_singular, "strategy_params": params,
    }
    data = {"name": name, "spec": source.spec, "identity": source.identity, "synthetic": source.synthetic}
    return request, data


def view(service: Service, job: dict[str, Any]) -> dict[str, Any]:
    """A job as ``GET /v1/searches/{id}`` shows it."""
    request, job_id = job["request"], job["id"]
    size = get_space(request["space"]).size if request["space"] in list_spaces() else None
    budget = min(request["budget"], size) if size is not None else request["budget"]
    top = service.store.top(job_id, request["top_k"], request["exclude_singular"])
    started, finished = job["started_at"], job["finished_at"]
    elapsed = ((finished or time.time()) - started) if started else 0.0
    return {
        "id": job_id, "status": job["status"], "progress": {"evaluated": service.store.evaluated(job_id), "budget": budget, "batch": service.jobs.scoring(job_id)},
        "elapsed": round(elapsed, 3), "best": top[0] if top else None, "top": top,
        "space": request["space"], "strategy": request["strategy"], "seed": request["seed"], "top_k": request["top_k"],
        "data": job["data"], "request": request, "created_at": job["created_at"], "started_at": started, "finished_at": finished,
        "resumed": job["resumed"], "cancel_requested": job["cancel_requested"], "error": job["error"], "outcome": job["outcome"],
        "status_url": f"/v1/searches/{job_id}", "events_url": f"/v1/searches/{job_id}/events",
    }


def existing_job(search_id: str = Path(..., description="the id POST /v1/searches returned"), service: Service = Depends(get_service)) -> dict[str, Any]:
    job = service.store.get_job(search_id)
    if job is None:
        raise problem(404, ("path", "search_id"), f"no search job {search_id!r}", "not_found")
    return job


NOT_FOUND = {404: {"model": ErrorResponse, "description": "no such search job"}}


@router.get("/v1/strategies", response_model=StrategyList, summary="Search strategies and their parameters")
def strategies() -> StrategyList:
    return StrategyList(strategies=[StrategyInfo(**info) for info in describe_strategies()])


@router.post(
    "/v1/searches", status_code=202, response_model=SearchStatus, summary="Start a search job",
    responses={**ERRORS, 429: {"model": ErrorResponse, "description": "too many searches waiting; retry after Retry-After seconds"}},
)
def start_search(body: SearchRequest, response: Response, service: Service = Depends(get_service)) -> dict[str, Any]:
    """Queue a search; follow it at `status_url` or stream it from `events_url`."""
    request, data = prepare_search(service, body)
    try:
        job_id = service.jobs.submit(request, data)
    except TooManyJobs as exc:
        service.metrics.rejected.labels("searches").inc()
        raise problem(429, ("body",), str(exc), "queue_full", headers={"Retry-After": "30"}) from None
    response.headers["Location"] = f"/v1/searches/{job_id}"
    return view(service, service.store.get_job(job_id))  # type: ignore[arg-type]


@router.get("/v1/searches", response_model=SearchList, summary="List search jobs, newest first")
def list_searches(
    status: JobStatus | None = Query(None, description="only jobs in this state"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
    service: Service = Depends(get_service),
) -> dict[str, Any]:
    return {"searches": [view(service, job) for job in service.store.list_jobs(status, limit, offset)]}


@router.get("/v1/searches/{search_id}", response_model=SearchStatus, responses=NOT_FOUND, summary="A search job's status, progress and top-k")
def get_search(job: dict[str, Any] = Depends(existing_job), service: Service = Depends(get_service)) -> dict[str, Any]:
    return view(service, job)


@router.get("/v1/searches/{search_id}/evaluations", response_model=EvaluationPage, responses=NOT_FOUND, summary="Every evaluation of a job, in order")
def get_evaluations(
    after: int = Query(0, ge=0, description="return steps after this one"),
    limit: int = Query(1000, ge=1, le=10000),
    job: dict[str, Any] = Depends(existing_job),
    service: Service = Depends(get_service),
) -> dict[str, Any]:
    rows = service.store.evaluations(job["id"], after, limit)
    return {"id": job["id"], "evaluations": rows, "next_after": rows[-1]["step"] if len(rows) == limit else None}


@router.delete(
    "/v1/searches/{search_id}", response_model=SearchStatus, summary="Cancel a search job",
    responses={**NOT_FOUND, 409: {"model": ErrorResponse, "description": "the job already finished"}},
)
def cancel_search(job: dict[str, Any] = Depends(existing_job), service: Service = Depends(get_service)) -> dict[str, Any]:
    """A queued job is cancelled at once; a running one stops before its next scoring call (`cancel_requested` true until then)."""
    try:
        updated = service.jobs.cancel(job["id"])
    except JobConflict as exc:
        raise problem(409, ("path", "search_id"), str(exc), "conflict") from None
    return view(service, updated)


@router.get(
    "/v1/searches/{search_id}/events", response_class=EventSourceResponse, responses=NOT_FOUND,
    summary="Server-sent events: status, each evaluation, progress, end",
)
async def search_events(
    request: Request,
    job: dict[str, Any] = Depends(existing_job),
    service: Service = Depends(get_service),
    last_event_id: str | None = Header(None, description="resume after this evaluation step"),
) -> AsyncIterator[ServerSentEvent]:
    """`status` (on connect and on every change), `evaluation` (id = step), `progress` (after new evaluations and as a batch is scored), `end` (then the stream closes)."""
    job_id = job["id"]
    cursor = int(last_event_id) if last_event_id and last_event_id.isdigit() else 0
    current = await run_in_threadpool(view, service, job)
    status, batch = current["status"], current["progress"]["batch"]
    yield ServerSentEvent(event="status", data=current)
    seen_version = -1
    while True:
        version = service.jobs.version(job_id)
        if version != seen_version:
            seen_version = version
            # the job row before its evaluations: once it reads finished, every evaluation is already stored
            fresh = await run_in_threadpool(service.store.get_job, job_id)
            rows = await run_in_threadpool(service.store.evaluations, job_id, cursor, 500)
            for row in rows:
                cursor = row["step"]
                yield ServerSentEvent(event="evaluation", id=str(row["step"]), data={**row, "evaluated": row["step"], "budget": current["progress"]["budget"]})
            current = await run_in_threadpool(view, service, fresh)
            if rows or current["progress"]["batch"] != batch:
                batch = current["progress"]["batch"]
                yield ServerSentEvent(event="progress", data=current)
            if current["status"] != status:
                status = current["status"]
                yield ServerSentEvent(event="status", data=current)
            if len(rows) == 500:
                seen_version = -1  # more to read at once
                continue
            if status in TERMINAL:
                yield ServerSentEvent(event="end", data=current)
                return
        if await request.is_disconnected():
            return
        await asyncio.sleep(POLL_SECONDS)
