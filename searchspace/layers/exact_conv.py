"""A faster CPU replica of PyTorch's float64 grouped convolution that gives bit-identical results.

PyTorch has no fast float64 CPU convolution (oneDNN serves float32): a grouped one runs the slow
im2col + GEMM path once per group, so a depthwise layer of C channels is C separate convolutions,
each with its own parallel regions.  With several intra-op threads on a busy CPU every region waits
for a descheduled thread: SynFlow's float64 pass took 160 s on one once-for-all MobileNetV3 network
at 224 with 2 threads (4.7 s with 1).  The replica does the same unfold (im2col) and the same
per-group matrix products, but as one batched product over the groups: each group's product has the
shapes and operands of the stock path's, so every value, forward and backward (through autograd's
unfold/fold and batched product), is bit-identical; the tests check this against ``F.conv2d`` at
several shapes and thread counts.  On one thread the stock path is the faster (its per-group unfold
stays in cache, ATen's whole-tensor ``im2col`` does not), so the replica serves several threads only.

Only float64 CPU tensors, zero padding given as numbers, no dilation and no bias take the replica
path; anything else is the stock operator.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def grouped_conv2d_float64(x: torch.Tensor, weight: torch.Tensor, stride: tuple[int, int], padding: tuple[int, int], groups: int) -> torch.Tensor:
    """``F.conv2d(x, weight, None, stride, padding, 1, groups)`` as unfold + one batched product over the groups."""
    n, _, height, width = x.shape
    out_channels, in_per_group, kh, kw = weight.shape
    rows = (height + 2 * padding[0] - kh) // stride[0] + 1
    cols = (width + 2 * padding[1] - kw) // stride[1] + 1
    patches = F.unfold(x, (kh, kw), padding=padding, stride=stride).view(n, groups, in_per_group * kh * kw, rows * cols)
    out = torch.matmul(weight.view(groups, out_channels // groups, in_per_group * kh * kw), patches)
    return out.view(n, out_channels, rows, cols)


class GroupedConv2dReplica(nn.Conv2d):
    """An ``nn.Conv2d`` (same parameters, same class for ``isinstance``) whose float64 CPU grouped convolution is the replica."""

    def _conv_forward(self, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if _replica_applies(self, input, bias):
            return grouped_conv2d_float64(input, weight, self.stride, self.padding, self.groups)
        return super()._conv_forward(input, weight, bias)


def _replica_applies(conv: nn.Conv2d, x: torch.Tensor, bias: torch.Tensor | None) -> bool:
    return (
        conv.groups > 1
        and torch.get_num_threads() > 1
        and bias is None
        and x.device.type == "cpu"
        and x.dtype == torch.float64
        and x.dim() == 4
        and conv.padding_mode == "zeros"
        and not isinstance(conv.padding, str)
        and tuple(conv.dilation) == (1, 1)
    )


def swap_in_grouped_conv_replicas(root: nn.Module) -> int:
    """Make every plain grouped ``nn.Conv2d`` under ``root`` a :class:`GroupedConv2dReplica`, in place (the same
    module object, parameters and hooks); returns how many."""
    convs = [m for m in root.modules() if type(m) is nn.Conv2d and m.groups > 1]
    for conv in convs:
        conv.__class__ = GroupedConv2dReplica
    return len(convs)
