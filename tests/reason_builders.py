"""A builder for the undefined-with-a-reason tests: a network with no activation module at all (conv, BN, pool, linear)."""

from __future__ import annotations

from torch import nn


def no_activation(config: dict, num_classes: int) -> nn.Module:
    """Conv (``width`` channels) -> BN -> global pool -> linear: no code to read, a gradient to follow."""
    width = config["width"]
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))
