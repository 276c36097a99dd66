"""MobileNetV3 building blocks with torchvision's module structure, parameter shapes and initialisation.

torchvision cannot be installed beside this project's CPU torch build, so these re-state the facts of
``torchvision.models.mobilenetv3`` (``InvertedResidualConfig``, ``InvertedResidual``, ``MobileNetV3``) and
``torchvision.ops.misc`` (``Conv2dNormActivation``, ``SqueezeExcitation``): the same submodule names and
order (so state dicts line up key for key), the same channel rounding and the same weight initialisation.
One difference is opt-in: :class:`HeadConfig` may drop the bias of the first classifier layer, which is
how once-for-all's feature-mix layer (a bias-free 1x1 convolution on the pooled 1x1 map) is the same
linear map.  ``MOBILENET_V3_LARGE`` is torchvision's ``mobilenet_v3_large`` setting, built through the
same :class:`MobileNetV3` as every ``ofa-mbv3`` network.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

#: torchvision's MobileNetV3 BatchNorm
TORCHVISION_NORM = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """``value`` rounded to the nearest multiple of ``divisor`` (at least ``min_value``), never more than 10% below it."""
    floor = divisor if min_value is None else min_value
    rounded = max(floor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class ConvNormActivation(nn.Sequential):
    """Conv2d ("same" padding, bias only without a norm) -> norm -> activation, as ``Conv2dNormActivation``."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        norm_layer: Callable[[int], nn.Module] | None = nn.BatchNorm2d,
        activation_layer: Callable[..., nn.Module] | None = nn.ReLU,
        dilation: int = 1,
    ):
        padding = (kernel_size - 1) // 2 * dilation
        layers: list[nn.Module] = [
            nn.Conv2d(c_in, c_out, kernel_size, stride, padding, dilation=dilation, groups=groups, bias=norm_layer is None)
        ]
        if norm_layer is not None:
            layers.append(norm_layer(c_out))
        if activation_layer is not None:
            layers.append(activation_layer(inplace=True))
        super().__init__(*layers)
        self.out_channels = c_out


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation (Hu et al.): pool, 1x1 down, activation, 1x1 up, scale activation, rescale the input."""

    def __init__(
        self,
        input_channels: int,
        squeeze_channels: int,
        activation: Callable[..., nn.Module] = nn.ReLU,
        scale_activation: Callable[..., nn.Module] = nn.Sigmoid,
    ):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(input_channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, input_channels, 1)
        self.activation = activation()
        self.scale_activation = scale_activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return scale * x


#: MobileNetV3's squeeze-and-excitation: hard sigmoid scale
MBV3_SE = partial(SqueezeExcitation, scale_activation=nn.Hardsigmoid)


@dataclass(frozen=True)
class InvertedResidualConfig:
    """One bottleneck as torchvision's ``InvertedResidualConfig`` states it; channels rounded to multiples of 8 after ``width_mult``.

    ``activation`` is ``"RE"`` (ReLU) or ``"HS"`` (hard swish).
    """

    input_channels: int
    kernel: int
    expanded_channels: int
    out_channels: int
    use_se: bool
    activation: str
    stride: int
    dilation: int = 1
    width_mult: float = 1.0

    def __post_init__(self) -> None:
        for name in ("input_channels", "expanded_channels", "out_channels"):
            object.__setattr__(self, name, self.adjust_channels(getattr(self, name), self.width_mult))
        if self.activation not in ("RE", "HS"):
            raise ValueError(f"activation must be 'RE' or 'HS', got {self.activation!r}")

    @property
    def use_hs(self) -> bool:
        return self.activation == "HS"

    @staticmethod
    def adjust_channels(channels: float, width_mult: float) -> int:
        return make_divisible(channels * width_mult, 8)


class InvertedResidual(nn.Module):
    """Expand 1x1 (when widened) -> depthwise kxk -> [SE] -> project 1x1 (no activation), with a residual at stride 1 and equal widths."""

    def __init__(self, cnf: InvertedResidualConfig, norm_layer: Callable[[int], nn.Module], se_layer: Callable[..., nn.Module] = MBV3_SE):
        super().__init__()
        if not 1 <= cnf.stride <= 2:
            raise ValueError(f"illegal stride value {cnf.stride}")
        self.use_res_connect = cnf.stride == 1 and cnf.input_channels == cnf.out_channels
        act = nn.Hardswish if cnf.use_hs else nn.ReLU
        layers: list[nn.Module] = []
        if cnf.expanded_channels != cnf.input_channels:
            layers.append(ConvNormActivation(cnf.input_channels, cnf.expanded_channels, 1, norm_layer=norm_layer, activation_layer=act))
        stride = 1 if cnf.dilation > 1 else cnf.stride
        layers.append(ConvNormActivation(
            cnf.expanded_channels, cnf.expanded_channels, cnf.kernel, stride, groups=cnf.expanded_channels,
            norm_layer=norm_layer, activation_layer=act, dilation=cnf.dilation,
        ))
        if cnf.use_se:
            layers.append(se_layer(cnf.expanded_channels, make_divisible(cnf.expanded_channels // 4, 8)))
        layers.append(ConvNormActivation(cnf.expanded_channels, cnf.out_channels, 1, norm_layer=norm_layer, activation_layer=None))
        self.block = nn.Sequential(*layers)
        self.out_channels = cnf.out_channels
        self._is_cn = cnf.stride > 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.block(x)
        if self.use_res_connect:
            result += x
        return result


@dataclass(frozen=True)
class HeadConfig:
    """The classifier after pooling: Linear(6 x last width -> ``last_channel``, ``bias``) -> hard swish -> dropout -> Linear."""

    last_channel: int = 1280
    bias: bool = True
    dropout: float = 0.2


class MobileNetV3(nn.Module):
    """Stem 3x3/2 (hard swish) -> the bottlenecks -> 1x1 to 6x the last width (hard swish) -> pool -> classifier.

    Submodules ``features``, ``avgpool`` and ``classifier`` as torchvision's; weights initialised as it does.
    """

    def __init__(
        self,
        setting: Sequence[InvertedResidualConfig],
        head: HeadConfig = HeadConfig(),
        num_classes: int = 1000,
        norm_layer: Callable[[int], nn.Module] = TORCHVISION_NORM,
        in_channels: int = 3,
    ):
        super().__init__()
        if not setting:
            raise ValueError("the inverted residual setting must not be empty")
        self.features = nn.Sequential(
            stem(in_channels, setting[0].input_channels, norm_layer),
            *(InvertedResidual(cnf, norm_layer) for cnf in setting),
            last_conv(setting[-1].out_channels, norm_layer),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = classifier(6 * setting[-1].out_channels, head, num_classes)
        initialise(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def stem(c_in: int, c_out: int, norm_layer: Callable[[int], nn.Module]) -> ConvNormActivation:
    """The first layer: conv 3x3 stride 2, norm, hard swish."""
    return ConvNormActivation(c_in, c_out, 3, 2, norm_layer=norm_layer, activation_layer=nn.Hardswish)


def last_conv(c_in: int, norm_layer: Callable[[int], nn.Module]) -> ConvNormActivation:
    """The last feature layer: conv 1x1 to six times the width, norm, hard swish."""
    return ConvNormActivation(c_in, 6 * c_in, 1, norm_layer=norm_layer, activation_layer=nn.Hardswish)


def classifier(c_in: int, head: HeadConfig, num_classes: int) -> nn.Sequential:
    """Linear -> hard swish -> dropout -> linear, on the pooled features."""
    return nn.Sequential(
        nn.Linear(c_in, head.last_channel, bias=head.bias),
        nn.Hardswish(inplace=True),
        nn.Dropout(p=head.dropout, inplace=True),
        nn.Linear(head.last_channel, num_classes),
    )


def initialise(net: nn.Module) -> None:
    """torchvision's MobileNetV3 initialisation: convolutions He-normal (fan out), norms 1/0, linears N(0, 0.01), biases 0."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
        else:
            continue
        if m.bias is not None:
            nn.init.zeros_(m.bias)


#: torchvision's ``mobilenet_v3_large`` bottlenecks (input, kernel, expanded, output, SE, activation, stride)
MOBILENET_V3_LARGE: tuple[InvertedResidualConfig, ...] = tuple(
    InvertedResidualConfig(*row)
    for row in (
        (16, 3, 16, 16, False, "RE", 1), (16, 3, 64, 24, False, "RE", 2), (24, 3, 72, 24, False, "RE", 1),
        (24, 5, 72, 40, True, "RE", 2), (40, 5, 120, 40, True, "RE", 1), (40, 5, 120, 40, True, "RE", 1),
        (40, 3, 240, 80, False, "HS", 2), (80, 3, 200, 80, False, "HS", 1), (80, 3, 184, 80, False, "HS", 1),
        (80, 3, 184, 80, False, "HS", 1), (80, 3, 480, 112, True, "HS", 1), (112, 3, 672, 112, True, "HS", 1),
        (112, 5, 672, 160, True, "HS", 2), (160, 5, 960, 160, True, "HS", 1), (160, 5, 960, 160, True, "HS", 1),
    )
)


def mobilenet_v3_large(num_classes: int = 1000) -> MobileNetV3:
    """torchvision's ``mobilenet_v3_large`` (last channel 1280, dropout 0.2): 5,483,032 parameters at 1,000 classes."""
    return MobileNetV3(MOBILENET_V3_LARGE, HeadConfig(1280, bias=True, dropout=0.2), num_classes)
