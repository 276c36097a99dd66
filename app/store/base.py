"""What the service asks of its database, independent of the backend."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from scoring import LatencyKey, ScoredArch, definition_name

from app.records import JobOutcome, JobRecord, JobStatus


class StoreError(RuntimeError):
    """The database could not do what was asked (the message says why)."""


class StoreBusy(StoreError):
    """Another connection held the database longer than the busy timeout."""


@dataclass(frozen=True)
class CacheKey:
    """Everything that determines a score except the architecture."""

    space: str  # the space's identity: its name (a space file's adds a digest of the file and its builder)
    data: str  # the data source's identity digest
    batch_size: int
    seed: int
    definition: str  # the score's definition name (:func:`for_score` makes it), stored in the score_name column
    precision: str
    #: the canonical score name a cached value is reported under (not part of the key: its definition is)
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.name:  # a key made from a definition alone reports its values under that name
            object.__setattr__(self, "name", self.definition)

    @classmethod
    def for_score(cls, space: str, data: str, batch_size: int, seed: int, score: str, precision: str) -> CacheKey:
        """The key of canonical score ``score``, stored under its definition name, so an earlier definition's values never match."""
        return cls(space, data, batch_size, seed, definition_name(score), precision, name=score)

    def of(self, arch: str) -> tuple:
        """The full key of ``arch`` under this key (for in-memory tables)."""
        return (self.space, self.data, self.batch_size, self.seed, self.definition, self.precision, arch)


@dataclass(frozen=True)
class ReferenceKey:
    """Everything that determines an ensemble's reference sample except the member score."""

    space: str
    data: str  # the data source's identity digest
    batch_size: int
    seed: int
    precision: str
    size: int  # architectures drawn for the sample (the space's size when smaller)

    @property
    def columns(self) -> tuple:
        """The key's columns, in table order."""
        return (self.space, self.data, self.batch_size, self.seed, self.precision, self.size)

    def row(self, member: str) -> tuple:
        """The key columns of ``member``'s row, in table order."""
        return (*self.columns, member)


def encode_values(values: Sequence[float]) -> str:
    """Sorted reference values as stored: ``float.hex`` text, so every value (``-inf`` too) comes back bit-exact."""
    return ",".join(float(v).hex() for v in values)


def decode_values(text: str) -> list[float]:
    """The inverse of :func:`encode_values`."""
    return [float.fromhex(v) for v in text.split(",")] if text else []


class Store(ABC):
    """The score cache, search jobs and each job's evaluations; every method is one atomic step, safe from any thread."""

    location: str
    #: other processes run jobs from the same database: this one runs a job only under a lease it holds
    shared: bool = False

    @abstractmethod
    def close(self) -> None:
        """Release the connection(s)."""

    @abstractmethod
    def problem(self) -> str | None:
        """Why the database cannot take writes right now (at once, never waiting), or ``None`` when it can."""

    # -- score cache ---------------------------------------------------------------------------

    @abstractmethod
    def get_scores(self, key: CacheKey, archs: Iterable[str]) -> dict[str, ScoredArch]:
        """Cached scores of ``archs`` under ``key``, each a record of the one value ``key.name`` (marked cached; missing ones absent)."""

    @abstractmethod
    def put_score(self, key: CacheKey, result: ScoredArch) -> None:
        """Cache the value ``key.name`` of a computed record."""

    @abstractmethod
    def count_scores(self) -> int:
        """Scores in the cache."""

    # -- ensemble reference samples -------------------------------------------------------------

    @abstractmethod
    def get_references(self, key: ReferenceKey) -> dict[str, list[float]]:
        """Member score -> its sorted values on the reference sample under ``key`` (members not stored are absent)."""

    @abstractmethod
    def put_reference(self, key: ReferenceKey, member: str, values: Sequence[float]) -> None:
        """Keep one member's sorted reference values (a value already stored under the key stays)."""

    @abstractmethod
    def delete_reference(self, key: ReferenceKey, member: str) -> bool:
        """Forget one member's reference values; False when none were stored."""

    # -- measured latencies ----------------------------------------------------------------------

    @abstractmethod
    def get_latency(self, key: LatencyKey) -> float | None:
        """The latency stored under ``key`` (its device identity included), or ``None``."""

    @abstractmethod
    def put_latency(self, key: LatencyKey, latency_ms: float) -> None:
        """Keep a measured latency (a figure already stored under the key stays)."""

    # -- jobs ----------------------------------------------------------------------------------

    @abstractmethod
    def create_job(self, job: JobRecord) -> None:
        """Store a new job."""

    @abstractmethod
    def get_job(self, job_id: str) -> JobRecord | None:
        """The job, or ``None``."""

    @abstractmethod
    def list_jobs(self, status: JobStatus | None = None, limit: int = 50, offset: int = 0) -> list[JobRecord]:
        """Jobs, newest first."""

    @abstractmethod
    def count_jobs(self) -> dict[str, int]:
        """Jobs per status."""

    @abstractmethod
    def active_jobs(self) -> list[JobRecord]:
        """Jobs still queued or running, oldest first (what a restart picks up)."""

    @abstractmethod
    def start_job(self, job_id: str, started_at: float) -> bool:
        """Queued -> running (clearing any old error); False when it was not queued."""

    @abstractmethod
    def requeue_job(self, job_id: str, resumed: int | None = None) -> bool:
        """Queued or running -> queued (a pause or a recovery), optionally setting the restart count."""

    @abstractmethod
    def finish_job(self, job_id: str, status: JobStatus, *, error: str | None = None, outcome: JobOutcome | None = None) -> bool:
        """Queued or running -> ``status`` (a terminal one), stamped now; False when it had already finished."""

    @abstractmethod
    def request_cancel(self, job_id: str) -> JobStatus | None:
        """Cancel a queued job at once or flag a running one; the status it had, ``None`` when unknown."""

    # -- leases (jobs shared by several processes) ----------------------------------------------

    @abstractmethod
    def claim_job(self, owner: str, lease_seconds: float) -> JobRecord | None:
        """Lease the oldest job nobody holds (queued, or running under an expired lease) to ``owner``; it is left queued.

        A job taken over from an owner whose lease expired counts as a restart (``resumed`` + 1).
        """

    @abstractmethod
    def renew_leases(self, owner: str, lease_seconds: float, job_ids: Collection[str] | None = None) -> dict[str, bool]:
        """Extend the leases ``owner`` holds (only those of ``job_ids`` when given): job id -> whether its cancel was requested."""

    # -- evaluations ---------------------------------------------------------------------------

    @abstractmethod
    def add_evaluation(self, job_id: str, evaluation: ScoredArch) -> None:
        """Record one evaluation (``evaluation.step`` set) with every value its search reported; a replay after a restart rewrites the same step."""

    @abstractmethod
    def evaluations(self, job_id: str, after_step: int = 0, limit: int = 1000) -> list[ScoredArch]:
        """A job's evaluations with ``step > after_step``, in order."""

    @abstractmethod
    def evaluated(self, job_id: str) -> int:
        """How many evaluations a job has."""

    @abstractmethod
    def top(self, job_id: str, k: int, exclude_singular: bool = False) -> list[ScoredArch]:
        """Best ``k`` evaluations: higher score first, singular last, earlier step first among ties."""
