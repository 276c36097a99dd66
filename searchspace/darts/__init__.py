"""DARTS cell space: genotype encodings (DARTS text, JSON), the DARTS CIFAR network, and the space."""

from .encoding import parse
from .genotype import CELL_OPS, OPS, Genotype, to_string
from .network import Cell, NetworkCIFAR
from .space import DARTS_V2, DartsSpace

__all__ = ["CELL_OPS", "DARTS_V2", "OPS", "Cell", "DartsSpace", "Genotype", "NetworkCIFAR", "parse", "to_string"]
