"""The NATS-Bench size-space network (``DynamicShapeTinyNet`` of the benchmark's builder).

Five layers, one per channel count c1..c5: cell(c1 -> c1), residual block (c1 -> c2, stride 2),
cell(c2 -> c3), residual block (c3 -> c4, stride 2), cell(c4 -> c5); the stem outputs c1 and the
head is BN-ReLU-GAP-linear on c5.  The cell is NAS-Bench-201's with separate input and output
widths: edges leaving node 0 map c_in -> c_out, all others c_out -> c_out.  Module names and
construction order follow the benchmark's builder.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ..layers import make_op
from ..nb201.encoding import EDGES, OP_NAMES
from ..nb201.network import CellGraph, CellNetwork, ResNetBasicblock

#: the cell every configuration uses: NAS-Bench-201's best CIFAR-100 cell, as op indices
FIXED_CELL: tuple[int, ...] = (3, 3, 3, 1, 3, 3)
FIXED_CELL_STRING = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


class InferCell(CellGraph):
    """NAS-Bench-201 cell from ``c_in`` to ``c_out`` channels: node j sums op(i->j)(node i); output node 3."""

    def __init__(self, ops: Sequence[int], c_in: int, c_out: int):
        super().__init__()
        self.layers = nn.ModuleList(
            make_op(OP_NAMES[op], c_in if src == 0 else c_out, c_out) for op, (src, _dst) in zip(ops, EDGES)
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
