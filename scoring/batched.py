"""Many NB-201 cells in one pass: cells stacked along the channel axis, one grouped convolution per (edge, op).

The NB-201 skeleton is the same for every cell, so K cells can share one forward pass: activations
are (B, K*C, H, W), cell k owning channels [k*C, (k+1)*C).  Per-channel layers (BatchNorm in train
mode, pooling, ReLU, additions) are already independent per cell.  For each edge the cells that chose
one op are gathered and run through one grouped convolution (groups = those cells) with their own
weights; ``none`` adds nothing, ``skip_connect`` adds the gathered channels as they are.  The codes
of each cell come from its own channel group and K_H for all cells is one batched product.  The
number of kernel launches stays near that of one network while the work grows K-fold: the lever
for launch-bound devices.

Weights follow each cell's own seeded initialisation (drawn by :class:`~scoring.networks.NB201Networks`).
Node sums keep the edge order, so every value matches the one-cell pass wherever the convolution
kernels compute grouped and dense convolutions alike; where they do not, scores move by rounding
(the tests and ``bench/throughput.py --batched`` report the difference and the rank agreement).
The stem's ReLU-free output, the global pooling and the classifier cannot change the score and are
not computed past the last ReLU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from searchspace.nb201 import NB201Space, ResNetBasicblock
from searchspace.nb201.encoding import EDGES, NUM_NODES, OPS

from .exact_ops import avg_pool_2x2, avg_pool_3x3_exclude_pad
from .naswot import MIN_INT8_UNITS, kernel_from_gram
from .networks import NB201Networks, PrunedCell
from .precision import forward_precision

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
                    (layer.op[1].weight.detach().clone(), _bn(layer.op[2])) if OPS[op] in _CONV else None
                    for layer, op in zip(cell.layers, cell.ops)
                ]
            )
    return _Weights(net.stem[0].weight.detach().clone(), _bn(net.stem[1]), edges, blocks, _bn(net.lastact[0]))


class _Codes:
    """Per-cell sums of code Grams and unit counts for K stacked cells."""

    def __init__(self, cells: int, batch: int, device: torch.device):
        self.gram = torch.zeros(cells, batch, batch, dtype=torch.float64, device=device)
        self.units = [0] * cells

    def add(self, x: torch.Tensor, cells: Sequence[int], times: Sequence[int]) -> None:
        """Codes of ``x`` (B, len(cells) * C, H, W; channel group g belongs to cell cells[g]), counted ``times[g]`` times."""
        b = x.shape[0]
        codes = (x.reshape(b, len(cells), -1) > 0)
        grams = _grouped_gram(codes)
        weight = torch.tensor(times, dtype=torch.float64, device=x.device)[:, None, None]
        index = torch.tensor(cells, device=x.device)
        self.gram.index_add_(0, index, grams * weight)
        n = codes.shape[2]
        for c, t in zip(cells, times):
            self.units[c] += t * n


def _grouped_gram(codes: torch.Tensor) -> torch.Tensor:
    """C_g C_g^T (float64, G x B x B) for bool codes (B, G, n): exact (int8 on the CPU, float32 batched elsewhere)."""
    b, groups, n = codes.shape
    if codes.device.type == "cpu" and n >= MIN_INT8_UNITS:
        c8 = codes.view(torch.int8)
        return torch.stack([torch._int_mm(c8[:, g], c8[:, g].T) for g in range(groups)]).to(torch.float64)
    out = torch.zeros(groups, b, b, dtype=torch.float64, device=codes.device)
    step = 2**24 - 1
    for start in range(0, n, step):
        c = codes[:, :, start : start + step].to(torch.float32).transpose(0, 1)
        out += torch.bmm(c, c.transpose(1, 2))
    return out


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


def batched_kernels(space: NB201Space, archs: Sequence[tuple[int, ...]], weights: Sequence[_Weights], x: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
    """K_H (K x B x B float64, on x's device) and unit counts of K cells scored in one stacked pass."""
    k = len(archs)
    stack = _Stack(x.device)
    codes = _Codes(k, x.shape[0], x.device)
    everyone = list(range(k))
    channels = space.C
    h = F.conv2d(x, stack.conv([w.stem for w in weights]), padding=1)
    h = _batch_norm(h, stack.bn([w.stem_bn for w in weights]))
    position = block = 0
    for stage in range(3):
        if stage > 0:
            h = _residual_block(h, [w.blocks[block] for w in weights], codes, everyone, channels, stack)
            channels *= 2
            block += 1
        for _ in range(space.N):
            h = _cell(h, archs, [w.edges[position] for w in weights], codes, channels, stack)
            position += 1
    h = _batch_norm(h, stack.bn([w.last_bn for w in weights]))
    codes.add(h, everyone, [1] * k)
    return kernel_from_gram_batched(codes.gram, codes.units), codes.units


def kernel_from_gram_batched(gram: torch.Tensor, units: Sequence[int]) -> torch.Tensor:
    """K_H = N_A + 2 G - d_i - d_j for each of a stack of code Grams (K x B x B)."""
    return torch.stack([kernel_from_gram(gram[i], units[i]) for i in range(gram.shape[0])])


def log_abs_det_batched(matrices: torch.Tensor, units: Sequence[int]) -> torch.Tensor:
    """log|det K_H| per cell (float64, on the device), ``-inf`` where K_H is singular, as :func:`naswot.log_abs_det`."""
    sign, logabs = torch.linalg.slogdet(matrices)
    b = matrices.shape[-1]
    off_diagonal = ~torch.eye(b, dtype=torch.bool, device=matrices.device)
    full = torch.tensor(list(units), dtype=matrices.dtype, device=matrices.device)[:, None, None]
    repeated_code = ((matrices == full) & off_diagonal).flatten(1).any(dim=1)
    singular = repeated_code | (sign == 0) | ~torch.isfinite(logabs)
    return torch.where(singular, torch.full_like(logabs, -math.inf), logabs)


def _residual_block(h, blocks, codes: _Codes, everyone, channels: int, stack: _Stack) -> torch.Tensor:
    k = len(everyone)
    codes.add(h, everyone, [1] * k)  # conv_a's ReLU
    a = F.conv2d(F.relu(h), stack.conv([w[0] for w in blocks]), stride=2, padding=1, groups=k)
    a = _batch_norm(a, stack.bn([w[1] for w in blocks]))
    codes.add(a, everyone, [1] * k)  # conv_b's ReLU
    b = F.conv2d(F.relu(a), stack.conv([w[2] for w in blocks]), padding=1, groups=k)
    b = _batch_norm(b, stack.bn([w[3] for w in blocks]))
    shortcut = F.conv2d(_pool2(h), stack.conv([w[4] for w in blocks]), groups=k)
    return shortcut + b


def _cell(h: torch.Tensor, archs, edge_weights, codes: _Codes, channels: int, stack: _Stack) -> torch.Tensor:
    k = len(archs)
    nodes: list[torch.Tensor] = [h]
    for node in range(1, NUM_NODES):
        total: torch.Tensor | None = None
        for e, (src, dst) in enumerate(EDGES):
            if dst != node:
                continue
            by_op: dict[str, list[int]] = {}
            for cell, ops in enumerate(archs):
                by_op.setdefault(OPS[ops[e]], []).append(cell)
            for name in OPS:  # a fixed op order; each cell appears under one op, so its sum order is the edge order
                cells = by_op.get(name)
                if not cells or name == "none":
                    continue
                inp = _subset(nodes[src], cells, k, channels)
                if name == "skip_connect":
                    out = inp
                elif name == "avg_pool_3x3":
                    out = _pool3(inp)
                else:
                    w = stack.conv([edge_weights[c][e][0] for c in cells])
                    out = F.conv2d(F.relu(inp), w, padding=w.shape[-1] // 2, groups=len(cells))
                    out = _batch_norm(out, stack.bn([edge_weights[c][e][1] for c in cells]))
                total = _add_into(total, out, cells, k, channels)
        nodes.append(torch.zeros_like(h) if total is None else total)
    for src in range(NUM_NODES - 1):
        times = [sum(1 for e, (s, _d) in enumerate(EDGES) if s == src and OPS[ops[e]] in _CONV) for ops in archs]
        cells = [c for c in range(k) if times[c]]
        if cells:
            codes.add(_subset(nodes[src], cells, k, channels), cells, [times[c] for c in cells])
    return nodes[-1]


class BatchedNB201:
    """Scores groups of NB-201 cells in stacked passes; weights from each cell's own seeded draw (on the CPU)."""

    def __init__(self, space: NB201Space, num_classes: int, seed: int, device: torch.device):
        self.space = space
        self.device = device
        self._draws = NB201Networks(space, num_classes, seed, torch.device("cpu"))

    def scores(self, archs: Sequence[str], x: torch.Tensor, precision: str = "exact") -> torch.Tensor:
        """log|det K_H| of each of ``archs`` (one stacked pass; float64 on x's device, no host sync)."""
        ops = [self.space.ops(a) for a in archs]
        weights = []
        for arch in archs:
            with self._draws.network(arch) as net:
                weights.append(_extract(net))
        with torch.no_grad(), forward_precision(precision, x.device):
            matrices, units = batched_kernels(self.space, ops, weights, x)
        return log_abs_det_batched(matrices, units)
