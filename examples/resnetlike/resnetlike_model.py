"""The builder of the ``resnetlike`` example space: a small ResNet whose depth, width, kernel and head are chosen.

``build(config, num_classes)`` is what ``space.json`` names (``resnetlike_model:build``); the service
calls it with one configuration of the space, e.g. ``{"depth": 2, "kernel": 3, "pool": "avg",
"stages": 3, "width": 16}``, and scores the network it returns.
"""

from __future__ import annotations

from torch import nn


class BasicBlock(nn.Module):
    """Two k x k convolutions with BatchNorm and a residual connection (a 1x1 projection when the shape changes)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int):
        super().__init__()
        pad = kernel // 2
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, kernel, stride, pad, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
            nn.Conv2d(c_out, c_out, kernel, 1, pad, bias=False), nn.BatchNorm2d(c_out),
        )
        same = stride == 1 and c_in == c_out
        self.shortcut = nn.Identity() if same else nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
        self.out = nn.ReLU()

    def forward(self, x):
        return self.out(self.body(x) + self.shortcut(x))


class ResNetLike(nn.Module):
    """Stem, ``stages`` stages of ``depth`` blocks (width doubling, resolution halving after the first), pooled head.

    The blocks are the one ``nn.Sequential`` directly under the network: scores that look at a network
    block by block (AZ-NAS) take the longest such sequence as its blocks.
    """

    def __init__(self, config: dict, num_classes: int):
        super().__init__()
        width, kernel = config["width"], config["kernel"]
        self.stem_conv, self.stem_bn, self.stem_relu = nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        blocks, channels = [], width
        for stage in range(config["stages"]):
            for b in range(config["depth"]):
                out = width * 2**stage
                blocks.append(BasicBlock(channels, out, kernel, 2 if stage > 0 and b == 0 else 1))
                channels = out
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1) if config["pool"] == "avg" else nn.AdaptiveMaxPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x):
        x = self.blocks(self.stem_relu(self.stem_bn(self.stem_conv(x))))
        return self.classifier(self.pool(x).flatten(1))


def build(config: dict, num_classes: int) -> nn.Module:
    """The network of one configuration of the space."""
    return ResNetLike(config, num_classes)
