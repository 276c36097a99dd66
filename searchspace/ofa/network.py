"""Once-for-all's MobileNetV3 macro structure (Cai et al., ICLR 2020), built from the MobileNetV3 blocks of :mod:`..layers.mbv3`.

As ``OFAMobileNetV3`` (``ofa/imagenet_classification/elastic_nn/networks/ofa_mbv3.py``) lays it out:
stem conv 3x3/2 3 -> 16 (BN, hard swish); a fixed first block 16 -> 16 (kernel 3, expand 1, ReLU, no SE,
identity shortcut); five elastic stages of 2-4 blocks; a final 1x1 expand 160 -> 960 (BN, hard swish);
global average pooling; the feature-mix 1x1 960 -> 1280 without BN or bias (hard swish); dropout 0.1;
linear 1280 -> classes.  A stage's first block has the stage's stride, the others stride 1; a block's
expanded width is its input width times its expand ratio (rounded to a multiple of 8).
BatchNorm is once-for-all's (momentum 0.1, eps 1e-5); weights are initialised as torchvision does.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from torch import nn

from ..layers.mbv3 import HeadConfig, InvertedResidualConfig, MobileNetV3
from .encoding import Subnet


@dataclass(frozen=True)
class Stage:
    """One elastic stage: output width, first block's stride, activation (``RE``/``HS``), squeeze-and-excitation."""

    width: int
    stride: int
    activation: str
    use_se: bool


#: the five elastic stages of OFAMobileNetV3 (base_stage_width, stride_stages, act_stages, se_stages)
STAGES: tuple[Stage, ...] = (
    Stage(24, 2, "RE", False),
    Stage(40, 2, "RE", True),
    Stage(80, 2, "HS", False),
    Stage(112, 1, "HS", True),
    Stage(160, 2, "HS", True),
)
STEM_WIDTH = 16
#: the fixed first block: 16 -> 16, kernel 3, expand 1, ReLU, no SE, stride 1
FIRST_BLOCK = InvertedResidualConfig(STEM_WIDTH, 3, STEM_WIDTH, STEM_WIDTH, False, "RE", 1)
#: feature mix 960 -> 1280 (a bias-free 1x1 conv on the pooled map, i.e. a bias-free linear), dropout 0.1
HEAD = HeadConfig(last_channel=1280, bias=False, dropout=0.1)
#: once-for-all's BatchNorm (bn_param = (momentum 0.1, eps 1e-5))
OFA_NORM = partial(nn.BatchNorm2d, eps=1e-5, momentum=0.1)


def block_setting(subnet: Subnet) -> list[InvertedResidualConfig]:
    """The bottlenecks of ``subnet``: the fixed first block, then each stage's existing blocks."""
    setting = [FIRST_BLOCK]
    width = STEM_WIDTH
    for stage, expands, kernels in zip(STAGES, subnet.expands, subnet.kernels):
        for b, (e, k) in enumerate(zip(expands, kernels)):
            stride = stage.stride if b == 0 else 1
            setting.append(InvertedResidualConfig(width, k, width * e, stage.width, stage.use_se, stage.activation, stride))
            width = stage.width
    return setting


def build_network(subnet: Subnet, num_classes: int = 1000, in_channels: int = 3) -> MobileNetV3:
    """The subnet's network (its resolution only sets the input size, not the modules)."""
    return MobileNetV3(block_setting(subnet), HEAD, num_classes, norm_layer=OFA_NORM, in_channels=in_channels)
