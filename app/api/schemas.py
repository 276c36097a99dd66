"""Request and response models: the single source of the HTTP API contract (and of its OpenAPI document).

A singular K_H has no finite score: results carry ``"score": null, "singular": true`` (JSON has
no -inf) and rank below every finite score.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from scoring import COSTS, canonical_score
from search import Constraints, Param, check_minimize, list_strategies, params_by_name
from search.params import MAX_INT

from app.records import JobStatus

BEST_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
#: absolute ceilings, whatever a server's settings allow (each server may set lower ones)
BATCH_CEILING = 65_536
BUDGET_CEILING = 1_000_000
COUNT_CEILING = 100_000
SEED = Field(0, ge=0, le=MAX_INT, description="fixes the minibatch and every network's initial weights")
BATCH_SIZE = Field(128, ge=2, le=BATCH_CEILING, description="minibatch size B (K_H is B x B); at most NASWOT_MAX_BATCH_SIZE")
LATENCY_BATCH = Field(1, ge=1, le=BATCH_CEILING, description="inputs per timed forward pass when latency is measured; at most NASWOT_MAX_BATCH_SIZE")
#: the costs a score request may ask for besides the score; ``params`` and ``flops`` are always in each result
Cost = Literal[COSTS]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- scoring -----------------------------------------------------------------------------------


#: the most scores one score request may name
MAX_SCORES = 32
ScoreName = Annotated[str, Field(max_length=512)]


def canonical_scores(value: str | list[str]) -> list[str]:
    """One score name or a non-empty list of distinct ones, made canonical; ValueError naming the bad entry (and its index)."""
    if isinstance(value, str):
        return [canonical_score(value.strip())]
    if not value:
        raise ValueError("name at least one score")
    names: list[str] = []
    for index, name in enumerate(value):
        try:
            canonical = canonical_score(name.strip())
        except ValueError as exc:
            raise ValueError(f"score[{index}] {name!r}: {exc}") from None
        if canonical in names:
            raise ValueError(f"score[{index}] {name!r} repeats score[{names.index(canonical)}]")
        names.append(canonical)
    return names


class _ScoreNames(BaseModel):
    """The ``score`` field of score requests and searches: one name or a list, made canonical (422 naming the bad entry)."""

    score: ScoreName | Annotated[list[ScoreName], Field(min_length=1, max_length=MAX_SCORES)] = Field(
        "naswot",
        description="score name (GET /v1/scores), `ensemble` or `ensemble:a+b+c`, or a list of distinct names for several values per "
        "architecture (the first is each result's `score`, and the one a search ranks by); undefined values come back as null",
    )

    @field_validator("score")
    @classmethod
    def _known_scores(cls, value: str | list[str]) -> list[str]:
        return canonical_scores(value)

    @property
    def scores(self) -> list[str]:
        """The canonical score names, the primary one first."""
        return self.score if isinstance(self.score, list) else canonical_scores(self.score)


class ScoreRequest(_ScoreNames, _Request):
    """Score architectures of one space on one minibatch, with one score or several."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"space": "nb201", "archs": [BEST_CELL, [0, 0, 0, 0, 0, 0]], "data": "noise", "batch_size": 128, "seed": 0}]},
    )

    space: str = Field("nb201", max_length=64, description="search space name (see GET /v1/spaces)")
    archs: list[Any] = Field(
        ..., min_length=1, max_length=COUNT_CEILING, description="architecture encodings, any the space accepts (its `encoding` says which); at most NASWOT_MAX_ARCHS"
    )
    data: str | None = Field(None, max_length=256, description="data source name: auto, cifar10, cifar100, noise or one the operator configured; default NASWOT_DATA")
    batch_size: int = BATCH_SIZE
    seed: int = SEED
    costs: list[Cost] = Field(
        default_factory=list, max_length=3,
        description="costs to report with each result: `latency_ms` is measured on this server's scoring device (median of timed forward passes)",
    )
    latency_batch: int = LATENCY_BATCH


class DataInfo(BaseModel):
    """The data actually used: its name in the request, the spec it resolved to, whether it is synthetic, its content digest."""

    model_config = ConfigDict(extra="allow")

    name: str
    spec: str
    synthetic: bool
    identity: str
    num_classes: int
    image_shape: list[int]


class ScoreResult(BaseModel):
    arch: str = Field(..., description="canonical encoding")
    score: float | None = Field(..., description="log|det K_H|; null exactly when singular")
    singular: bool = Field(..., description="K_H is singular (the score is minus infinity: ranks below every finite score)")
    params: int | None = Field(..., description="trainable parameters; null when `error` says the network could not be made")
    flops: int | None = Field(..., description="multiply-accumulates per image, as the benchmarks count them; null with `error`")
    seconds: float = Field(..., description="time the device spent scoring it (when cached: the time it took originally), summed over the requested scores; scores computed in shared passes each count an equal share of that time")
    cached: bool = Field(..., description="answered from the score cache, no device work for this request")
    device: str = Field(..., description="device that computed the score")
    undefined: str | None = Field(None, description="why `score` is null (e.g. no activation to read codes from, K_H singular); null when `score` is a number")
    values: dict[str, float | None] = Field(
        default_factory=dict, description="every requested score's value by name (null when undefined); `score` is the first one's"
    )
    reasons: dict[str, str] = Field(default_factory=dict, description="why each null of `values` is null, by score name")
    notes: dict[str, str] = Field(
        default_factory=dict, description="what a score says beside its value, by name (naswot, swap: the activations whose codes were read, e.g. `codes of GELU x6`)"
    )
    latency_ms: float | None = Field(None, description="with `costs: [\"latency_ms\"]`: milliseconds per forward pass of `latency_batch` inputs on the scoring device")
    error: str | None = Field(
        None, description="why this architecture has no score: its network could not be built or run (a space file's builder failed, "
        "its forward pass fails, it exceeds NASWOT_MAX_PARAMS); score, params and flops are then null, and the other results are unaffected")


class ScoreResponse(BaseModel):
    results: list[ScoreResult] = Field(..., description="one per requested architecture, in request order")
    device: str = Field(..., description="device worker that took this request's new work")
    latency_device: str | None = Field(None, description="with `costs: [\"latency_ms\"]`: the device identity the latencies were measured on (CPU model and threads, or GPU name)")
    data: DataInfo
    space: str
    batch_size: int
    seed: int
    score_name: str = Field(..., description="the primary score: each result's `score`")
    score_names: list[str] = Field(..., description="every requested score, in request order (the keys of each result's `values`)")
    precision: str
    computed: int = Field(..., description="architectures scored for this request")
    cached: int = Field(..., description="architectures answered from the cache")
    seconds: float = Field(..., description="wall time of the whole request")


# -- searches ----------------------------------------------------------------------------------


class _SearchFields(_ScoreNames):
    """The fields of every search request; each strategy parameter is added from its declaration (``SearchRequest``)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"examples": [{"space": "nb201", "strategy": "random", "budget": 100, "top_k": 10, "seed": 0, "data": "noise"}]},
    )

    space: str = Field("nb201", max_length=64, description="search space name")
    strategy: str = Field("random", max_length=64, description=f"one of the server's strategies (GET /v1/strategies): {', '.join(list_strategies())}")
    budget: int = Field(100, ge=1, le=BUDGET_CEILING, description="distinct architectures to score; at most NASWOT_MAX_BUDGET (and the space's size)")
    top_k: int = Field(10, ge=1, le=COUNT_CEILING, description="how many of the best to report; at most NASWOT_MAX_TOP_K")
    seed: int = SEED
    data: str | None = Field(None, max_length=256, description="data source name, as for /v1/score")
    batch_size: int = BATCH_SIZE
    constraints: Constraints | None = None
    exclude_singular: bool = Field(False, description="leave singular architectures out of the results")
    minimize: list[Literal[COSTS]] = Field(  # type: ignore[valid-type]
        default_factory=list, max_length=len(COSTS),
        description="costs to minimise while maximising the score (each at most once): the job then reports `pareto`; nsga2 and pls search for it",
    )

    @field_validator("minimize")
    @classmethod
    def _distinct_costs(cls, value: list[str]) -> list[str]:
        return list(check_minimize(value))
    latency_batch: int = LATENCY_BATCH

    @field_validator("strategy", "space")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    def strategy_params(self) -> dict[str, Any]:
        """Strategy parameters given in the request (declared ones and extra fields)."""
        declared = [name for name in type(self).model_fields if name not in _SearchFields.model_fields]
        given = {name: getattr(self, name) for name in declared if getattr(self, name) is not None}
        given.update(self.model_extra or {})
        return given


def strategy_field(param: Param, strategies: tuple[str, ...]) -> tuple[Any, Any]:
    """A strategy parameter as an optional request field: its type and fixed bounds (the strategy checks the relative ones)."""
    default = "" if param.default is None else f"; default {param.default}"
    return param.type | None, Field(
        None, ge=param.minimum, le=MAX_INT if param.maximum is None else param.maximum,
        description=f"{', '.join(strategies)}: {param.help}; {param.range_text()}{default}",
    )


def search_request_model() -> type[_SearchFields]:
    """The search request: the common fields, then every strategy's parameters as their declarations in ``search`` say."""
    return create_model(
        "SearchRequest", __base__=_SearchFields, __module__=__name__,
        __doc__="Start a search job. Strategy parameters are flat fields; each must belong to the chosen strategy.",
        **{name: strategy_field(param, users) for name, (param, users) in params_by_name().items()},
    )


SearchRequest = search_request_model()


class Evaluated(BaseModel):
    step: int = Field(..., description="1-based place in the order of evaluation")
    arch: str
    score: float | None = Field(..., description="null exactly when singular")
    singular: bool
    params: int
    flops: int
    latency_ms: float | None = Field(None, description="measured milliseconds per forward pass on the scoring device, when the search measures latency")
    values: dict[str, float | None] = Field(
        default_factory=dict, description="the search's score and every other score it was asked for, by name (null when undefined)"
    )


class BatchProgress(BaseModel):
    scored: int = Field(..., description="architectures of the batch already scored (and cached)")
    size: int
    reference_sample: int | None = Field(
        None, description="networks of the ensemble's reference sample being scored before this batch (its first use on this space, data and settings; then kept)",
    )


class Progress(BaseModel):
    evaluated: int = Field(..., description="evaluations recorded (a strategy hands over a batch of candidates at a time)")
    budget: int = Field(..., description="the requested budget, capped at the space's size")
    batch: BatchProgress | None = Field(None, description="the batch being scored now, if any")


class SearchStatus(BaseModel):
    id: str
    status: JobStatus
    progress: Progress
    elapsed: float = Field(..., description="seconds since the job first started (to its end when finished)")
    best: Evaluated | None = Field(None, description="best so far (singular architectures rank last)")
    top: list[Evaluated] = Field(default_factory=list, description="the top_k best so far, best first")
    pareto: list[Evaluated] = Field(
        default_factory=list, description="with `minimize`: the evaluations no other evaluation dominates (score up, each cost down), by the first cost",
    )
    space: str
    strategy: str
    seed: int
    top_k: int
    data: dict[str, Any] | None = Field(None, description="the data source the job scores on (name, spec, identity)")
    request: dict[str, Any] = Field(..., description="the request as accepted")
    created_at: float
    started_at: float | None
    finished_at: float | None
    resumed: int = Field(0, description="times the job was resumed after a server restart")
    cancel_requested: bool = False
    error: str | None = None
    outcome: dict[str, Any] | None = Field(None, description="when finished: stopped, exhausted, rejected (constraint) and failed (network could not be built or run, with the first `failures`) counts")
    status_url: str
    events_url: str


class SearchList(BaseModel):
    searches: list[SearchStatus]


class EvaluationPage(BaseModel):
    id: str
    evaluations: list[Evaluated]
    next_after: int | None = Field(None, description="pass as `after` to read the next page; null at the end")


class ParamInfo(BaseModel):
    name: str
    type: Literal["integer", "number"]
    default: int | float | None = Field(..., description="null: derived at run time (see help)")
    minimum: int | float | None
    maximum: int | float | None
    at_least: str | None = Field(..., description="another parameter (or `budget`) this one may not be below")
    at_most: str | None = Field(..., description="another parameter (or `budget`) this one may not exceed")
    help: str


class StrategyInfo(BaseModel):
    name: str
    summary: str = Field(..., description="what the strategy does, in one line")
    params: dict[str, Any] = Field(..., description="the strategy's own parameters and their defaults")
    parameters: list[ParamInfo] = Field(..., description="each parameter's declaration: type, default, bounds and help")


class ConstraintInfo(BaseModel):
    name: str
    type: Literal["integer", "number"]
    minimum: int | float
    exclusive_minimum: bool = Field(False, description="the bound must exceed `minimum`")
    maximum: int | float
    help: str


class StrategyList(BaseModel):
    strategies: list[StrategyInfo]
    constraints: list[ConstraintInfo] = Field(..., description="the `constraints` a search request may set (each strategy honours them)")
    costs: list[str] = Field(..., description="the costs a search request may `minimize`")


# -- spaces ------------------------------------------------------------------------------------


class ErrorItem(BaseModel):
    loc: list[str | int] = Field(..., description="where: e.g. [\"body\", \"archs\", 3] or [\"path\", \"search_id\"]")
    msg: str = Field(..., description="what is wrong")
    type: str


class ErrorResponse(BaseModel):
    detail: list[ErrorItem]
