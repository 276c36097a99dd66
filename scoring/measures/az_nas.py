"""AZ-NAS's three assessors (Lee & Ham, CVPR 2024) from one forward and one backward per block.

The network is re-initialised (Kaiming normal, fan-in, seeded) and run on the first ``AZ_BATCH`` inputs
of the minibatch; its block
features are the input of its main block sequence (the stem's output) and each block's output.
The main sequence is the longest ``nn.ModuleList`` or ``nn.Sequential`` directly under the network
(NB-201's ``cells``, for instance).  The fourth AZ-NAS assessor, complexity, is the ``flops`` score.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..registry import Probe, ScoreInfo, register_pass
from .common import reinitialise

PASS = "az_nas"
#: inputs per pass: the first 64 of the minibatch, which keeps the default ensemble within 3x of NASWOT alone on a CPU
AZ_BATCH = 64
EXPRESSIVITY = ScoreInfo(
    "az_expressivity",
    "sum over blocks of the entropy of the normalised eigenvalues of the feature covariance (AZ-NAS, Lee & Ham, CVPR 2024)",
    PASS,
)
PROGRESSIVITY = ScoreInfo(
    "az_progressivity",
    "the smallest increase of block expressivity from one block to the next (AZ-NAS, Lee & Ham, CVPR 2024)",
    PASS,
)
TRAINABILITY = ScoreInfo(
    "az_trainability",
    "mean over blocks of 2 - s - 1/s, s the largest singular value of the block Jacobian estimated with Rademacher vectors (AZ-NAS, Lee & Ham, CVPR 2024)",
    PASS,
    needs_backward=True,
)


def main_sequence(net: nn.Module) -> list[nn.Module]:
    """The longest ModuleList or Sequential directly under ``net``: its blocks, in order."""
    candidates = [m for m in net.children() if isinstance(m, (nn.ModuleList, nn.Sequential))]
    return list(max(candidates, key=len)) if candidates else []


def block_features(net: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The main sequence's input and each block's output on ``x`` (with autograd)."""
    blocks = main_sequence(net)
    if len(blocks) < 2:
        return []
    features: list[torch.Tensor] = []
    handles = [blocks[0].register_forward_pre_hook(lambda _m, args: features.append(args[0]))]
    handles += [b.register_forward_hook(lambda _m, _a, out: features.append(out)) for b in blocks]
    try:
        net(x)
    finally:
        for h in handles:
            h.remove()
    return [f for f in features if isinstance(f, torch.Tensor) and f.dim() == 4]


def expressivity(feature: torch.Tensor) -> float:
    """Entropy of the normalised eigenvalue spectrum of the per-position channel covariance."""
    f = feature.detach().permute(0, 2, 3, 1).reshape(-1, feature.shape[1]).double()
    f = f - f.mean(dim=0, keepdim=True)
    s = torch.linalg.eigvalsh(f.T @ f / f.shape[0])
    p = s / s.sum()
    return float((-p * torch.log(p + 1e-8)).sum())


def trainability(f_in: torch.Tensor, f_out: torch.Tensor, gen: torch.Generator) -> float:
    """2 - s - 1/s for the largest singular value s of E[g_in g_out^T], g_out a Rademacher vector."""
    g_out = (torch.randint(0, 2, f_out.shape, generator=gen).to(f_out) * 2 - 1)
    (g_in,) = torch.autograd.grad(f_out, f_in, g_out, retain_graph=True, allow_unused=True)
    if g_in is None:
        g_in = torch.zeros_like(f_in)
    if g_in.shape == g_out.shape and torch.equal(g_in, g_out):
        return -math.inf  # an identity block: the reference rates it as untrainable
    if g_in.shape[2:] != g_out.shape[2:]:
        g_in = nn.functional.pixel_unshuffle(g_in, g_in.shape[2] // g_out.shape[2])
    go = g_out.permute(0, 2, 3, 1).reshape(-1, g_out.shape[1]).double()
    gi = g_in.permute(0, 2, 3, 1).reshape(-1, g_in.shape[1]).double()
    s = float(torch.linalg.svdvals(gi.T @ go / go.shape[0]).max())
    return -s - 1.0 / (s + 1e-6) + 2.0


@register_pass(EXPRESSIVITY, PROGRESSIVITY, TRAINABILITY)
def az_nas(probe: Probe, wanted: frozenset[str]) -> dict[str, float]:
    net = probe.network()
    reinitialise(net, lambda w: nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu"), probe.seed)
    x = probe.x[:AZ_BATCH]
    if "az_trainability" in wanted:
        # a network whose main sequence starts at its raw input: that input is the first block's input, so
        # its gradient must exist; other networks' values are unchanged (no gradient is asked past f_in)
        x = x.detach().requires_grad_(True)
    with torch.set_grad_enabled("az_trainability" in wanted):
        features = block_features(net, x)
    if len(features) < 2:
        return {}
    levels = np.array([expressivity(f) for f in features])
    out = {"az_expressivity": float(levels.sum()), "az_progressivity": float(np.min(levels[1:] - levels[:-1]))}
    if "az_trainability" in wanted:
        gen = probe.generator(salt=2)
        out["az_trainability"] = float(np.mean([trainability(a, b, gen) for a, b in zip(features[:-1], features[1:])]))
    return out
