"""Search spaces: architecture encodings to ``nn.Module``s, behind one registry.

    from searchspace import get_space
    space = get_space("nb201")
    archs = space.sample(10, seed=0)
    net = space.build(archs[0], num_classes=10)
"""

from . import darts, nats_sss, nb101, nb201, ofa  # noqa: F401  (each registers its space)
from .base import SearchSpace
from .cost import ModelCost, count_flops, count_params
from .errors import EncodingError
from .registry import get_space, list_spaces, register_space

__all__ = [
    "EncodingError",
    "ModelCost",
    "SearchSpace",
    "count_flops",
    "count_params",
    "get_space",
    "list_spaces",
    "register_space",
]
