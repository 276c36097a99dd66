"""A small request's wait while a large one holds the device, on a real server over loopback.

    .venv/bin/python bench/fairness.py                          # starts `naswot serve` on a free loopback port
    .venv/bin/python bench/fairness.py --url http://127.0.0.1:8000

The large request is ``--large`` subnets of ``--large-space`` (default 12 ofa-mbv3 subnets at their own
resolution, up to 224: a cheap stand-in for issue 31's 16 large subnets with latency timings, which took
993 s); the small one is one NB-201 cell (a fraction of a second). Printed: the small request alone (the
baseline, measured in the same run), the same kind of request sent while the large one is on the device,
the large request's time and its time per architecture. Architectures are drawn fresh for each phase,
so nothing comes from the cache; the server's device is whatever it scores on (printed).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from app.api.serverproc import ServerProcess
from searchspace import get_space


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", help="target this server instead of starting one (its cache should not hold the drawn architectures)")
    p.add_argument("--large", type=int, default=12, help="architectures in the large request")
    p.add_argument("--large-space", default="ofa-mbv3")
    p.add_argument("--small-space", default="nb201")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def timed_score(client: httpx.Client, space: str, archs: list[str], batch_size: int) -> float:
    """Seconds one score request takes (raises unless it is answered 200)."""
    start = time.perf_counter()
    response = client.post("/v1/score", json={"space": space, "archs": archs, "data": "noise", "batch_size": batch_size})
    if response.status_code != 200:
        raise RuntimeError(f"{space} request answered {response.status_code}: {response.text[:300]}")
    return time.perf_counter() - start


def device_busy(client: httpx.Client) -> bool:
    return any(d["busy"] for d in client.get("/readyz").json()["devices"])


def measure(client: httpx.Client, args: argparse.Namespace) -> dict[str, float]:
    """The small request alone, then while the large one runs; and the large one's time."""
    small, large = get_space(args.small_space), get_space(args.large_space)
    cells = small.sample(3, seed=args.seed, unique=True)
    timed_score(client, args.small_space, [cells[0]], args.batch_size)  # warm: the small space's scorer is built
    alone = timed_score(client, args.small_space, [cells[1]], args.batch_size)
    subnets = large.sample(args.large, seed=args.seed)
    out: dict[str, float] = {}
    thread = threading.Thread(target=lambda: out.__setitem__("large", timed_score(client, args.large_space, subnets, args.batch_size)))
    thread.start()
    deadline = time.monotonic() + 300
    while not device_busy(client) and thread.is_alive():
        assert time.monotonic() < deadline, "the large request never reached the device"
        time.sleep(0.05)
    time.sleep(0.5)  # its first network is being scored
    out["while_large"] = timed_score(client, args.small_space, [cells[2]], args.batch_size)
    thread.join()
    return {"alone": alone, **out}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    server = None
    url = args.url
    if url is None:
        folder = Path(tempfile.mkdtemp(prefix="naswot-fair-"))
        server = ServerProcess({"NASWOT_DB": str(folder / "naswot.sqlite"), "NASWOT_LOG_LEVEL": "warning", "NASWOT_DATA": "noise"},
                               log=folder / "server.log").start()
        url = server.url
    try:
        with httpx.Client(base_url=url, timeout=3600) as client:
            deadline = time.monotonic() + 300
            while client.get("/readyz").status_code != 200:
                assert time.monotonic() < deadline, "the server never became ready"
                time.sleep(0.2)
            devices = ", ".join(d["device"] for d in client.get("/readyz").json()["devices"])
            figures = measure(client, args)
    finally:
        if server is not None:
            server.stop()
    print(f"server: {url}  device: {devices}  batch_size: {args.batch_size}")
    print(f"large request: {args.large} {args.large_space} subnets, {figures['large']:.2f} s ({figures['large'] / args.large:.2f} s per architecture)")
    print(f"small request ({args.small_space}, one cell) alone: {figures['alone']:.3f} s  (baseline)")
    print(f"small request while the large one runs: {figures['while_large']:.3f} s  "
          f"({figures['while_large'] / figures['alone']:.1f}x alone; {figures['while_large'] / figures['large']:.0%} of the large request)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
