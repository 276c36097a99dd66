"""``naswot search``: a search in this process or on a running service, with the same output either way.

Both paths produce the service's job view: ``status``, ``top``, ``pareto`` (with ``--minimize``) and
``evaluations``, each evaluation as ``{step, arch, score, singular, params, flops}`` (``score`` null when singular).

"""

from __future__ import annotations

import argparse
import functools
import threading
from collections.abc import Callable
from typing import Any

from scoring import DataSource, LatencyMeter, ScoredArch, Scorer, SearchCosts, from_json_number, open_source, resolve_device
from scoring.evaluate import ReferenceProgress
from search import Constraints, needs_latency, run_search
from search.options import given_constraints, given_params
from searchspace import ArchitectureError, SearchSpace, get_space

from app.client import ApiError, Client
from app.records import JobOutcome
from app.service.scorers import score_each

#: called with each new evaluation (as a JSON-ready dict)
OnEvaluation = Callable[[dict[str, Any]], None]


def pareto_columns(minimize: list[str]) -> list[str]:
    """The columns of the printed front: step, arch, score, then params, FLOPs and any other minimised cost."""
    return ["step", "arch", "score", "singular", "params", "flops", *(c for c in minimize if c not in ("params", "flops"))]


def search_request(args: argparse.Namespace) -> dict[str, Any]:
    """The search as ``POST /v1/searches`` takes it."""
    body: dict[str, Any] = {
        "space": args.space, "strategy": args.strategy, "budget": args.budget, "top_k": args.top_k, "seed": args.seed,
        "batch_size": args.batch_size, "constraints": given_constraints(args), "exclude_singular": args.exclude_singular,
        "latency_batch": args.latency_batch, **given_params(args),
    }
    if args.minimize:
        body["minimize"] = args.minimize
    if args.data is not None:
        body["data"] = args.data
    if args.score is not None:
        body["score"] = args.score
    return body


def run_local(
    args: argparse.Namespace, on_evaluation: OnEvaluation, stop: threading.Event | None = None, on_reference: ReferenceProgress | None = None,
) -> dict[str, Any]:
    """Score on this machine (``--device``) with the data spec ``--data`` (default ``auto``); once ``stop`` is set (Ctrl-C)
    the search ends before its next scoring call, ``cancelled`` with its results so far; ``on_reference`` is told
    the progress of an ensemble's reference sample if the search has to score one."""
    space = get_space(args.space)
    source = open_source(args.data or "auto", args.data_dir, download=args.download)
    scorer = Scorer(space, source, batch_size=args.batch_size, seed=args.seed, device=resolve_device(args.device), **score_option(args))
    scorer.on_reference = on_reference
    constraints = Constraints(**given_constraints(args) or {})
    result = run_search(
        args.strategy, space, functools.partial(each_or_failure, scorer),
        budget=args.budget, seed=args.seed, top_k=args.top_k,
        constraints=constraints, exclude_singular=args.exclude_singular,
        cost=local_costs(space, source, scorer, args.latency_batch if needs_latency(constraints.max_latency_ms, args.minimize or ()) else None),
        minimize=tuple(args.minimize or ()),
        on_evaluation=lambda e: on_evaluation(e.to_json()), should_stop=None if stop is None else stop.is_set, **given_params(args),
    )
    outcome = JobOutcome.of(result).model_dump(mode="json")
    return {
        "status": "cancelled" if result.stopped else "done", "space": space.name, "strategy": args.strategy, "seed": args.seed, "request": search_request(args),
        "data": source.describe(), "scorer": scorer.describe(), "outcome": outcome,
        "top": [e.to_json() for e in result.top],
        "pareto": [e.to_json() for e in result.pareto],
        "evaluations": [e.to_json() for e in result.history],
    }


def each_or_failure(scorer: Scorer, archs: list[str]) -> list[ScoredArch | ArchitectureError]:
    """Each architecture's record, or the :class:`~searchspace.ArchitectureError` that failed it alone (the search skips it);
    any other error stops the search."""
    results: list[ScoredArch | ArchitectureError] = []
    for _arch, outcome in score_each(scorer, archs, recover=lambda exc: None):
        if isinstance(outcome, BaseException) and not isinstance(outcome, ArchitectureError):
            raise outcome
        results.append(outcome)
    return results


def local_costs(space: SearchSpace, source: DataSource, scorer: Scorer, latency_batch: int | None) -> SearchCosts:
    """An in-process search's costs: parameters and FLOPs, and latency timed on the scorer's device when ``latency_batch`` is given
    (each architecture timed once, a batch of candidates together)."""
    meter = None if latency_batch is None else LatencyMeter(space, source, scorer.device, batch=latency_batch)
    return SearchCosts(space, source, scorer.num_classes, None if meter is None else meter.measure_many)


def score_option(args: argparse.Namespace) -> dict[str, Any]:
    """The Scorer's ``scores`` argument when a score is named (else the Scorer's default, naswot)."""
    return {} if args.score is None else {"scores": (args.score,)}


def run_remote(args: argparse.Namespace, on_evaluation: OnEvaluation, on_start: Callable[[dict[str, Any]], None],
               stop: threading.Event | None = None) -> dict[str, Any]:
    """Start the search on ``--url`` and follow its event stream; Ctrl-C cancels the job there, sets ``stop`` and
    answers the cancelled job with its results so far."""
    with Client(args.url, api_key=args.api_key) as client:
        job = client.start_search(**search_request(args))
        on_start(job)
        try:
            final = follow(client, job["id"], on_evaluation)
        except KeyboardInterrupt:
            final = cancel_and_wait(client, job["id"])
            if stop is not None:
                stop.set()
        return {**final, "evaluations": client.evaluations(job["id"])}


def cancel_and_wait(client: Client, job_id: str) -> dict[str, Any]:
    """Cancel the job on the server and its view once it has stopped (a job that finished meanwhile: as it finished)."""
    try:
        client.cancel(job_id)
    except ApiError as exc:
        if exc.status != 409:
            raise
    return client.wait(job_id, timeout=60, poll=0.1)


def follow(client: Client, job_id: str, on_evaluation: OnEvaluation) -> dict[str, Any]:
    """Pass each evaluation event on until the stream's ``end``; the job as it ended."""
    for event in client.events(job_id):
        if event.event == "evaluation":
            on_evaluation({key: event.data.get(key) for key in ("step", "arch", "score", "singular", "params", "flops", "latency_ms", "values")})
        elif event.event == "end":
            return event.data
    return client.search(job_id)


def best_of(best: float | None, evaluation: dict[str, Any]) -> float | None:
    """The best score so far after ``evaluation`` (``-inf`` for singular)."""
    score = from_json_number(evaluation["score"])
    return score if best is None or score > best else best
