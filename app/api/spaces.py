"""Search spaces: what each is, how its architectures are written, and seeded random samples."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path

from searchspace import SearchSpace, get_space, list_spaces

from ..schemas import ErrorResponse, SampleRequest, SampleResponse, SpaceInfo, SpaceList
from ..service import Service
from .deps import ERRORS, error, get_service, invalid, problem

router = APIRouter(tags=["spaces"])

NOT_FOUND = {404: {"model": ErrorResponse, "description": "no such search space"}}


def existing_space(name: str = Path(..., description="space name, e.g. nb201")) -> SearchSpace:
    if name not in list_spaces():
        raise problem(404, ("path", "name"), f"unknown search space {name!r}; known: {', '.join(list_spaces())}", "not_found")
    return get_space(name)


@router.get("/v1/spaces", response_model=SpaceList, summary="Every search space: encoding, an example, its size")
def spaces() -> SpaceList:
    return SpaceList(spaces=[SpaceInfo(**get_space(name).describe()) for name in list_spaces()])


@router.get("/v1/spaces/{name}", response_model=SpaceInfo, responses=NOT_FOUND, summary="One search space")
def space(found: SearchSpace = Depends(existing_space)) -> SpaceInfo:
    return SpaceInfo(**found.describe())


@router.post("/v1/spaces/{name}/sample", response_model=SampleResponse, responses={**ERRORS, **NOT_FOUND}, summary="Architectures drawn uniformly at random")
def sample(body: SampleRequest, found: SearchSpace = Depends(existing_space), service: Service = Depends(get_service)) -> SampleResponse:
    """Canonical encodings drawn uniformly; the same seed gives the same list."""
    limit = service.settings.max_archs
    if body.n > limit:
        raise invalid(error(("body", "n"), f"at most {limit} on this server (NASWOT_MAX_ARCHS)", "less_than_equal", body.n))
    if body.unique and found.size is not None and body.n > found.size:
        raise invalid(error(("body", "n"), f"the space holds only {found.size} distinct architectures", "less_than_equal", body.n))
    return SampleResponse(space=found.name, seed=body.seed, archs=found.sample(body.n, seed=body.seed, unique=body.unique))
