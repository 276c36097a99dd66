"""NAS-Bench-201: encodings, the benchmark's network, and the search space."""

from .encoding import EDGES, OP_NAMES, from_naslib, parse, to_naslib, to_string
from .network import InferCell, ResNetBasicblock, TinyNetwork
from .space import NB201Space

__all__ = [
    "EDGES",
    "OP_NAMES",
    "InferCell",
    "NB201Space",
    "ResNetBasicblock",
    "TinyNetwork",
    "from_naslib",
    "parse",
    "to_naslib",
    "to_string",
]
