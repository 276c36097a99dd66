"""Search spaces: what each is, how its architectures are written, and seeded random samples."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from search.params import MAX_INT
from searchspace import load_all

from app.api.schemas import COUNT_CEILING, ErrorResponse, _Request
from app.api.deps import ERRORS, ServiceDep, SpaceDep, error, invalid
from app.api.errors import StrictJSONRoute


class SpaceInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    description: str
    encoding: str
    example: str
    size: int | None


class SpaceList(BaseModel):
    spaces: list[SpaceInfo]


class SampleRequest(_Request):
    n: int = Field(10, ge=1, le=COUNT_CEILING, description="how many architectures; at most NASWOT_MAX_ARCHS")
    seed: int | None = Field(0, ge=0, le=MAX_INT, description="same seed, same list; null draws from fresh entropy")
    unique: bool = Field(False, description="no architecture twice")


class SampleResponse(BaseModel):
    space: str
    seed: int | None
    archs: list[str]


router = APIRouter(prefix="/v1/spaces", tags=["spaces"], route_class=StrictJSONRoute)

NOT_FOUND = {404: {"model": ErrorResponse, "description": "no such search space"}}


@router.get("", response_model=SpaceList, summary="Every search space: encoding, an example, its size")
def spaces() -> SpaceList:
    return SpaceList(spaces=[SpaceInfo(**space.describe()) for space in load_all()])


@router.get("/{name}", response_model=SpaceInfo, responses=NOT_FOUND, summary="One search space")
def space(found: SpaceDep) -> SpaceInfo:
    return SpaceInfo(**found.describe())


@router.post("/{name}/sample", response_model=SampleResponse, responses={**ERRORS, **NOT_FOUND}, summary="Architectures drawn uniformly at random")
def sample(body: SampleRequest, found: SpaceDep, service: ServiceDep) -> SampleResponse:
    """Canonical encodings drawn uniformly; the same seed gives the same list."""
    limit = service.settings.max_archs
    if body.n > limit:
        raise invalid(error(("body", "n"), f"at most {limit} on this server (NASWOT_MAX_ARCHS)", "less_than_equal", body.n))
    if body.unique and found.size is not None and body.n > found.size:
        raise invalid(error(("body", "n"), f"the space holds only {found.size} distinct architectures", "less_than_equal", body.n))
    return SampleResponse(space=found.name, seed=body.seed, archs=found.sample(body.n, seed=body.seed, unique=body.unique))
