"""The float64 grouped-convolution replica is bit-identical to PyTorch's, forward and backward, and SynFlow uses it."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from scoring.measures import synflow
from scoring.registry import run_pass
from searchspace.layers.exact_conv import GroupedConv2dReplica, grouped_conv2d_float64, swap_in_grouped_conv_replicas

#: (in channels, out channels, groups, size, kernel, stride, padding): depthwise as in MobileNet blocks, and general groups
SHAPES = [
    (16, 16, 16, 12, 3, 1, 1),
    (24, 24, 24, 9, 5, 2, 2),
    (8, 8, 8, 7, 7, 1, 3),
    (12, 24, 4, 10, 3, 1, 1),
    (6, 6, 3, 9, (3, 1), (2, 1), (1, 0)),
]


@pytest.fixture(params=[1, 2], ids=["1-thread", "2-threads"])
def threads(request):
    saved = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(saved)


@pytest.mark.parametrize("cin, cout, groups, size, kernel, stride, padding", SHAPES)
def test_replica_is_bit_identical_forward_and_backward(threads, cin, cout, groups, size, kernel, stride, padding):
    gen = torch.Generator().manual_seed(cin * size)
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    x = torch.randn(2, cin, size, size + 1, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(cout, cin // groups, kh, kw, generator=gen, dtype=torch.float64, requires_grad=True)
    pair = lambda v: (v, v) if isinstance(v, int) else v  # noqa: E731
    stock = F.conv2d(x, w, None, pair(stride), pair(padding), 1, groups)
    replica = grouped_conv2d_float64(x, w, pair(stride), pair(padding), groups)
    grad = torch.randn(stock.shape, generator=gen, dtype=torch.float64)
    assert torch.equal(stock, replica), "forward differs from F.conv2d"
    for name, a, b in zip(("input", "weight"), torch.autograd.grad(stock, (x, w), grad), torch.autograd.grad(replica, (x, w), grad)):
        assert torch.equal(a, b), f"gradient of the {name} differs from F.conv2d's"


def test_swap_keeps_the_module_and_changes_only_plain_grouped_convolutions(threads):
    net = nn.Sequential(nn.Conv2d(4, 4, 3, groups=4), nn.Conv2d(4, 8, 1), nn.Conv2d(8, 8, 3, groups=2, bias=True))
    depthwise = net[0]
    assert swap_in_grouped_conv_replicas(net) == 2, "both grouped convolutions, and only those, are swapped"
    assert net[0] is depthwise and isinstance(net[0], GroupedConv2dReplica) and type(net[1]) is nn.Conv2d
    x = torch.randn(1, 4, 6, 6, dtype=torch.float64)
    net.double()
    assert torch.equal(net[2](net[1](x)), F.conv2d(net[1](x), net[2].weight, net[2].bias, 1, 0, 1, 2)), "a biased one keeps the stock path"


class Depthwise(nn.Module):
    """A MobileNet-style block: 1x1 expand, depthwise 3x3 at stride 2, 1x1 project, pool, linear."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 12, 1, bias=False), nn.BatchNorm2d(12), nn.ReLU(),
            nn.Conv2d(12, 12, 3, 2, 1, groups=12, bias=False), nn.BatchNorm2d(12), nn.ReLU(),
            nn.Conv2d(12, 6, 1, bias=False), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3),
        )

    def forward(self, x):
        return self.body(x)


class Probe:
    x = torch.zeros(2, 3, 10, 10)

    def network(self):
        torch.manual_seed(0)
        return Depthwise().train()


def test_synflow_is_unchanged_by_the_replica(threads, monkeypatch):
    fast = run_pass("synflow", Probe(), frozenset({"synflow"}))
    monkeypatch.setattr(synflow, "swap_in_grouped_conv_replicas", lambda net: 0)
    stock = run_pass("synflow", Probe(), frozenset({"synflow"}))
    assert fast == stock, f"synflow with the replica {fast} != stock {stock}"
