"""The authors' procedure re-created in bench/ scores like the project (so the throughput ratio compares like with like)."""

import math
import sys
from pathlib import Path

import pytest
from torch import nn

from scoring import naswot, open_source
from scoring.evaluate import build_seeded
from searchspace import get_space

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from authors_baseline import authors_score  # noqa: E402

SPACE = get_space("nb201")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_authors_procedure_gives_the_project_score_and_cleans_up():
    x = open_source("noise").minibatch(12, seed=1)
    for arch in SPACE.sample(2, seed=2, unique=True) + ["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"]:
        expected = naswot.score(build_seeded(SPACE, arch, 10, 0), x)
        net = build_seeded(SPACE, arch, 10, 0)
        laps = []
        got = authors_score(net, x, lap=laps.append)
        if expected == -math.inf:
            assert got == -math.inf
        else:
            assert got == pytest.approx(expected, rel=1e-9)
        assert laps == ["forward+backward", "second forward with host products", "slogdet"]
        assert not hasattr(net, "K")
        assert all(not m._forward_hooks and not m._backward_hooks for m in net.modules() if isinstance(m, nn.ReLU))
        assert not x.requires_grad
