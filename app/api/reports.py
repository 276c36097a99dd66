"""``GET /v1/searches/{id}/report``: the size-bias report over a search's evaluations (the dashboard's bias panel)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from searchspace import get_space

from app.analysis.report import Row, base_archs, bias_report
from app.service.core import Service
from app.api.deps import JobDep, ServiceDep
from app.api.searches import NOT_FOUND

router = APIRouter(prefix="/v1/searches", tags=["searches"])

#: evaluations read per page from the store
PAGE = 5000


def job_rows(service: Service, job_id: str) -> list[Row]:
    """Every evaluation of a job as report rows (singular scores as ``-inf``)."""
    rows: list[Row] = []
    after = 0
    while page := service.store.evaluations(job_id, after, PAGE):
        rows += [Row(e.arch, e.score, e.params, e.flops, latency_ms=e.latency_ms) for e in page]
        after = page[-1].step
    return rows


@router.get("/{search_id}/report", responses=NOT_FOUND, summary="Size bias of a search's evaluations")
async def search_report(
    job: JobDep,
    service: ServiceDep,
    top_k: int | None = Query(None, ge=1, le=100000, description="top-k for the op shares (default: a tenth of the evaluations)"),
) -> dict[str, Any]:
    """Kendall and Spearman of the score with #params and FLOPs, each op's share among the top-k against the space's base rate,
    and the size bias of the Pareto front over the search's `minimize` costs (params when it minimises none)."""
    rows = await run_in_threadpool(job_rows, service, job.id)
    request = job.request
    base = await run_in_threadpool(base_archs, request.space)
    figures = await run_in_threadpool(bias_report, get_space(request.space), rows, base, top_k=top_k, score_name=request.score, minimize=request.minimize)
    return {"id": job.id, "status": job.status, "space": request.space, **figures}
