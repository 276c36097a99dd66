"""Parameter and FLOP counts of any network, measured on PyTorch's meta device (no memory, no maths).

FLOPs follow the convention of the NAS-Bench-201 / NATS-Bench tables: multiply-accumulates of
convolutions and linear layers per image, plus one per output element for their biases;
normalisation, activations, pooling and additions are not counted. Attention counts the same way:
``nn.MultiheadAttention`` its q, k, v and output projections and its two products (q·kᵀ and
attn·v), ``F.scaled_dot_product_attention`` its two products, and a matrix product of tensors
(``@``, ``matmul``, ``mm``, ``bmm``) its multiply-accumulates; softmax, scaling and ``einsum`` are not counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode


@dataclass(frozen=True)
class ModelCost:
    params: int
    flops: int

    @staticmethod
    def total(parts: Iterable[ModelCost]) -> ModelCost:
        """The cost of a network made of ``parts`` that own disjoint parameters (FLOPs are counted per layer)."""
        parts = list(parts)
        return ModelCost(sum(p.params for p in parts), sum(p.flops for p in parts))


#: a feature map's (height, width)
HW = tuple[int, int]


def strided(hw: HW, stride: int) -> HW:
    """Output size of a "same"-padded odd-kernel convolution with ``stride``."""
    return ((hw[0] - 1) // stride + 1, (hw[1] - 1) // stride + 1)


def count_params(net: nn.Module) -> int:
    """Number of trainable parameters (each shared tensor once)."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def _layer_flops(module: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        positions = output.numel() // output.shape[0] // module.out_channels
        per_position = module.weight[0].numel() * module.out_channels
        return positions * (per_position + (module.out_channels if module.bias is not None else 0))
    if isinstance(module, nn.Linear):
        rows = output.numel() // output.shape[0] // module.out_features
        return rows * (module.in_features * module.out_features + (module.out_features if module.bias is not None else 0))
    if isinstance(module, nn.MultiheadAttention):
        return _attention_flops(module, *inputs[:3])
    return 0


def _attention_flops(module: nn.MultiheadAttention, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> int:
    """``nn.MultiheadAttention`` per image: q, k, v and output projections (with biases) and the two products."""
    tokens = (lambda t: t.shape[1] if module.batch_first else t.shape[0]) if query.dim() == 3 else (lambda t: t.shape[0])
    lq, lk = tokens(query), tokens(key)
    e, biased = module.embed_dim, module.in_proj_bias is not None
    projections = lq * e * (e + biased) + lk * (module.kdim + biased) * e + lk * (module.vdim + biased) * e
    projections += lq * e * (e + (module.out_proj.bias is not None))
    return projections + 2 * lq * lk * e


#: the matrix products counted wherever they are called (their MACs: output elements times the inner size)
_PRODUCTS = frozenset({torch.matmul, torch.mm, torch.bmm, torch.Tensor.matmul, torch.Tensor.mm, torch.Tensor.bmm,
                       torch.Tensor.__matmul__, torch.Tensor.__rmatmul__})


class _ProductCounter(TorchFunctionMode):
    """Counts the multiply-accumulates of the matrix products and ``scaled_dot_product_attention`` calls of a forward pass
    (calls inside ``nn.MultiheadAttention``, counted by its hook, run as one call this mode does not see into)."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204 - torch's protocol
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func in _PRODUCTS and isinstance(out, torch.Tensor):
            first = args[1] if func is torch.Tensor.__rmatmul__ else args[0]
            self.total += out.numel() * first.shape[-1]
        elif func is F.scaled_dot_product_attention:
            q, k, v = args[:3]
            self.total += q.shape[:-1].numel() * k.shape[-2] * (q.shape[-1] + v.shape[-1])
        return out


def count_flops(net: nn.Module, input_shape: tuple[int, ...]) -> int:
    """FLOPs per image of one forward pass of ``net`` on an input of ``input_shape`` (C, H, W)."""
    device = next((p.device for p in net.parameters()), torch.device("cpu"))
    total = 0

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        total += _layer_flops(module, inputs, output)

    counted = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.MultiheadAttention)
    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, counted)]
    products = _ProductCounter()
    try:
        with torch.no_grad(), products:
            net.eval()
            net(torch.zeros((1, *input_shape), device=device))
    finally:
        for h in handles:
            h.remove()
    return total + products.total


def measure(make: Callable[[], nn.Module], input_shape: tuple[int, ...]) -> ModelCost:
    """Build a network with ``make`` on the meta device and count its parameters and FLOPs."""
    with torch.device("meta"):
        net = make()
    return ModelCost(params=count_params(net), flops=count_flops(net, input_shape))
