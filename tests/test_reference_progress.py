"""The ensemble's reference sample is visible while it is scored: told to the caller, logged with its size and an estimate,
shown as its own command line bar and in a search job's batch state; and scored once per scorer."""

from __future__ import annotations

import io
import logging
import threading
from types import SimpleNamespace

import pytest
from rich.console import Console

from app.cli.progress import bar
from app.service.jobrun import Control, Run, SearchRunner
from app.service.reference import StoredReference
from app.service.scorers import ScoreSpec
from app.store import open_store
from scoring import REFERENCE_SIZE, Scorer, open_source
from scoring.data.base import NoiseSource
from searchspace import get_space
from searchspace.nb201 import NB201Space

SPACE = NB201Space(C=8, N=1)
SIZE = 3

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture()
def told() -> tuple[Scorer, list[tuple[int, int]]]:
    scorer = Scorer(SPACE, NoiseSource((3, 8, 8)), batch_size=8, seed=2, scores=["ensemble:naswot+flops"], reference_size=SIZE)
    calls: list[tuple[int, int]] = []
    scorer.on_reference = lambda done, total: calls.append((done, total))
    return scorer, calls


def test_the_reference_sample_reports_its_start_and_each_network_once(told):
    scorer, calls = told
    scorer.score_many(SPACE.sample(2, seed=0, unique=True)).__next__()
    scorer.score_one(NB201Space.example)
    assert calls == [(n, SIZE) for n in range(SIZE + 1)], f"expected 0..{SIZE} of {SIZE} once, got {calls}"


def test_the_reference_sample_is_logged_with_its_size_and_an_estimate(told, caplog):
    scorer, _ = told
    with caplog.at_level(logging.INFO, logger="naswot.scoring"):
        scorer.score_one(NB201Space.example)
    text = caplog.text
    assert f"scoring {SIZE} networks of nb201" in text, f"no line naming the sample's size: {text!r}"
    assert f"for all {SIZE}" in text and "about" in text, f"no estimate after the first network: {text!r}"


def test_a_scorer_that_needs_no_reference_reports_nothing():
    scorer = Scorer(SPACE, NoiseSource((3, 8, 8)), batch_size=8, seed=2, scores=["naswot"])
    calls: list[tuple[int, int]] = []
    scorer.on_reference = lambda done, total: calls.append((done, total))
    scorer.score_one(NB201Space.example)
    assert calls == [], "NASWOT alone has no reference sample to report"


@pytest.mark.parametrize("reports, shown", [([], False), ([(0, 4), (2, 4), (4, 4)], True)], ids=["never-met", "met"])
def test_the_command_line_shows_a_bar_along_only_for_work_met(reports, shown):
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with bar("scoring", 2, console=console) as progress:
        report = progress.along("ensemble reference sample", "kept")
        for done, total in reports:
            report(done, total)
    printed = out.getvalue()
    assert ("ensemble reference sample" in printed) == shown, f"reference bar shown={not shown} for reports {reports}: {printed!r}"
    if shown:
        assert "4/4" in printed, f"the bar should end complete: {printed!r}"


# ---- a search job's state while its first batch scores the sample ------------------------------------------


class RecordingDispatcher:
    """Scores nothing; records the job's batch state before and after its first architecture."""

    def __init__(self):
        self.runner = None
        self.states: list[dict | None] = []

    def score_all_blocking(self, specs, archs, should_stop, tick, owner):
        self.states.append(self.runner.scoring(owner))
        tick()
        self.states.append(self.runner.scoring(owner))
        return []


def batch_states(tmp_path, score: str, stored: bool) -> list[dict | None]:
    """The batch states a search's first batch shows, scoring ``score``, with its reference sample ``stored`` or not."""
    store = open_store(str(tmp_path / "db.sqlite"))
    spec = ScoreSpec(get_space("nb201"), open_source("noise"), 8, 0, score=score)
    if stored:
        reference = StoredReference(store, spec.reference_key)
        for member in ("naswot", "flops"):
            reference[member] = [1.0, 2.0]
    dispatcher = RecordingDispatcher()
    dispatcher.runner = SearchRunner(store, dispatcher, sources=None, bump=lambda job_id: None)
    run = Run(SimpleNamespace(id="job"), spec.space, spec, Control(threading.Event(), lambda: None))
    dispatcher.runner._score(run, ["a", "b"])
    store.close()
    return dispatcher.states


@pytest.mark.parametrize(
    "score, stored, first",
    [
        ("ensemble:naswot+flops", False, {"scored": 0, "size": 2, "reference_sample": REFERENCE_SIZE}),
        ("ensemble:naswot+flops", True, {"scored": 0, "size": 2}),
        ("naswot", False, {"scored": 0, "size": 2}),
    ],
    ids=["sample-to-score", "sample-stored", "no-ensemble"],
)
def test_a_search_batch_says_when_it_scores_the_reference_sample_first(tmp_path, score, stored, first):
    states = batch_states(tmp_path, score, stored)
    assert states[0] == first, f"batch state before its first architecture: {states[0]}"
    assert states[1] == {"scored": 1, "size": 2}, f"once an architecture is scored the sample is done: {states[1]}"
