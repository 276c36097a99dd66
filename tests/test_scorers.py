"""The scorer cache and per-item scoring that the local device workers and the Ray actors share."""

from __future__ import annotations

import pytest
import torch

from app.executors.ray_actor import ScoringActor
from app.service.scorers import ScorerCache, score_each
from app.service.worker import DeviceWorker
from scoring import ScoredArch

OOM = RuntimeError("CUDA out of memory. Tried to allocate 2 GiB")


class ListScorer:
    """Scores every architecture 1.0 except those in ``bad``, which raise ``error``; records each ``score_many`` call."""

    def __init__(self, bad=(), error: Exception = ValueError("broken cell")):
        self.bad, self.error, self.calls = set(bad), error, []

    def score_many(self, archs):
        archs = list(archs)  # an iterable is read once (score_each feeds it lazily)
        self.calls.append(archs)
        for arch in archs:
            if arch in self.bad:
                raise self.error
            yield ScoredArch(arch, {"naswot": 1.0}, {"params": 0, "flops": 0}, 0.0)


def counting_cache(size: int = 2, fail: Exception | None = None) -> tuple[ScorerCache, list[str]]:
    built: list[str] = []

    def build(spec: str) -> ListScorer:
        if fail is not None:
            raise fail
        built.append(spec)
        return ListScorer()

    return ScorerCache(torch.device("cpu"), build, size), built


def test_the_least_recently_used_scorer_is_dropped_past_the_cache_size():
    cache, built = counting_cache(size=2)
    for spec in ["a", "b", "a", "c", "a", "b"]:
        cache.get(spec)
    assert built == ["a", "b", "c", "b"], f"scorers built {built}: 'a' was used last, so 'b' should have been dropped"


@pytest.mark.parametrize("error, kept", [(OOM, 0), (ValueError("broken cell"), 2)], ids=["out-of-memory", "other"])
def test_recovery_drops_the_scorers_only_after_an_out_of_memory(error, kept):
    cache, _ = counting_cache(size=2)
    cache.get("a"), cache.get("b")
    cache.recover(error)
    assert len(cache) == kept, f"{len(cache)} scorers left after {error!r}"


def test_a_scorer_that_cannot_be_built_is_recovered_from_and_raised():
    cache, _ = counting_cache(fail=OOM)
    recovered = []
    cache.recover = recovered.append
    with pytest.raises(RuntimeError, match="out of memory"):
        cache.get("a")
    assert recovered == [OOM], "a failed build did not go through the recovery path"


def test_after_a_failure_the_rest_are_scored_one_at_a_time_and_a_second_bad_item_fails_alone():
    scorer, recovered = ListScorer(bad={"b", "d"}), []
    outcomes = list(score_each(scorer, ["a", "b", "c", "d", "e"], recovered.append))
    failed = [arch for arch, o in outcomes if isinstance(o, BaseException)]
    assert [arch for arch, _ in outcomes] == ["a", "b", "c", "d", "e"], "outcomes are not one per item in input order"
    assert failed == ["b", "d"] and recovered == [scorer.error] * 2, f"failed {failed}, recovered {recovered}"
    assert scorer.calls == [["a", "b", "c", "d", "e"], ["c"], ["d"], ["e"]], f"score_many calls {scorer.calls}"


def test_device_workers_and_ray_actors_keep_their_scorers_in_the_same_cache():
    worker = DeviceWorker(torch.device("cpu"), capacity=1, scorer_cache=3)
    actor = ScoringActor("cpu", None, 3, None, False)
    assert isinstance(worker.scorers, ScorerCache) and isinstance(actor.scorers, ScorerCache)
    assert worker.scorers.size == actor.scorers.size == 3, "the scorer cache size was not passed on"
