"""NAS-Bench-101: cell graphs (validation, pruning, canonical form, the benchmark's hash), the network, the space."""

from .encoding import parse, to_string
from .graph import MAX_EDGES, MAX_VERTICES, OPS, Cell, canonical_cell, graph_hash, prune
from .network import NB101Cell, NB101Network, vertex_channels
from .space import NB101Space

__all__ = [
    "MAX_EDGES",
    "MAX_VERTICES",
    "OPS",
    "Cell",
    "NB101Cell",
    "NB101Network",
    "NB101Space",
    "canonical_cell",
    "graph_hash",
    "parse",
    "prune",
    "to_string",
    "vertex_channels",
]
