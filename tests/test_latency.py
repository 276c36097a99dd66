"""Measured latency: the timing protocol, the device identity every figure is kept under, and the constraint
``max_latency_ms`` that a search honours whatever its strategy."""

from __future__ import annotations

import gc
import itertools
import zlib

import pytest
import torch

from app.service.latency import LatencyService, LatencySpec, LatencyUnavailable, with_latency
from app.store import open_store
from app.service.scorers import ScoreSpec
from app.service.taskqueue import INTERACTIVE
from app.service.worker import DeviceWorker
from scoring import ScoredArch, LatencyKey, LatencyMeter, MeasuredCost, SearchCosts, cpu_model, device_identity, open_source
from scoring.latency import MIN_TIMED_RUNS, gc_paused, interleaved_median_ms, median_ms, pinned_threads
from search import Constraints, list_strategies, run_search
from searchspace import get_space

SPACE = get_space("nb201")
ARCHS = [SPACE.canonical(a) for a in ([0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1], [3, 3, 3, 3, 3, 3])]


class StepClock:
    """An injected clock: each timed run lasts the next of ``durations`` (seconds); warm-up runs are not timed."""

    def __init__(self, durations):
        self.durations = iter(durations)
        self.now = 0.0
        self.started = False

    def __call__(self) -> float:
        if self.started:
            self.now += next(self.durations)
        self.started = not self.started
        return self.now


def test_the_figure_is_the_median_of_the_timed_runs_in_milliseconds():
    durations = [0.010, 0.500, 0.011, 0.012, 0.009, 0.013, 0.010, 0.011, 0.900, 0.012]  # two outliers
    figure = median_ms(lambda: None, warmup=2, runs=10, clock=StepClock(durations))
    assert figure == pytest.approx(11.5), "the median of the timed runs (the mean of the middle two), outliers ignored, in ms"


def test_warm_up_runs_come_first_and_each_timed_run_is_synchronised_on_both_sides():
    events = []
    median_ms(lambda: events.append("run"), warmup=3, runs=10, clock=StepClock([0.001] * 10), sync=lambda: events.append("sync"))
    assert events[:3] == ["run"] * 3, "warm-up runs are untimed and come first"
    assert events[3:] == ["sync", "run", "sync"] * 10, "each timed run sits between two synchronisations"


class CallClock:
    """An injected clock that only moves when the timed function runs: each call lasts ``seconds``."""

    def __init__(self, seconds: float):
        self.seconds, self.now, self.calls = seconds, 0.0, 0

    def __call__(self) -> float:
        return self.now

    def run(self) -> None:
        self.calls += 1
        self.now += self.seconds


def test_a_fast_pass_is_timed_in_blocks_at_least_min_block_s_long():
    clock = CallClock(0.004)
    figure = median_ms(clock.run, warmup=3, runs=10, min_block_s=0.025, clock=clock)
    assert figure == pytest.approx(4.0), "a block's time is divided by its number of passes"
    assert clock.calls == 3 + 1 + 10 * 7, "3 warm-up passes, 1 calibration pass, then 10 blocks of ceil(25/4) = 7 passes"


def test_a_pass_longer_than_min_block_s_is_a_block_of_its_own():
    clock = CallClock(0.100)
    assert median_ms(clock.run, warmup=0, runs=10, min_block_s=0.025, clock=clock) == pytest.approx(100.0)
    assert clock.calls == 1 + 10, "one calibration pass, then ten blocks of one pass"


def test_several_calls_are_timed_round_by_round():
    events = []
    interleaved_median_ms([lambda: events.append("a"), lambda: events.append("b")], warmup=1, runs=10, clock=StepClock([0.001] * 20))
    assert events[:2] == ["a", "b"], "each call is warmed up first"
    assert events[2:] == ["a", "b"] * 10, "each round times one block of every call, so a drift touches both alike"


class BrokenSpace(type(SPACE)):
    """NB-201, except that one architecture's network cannot be built."""

    def build(self, arch, num_classes=10):
        if self.canonical(arch) == ARCHS[1]:
            raise RuntimeError("this network cannot be built")
        return super().build(arch, num_classes=num_classes)


def test_a_network_that_cannot_be_built_fails_after_the_figures_of_those_before_it():
    meter = LatencyMeter(BrokenSpace(), open_source("noise"), torch.device("cpu"), threads=1, min_block_s=0.0)
    results = meter.score_many(ARCHS)
    assert [r.arch for r in itertools.islice(results, 1)] == ARCHS[:1], "the figure before the broken network comes first"
    with pytest.raises(RuntimeError, match="cannot be built"):
        next(results)


def test_a_bad_encoding_fails_after_the_figures_of_those_before_it():
    meter = LatencyMeter(SPACE, open_source("noise"), torch.device("cpu"), threads=1, min_block_s=0.0)
    results = meter.score_many([ARCHS[0], "not an nb201 cell", ARCHS[1]])
    assert next(results).arch == ARCHS[0], "the figure before the bad encoding comes first"
    with pytest.raises(ValueError):
        next(results)


@pytest.mark.parametrize("runs", [0, 1, MIN_TIMED_RUNS - 1])
def test_fewer_than_ten_timed_runs_are_refused(runs):
    with pytest.raises(ValueError, match="at least 10"):
        median_ms(lambda: None, runs=runs)


def test_the_thread_count_is_pinned_while_timing_and_restored_after():
    before = torch.get_num_threads()
    pinned = 1 if before != 1 else 2
    with pinned_threads(pinned):
        assert torch.get_num_threads() == pinned
    assert torch.get_num_threads() == before


def test_the_garbage_collector_is_paused_while_timing_and_restored_after():
    assert gc.isenabled(), "the test process collects garbage"
    with gc_paused():
        assert not gc.isenabled(), "a collection inside a timed block would be noise"
    assert gc.isenabled(), "the collector is back on after the measurement"


def test_a_cpu_identity_names_the_cpu_model_and_the_thread_count():
    one, two = device_identity(torch.device("cpu"), 1), device_identity(torch.device("cpu"), 2)
    assert cpu_model() in one and one != two, "the same CPU with another thread count is another device"


def fixed_latency(arch: str) -> float:
    """A latency per architecture that never needs a clock (1..50 ms)."""
    return 1.0 + zlib.crc32(arch.encode()) % 50


class FixedMeter:
    """A device worker's latency scorer that reports :func:`fixed_latency` as timed on ``device`` (an identity) and
    counts what it timed."""

    timed: list[str] = []
    batches: list[list[str]] = []

    def __init__(self, device: str):
        self.device = device

    def score_many(self, archs):
        archs = list(archs)
        FixedMeter.batches.append(archs)
        for arch in archs:
            FixedMeter.timed.append(arch)
            yield ScoredArch(arch, {}, {"params": 1, "flops": 1, "latency_ms": fixed_latency(arch)}, 0.0, self.device)


@pytest.fixture
def worker():
    FixedMeter.timed, FixedMeter.batches = [], []
    made = DeviceWorker(torch.device("cpu"), capacity=64, factory=lambda spec, device: FixedMeter(spec.device))
    made.start()
    yield made
    made.stop()


def test_a_figure_measured_with_other_threads_is_never_served(tmp_path, worker):
    store, source = open_store(tmp_path / "db.sqlite"), open_source("noise")
    one_thread = LatencyService(store, [worker], threads=1)
    two_threads = LatencyService(store, [worker], threads=2)
    assert one_thread.measure(SPACE, source, ARCHS, 1, priority=INTERACTIVE) == [fixed_latency(a) for a in ARCHS]
    assert two_threads.measure(SPACE, source, ARCHS, 1, priority=INTERACTIVE) == [fixed_latency(a) for a in ARCHS]
    assert FixedMeter.timed == ARCHS * 2, "each device identity times the architectures itself"
    LatencyService(store, [worker], threads=1).measure(SPACE, source, ARCHS, 1, priority=INTERACTIVE)
    assert FixedMeter.timed == ARCHS * 2, "a new service finds the figures of its own device in the store"


def test_a_service_without_a_live_worker_cannot_measure(tmp_path):
    with pytest.raises(LatencyUnavailable, match="no device worker is alive"):
        LatencyService(open_store(tmp_path / "db.sqlite"), []).device()


class ElsewhereMeter(FixedMeter):
    """Times on another device than the one its task was keyed for (a Ray actor restarted on another host)."""

    def __init__(self, device: str):
        super().__init__("cpu: some other CPU; torch threads: 1")


def test_a_figure_timed_on_another_device_than_its_key_is_refused_and_not_kept(tmp_path):
    store, source = open_store(tmp_path / "db.sqlite"), open_source("noise")
    elsewhere = DeviceWorker(torch.device("cpu"), capacity=8, factory=lambda spec, device: ElsewhereMeter(spec.device))
    elsewhere.start()
    try:
        service = LatencyService(store, [elsewhere], threads=1)
        with pytest.raises(LatencyUnavailable, match="some other CPU"):
            service.measure(SPACE, source, ARCHS[:1], 1, priority=INTERACTIVE)
        _, device = service.device()
        assert store.get_latency(LatencySpec(SPACE, source, 1, 0, threads=1, device=device).key(ARCHS[0])) is None, "the figure was kept"
    finally:
        elsewhere.stop()


def test_latency_tasks_go_to_a_meter_and_score_tasks_to_the_scorer():
    made = with_latency(lambda spec, device: "scorer")
    spec = LatencySpec(SPACE, open_source("noise"), 1, 0, threads=1, device="cpu")
    assert type(made(spec, torch.device("cpu"))).__name__ == "LatencyMeter"
    assert made(ScoreSpec(SPACE, spec.source, 8, 0), torch.device("cpu")) == "scorer"


# -- the constraint ----------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", list_strategies())
def test_every_strategy_honours_max_latency_ms(strategy):
    limit = 20.0
    result = run_search(
        strategy, SPACE, lambda archs: [float(zlib.crc32(a.encode()) % 997) for a in archs], budget=40, seed=0, top_k=40,
        constraints=Constraints(max_latency_ms=limit), cost=lambda arch: MeasuredCost(1, 1, fixed_latency(arch)),
    )
    assert result.history and result.rejected > 0, "some candidates should be too slow"
    for e in result.history:
        assert e.latency_ms == fixed_latency(e.arch) <= limit, f"{e.arch} ({e.latency_ms} ms) broke max_latency_ms={limit}"


def test_a_latency_bound_without_a_measured_latency_is_an_error():
    with pytest.raises(ValueError, match="max_latency_ms needs latency_ms"):
        Constraints(max_latency_ms=1.0).admits(get_space("nb201").cost(ARCHS[0]))


def test_the_architectures_of_one_request_reach_the_meter_as_one_batch(tmp_path, worker):
    service = LatencyService(open_store(tmp_path / "db.sqlite"), [worker], threads=1)
    service.measure(SPACE, open_source("noise"), ARCHS, 1, priority=INTERACTIVE)
    assert FixedMeter.batches == [ARCHS], "queued together, so that their timed blocks can be interleaved"


def test_repeats_are_timed_once_while_in_flight(tmp_path, worker):
    store, source = open_store(tmp_path / "db.sqlite"), open_source("noise")
    service = LatencyService(store, [worker], threads=1)
    figures = service.measure(SPACE, source, [ARCHS[0], ARCHS[0], ARCHS[1]], 1, priority=INTERACTIVE)
    assert figures[0] == figures[1] and FixedMeter.timed == ARCHS[:2], "an architecture asked twice is timed once"


# -- a search's latencies, measured a batch at a time -------------------------------------------------


class BatchLatency:
    """A ``latency`` callable for :class:`SearchCosts` that records each batch it is asked and fails on ``bad``."""

    def __init__(self, bad: str | None = None):
        self.bad, self.batches = bad, []

    def __call__(self, archs):
        self.batches.append(list(archs))
        if self.bad in archs:
            raise RuntimeError(f"{self.bad} cannot be built")
        return [fixed_latency(a) for a in archs]


def test_prepared_candidates_are_measured_together_and_once():
    latency = BatchLatency()
    costs = SearchCosts(SPACE, open_source("noise"), 10, latency)
    costs.prepare(ARCHS)
    assert [costs(a).latency_ms for a in ARCHS] == [fixed_latency(a) for a in ARCHS]
    assert latency.batches == [ARCHS], "the candidates are measured in one batch, and never again"


def test_a_failing_batch_leaves_each_architecture_to_its_own_measurement():
    latency = BatchLatency(bad=ARCHS[1])
    costs = SearchCosts(SPACE, open_source("noise"), 10, latency)
    costs.prepare(ARCHS)
    assert costs(ARCHS[0]).latency_ms == fixed_latency(ARCHS[0]), "a good architecture is measured alone after the batch failed"
    with pytest.raises(RuntimeError, match="cannot be built"):
        costs(ARCHS[1])


@pytest.mark.parametrize("strategy", ["random", "nsga2"])
def test_a_search_hands_its_candidates_latencies_over_in_batches(strategy):
    latency = BatchLatency()
    costs = SearchCosts(SPACE, open_source("noise"), 10, latency)
    result = run_search(strategy, SPACE, lambda archs: [float(zlib.crc32(a.encode()) % 997) for a in archs], budget=30, seed=0,
                        constraints=Constraints(max_latency_ms=25.0), cost=costs, minimize=("latency_ms",))
    measured = [a for batch in latency.batches for a in batch]
    assert len(measured) == len(set(measured)), "an architecture was timed twice"
    assert max(len(batch) for batch in latency.batches) > 1, f"{strategy} timed every candidate alone"
    assert all(e.latency_ms <= 25.0 for e in result.history), "max_latency_ms was not honoured"


@pytest.mark.parametrize("strategy", list_strategies())
def test_measuring_ahead_never_changes_what_a_search_evaluates(strategy):
    def scorer(archs):
        return [float(zlib.crc32(a.encode()) % 997) for a in archs]

    def run(cost):
        return run_search(strategy, SPACE, scorer, budget=30, seed=4, constraints=Constraints(max_latency_ms=25.0), cost=cost)

    batched = run(SearchCosts(SPACE, open_source("noise"), 10, BatchLatency()))
    alone = run(lambda arch: MeasuredCost.of(SPACE.cost(arch), fixed_latency(arch)))
    assert [e.arch for e in batched.history] == [e.arch for e in alone.history], f"{strategy} evaluated other architectures"
    assert batched.rejected == alone.rejected, f"{strategy} rejected other architectures"
