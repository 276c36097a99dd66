"""The builder of the ``mixer`` example space: a small MLP-Mixer whose depth, width, patch and MLP widths are chosen.

``build(config, num_classes)`` is what ``space.json`` names (``mixer_model:build``), e.g. for
``{"channel_mlp": 2, "depth": 2, "hidden": 64, "patch": 4, "token_mlp": 64}``. The network cuts the
image into patches with a strided convolution and keeps them as an ``N x L x C`` token sequence;
each Mixer block mixes across tokens (a GELU MLP applied to every channel's L values) and then
across channels (a GELU MLP applied to every token's C values), both pre-norm and residual
(Tolstikhin et al., NeurIPS 2021). The head classifies the mean token.
"""

from __future__ import annotations

from torch import nn


def mlp(dim: int, hidden: int) -> nn.Sequential:
    """Linear -> GELU -> Linear, mapping the last dimension ``dim`` -> ``hidden`` -> ``dim``."""
    return nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))


class MixerBlock(nn.Module):
    """x + token-MLP(LN(x)^T)^T, then x + channel-MLP(LN(x)), on an N x L x C sequence."""

    def __init__(self, tokens: int, dim: int, token_hidden: int, channel_hidden: int):
        super().__init__()
        self.norm1, self.token_mix = nn.LayerNorm(dim), mlp(tokens, token_hidden)
        self.norm2, self.channel_mix = nn.LayerNorm(dim), mlp(dim, channel_hidden)

    def forward(self, x):
        x = x + self.token_mix(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.channel_mix(self.norm2(x))


class Mixer(nn.Module):
    """Patch embedding (a ``patch`` x ``patch`` convolution of stride ``patch``), ``depth`` Mixer blocks, LayerNorm,
    a linear head on the mean token.

    The blocks are the one ``nn.Sequential`` directly under the network: scores that look at a network
    block by block (AZ-NAS) take the longest such sequence as its blocks.
    """

    def __init__(self, config: dict, num_classes: int, channels: int = 3, resolution: int = 32):
        super().__init__()
        dim, patch = config["hidden"], config["patch"]
        tokens = (resolution // patch) ** 2
        self.patch_embed = nn.Conv2d(channels, dim, patch, patch)
        block = lambda: MixerBlock(tokens, dim, config["token_mlp"], config["channel_mlp"] * dim)  # noqa: E731
        self.blocks = nn.Sequential(*(block() for _ in range(config["depth"])))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        tokens = self.patch_embed(x).flatten(2).transpose(1, 2)  # N x L x C
        return self.head(self.norm(self.blocks(tokens)).mean(dim=1))


def build(config: dict, num_classes: int) -> nn.Module:
    """The network of one configuration of the space (3 x 32 x 32 inputs, as ``space.json`` declares)."""
    return Mixer(config, num_classes)
