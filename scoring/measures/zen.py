"""Zen-score: how much the pre-pooling features move under a small input perturbation, BN-rescaled."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..registry import Probe, ScoreInfo, register_pass
from .common import reinitialise

ZEN = ScoreInfo(
    "zen",
    "log E|f(x) - f(x + 0.01 e)| of the features before global pooling plus sum over BatchNorms of log sqrt(mean running var), Gaussian weights and inputs (Lin et al., ICCV 2021)",
    "zen",
    data_free=True,
)
MIXUP = 0.01


def _pre_pool_features(net: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    """The input of the last AdaptiveAvgPool2d of ``net`` on ``x`` (None when it has none)."""
    pools = [m for m in net.modules() if isinstance(m, nn.AdaptiveAvgPool2d)]
    if not pools:
        return None
    seen: list[torch.Tensor] = []
    handle = pools[-1].register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    try:
        net(x)
    finally:
        handle.remove()
    return seen[-1] if seen else None


@register_pass(ZEN)
def zen(probe: Probe, wanted: frozenset[str]) -> dict[str, float]:
    net = probe.network()
    reinitialise(net, nn.init.normal_, probe.seed)
    gen = probe.generator(salt=1)
    shape = tuple(probe.x.shape)
    x = torch.randn(shape, generator=gen).to(probe.x.device)
    e = torch.randn(shape, generator=gen).to(probe.x.device)
    with torch.no_grad():
        a = _pre_pool_features(net, x)
        b = _pre_pool_features(net, x + MIXUP * e)
    if a is None or b is None:
        return {"zen": math.nan}
    delta = float((a - b).abs().sum(dim=tuple(range(1, a.dim()))).mean())
    if delta <= 0:
        return {"zen": math.nan}
    variances = [float(m.running_var.mean()) for m in net.modules() if isinstance(m, nn.BatchNorm2d) and m.running_var is not None]
    if not all(v > 0 for v in variances):
        return {"zen": math.nan}
    return {"zen": math.log(delta) + sum(0.5 * math.log(v) for v in variances)}
