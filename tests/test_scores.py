"""Specification of the registered training-free scores.

Each score's pass is checked against a naive re-implementation of its published definition on a
tiny conv/BN/ReLU network, written with explicit loops, numpy and ``torch.autograd.functional``
rather than the score modules' helpers.  The tiny network runs in float64 (so the tolerances are
tight) except for zen, whose pass draws its Gaussian inputs in float32.
"""

from __future__ import annotations

import copy
import math
import warnings
from contextlib import contextmanager

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from scoring import naswot, registry
from scoring.data.base import ImageArraySource, NoiseSource
from scoring.evaluate import Scorer
from scoring.undefined import Undefined
from scoring.registry import ScoreInfo, get_score_info, list_scores, pass_of, run_pass
from searchspace.nb201 import NB201Space

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SEED = 3
CLASSES = 4
RTOL64 = 1e-6
RTOL32 = 1e-4


class TinyNet(nn.Module):
    """stem (conv+BN), a ``cells`` list of three ReLU-conv-BN blocks, final ReLU, global pool, linear head."""

    def __init__(self, width: int = 4, num_classes: int = CLASSES):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width))
        self.cells = nn.ModuleList(
            nn.Sequential(nn.ReLU(), nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width)) for _ in range(3)
        )
        self.last = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(width, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The feature maps before global pooling."""
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        return self.last(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)).flatten(1))


class TinyProbe:
    """The registry's Probe protocol around a network factory: seeded construction, fixed batch and labels."""

    def __init__(self, factory=TinyNet, dtype: torch.dtype = torch.float64, batch: int = 8, seed: int = SEED):
        self.factory, self.dtype, self.seed = factory, dtype, seed
        gen = torch.Generator().manual_seed(100 + seed)
        self.x = torch.randn(batch, 3, 8, 8, generator=gen).to(dtype)
        self.y = torch.randint(0, CLASSES, (batch,), generator=gen)
        self.num_classes, self.params, self.flops, self.precision = CLASSES, 1234, 56789, "exact"

    def network(self) -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            return self.factory().to(self.dtype).train()

    @contextmanager
    def code_network(self):
        yield self.network()

    def generator(self, salt: int) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed * 1_000_003 + salt)


def score(name: str, probe: TinyProbe) -> float:
    """One score computed by its registered pass alone."""
    return run_pass(pass_of(name), probe, frozenset({name}))[name]


def weighted(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if type(m) in (nn.Conv2d, nn.Linear)]


def loss_gradients(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[np.ndarray]:
    """dL/dw of the cross-entropy for every conv/linear weight, as numpy arrays."""
    weights = [m.weight for m in weighted(net)]
    grads = torch.autograd.grad(F.cross_entropy(net(x), y), weights, allow_unused=True)
    return [np.zeros(tuple(w.shape)) if g is None else g.double().numpy() for w, g in zip(weights, grads)]


def weights_of(net: nn.Module) -> list[np.ndarray]:
    return [m.weight.detach().double().numpy() for m in weighted(net)]


# ---------------------------------------------------------------- naive definitions


def naive_snip(p: TinyProbe) -> float:
    net = p.network()
    return sum(float(np.abs(w * g).sum()) for w, g in zip(weights_of(net), loss_gradients(net, p.x, p.y)))


def naive_grad_norm(p: TinyProbe) -> float:
    return sum(float(np.sqrt((g**2).sum())) for g in loss_gradients(p.network(), p.x, p.y))


def naive_fisher(p: TinyProbe) -> float:
    """sum over layers and channels of 1/2 mean_n (sum over positions of a * dL/da)^2, a each conv/linear output."""
    net = p.network()
    outputs: list[torch.Tensor] = []
    handles = [m.register_forward_hook(lambda _m, _a, out: outputs.append(out)) for m in weighted(net)]
    loss = F.cross_entropy(net(p.x), p.y)
    for h in handles:
        h.remove()
    total = 0.0
    for a, g in zip(outputs, torch.autograd.grad(loss, outputs)):
        a, g = a.detach().double().numpy(), g.double().numpy()
        for c in range(a.shape[1]):
            per_input = [float((a[n, c] * g[n, c]).sum()) for n in range(a.shape[0])]
            total += 0.5 * float(np.mean(np.square(per_input)))
    return total


def naive_jacob_cov(p: TinyProbe) -> float:
    net = p.network()
    jac = torch.autograd.functional.jacobian(lambda x: net(x).sum(), p.x.clone())
    corr = np.corrcoef(jac.reshape(jac.shape[0], -1).double().numpy())
    v = np.linalg.eigvalsh(corr)
    return float(-np.sum(np.log(v + 1e-5) + 1.0 / (v + 1e-5)))


def naive_meco(p: TinyProbe) -> float:
    """sum over every module's 4-D output of the smallest eigenvalue of its channel correlation, input 0 run alone (NaN as 0)."""
    net = p.network()
    maps: list[np.ndarray] = []
    handles = [m.register_forward_hook(lambda _m, _a, out: maps.append(out[0].detach().double().numpy()) if out.dim() == 4 else None) for m in net.modules()]
    with torch.no_grad():
        net(p.x[:1])
    for h in handles:
        h.remove()
    total = 0.0
    for fmap in maps:
        with warnings.catch_warnings():  # a 1x1 map has no correlation: NaN, read as 0 as MeCo's code does
            warnings.simplefilter("ignore", RuntimeWarning)
            corr = np.nan_to_num(np.corrcoef(fmap.reshape(fmap.shape[0], -1)), nan=0.0, posinf=0.0, neginf=0.0)
        total += float(np.linalg.eigvalsh(corr).min())
    return total


def naive_grasp(p: TinyProbe) -> float:
    """-w . (H g) with H the loss Hessian in the conv/linear weights and g the loss gradient (Hessian-vector product)."""
    net = p.network()
    names = [n for n, m in net.named_modules() if type(m) in (nn.Conv2d, nn.Linear)]
    shapes = [m.weight.shape for m in weighted(net)]
    theta = torch.cat([m.weight.detach().reshape(-1) for m in weighted(net)])

    def loss(flat: torch.Tensor) -> torch.Tensor:
        params, offset = {}, 0
        for name, shape in zip(names, shapes):
            params[f"{name}.weight"] = flat[offset : offset + shape.numel()].reshape(shape)
            offset += shape.numel()
        return F.cross_entropy(functional_call(net, params, (p.x,)), p.y)

    theta_g = theta.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(loss(theta_g), theta_g)
    _, hg = torch.autograd.functional.hvp(loss, theta, g)
    return float(-(theta * hg).sum())


def naive_zico(p: TinyProbe) -> float:
    """sum over layers of log(sum over weights with nonzero std of mean|g| / std(g)), g per half-batch gradient."""
    net = p.network()
    half = p.x.shape[0] // 2
    g1 = loss_gradients(net, p.x[:half], p.y[:half])
    g2 = loss_gradients(net, p.x[half:], p.y[half:])
    total = 0.0
    for a, b in zip(g1, g2):
        stacked = np.stack([a, b])
        std, mean_abs = stacked.std(axis=0), np.abs(stacked).mean(axis=0)
        ratio = float((mean_abs[std != 0] / std[std != 0]).sum())
        if ratio != 0:
            total += math.log(ratio)
    return total


def naive_synflow(p: TinyProbe) -> float:
    """By Euler's theorem: with |w|, BN eval at init (zero mean and bias) and a positive input, R - sum|b| (R the
    output sum, b the head's bias) is degree-1 homogeneous in each conv/linear weight, so each layer adds R - sum|b|."""
    net = copy.deepcopy(p.network()).double().eval()
    with torch.no_grad():
        for t in list(net.parameters()) + list(net.buffers()):
            if t.is_floating_point():
                t.copy_(t.abs())
        r = float(net(torch.ones(1, 3, 8, 8, dtype=torch.float64)).sum())
        bias = float(net.classifier.bias.sum())
    return math.log(len(weighted(net)) * (r - bias))


def naive_swap(p: TinyProbe) -> float:
    """The number of distinct on/off columns (one per ReLU unit, over the first 32 inputs) as a python set of tuples."""
    net = p.network()
    columns: set[tuple[bool, ...]] = set()

    def collect(_m, args):
        codes = (args[0].detach().reshape(args[0].shape[0], -1)[:32] > 0).numpy()
        columns.update(tuple(bool(b) for b in codes[:, j]) for j in range(codes.shape[1]))

    handles = [m.register_forward_pre_hook(collect) for m in net.modules() if isinstance(m, nn.ReLU)]
    with torch.no_grad():
        net(p.x)
    for h in handles:
        h.remove()
    return float(len(columns))


def naive_naswot(p: TinyProbe) -> float:
    """log|det K_H| with K_H[i, j] the number of ReLU units on which inputs i and j agree, by explicit loops."""
    net = p.network()
    codes: list[np.ndarray] = []
    handles = [m.register_forward_pre_hook(lambda _m, a: codes.append((a[0].reshape(a[0].shape[0], -1) > 0).numpy())) for m in net.modules() if isinstance(m, nn.ReLU)]
    with torch.no_grad():
        net(p.x)
    for h in handles:
        h.remove()
    c = np.concatenate(codes, axis=1)
    b = c.shape[0]
    k = np.array([[float((c[i] == c[j]).sum()) for j in range(b)] for i in range(b)])
    return float(np.linalg.slogdet(k)[1])


def kaiming_tiny(p: TinyProbe) -> TinyNet:
    """The tiny network redrawn as AZ-NAS does: torch seed ``p.seed``, N(0, 2/fan_in) weights in module order."""
    net = p.network()
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(p.seed)
        for m in weighted(net):
            fan_in = m.weight[0].numel()
            m.weight.copy_(torch.empty(m.weight.shape, dtype=m.weight.dtype).normal_(0, math.sqrt(2.0 / fan_in)))
            if m.bias is not None:
                m.bias.zero_()
    return net


def az_features(net: TinyNet, x: torch.Tensor) -> list[torch.Tensor]:
    """The stem's output and each cell's output, computed explicitly."""
    feats = [net.stem(x)]
    for cell in net.cells:
        feats.append(cell(feats[-1]))
    return feats


def naive_entropy(feature: torch.Tensor) -> float:
    f = feature.detach().double().numpy().transpose(0, 2, 3, 1).reshape(-1, feature.shape[1])
    f = f - f.mean(axis=0)
    s = np.linalg.eigvalsh(f.T @ f / f.shape[0])
    q = s / s.sum()
    return float(-(q * np.log(q + 1e-8)).sum())


def naive_az_expressivity(p: TinyProbe) -> float:
    return sum(naive_entropy(f) for f in az_features(kaiming_tiny(p), p.x))


def naive_az_progressivity(p: TinyProbe) -> float:
    levels = [naive_entropy(f) for f in az_features(kaiming_tiny(p), p.x)]
    return min(b - a for a, b in zip(levels, levels[1:]))


def naive_az_trainability(p: TinyProbe) -> float:
    """mean over cells of 2 - s - 1/s, s the top singular value of E[g_in g_out^T] for Rademacher g_out (same draws)."""
    net = kaiming_tiny(p)
    feats = [f.detach() for f in az_features(net, p.x)]
    gen = p.generator(2)
    values = []
    for cell, f_in, f_out in zip(net.cells, feats, feats[1:]):
        g_out = (torch.randint(0, 2, f_out.shape, generator=gen) * 2 - 1).to(f_out.dtype)
        _, g_in = torch.autograd.functional.vjp(cell, f_in, g_out)
        go = g_out.numpy().transpose(0, 2, 3, 1).reshape(-1, g_out.shape[1])
        gi = g_in.numpy().transpose(0, 2, 3, 1).reshape(-1, g_in.shape[1])
        s = float(np.linalg.svd(gi.T @ go / go.shape[0], compute_uv=False).max())
        values.append(2.0 - s - 1.0 / (s + 1e-6))
    return float(np.mean(values))


NAIVE = {
    "snip": naive_snip,
    "grad_norm": naive_grad_norm,
    "fisher": naive_fisher,
    "jacob_cov": naive_jacob_cov,
    "meco": naive_meco,
    "grasp": naive_grasp,
    "zico": naive_zico,
    "synflow": naive_synflow,
    "swap": naive_swap,
    "naswot": naive_naswot,
    "az_expressivity": naive_az_expressivity,
    "az_progressivity": naive_az_progressivity,
    "az_trainability": naive_az_trainability,
}


@pytest.mark.parametrize("name", sorted(NAIVE))
def test_score_matches_its_naive_definition(name):
    probe = TinyProbe()
    got, expected = score(name, probe), NAIVE[name](probe)
    assert math.isfinite(expected), f"{name}: the naive definition is undefined on the tiny network; pick another"
    assert got == pytest.approx(expected, rel=RTOL64, abs=1e-12), f"{name}: registered pass {got!r} != naive definition {expected!r}"


def test_swap_counts_the_patterns_of_the_first_32_inputs_only():
    probe = TinyProbe(batch=40)
    assert score("swap", probe) == naive_swap(probe), "swap over a batch of 40 must read its first 32 inputs alone"


def test_zen_matches_its_definition():
    """zen in float32 (its pass draws float32 Gaussians): N(0,1) weights from the seed, inputs x and e from
    generator(1), log mean_n sum|f(x) - f(x + 0.01 e)| + sum over BN of log sqrt(mean running var)."""
    probe = TinyProbe(dtype=torch.float32)
    net = probe.network()
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(probe.seed)
        for m in weighted(net):
            m.weight.copy_(torch.empty(m.weight.shape).normal_())
            if m.bias is not None:
                m.bias.zero_()
    gen = probe.generator(1)
    x, e = torch.randn(probe.x.shape, generator=gen), torch.randn(probe.x.shape, generator=gen)
    bn_inputs: dict[nn.Module, list[torch.Tensor]] = {}
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    handles = [m.register_forward_pre_hook(lambda m, a: bn_inputs.setdefault(m, []).append(a[0].double())) for m in bns]
    with torch.no_grad():
        delta = (net.features(x) - net.features(x + 0.01 * e)).double().abs().sum(dim=(1, 2, 3)).mean()
    for h in handles:
        h.remove()
    log_scale = 0.0
    for m in bns:
        running = torch.ones(m.num_features, dtype=torch.float64)
        for batch in bn_inputs[m]:  # PyTorch's running update: momentum 0.1, unbiased batch variance
            running = 0.9 * running + 0.1 * batch.var(dim=(0, 2, 3), unbiased=True)
        log_scale += 0.5 * math.log(float(running.mean()))
    expected = math.log(float(delta)) + log_scale
    assert score("zen", probe) == pytest.approx(expected, rel=RTOL32), "zen: registered pass differs from its definition"


@pytest.mark.parametrize("name, attribute", [("params", "params"), ("flops", "flops")])
def test_cost_scores_are_the_probes_cost_figures(name, attribute):
    probe = TinyProbe()
    assert score(name, probe) == float(getattr(probe, attribute)), f"{name} is not the architecture's {attribute} figure"


def test_one_pass_gives_each_score_its_value_when_asked_together():
    """Scores sharing a pass come out the same whether asked for alone or together."""
    probe = TinyProbe()
    together = run_pass("default_init", probe, frozenset({"jacob_cov", "snip", "grad_norm", "fisher"}))
    for name, value in together.items():
        assert value == pytest.approx(score(name, probe), rel=1e-12), f"{name}: differs when computed with the rest of its pass"


JOINT_SPACE = NB201Space(C=8, N=1)
JOINT_ARCHS = JOINT_SPACE.sample(3, seed=4, unique=True)
EVERY_SCORE = sorted(info.name for info in list_scores())


def joint_scorer(scores) -> Scorer:
    return Scorer(JOINT_SPACE, NoiseSource((3, 8, 8)), batch_size=16, seed=3, scores=scores, reference_size=8)


@pytest.fixture(scope="module")
def all_together(one_torch_thread) -> dict[str, dict[str, float]]:
    """Every registered score of three cells, computed by one scorer in shared passes."""
    return {r.arch: dict(r.values) for r in joint_scorer(EVERY_SCORE).score_many(JOINT_ARCHS)}


@pytest.mark.parametrize("name", EVERY_SCORE)
def test_a_score_is_bit_identical_alone_and_with_every_other(name, all_together):
    """The service computes a request's scores jointly and caches each alone, so company must not change a value."""
    for result in joint_scorer([name]).score_many(JOINT_ARCHS):
        alone, together = result.values.get(name, result.score), all_together[result.arch][name]
        assert alone == together or (math.isnan(alone) and math.isnan(together)), (
            f"{name} of {result.arch}: {alone!r} alone, {together!r} with every other score"
        )


def test_naswot_through_registry_equals_module_score():
    probe = TinyProbe()
    assert score("naswot", probe) == pytest.approx(naswot.score(probe.network(), probe.x), rel=1e-12), "naswot pass differs from scoring.naswot"


# ---------------------------------------------------------------- registry metadata

#: name -> (needs_backward, needs_labels, data_free), as the issue lists them
FLAGS = {
    "naswot": (False, False, False),
    "synflow": (True, False, True),
    "snip": (True, True, False),
    "grad_norm": (True, True, False),
    "grasp": (True, True, False),
    "fisher": (True, True, False),
    "jacob_cov": (True, False, False),
    "zen": (False, False, True),
    "zico": (True, True, False),
    "meco": (False, False, False),
    "swap": (False, False, False),
    "az_expressivity": (False, False, False),
    "az_progressivity": (False, False, False),
    "az_trainability": (True, False, False),
    "params": (False, False, True),
    "flops": (False, False, True),
    "ensemble": (True, False, False),  # its default members synflow and az_trainability run a backward
}


@pytest.mark.parametrize("name", sorted(FLAGS))
def test_listed_score_is_registered_with_its_flags(name):
    info = get_score_info(name)
    assert (info.needs_backward, info.needs_labels, info.data_free) == FLAGS[name], f"{name}: wrong (needs_backward, needs_labels, data_free)"
    assert info.description, f"{name}: no description"


def test_every_listed_score_is_in_the_listing():
    listed = {info.name for info in list_scores()}
    assert set(FLAGS) <= listed, f"missing from list_scores(): {sorted(set(FLAGS) - listed)}"


@pytest.mark.parametrize(
    "lookup, error",
    [(get_score_info, KeyError), (lambda n: Scorer(SMALL_SPACE, NoiseSource((3, 8, 8)), batch_size=8, scores=[n]), ValueError)],
    ids=["get_score_info", "Scorer"],
)
def test_unknown_score_raises_naming_the_known_ones(lookup, error):
    with pytest.raises(error) as caught:
        lookup("no_such_score")
    message = str(caught.value)
    missing = [name for name in FLAGS if name not in message]
    assert "no_such_score" in message and not missing, f"message {message!r} lacks the unknown name or known names {missing}"


# ---------------------------------------------------------------- determinism through the Scorer

#: a narrow, one-cell-per-stage NB-201 skeleton keeps every pass fast; the scores' code paths are the same
SMALL_SPACE = NB201Space(C=8, N=1)
NOISE = NoiseSource((3, 8, 8))
ARCH = NB201Space.example


def small_scorer(scores, source=NOISE, **kwargs) -> Scorer:
    return Scorer(SMALL_SPACE, source, batch_size=8, seed=1, scores=scores, reference_size=4, **kwargs)


@pytest.mark.parametrize("name", sorted(FLAGS))
def test_same_settings_give_identical_values(name):
    first, second = small_scorer([name]).score_one(ARCH), small_scorer([name]).score_one(ARCH)
    assert first.values == second.values, f"{name}: two scorers with the same settings disagree"


# ---------------------------------------------------------------- undefined values


@pytest.mark.parametrize(
    "raw", [math.nan, math.inf, -math.inf, None, Undefined("no feature map")], ids=["nan", "+inf", "-inf", "missing", "undefined"]
)
def test_undefined_pass_value_becomes_minus_inf(monkeypatch, raw):
    info = ScoreInfo("probe_only_score", "a pass value that is not a finite number", "probe_only_pass")
    monkeypatch.setitem(registry._SCORES, info.name, info)
    monkeypatch.setitem(registry._PASSES, info.pass_name, lambda _p, _w: {} if raw is None else {info.name: raw})
    assert run_pass(info.pass_name, TinyProbe(), frozenset({info.name})) == {info.name: -math.inf}, f"{raw!r} is not mapped to -inf"


class ConstantJacobian(nn.Module):
    """Logits that do not depend on the input: through a zero multiple of it, or not at all."""

    def __init__(self, uses_input: bool):
        super().__init__()
        self.uses_input = uses_input
        self.head = nn.Linear(3, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = self.head(torch.ones(x.shape[0], 3, dtype=x.dtype))
        return base + 0 * x.sum() if self.uses_input else base


@pytest.mark.parametrize("uses_input", [True, False], ids=["zero-jacobian", "input-unused"])
def test_jacob_cov_of_a_constant_jacobian_is_undefined(uses_input):
    assert score("jacob_cov", TinyProbe(lambda: ConstantJacobian(uses_input))) == -math.inf, "jacob_cov is not -inf for an input-independent output"


LABELLED = sorted(name for name, flags in FLAGS.items() if flags[1] and name != "ensemble")


@pytest.mark.parametrize("name", LABELLED + ["ensemble:naswot+snip"])
def test_label_score_on_unlabelled_source_raises_naming_it(name):
    images = np.random.default_rng(0).integers(0, 256, (16, 3, 8, 8), dtype=np.uint8)
    unlabelled = ImageArraySource("npz:unlabelled", images, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), num_classes=10)
    with pytest.raises(ValueError, match=name.split("+")[-1]):
        small_scorer([name], source=unlabelled)


ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
#: scores whose definition is exactly 0 for the all-none cell: no conv/linear weight gets a loss gradient
#: (the cell outputs zeros, so the head's input is 0), and zico skips weights with zero gradient spread
EXACT_ZEROS = {"snip", "grad_norm", "grasp", "zico"}
#: undefined (-inf): equal ReLU codes (naswot), constant input Jacobian (jacob_cov), zero synaptic flow (synflow),
#: no feature change (zen), zero feature covariance (az_expressivity, az_progressivity)
UNDEFINED = {"naswot", "jacob_cov", "synflow", "zen", "az_expressivity", "az_progressivity"}


@pytest.fixture(scope="module")
def all_none_record(one_torch_thread):
    return small_scorer(sorted(FLAGS)).score_one(ALL_NONE)


@pytest.fixture(scope="module")
def all_none_values(all_none_record):
    return all_none_record.values


@pytest.mark.parametrize("name, words", [("naswot", "K_H is singular"), ("synflow", "no synaptic flow")])
def test_the_all_none_cell_says_why_a_score_is_undefined(all_none_record, name, words):
    assert words in all_none_record.reasons.get(name, ""), f"{name}: reason {all_none_record.reasons.get(name)!r}"


@pytest.mark.parametrize("name", sorted(FLAGS))
def test_all_none_cell_is_zero_only_where_the_definition_says(all_none_values, name):
    value = all_none_values[name]
    if name in EXACT_ZEROS:
        assert value == 0.0, f"{name}: the definition gives exactly 0 for the all-none cell, got {value}"
    elif name in UNDEFINED:
        assert value == -math.inf, f"{name}: undefined for the all-none cell, got {value}"
    else:
        assert math.isfinite(value) and value != 0.0, f"{name}: a silent or non-finite {value} for the all-none cell"
