"""GraSP: the Hessian-gradient product of the cross-entropy loss, read through the weights.

Two forwards and a double backward: the most expensive registered score.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..registry import Probe, ScoreInfo, register_pass
from .common import weighted_layers

GRASP = ScoreInfo(
    "grasp",
    "sum over conv/linear weights of -w * (H g), H the loss Hessian and g its gradient (Wang et al., ICLR 2020; Abdelfattah et al., ICLR 2021)",
    "grasp",
    needs_backward=True,
    needs_labels=True,
)


@register_pass(GRASP)
def grasp(probe: Probe, wanted: frozenset[str]) -> dict[str, float]:
    net = probe.network()
    weights = [layer.weight for layer in weighted_layers(net)]
    grads = torch.autograd.grad(F.cross_entropy(net(probe.x), probe.y), weights, allow_unused=True)
    grads = [torch.zeros_like(w) if g is None else g.detach() for w, g in zip(weights, grads)]
    grads_with_graph = torch.autograd.grad(F.cross_entropy(net(probe.x), probe.y), weights, create_graph=True, allow_unused=True)
    z = sum((g * gg).sum() for g, gg in zip(grads, grads_with_graph) if gg is not None)
    if not isinstance(z, torch.Tensor) or not z.requires_grad:
        return {"grasp": 0.0 if isinstance(z, int) else float("nan")}
    hessian_grads = torch.autograd.grad(z, weights, allow_unused=True)
    total = sum(float((-w.detach() * hg).sum()) for w, hg in zip(weights, hessian_grads) if hg is not None)
    return {"grasp": total}
