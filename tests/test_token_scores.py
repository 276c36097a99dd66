"""Scores that read feature maps, and dss, on token layouts (N x L x C: ViT and MLP-Mixer blocks).

Each is a real value there (finite, and different for different architectures), or undefined with the
reason its pass gives; the tiny token networks are ``tests/token_nets.py``, the example space files
``examples/vit_tiny`` and ``examples/mixer``.  Conv networks keep their values: rows of the committed
NB-201 tables reproduce bit for bit, and ``tests/test_scores.py`` checks each score against its naive
definition on a conv network.
"""

from __future__ import annotations

import csv
import gzip
import math
from pathlib import Path

import numpy as np
import pytest
import token_nets
import torch
from test_scores import TinyNet, TinyProbe, kaiming_tiny, naive_entropy, score
from torch import nn

from scoring import Scorer, open_source
from scoring.measures import az_nas, dss, zen
from scoring.undefined import Undefined
from searchspace import get_space
from searchspace.spacefile import load_space_file

from conftest import ROOT, shared_file

pytestmark = pytest.mark.usefixtures("one_torch_thread")

AZ = ("az_expressivity", "az_progressivity", "az_trainability")
TOKEN_SCORES = (*AZ, "zen", "dss")
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def probe_of(factory, dtype: torch.dtype = torch.float64, name: str = "") -> TinyProbe:
    """The tiny probe around ``factory``, in float32 for zen (its pass draws float32 Gaussians), else ``dtype``."""
    return TinyProbe(factory, dtype=torch.float32 if name == "zen" else dtype)


@pytest.mark.parametrize("family", sorted(token_nets.FAMILIES))
@pytest.mark.parametrize("name", TOKEN_SCORES)
def test_a_token_score_is_finite_and_tells_architectures_apart(name, family):
    build = token_nets.FAMILIES[family]
    values = {arch: score(name, probe_of(lambda a=arch: build(*a), name=name)) for arch in [(1, 8), (2, 8), (2, 12)]}
    assert all(math.isfinite(v) for v in values.values()), f"{name} on {family}: not finite: {values}"
    assert len(set(values.values())) == len(values), f"{name} on {family}: the same value for different depths and widths: {values}"


def test_az_expressivity_reads_each_token_as_a_position():
    """The entropy of each block feature's channel covariance over all N*L tokens, features written out by hand."""
    p = probe_of(token_nets.vit)
    net = kaiming_tiny(p)
    feats = [net.tokens(p.x)]
    for block in net.blocks:
        feats.append(block(feats[-1]))
    as_maps = [f.transpose(1, 2).unsqueeze(-1) for f in feats]  # N x C x L x 1: the conv reading of the same positions
    assert score("az_expressivity", p) == pytest.approx(sum(naive_entropy(f) for f in as_maps), rel=1e-9)


def test_zen_reads_the_token_sequence_before_the_mean():
    """log E|f(x) - f(x + 0.01 e)|, f the normalised tokens that the head averages (no BatchNorm: no rescaling term)."""
    p = probe_of(token_nets.mixer, dtype=torch.float32)
    net = p.network()
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(p.seed)
        for m in [m for m in net.modules() if type(m) in (nn.Conv2d, nn.Linear)]:
            m.weight.copy_(torch.empty(m.weight.shape).normal_())
            m.bias.zero_()
        gen = p.generator(1)
        x, e = torch.randn(p.x.shape, generator=gen), torch.randn(p.x.shape, generator=gen)
        f = lambda v: net.norm(net.blocks(net.tokens(v))).double()  # noqa: E731
        expected = math.log(float((f(x) - f(x + 0.01 * e)).abs().sum(dim=(1, 2)).mean()))
    assert score("zen", p) == pytest.approx(expected, rel=1e-4)


class Flat(nn.Module):
    """An MLP on the flattened image: no block sequence, no feature map, no token sequence."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(192, 16), nn.Linear(16, token_nets.CLASSES)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


class Upsampling(nn.Module):
    """A conv network whose second block doubles the resolution."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ConvTranspose2d(4, 4, 2, 2))
        self.head = nn.Linear(4, token_nets.CLASSES)

    def forward(self, x):
        return self.head(self.blocks(x).mean(dim=(2, 3)))


UNDEFINED = [
    ("az_nas", Flat, AZ, az_nas.NO_SEQUENCE),
    ("az_nas", token_nets.pooling_vit, ("az_trainability",), "changes the token count from 16 to 8"),
    ("az_nas", Upsampling, ("az_trainability",), "not a downsampling"),
    ("zen", Flat, ("zen",), zen.NO_FEATURES),
    ("dss", TinyNet, ("dss",), dss.NONE),
]


@pytest.mark.parametrize("pass_name, factory, names, reason", UNDEFINED, ids=[f"{u[0]}-{getattr(u[1], '__name__', u[1])}-{u[2][0]}" for u in UNDEFINED])
def test_a_network_a_score_cannot_read_gives_undefined_with_the_reason(pass_name, factory, names, reason):
    fn = {"az_nas": az_nas.az_nas, "zen": zen.zen, "dss": dss.dss}[pass_name]
    values = fn(probe_of(factory, name=pass_name), frozenset(names))
    for name in names:
        assert isinstance(values[name], Undefined) and reason in values[name].reason, f"{name}: {values[name]!r}, not undefined for {reason!r}"
        assert score(name, probe_of(factory, name=pass_name)) == -math.inf, f"{name}: an undefined value is not -inf through run_pass"


@pytest.mark.parametrize("name", ("az_expressivity", "az_progressivity"))
def test_a_pooling_transformer_keeps_its_expressivity(name):
    assert math.isfinite(score(name, probe_of(token_nets.pooling_vit))), f"{name} needs no one-to-one positions"


class AttentionBlock(token_nets.ViTBlock):
    """A whole transformer block whose class name contains "Attention": its MLP is still an MLP."""


def qualified(net: nn.Module, params: list[nn.Parameter]) -> list[str]:
    """The names of ``params`` in ``net``, in its order."""
    ids = {id(p) for p in params}
    return [n for n, p in net.named_parameters() if id(p) in ids]


@pytest.mark.parametrize(
    "factory, attention, mlp",
    [
        (token_nets.vit, ["blocks.0.attn.qkv.weight", "blocks.0.attn.proj.weight"], ["blocks.0.mlp.0.weight", "blocks.0.mlp.2.weight"]),
        (token_nets.torch_vit, ["blocks.0.self_attn.in_proj_weight", "blocks.0.self_attn.out_proj.weight"], ["blocks.0.linear1.weight", "blocks.0.linear2.weight"]),
        (token_nets.mixer, [], ["blocks.0.token_mix.0.weight", "blocks.0.token_mix.2.weight", "blocks.0.channel_mix.0.weight", "blocks.0.channel_mix.2.weight"]),
        (lambda depth: token_nets.TokenNet([AttentionBlock(8)], 8), ["blocks.0.attn.qkv.weight", "blocks.0.attn.proj.weight"], ["blocks.0.mlp.0.weight", "blocks.0.mlp.2.weight"]),
    ],
    ids=["own-attention", "nn.MultiheadAttention", "mixer", "a-block-named-AttentionBlock"],
)
def test_dss_counts_attention_matrices_and_token_wise_linears_but_not_the_head_or_the_patch_embedding(factory, attention, mlp):
    net = factory(depth=1)
    got_attention, got_mlp, _ = dss.weights_by_role(net, torch.ones(1, 3, 8, 8))
    assert qualified(net, got_attention) == attention, "wrong MSA weight matrices"
    assert sorted(qualified(net, got_mlp)) == sorted(mlp), "wrong MLP weights"


@pytest.mark.parametrize("size_in, size_out, factor", [((32, 32), (16, 16), 2), ((53, 53), (27, 27), 2), ((11, 11), (6, 6), 2), ((9, 9), (3, 3), 3), ((8, 8), (16, 16), 0), ((8, 8), (5, 5), 0)])
def test_a_downsampling_factor_rounds_odd_sizes_up(size_in, size_out, factor):
    assert az_nas.downsampling_factor(torch.Size(size_in), torch.Size(size_out)) == factor


def test_an_odd_sized_map_is_read_space_to_depth_with_zero_padding():
    g = torch.arange(2 * 3 * 5 * 5, dtype=torch.float64).reshape(2, 3, 5, 5)
    padded = torch.zeros(2, 3, 6, 6, dtype=torch.float64)
    padded[:, :, :5, :5] = g
    expected = padded.reshape(2, 3, 3, 2, 3, 2).permute(0, 1, 3, 5, 2, 4).reshape(2, 12, 3, 3)
    assert torch.equal(az_nas.space_to_depth(g, torch.Size((3, 3))), expected)


class OddHalving(nn.Module):
    """A conv network whose blocks halve a 7 x 7 map to 4 x 4 and then 2 x 2 (stride 2, padding 1)."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, 2, 1), nn.Conv2d(4, 4, 3, 2, 1))
        self.head = nn.Linear(4, token_nets.CLASSES)

    def forward(self, x):
        return self.head(self.blocks(x).mean(dim=(2, 3)))


def test_a_conv_network_that_halves_an_odd_map_has_a_trainability():
    p = probe_of(OddHalving)
    p.x = p.x[:, :, :7, :7]
    assert math.isfinite(score("az_trainability", p)), "a 7 x 7 map halved to 4 x 4 must be read, not raise"


@pytest.fixture(scope="module", params=["vit_tiny", "mixer"])
def example(request):
    return load_space_file(EXAMPLES / request.param / "space.json")


def test_the_example_token_spaces_get_a_value_of_every_token_score(example):
    archs = example.sample(3, seed=0, unique=True)
    results = Scorer(example, open_source("noise"), batch_size=8, seed=0, scores=list(TOKEN_SCORES)).score_many(archs)
    table = np.array([[r.values[name] for name in TOKEN_SCORES] for r in results])
    assert np.isfinite(table).all(), f"{example.name}: undefined values {dict(zip(TOKEN_SCORES, table.T.tolist()))}"
    spread = {name: len(set(column)) for name, column in zip(TOKEN_SCORES, table.T.tolist())}
    assert all(n == len(archs) for n in spread.values()), f"{example.name}: distinct values per score among {len(archs)} architectures: {spread}"


#: CPU-scored rows (by their index column) of the whole-space AZ table and of the zen table past its first 228 (scored on an H200)
TABLE_ROWS = [
    ("nb201-c10-s0-all-synflow-az-meco.csv.gz", AZ, ("13835", "12418")),
    ("nb201-c10-s0-first1000-default-init-zen.csv.gz", ("zen",), ("6384", "10687")),
]


def table_rows(name: str, indices: tuple[str, ...]) -> list[dict[str, str]]:
    with gzip.open(ROOT / "bench" / "results" / name, "rt") as f:
        rows = {r["index"]: r for r in csv.DictReader(f)}
    return [rows[i] for i in indices]


@pytest.mark.parametrize("table, names, indices", TABLE_ROWS, ids=["az", "zen"])
def test_committed_nb201_rows_reproduce_bit_for_bit(table, names, indices):
    source = open_source(f"cifar10:{shared_file('cifar10-sample.npz')}")
    scorer = Scorer(get_space("nb201"), source, batch_size=128, seed=0, scores=list(names))
    for row in table_rows(table, indices):
        got = scorer.score_one(row["arch"]).values
        assert {n: got[n] for n in names} == {n: float(row[n]) for n in names}, f"{table} row {row['index']} does not reproduce"
