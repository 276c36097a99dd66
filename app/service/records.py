"""The records that flow through the service: a scored architecture, and a search job with its request.

:class:`ScoredArch` is the one record of a scored architecture, from the device worker through the
store to the HTTP answer; its score is ``-inf`` when K_H is singular, and ``null`` in JSON and SQL
(through :mod:`scoring.undefined`). :class:`JobRecord` is a stored search job, typed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from scoring import ArchScore, from_json_number, json_number
from search import Constraints, Evaluation, SearchResult

JobStatus = Literal["queued", "running", "done", "failed", "cancelled", "interrupted"]
#: job states that have not finished (a restart resumes them)
ACTIVE: tuple[JobStatus, ...] = ("queued", "running")
#: job states that never change again
TERMINAL: tuple[JobStatus, ...] = ("done", "failed", "cancelled", "interrupted")


@dataclass(frozen=True)
class ScoredArch:
    """One scored architecture: ``score`` is ``-inf`` exactly when K_H is singular; ``step`` places it in a search."""

    arch: str
    score: float
    params: int
    flops: int
    seconds: float = 0.0
    device: str = ""
    cached: bool = False
    step: int | None = None
    latency_ms: float | None = None  # an evaluation's measured latency, when its search measured one

    @property
    def singular(self) -> bool:
        return self.score == -math.inf

    @property
    def nullable_score(self) -> float | None:
        """The score as JSON and SQL carry it: ``None`` when singular."""
        return json_number(self.score)

    #: the inverse of :attr:`nullable_score`: ``None`` is ``-inf``
    score_from = staticmethod(from_json_number)

    @classmethod
    def computed(cls, result: ArchScore, device: str) -> ScoredArch:
        """A score a device just computed."""
        return cls(result.arch, result.score, result.params, result.flops, result.seconds, device)

    @classmethod
    def evaluated(cls, evaluation: Evaluation) -> ScoredArch:
        """A search's evaluation (its step, no timing)."""
        return cls(evaluation.arch, evaluation.score, evaluation.params, evaluation.flops, step=evaluation.step, latency_ms=evaluation.latency_ms)

    def from_cache(self) -> ScoredArch:
        """The same result, answered without device work."""
        return replace(self, cached=True)

    def to_json(self) -> dict[str, Any]:
        """JSON-safe fields (``score`` null and ``singular`` true when singular): an evaluation's step, or a score's timing and device."""
        head = {"step": self.step} if self.step is not None else {}
        out = {**head, "arch": self.arch, "score": self.nullable_score, "singular": self.singular, "params": self.params, "flops": self.flops}
        if self.step is None:
            out.update(seconds=self.seconds, cached=self.cached, device=self.device)
        else:
            out["latency_ms"] = self.latency_ms
        return out


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SearchSpec(_Frozen):
    """A search request as accepted and stored: everything needed to run (and replay) it."""

    space: str
    strategy: str
    budget: int
    top_k: int
    seed: int
    data: str
    batch_size: int
    #: the batch a latency is timed with, when the search measures latency
    latency_batch: int = 1
    #: canonical score name (jobs stored before scores had names used naswot)
    score: str = "naswot"
    #: further canonical score names computed (and reported) for every evaluated architecture; ``score`` alone ranks
    reported_scores: tuple[str, ...] = ()
    constraints: Constraints | None = None
    exclude_singular: bool = False
    strategy_params: dict[str, Any] = Field(default_factory=dict)
    #: costs minimised beside maximising the score (see :data:`search.COSTS`): a multi-objective search
    minimize: tuple[str, ...] = ()

    @property
    def scores(self) -> tuple[str, ...]:
        """Every score of the search: the ranking one first, then the reported ones."""
        return (self.score, *self.reported_scores)


class DataRef(_Frozen):
    """The data source a job scores on: its request name, spec and content identity."""

    name: str
    spec: str
    identity: str
    synthetic: bool


class JobOutcome(_Frozen):
    """How a finished search ended (counts from :class:`search.SearchResult`)."""

    stopped: bool
    exhausted: bool
    rejected: int
    immigrants: int
    evaluated: int
    budget: int

    @classmethod
    def of(cls, result: SearchResult) -> JobOutcome:
        return cls(
            stopped=result.stopped, exhausted=result.exhausted, rejected=result.rejected,
            immigrants=result.immigrants, evaluated=result.evaluated, budget=result.budget,
        )


class JobRecord(_Frozen):
    """A stored search job."""

    id: str
    status: JobStatus
    request: SearchSpec
    data: DataRef | None
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    resumed: int = 0
    cancel_requested: bool = False
    error: str | None = None
    outcome: JobOutcome | None = None
    device: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> JobRecord:
        """From a database row whose ``request``, ``data`` and ``outcome`` columns hold JSON text."""
        fields = dict(row)
        for name, model in (("request", SearchSpec), ("data", DataRef), ("outcome", JobOutcome)):
            fields[name] = model.model_validate_json(fields[name]) if fields[name] else None
        fields["cancel_requested"] = bool(fields["cancel_requested"])
        return cls(**fields)
