"""Seconds to score one architecture of each space, NASWOT and the default ensemble, in one run on one machine.

    python bench/space_speed.py --spaces nb201,ofa-mbv3 --resolution 224 --batch-size 32 --n 3

For each space, ``--n`` seeded architectures (a space with a per-architecture resolution, such as ofa-mbv3,
gets them at ``--resolution``; the benchmark spaces run at the data's own 32x32) are scored one at a time
after one warm-up, spaces alternating so machine noise hits all.  The ensemble's reference sample (once
per space, data, batch size and seed, then stored) is timed apart on ``--reference-size`` architectures
and extrapolated to the default 256.  One table row per space; the CPU model is printed first.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time

import torch

from common import DEFAULT_DATA
from scoring import REFERENCE_SIZE, Scorer, cpu_model, describe_device, open_source, resolve_device
from searchspace import get_space


def archs_of(space, n: int, seed: int, resolution: int) -> list[str]:
    """``n`` seeded architectures, each at ``resolution`` where the space makes it part of the architecture."""
    archs = space.sample(n, seed=seed)
    if not space.fixed_resolution:
        return archs
    return [dataclasses.replace(space.subnet(a), resolution=resolution).to_json() for a in archs]


def seconds_each(scorer: Scorer, archs: list[str]) -> list[float]:
    out = []
    for arch in archs:
        start = time.perf_counter()
        scorer.score_one(arch)
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spaces", default="nb201,ofa-mbv3")
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--n", type=int, default=3, help="architectures timed per space (after one warm-up)")
    parser.add_argument("--reference-size", type=int, default=4, help="reference architectures timed to extrapolate the ensemble's one-off sample")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = resolve_device(args.device)
    source = open_source(args.data)
    print(f"cpu={cpu_model()} threads={torch.get_num_threads()} device={describe_device(device)} data={source.spec} batch={args.batch_size}")
    rows = {}
    for name in args.spaces.split(","):
        space = get_space(name)
        common = dict(batch_size=args.batch_size, seed=args.seed, device=device)
        naswot = Scorer(space, source, **common)
        ensemble = Scorer(space, source, scores=("ensemble",), reference_size=args.reference_size, **common)
        start = time.perf_counter()
        ensemble.reference()
        reference = (time.perf_counter() - start) / args.reference_size
        archs = archs_of(space, args.n + 1, args.seed, args.resolution)
        seconds_each(naswot, archs[:1]), seconds_each(ensemble, archs[:1])  # warm-up
        rows[name] = (space, naswot, ensemble, archs[1:], reference, {"naswot": [], "ensemble": []})
    for i in range(args.n):  # one architecture per space at a time, spaces alternating
        for name in (list(rows) if i % 2 == 0 else list(reversed(rows))):
            _, naswot, ensemble, archs, _, times = rows[name]
            times["naswot"] += seconds_each(naswot, archs[i : i + 1])
            times["ensemble"] += seconds_each(ensemble, archs[i : i + 1])
    print(f"{'space':<10} {'input':<12} {'naswot s/arch':>14} {'ensemble s/arch':>16} {'reference (one-off, 256 archs)':>32}")
    for name, (space, naswot, _, archs, reference, times) in rows.items():
        shape = "x".join(map(str, naswot.inputs.shape_of(archs[0])))
        print(f"{name:<10} {shape:<12} {statistics.median(times['naswot']):>14.3f} {statistics.median(times['ensemble']):>16.3f} "
              f"{reference * REFERENCE_SIZE:>29.0f} s")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
