"""What every search strategy shares: evaluations, constraints, budget and deduplication, results.

An evaluation is a :class:`scoring.ScoredArch` with its ``step``: the values its scorer reported, by name, and the
search's costs of it; the search ranks by its first value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from annotated_types import Ge, Gt, Le
from pydantic import BaseModel, ConfigDict, Field
from pydantic.fields import FieldInfo

from scoring import ScoredArch
from searchspace import ArchitectureError, ModelCost, SearchSpace

from .params import MAX_INT
from .pareto import front_order

#: canonical archs -> one result each, in the same order: a :class:`scoring.ScoredArch` (every value it computed, by
#: name, the ranking one first), or a bare number, the ranking score (``-inf`` when undefined), as a black-box objective
#: returns; or a :class:`searchspace.ArchitectureError` for an architecture whose network cannot be built or run (skipped)
ScoreFn = Callable[[Sequence[str]], Sequence["ScoredArch | float | ArchitectureError"]]
#: how many failure messages a result keeps (the count is exact)
KEPT_FAILURES = 5
#: the name a bare number's value is recorded under
SCORE = "score"


class Constraints(BaseModel):
    """Optional resource budgets; architectures over them are never scored nor returned.

    The one declaration of the constraints: the HTTP request, the stored job, the job runner
    and the CLI's options all use this model.  Each field ``max_<cost>`` bounds the
    :class:`~searchspace.ModelCost` attribute ``<cost>``, so a new constraint is one field here.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_params: int | None = Field(None, ge=1, le=MAX_INT, description="architectures with more parameters are never scored nor returned")
    max_flops: int | None = Field(None, ge=1, le=MAX_INT, description="architectures with more FLOPs per image are never scored nor returned")
    max_latency_ms: float | None = Field(
        None, gt=0, le=MAX_INT,
        description="architectures slower than this many milliseconds per forward pass (measured on the scoring device) are never scored nor returned",
    )

    def limits(self) -> dict[str, float]:
        """cost attribute -> its bound, for the constraints given."""
        return {name.removeprefix("max_"): limit for name, limit in self if limit is not None}

    def admits(self, cost: ModelCost) -> bool:
        """True when ``cost`` is within every bound (a bound on a cost ``cost`` lacks is a ValueError: measure it)."""
        return all(_cost_value(cost, attribute) <= limit for attribute, limit in self.limits().items())

    @property
    def active(self) -> bool:
        return bool(self.limits())

    @classmethod
    def describe(cls) -> list[dict[str, Any]]:
        """Each constraint's name, bounds and help, for listings."""
        return [{"name": name, "type": _number_type(info), **_bounds(info), "help": info.description or ""} for name, info in cls.model_fields.items()]


def _number_type(info: FieldInfo) -> str:
    """``number`` for a float field, else ``integer`` (as JSON Schema names them)."""
    return "number" if float in getattr(info.annotation, "__args__", (info.annotation,)) else "integer"


def _cost_value(cost: Any, attribute: str) -> float:
    value = getattr(cost, attribute, None)
    if value is None:
        raise ValueError(f"constraint max_{attribute} needs {attribute} in the search's costs, and they lack it")
    return value


def _bounds(info: FieldInfo) -> dict[str, Any]:
    """The ``minimum`` / ``maximum`` of a numeric pydantic field (an exclusive minimum as ``exclusive_minimum`` too)."""
    found: dict[str, Any] = {"minimum": None, "maximum": None, "exclusive_minimum": False}
    for rule in info.metadata:
        if isinstance(rule, Gt):
            found["minimum"], found["exclusive_minimum"] = rule.gt, True
        elif isinstance(rule, Ge):
            found["minimum"] = rule.ge
        elif isinstance(rule, Le):
            found["maximum"] = rule.le
    return found


class SearchStopped(Exception):
    """Raised inside a strategy when ``should_stop`` asks it to end early."""


def rank_key(e: ScoredArch) -> tuple[float, int]:
    """Higher score first; among equal scores the earlier evaluation first (deterministic)."""
    return (-e.score, e.step or 0)


@dataclass
class SearchResult:
    """What a search found: the ranked ``top`` and every evaluation in order (``history``)."""

    strategy: str
    budget: int
    evaluated: int
    top: list[ScoredArch]
    history: list[ScoredArch]
    stopped: bool = False
    rejected: int = 0  # candidates skipped for breaking the constraints
    exhausted: bool = False  # the strategy could find no new admissible architecture before the budget
    immigrants: int = 0  # evolution: random architectures scored because mutations kept repeating
    params: dict[str, Any] = field(default_factory=dict)  # the strategy's parameters, defaults filled in
    minimize: tuple[str, ...] = ()  # the costs minimised beside maximising the score (a multi-objective search)
    pareto: list[ScoredArch] = field(default_factory=list)  # with minimize: the eligible evaluations none dominates, by the first cost
    failed: int = 0  # candidates whose network could not be built or run (a space file's builder failed): skipped, not counted
    failures: list[str] = field(default_factory=list)  # the first few of their messages

    @property
    def best(self) -> ScoredArch | None:
        return self.top[0] if self.top else None


@dataclass
class SearchContext:
    """Book-keeping a strategy delegates to: scores each distinct admissible architecture once and counts it once.

    ``evaluate`` never scores beyond the budget, skips architectures that break the
    constraints (without scoring them) or whose network cannot be made (the scorer answered an
    :class:`~searchspace.ArchitectureError`), returns remembered evaluations for repeats, reports
    each new evaluation to ``on_evaluation`` and raises :class:`SearchStopped` when
    ``should_stop`` says so.
    """

    space: SearchSpace
    scorer: ScoreFn
    budget: int
    constraints: Constraints = field(default_factory=Constraints)
    exclude_singular: bool = False
    cost: Callable[[str], ModelCost] | None = None
    #: costs to minimise beside maximising the score, read by name from each evaluation (see :mod:`search.pareto`)
    minimize: tuple[str, ...] = ()
    on_evaluation: Callable[[ScoredArch], None] | None = None
    should_stop: Callable[[], bool] | None = None
    seen: dict[str, ScoredArch] = field(default_factory=dict)
    history: list[ScoredArch] = field(default_factory=list)
    rejected_archs: set[str] = field(default_factory=set)
    #: architectures whose network could not be built or run -> why (never evaluated, never counted against the budget)
    failed: dict[str, str] = field(default_factory=dict)
    immigrants: int = 0

    def __post_init__(self) -> None:
        if self.budget < 1:
            raise ValueError(f"budget must be >= 1, got {self.budget}")
        if self.space.size is not None:
            self.budget = min(self.budget, self.space.size)

    @property
    def remaining(self) -> int:
        return self.budget - len(self.history)

    def _cost(self, arch: str) -> ModelCost:
        return self.cost(arch) if self.cost is not None else self.space.cost(arch)

    def admissible(self, arch: str) -> bool:
        """True when ``arch`` meets the constraints and its network could be made (remembered, so each is checked once)."""
        if arch in self.seen:
            return True
        if arch in self.rejected_archs or arch in self.failed:
            return False
        try:
            if self.constraints.active and not self.constraints.admits(self._cost(arch)):
                self.rejected_archs.add(arch)
                return False
        except ArchitectureError as exc:
            self.failed[arch] = str(exc)
            return False
        return True

    def check_stop(self) -> None:
        if self.should_stop is not None and self.should_stop():
            raise SearchStopped

    def evaluate(self, archs: Iterable[str]) -> list[ScoredArch | None]:
        """ScoredArchs for ``archs`` (canonical), ``None`` for inadmissible ones and for new ones beyond the budget."""
        self.check_stop()
        archs = list(archs)
        self.prepare_costs(archs)
        new: list[str] = []
        for arch in archs:
            if arch not in self.seen and arch not in new and self.admissible(arch) and len(new) < self.remaining:
                new.append(arch)
        if new:
            results = list(self.scorer(new))
            if len(results) != len(new):
                raise RuntimeError(f"scorer returned {len(results)} results for {len(new)} architectures")
            for arch, result in zip(new, results):
                if isinstance(result, ArchitectureError):
                    self.failed[arch] = str(result)
                else:
                    self._record(self._evaluation(arch, result))
        return [self.seen.get(a) for a in archs]

    def prepare_costs(self, archs: list[str]) -> None:
        """Tell a cost callable that has ``prepare`` (a measured latency: :class:`scoring.SearchCosts`) which of
        ``archs`` are about to be costed, so it can measure them together: with constraints, every new candidate (each
        is checked); without, the new ones the budget leaves room for."""
        prepare = getattr(self.cost, "prepare", None)
        if prepare is None:
            return
        fresh = [a for a in dict.fromkeys(archs) if a not in self.seen and a not in self.rejected_archs and a not in self.failed]
        prepare(fresh if self.constraints.active else fresh[: self.remaining])

    def _evaluation(self, arch: str, result: ScoredArch | float) -> ScoredArch:
        """The next step's record: the scorer's result (every value it reported) with the search's costs of ``arch``."""
        step = len(self.history) + 1
        if isinstance(result, ScoredArch):
            return replace(result.with_costs(self._cost(arch)), arch=arch, step=step)
        return ScoredArch.of(arch, {SCORE: float(result)}, self._cost(arch), step=step)

    def _record(self, e: ScoredArch) -> None:
        self.seen[e.arch] = e
        self.history.append(e)
        if self.on_evaluation is not None:
            self.on_evaluation(e)

    def eligible(self, e: ScoredArch) -> bool:
        """May ``e`` be returned (or chosen as a parent)?"""
        return not (self.exclude_singular and e.singular)

    def result(
        self,
        strategy: str,
        top_k: int,
        *,
        stopped: bool = False,
        exhausted: bool = False,
        params: dict[str, Any] | None = None,
    ) -> SearchResult:
        """The ranked outcome so far (eligible evaluations only)."""
        eligible = [e for e in self.history if self.eligible(e)]
        ranked = sorted(eligible, key=rank_key)
        return SearchResult(
            strategy=strategy,
            budget=self.budget,
            evaluated=len(self.history),
            top=ranked[:top_k],
            history=list(self.history),
            stopped=stopped,
            rejected=len(self.rejected_archs),
            exhausted=exhausted,
            immigrants=self.immigrants,
            params=dict(params or {}),
            minimize=self.minimize,
            pareto=[eligible[i] for i in front_order(eligible, self.minimize)] if self.minimize else [],
            failed=len(self.failed),
            failures=list(self.failed.values())[:KEPT_FAILURES],
        )
