"""A long search's memory stays flat (issue 31 row 19; bench/memory.py shows it over 1,000 ofa-mbv3 evaluations):
the resized minibatches of its many input resolutions (ofa-mbv3: 25) are bounded in bytes, not only in count, and
the heap pages that each network's freed activations leave are given back to the system as items are scored."""

from __future__ import annotations

from app.service import scorers
from scoring import ScoredArch, inputs, open_source

RESOLUTIONS = [(r, r) for r in range(192, 228, 4)]  # 9 of ofa-mbv3's resolutions, each batch about 14-19 MB


def test_resized_batches_are_bounded_in_bytes_and_the_newest_is_kept():
    source = open_source("noise")
    inputs._resized.clear()
    try:
        for hw in RESOLUTIONS:
            newest = inputs.resized_minibatch(source, 32, 7, hw)
        held = sum(t.numel() * t.element_size() for t in inputs._resized.values())
        assert held <= 64 * 2**20, f"resized batches hold {held / 2**20:.0f} MB after {len(RESOLUTIONS)} resolutions"
        assert inputs.resized_minibatch(source, 32, 7, RESOLUTIONS[-1]) is newest, "the newest batch was not kept"
    finally:
        inputs._resized.clear()


def test_a_batch_larger_than_the_bound_is_still_kept_alone():
    source = open_source("noise")
    inputs._resized.clear()
    try:
        big = inputs.resized_minibatch(source, 128, 7, (224, 224))  # 77 MB
        assert list(inputs._resized.values()) == [big]
    finally:
        inputs._resized.clear()


class Recorded:
    def __init__(self):
        self.calls: list[int] = []

    def __call__(self, pad: int) -> int:
        self.calls.append(pad)
        return 1


class EchoScorer:
    def score_many(self, archs):
        for arch in archs:
            yield ScoredArch(arch, {"naswot": 1.0}, {"params": 0, "flops": 0}, 0.0)


def test_score_each_gives_freed_heap_pages_back_as_items_land(monkeypatch):
    trim, recorded = scorers.HeapTrim(every=0.0), Recorded()
    trim._trim = recorded
    monkeypatch.setattr(scorers, "trim_heap", trim)
    outcomes = list(scorers.score_each(EchoScorer(), ["a", "b", "c"], recover=lambda exc: None))
    assert [arch for arch, _ in outcomes] == ["a", "b", "c"]
    assert recorded.calls == [0, 0, 0], f"malloc_trim calls: {recorded.calls}"


def test_the_heap_is_trimmed_at_most_once_per_period():
    trim, recorded = scorers.HeapTrim(every=3600.0), Recorded()
    trim._trim = recorded
    for _ in range(5):
        trim()
    assert recorded.calls == [0], f"malloc_trim calls within one period: {recorded.calls}"
