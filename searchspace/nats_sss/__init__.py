"""NATS-Bench size search space: channel-string encodings, the benchmark's network, and the space."""

from .encoding import CHANNELS, from_index, index_of, parse, to_string
from .network import FIXED_CELL, FIXED_CELL_STRING, DynamicShapeTinyNet, InferCell
from .space import NATSSizeSpace

__all__ = [
    "CHANNELS",
    "FIXED_CELL",
    "FIXED_CELL_STRING",
    "DynamicShapeTinyNet",
    "InferCell",
    "NATSSizeSpace",
    "from_index",
    "index_of",
    "parse",
    "to_string",
]
