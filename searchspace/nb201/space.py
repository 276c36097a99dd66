"""NAS-Bench-201 as a :class:`~searchspace.base.SearchSpace`."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any

from ..base import SearchSpace
from ..registry import register_space
from .encoding import EDGES, OPS, OpIndices, parse, to_string
from .network import TinyNetwork


class NB201Space(SearchSpace):
    name = "nb201"
    description = "NAS-Bench-201: one 4-node cell (6 edges x 5 ops) repeated in a fixed 3-stage skeleton; 15,625 cells."
    encoding = (
        "The benchmark's arch string |op~0|+|op~0|op~1|+|op~0|op~1|op~2| with ops "
        + ", ".join(OPS)
        + "; or 6 op indices in that op order and edge order 0->1, 0->2, 1->2, 0->3, 1->3, 2->3; "
        "or {\"naslib\": [6 ints]} for NASLib's op_indices."
    )
    example = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"

    def __init__(self, C: int = 16, N: int = 5):
        self.C = C
        self.N = N

    @property
    def size(self) -> int:
        return len(OPS) ** len(EDGES)

    def ops(self, arch: Any) -> OpIndices:
        """Canonical op indices of any accepted encoding."""
        return parse(arch)

    def canonical(self, arch: Any) -> str:
        return to_string(parse(arch))

    def random(self, rng: random.Random) -> str:
        return to_string([rng.randrange(len(OPS)) for _ in EDGES])

    def mutate(self, arch: Any, rng: random.Random) -> str:
        ops = list(parse(arch))
        edge = rng.randrange(len(EDGES))
        ops[edge] = rng.choice([op for op in range(len(OPS)) if op != ops[edge]])
        return to_string(ops)

    def neighbours(self, arch: Any) -> list[str]:
        """All 24 cells one edge away from ``arch``."""
        ops = parse(arch)
        return [
            to_string(ops[:e] + (op,) + ops[e + 1 :]) for e in range(len(EDGES)) for op in range(len(OPS)) if op != ops[e]
        ]

    def enumerate(self) -> Iterator[str]:
        for ops in itertools.product(range(len(OPS)), repeat=len(EDGES)):
            yield to_string(ops)

    def build(self, arch: Any, num_classes: int = 10) -> TinyNetwork:
        return TinyNetwork(parse(arch), num_classes=num_classes, C=self.C, N=self.N)


register_space("nb201")(NB201Space)
