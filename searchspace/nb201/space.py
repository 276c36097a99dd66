"""NAS-Bench-201 as a :class:`~searchspace.base.SearchSpace`."""

from __future__ import annotations

import functools
import itertools
import random
from collections.abc import Iterator
from typing import Any

import torch

from ..base import SearchSpace, as_hw
from ..cost import ModelCost, measure
from .encoding import EDGES, OP_NAMES, OpIndices, parse, to_string
from .network import TinyNetwork
from .pool import NB201Networks
from .stacked import StackedNB201


class NB201Space(SearchSpace):
    name = "nb201"
    description = "NAS-Bench-201: one 4-node cell (6 edges x 5 ops) repeated in a fixed 3-stage skeleton; 15,625 cells."
    encoding = (
        "The benchmark's arch string |op~0|+|op~0|op~1|+|op~0|op~1|op~2| with ops "
        + ", ".join(OP_NAMES)
        + "; or 6 op indices in that op order and edge order 0->1, 0->2, 1->2, 0->3, 1->3, 2->3; "
        "or {\"naslib\": [6 ints]} for NASLib's op_indices."
    )
    parameter_free = frozenset({"none", "skip_connect", "avg_pool_3x3"})
    example = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"

    def __init__(self, C: int = 16, N: int = 5):
        self.C = C
        self.N = N
        self._terms: dict[tuple[int, tuple[int, int]], tuple[ModelCost, list[list[ModelCost]]]] = {}

    @property
    def size(self) -> int:
        return len(OP_NAMES) ** len(EDGES)

    def ops(self, arch: Any) -> OpIndices:
        """Canonical op indices of any accepted encoding."""
        return parse(arch)

    def canonical(self, arch: Any) -> str:
        return to_string(parse(arch))

    def random(self, rng: random.Random) -> str:
        return to_string([rng.randrange(len(OP_NAMES)) for _ in EDGES])

    def mutate(self, arch: Any, rng: random.Random) -> str:
        ops = list(parse(arch))
        edge = rng.randrange(len(EDGES))
        ops[edge] = rng.choice([op for op in range(len(OP_NAMES)) if op != ops[edge]])
        return to_string(ops)

    def decisions(self, arch: Any) -> list[tuple[str, object]]:
        """Each edge's op: ("edge 0->1", "nor_conv_3x3"), ..."""
        return [(f"edge {src}->{dst}", OP_NAMES[op]) for (src, dst), op in zip(EDGES, parse(arch))]

    def neighbours(self, arch: Any) -> list[str]:
        """All 24 cells one edge away from ``arch``."""
        ops = parse(arch)
        return [
            to_string(ops[:e] + (op,) + ops[e + 1 :]) for e in range(len(EDGES)) for op in range(len(OP_NAMES)) if op != ops[e]
        ]

    def enumerate(self) -> Iterator[str]:
        for ops in itertools.product(range(len(OP_NAMES)), repeat=len(EDGES)):
            yield to_string(ops)

    def cost(self, arch: Any, num_classes: int = 10, input_size: int | tuple[int, int] | None = None) -> ModelCost:
        """Cost of ``arch`` as the all-``none`` network plus one measured term per (edge, op).

        Exact because edge ops never change shapes, so their costs add; each term is measured
        once per (class count, input size) on the meta device.
        """
        ops = parse(arch)
        hw = self.input_shape[1:] if input_size is None else as_hw(input_size)
        if (num_classes, hw) not in self._terms:
            self._terms[num_classes, hw] = self._cost_terms(num_classes, hw)
        base, deltas = self._terms[num_classes, hw]
        params = base.params + sum(deltas[e][op].params for e, op in enumerate(ops))
        flops = base.flops + sum(deltas[e][op].flops for e, op in enumerate(ops))
        return ModelCost(params, flops)

    def _cost_terms(self, num_classes: int, hw: tuple[int, int]) -> tuple[ModelCost, list[list[ModelCost]]]:
        shape = (self.input_shape[0], *hw)
        none = (0,) * len(EDGES)
        base = measure(functools.partial(TinyNetwork, none, num_classes, self.C, self.N), shape)
        deltas = []
        for e in range(len(EDGES)):
            row = []
            for op in range(len(OP_NAMES)):
                ops = none[:e] + (op,) + none[e + 1 :]
                c = measure(functools.partial(TinyNetwork, ops, num_classes, self.C, self.N), shape)
                row.append(ModelCost(c.params - base.params, c.flops - base.flops))
            deltas.append(row)
        return base, deltas

    def build(self, arch: Any, num_classes: int = 10) -> TinyNetwork:
        return TinyNetwork(parse(arch), num_classes=num_classes, C=self.C, N=self.N)

    def network_source(self, num_classes: int, seed: int, device: torch.device, *, pruned: bool = False) -> NB201Networks:
        """Seeded networks redrawn in one reusable module pool (:mod:`searchspace.nb201.pool`)."""
        return NB201Networks(self, num_classes, seed, device, pruned=pruned)

    def stacked_networks(self, num_classes: int, seed: int) -> StackedNB201:
        """Many cells per pass as grouped convolutions (:mod:`searchspace.nb201.stacked`)."""
        return StackedNB201(self, num_classes, seed)
