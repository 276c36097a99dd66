"""The cell operations of every space, as literal modules, and one table from op name to module.

Shared blocks in the manner of the benchmarks' own ``cell_operations.py``: module names and
construction order follow the benchmarks' builders, so their state dicts load and a seed draws the
same weights.  ``OPS[name](c_in, c_out, stride)`` builds the module of one edge.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

#: NAS-Bench-101's BatchNorm, as its TensorFlow builder sets it (decay 0.997 is PyTorch momentum 0.003)
TF_BN_EPSILON = 1e-5
TF_BN_MOMENTUM = 1 - 0.997


class ReLUConvBN(nn.Module):
    """ReLU (not in place) -> Conv2d (no bias) -> BatchNorm2d."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int, padding: int):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class ConvBnRelu(nn.Module):
    """Conv2d (no bias, 'same' padding) -> BatchNorm2d (TensorFlow's settings) -> ReLU, as NAS-Bench-101 builds it."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=TF_BN_EPSILON, momentum=TF_BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class DilConv(nn.Module):
    """ReLU -> dilated depthwise conv -> pointwise conv -> BN."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int, padding: int, dilation: int):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel_size, stride=stride, padding=padding, dilation=dilation, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, kernel_size=1, padding=0, bias=False),
            nn.BatchNorm2d(c_out),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class SepConv(nn.Module):
    """Two stacked (ReLU -> depthwise conv -> pointwise conv -> BN); only the first is strided."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int, padding: int):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel_size, stride=stride, padding=padding, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_in, kernel_size=1, padding=0, bias=False),
            nn.BatchNorm2d(c_in),
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel_size, stride=1, padding=padding, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, kernel_size=1, padding=0, bias=False),
            nn.BatchNorm2d(c_out),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Pooling(nn.Module):
    """3x3 average pooling that ignores padding; between different widths a ReLU-conv1x1-BN ``preprocess`` first."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.stride = stride
        self.preprocess = ReLUConvBN(c_in, c_out, 1, 1, 0) if c_in != c_out else None
        self.op = nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x if self.preprocess is None else self.preprocess(x))


class Zero(nn.Module):
    """The ``none`` op: zeros shaped like the (strided) output, computed as ``x * 0`` where widths agree, as the benchmarks do."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.c_in, self.c_out, self.stride = c_in, c_out, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.c_in != self.c_out:
            shape = (x.shape[0], self.c_out, *x[:, :, :: self.stride, :: self.stride].shape[2:])
            return x.new_zeros(shape)
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    """``skip_connect`` that changes shape.

    Stride 2 (DARTS): ReLU, two 1x1 stride-2 convs on offset grids (c_out/2 channels each), concat, BN.
    Stride 1 (NATS-Bench size space, a width change): 1x1 conv (no bias) -> BN.
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 2):
        super().__init__()
        self.stride = stride
        if stride == 2:
            if c_out % 2:
                raise ValueError(f"FactorizedReduce needs an even output width, got {c_out}")
            self.relu = nn.ReLU(inplace=False)
            self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, padding=0, bias=False)
            self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, padding=0, bias=False)
        elif stride == 1:
            self.conv = nn.Conv2d(c_in, c_out, 1, stride=1, padding=0, bias=False)
        else:
            raise ValueError(f"FactorizedReduce supports stride 1 or 2, got {stride}")
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return self.bn(self.conv(x))
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


def _skip(c_in: int, c_out: int, stride: int) -> nn.Module:
    return nn.Identity() if stride == 1 and c_in == c_out else FactorizedReduce(c_in, c_out, stride)


def _max_pool(c_in: int, c_out: int, stride: int) -> nn.Module:
    """DARTS's 3x3 max pooling (a bare module, as in its code); it cannot change the width."""
    if c_in != c_out:
        raise ValueError(f"op 'max_pool_3x3' keeps the width (got {c_in} -> {c_out} channels)")
    return nn.MaxPool2d(3, stride=stride, padding=1)


def _same_shape(name: str, build: Callable[[int], nn.Module]) -> Callable[[int, int, int], nn.Module]:
    """A factory for an op defined only at stride 1 between equal widths (NAS-Bench-101's)."""

    def make(c_in: int, c_out: int, stride: int) -> nn.Module:
        if c_in != c_out or stride != 1:
            raise ValueError(f"op {name!r} keeps its shape (got {c_in} -> {c_out} channels, stride {stride})")
        return build(c_in)

    return make


OpFactory = Callable[[int, int, int], nn.Module]

#: op name -> factory(c_in, c_out, stride); one table for NAS-Bench-201, NATS-Bench, DARTS and NAS-Bench-101
OPS: dict[str, OpFactory] = {
    "none": Zero,
    "skip_connect": _skip,
    "nor_conv_1x1": lambda c_in, c_out, stride: ReLUConvBN(c_in, c_out, 1, stride, 0),
    "nor_conv_3x3": lambda c_in, c_out, stride: ReLUConvBN(c_in, c_out, 3, stride, 1),
    "avg_pool_3x3": Pooling,
    "max_pool_3x3": _max_pool,
    "sep_conv_3x3": lambda c_in, c_out, stride: SepConv(c_in, c_out, 3, stride, 1),
    "sep_conv_5x5": lambda c_in, c_out, stride: SepConv(c_in, c_out, 5, stride, 2),
    "dil_conv_3x3": lambda c_in, c_out, stride: DilConv(c_in, c_out, 3, stride, 2, 2),
    "dil_conv_5x5": lambda c_in, c_out, stride: DilConv(c_in, c_out, 5, stride, 4, 2),
    "conv3x3-bn-relu": _same_shape("conv3x3-bn-relu", lambda c: ConvBnRelu(c, c, 3)),
    "conv1x1-bn-relu": _same_shape("conv1x1-bn-relu", lambda c: ConvBnRelu(c, c, 1)),
    "maxpool3x3": _same_shape("maxpool3x3", lambda c: nn.MaxPool2d(3, stride=1, padding=1)),
}


def make_op(name: str, c_in: int, c_out: int, stride: int = 1) -> nn.Module:
    """The module of op ``name`` from ``c_in`` to ``c_out`` channels; ``ValueError`` for an unknown name."""
    try:
        factory = OPS[name]
    except KeyError:
        raise ValueError(f"unknown op {name!r}") from None
    return factory(c_in, c_out, stride)
