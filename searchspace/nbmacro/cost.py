"""Cost of an nb-macro network as the sum of its parts (stem, each searched layer in place, head), each part
counted once per (configuration, input size) on the meta device.

Exact: the parts own disjoint parameters and FLOPs are counted per layer, so the sum equals counting the
whole network (a test checks both against each other and against the benchmark's figures for all 6,561).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from torch import nn

from ..cost import HW, ModelCost, measure, strided
from .network import HEAD_WIDTH, Layer, head, layer_plan, searched, stem

@functools.cache
def _stem(c_in: int, hw: HW) -> ModelCost:
    return measure(lambda: stem(c_in), (c_in, *hw))


@functools.cache
def _layer(layer: Layer, hw: HW) -> ModelCost:
    return measure(lambda: searched(layer), (layer.c_in, *hw))


@functools.cache
def _head(c_in: int, hw: HW, num_classes: int) -> ModelCost:
    return measure(lambda: nn.Sequential(head(c_in), nn.Linear(HEAD_WIDTH, num_classes)), (c_in, *hw))


def network_cost(ops: Sequence[int], num_classes: int, in_channels: int, hw: HW) -> ModelCost:
    """Parameters and FLOPs per image of the network of ``ops`` on ``in_channels`` x ``hw`` inputs."""
    parts = [_stem(in_channels, hw)]
    plan = layer_plan(ops)
    for layer in plan:
        parts.append(_layer(layer, hw))
        hw = strided(hw, layer.stride)
    parts.append(_head(plan[-1].c_out, hw, num_classes))
    return ModelCost.total(parts)
