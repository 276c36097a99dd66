"""NASWOT_EXECUTOR=ray: the service's score queue in front of Ray actors, with the local executor's contract."""

from __future__ import annotations

import pytest
from helpers import api_client

from app.executors.ray_pool import ACTOR_DIED, ItemFailed
from app.executors.ray_worker import RayWorker, as_result
from app.service.latency import LatencyUnavailable
from app.service.scorers import is_out_of_memory
from scoring import ScoredArch, Scorer, cpu_model, open_source
from searchspace import get_space

BATCH = 8


@pytest.mark.parametrize(
    "kind, out_of_memory", [("out_of_memory", True), ("error", False), (ACTOR_DIED, False)],
)
def test_a_failed_item_reaches_the_service_as_the_error_it_was(kind, out_of_memory):
    error = as_result(ItemFailed("a", kind, "boom"))
    assert isinstance(error, BaseException) and is_out_of_memory(error) is out_of_memory, f"{kind} was mapped to {error!r}"


def test_a_score_passes_through_unchanged():
    score = ScoredArch("a", {"naswot": 1.5}, {"params": 1, "flops": 2}, 0.1)
    assert as_result(score) is score, "a score was altered on its way to the service"


class DescribedPool:
    """A pool that only describes its actors (each with the given latency device)."""

    def __init__(self, *devices):
        self.devices = devices

    def describe(self):
        return [{"actor": f"ray-actor-{i}", "latency_device": d} for i, d in enumerate(self.devices)]


def test_actors_on_one_device_time_latency_under_its_identity():
    worker = RayWorker(DescribedPool("cpu: X; torch threads: 1", "cpu: X; torch threads: 1"), capacity=4, batch=2)
    assert worker.latency_device(threads=8) == "cpu: X; torch threads: 1", "the actors' own device, whatever the server's threads"


@pytest.mark.parametrize("devices, reason", [((), "have not started"), (("cpu: X; torch threads: 1", "cuda: Y"), "different devices")])
def test_latency_is_unavailable_without_actors_on_one_device(devices, reason):
    with pytest.raises(LatencyUnavailable, match=reason):
        RayWorker(DescribedPool(*devices), capacity=4, batch=2).latency_device(threads=1)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    pytest.importorskip("ray")
    with api_client(tmp_path_factory.mktemp("ray-svc"), executor="ray", ray_actors=2, worker_batch=2) as client:
        yield client


def test_the_service_scores_on_ray_actors_exactly_as_in_process(client, one_torch_thread):
    cells = get_space("nb201").sample(8, seed=11, unique=True)
    answer = client.score(cells, data="noise", batch_size=BATCH, seed=0)
    expected = Scorer(get_space("nb201"), open_source("noise"), batch_size=BATCH, seed=0)(cells)
    assert [r["score"] for r in answer["results"]] == [e.to_json()["score"] for e in expected], "a Ray actor's score differs from the in-process one"
    assert answer["device"] == "ray" and all(r["device"] == "ray" for r in answer["results"]), "not scored on the Ray executor"


def test_readiness_and_metrics_show_the_actors(client):
    client.score(get_space("nb201").sample(4, seed=12, unique=True), data="noise", batch_size=BATCH, seed=0)
    actors = client.ready()["actors"]
    assert [a["actor"] for a in actors] == ["ray-actor-0", "ray-actor-1"], f"readiness lists {actors}"
    assert all(a["device"] == "cpu" and a["threads"] == 1 for a in actors), "the CPU actors do not run one torch thread each"
    metrics = client.metrics()
    assert 'naswot_ray_actor_scored_total{actor="ray-actor-0"' in metrics, "metrics do not count each actor's work"


def test_latency_is_timed_on_the_actors_and_names_their_device(client):
    cells = get_space("nb201").sample(3, seed=13, unique=True)
    answer = client.score(cells, data="noise", batch_size=BATCH, seed=0, costs=["latency_ms"])
    actors = {a["latency_device"] for a in client.ready()["actors"]}
    assert actors == {f"cpu: {cpu_model()}; torch threads: 1"}, f"the actors report {actors}"
    assert answer["latency_device"] in actors, "the figure does not name the actors' device"
    assert all(r["latency_ms"] > 0 for r in answer["results"]), "an actor's latency is missing"


def test_a_search_on_ray_honours_max_latency_ms(client):
    job = client.start_search(space="nb201", data="noise", batch_size=BATCH, strategy="random", budget=4, seed=1,
                              constraints={"max_latency_ms": 10_000.0})
    final = client.wait(job["id"], timeout=300)
    assert final["status"] == "done", final.get("error")
    assert all(0 < e["latency_ms"] <= 10_000.0 for e in final["top"]), "an evaluation lacks its latency or broke the bound"
