"""Every registered score on the token-layout examples (examples/vit_tiny, examples/mixer): a real value or plainly undefined.

For each example, two networks that differ only in depth (1 and 3 blocks; the same seeded patch embedding) are
scored with every registered score on 16 noise images (with 8, SWAP's 2**8 patterns saturate). Each value must be finite, not 0 and not numerical noise (|v| >= 1e-9), and
must see the blocks (differ between the two depths); or be null with a reason of its own that names what is
missing (not the generic "not a finite number" fallback).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from app.service.spacefiles import load_spaces
from scoring import ScoredArch, Scorer, list_scores, open_source
from scoring.undefined import NOT_FINITE

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NAMES = ("vit_tiny", "mixer")
NOISE = 1e-9
#: scores other branches are making defined on token layouts (marks removed when they land)
#: a minimum over the blocks' steps: at depths 1 and 3 the shared first block's step may be the smallest of both, so
#: it sees the blocks if a depth-3 network whose blocks are another width differs from the depth-3 one
MIN_OVER_BLOCKS = {"az_progressivity"}


def _params() -> list:
    params = []
    for example in NAMES:
        for info in list_scores():
            params.append(pytest.param(example, info.name, id=f"{example}-{info.name}"))
    return params


@pytest.fixture(scope="module")
def scored(one_torch_thread, tmp_path_factory) -> dict[str, tuple[ScoredArch, ScoredArch]]:
    """Per example: the records of its depth-1 and depth-3 networks, every registered score computed."""
    names = [info.name for info in list_scores()]
    out = {}
    for space in load_spaces([EXAMPLES / name / "space.json" for name in NAMES]):
        scorer = Scorer(space, open_source("noise"), batch_size=16, seed=0, scores=names, reference_size=4)
        shallow = json.loads(space.example)
        out[space.name] = tuple(scorer.score_one({**shallow, "depth": depth}) for depth in (1, 3))
    return out


@pytest.fixture(scope="module")
def other_blocks(one_torch_thread) -> dict[str, ScoredArch]:
    """Per example: its depth-3 network with the first other key at its second choice (other blocks), MIN_OVER_BLOCKS scored."""
    out = {}
    for space in load_spaces([EXAMPLES / name / "space.json" for name in NAMES]):
        key, values = next((k, v) for k, v in space.spec.choices if k != "depth")
        scorer = Scorer(space, open_source("noise"), batch_size=16, seed=0, scores=sorted(MIN_OVER_BLOCKS))
        out[space.name] = scorer.score_one({**json.loads(space.example), "depth": 3, key: values[1]})
    return out


def _check_null(record: ScoredArch, name: str) -> None:
    reason = record.reasons.get(name, "")
    assert reason and reason != NOT_FINITE and "gave no value" not in reason, f"{name} is null without a reason of its own: {reason!r}"


@pytest.mark.parametrize("example, name", _params())
def test_each_score_is_real_or_plainly_undefined(scored, other_blocks, example, name):
    shallow, deep = scored[example]
    if name in MIN_OVER_BLOCKS:
        shallow = other_blocks[example]
    for record in (shallow, deep):
        value = record.values[name]
        if value == -math.inf:
            _check_null(record, name)
        else:
            assert math.isfinite(value) and abs(value) >= NOISE, f"{name} = {value!r}: zero or numerical noise"
    if math.isfinite(shallow.values[name]) and math.isfinite(deep.values[name]):
        assert shallow.values[name] != deep.values[name], f"{name} = {shallow.values[name]!r} at depth 1 and 3: blind to the blocks"
