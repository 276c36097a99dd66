"""Small networks on token layouts (N x L x C) for the score tests: a ViT with its own attention, a ViT
from ``nn.TransformerEncoderLayer``, an MLP-Mixer, and a ViT whose blocks halve the token count.

Each takes 3 x 8 x 8 images (as ``tests/test_scores.py``'s probe draws them), cuts them into 2 x 2 patches
with a strided convolution (16 tokens) and classifies the mean token; the blocks are the ``blocks``
``nn.Sequential`` directly under the network.
"""

from __future__ import annotations

import torch
from torch import nn

CLASSES = 4


class Attention(nn.Module):
    """Multi-head self-attention with a packed ``qkv`` projection and an output ``proj``."""

    def __init__(self, dim: int, heads: int = 2):
        super().__init__()
        self.heads = heads
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, length, dim = x.shape
        q, k, v = self.qkv(x).reshape(n, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        attn = torch.softmax(q @ k.transpose(-2, -1) * (dim // self.heads) ** -0.5, dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(n, length, dim))


class ViTBlock(nn.Module):
    """x + attn(LN(x)), then x + mlp(LN(x)) with a GELU hidden layer of twice the width."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm1, self.attn, self.norm2 = nn.LayerNorm(dim), Attention(dim), nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class MixerBlock(nn.Module):
    """x + token-MLP over the L tokens of each channel, then x + channel-MLP over the C channels of each token."""

    def __init__(self, dim: int, tokens: int = 16):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.token_mix = nn.Sequential(nn.Linear(tokens, 2 * tokens), nn.GELU(), nn.Linear(2 * tokens, tokens))
        self.channel_mix = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.token_mix(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.channel_mix(self.norm2(x))


class TokenPool(nn.Module):
    """Halves the token count by averaging neighbouring tokens (as pooling transformers do between stages)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], x.shape[1] // 2, 2, x.shape[2]).mean(dim=2)


class TokenNet(nn.Module):
    """Patch embedding to ``dim`` channels (+ a position embedding), ``blocks``, LayerNorm, mean token, linear head."""

    def __init__(self, blocks: list[nn.Module], dim: int):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, 2, 2)
        self.pos_embed = nn.Parameter(0.02 * torch.randn(1, 16, dim))
        self.blocks = nn.Sequential(*blocks)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, CLASSES)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """The patch tokens, N x 16 x dim: the blocks' input."""
        return self.patch_embed(x).flatten(2).transpose(1, 2) + self.pos_embed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.blocks(self.tokens(x))).mean(dim=1))


def vit(depth: int = 2, dim: int = 8) -> TokenNet:
    return TokenNet([ViTBlock(dim) for _ in range(depth)], dim)


def torch_vit(depth: int = 2, dim: int = 8) -> TokenNet:
    """A ViT of ``nn.TransformerEncoderLayer`` blocks (``nn.MultiheadAttention``, ``linear1`` / ``linear2``)."""
    layer = lambda: nn.TransformerEncoderLayer(dim, 2, 2 * dim, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)  # noqa: E731
    return TokenNet([layer() for _ in range(depth)], dim)


def mixer(depth: int = 2, dim: int = 8) -> TokenNet:
    return TokenNet([MixerBlock(dim) for _ in range(depth)], dim)


def pooling_vit(dim: int = 8) -> TokenNet:
    """A ViT whose second block is a token pooling: 16 tokens, then 8."""
    return TokenNet([ViTBlock(dim), TokenPool(), ViTBlock(dim)], dim)


#: the token families the tests run every token-layout score on, by name
FAMILIES = {"vit": vit, "torch-vit": torch_vit, "mixer": mixer}
