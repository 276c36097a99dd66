"""Search spaces: architecture encodings to ``nn.Module``s, behind one registry.

    from searchspace import get_space
    space = get_space("nb201")
    archs = space.sample(10, seed=0)
    net = space.build(archs[0], num_classes=10)

Spaces come from the ``naswot.spaces`` entry points (the built-in ones too, see ``pyproject.toml``),
each imported on first use, and from space files (:mod:`searchspace.spacefile`).
"""

from .base import SearchSpace
from .choice import ChoiceSpace
from .cost import ModelCost, count_flops, count_params
from .errors import ArchitectureError, EncodingError
from .registry import SpaceClash, SpaceUnavailable, broken_spaces, get_space, limit_params, list_spaces, load_all, register_instance, register_space
from .spacefile import SpaceFileError, load_space_file

__all__ = [
    "ArchitectureError",
    "ChoiceSpace",
    "EncodingError",
    "ModelCost",
    "SearchSpace",
    "SpaceClash",
    "SpaceFileError",
    "SpaceUnavailable",
    "broken_spaces",
    "count_flops",
    "count_params",
    "get_space",
    "limit_params",
    "list_spaces",
    "load_all",
    "load_space_file",
    "register_instance",
    "register_space",
]
