"""NAS-Bench-101 as a :class:`~searchspace.base.SearchSpace`."""

from __future__ import annotations

import random
from typing import Any

from ..base import SearchSpace
from ..errors import EncodingError
from .encoding import parse, to_string
from .graph import INPUT, MAX_VERTICES, OPS, OUTPUT, Cell, canonical_cell, graph_hash, prune, uniform_cell
from .network import NB101Network

#: the benchmark's Inception-like example cell (its README), in the canonical form
EXAMPLE = to_string(
    canonical_cell(
        Cell(
            (
                (0, 1, 1, 1, 0, 1, 0),
                (0, 0, 0, 0, 0, 0, 1),
                (0, 0, 0, 0, 0, 0, 1),
                (0, 0, 0, 0, 1, 0, 0),
                (0, 0, 0, 0, 0, 0, 1),
                (0, 0, 0, 0, 0, 0, 1),
                (0, 0, 0, 0, 0, 0, 0),
            ),
            (INPUT, "conv1x1-bn-relu", "conv3x3-bn-relu", "conv3x3-bn-relu", "conv3x3-bn-relu", "maxpool3x3", OUTPUT),
        )
    )
)


class NB101Space(SearchSpace):
    """NAS-Bench-101; the network's stem width, stack count and cells per stack default to the benchmark's."""

    name = "nb101"
    description = (
        "NAS-Bench-101: one cell (DAG of up to 7 vertices and 9 edges; ops conv3x3, conv1x1, maxpool3x3) "
        "in the benchmark's 3-stack skeleton; 423,624 distinct cells."
    )
    encoding = (
        "A mapping {\"matrix\": [[0/1, ...], ...], \"ops\": [\"input\", ..., \"output\"]} as the benchmark's ModelSpec "
        "takes it (upper-triangular adjacency, at most 7 vertices; interior ops "
        + ", ".join(OPS)
        + "), or the cell string ops=<labels, comma-separated>;matrix=<0/1 rows separated by '/'>. "
        "Graphs are pruned to the vertices on input->output paths (at most 9 edges must remain) and "
        "relabelled so that isomorphic cells share one canonical string."
    )
    example = EXAMPLE
    parameter_free = frozenset({"maxpool3x3"})

    def __init__(self, stem_channels: int = 128, num_stacks: int = 3, cells_per_stack: int = 3):
        self.stem_channels = stem_channels
        self.num_stacks = num_stacks
        self.cells_per_stack = cells_per_stack

    @property
    def size(self) -> int:
        return 423_624

    def cell(self, arch: Any) -> Cell:
        """The canonical cell of any accepted encoding."""
        return parse(arch)

    def canonical(self, arch: Any) -> str:
        return to_string(parse(arch))

    def benchmark_hash(self, arch: Any) -> str:
        """The benchmark's graph hash of ``arch``: the key of its record in the NAS-Bench-101 dataset."""
        return graph_hash(parse(arch))

    def random(self, rng: random.Random) -> str:
        """A cell drawn uniformly from the 423,624 distinct cells (see :func:`~searchspace.nb101.graph.uniform_cell`).

        Not the benchmark's own random search, which draws each of the 21 edges of a 7-vertex
        matrix with probability 1/2 and keeps valid draws: that favours small cells (under 1% of
        its draws keep all 7 vertices, against 85% of the space).
        """
        return to_string(uniform_cell(rng))

    def decisions(self, arch: Any) -> list[tuple[str, object]]:
        """The cell's size and its interior ops: ("vertices", n), ("edges", e), then ("op", label) per interior vertex
        (vertices of isomorphic cells have no fixed position, so every op shares one)."""
        cell = parse(arch)
        interior = [("op", op) for op in cell.ops[1:-1]]
        return [("vertices", cell.num_vertices), ("edges", len(cell.edges)), *interior]

    def neighbours(self, arch: Any) -> list[str]:
        """Every distinct valid cell one step from ``arch``, sorted.

        A step changes one interior op, adds or removes one edge, or inserts a new vertex (any op)
        on a new path i -> new -> j; vertices left off every input->output path are pruned.
        """
        cell = parse(arch)
        own = to_string(cell)
        found = set()
        for candidate in _moves(cell):
            try:
                found.add(to_string(canonical_cell(prune(*candidate))))
            except EncodingError:
                continue
        found.discard(own)
        return sorted(found)

    def mutate(self, arch: Any, rng: random.Random) -> str:
        """One random step (see :meth:`neighbours`): moves are tried in random order until one gives a new valid cell."""
        cell = parse(arch)
        own = to_string(cell)
        moves = list(_moves(cell))
        rng.shuffle(moves)
        for candidate in moves:
            try:
                child = to_string(canonical_cell(prune(*candidate)))
            except EncodingError:
                continue
            if child != own:
                return child
        raise ValueError(f"no valid neighbour of {own}")  # every cell has one (an op change), so unreachable

    def build(self, arch: Any, num_classes: int = 10) -> NB101Network:
        return NB101Network(parse(arch), num_classes, self.stem_channels, self.num_stacks, self.cells_per_stack)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "network": {"stem_channels": self.stem_channels, "num_stacks": self.num_stacks, "cells_per_stack": self.cells_per_stack},
        }


def _moves(cell: Cell):
    """Raw (matrix, ops) pairs one step from ``cell`` (not yet pruned or validated), in a fixed order:
    op changes, then edge toggles, then vertex insertions (the order mutation's seeded shuffle sees)."""
    m = [list(row) for row in cell.matrix]
    yield from _op_changes(m, cell.ops)
    yield from _edge_toggles(m, cell.ops)
    if cell.num_vertices < MAX_VERTICES:
        yield from _vertex_insertions(m, cell.ops)


def _op_changes(m: list[list[int]], ops: tuple[str, ...]):
    """Each inner vertex given each other op."""
    for v in range(1, len(m) - 1):
        for op in OPS:
            if op != ops[v]:
                yield _freeze(m), ops[:v] + (op,) + ops[v + 1 :]


def _edge_toggles(m: list[list[int]], ops: tuple[str, ...]):
    """Each forward edge i -> j added or removed."""
    n = len(m)
    for i in range(n):
        for j in range(i + 1, n):
            toggled = [row[:] for row in m]
            toggled[i][j] = 1 - toggled[i][j]
            yield _freeze(toggled), ops


def _vertex_insertions(m: list[list[int]], ops: tuple[str, ...]):
    """A new vertex of each op on a path i -> new -> j, placed right after i (old vertices > i shift up by one)."""
    n = len(m)
    for i in range(n):
        for j in range(i + 1, n):
            grown = [[0] * (n + 1) for _ in range(n + 1)]
            shift = [v if v <= i else v + 1 for v in range(n)]
            for a in range(n):
                for b in range(n):
                    grown[shift[a]][shift[b]] = m[a][b]
            grown[i][i + 1] = 1
            grown[i + 1][shift[j]] = 1
            for op in OPS:
                yield _freeze(grown), ops[: i + 1] + (op,) + ops[i + 1 :]


def _freeze(matrix: list[list[int]]) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(row) for row in matrix)
