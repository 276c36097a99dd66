"""The NAS-Bench-101 network, reproducing the semantics of the benchmark's TensorFlow builder in PyTorch.

- Every convolution is conv (no bias) -> BatchNorm (with scale and shift, as TF's default) -> ReLU;
  BN uses the benchmark's epsilon 1e-5 and decay 0.997 (PyTorch momentum 0.003).
- Skeleton: stem conv3x3-BN-ReLU to 128 channels; 3 stacks of 3 cells; before stacks 2 and 3 a
  2x2 max-pool (stride 2) halves the resolution and the cell width doubles; global average pool;
  dense layer with bias.
- Inside a cell, the output width is split among the interior vertices feeding the output
  (:func:`vertex_channels`); their tensors are concatenated, and an input->output edge adds a
  1x1 projection of the input to the concatenation.  Edges leaving the input are 1x1 projections
  to the target's width; edges between interior vertices pass the tensor, dropping the extra
  channel when the source is one wider.  Tensors meeting at an interior vertex are summed.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ..layers import ConvBnRelu, make_op
from .graph import Cell


def vertex_channels(c_in: int, c_out: int, matrix: tuple[tuple[int, ...], ...]) -> list[int]:
    """Width of every vertex, by the benchmark's rule.

    Vertices feeding the output share ``c_out`` equally, the first ``c_out % k`` of them taking
    one extra channel; every other interior vertex takes the largest width among the interior
    vertices it feeds.
    """
    n = len(matrix)
    widths = [0] * n
    widths[0], widths[-1] = c_in, c_out
    if n == 2:
        return widths
    feeders = [v for v in range(1, n - 1) if matrix[v][n - 1]]
    share, extra = divmod(c_out, len(feeders))
    for rank, v in enumerate(feeders):
        widths[v] = share + (1 if rank < extra else 0)
    for v in range(n - 3, 0, -1):
        if not matrix[v][n - 1]:
            widths[v] = max(widths[w] for w in range(v + 1, n - 1) if matrix[v][w])
    return widths


class Vertex(nn.Module):
    """One interior vertex: the 1x1 projection of the cell input (when the input feeds it) and its op."""

    def __init__(self, op: str, c_in: int, channels: int, from_input: bool):
        super().__init__()
        self.projection = ConvBnRelu(c_in, channels, 1) if from_input else None
        self.op = make_op(op, channels, channels)


class NB101Cell(nn.Module):
    """One cell (the benchmark's "module") from ``c_in`` to ``c_out`` channels."""

    def __init__(self, cell: Cell, c_in: int, c_out: int):
        super().__init__()
        m = cell.matrix
        n = cell.num_vertices
        self.matrix = m
        self.widths = vertex_channels(c_in, c_out, m)
        self.vertices = nn.ModuleList(Vertex(cell.ops[t], c_in, self.widths[t], bool(m[0][t])) for t in range(1, n - 1))
        self.projection = ConvBnRelu(c_in, c_out, 1) if m[0][n - 1] else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m, n = self.matrix, len(self.matrix)
        tensors = [x]
        outputs = []
        for t, vertex in enumerate(self.vertices, start=1):
            inputs = [tensors[s][:, : self.widths[t]] for s in range(1, t) if m[s][t]]
            if vertex.projection is not None:
                inputs.append(vertex.projection(x))
            h = inputs[0]
            for extra in inputs[1:]:
                h = h + extra
            h = vertex.op(h)
            tensors.append(h)
            if m[t][n - 1]:
                outputs.append(h)
        if not outputs:
            return self.projection(x)
        out = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=1)
        if self.projection is not None:
            out = out + self.projection(x)
        return out


class NB101Network(nn.Module):
    """The benchmark's skeleton around one cell (stem 128 channels, 3 stacks of 3 cells by default)."""

    def __init__(self, cell: Cell, num_classes: int = 10, stem_channels: int = 128, num_stacks: int = 3, cells_per_stack: int = 3):
        super().__init__()
        self.stem = ConvBnRelu(3, stem_channels, 3)
        channels = stem_channels
        stacks = []
        for stack in range(num_stacks):
            layers: OrderedDict[str, nn.Module] = OrderedDict()
            c_in = channels
            if stack > 0:
                # TF 'same' 2x2/2 pooling: ceil(H/2) outputs, the last window clipped
                layers["downsample"] = nn.MaxPool2d(2, stride=2, ceil_mode=True)
                channels *= 2
            for i in range(cells_per_stack):
                layers[f"module{i}"] = NB101Cell(cell, c_in, channels)
                c_in = channels
            stacks.append(nn.Sequential(layers))
        self.stacks = nn.ModuleList(stacks)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stack in self.stacks:
            x = stack(x)
        return self.classifier(x.mean(dim=(2, 3)))
