"""MeCo (Jiang et al., NeurIPS 2023): one input, one forward pass of the network as initialised.

For every module whose output is a feature map (N x C x H x W: channels over H x W positions) or a token
sequence (N x L x C, as transformer and MLP-Mixer blocks give: channels over L tokens), the Pearson
correlation of its channels over the positions of that one input's map; the score is the sum of their
smallest eigenvalues.  A NaN correlation (a constant channel) counts as 0, as in the reference code.

A correlation matrix is positive semi-definite, so its smallest eigenvalue is exactly 0 wherever it is
singular: when a channel is constant (its row and column are the 0 that replaced NaN), or when there are
at least as many channels as positions (C channels centred over P positions span at most P - 1
dimensions).  Those layers add an exact 0 without an eigendecomposition (which returns float noise of
order 1e-14 there and is the pass's whole cost on wide late layers); the rest are decomposed in float64
as before.  A module that hands its child's output on (a ``Sequential``) counts that map again, as the
reference code's hooks on every module do, but the map is decomposed once.
"""

from __future__ import annotations

import torch
from torch import nn

from ..registry import Probe, ScoreInfo, register_pass
from ..undefined import Undefined
from .common import forward_hooks

MECO = ScoreInfo(
    "meco",
    "sum over layers of the smallest eigenvalue of the channel correlation of one input's feature map (or token sequence: "
    "tokens as positions), from a forward pass of that input alone (Jiang et al., NeurIPS 2023)",
    "meco",
)

NOTHING_TO_READ = "no module output is a feature map (N x C x H x W) or token sequence (N x L x C) with two or more positions"
ALL_SINGULAR = (
    "every feature map or token sequence has at least as many channels as positions (tokens), or a constant channel, "
    "so every channel correlation is singular and the sum is identically 0"
)


def channels_by_positions(output: object) -> torch.Tensor | None:
    """The first input's channels x positions from a module output, None when it is neither a feature map
    (N x C x H x W) nor a token sequence (N x L x C) with two or more positions."""
    if not isinstance(output, torch.Tensor):
        return None
    if output.dim() == 4 and output.shape[2] * output.shape[3] >= 2:
        return output[0].detach().reshape(output.shape[1], -1)
    if output.dim() == 3 and output.shape[1] >= 2:
        return output[0].detach().transpose(0, 1)
    return None


def smallest_eigenvalue(fea: torch.Tensor) -> float | None:
    """The smallest eigenvalue of the channel correlation of ``fea`` (channels x positions); None where it is
    exactly 0 because the correlation is singular (at least as many channels as positions, or a constant channel)."""
    channels, positions = fea.shape
    if channels >= positions:
        return None
    corr = torch.corrcoef(fea.double()).reshape(channels, channels)  # one channel: a 0-d 1
    if corr.isnan().any():  # a constant channel: its row and column become 0, an exact zero eigenvalue
        return None
    return float(torch.linalg.eigvalsh(corr)[0])


class _SmallestEigenvalues:
    """Forward hook: adds the smallest eigenvalue of the channel correlation of each map it sees."""

    def __init__(self) -> None:
        self.total = 0.0
        self.maps = 0  # maps read
        self.regular = 0  # maps whose correlation is not singular
        self._last: tuple[torch.Tensor, int, float | None] | None = None

    def __call__(self, _module: nn.Module, _args: tuple, output: object) -> None:
        fea = channels_by_positions(output)
        if fea is None:
            return
        value = self._value(output, fea)
        self.maps += 1
        if value is not None:
            self.regular += 1
            self.total += value

    def _value(self, output: torch.Tensor, fea: torch.Tensor) -> float | None:
        """The map's eigenvalue, reused when a module hands on the tensor its child just gave (same object, unmodified)."""
        last = self._last
        if last is not None and last[0] is output and last[1] == output._version:
            return last[2]
        value = smallest_eigenvalue(fea)
        self._last = (output, output._version, value)
        return value

    def result(self) -> float | Undefined:
        if not self.maps:
            return Undefined(NOTHING_TO_READ)
        return self.total if self.regular else Undefined(ALL_SINGULAR)


@register_pass(MECO)
def meco(probe: Probe, wanted: frozenset[str]) -> dict[str, float | Undefined]:
    net = probe.network()
    hook = _SmallestEigenvalues()
    with forward_hooks(list(net.modules()), hook), torch.no_grad():
        net(probe.x[:1])
    return {"meco": hook.result()}
