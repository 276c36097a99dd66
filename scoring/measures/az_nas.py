"""AZ-NAS's three assessors (Lee & Ham, CVPR 2024) from one forward and one backward per block.

The network is re-initialised (Kaiming normal, fan-in, seeded) and run on the first ``AZ_BATCH`` inputs
of the minibatch; its block
features are the input of its main block sequence (the stem's output) and each block's output.
The main sequence is the longest ``nn.ModuleList`` or ``nn.Sequential`` directly under the network
(NB-201's ``cells``, for instance).  The fourth AZ-NAS assessor, complexity, is the ``flops`` score.

A feature is read as positions x channels: a feature map ``N x C x H x W`` has N*H*W positions, a
token sequence ``N x L x C`` (ViT and MLP-Mixer blocks) N*L, as the authors' AutoFormer code reads its
token features.  Other shapes are not block features.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..registry import Probe, ScoreInfo, register_pass
from ..undefined import Undefined
from .common import reinitialise

PASS = "az_nas"
#: inputs per pass: the first 64 of the minibatch, which keeps the default ensemble within 3x of NASWOT alone on a CPU
AZ_BATCH = 64
#: 2: token sequences (N x L x C) read as N*L positions and a main sequence of one block accepted (both were undefined);
#: an odd-sized map downsampled (53 -> 27) read space-to-depth zero-padded (trainability raised an error)
REVISION = 2
EXPRESSIVITY = ScoreInfo(
    "az_expressivity",
    "sum over blocks of the entropy of the normalised eigenvalues of the feature covariance (AZ-NAS, Lee & Ham, CVPR 2024)",
    PASS,
    revision=REVISION,
)
PROGRESSIVITY = ScoreInfo(
    "az_progressivity",
    "the smallest increase of block expressivity from one block to the next (AZ-NAS, Lee & Ham, CVPR 2024)",
    PASS,
    revision=REVISION,
)
TRAINABILITY = ScoreInfo(
    "az_trainability",
    "mean over blocks of 2 - s - 1/s, s the largest singular value of the block Jacobian estimated with Rademacher vectors (AZ-NAS, Lee & Ham, CVPR 2024)",
    PASS,
    needs_backward=True,
    revision=REVISION,
)
NO_SEQUENCE = "no block sequence: no nn.ModuleList or nn.Sequential directly under the network"
NO_FEATURES = "fewer than two block features: the main sequence's input and block outputs are neither N x C x H x W feature maps nor N x L x C token sequences"
CONSTANT = "a block feature is constant over its positions: its channel covariance has no spectrum"
IDENTITY = "a block passes its input through unchanged (its Jacobian is the identity), which AZ-NAS rates untrainable"
#: the tensor shapes read as block features: feature maps and token sequences
FEATURE_DIMS = (3, 4)


def main_sequence(net: nn.Module) -> list[nn.Module]:
    """The longest ModuleList or Sequential directly under ``net``: its blocks, in order."""
    candidates = [m for m in net.children() if isinstance(m, (nn.ModuleList, nn.Sequential))]
    return list(max(candidates, key=len)) if candidates else []


def block_features(net: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The main sequence's input and each block's output on ``x`` (with autograd): feature maps and token sequences."""
    blocks = main_sequence(net)
    if not blocks:
        return []
    features: list[torch.Tensor] = []
    handles = [blocks[0].register_forward_pre_hook(lambda _m, args: features.append(args[0]))]
    handles += [b.register_forward_hook(lambda _m, _a, out: features.append(out)) for b in blocks]
    try:
        net(x)
    finally:
        for h in handles:
            h.remove()
    return [f for f in features if isinstance(f, torch.Tensor) and f.dim() in FEATURE_DIMS]


def positions(feature: torch.Tensor) -> torch.Tensor:
    """``feature`` as a (positions, channels) matrix: N*H*W rows of a feature map, N*L rows of a token sequence."""
    if feature.dim() == 4:
        return feature.permute(0, 2, 3, 1).reshape(-1, feature.shape[1])
    return feature.reshape(-1, feature.shape[-1])


def expressivity(feature: torch.Tensor) -> float:
    """Entropy of the normalised eigenvalue spectrum of the per-position channel covariance."""
    f = positions(feature.detach()).double()
    f = f - f.mean(dim=0, keepdim=True)
    s = torch.linalg.eigvalsh(f.T @ f / f.shape[0])
    p = s / s.sum()
    return float((-p * torch.log(p + 1e-8)).sum())


def unpaired(f_in: torch.Tensor, f_out: torch.Tensor) -> str | None:
    """Why a block's input and output positions do not correspond (None when they do).

    A feature map may reduce its resolution by a factor f (its input is read space-to-depth, f x f input
    positions per output position); a token sequence must keep its length.
    """
    if f_in.dim() != f_out.dim():
        return f"a block turns a {f_in.dim()}-D feature into a {f_out.dim()}-D one: its positions do not correspond"
    if f_in.dim() == 3 and f_in.shape[1] != f_out.shape[1]:
        return f"a block changes the token count from {f_in.shape[1]} to {f_out.shape[1]}: its positions do not correspond"
    if f_in.dim() == 4 and f_in.shape[2:] != f_out.shape[2:] and not downsampling_factor(f_in.shape[2:], f_out.shape[2:]):
        return f"a block maps a {tuple(f_in.shape[2:])} feature map to {tuple(f_out.shape[2:])}: not a downsampling"
    return None


def downsampling_factor(size_in: torch.Size, size_out: torch.Size) -> int:
    """The factor f of a block that turns an H x W map into ceil(H/f) x ceil(W/f) (an odd size keeps its last row), else 0."""
    f = -(-size_in[0] // size_out[0])
    return f if f > 1 and all(-(-a // f) == b for a, b in zip(size_in, size_out)) else 0


def space_to_depth(g: torch.Tensor, size: torch.Size) -> torch.Tensor:
    """``g`` (N x C x H x W) as N x C*f*f x h x w for the output ``size`` h x w, zero-padded to f*h x f*w where H or W is odd."""
    f = g.shape[2] // size[0]
    if g.shape[2] != f * size[0] or g.shape[3] != f * size[1]:  # an odd size: h = ceil(H/f)
        f = downsampling_factor(g.shape[2:], size)
        g = nn.functional.pad(g, (0, f * size[1] - g.shape[3], 0, f * size[0] - g.shape[2]))
    return nn.functional.pixel_unshuffle(g, f)


def trainability(f_in: torch.Tensor, f_out: torch.Tensor, gen: torch.Generator) -> float:
    """2 - s - 1/s for the largest singular value s of E[g_in g_out^T], g_out a Rademacher vector."""
    g_out = (torch.randint(0, 2, f_out.shape, generator=gen).to(f_out) * 2 - 1)
    (g_in,) = torch.autograd.grad(f_out, f_in, g_out, retain_graph=True, allow_unused=True)
    if g_in is None:
        g_in = torch.zeros_like(f_in)
    if g_in.shape == g_out.shape and torch.equal(g_in, g_out):
        return -math.inf  # an identity block: the reference rates it as untrainable
    if g_in.dim() == 4 and g_in.shape[2:] != g_out.shape[2:]:
        g_in = space_to_depth(g_in, g_out.shape[2:])
    go, gi = positions(g_out).double(), positions(g_in).double()
    s = float(torch.linalg.svdvals(gi.T @ go / go.shape[0]).max())
    return -s - 1.0 / (s + 1e-6) + 2.0


def mean_trainability(features: list[torch.Tensor], gen: torch.Generator) -> float | Undefined:
    """Trainability averaged over the blocks, or undefined where a block's positions do not correspond."""
    pairs = list(zip(features[:-1], features[1:]))
    problems = [p for p in (unpaired(a, b) for a, b in pairs) if p]
    if problems:
        return Undefined(problems[0])
    values = [trainability(a, b, gen) for a, b in pairs]
    return Undefined(IDENTITY) if -math.inf in values else float(np.mean(values))


@register_pass(EXPRESSIVITY, PROGRESSIVITY, TRAINABILITY)
def az_nas(probe: Probe, wanted: frozenset[str]) -> dict[str, float | Undefined]:
    net = probe.network()
    if not main_sequence(net):
        return dict.fromkeys(wanted, Undefined(NO_SEQUENCE))
    reinitialise(net, lambda w: nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu"), probe.seed)
    x = probe.x[:AZ_BATCH]
    if "az_trainability" in wanted:
        # a network whose main sequence starts at its raw input: that input is the first block's input, so
        # its gradient must exist; other networks' values are unchanged (no gradient is asked past f_in)
        x = x.detach().requires_grad_(True)
    with torch.set_grad_enabled("az_trainability" in wanted):
        features = block_features(net, x)
    if len(features) < 2:
        return dict.fromkeys(wanted, Undefined(NO_FEATURES))
    levels = np.array([expressivity(f) for f in features])
    if np.isfinite(levels).all():
        out: dict[str, float | Undefined] = {"az_expressivity": float(levels.sum()), "az_progressivity": float(np.min(levels[1:] - levels[:-1]))}
    else:
        out = dict.fromkeys(("az_expressivity", "az_progressivity"), Undefined(CONSTANT))
    if "az_trainability" in wanted:
        out["az_trainability"] = mean_trainability(features, probe.generator(salt=2))
    return out
