"""Training-free scores, the data batches they are computed on, and devices.

    from scoring import naswot
    s = naswot.score(net, x)   # float, -inf when K_H is singular
"""

from searchspace.seeded import build_seeded

from . import naswot
from .data import DataSource, open_source
from .device import describe_device, resolve_device
from .evaluate import ArchScore, Scorer

__all__ = ["ArchScore", "DataSource", "Scorer", "build_seeded", "describe_device", "naswot", "open_source", "resolve_device"]
