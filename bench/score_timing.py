"""Seconds per network of named scores against NASWOT on the same networks, timed in interleaved blocks
(``bench/throughput.py`` runs these; a helper module, not a script).

- :func:`members`: NASWOT, each default ensemble member alone and the ensemble, on one space;
- :func:`score_ratio`: one score (or ensemble) against NASWOT alone;
- :func:`joint_ratio`: several scores in one scorer's shared passes against one scorer per score.

Blocks rotate which side runs first, so machine noise hits all sides alike.  An ensemble's one-off
reference sample (scored once per space, data, batch size and seed, then kept) is timed apart.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable

import torch

from scoring import DEFAULT_MEMBERS, REFERENCE_SIZE, Scorer, describe_device

#: the issue's target: each default member at most this many times NASWOT's seconds per network
MEMBER_TARGET = 2.0


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def archs_at(space, n: int, seed: int, resolution: int) -> list[str]:
    """``n`` distinct seeded architectures, each at ``resolution`` where the space makes it part of the architecture."""
    archs = space.sample(n, seed=seed, unique=space.size is None or space.size >= n)
    if not space.fixed_resolution:
        return archs
    return [dataclasses.replace(space.subnet(a), resolution=resolution).to_json() for a in archs]


def interleaved(
    sides: dict[str, Callable[[list[str]], object]], archs: list[str], block: int, device: torch.device,
    progress: Callable[[int, dict[str, float]], None] | None = None,
) -> dict[str, float]:
    """Seconds per network of each side on ``archs``, timed in blocks whose side order rotates, so machine noise hits all;
    ``progress(networks done, seconds so far per side)`` after each block."""
    names = list(sides)
    totals = dict.fromkeys(names, 0.0)
    sync(device)
    for i in range(0, len(archs), block):
        shift = (i // block) % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            sides[name](archs[i : i + block])
            sync(device)
            totals[name] += time.perf_counter() - start
        if progress is not None:
            progress(min(i + block, len(archs)), totals)
    return {k: v / len(archs) for k, v in totals.items()}


def _score_all(scorer: Scorer) -> Callable[[list[str]], object]:
    return lambda block: list(scorer.score_many(block))


def _time_reference(scorer: Scorer) -> None:
    """Score an ensemble scorer's reference sample now, printing its cost and the estimate for the default size."""
    start = time.perf_counter()
    scorer.reference()
    seconds = time.perf_counter() - start
    print(f"reference sample: {scorer.reference_size} networks in {seconds:.1f} s "
          f"(~{seconds / scorer.reference_size * REFERENCE_SIZE:.0f} s for the default {REFERENCE_SIZE}; once per space, data, batch size and seed)")


def members(args, space, source, device, archs: list[str]) -> None:
    """Seconds per network of NASWOT, each default ensemble member alone and the default ensemble; each member's
    ratio to NASWOT against the target."""
    common = dict(batch_size=args.batch_size, seed=args.seed, device=device)
    scorers = {"naswot": Scorer(space, source, **common)}
    scorers.update((m, Scorer(space, source, scores=(m,), **common)) for m in DEFAULT_MEMBERS)
    scorers["ensemble"] = Scorer(space, source, scores=("ensemble",), reference_size=args.reference_size, **common)
    _time_reference(scorers["ensemble"])
    warm = archs_at(space, 1, args.seed + 1, args.resolution)
    for scorer in scorers.values():  # warm-up outside the sample: allocator, kernel caches, resized minibatch
        list(scorer.score_many(warm))

    def progress(done: int, seconds: dict[str, float]) -> None:
        print(f"  {done}/{len(archs)}  " + "  ".join(f"{k} {t / done:.2f} s" for k, t in seconds.items()), file=sys.stderr, flush=True)

    per_network = interleaved({name: _score_all(s) for name, s in scorers.items()}, archs, args.block, device, progress)
    print(f"space={space.name} networks={len(archs)} input={'x'.join(map(str, scorers['naswot'].inputs.shape_of(archs[0])))} "
          f"batch={args.batch_size} threads={torch.get_num_threads()} device={describe_device(device)}")
    base = per_network["naswot"]
    for name, seconds in per_network.items():
        verdict = f"  target <= {MEMBER_TARGET:g}x: {'met' if seconds <= MEMBER_TARGET * base else 'MISSED'}" if name in DEFAULT_MEMBERS else ""
        print(f"{name:<10} {seconds:>9.3f} s/network  {seconds / base:>6.2f}x naswot{verdict}")


def score_ratio(args, space, source, device, archs: list[str]) -> None:
    """Seconds per network of ``--score`` against NASWOT alone, interleaved blocks on the same networks."""
    common = dict(batch_size=args.batch_size, seed=args.seed, device=device)
    theirs = Scorer(space, source, **common)
    ours = Scorer(space, source, scores=(args.score,), reference_size=args.reference_size, **common)
    if ours.ensembles:
        _time_reference(ours)
    list(ours.score_many(archs[:1])), list(theirs.score_many(archs[:1]))  # warm-up: allocator and kernel caches
    per_cell = interleaved({"ours": _score_all(ours), "naswot": _score_all(theirs)}, archs, args.block, device)
    ratio = per_cell["ours"] / per_cell["naswot"]
    print(f"device={describe_device(device)} space={space.name} cells={len(archs)} threads={torch.get_num_threads()} batch={args.batch_size}")
    print(f"score={args.score} seconds_per_cell={per_cell['ours']:.4f} naswot_seconds_per_cell={per_cell['naswot']:.4f} ratio={ratio:.2f}")


def joint_ratio(args, space, source, device, archs: list[str]) -> None:
    """Several scores by one scorer in shared passes (how the service computes a list) against one scorer per score."""
    names = args.joint.split(",")
    common = dict(batch_size=args.batch_size, seed=args.seed, device=device)
    joint = Scorer(space, source, scores=names, **common)
    separate = [Scorer(space, source, scores=(name,), **common) for name in names]
    together = {r.arch: r.values for r in joint.score_many(archs[:1])}  # warm-up, and the values checked below
    alone = {name: s.score_one(archs[0]) for name, s in zip(names, separate)}
    same = all(together[archs[0]][n] == alone[n].values.get(n, alone[n].score) for n in names)
    per_cell = interleaved(
        {"joint": _score_all(joint), "separate": lambda b: [list(s.score_many(b)) for s in separate]},
        archs, args.block, device,
    )
    print(f"device={describe_device(device)} space={space.name} cells={len(archs)} threads={torch.get_num_threads()} batch={args.batch_size} "
          f"values identical to each score alone: {same}")
    print(f"joint={'+'.join(names)} seconds_per_cell={per_cell['joint']:.4f} separate_seconds_per_cell={per_cell['separate']:.4f} "
          f"speedup={per_cell['separate'] / per_cell['joint']:.2f}")
