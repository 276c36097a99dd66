"""The real thing: `naswot serve` as a process on a loopback port, killed with SIGKILL mid-search and started again."""

from __future__ import annotations

import time

import httpx
import pytest

from app.client import Client
from app.api.serverproc import ServerProcess
from app.store import open_store
from search import run_search
from searchspace import get_space

KEY = "loopback-key"
BUDGET = 32


def test_real_server_scores_searches_and_resumes_a_search_after_being_killed(tmp_path):
    env = {
        "NASWOT_DB": str(tmp_path / "naswot.sqlite"),
        "NASWOT_DATA": "noise:3x8x8",  # small inputs keep the test quick
        "NASWOT_DATA_DIR": str(tmp_path / "data"),
        "NASWOT_API_KEY": KEY, "NASWOT_LOG_LEVEL": "info",
    }
    server = ServerProcess(env, log=tmp_path / "server.log").start()
    try:
        assert httpx.get(server.url + "/v1/spaces").status_code == 401
        client = Client(server.url, api_key=KEY)
        answer = client.score([[3, 3, 3, 1, 3, 3], [0, 0, 0, 0, 0, 0]], batch_size=8)
        assert answer["data"]["spec"] == "noise:3x8x8" and answer["device"] == "cpu"
        assert answer["results"][0]["singular"] is False and answer["results"][1] == {**answer["results"][1], "score": None, "singular": True}

        job = client.start_search(budget=BUDGET, seed=5, batch_size=8, top_k=5)
        deadline = time.monotonic() + 180
        while not _mid_batch(client.search(job["id"])["progress"]):  # random search hands over 16 candidates at a time
            assert time.monotonic() < deadline, server.log_tail()
            time.sleep(0.05)
        server.kill()  # SIGKILL: no shutdown code runs

        store = open_store(env["NASWOT_DB"])
        left = store.get_job(job["id"])
        kept = [e.to_json() for e in store.evaluations(job["id"])]
        cached_at_kill = store.count_scores()
        store.close()
        assert left.status == "running" and 16 <= len(kept) < BUDGET

        server.start()
        client = Client(server.url, api_key=KEY)
        events = list(client.events(job["id"]))
        final = client.search(job["id"])
        computed = _sample(client.metrics(), 'naswot_scores_computed_total{device="cpu"}')
    finally:
        code = server.stop()
    assert code in (0, -15), server.log_tail()  # uvicorn re-raises SIGTERM after its graceful shutdown
    assert server.log_tail(500).rstrip().endswith(f"Finished server process [{server.proc.pid}]"), server.log_tail()
    assert events[0].event == "status" and events[-1].event == "end"
    assert final["status"] == "done" and final["resumed"] == 1
    assert final["progress"] == {"evaluated": BUDGET, "budget": BUDGET, "batch": None}
    streamed = [e.data for e in events if e.event == "evaluation"]
    assert [e["step"] for e in streamed] == list(range(1, BUDGET + 1))
    # random search's trajectory does not depend on the scores: the resumed job drew exactly the seeded sequence
    expected = run_search("random", get_space("nb201"), lambda archs: [0.0] * len(archs), budget=BUDGET, seed=5)
    assert [e["arch"] for e in streamed] == [e.arch for e in expected.history]
    assert streamed[: len(kept)] == [{**k, "values": {"naswot": k["score"]}, "evaluated": k["step"], "budget": BUDGET} for k in kept]  # nothing scored was lost
    # the half-scored batch was not lost either: its scores came back from the cache, only the rest was computed
    store = open_store(env["NASWOT_DB"])
    assert computed == store.count_scores() - cached_at_kill < BUDGET - len(kept)
    store.close()
    assert final["top"] == sorted(final["top"], key=lambda t: (t["singular"], -(t["score"] or 0), t["step"]))


def _mid_batch(progress: dict) -> bool:
    return progress["evaluated"] >= 16 and progress["batch"] is not None and progress["batch"]["scored"] >= 2


def _sample(metrics: str, name: str) -> float:
    return next(float(line.split()[-1]) for line in metrics.splitlines() if line.startswith(name + " "))


@pytest.mark.parametrize("flag", ["--host"])
def test_serve_help_names_host_and_port(flag, capsys):
    from app.cli.main import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    out = capsys.readouterr().out
    assert flag in out and "--port" in out
