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
ELSEWHERE = {
    "az_expressivity": "tokens", "az_progressivity": "tokens", "az_trainability": "tokens", "zen": "tokens",
}


def _params() -> list:
    params = []
    for example in NAMES:
        for info in list_scores():
            branch = ELSEWHERE.get(info.name)
            marks = [pytest.mark.xfail(strict=True, reason=f"fixed on branch {branch}")] if branch else []
            params.append(pytest.param(example, info.name, marks=marks, id=f"{example}-{info.name}"))
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


def _check_null(record: ScoredArch, name: str) -> None:
    reason = record.reasons.get(name, "")
    assert reason and reason != NOT_FINITE and "gave no value" not in reason, f"{name} is null without a reason of its own: {reason!r}"


@pytest.mark.parametrize("example, name", _params())
def test_each_score_is_real_or_plainly_undefined(scored, example, name):
    shallow, deep = scored[example]
    for record in (shallow, deep):
        value = record.values[name]
        if value == -math.inf:
            _check_null(record, name)
        else:
            assert math.isfinite(value) and abs(value) >= NOISE, f"{name} = {value!r}: zero or numerical noise"
    if math.isfinite(shallow.values[name]) and math.isfinite(deep.values[name]):
        assert shallow.values[name] != deep.values[name], f"{name} = {shallow.values[name]!r} at depth 1 and 3: blind to the blocks"
