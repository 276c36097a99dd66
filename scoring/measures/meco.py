"""MeCo (Jiang et al., NeurIPS 2023): one input, one forward pass of the network as initialised.

For every module whose output is a feature map, the Pearson correlation of its channels over the
positions of that one input's map; the score is the sum of their smallest eigenvalues.  A NaN
correlation (a constant channel) counts as 0, as in the reference code.
"""

from __future__ import annotations

import torch
from torch import nn

from ..registry import Probe, ScoreInfo, register_pass
from .common import forward_hooks

MECO = ScoreInfo(
    "meco",
    "sum over layers of the smallest eigenvalue of the channel correlation of one input's feature map, from a forward pass of that input alone (Jiang et al., NeurIPS 2023)",
    "meco",
)


class _SmallestEigenvalues:
    """Forward hook: adds the smallest eigenvalue of the channel correlation of each feature map it sees."""

    def __init__(self) -> None:
        self.total = 0.0

    def __call__(self, _module: nn.Module, _args: tuple, output: object) -> None:
        if not isinstance(output, torch.Tensor) or output.dim() != 4 or output.shape[2] * output.shape[3] < 2:
            return
        fea = output[0].detach().reshape(output.shape[1], -1).double()
        corr = torch.nan_to_num(torch.corrcoef(fea), nan=0.0, posinf=0.0, neginf=0.0)
        self.total += float(torch.linalg.eigvalsh(corr)[0])


@register_pass(MECO)
def meco(probe: Probe, wanted: frozenset[str]) -> dict[str, float]:
    net = probe.network()
    hook = _SmallestEigenvalues()
    with forward_hooks(list(net.modules()), hook), torch.no_grad():
        net(probe.x[:1])
    return {"meco": hook.total}
