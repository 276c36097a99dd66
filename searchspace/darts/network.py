"""The DARTS evaluation network for CIFAR (``NetworkCIFAR`` of the DARTS code), without auxiliary head or drop-path.

Stem conv3x3 (3 -> 3C, no bias) -> BN; ``layers`` cells, the ones at layers//3 and 2*layers//3
being reduction cells that double the width and halve the resolution; global average pool;
linear classifier.  Each cell preprocesses its two inputs to C channels (ReLU-conv1x1-BN, or
FactorizedReduce when the previous cell reduced), applies its genotype, and concatenates its four
intermediate nodes (4C channels out).
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers import FactorizedReduce, ReLUConvBN, make_op
from .genotype import CONCAT, STEPS, CellEdges, Genotype


class Cell(nn.Module):
    def __init__(self, edges: CellEdges, c_prev_prev: int, c_prev: int, c: int, reduction: bool, reduction_prev: bool):
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = FactorizedReduce(c_prev_prev, c) if reduction_prev else ReLUConvBN(c_prev_prev, c, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(c_prev, c, 1, 1, 0)
        # attribute names as in the DARTS code, so its state dicts line up
        self._ops = nn.ModuleList(make_op(op, c, c, 2 if reduction and index < 2 else 1) for op, index in edges)
        self._indices = tuple(index for _, index in edges)
        self._concat = CONCAT
        self.multiplier = len(CONCAT)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for k in range(STEPS):
            a, b = 2 * k, 2 * k + 1
            states.append(self._ops[a](states[self._indices[a]]) + self._ops[b](states[self._indices[b]]))
        return torch.cat([states[i] for i in self._concat], dim=1)


class NetworkCIFAR(nn.Module):
    def __init__(self, genotype: Genotype, num_classes: int = 10, C: int = 16, layers: int = 8, stem_multiplier: int = 3):
        super().__init__()
        c_curr = stem_multiplier * C
        self.stem = nn.Sequential(nn.Conv2d(3, c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr))
        c_prev_prev, c_prev, c_curr = c_curr, c_curr, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_curr *= 2
            cell = Cell(genotype.reduce if reduction else genotype.normal, c_prev_prev, c_prev, c_curr, reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, cell.multiplier * c_curr
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(self.global_pooling(s1).flatten(1))
