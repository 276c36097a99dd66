"""The fast scoring path gives the reference values: exact products, pooled networks, pruned cells, CPU poolings."""

import itertools
import math
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from scoring import Scorer, kernels, naswot, open_source
from scoring.evaluate import build_seeded
from searchspace import EncodingError, get_space
from searchspace.layers.exact_pooling import AvgPool2x2, AvgPool3x3, avg_pool_2x2, avg_pool_3x3_exclude_pad, replica_of
from searchspace.nb201 import InferCell, NB201Space
from searchspace.nb201.pool import NB201Networks, PrunedCell, _needed_nodes
from searchspace.seeded import BuiltNetworks

SPACE = get_space("nb201")
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
# no path from the input to the output: the last stages see identical codes for every input
DISCONNECTED = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|"
# node 2 is a dead end whose ReLUs still count
DEAD_END = "|nor_conv_1x1~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|avg_pool_3x3~1|none~2|"
EDGE_CASES = [ALL_NONE, DISCONNECTED, DEAD_END, "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def bits(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().view(torch.int32 if t.dtype == torch.float32 else torch.int64)


# ---- exact products -------------------------------------------------------------------------


def naive_gram(x: torch.Tensor) -> np.ndarray:
    c = (x.reshape(x.shape[0], -1) > 0).numpy().astype(np.int64)
    return (c @ c.T).astype(np.float64)


@pytest.mark.parametrize("batch, units", [(1, 5), (2, 1), (5, 1), (17, 3), (8, 63), (8, 64), (3, 200), (16, 1000)])
@pytest.mark.parametrize("kernel", kernels.KERNELS)
def test_code_gram_is_exact_on_every_path(batch, units, kernel):
    x = torch.randn(batch, units, generator=torch.Generator().manual_seed(batch * 1000 + units))
    np.testing.assert_array_equal(naswot.code_gram(x, kernel).numpy(), naive_gram(x))


@pytest.mark.parametrize("kernel", kernels.KERNELS)
@pytest.mark.parametrize("limit", ["EXACT_FLOAT32_UNITS", "EXACT_INT32_UNITS"])
def test_products_are_chunked_exactly(monkeypatch, kernel, limit):
    x = torch.randn(9, 3, 50)
    whole = naswot.code_gram(x, "float32")
    monkeypatch.setattr(kernels, limit, 8)
    assert torch.equal(naswot.code_gram(x, kernel), whole)


@pytest.mark.parametrize("kernel", kernels.KERNELS)
def test_grouped_grams_equal_one_gram_per_group(kernel):
    codes = torch.randn(6, 3, 70, generator=torch.Generator().manual_seed(5)) > 0
    expected = torch.stack([kernels.gram(codes[:, g].contiguous(), "float32") for g in range(3)])
    assert torch.equal(kernels.grouped_gram(codes, kernel), expected)


def test_kernel_from_gram_counts_agreeing_units():
    layers = [torch.randn(7, n) for n in (3, 40, 129)]
    gram = sum(naswot.code_gram(x) for x in layers)
    units = sum(x.shape[1] for x in layers)
    codes = torch.cat([(x > 0) for x in layers], dim=1)
    agree = (codes[:, None, :] == codes[None, :, :]).sum(-1).double()
    assert torch.equal(naswot.kernel_from_gram(gram, units), agree)
    signs = codes.double() * 2 - 1
    assert torch.equal(2 * naswot.kernel_from_gram(gram, units) - units, signs @ signs.T), "agreements minus disagreements"


# ---- bit-identical CPU poolings -------------------------------------------------------------


def adversarial(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g) * torch.exp(torch.randn(shape, generator=g) * 6)
    x.view(-1)[:: 7] = 0.0
    return x


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 3, 1, 6), (2, 3, 7, 5), (4, 16, 32, 32), (3, 64, 8, 8)])
def test_3x3_pooling_replica_is_bit_identical(shape):
    x = adversarial(shape)
    ref = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)(x)
    with torch.no_grad():
        got = avg_pool_3x3_exclude_pad(x)
    assert got.shape == ref.shape and got.is_contiguous()
    assert torch.equal(bits(got), bits(ref))


@pytest.mark.parametrize("shape", [(2, 3, 2, 2), (4, 16, 32, 32), (2, 5, 6, 4)])
def test_2x2_pooling_replica_is_bit_identical(shape):
    x = adversarial(shape, seed=1)
    with torch.no_grad():
        got = avg_pool_2x2(x)
    assert torch.equal(bits(got), bits(F.avg_pool2d(x, 2, 2)))


def test_pooling_replicas_fall_back_where_they_would_differ():
    x = adversarial((2, 3, 5, 5), seed=2)
    with torch.no_grad():
        assert torch.equal(avg_pool_2x2(x), F.avg_pool2d(x, 2, 2))  # odd size
        half = x.to(torch.bfloat16)
        assert torch.equal(avg_pool_3x3_exclude_pad(half), F.avg_pool2d(half, 3, 1, 1, count_include_pad=False))
    y = x.clone().requires_grad_(True)
    avg_pool_3x3_exclude_pad(y).sum().backward()  # autograd uses the stock operator
    assert y.grad is not None


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    "replica, stock, shape",
    [
        (AvgPool3x3, nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False), (2, 3, 7, 5)),
        (AvgPool3x3, nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False), (4, 16, 32, 32)),
        (AvgPool2x2, nn.AvgPool2d(2, stride=2), (2, 5, 6, 4)),
    ],
    ids=["3x3-odd", "3x3-nb201", "2x2"],
)
def test_pooling_replicas_backward_is_bit_identical(replica, stock, shape, dtype):
    x = adversarial(shape).to(dtype)
    ours, theirs = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    y = replica()(ours)
    grad = adversarial(y.shape, seed=3).to(dtype)
    y.backward(grad)
    stock(theirs).backward(grad)
    assert torch.equal(bits(y.detach()), bits(stock(x))), "forward under autograd differs from the stock pooling"
    assert torch.equal(bits(ours.grad), bits(theirs.grad)), "input gradient differs from the stock pooling's backward"
    assert ours.grad.is_contiguous(), "a non-contiguous gradient sends later kernels down another path"


def test_pooling_replicas_refuse_a_double_backward():
    x = adversarial((2, 3, 6, 6)).requires_grad_(True)
    (g,) = torch.autograd.grad(AvgPool3x3()(x).pow(2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):
        torch.autograd.grad(g.sum(), x)


def test_gradient_scores_are_the_same_with_and_without_the_pooling_replicas(monkeypatch):
    space = get_space("nb201")
    arch = "|avg_pool_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|avg_pool_3x3~2|"
    names = ["snip", "grad_norm", "fisher", "jacob_cov"]
    source = open_source("noise:3x16x16")
    with_replicas = Scorer(space, source, batch_size=8, seed=0, scores=names).score_one(arch).values
    import scoring.measures.default_init as default_init

    monkeypatch.setattr(default_init, "swap_in_replicas", lambda net: 0)
    stock = Scorer(space, source, batch_size=8, seed=0, scores=names).score_one(arch).values
    assert with_replicas == stock, f"replicas changed the scores: {with_replicas} against {stock}"


def test_only_the_matching_poolings_get_replicas():
    assert isinstance(replica_of(nn.AvgPool2d(3, 1, 1, count_include_pad=False)), AvgPool3x3)
    assert isinstance(replica_of(nn.AvgPool2d(2, 2)), AvgPool2x2)
    assert replica_of(nn.AvgPool2d(3, 1, 1)) is None  # counts the padding
    assert replica_of(nn.AvgPool2d(2, 2, ceil_mode=True)) is None
    assert replica_of(nn.MaxPool2d(2)) is None


# ---- pooled networks and pruned cells -------------------------------------------------------


@pytest.mark.parametrize("pruned", [True, False])
def test_pooled_networks_have_the_weights_of_a_fresh_seeded_build(pruned):
    networks = NB201Networks(SPACE, 10, 3, torch.device("cpu"), pruned=pruned)
    for arch in SPACE.sample(10, seed=4, unique=True) + EDGE_CASES:
        ref = build_seeded(SPACE, arch, 10, 3).state_dict()
        with networks.network(arch) as net:
            got = net.state_dict()
        assert list(got) == list(ref)
        for name in ref:
            assert torch.equal(got[name], ref[name]), name


def test_pool_construction_and_use_leave_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    networks = NB201Networks(SPACE, 10, 0, torch.device("cpu"))
    with networks.network(SPACE.example):
        pass
    assert torch.equal(torch.rand(3), expected)


def test_needed_nodes():
    assert _needed_nodes(SPACE.ops(SPACE.example)) == [True] * 4
    # node 2 feeds node 3 only through `none`; node 1 still feeds the ReLU of the conv 1->2
    assert _needed_nodes(SPACE.ops(DEAD_END)) == [True, True, False, True]
    # node 1 feeds only a pooling into the dead node 2
    assert _needed_nodes((3, 1, 4, 1, 0, 0)) == [True, False, False, True]
    assert _needed_nodes((0,) * 6) == [True, False, False, True]


def _relu_inputs(cell: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[tuple[int, torch.Tensor]]]:
    seen: list[tuple[int, torch.Tensor]] = []
    hooks = [
        m.register_forward_pre_hook(lambda m, a: seen.append((id(m), a[0].clone())))
        for m in cell.modules()
        if isinstance(m, nn.ReLU)
    ]
    with torch.no_grad():
        out = cell(x)
    for h in hooks:
        h.remove()
    return out, seen


def test_pruned_cell_matches_the_benchmark_cell_on_every_structure():
    """Every pattern of none / identity-like / ReLU-conv edges: same output, same ReLU calls on the same inputs."""
    x = torch.randn(4, 3, 5, 5, generator=torch.Generator().manual_seed(5))
    rng = random.Random(0)
    for pattern in itertools.product(("none", "skip", "conv"), repeat=6):
        ops = tuple({"none": 0, "skip": rng.choice((1, 4)), "conv": rng.choice((2, 3))}[kind] for kind in pattern)
        torch.manual_seed(sum(ops))
        ref_cell = InferCell(ops, 3).train()
        ref_out, ref_calls = _relu_inputs(ref_cell, x)
        pruned_out, pruned_calls = _relu_inputs(PrunedCell(ref_cell.layers, ops).train(), x)
        assert torch.equal(pruned_out, ref_out), ops
        assert sorted(m for m, _ in pruned_calls) == sorted(m for m, _ in ref_calls), ops
        for (_, a), (_, b) in zip(sorted(pruned_calls, key=lambda c: c[0]), sorted(ref_calls, key=lambda c: c[0])):
            assert torch.equal(a, b), ops


@pytest.mark.parametrize("twin", [False, True])
def test_pooled_scores_equal_the_reference_on_a_small_skeleton(twin):
    space = NB201Space(C=4, N=1)
    x = torch.randn(6, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    networks = NB201Networks(space, 10, 1, torch.device("cpu"), pruned=True, twin=twin)
    archs = [space.canonical(ops) for ops in itertools.product((0, 1, 3), repeat=6)]
    for arch in random.Random(1).sample(archs, 40) + EDGE_CASES:
        ref = naswot.score(build_seeded(space, arch, 10, 1), x)
        with networks.network(arch) as net:
            assert naswot.score(net, x) == ref, arch


@pytest.mark.parametrize("twin", [False, True])
def test_unpruned_pooled_networks_compute_the_full_network_and_its_gradients(twin):
    space = NB201Space(C=4, N=1)
    x = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    networks = NB201Networks(space, 10, 5, torch.device("cpu"), twin=twin)  # unpruned by default
    for arch in EDGE_CASES + space.sample(6, seed=3, unique=True):
        ref = build_seeded(space, arch, 10, 5)
        ref_out = ref(x)
        ref_out.square().sum().backward()
        with networks.network(arch) as net:
            net.zero_grad()
            out = net(x)
            out.square().sum().backward()
            assert torch.equal(out, ref_out), f"outputs differ for {arch}"
            grads = {name: p.grad for name, p in net.named_parameters()}
        for name, p in ref.named_parameters():
            assert torch.equal(grads[name], p.grad), f"gradient of {name} differs for {arch}"


def test_nb201_scoring_asks_for_pruned_cells_and_other_spaces_build_afresh():
    cpu = torch.device("cpu")
    pooled = SPACE.network_source(10, 0, cpu)
    assert isinstance(pooled, NB201Networks) and pooled._cpu.cell_type is not PrunedCell, "the default must be the full network"
    assert Scorer(SPACE, open_source("noise"), batch_size=2).networks._cpu.cell_type is PrunedCell, "NASWOT may skip dead work"
    assert isinstance(get_space("darts").network_source(10, 0, cpu, pruned=True), BuiltNetworks)


# ---- the Scorer's fast path against the reference ----------------------------------------


def _reference(space, arch: str, x: torch.Tensor, seed: int, num_classes: int = 10) -> float:
    return naswot.score(build_seeded(space, space.canonical(arch), num_classes, seed), x)


def test_score_many_equals_the_reference_scores_bit_for_bit():
    scorer = Scorer(SPACE, open_source("noise"), batch_size=16, seed=2)
    archs = SPACE.sample(12, seed=8, unique=True) + EDGE_CASES
    results = list(scorer.score_many(archs))
    assert [r.arch for r in results] == [SPACE.canonical(a) for a in archs]
    singular = 0
    for arch, r in zip(archs, results):
        assert r.score == _reference(SPACE, arch, scorer.x, 2), arch
        singular += r.singular
    assert singular >= 1  # the all-none cell
    assert results[archs.index(ALL_NONE)].score == -math.inf


def test_real_images_give_the_reference_scores(cifar10_sample):
    scorer = Scorer(SPACE, open_source(f"cifar10:{cifar10_sample}"), batch_size=32, seed=0)
    archs = SPACE.sample(4, seed=21, unique=True) + [DEAD_END]
    for arch, r in zip(archs, scorer.score_many(archs)):
        ref = _reference(SPACE, arch, scorer.x, 0)
        assert r.score == ref or abs(r.score - ref) <= 1e-9 * abs(ref)


def test_scores_do_not_depend_on_what_was_scored_before():
    scorer = Scorer(SPACE, open_source("noise"), batch_size=8, seed=5)
    a, b = SPACE.sample(2, seed=3, unique=True)
    first = scorer.score_one(a).score
    assert [r.score for r in scorer.score_many([b, DEAD_END, a])][-1] == first
    assert Scorer(SPACE, open_source("noise"), batch_size=8, seed=5).score_one(a).score == first


def test_score_many_yields_finished_results_before_an_encoding_error():
    scorer = Scorer(SPACE, open_source("noise"), batch_size=4, seed=0)
    a, b = SPACE.sample(2, seed=6, unique=True)
    seen = []
    with pytest.raises(EncodingError):
        for r in scorer.score_many([a, b, "|bogus~0|", a]):
            seen.append(r.arch)
    assert seen == [a, b]


def test_score_many_is_lazy_and_reports_costs():
    scorer = Scorer(SPACE, open_source("noise"), batch_size=4, seed=0)
    it = scorer.score_many(iter([SPACE.example]))
    r = next(it)
    assert r.params == SPACE.params(SPACE.example) and r.flops == SPACE.flops(SPACE.example) and r.seconds > 0
    assert list(it) == []
    assert list(scorer.score_many([])) == []


# ---- precision modes ------------------------------------------------------------------------


def test_precision_is_validated_and_named_in_describe():
    src = open_source("noise")
    assert Scorer(SPACE, src, batch_size=4).describe()["precision"] == "exact"
    with pytest.raises(ValueError, match="precision"):
        Scorer(SPACE, src, batch_size=4, precision="fp8")
    with pytest.raises(ValueError, match="tf32.*CUDA"):
        Scorer(SPACE, src, batch_size=4, precision="tf32")


def test_bf16_mode_is_opt_in_and_close_in_rank():
    src = open_source("noise")
    exact = Scorer(SPACE, src, batch_size=16, seed=0)
    fast = Scorer(SPACE, src, batch_size=16, seed=0, precision="bf16")
    assert fast.describe()["precision"] == "bf16"
    archs = SPACE.sample(6, seed=12, unique=True) + [ALL_NONE]
    a = [r.score for r in exact.score_many(archs)]
    b = [r.score for r in fast.score_many(archs)]
    assert b[-1] == -math.inf
    assert all(math.isfinite(s) for s in b[:-1])
    # the same ordering of clearly separated scores
    pairs = [(i, j) for i in range(len(a) - 1) for j in range(len(a) - 1) if a[i] - a[j] > 2.0]
    assert pairs and all(b[i] > b[j] for i, j in pairs)
