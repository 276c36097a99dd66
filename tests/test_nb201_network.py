import pytest
import torch
from torch import nn

from searchspace import count_flops, count_params, get_space
from searchspace.nb201 import InferCell, ResNetBasicblock, TinyNetwork

SPACE = get_space("nb201")
ALL_CONV3 = [3] * 6
ALL_NONE = [0] * 6


def test_parameter_counts_match_the_benchmark():
    assert count_params(SPACE.build(ALL_CONV3, num_classes=10)) == 1_531_546
    assert count_params(SPACE.build(ALL_NONE, num_classes=10)) == 73_306
    assert SPACE.params(ALL_CONV3) == 1_531_546
    assert SPACE.params(ALL_NONE) == 73_306
    # the classifier grows with the class count: 64 weights + 1 bias per extra class
    assert SPACE.params(ALL_NONE, num_classes=100) == 73_306 + 90 * 65


def test_flops_follow_the_benchmark_convention():
    # convolutions and linear layers, multiply-accumulates per 32x32 image (220.12 M / 7.78 M in the tables)
    assert SPACE.flops(ALL_CONV3) == 220_119_690
    assert SPACE.flops(ALL_NONE) == 7_783_050
    assert SPACE.flops(ALL_NONE, input_size=16) < SPACE.flops(ALL_NONE)


def test_cost_on_meta_device_equals_cost_of_the_real_module():
    for arch in SPACE.sample(8, seed=11):
        net = SPACE.build(arch)
        assert SPACE.params(arch) == count_params(net)
        assert SPACE.flops(arch) == count_flops(net, (3, 32, 32))


def test_skeleton_structure():
    net = SPACE.build(SPACE.example)
    assert isinstance(net, TinyNetwork)
    kinds = [type(c) for c in net.cells]
    assert len(kinds) == 17
    assert [i for i, k in enumerate(kinds) if k is ResNetBasicblock] == [5, 11]
    assert all(k is InferCell for i, k in enumerate(kinds) if i not in (5, 11))
    stem_conv, stem_bn = net.stem
    assert (stem_conv.in_channels, stem_conv.out_channels, stem_conv.kernel_size, stem_conv.bias) == (3, 16, (3, 3), None)
    assert isinstance(stem_bn, nn.BatchNorm2d)
    block = net.cells[5]
    assert block.conv_a.op[1].stride == (2, 2) and block.conv_b.op[1].stride == (1, 1)
    assert isinstance(block.downsample[0], nn.AvgPool2d) and block.downsample[1].kernel_size == (1, 1)
    assert isinstance(net.lastact[0], nn.BatchNorm2d) and isinstance(net.lastact[1], nn.ReLU)
    assert net.classifier.in_features == 64
    # state-dict names follow the benchmark's builder
    keys = set(net.state_dict())
    assert {"stem.0.weight", "cells.0.layers.0.op.1.weight", "cells.5.conv_a.op.1.weight", "cells.5.downsample.1.weight", "lastact.0.weight", "classifier.bias"} <= keys


def test_edge_ops_are_the_benchmark_modules():
    cell = SPACE.build([0, 1, 2, 3, 4, 3]).cells[0]
    zero, skip, conv1, conv3, pool, _ = cell.layers
    assert torch.equal(zero(torch.ones(2, 16, 4, 4)), torch.zeros(2, 16, 4, 4))
    assert isinstance(skip, nn.Identity)
    relu, conv, bn = conv1.op
    assert isinstance(relu, nn.ReLU) and not relu.inplace
    assert conv.kernel_size == (1, 1) and conv.padding == (0, 0) and conv.bias is None and isinstance(bn, nn.BatchNorm2d)
    assert conv3.op[1].kernel_size == (3, 3) and conv3.op[1].padding == (1, 1)
    assert pool.op.kernel_size == 3 and pool.op.count_include_pad is False


def test_cell_sums_incoming_edges():
    cell = InferCell([1, 1, 1, 1, 1, 1], channels=4)  # all skip: n1 = x, n2 = 2x, n3 = x + x + 2x
    x = torch.randn(2, 4, 8, 8)
    assert torch.allclose(cell(x), 4 * x)


def test_forward_shape_and_seeded_weights():
    torch.manual_seed(0)
    a = SPACE.build(SPACE.example, num_classes=100)
    torch.manual_seed(0)
    b = SPACE.build(SPACE.example, num_classes=100)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    assert a(torch.randn(4, 3, 32, 32)).shape == (4, 100)


@pytest.mark.parametrize("encoding", [[3, 3, 3, 1, 3, 3], {"naslib": [2, 2, 0, 2, 2, 2]}])
def test_build_accepts_every_encoding(encoding):
    torch.manual_seed(1)
    net = SPACE.build(encoding)
    torch.manual_seed(1)
    ref = SPACE.build(SPACE.example)
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), ref.parameters()))
