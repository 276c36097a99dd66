"""The builder of the ``vit_tiny`` example space: a small Vision Transformer whose depth, width, heads, MLP ratio and patch are chosen.

``build(config, num_classes)`` is what ``space.json`` names (``vit_tiny_model:build``), e.g. for
``{"depth": 2, "embed_dim": 48, "heads": 4, "mlp_ratio": 2, "patch": 4}``. The network cuts the image
into patches with a strided convolution, keeps them as an ``N x L x C`` token sequence (L patches of
C channels) through pre-norm transformer blocks (LayerNorm, multi-head self-attention from its own
q/k/v ``nn.Linear``, LayerNorm, a GELU MLP), and classifies the mean token.
"""

from __future__ import annotations

import torch
from torch import nn


class Attention(nn.Module):
    """Multi-head self-attention over the tokens: q, k, v from one ``nn.Linear``, softmax(q k^T / sqrt(d)) v, then a projection."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        n, length, dim = x.shape
        q, k, v = self.qkv(x).reshape(n, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        attn = torch.softmax((q @ k.transpose(-2, -1)) * self.scale, dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(n, length, dim))


class Block(nn.Module):
    """A pre-norm transformer block: x + attention(LN(x)), then x + MLP(LN(x)) with a GELU hidden layer of ``mlp_ratio * dim``."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViTTiny(nn.Module):
    """Patch embedding (a ``patch`` x ``patch`` convolution of stride ``patch``) plus a learnt position embedding,
    ``depth`` blocks, a final LayerNorm and a linear head on the mean token.

    The blocks are the one ``nn.Sequential`` directly under the network: scores that look at a network
    block by block (AZ-NAS) take the longest such sequence as its blocks.
    """

    def __init__(self, config: dict, num_classes: int, channels: int = 3, resolution: int = 32):
        super().__init__()
        dim, patch = config["embed_dim"], config["patch"]
        self.patch_embed = nn.Conv2d(channels, dim, patch, patch)
        self.pos_embed = nn.Parameter(torch.zeros(1, (resolution // patch) ** 2, dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.blocks = nn.Sequential(*(Block(dim, config["heads"], config["mlp_ratio"]) for _ in range(config["depth"])))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        tokens = self.patch_embed(x).flatten(2).transpose(1, 2) + self.pos_embed  # N x L x C
        return self.head(self.norm(self.blocks(tokens)).mean(dim=1))


def build(config: dict, num_classes: int) -> nn.Module:
    """The network of one configuration of the space (3 x 32 x 32 inputs, as ``space.json`` declares)."""
    return ViTTiny(config, num_classes)
