"""The score ranks real NAS-Bench-201 cells like their trained accuracy (needs the shared data)."""

import math
import sys
from pathlib import Path

from scipy import stats

from scoring import Scorer, open_source
from searchspace import get_space
from searchspace.nb201.accuracy import TARGETS, load_accuracy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from common import correlations  # noqa: E402


def test_accuracy_table_covers_the_space_in_canonical_form(nb201_accuracy):
    table = load_accuracy(nb201_accuracy)
    assert len(table) == 15625 and set(table) == set(get_space("nb201").enumerate())
    assert all(set(row) == set(TARGETS) for row in table.values())


def test_scores_on_real_images_rank_cells_like_their_accuracy(cifar10_sample, nb201_accuracy):
    # 60 cells: Kendall 0.49 here; over 200 seeded 60-cell samples of the whole space it never fell below 0.44
    space = get_space("nb201")
    truth = load_accuracy(nb201_accuracy)
    archs = space.sample(60, seed=0, unique=True)
    scorer = Scorer(space, open_source(f"cifar10:{cifar10_sample}"), batch_size=128, seed=0)
    scores = [r.score for r in scorer.score_many(archs)]
    kendall, spearman = correlations(scores, [truth[a]["cifar10_test"] for a in archs])
    assert kendall > 0.35 and spearman > 0.5


def test_singular_scores_rank_below_every_finite_one():
    kendall, _ = correlations([3.0, -math.inf, 1.0, 2.0], [4.0, 1.0, 2.0, 3.0])
    assert kendall == 1.0
    assert kendall == stats.kendalltau([3, 0, 1, 2], [4, 1, 2, 3]).statistic
