"""Cost of an ofa-mbv3 subnet as the sum of its parts, each counted once per (configuration, input size) on the meta device.

Exact: the stem, each bottleneck and the head own disjoint parameters, and FLOPs are counted per
layer, so the sum equals counting the whole network; but a search meets the same few hundred parts
again and again, so a new subnet costs milliseconds instead of a whole-network build.
"""

from __future__ import annotations

import functools

from torch import nn

from ..cost import HW, ModelCost, measure, strided
from ..layers.mbv3 import InvertedResidual, InvertedResidualConfig, classifier, last_conv, stem
from .encoding import Subnet
from .network import HEAD, OFA_NORM, STEM_WIDTH, block_setting

@functools.cache
def _stem(c_in: int, hw: HW) -> ModelCost:
    return measure(lambda: stem(c_in, STEM_WIDTH, OFA_NORM), (c_in, *hw))


@functools.cache
def _block(cnf: InvertedResidualConfig, hw: HW) -> ModelCost:
    return measure(lambda: InvertedResidual(cnf, OFA_NORM), (cnf.input_channels, *hw))


@functools.cache
def _head(c_in: int, hw: HW, num_classes: int) -> ModelCost:
    parts = lambda: nn.Sequential(last_conv(c_in, OFA_NORM), nn.AdaptiveAvgPool2d(1), nn.Flatten(), classifier(6 * c_in, HEAD, num_classes))  # noqa: E731
    return measure(parts, (c_in, *hw))


def subnet_cost(subnet: Subnet, num_classes: int, in_channels: int, hw: HW) -> ModelCost:
    """Parameters and FLOPs per image of ``subnet``'s network on ``in_channels`` x ``hw`` inputs."""
    parts = [_stem(in_channels, hw)]
    hw = strided(hw, 2)
    setting = block_setting(subnet)
    for cnf in setting:
        parts.append(_block(cnf, hw))
        hw = strided(hw, cnf.stride)
    parts.append(_head(setting[-1].out_channels, hw, num_classes))
    return ModelCost.total(parts)
