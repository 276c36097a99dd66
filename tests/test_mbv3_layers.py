"""The MobileNetV3 blocks restate torchvision's: channel rounding, module structure, and mobilenet_v3_large's size."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from searchspace import count_params
from searchspace.layers.mbv3 import (
    MOBILENET_V3_LARGE,
    InvertedResidual,
    InvertedResidualConfig,
    SqueezeExcitation,
    TORCHVISION_NORM,
    make_divisible,
    mobilenet_v3_large,
)


def meta_large(num_classes: int = 1000) -> nn.Module:
    with torch.device("meta"):
        return mobilenet_v3_large(num_classes)


@pytest.mark.parametrize(("value", "expected"), [(16, 16), (18, 24), (20, 24), (17, 16), (960 // 4, 240), (3, 8), (100, 104)])
def test_make_divisible_rounds_to_the_nearest_multiple_of_8_never_10_percent_below(value, expected):
    # 18 rounds to 16, more than 10% below it, so it goes up to 24; 17 rounds to 16, within 10%
    assert make_divisible(value, 8) == expected, f"make_divisible({value}, 8)"


def test_mobilenet_v3_large_has_torchvisions_parameter_count():
    assert count_params(meta_large(1000)) == 5_483_032


def test_mobilenet_v3_large_setting_is_torchvisions_table():
    rows = [(c.input_channels, c.kernel, c.expanded_channels, c.out_channels, c.use_se, c.activation, c.stride) for c in MOBILENET_V3_LARGE]
    assert len(rows) == 15
    assert rows[0] == (16, 3, 16, 16, False, "RE", 1) and rows[-1] == (160, 5, 960, 160, True, "HS", 1)
    assert [r[6] for r in rows].count(2) == 4, "four stride-2 bottlenecks (C1..C4)"


def test_mobilenet_v3_large_head_is_linear_hardswish_dropout_linear():
    head = meta_large(10).classifier
    assert [type(m) for m in head] == [nn.Linear, nn.Hardswish, nn.Dropout, nn.Linear]
    assert (head[0].in_features, head[0].out_features, head[0].bias is not None) == (960, 1280, True)
    assert head[2].p == 0.2 and (head[3].in_features, head[3].out_features) == (1280, 10)


def test_squeeze_excitation_squeezes_to_a_quarter_rounded_and_keeps_torchvisions_names():
    block = InvertedResidual(InvertedResidualConfig(40, 5, 120, 40, True, "RE", 1), TORCHVISION_NORM)
    se = block.block[2]
    assert isinstance(se, SqueezeExcitation) and isinstance(se.scale_activation, nn.Hardsigmoid)
    assert (se.fc1.in_channels, se.fc1.out_channels) == (120, 32), "_make_divisible(120 // 4, 8) = 32"
    assert [name for name, _ in se.named_children()] == ["avgpool", "fc1", "fc2", "activation", "scale_activation"]


@pytest.mark.parametrize(
    ("config", "residual", "layers"),
    [
        (InvertedResidualConfig(16, 3, 16, 16, False, "RE", 1), True, 2),  # no expansion: depthwise, project
        (InvertedResidualConfig(16, 3, 64, 24, False, "RE", 2), False, 3),  # expand, depthwise, project
        (InvertedResidualConfig(112, 5, 672, 160, True, "HS", 2), False, 4),  # expand, depthwise, SE, project
        (InvertedResidualConfig(160, 5, 960, 160, True, "HS", 1), True, 4),
    ],
)
def test_inverted_residual_structure(config, residual, layers):
    block = InvertedResidual(config, TORCHVISION_NORM)
    assert block.use_res_connect is residual and len(block.block) == layers
    project = block.block[-1]
    assert len(project) == 2, "the projection has no activation"
    depthwise = block.block[1 if layers > 2 else 0][0]
    assert depthwise.groups == config.expanded_channels and depthwise.stride == (config.stride,) * 2
    assert depthwise.padding == ((config.kernel - 1) // 2,) * 2 and depthwise.bias is None


def test_batchnorm_is_torchvisions():
    bn = meta_large().features[0][1]
    assert (bn.eps, bn.momentum) == (0.001, 0.01)


def test_state_dict_matches_real_torchvision_when_importable():
    try:
        from torchvision.models import mobilenet_v3_large as reference
    except Exception as exc:  # not installed, or its C ops fail to load beside this torch build
        pytest.skip(f"torchvision is not importable here ({type(exc).__name__}: {exc})")
    ours = {k: tuple(v.shape) for k, v in meta_large().state_dict().items()}
    with torch.device("meta"):
        theirs = {k: tuple(v.shape) for k, v in reference().state_dict().items()}
    assert ours == theirs
