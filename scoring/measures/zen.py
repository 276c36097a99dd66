"""Zen-score: how much the pre-pooling features move under a small input perturbation, BN-rescaled.

The pre-pooling features are the input of the network's last ``nn.AdaptiveAvgPool2d``; a network that
pools otherwise (``x.mean(dim=1)`` over ViT or MLP-Mixer tokens, a max pool) is read at the last
multi-position feature its modules output: an ``N x C x H x W`` map with H*W > 1 or an ``N x L x C``
token sequence with L > 1.  A network without BatchNorm has no rescaling term (the sum over its
BatchNorms is empty).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..registry import Probe, ScoreInfo, register_pass
from ..undefined import Undefined
from .common import reinitialise

ZEN = ScoreInfo(
    "zen",
    "log E|f(x) - f(x + 0.01 e)| of the features before global pooling plus sum over BatchNorms of log sqrt(mean running var), Gaussian weights and inputs (Lin et al., ICCV 2021)",
    "zen",
    data_free=True,
    revision=2,  # 2: without an AdaptiveAvgPool2d, the last multi-position feature map or token sequence (was undefined)
)
MIXUP = 0.01
STILL = "the features before global pooling do not change when the input is perturbed"
NO_FEATURES = "no features before global pooling: no nn.AdaptiveAvgPool2d, and no module outputs a feature map or token sequence of more than one position"


def _multi_position(t: object) -> bool:
    """Whether ``t`` is a feature map of more than one position or a token sequence of more than one token."""
    return isinstance(t, torch.Tensor) and ((t.dim() == 4 and t.shape[2] * t.shape[3] > 1) or (t.dim() == 3 and t.shape[1] > 1))


def _capture(net: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    """The pre-pooling features of ``net`` on ``x``: the last AdaptiveAvgPool2d's input, else the last multi-position output."""
    pools = [m for m in net.modules() if isinstance(m, nn.AdaptiveAvgPool2d)]
    seen: list[torch.Tensor] = []

    def keep_last(_m: nn.Module, _a: tuple, out: object) -> None:
        if _multi_position(out):
            seen[:] = [out]  # only the latest: earlier outputs are freed as the forward goes on

    if pools:
        handles = [pools[-1].register_forward_pre_hook(lambda _m, args: seen.append(args[0]))]
    else:
        handles = [m.register_forward_hook(keep_last) for m in net.modules()]
    try:
        net(x)
    finally:
        for h in handles:
            h.remove()
    return seen[-1] if seen else None


@register_pass(ZEN)
def zen(probe: Probe, wanted: frozenset[str]) -> dict[str, float | Undefined]:
    net = probe.network()
    reinitialise(net, nn.init.normal_, probe.seed)
    gen = probe.generator(salt=1)
    shape = tuple(probe.x.shape)
    x = torch.randn(shape, generator=gen).to(probe.x.device)
    e = torch.randn(shape, generator=gen).to(probe.x.device)
    with torch.no_grad():
        a = _capture(net, x)
        b = _capture(net, x + MIXUP * e)
    if a is None or b is None:
        return {"zen": Undefined(NO_FEATURES)}
    delta = float((a - b).abs().sum(dim=tuple(range(1, a.dim()))).mean())
    if not 0 < delta < math.inf:
        return {"zen": Undefined(STILL if delta <= 0 else f"the feature change is not a finite number ({delta}) in float32")}
    variances = [float(m.running_var.mean()) for m in net.modules() if isinstance(m, nn.BatchNorm2d) and m.running_var is not None]
    if not all(v > 0 for v in variances):
        return {"zen": Undefined("a BatchNorm's running variance is not positive: its rescaling term has no logarithm")}
    return {"zen": math.log(delta) + sum(0.5 * math.log(v) for v in variances)}
