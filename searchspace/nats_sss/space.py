"""The NATS-Bench size search space as a :class:`~searchspace.base.SearchSpace`."""

from __future__ import annotations

import functools
import itertools
import random
from collections.abc import Iterator
from typing import Any

from ..base import SearchSpace, as_hw
from ..cost import ModelCost, measure
from ..nb201.network import ResNetBasicblock
from .encoding import CHANNELS, NUM_LAYERS, Channels, index_of, parse, to_string
from .network import FIXED_CELL, FIXED_CELL_STRING, DynamicShapeTinyNet, InferCell, make_stem


class NATSSizeSpace(SearchSpace):
    name = "nats-sss"
    description = (
        "NATS-Bench size search space: NAS-Bench-201's skeleton with one fixed cell per stage and five "
        "channel counts from {8, 16, ..., 64}; 32,768 configurations."
    )
    encoding = (
        "The benchmark's channel string c1:c2:c3:c4:c5, each count one of 8, 16, 24, 32, 40, 48, 56, 64 "
        "(c1: stem and first cell, c2: first residual block, c3: second cell, c4: second residual block, "
        f"c5: last cell and classifier input); or a list of 5 integers. The cell is fixed to {FIXED_CELL_STRING}."
    )
    example = "64:64:64:64:64"

    @property
    def size(self) -> int:
        return len(CHANNELS) ** NUM_LAYERS

    def channels(self, arch: Any) -> Channels:
        """The five channel counts of any accepted encoding."""
        return parse(arch)

    def index(self, arch: Any) -> int:
        """The benchmark's architecture index (0..32767), for looking results up in NATS-Bench."""
        return index_of(parse(arch))

    def canonical(self, arch: Any) -> str:
        return to_string(parse(arch))

    def random(self, rng: random.Random) -> str:
        return to_string([rng.choice(CHANNELS) for _ in range(NUM_LAYERS)])

    def mutate(self, arch: Any, rng: random.Random) -> str:
        channels = list(parse(arch))
        layer = rng.randrange(NUM_LAYERS)
        channels[layer] = rng.choice([c for c in CHANNELS if c != channels[layer]])
        return to_string(channels)

    def decisions(self, arch: Any) -> list[tuple[str, object]]:
        """Each layer's channel count: ("c1", 64), ..., ("c5", 8)."""
        return [(f"c{i}", c) for i, c in enumerate(parse(arch), 1)]

    def neighbours(self, arch: Any) -> list[str]:
        """All 35 configurations differing from ``arch`` in one channel count."""
        channels = parse(arch)
        return [
            to_string(channels[:i] + (c,) + channels[i + 1 :]) for i in range(NUM_LAYERS) for c in CHANNELS if c != channels[i]
        ]

    def enumerate(self) -> Iterator[str]:
        """Every configuration, in the benchmark's index order."""
        for channels in itertools.product(CHANNELS, repeat=NUM_LAYERS):
            yield to_string(channels)

    def build(self, arch: Any, num_classes: int = 10) -> DynamicShapeTinyNet:
        return DynamicShapeTinyNet(parse(arch), num_classes=num_classes)

    def cost(self, arch: Any, num_classes: int = 10, input_size: int | tuple[int, int] | None = None) -> ModelCost:
        """Cost as the sum of per-layer terms, each measured once per (widths, resolution) on the meta device.

        Exact: layers own disjoint parameters and FLOPs are counted per layer.
        """
        c = parse(arch)
        h, w = self.input_shape[1:] if input_size is None else as_hw(input_size)
        parts = [_stem_cost(c[0], h, w), _cell_cost(c[0], c[0], h, w), _block_cost(c[0], c[1], h, w)]
        h, w = (h + 1) // 2, (w + 1) // 2
        parts += [_cell_cost(c[1], c[2], h, w), _block_cost(c[2], c[3], h, w)]
        h, w = (h + 1) // 2, (w + 1) // 2
        parts += [_cell_cost(c[3], c[4], h, w), _head_cost(c[4], num_classes)]
        return ModelCost(sum(p.params for p in parts), sum(p.flops for p in parts))


@functools.cache
def _stem_cost(c: int, h: int, w: int) -> ModelCost:
    return measure(lambda: make_stem(c), (3, h, w))


@functools.cache
def _cell_cost(c_in: int, c_out: int, h: int, w: int) -> ModelCost:
    return measure(lambda: InferCell(FIXED_CELL, c_in, c_out), (c_in, h, w))


@functools.cache
def _block_cost(c_in: int, c_out: int, h: int, w: int) -> ModelCost:
    return measure(lambda: ResNetBasicblock(c_in, c_out), (c_in, h, w))


@functools.cache
def _head_cost(c: int, num_classes: int) -> ModelCost:
    # BatchNorm (2c) plus the classifier; one multiply-accumulate per weight and one per bias
    return ModelCost(2 * c + c * num_classes + num_classes, c * num_classes + num_classes)
