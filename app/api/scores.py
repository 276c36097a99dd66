"""The registered scores: what each measures, its source, and what computing it takes."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from scoring import DEFAULT_MEMBERS, REFERENCE_SIZE, list_scores

router = APIRouter(prefix="/v1/scores", tags=["scores"])


class ScoreDescription(BaseModel):
    """One score of the registry (``scoring.list_scores``)."""

    name: str = Field(examples=["naswot"])
    description: str = Field(description="the definition in one line, with its source")
    pass_name: str = Field(description="scores of one pass are computed together at the cost of one")
    needs_backward: bool
    needs_labels: bool = Field(description="needs a labelled data source (noise is labelled at random)")
    data_free: bool = Field(description="computed on generated inputs (all ones, Gaussian) or none, not on the data source's images")
    higher_is_better: bool
    revision: int = Field(description="the definition's revision: values cached or sampled under an earlier one are scored afresh")


class EnsembleDescription(BaseModel):
    """How ``ensemble`` combines its members (``ensemble:a+b+c`` names other members)."""

    default_members: list[str]
    reference_size: int = Field(description="members are ranked against this many seeded reference architectures of the space")


class ScoreList(BaseModel):
    scores: list[ScoreDescription]
    ensemble: EnsembleDescription


@router.get("", response_model=ScoreList, summary="Every score the service computes, with its metadata")
def scores() -> ScoreList:
    """Each name can go in `score` of `POST /v1/score` and `POST /v1/searches`; missing values (`null`) mean undefined for that network."""
    return ScoreList(
        scores=[ScoreDescription(**info.to_json()) for info in list_scores()],
        ensemble=EnsembleDescription(default_members=list(DEFAULT_MEMBERS), reference_size=REFERENCE_SIZE),
    )
