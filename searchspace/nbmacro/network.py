"""NAS-Bench-Macro's network (Su et al., "Prioritized Architecture Sampling with Monte-Carlo Tree Search", CVPR 2021).

As the benchmark's ``train/model.py`` lays it out: a 3x3 stem conv to 32 channels (stride 1) + BN + ReLU;
8 searched layers in stages of 2, 3 and 3, the first layer of each stage doubling the width at stride 2
(32 -> 64 -> 128 -> 256); a 1x1 conv to 1280 + BN + ReLU, global average pooling and a linear classifier.
A searched layer is identity (a 1x1 conv + BN where the shape changes, else nothing) or a MobileNetV2 block
(1x1 expand + BN + ReLU, kxk depthwise + BN + ReLU, 1x1 project + BN; residual when the shape is kept),
from the MobileNet blocks of :mod:`..layers.mbv3`.  Convolutions have no bias, BatchNorm PyTorch's defaults,
and weights PyTorch's default initialisation, as the benchmark trained them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..layers.mbv3 import ConvNormActivation, InvertedResidual, InvertedResidualConfig
from .encoding import MBV2, STAGES

STEM_WIDTH = 32
HEAD_WIDTH = 1280


@dataclass(frozen=True)
class Layer:
    """One searched layer in place: its op index, widths in and out, and stride."""

    op: int
    c_in: int
    c_out: int
    stride: int

    @property
    def keeps_shape(self) -> bool:
        return self.stride == 1 and self.c_in == self.c_out


def layer_plan(ops: Sequence[int]) -> list[Layer]:
    """The searched layers of ``ops``: each stage's first layer doubles the width at stride 2."""
    plan, width, ops = [], STEM_WIDTH, list(ops)
    for depth in STAGES:
        for index in range(depth):
            stride, c_out = (2, 2 * width) if index == 0 else (1, width)
            plan.append(Layer(ops[len(plan)], width, c_out, stride))
            width = c_out
    return plan


def stem(c_in: int) -> nn.Module:
    """3x3 conv (stride 1) to 32 channels, BN, ReLU."""
    return ConvNormActivation(c_in, STEM_WIDTH, 3, 1, norm_layer=nn.BatchNorm2d, activation_layer=nn.ReLU)


def searched(layer: Layer) -> nn.Module:
    """The module of one searched layer."""
    if layer.op in MBV2:
        kernel, expand = MBV2[layer.op]
        cnf = InvertedResidualConfig(layer.c_in, kernel, layer.c_in * expand, layer.c_out, False, "RE", layer.stride)
        return InvertedResidual(cnf, nn.BatchNorm2d)
    if layer.keeps_shape:
        return nn.Identity()
    return ConvNormActivation(layer.c_in, layer.c_out, 1, layer.stride, norm_layer=nn.BatchNorm2d, activation_layer=None)


def head(c_in: int) -> nn.Sequential:
    """1x1 conv to 1280, BN, ReLU, then global average pooling (flattened)."""
    return nn.Sequential(
        ConvNormActivation(c_in, HEAD_WIDTH, 1, norm_layer=nn.BatchNorm2d, activation_layer=nn.ReLU),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )


class NBMacroNetwork(nn.Module):
    """Stem -> the 8 searched layers -> head -> linear classifier."""

    def __init__(self, ops: Sequence[int], num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        plan = layer_plan(ops)
        self.stem = stem(in_channels)
        self.features = nn.Sequential(*(searched(layer) for layer in plan))
        self.head = head(plan[-1].c_out)
        self.classifier = nn.Linear(HEAD_WIDTH, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.features(self.stem(x))))
