"""ZiCo: the inverse coefficient of variation of the weight gradients across minibatches."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..registry import Probe, ScoreInfo, register_pass
from .common import weighted_layers

ZICO = ScoreInfo(
    "zico",
    "sum over conv/linear layers of log(sum of mean|g| / std(g)) over two halves of the minibatch (Li et al., ICLR 2023)",
    "zico",
    needs_backward=True,
    needs_labels=True,
)
SPLITS = 2


@register_pass(ZICO)
def zico(probe: Probe, wanted: frozenset[str]) -> dict[str, float]:
    net = probe.network()
    layers = weighted_layers(net)
    per_split: list[list[torch.Tensor]] = []
    for x, y in zip(probe.x.chunk(SPLITS), probe.y.chunk(SPLITS)):
        grads = torch.autograd.grad(F.cross_entropy(net(x), y), [m.weight for m in layers], allow_unused=True)
        per_split.append([torch.zeros_like(m.weight) if g is None else g for m, g in zip(layers, grads)])
    total = 0.0
    for stacked in (torch.stack(gs) for gs in zip(*per_split)):
        std = stacked.std(dim=0, unbiased=False)
        keep = std != 0
        ratio = float((stacked.abs().mean(dim=0)[keep] / std[keep]).sum())
        if ratio != 0:
            total += math.log(ratio)
    return {"zico": total}
