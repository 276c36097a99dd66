"""Many NB-201 cells in one pass: cells stacked along the channel axis, one grouped convolution per (edge, op).

The NB-201 skeleton is the same for every cell, so K cells can share one forward pass: activations
are (B, K*C, H, W), cell k owning channels [k*C, (k+1)*C).  Per-channel layers (BatchNorm in train
mode, pooling, ReLU, additions) are already independent per cell.  For each edge the cells that chose
one op are gathered and run through one grouped convolution (groups = those cells) with their own
weights; ``none`` adds nothing, ``skip_connect`` adds the gathered channels as they are.  The
number of kernel launches stays near that of one network while the work grows K-fold: the lever
for launch-bound devices.

The pass computes no score: it hands every ReLU input to an observer, as a tensor whose channel
group g belongs to cell ``cells[g]``, with how many ReLUs read it (a scorer turns them into codes).
Weights follow each cell's own seeded initialisation (drawn by :class:`~searchspace.nb201.pool.NB201Networks`).
Node sums keep the edge order, so every value matches the one-cell pass wherever the convolution
kernels compute grouped and dense convolutions alike; where they do not, values move by rounding.
The stem's ReLU-free output, the global pooling and the classifier read no ReLU input after the
last one and are not computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from ..layers.exact_pooling import avg_pool_2x2, avg_pool_3x3_exclude_pad
from ..seeded import ReluObserver
from .encoding import EDGES, NUM_NODES, OP_NAMES
from .network import ResNetBasicblock
from .pool import NB201Networks, PrunedCell

if TYPE_CHECKING:
    from .space import NB201Space

_CONV = {"nor_conv_1x1": 0, "nor_conv_3x3": 1}


@dataclass
class _BN:
    weight: torch.Tensor
    bias: torch.Tensor
    eps: float
    momentum: float | None


@dataclass
class _Weights:
    """One cell's drawn parameters, by role (CPU tensors)."""

    stem: torch.Tensor
    stem_bn: _BN
    #: per cell position, per edge: (conv weight, BN) for convolution ops, else None
    edges: list[list[tuple[torch.Tensor, _BN] | None]]
    #: per residual block: (conv_a, bn_a, conv_b, bn_b, downsample conv)
    blocks: list[tuple[torch.Tensor, _BN, torch.Tensor, _BN, torch.Tensor]]
    last_bn: _BN


def _bn(module: nn.Module) -> _BN:
    assert isinstance(module, nn.BatchNorm2d)
    return _BN(module.weight.detach().clone(), module.bias.detach().clone(), module.eps, module.momentum)


def _extract(net: nn.Module) -> _Weights:
    """Copy the parameters of a configured pool network (see :class:`NB201Networks`) by role."""
    edges, blocks = [], []
    for cell in net.cells:
        if isinstance(cell, ResNetBasicblock):
            a, b = cell.conv_a.op, cell.conv_b.op
            blocks.append((a[1].weight.detach().clone(), _bn(a[2]), b[1].weight.detach().clone(), _bn(b[2]), cell.downsample[1].weight.detach().clone()))
        else:
            assert isinstance(cell, PrunedCell)
            edges.append(
                [
                    (layer.op[1].weight.detach().clone(), _bn(layer.op[2])) if OP_NAMES[op] in _CONV else None
                    for layer, op in zip(cell.layers, cell.ops)
                ]
            )
    return _Weights(net.stem[0].weight.detach().clone(), _bn(net.stem[1]), edges, blocks, _bn(net.lastact[0]))


def _channel_index(cells: Sequence[int], channels: int, device: torch.device) -> torch.Tensor:
    base = torch.tensor(cells, device=device)[:, None] * channels
    return (base + torch.arange(channels, device=device)[None, :]).reshape(-1)


class _Stack:
    """Stacked per-cell tensors of one layer kind, moved to the device once per batch."""

    def __init__(self, device: torch.device):
        self.device = device

    def conv(self, weights: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.cat(list(weights)).to(self.device)

    def bn(self, bns: Sequence[_BN]) -> tuple[torch.Tensor, torch.Tensor, float, float | None]:
        return (
            torch.cat([b.weight for b in bns]).to(self.device),
            torch.cat([b.bias for b in bns]).to(self.device),
            bns[0].eps,
            bns[0].momentum,
        )


def _batch_norm(x: torch.Tensor, bn: tuple[torch.Tensor, torch.Tensor, float, float | None]) -> torch.Tensor:
    weight, bias, eps, momentum = bn
    # running statistics are kept (and discarded) so the same train-mode kernel runs as in nn.BatchNorm2d
    running_mean = torch.zeros(x.shape[1], device=x.device, dtype=x.dtype)
    running_var = torch.ones(x.shape[1], device=x.device, dtype=x.dtype)
    return F.batch_norm(x, running_mean, running_var, weight, bias, True, 0.1 if momentum is None else momentum, eps)


def _subset(x: torch.Tensor, cells: Sequence[int], all_cells: int, channels: int) -> torch.Tensor:
    if len(cells) == all_cells:
        return x
    return x.index_select(1, _channel_index(cells, channels, x.device))


def _add_into(total: torch.Tensor | None, out: torch.Tensor, cells: Sequence[int], all_cells: int, channels: int) -> torch.Tensor:
    """``total`` plus ``out`` in the channels of ``cells``; never in place (``out`` may be a node itself)."""
    if len(cells) == all_cells:
        return out if total is None else total + out
    if total is None:
        total = torch.zeros(out.shape[0], all_cells * channels, *out.shape[2:], dtype=out.dtype, device=out.device)
    return total.index_add(1, _channel_index(cells, channels, out.device), out)


def _pool3(x: torch.Tensor) -> torch.Tensor:
    return avg_pool_3x3_exclude_pad(x) if x.device.type == "cpu" else F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


def _pool2(x: torch.Tensor) -> torch.Tensor:
    return avg_pool_2x2(x) if x.device.type == "cpu" else F.avg_pool2d(x, 2, 2)


def stacked_forward(space: NB201Space, archs: Sequence[tuple[int, ...]], weights: Sequence[_Weights], x: torch.Tensor, observe: ReluObserver) -> None:
    """Run K cells (op indices ``archs``) in one stacked pass over ``x``, handing every ReLU input to ``observe``."""
    k = len(archs)
    stack = _Stack(x.device)
    everyone = list(range(k))
    channels = space.C
    h = F.conv2d(x, stack.conv([w.stem for w in weights]), padding=1)
    h = _batch_norm(h, stack.bn([w.stem_bn for w in weights]))
    position = block = 0
    for stage in range(3):
        if stage > 0:
            h = _residual_block(h, [w.blocks[block] for w in weights], observe, everyone, stack)
            channels *= 2
            block += 1
        for _ in range(space.N):
            h = _cell(h, archs, [w.edges[position] for w in weights], observe, channels, stack)
            position += 1
    h = _batch_norm(h, stack.bn([w.last_bn for w in weights]))
    observe(h, everyone, [1] * k)


def _residual_block(h, blocks, observe: ReluObserver, everyone, stack: _Stack) -> torch.Tensor:
    k = len(everyone)
    observe(h, everyone, [1] * k)  # conv_a's ReLU
    a = F.conv2d(F.relu(h), stack.conv([w[0] for w in blocks]), stride=2, padding=1, groups=k)
    a = _batch_norm(a, stack.bn([w[1] for w in blocks]))
    observe(a, everyone, [1] * k)  # conv_b's ReLU
    b = F.conv2d(F.relu(a), stack.conv([w[2] for w in blocks]), padding=1, groups=k)
    b = _batch_norm(b, stack.bn([w[3] for w in blocks]))
    shortcut = F.conv2d(_pool2(h), stack.conv([w[4] for w in blocks]), groups=k)
    return shortcut + b


def _cell(h: torch.Tensor, archs, edge_weights, observe: ReluObserver, channels: int, stack: _Stack) -> torch.Tensor:
    """One cell position for all K cells: node sums in edge order, then the ReLU inputs of each node."""
    nodes: list[torch.Tensor] = [h]
    for node in range(1, NUM_NODES):
        total: torch.Tensor | None = None
        for e, (src, dst) in enumerate(EDGES):
            if dst == node:
                total = _edge(nodes[src], total, e, archs, edge_weights, channels, stack)
        nodes.append(torch.zeros_like(h) if total is None else total)
    _observe_node_relus(nodes, archs, observe, channels)
    return nodes[-1]


def _edge(inp_all: torch.Tensor, total: torch.Tensor | None, e: int, archs, edge_weights, channels: int, stack: _Stack) -> torch.Tensor | None:
    """``total`` plus edge ``e`` of every cell applied to ``inp_all``: the cells that chose one op go through it together."""
    k = len(archs)
    by_op: dict[str, list[int]] = {}
    for cell, ops in enumerate(archs):
        by_op.setdefault(OP_NAMES[ops[e]], []).append(cell)
    for name in OP_NAMES:  # a fixed op order; each cell appears under one op, so its sum order is the edge order
        cells = by_op.get(name)
        if not cells or name == "none":
            continue
        inp = _subset(inp_all, cells, k, channels)
        if name == "skip_connect":
            out = inp
        elif name == "avg_pool_3x3":
            out = _pool3(inp)
        else:
            w = stack.conv([edge_weights[c][e][0] for c in cells])
            out = F.conv2d(F.relu(inp), w, padding=w.shape[-1] // 2, groups=len(cells))
            out = _batch_norm(out, stack.bn([edge_weights[c][e][1] for c in cells]))
        total = _add_into(total, out, cells, k, channels)
    return total


def _observe_node_relus(nodes: list[torch.Tensor], archs, observe: ReluObserver, channels: int) -> None:
    """Hand each node to ``observe`` for the cells whose convolution edges read it, with how many read it."""
    k = len(archs)
    for src in range(NUM_NODES - 1):
        times = [sum(1 for e, (s, _d) in enumerate(EDGES) if s == src and OP_NAMES[ops[e]] in _CONV) for ops in archs]
        cells = [c for c in range(k) if times[c]]
        if cells:
            observe(_subset(nodes[src], cells, k, channels), cells, [times[c] for c in cells])


class StackedNB201:
    """Groups of NB-201 cells in stacked passes; weights from each cell's own seeded draw (on the CPU)."""

    def __init__(self, space: NB201Space, num_classes: int, seed: int):
        self.space = space
        self._draws = NB201Networks(space, num_classes, seed, torch.device("cpu"), pruned=True)

    def forward(self, archs: Sequence[Any], x: torch.Tensor, observe: ReluObserver) -> None:
        """One stacked pass of ``archs`` over ``x`` (no autograd), every ReLU input handed to ``observe``."""
        ops = [self.space.ops(a) for a in archs]
        weights = []
        for arch in archs:
            with self._draws.network(arch) as net:
                weights.append(_extract(net))
        with torch.no_grad():
            stacked_forward(self.space, ops, weights, x, observe)
