"""Concurrency burst against the scoring service: N clients fire M score requests at once.

    .venv/bin/python bench/service_load.py                      # starts `naswot serve` on a free loopback port
    .venv/bin/python bench/service_load.py --url http://127.0.0.1:8000 --api-key KEY

Requests draw their architectures from a small pool, so they overlap: some are answered from
the cache, some share work in flight. Prints status counts (the service should give no 5xx),
latency percentiles, and a baseline measured in the same run: the in-process ``Scorer`` scoring
the pool's distinct architectures one after another (the ratio is service wall time / baseline).
Every score the service returns is checked against the in-process one.
"""

from __future__ import annotations

import argparse
import collections
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from app.client import ApiError, Client
from app.api.serverproc import ServerProcess
from scoring import Scorer, open_source
from searchspace import get_space


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", help="target this server instead of starting one")
    p.add_argument("--api-key", default=None)
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--requests", type=int, default=50)
    p.add_argument("--archs-per-request", type=int, default=2)
    p.add_argument("--pool", type=int, default=40, help="distinct architectures the requests draw from")
    p.add_argument("--space", default="nb201")
    p.add_argument("--data", default="noise", help="data source name the requests use (the started server offers the built-ins)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-baseline", action="store_true", help="skip the in-process baseline and the score check")
    return p.parse_args(argv)


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def burst(url: str, api_key: str | None, bodies: list[dict], clients: int) -> tuple[list[tuple[int, float, dict | None]], float]:
    """Fire ``bodies`` from ``clients`` threads released together; (status, seconds, answer) per request and the wall time."""
    todo = collections.deque(enumerate(bodies))
    results: list[tuple[int, float, dict | None]] = [(0, 0.0, None)] * len(bodies)
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def run() -> None:
        with httpx.Client(base_url=url, timeout=600, headers={"Authorization": f"Bearer {api_key}"} if api_key else {}) as http:
            start.wait()
            while True:
                with lock:
                    if not todo:
                        return
                    index, body = todo.popleft()
                t0 = time.perf_counter()
                try:
                    response = http.post("/v1/score", json=body)
                    status, answer = response.status_code, (response.json() if response.status_code == 200 else None)
                except httpx.HTTPError:
                    status, answer = -1, None  # transport failure
                results[index] = (status, time.perf_counter() - t0, answer)

    threads = [threading.Thread(target=run) for _ in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return results, time.perf_counter() - t0


def request_bodies(args: argparse.Namespace, pool: list[str]) -> list[dict]:
    """The burst's score requests, each drawing ``--archs-per-request`` architectures from the seeded pool."""
    rng = random.Random(args.seed)
    return [
        {"space": args.space, "archs": rng.sample(pool, args.archs_per_request), "data": args.data, "batch_size": args.batch_size, "seed": args.seed}
        for _ in range(args.requests)
    ]


def baseline_scores(args: argparse.Namespace, archs: list[str]) -> tuple[dict[str, float], float]:
    """The in-process ``Scorer``'s score of each architecture, one after another, and the seconds it took."""
    scorer = Scorer(get_space(args.space), open_source(args.data), batch_size=args.batch_size, seed=args.seed)
    t0 = time.perf_counter()
    scores = {r.arch: r.score for r in scorer.score_many(archs)}
    return scores, time.perf_counter() - t0


def run_burst(args: argparse.Namespace, bodies: list[dict]) -> tuple[str, dict, list[tuple[int, float, dict | None]], float, str]:
    """Fire the burst at ``--url``, or at a server started for it on a free loopback port (stopped after):
    the URL, its readiness answer, the burst's results and wall time, and the metrics text after it."""
    server = None
    url = args.url
    if url is None:
        folder = Path(tempfile.mkdtemp(prefix="naswot-load-"))
        server = ServerProcess({"NASWOT_DB": str(folder / "naswot.sqlite"), "NASWOT_LOG_LEVEL": "warning"}, log=folder / "server.log").start()
        url = server.url
    try:
        with Client(url, api_key=args.api_key) as client:
            ready = client.ready()
            results, wall = burst(url, args.api_key, bodies, args.clients)
            return url, ready, results, wall, client.metrics()
    finally:
        if server is not None:
            server.stop()


def count_mismatches(results: list[tuple[int, float, dict | None]], baseline: dict[str, float]) -> int:
    """How many scores the service returned differ from the in-process ones (a singular one is -inf on both sides)."""
    returned = [r for _, _, answer in results for r in (answer or {}).get("results", [])]
    return sum(1 for r in returned if r["arch"] in baseline and (float("-inf") if r["singular"] else r["score"]) != baseline[r["arch"]])


def metric_total(metrics: str, prefix: str) -> float:
    """The sum of the Prometheus samples whose line starts with ``prefix`` (0 when there are none)."""
    return sum(float(line.split()[-1]) for line in metrics.splitlines() if line.startswith(prefix))


def print_burst(args: argparse.Namespace, url: str, ready: dict, results: list[tuple[int, float, dict | None]], wall: float, metrics: str, distinct: int) -> None:
    """What the burst met: status counts, latency percentiles, and what the service computed, served from cache or shared."""
    codes = collections.Counter(status for status, _, _ in results)
    latencies = [seconds for _, seconds, _ in results]
    computed = metric_total(metrics, "naswot_scores_computed_total{")
    hits, shared = metric_total(metrics, "naswot_cache_hits_total "), metric_total(metrics, "naswot_inflight_shared_total ")
    print(f"server: {url}  device: {', '.join(d['device'] for d in ready['devices'])}  data: {args.data}  batch_size: {args.batch_size}")
    print(f"burst: {args.requests} requests x {args.archs_per_request} archs from {args.clients} clients; {distinct} distinct archs")
    print("status counts: " + ", ".join(f"{code}: {n}" for code, n in sorted(codes.items())))
    print(f"5xx: {sum(n for code, n in codes.items() if code >= 500)}  transport errors: {codes.get(-1, 0)}")
    print(f"latency s: p50 {percentile(latencies, 50):.3f}  p90 {percentile(latencies, 90):.3f}  p99 {percentile(latencies, 99):.3f}  max {max(latencies):.3f}")
    print(f"wall {wall:.2f} s; device scored {computed:.0f} archs, cache hits {hits:.0f}, shared in flight {shared:.0f}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pool = get_space(args.space).sample(args.pool, seed=args.seed, unique=True)
    bodies = request_bodies(args, pool)
    distinct = sorted({a for b in bodies for a in b["archs"]})
    baseline, baseline_seconds = ({}, float("nan")) if args.no_baseline else baseline_scores(args, distinct)
    try:
        url, ready, results, wall, metrics = run_burst(args, bodies)
    except ApiError as exc:
        print(f"server answered {exc}", file=sys.stderr)
        return 1
    print_burst(args, url, ready, results, wall, metrics, len(distinct))
    mismatches = count_mismatches(results, baseline)
    if not args.no_baseline:
        print(f"baseline (in-process Scorer, {len(distinct)} distinct archs one after another): {baseline_seconds:.2f} s; "
              f"service/baseline wall ratio {wall / baseline_seconds:.2f}")
        print(f"scores differing from the in-process scorer: {mismatches}")
    failed = any(status >= 500 or status == -1 for status, _, _ in results)
    return 0 if not failed and mismatches == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
