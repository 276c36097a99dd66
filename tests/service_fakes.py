"""Stand-ins for the network in service tests that are about the routes, the store and the workers around scoring."""

from __future__ import annotations

import zlib

from app.main import create_app
from app.settings import Settings
from scoring import ScoredArch


def fake_score(arch: str) -> float:
    """A deterministic score per architecture (no network built)."""
    return float(zlib.crc32(arch.encode()) % 10_000) / 100


class ConstantScorer:
    """Scores every architecture at once with :func:`fake_score`."""

    def __init__(self, spec=None, device=None):
        pass

    def score_many(self, archs):
        for arch in archs:
            yield ScoredArch(arch, {"naswot": fake_score(arch)}, {"params": 1, "flops": 1}, 0.0)


def fake_app(tmp_path, scorer_factory=ConstantScorer, **overrides):
    """The app on a temporary database and data folder, scoring with ``scorer_factory``, noise data by default."""
    settings = Settings(db=tmp_path / "db.sqlite", data_dir=tmp_path / "data", **{"data": "noise", **overrides})
    return create_app(settings, scorer_factory=scorer_factory)
