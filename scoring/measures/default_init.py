"""Scores of one forward and one backward of the network as initialised, on the minibatch.

jacob_cov differentiates the output sum with respect to the inputs; snip, grad_norm and fisher read
the cross-entropy gradient of the labelled minibatch.  One forward serves them all.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn

from searchspace.layers.exact_pooling import swap_in_replicas

from ..registry import Probe, ScoreInfo, register_pass
from .common import forward_hooks, weighted_layers

PASS = "default_init"
JACOB_COV = ScoreInfo(
    "jacob_cov",
    "-sum(log(v + k) + 1/(v + k)), v the eigenvalues of the correlation of the input Jacobians, k = 1e-5 (Mellor et al. 2020 v1; Abdelfattah et al., ICLR 2021)",
    PASS,
    needs_backward=True,
)
SNIP = ScoreInfo("snip", "sum over conv/linear weights of |w * dL/dw|, cross-entropy loss (Lee et al., ICLR 2019; Abdelfattah et al., ICLR 2021)", PASS, True, True)
GRAD_NORM = ScoreInfo("grad_norm", "sum over conv/linear layers of the L2 norm of dL/dw, cross-entropy loss (Abdelfattah et al., ICLR 2021)", PASS, True, True)
FISHER = ScoreInfo(
    "fisher",
    "sum over conv/linear outputs and channels of (1/2) mean over inputs of (sum over positions of a * dL/da)^2 (Turner et al., ICLR 2020; Abdelfattah et al., ICLR 2021)",
    PASS,
    True,
    True,
)
LABELLED = frozenset({"snip", "grad_norm", "fisher"})
JACOBIAN_EPS = 1e-5


class _FisherHook:
    """Forward hook on conv/linear layers: keeps each output so its gradient can be read after the backward."""

    def __init__(self) -> None:
        self.outputs: list[torch.Tensor] = []

    def __call__(self, _module: nn.Module, _args: tuple, output: torch.Tensor) -> None:
        if output.requires_grad:
            output.retain_grad()
            self.outputs.append(output)

    def forget_gradients(self) -> None:
        """Drop gradients an earlier backward (jacob_cov's) left on the kept outputs: fisher reads dL/da alone."""
        for act in self.outputs:
            act.grad = None

    def value(self) -> float:
        total = 0.0
        for act in self.outputs:
            if act.grad is None:
                continue
            prod = act.detach() * act.grad
            per_channel = prod.sum(dim=tuple(range(2, prod.dim()))) if prod.dim() > 2 else prod
            total += float((0.5 * per_channel.pow(2).mean(0)).sum())
        return total


def jacobian_score(jacobian: torch.Tensor) -> float:
    """-sum(log(v + k) + 1/(v + k)) over the eigenvalues v of the inputs' Jacobian correlation matrix."""
    corr = torch.corrcoef(jacobian.reshape(jacobian.shape[0], -1).double())
    if not torch.isfinite(corr).all():
        return float("nan")  # an input whose Jacobian is constant: the correlation is undefined
    v = torch.linalg.eigvalsh(corr)
    return float(-(torch.log(v + JACOBIAN_EPS) + 1.0 / (v + JACOBIAN_EPS)).sum())


def _weight_gradient_scores(net: nn.Module, wanted: frozenset[str]) -> dict[str, float]:
    snip = grad_norm = 0.0
    for layer in weighted_layers(net):
        g = layer.weight.grad
        if g is None:
            continue
        snip += float((layer.weight.detach() * g).abs().sum())
        grad_norm += float(g.norm())
    return {k: v for k, v in (("snip", snip), ("grad_norm", grad_norm)) if k in wanted}


@register_pass(JACOB_COV, SNIP, GRAD_NORM, FISHER)
def default_init(probe: Probe, wanted: frozenset[str]) -> dict[str, float]:
    net = probe.network()
    swap_in_replicas(net)  # bit-identical average poolings, forward and backward; several times faster on the CPU
    if not wanted & LABELLED:
        net.requires_grad_(False)  # jacob_cov alone reads input gradients only: the forward records nothing for the weights
    x = probe.x.clone().requires_grad_("jacob_cov" in wanted)
    out: dict[str, float] = {}
    fisher = _FisherHook()
    hooks = forward_hooks(weighted_layers(net), fisher) if "fisher" in wanted else nullcontext()
    with hooks, torch.enable_grad():
        logits = net(x)
    if "jacob_cov" in wanted:
        connected = logits.requires_grad  # False when the output reads neither the input nor a trainable weight
        (jac,) = torch.autograd.grad(logits.sum(), x, retain_graph=bool(wanted & LABELLED), allow_unused=True) if connected else (None,)
        out["jacob_cov"] = jacobian_score(torch.zeros_like(x) if jac is None else jac)  # unused input: a zero Jacobian
    if wanted & LABELLED:
        fisher.forget_gradients()
        F.cross_entropy(logits, probe.y).backward()
        out.update(_weight_gradient_scores(net, wanted))
        if "fisher" in wanted:
            out["fisher"] = fisher.value()
    return out
