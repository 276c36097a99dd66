"""The Ray actor pool: same scores as the in-process scorer, no item lost or doubled when an actor dies."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter

import pytest

from app.executors.ray_pool import WITHDRAWN, ItemFailed, RayScorePool, ScoringActor, chunk_outcomes, key_for
from scoring import ScoredArch, Scorer, open_source
from searchspace import get_space

CELLS = 32
SPACE = get_space("nb201")
BATCH = 16  # images per minibatch: small, so the suite stays quick on 2 cores


class FailingScorer:
    """Scores every architecture as 1.0 except ``bad``, which raises ``error``."""

    def __init__(self, bad: str, error: Exception):
        self.bad, self.error = bad, error

    def score_many(self, archs):
        for arch in archs:
            if arch == self.bad:
                raise self.error
            yield ScoredArch(arch, {"naswot": 1.0}, {"params": 0, "flops": 0}, 0.0)


@pytest.mark.parametrize(
    "error, kind",
    [(RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"), "out_of_memory"), (ValueError("broken cell"), "error")],
)
def test_an_error_fails_only_its_item(error, kind):
    recovered = []
    outcomes = chunk_outcomes(FailingScorer("b", error), ["a", "b", "c"], recovered.append)
    assert [o.arch for o in outcomes] == ["a", "b", "c"], "outcomes are not one per item in input order"
    assert isinstance(outcomes[1], ItemFailed) and outcomes[1].kind == kind, f"the failing item is not reported as {kind}"
    assert all(isinstance(o, ScoredArch) for o in (outcomes[0], outcomes[2])), "an item beside the failing one failed too"
    assert recovered == [error], "the actor was not told to recover from the error"


def test_an_actor_refuses_data_that_differs_from_the_callers():
    actor = ScoringActor("cpu", None, 2, None, False)
    source = open_source("noise")
    key = key_for(SPACE, source, BATCH, 0)
    forged = type(key)(key.space, key.data, "sha256:another-file", key.batch_size, key.seed)
    [outcome] = actor.score(forged, ["|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|"])
    assert isinstance(outcome, ItemFailed) and "DataMismatch" in outcome.message, "a data mismatch was not reported"


@pytest.fixture(scope="module")
def pool():
    pytest.importorskip("ray")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    pool = RayScorePool(actors=2, chunk=4, init_options={"num_cpus": 2, "include_dashboard": False, "log_to_driver": False})
    pool.start()
    yield pool
    pool.stop()


@pytest.fixture(scope="module")
def cells_and_reference(one_torch_thread):
    """32 NB-201 cells and their scores from the in-process scorer (one thread, as the actors run)."""
    space, source = get_space("nb201"), open_source("noise")
    cells = space.sample(CELLS, seed=3, unique=True)
    return cells, Scorer(space, source, batch_size=BATCH, seed=0)(cells)


def test_actors_score_exactly_as_the_in_process_scorer(pool, cells_and_reference):
    cells, reference = cells_and_reference
    outcomes = pool.score(key_for(SPACE, open_source("noise"), BATCH, 0), cells)
    assert [o.arch for o in outcomes] == [r.arch for r in reference], "results are not in input order"
    assert [o.score for o in outcomes] == [r.score for r in reference], "an actor's score differs from the in-process one"
    assert [(o.reasons, o.notes) for o in outcomes] == [(r.reasons, r.notes) for r in reference], "an actor lost a reason or a note"
    assert {s["actor"] for s in pool.describe() if s["scored"]} == {"ray-actor-0", "ray-actor-1"}, "not every actor took work"


def test_killing_an_actor_mid_batch_still_completes_every_item_exactly_once(pool, cells_and_reference):
    import ray

    cells, reference = cells_and_reference
    landed: Counter[int] = Counter()
    victim = pool.slots[0]

    def kill_on_first_result(index, _outcome):
        if not landed and victim.inflight:
            ray.kill(victim.handle, no_restart=False)  # dies holding work; Ray restarts it
        landed[index] += 1

    outcomes = pool.score(key_for(SPACE, open_source("noise"), BATCH, 1), cells, on_result=kill_on_first_result)
    assert victim.interrupted >= 1 and pool.retried > 0, "the actor was not killed while it held work"
    assert sorted(landed) == list(range(CELLS)) and set(landed.values()) == {1}, f"items not landed exactly once: {landed}"
    expected = Scorer(get_space("nb201"), open_source("noise"), batch_size=BATCH, seed=1)(cells)
    assert [o.score for o in outcomes] == [r.score for r in expected], "a retried item's score differs"


def test_withdrawn_chunks_leave_the_actors_backlogs_and_are_never_sent(pool, cells_and_reference):
    cells, reference = cells_and_reference
    withdrawn = set(cells[8:])  # each actor runs one chunk of cells[:8]; the next one waits in its backlog, the rest unsent

    def withdraw_once_queued():
        deadline = time.monotonic() + 30
        while len(pool._backlog) < 4 and time.monotonic() < deadline:
            time.sleep(0.001)
        pool.withdraw(withdrawn)

    before = pool.withdrawn
    canceller = threading.Thread(target=withdraw_once_queued)
    canceller.start()
    outcomes = pool.score(key_for(SPACE, open_source("noise"), BATCH, 0), cells)
    canceller.join()
    dropped = {o.arch for o in outcomes if isinstance(o, ItemFailed) and o.kind == WITHDRAWN}
    assert dropped == withdrawn, f"{len(withdrawn - dropped)} withdrawn cells were scored anyway"
    assert pool.withdrawn - before == 6, "not two backlog chunks and four unsent ones"
    assert [o.score for o in outcomes[:8]] == [r.score for r in reference[:8]], "the cells kept were not scored as before"
