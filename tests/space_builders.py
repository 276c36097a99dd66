"""Builders for the space-file tests: one that works, and one per way a builder can misbehave (on width 8 only)."""

from __future__ import annotations

from torch import nn

CALLS: list[dict] = []  # every configuration ``tiny`` was called with


def tiny(config: dict, num_classes: int) -> nn.Module:
    """``depth`` conv-BN-ReLU layers of ``width`` channels, pooled into a linear classifier."""
    CALLS.append(dict(config))
    width = config["width"]
    layers: list[nn.Module] = []
    for i in range(config.get("depth", 1)):
        layers += [nn.Conv2d(3 if i == 0 else width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))


def raises(config: dict, num_classes: int) -> nn.Module:
    if config["width"] == 8:
        raise RuntimeError("width 8 is not supported by this family")
    return tiny(config, num_classes)


def not_module(config: dict, num_classes: int) -> object:
    return "a network, honestly" if config["width"] == 8 else tiny(config, num_classes)


def bad_forward(config: dict, num_classes: int) -> nn.Module:
    if config["width"] == 8:
        return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(7, num_classes))  # 8*30*30 inputs, not 7
    return tiny(config, num_classes)


def huge(config: dict, num_classes: int) -> nn.Module:
    if config["width"] == 8:
        return nn.Sequential(nn.Flatten(), nn.ReLU(), nn.Linear(3 * 32 * 32, 1_000_000), nn.Linear(1_000_000, num_classes))
    return tiny(config, num_classes)


NOT_CALLABLE = 42
