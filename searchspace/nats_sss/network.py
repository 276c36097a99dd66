"""The NATS-Bench size-space network (``DynamicShapeTinyNet`` of the benchmark's builder).

Five layers, one per channel count c1..c5: cell(c1 -> c1), residual block (c1 -> c2, stride 2),
cell(c2 -> c3), residual block (c3 -> c4, stride 2), cell(c4 -> c5); the stem outputs c1 and the
head is BN-ReLU-GAP-linear on c5.  The cell is NAS-Bench-201's with separate input and output
widths: edges leaving node 0 map c_in -> c_out, all others c_out -> c_out.  Module names and
construction order follow the benchmark's builder.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..nb201.encoding import EDGES, OPS
from ..nb201.network import CellGraph, CellNetwork, ResNetBasicblock
from ..nb201.ops import Pooling, ReLUConvBN, Zero

#: the cell every configuration uses: NAS-Bench-201's best CIFAR-100 cell, as op indices
FIXED_CELL: tuple[int, ...] = (3, 3, 3, 1, 3, 3)
FIXED_CELL_STRING = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


class ChannelZero(nn.Module):
    """``none`` between different widths: zeros with ``c_out`` channels."""

    def __init__(self, c_out: int):
        super().__init__()
        self.c_out = c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros((x.shape[0], self.c_out, *x.shape[2:]))


class FactorizedReduce(nn.Module):
    """``skip_connect`` between different widths at stride 1: 1x1 convolution (no bias) -> BN."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 1, stride=1, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class ResizedPooling(nn.Module):
    """``avg_pool_3x3`` between different widths: ReLU-conv1x1-BN to ``c_out``, then the pooling."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.preprocess = ReLUConvBN(c_in, c_out, 1, 1, 0)
        self.op = Pooling().op

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(self.preprocess(x))


def make_op(name: str, c_in: int, c_out: int) -> nn.Module:
    """The module for NAS-Bench-201 op ``name`` mapping ``c_in`` to ``c_out`` channels at stride 1."""
    same = c_in == c_out
    if name == "none":
        return Zero() if same else ChannelZero(c_out)
    if name == "skip_connect":
        return nn.Identity() if same else FactorizedReduce(c_in, c_out)
    if name == "nor_conv_1x1":
        return ReLUConvBN(c_in, c_out, 1, 1, 0)
    if name == "nor_conv_3x3":
        return ReLUConvBN(c_in, c_out, 3, 1, 1)
    if name == "avg_pool_3x3":
        return Pooling() if same else ResizedPooling(c_in, c_out)
    raise ValueError(f"unknown NAS-Bench-201 op {name!r}")


class InferCell(CellGraph):
    """NAS-Bench-201 cell from ``c_in`` to ``c_out`` channels: node j sums op(i->j)(node i); output node 3."""

    def __init__(self, ops: Sequence[int], c_in: int, c_out: int):
        super().__init__()
        self.layers = nn.ModuleList(
            make_op(OPS[op], c_in if src == 0 else c_out, c_out) for op, (src, _dst) in zip(ops, EDGES)
        )


def make_stem(c: int) -> nn.Sequential:
    """Conv3x3 (3 -> c, no bias) -> BN, as NAS-Bench-201's stem."""
    return nn.Sequential(nn.Conv2d(3, c, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(c))


class DynamicShapeTinyNet(CellNetwork):
    """Stem, cell, residual block, cell, residual block, cell at the five given widths; BN-ReLU-GAP-linear head."""

    def __init__(self, channels: Sequence[int], num_classes: int = 10, cell: Sequence[int] = FIXED_CELL):
        super().__init__()
        if len(channels) != 5:
            raise ValueError(f"expected 5 channel counts, got {len(channels)}")
        self.channels = tuple(channels)
        self.stem = make_stem(channels[0])
        self.cells = nn.ModuleList()
        c_prev = channels[0]
        for layer, c in enumerate(channels):
            if layer in (1, 3):
                self.cells.append(ResNetBasicblock(c_prev, c))
            else:
                self.cells.append(InferCell(cell, c_prev, c))
            c_prev = c
        self.add_head(c_prev, num_classes)
