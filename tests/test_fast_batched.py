"""The opt-in stacked-cells pass agrees with the one-cell path: same weights, scores equal up to rounding."""

import math

import pytest
import torch

from scoring import Scorer, naswot, open_source
from scoring.batched import BatchedNaswot
from scoring.evaluate import build_seeded
from searchspace import EncodingError, SearchSpace, get_space
from searchspace.nb201 import NB201Space

SPACE = get_space("nb201")
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
DISCONNECTED = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|"
DEAD_END = "|nor_conv_1x1~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|avg_pool_3x3~1|none~2|"
SKIP_INTO_SHARED_NODE = "|skip_connect~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|skip_connect~1|nor_conv_3x3~2|"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def assert_close_scores(got: list[float], ref: list[float]) -> None:
    for g, r in zip(got, ref):
        if r == -math.inf:
            assert g == -math.inf
        else:
            assert abs(g - r) <= 1e-6 * abs(r), (g, r)
    # the same order for every pair the reference separates by more than the tolerance
    for i, r_i in enumerate(ref):
        for j, r_j in enumerate(ref):
            if r_i < r_j and not (math.isfinite(r_i) and abs(r_j - r_i) <= 1e-6 * abs(r_j)):
                assert got[i] < got[j]


@pytest.mark.parametrize("space, shape", [(NB201Space(C=4, N=1), (8, 3, 8, 8)), (SPACE, (6, 3, 32, 32))])
def test_stacked_pass_matches_one_cell_scores(space, shape):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(3))
    archs = [ALL_NONE, DISCONNECTED, DEAD_END, SKIP_INTO_SHARED_NODE] + space.sample(4, seed=5, unique=True)
    ref = [naswot.score(build_seeded(space, a, 10, 7), x) for a in archs]
    got = BatchedNaswot(space.stacked_networks(10, 7)).scores(archs, x).tolist()
    assert_close_scores(got, ref)
    # one cell alone (a dense convolution per edge) is the one-cell computation
    alone = BatchedNaswot(space.stacked_networks(10, 7)).scores([DEAD_END], x).tolist()
    assert alone == [ref[2]]


def test_scorer_stacks_cells_in_order_and_labels_the_mode():
    src = open_source("noise")
    exact = Scorer(SPACE, src, batch_size=6, seed=1)
    stacked = Scorer(SPACE, src, batch_size=6, seed=1, cells_per_pass=3)
    assert stacked.describe()["precision"] == "exact+batched3"
    archs = SPACE.sample(4, seed=9, unique=True) + [ALL_NONE]  # 3 + a partial pass of 2
    a = list(exact.score_many(archs))
    b = list(stacked.score_many(archs))
    assert [r.arch for r in b] == [r.arch for r in a]
    assert [(r.params, r.flops) for r in b] == [(r.params, r.flops) for r in a]
    assert_close_scores([r.score for r in b], [r.score for r in a])
    assert b[-1].singular and all(r.seconds > 0 for r in b)
    assert [r.notes for r in b] == [r.notes for r in a], "the stacked pass counts other activation calls than the network"
    assert b[-1].reasons == a[-1].reasons == {"naswot": naswot.SINGULAR}, "a singular cell says why on both paths"
    assert stacked.score_one(archs[0]).score == pytest.approx(a[0].score, rel=1e-6)


def test_stacked_scoring_flushes_finished_cells_before_an_encoding_error():
    stacked = Scorer(SPACE, open_source("noise"), batch_size=4, seed=0, cells_per_pass=4)
    a, b = SPACE.sample(2, seed=2, unique=True)
    seen = []
    with pytest.raises(EncodingError):
        for r in stacked.score_many([a, b, "|nor_conv_3x3~0|"]):
            seen.append(r.arch)
    assert seen == [a, b]


def test_cells_per_pass_is_validated():
    src = open_source("noise")
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="cells_per_pass"):
            Scorer(SPACE, src, batch_size=4, cells_per_pass=bad)

    class OtherSpace(SearchSpace):
        name = "other"
        size = 1

        def canonical(self, arch):
            return str(arch)

        def random(self, rng):
            return "a"

        def mutate(self, arch, rng):
            return "a"

        def build(self, arch, num_classes=10):
            return torch.nn.ReLU()

    with pytest.raises(ValueError, match="cells_per_pass.*nb201"):
        Scorer(OtherSpace(), src, batch_size=4, cells_per_pass=2)
