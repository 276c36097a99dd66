"""FLOPs of attention: the projections of ``nn.MultiheadAttention``, and the q·kᵀ and attn·v products of it, of
``scaled_dot_product_attention`` and of any matrix product of activations (docs: searchspace/cost.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from searchspace import count_flops
from searchspace.cost import measure

L, E, HEADS = 5, 16, 2  # tokens, embedding, heads


class Tokens(nn.Module):
    """(1, L, E) input reshaped to tokens and run through ``block``; nothing else is counted."""

    def __init__(self, block: nn.Module):
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x.reshape(1, L, E))


class TorchAttention(nn.Module):
    def __init__(self, batch_first: bool = True):
        super().__init__()
        self.mha = nn.MultiheadAttention(E, HEADS, batch_first=batch_first)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x if self.mha.batch_first else x.transpose(0, 1)
        return self.mha(x, x, x, need_weights=False)[0]


class SDPA(nn.Module):
    """Heads split by hand, products by ``F.scaled_dot_product_attention``; no projections (nothing else to count)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = x.reshape(1, L, HEADS, E // HEADS).transpose(1, 2)
        return F.scaled_dot_product_attention(q, q, q)


class Explicit(nn.Module):
    """The same products written out: ``q @ k.transpose`` and ``attn @ v``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = x.reshape(1, L, HEADS, E // HEADS).transpose(1, 2)
        attn = (q @ q.transpose(-2, -1)).softmax(-1)
        return torch.matmul(attn, q)


PRODUCTS = 2 * L * L * E  # q·kᵀ and attn·v over all heads: L·L·(E/heads) each, per head
PROJECTIONS = 4 * L * E * E + 4 * L * E  # q, k, v and out: a weight MAC per input per output, one per output for the bias


@pytest.mark.parametrize(
    ("block", "expected"),
    [(TorchAttention(), PROJECTIONS + PRODUCTS), (TorchAttention(batch_first=False), PROJECTIONS + PRODUCTS), (SDPA(), PRODUCTS), (Explicit(), PRODUCTS)],
    ids=["MultiheadAttention", "MultiheadAttention-seq-first", "scaled_dot_product_attention", "matmul"],
)
def test_attention_counts_its_projections_and_both_products(block, expected):
    assert count_flops(Tokens(block), (1, L, E)) == expected


def test_attention_on_the_meta_device_counts_the_same(block=None):
    assert measure(lambda: Tokens(TorchAttention()), (1, L, E)).flops == PROJECTIONS + PRODUCTS


def test_a_linear_layer_is_counted_once():
    assert count_flops(Tokens(nn.Linear(E, E)), (1, L, E)) == L * (E * E + E)
