"""The once-for-all MobileNetV3 space (Cai et al., ICLR 2020): JSON subnet encodings, the network, and the space."""

from .encoding import DEPTHS, EXPANDS, KERNELS, RESOLUTIONS, Subnet, parse, to_flat
from .network import STAGES, build_network
from .space import STAGE_OPTIONS, SUBNETS, OFAMobileNetV3Space

__all__ = [
    "DEPTHS",
    "EXPANDS",
    "KERNELS",
    "RESOLUTIONS",
    "STAGES",
    "STAGE_OPTIONS",
    "SUBNETS",
    "OFAMobileNetV3Space",
    "Subnet",
    "build_network",
    "parse",
    "to_flat",
]
