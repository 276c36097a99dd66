"""The DARTS cell space (as in DARTS and NDS-DARTS) as a :class:`~searchspace.base.SearchSpace`."""

from __future__ import annotations

import math
import random
from typing import Any

from ..base import SearchSpace
from .encoding import parse
from .genotype import CELL_OPS, CELLS, OPS, STEPS, CellEdges, Genotype, normalise, to_string
from .network import NetworkCIFAR

#: DARTS (second order) as published: the ``DARTS_V2`` genotype of the DARTS code's genotypes.py
DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)


class DartsSpace(SearchSpace):
    """DARTS genotypes scored in ``NetworkCIFAR``.

    Defaults ``C=16, layers=8`` are the network DARTS itself searches with (16 initial channels,
    8 cells, reductions at cells 2 and 5): small enough to score quickly at CIFAR resolution, the
    same cell structure as the evaluation network (DARTS evaluates with C=36, layers=20).
    ``allow_none`` adds the ``none`` op, which DARTS' search supernet has but its derived cells
    (and NDS-DARTS) never contain.
    """

    name = "darts"
    parameter_free = frozenset({"none", "skip_connect", "avg_pool_3x3", "max_pool_3x3"})
    description = (
        "DARTS cell space: a normal and a reduction cell, each 4 nodes summing two ops (sep/dil conv 3x3/5x5, "
        "max/avg pool 3x3, skip) from two distinct earlier states, in the DARTS CIFAR network."
    )

    def __init__(self, C: int = 16, layers: int = 8, allow_none: bool = False):
        if C < 1 or layers < 3:
            raise ValueError(f"need C >= 1 and layers >= 3, got C={C}, layers={layers}")
        self.C = C
        self.layers = layers
        self.ops: tuple[str, ...] = OPS if allow_none else CELL_OPS
        self.encoding = (
            "The DARTS text form Genotype(normal=[('op', input), ...8 edges], normal_concat=[2, 3, 4, 5], "
            "reduce=[...8 edges], reduce_concat=range(2, 6)) (parsed, not evaluated), or JSON "
            "{\"normal\": [[\"op\", input], ...], \"reduce\": [...]}. Edges 2k and 2k+1 feed node k from inputs "
            "0..k+1 (0, 1: the two previous cells; j >= 2: node j-2), from two different inputs. Ops: "
            + ", ".join(self.ops)
            + ". The canonical form orders each node's two edges by input."
        )
        self.example = self.canonical(DARTS_V2)

    @property
    def size(self) -> int:
        """Genotypes up to the order of each node's two edges: per node, a pair of distinct inputs and two ops."""
        per_cell = math.prod(math.comb(k + 2, 2) * len(self.ops) ** 2 for k in range(STEPS))
        return per_cell ** len(CELLS)

    def genotype(self, arch: Any) -> Genotype:
        """The validated, normalised genotype of any accepted encoding."""
        return parse(arch, self.ops)

    def canonical(self, arch: Any) -> str:
        return to_string(parse(arch, self.ops))

    def random(self, rng: random.Random) -> str:
        """Uniform over :attr:`size`: each node draws a pair of distinct inputs and two ops independently."""
        cells = []
        for _ in CELLS:
            edges = []
            for k in range(STEPS):
                for source in sorted(rng.sample(range(k + 2), 2)):
                    edges.append((rng.choice(self.ops), source))
            cells.append(normalise(tuple(edges)))
        return to_string(Genotype(*cells))

    def decisions(self, arch: Any) -> list[tuple[str, object]]:
        """Each edge's op and input, per cell: ("normal edge 0 op", "sep_conv_3x3"), ("normal edge 0 input", 0), ..."""
        g = parse(arch, self.ops)
        return [
            pair
            for which in CELLS
            for e, (op, source) in enumerate(g.cell(which))
            for pair in ((f"{which} edge {e} op", op), (f"{which} edge {e} input", source))
        ]

    def neighbours(self, arch: Any) -> list[str]:
        """All genotypes one decision away: one edge's op, or one edge's input (kept distinct from its sibling's)."""
        g = parse(arch, self.ops)
        own = to_string(g)
        found = {to_string(child) for child in _steps(g, self.ops)}
        found.discard(own)
        return sorted(found)

    def mutate(self, arch: Any, rng: random.Random) -> str:
        g = parse(arch, self.ops)
        own = to_string(g)
        steps = list(_steps(g, self.ops))
        rng.shuffle(steps)
        for child in steps:
            text = to_string(child)
            if text != own:
                return text
        raise ValueError(f"no neighbour of {own}")  # every op can change, so unreachable

    def build(self, arch: Any, num_classes: int = 10) -> NetworkCIFAR:
        return NetworkCIFAR(parse(arch, self.ops), num_classes=num_classes, C=self.C, layers=self.layers)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "network": {"C": self.C, "layers": self.layers, "auxiliary_head": False, "drop_path": 0.0}}


def _steps(g: Genotype, ops: tuple[str, ...]):
    for which in CELLS:
        edges = g.cell(which)
        for e, (op, source) in enumerate(edges):
            sibling = edges[e ^ 1][1]
            node = e // 2
            changed: list[CellEdges] = [edges[:e] + ((other, source),) + edges[e + 1 :] for other in ops if other != op]
            changed += [
                edges[:e] + ((op, other),) + edges[e + 1 :] for other in range(node + 2) if other not in (source, sibling)
            ]
            for cell in changed:
                cell = normalise(cell)
                yield Genotype(cell, g.reduce) if which == "normal" else Genotype(g.normal, cell)
