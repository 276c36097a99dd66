import math

import numpy as np
import pytest
import torch
from torch import nn

from scoring import kernels, naswot
from searchspace import get_space

SPACE = get_space("nb201")


#: the activations whose input signs are codes, written out independently of scoring.naswot.CODE_ACTIVATIONS
RECTIFIERS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.CELU, nn.SELU, nn.GELU, nn.SiLU, nn.Mish, nn.Hardswish, nn.Softplus)


def naive_score(net: nn.Module, x: torch.Tensor, read: tuple[type[nn.Module], ...] = (nn.ReLU,)) -> tuple[float, np.ndarray]:
    """Independent reference: binary codes of every unit of the ``read`` modules, K from explicit Hamming distances, float64 slogdet."""
    codes = []

    def grab(_m, inputs, _out):
        codes.append((inputs[0].detach().reshape(x.shape[0], -1) > 0).cpu().numpy())

    hooks = [m.register_forward_hook(grab) for m in net.modules() if isinstance(m, read)]
    net.train()
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    c = np.concatenate(codes, axis=1)
    n_units = c.shape[1]
    b = c.shape[0]
    k = np.empty((b, b), dtype=np.float64)
    for i in range(b):
        for j in range(b):
            k[i, j] = n_units - np.count_nonzero(c[i] != c[j])
    sign, logdet = np.linalg.slogdet(k)
    return (logdet if sign != 0 else -math.inf), k


class _Unused(nn.Module):
    """A GELU that the forward pass never calls."""

    def __init__(self):
        super().__init__()
        self.act, self.fc = nn.GELU(), nn.Linear(12, 2)

    def forward(self, x):
        return self.fc(x.flatten(1))


class SmallMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(48, 40), nn.ReLU(), nn.Linear(40, 30), nn.ReLU(), nn.Linear(30, 5))

    def forward(self, x):
        return self.net(x)


class SmallCNN(nn.Module):
    """A plain user-built CNN: one ReLU module reused twice, one in-place ReLU."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.act = nn.ReLU()
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 16), nn.ReLU(inplace=True), nn.Linear(16, 3))

    def forward(self, x):
        x = self.act(self.bn1(self.conv1(x)))
        x = self.act(self.conv2(x))
        return self.head(x)


def _seeded(factory, seed=0):
    torch.manual_seed(seed)
    return factory()


@pytest.mark.parametrize("factory, shape", [(SmallMLP, (24, 3, 4, 4)), (SmallCNN, (20, 3, 8, 8))])
def test_score_matches_naive_float64_reference_on_small_nets(factory, shape):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    expected, k_ref = naive_score(_seeded(factory), x)
    got = naswot.kernel(_seeded(factory), x)
    np.testing.assert_array_equal(got.matrix.numpy(), k_ref)
    assert naswot.score(_seeded(factory), x) == pytest.approx(expected, rel=1e-9)


def test_score_matches_naive_reference_on_an_nb201_cell():
    arch = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    x = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    expected, k_ref = naive_score(_seeded(lambda: SPACE.build(arch)), x)
    k = naswot.kernel(_seeded(lambda: SPACE.build(arch)), x)
    np.testing.assert_array_equal(k.matrix.numpy(), k_ref)
    assert math.isfinite(expected)
    assert naswot.score(_seeded(lambda: SPACE.build(arch)), x) == pytest.approx(expected, rel=1e-9)


def test_kernel_is_symmetric_with_unit_count_on_the_diagonal():
    net = _seeded(lambda: SPACE.build(SPACE.example))
    k = naswot.kernel(net, torch.randn(12, 3, 32, 32))
    m = k.matrix
    assert m.dtype == torch.float64
    assert torch.equal(m, m.T)
    assert torch.all(torch.diagonal(m) == k.units)
    assert torch.all(m <= k.units) and torch.all(m >= 0)
    relu_units = 5 * 16 * 32 * 32 * 5 + 5 * 32 * 16 * 16 * 5 + 5 * 64 * 8 * 8 * 5  # 5 conv edges per cell
    block_units = (16 * 32 * 32 + 32 * 16 * 16) + (32 * 16 * 16 + 64 * 8 * 8)  # conv_a and conv_b of both blocks
    assert k.units == relu_units + block_units + 64 * 8 * 8  # + lastact


def test_all_none_cell_is_singular_and_scores_minus_infinity():
    net = _seeded(lambda: SPACE.build([0] * 6))
    x = torch.randn(16, 3, 32, 32)
    assert naswot.score(net, x) == -math.inf
    ref, _ = naive_score(_seeded(lambda: SPACE.build([0] * 6)), x)
    assert ref == -math.inf


def test_repeated_input_gives_singular_kernel():
    x = torch.randn(10, 3, 4, 4)
    x[7] = x[2]
    assert naswot.score(_seeded(SmallMLP), x) == -math.inf


def test_same_seed_same_score_and_different_seed_different_score():
    x = torch.randn(32, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    a = naswot.score(_seeded(lambda: SPACE.build(SPACE.example), 5), x)
    b = naswot.score(_seeded(lambda: SPACE.build(SPACE.example), 5), x)
    c = naswot.score(_seeded(lambda: SPACE.build(SPACE.example), 6), x)
    assert a == b
    assert a != c


def test_hooks_are_removed_and_mode_restored_also_on_error():
    net = _seeded(SmallCNN)
    net.eval()
    naswot.score(net, torch.randn(8, 3, 8, 8))
    assert not net.training
    assert all(not m._forward_pre_hooks for m in net.modules())
    with pytest.raises(RuntimeError):
        naswot.score(net, torch.randn(8, 5, 8, 8))  # wrong channel count fails inside the forward pass
    assert all(not m._forward_pre_hooks for m in net.modules())
    assert not net.training


@pytest.mark.parametrize(
    "net, reason",
    [
        (nn.Sequential(nn.Flatten(), nn.Linear(12, 2)), "no elementwise activation module"),
        (nn.Sequential(nn.Flatten(), nn.Linear(12, 4), nn.Sigmoid(), nn.Tanh(), nn.Softmax(dim=1)), "no elementwise activation module"),
        (_Unused(), "was called in the forward pass"),
    ],
    ids=["linear", "gates-only", "never-called"],
)
def test_network_without_codes_has_no_score_and_says_why(net, reason):
    with pytest.raises(naswot.NoCodes, match=reason):
        naswot.score(net, torch.randn(4, 3, 2, 2))
    assert all(not m._forward_pre_hooks for m in net.modules()), "hooks left behind"


class MixedActivations(nn.Module):
    """One module of each rectifier, plus gates (Sigmoid, Tanh, Hardsigmoid, Hardtanh) and a Softmax that are not read."""

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(24, 24) for _ in range(len(RECTIFIERS)))
        self.acts = nn.ModuleList(cls() for cls in RECTIFIERS)
        self.gates = nn.ModuleList([nn.Sigmoid(), nn.Tanh(), nn.Hardsigmoid(), nn.Hardtanh(), nn.Softmax(dim=1)])

    def forward(self, x):
        x = x.flatten(1)
        for layer, act in zip(self.layers, self.acts):
            x = act(layer(x))
        for gate in self.gates:
            x = x * gate(x)
        return x


def test_codes_come_from_every_rectifier_and_no_gate():
    x = torch.randn(16, 3, 2, 4)
    expected, _ = naive_score(_seeded(MixedActivations), x, RECTIFIERS)
    assert naswot.score(_seeded(MixedActivations), x) == pytest.approx(expected, rel=1e-9), "codes differ from the rectifiers' input signs"


def test_kernel_says_which_activations_it_read():
    k = naswot.kernel(_seeded(SmallCNN), torch.randn(6, 3, 8, 8))
    assert dict(k.read) == {"ReLU": 3}, "the shared ReLU is read once per call"
    assert k.note == "codes of ReLU x3"
    mixed = naswot.kernel(_seeded(MixedActivations), torch.randn(6, 3, 2, 4))
    assert dict(mixed.read) == {cls.__name__: 1 for cls in RECTIFIERS}, "each rectifier once, no gate"


def test_products_are_reused_only_for_the_same_unmodified_tensor():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.ReLU(), nn.ReLU()

        def forward(self, x):
            y = self.a(x)
            x.neg_()  # same tensor object, new contents: must not reuse the first product
            return y + self.b(x)

    x = torch.randn(6, 20)
    expected, _ = naive_score(Twice(), x.clone())
    assert naswot.score(Twice(), x.clone()) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("mode", kernels.KERNELS)
@pytest.mark.parametrize("limit", ["EXACT_FLOAT32_UNITS", "EXACT_INT32_UNITS"])
def test_wide_layers_are_split_into_exact_chunks(monkeypatch, gram_kernel, mode, limit):
    x = torch.randn(8, 3, 8, 8)
    gram_kernel(mode)
    whole = naswot.kernel(_seeded(SmallCNN), x).matrix
    monkeypatch.setattr(kernels, limit, 7)
    chunked = naswot.kernel(_seeded(SmallCNN), x).matrix
    assert torch.equal(whole, chunked)


def test_precision_modes_are_checked_and_bf16_keeps_codes_exact():
    net = _seeded(SmallCNN)
    x = torch.randn(10, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    with pytest.raises(ValueError, match="tf32"):
        naswot.score(net, x, precision="tf32")  # CUDA only
    with pytest.raises(ValueError, match="precision"):
        naswot.kernel(net, x, precision="half")
    k = naswot.kernel(_seeded(SmallCNN), x, precision="bf16")
    assert torch.all(torch.diagonal(k.matrix) == k.units)  # integer counts whatever the forward precision
    assert torch.equal(k.matrix, k.matrix.round())
