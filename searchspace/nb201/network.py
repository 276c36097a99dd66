"""The NAS-Bench-201 network: cell, residual reduction block and macro skeleton.

Module names, construction order (hence initialisation from a seed) and forward semantics
match the benchmark's own builder, so its state dicts load into these modules.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..layers import ReLUConvBN, make_op
from .encoding import EDGES, NUM_NODES, OP_NAMES


class CellGraph(nn.Module):
    """A 4-node cell: node j is the sum over i<j of ``layers`` edge (i->j) applied to node i; the output is node 3.

    Subclasses build ``layers``, one module per edge in ``EDGES`` order.
    """

    layers: nn.ModuleList
    edges = EDGES

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for node in range(1, NUM_NODES):
            nodes.append(sum(layer(nodes[src]) for layer, (src, dst) in zip(self.layers, self.edges) if dst == node))
        return nodes[-1]


class InferCell(CellGraph):
    """The NAS-Bench-201 cell at ``channels`` channels."""

    def __init__(self, ops: Sequence[int], channels: int):
        super().__init__()
        self.layers = nn.ModuleList(make_op(OP_NAMES[op], channels, channels) for op in ops)


class ResNetBasicblock(nn.Module):
    """Stride-2 residual block between stages: b(a(x)) + conv1x1(avgpool(x)), no ReLU after."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, kernel_size=1, stride=1, padding=0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class CellNetwork(nn.Module):
    """A stem, then cells and residual blocks in ``cells``, then the benchmark's head: BN-ReLU, global average pool, linear."""

    stem: nn.Module
    cells: nn.ModuleList

    def add_head(self, channels: int, num_classes: int) -> None:
        """Build the head last, as the benchmark's builders do (the order fixes seeded initialisation)."""
        self.lastact = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        x = self.global_pooling(self.lastact(x))
        return self.classifier(x.flatten(1))


class TinyNetwork(CellNetwork):
    """Stem, three stages of ``N`` cells at C, 2C, 4C channels with residual blocks between, BN-ReLU-GAP-linear head."""

    def __init__(self, ops: Sequence[int], num_classes: int = 10, C: int = 16, N: int = 5):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, C, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(C))
        cells: list[nn.Module] = []
        channels = C
        for stage in range(3):
            if stage > 0:
                cells.append(ResNetBasicblock(channels, channels * 2))
                channels *= 2
            cells.extend(InferCell(ops, channels) for _ in range(N))
        self.cells = nn.ModuleList(cells)
        self.add_head(channels, num_classes)
