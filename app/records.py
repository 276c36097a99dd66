"""The records of a search job: its request as stored (:class:`JobRequest`), its data, how it ended, and the job itself.

A scored architecture is :class:`scoring.ScoredArch` everywhere, from the scorer through the store to the HTTP
answer; :class:`JobRecord` is a stored search job, typed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from search import Constraints, SearchResult

JobStatus = Literal["queued", "running", "done", "failed", "cancelled", "interrupted"]
#: job states that have not finished (a restart resumes them)
ACTIVE: tuple[JobStatus, ...] = ("queued", "running")
#: job states that never change again
TERMINAL: tuple[JobStatus, ...] = ("done", "failed", "cancelled", "interrupted")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class JobRequest(_Frozen):
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
    #: candidates skipped because their network could not be built or run, and the first few reasons (jobs stored before: 0)
    failed: int = 0
    failures: tuple[str, ...] = ()

    @classmethod
    def of(cls, result: SearchResult) -> JobOutcome:
        return cls(
            stopped=result.stopped, exhausted=result.exhausted, rejected=result.rejected, immigrants=result.immigrants,
            evaluated=result.evaluated, budget=result.budget, failed=result.failed, failures=tuple(result.failures),
        )


class JobRecord(_Frozen):
    """A stored search job."""

    id: str
    status: JobStatus
    request: JobRequest
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
        for name, model in (("request", JobRequest), ("data", DataRef), ("outcome", JobOutcome)):
            fields[name] = model.model_validate_json(fields[name]) if fields[name] else None
        fields["cancel_requested"] = bool(fields["cancel_requested"])
        return cls(**fields)
