"""MeCo as registered against its exact definition computed the old way, on the same networks in one run.

    python bench/meco_exactness.py --space nb201 --n 100 --threads 1
    python bench/meco_exactness.py --space ofa-mbv3 --resolution 224 --n 100 --threads 1

The registered pass (:mod:`scoring.measures.meco`) skips the eigendecomposition of every correlation
that is singular by construction (at least as many channels as positions, or a constant channel), whose
smallest eigenvalue is exactly 0, and decomposes a map its parent module hands on only once.  The
reference here is the pass as it was: every module's map decomposed in float64, NaN read as 0.  For
``--n`` seeded architectures of ``--space`` (a space with a per-architecture resolution, such as
ofa-mbv3, gets them at ``--resolution``) it prints per architecture both values and times, then
Kendall tau between them, the largest absolute and relative difference, the pairs the two order
oppositely and the pairs the registered values tie exactly while the old ones order them by float
noise (where every map past the first stages is singular, as on nb-macro at 32x32), and the seconds
per architecture of each way.  The CPU model is printed first.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import time

import torch
from scipy import stats

from common import DEFAULT_DATA
from scoring import Scorer, cpu_model, open_source
from scoring.evaluate import build_seeded
from scoring.registry import run_pass
from searchspace import get_space


def reference_meco(net: torch.nn.Module, x: torch.Tensor) -> float:
    """The old pass: every module's 4-D output (first input, run alone), the smallest eigenvalue of its
    float64 channel correlation with NaN as 0, summed; the singular ones come out as float noise."""
    total = 0.0

    def hook(_module, _args, output):
        nonlocal total
        if not isinstance(output, torch.Tensor) or output.dim() != 4 or output.shape[2] * output.shape[3] < 2:
            return
        fea = output[0].detach().reshape(output.shape[1], -1).double()
        corr = torch.nan_to_num(torch.corrcoef(fea), nan=0.0, posinf=0.0, neginf=0.0)
        total += float(torch.linalg.eigvalsh(corr.reshape(fea.shape[0], fea.shape[0]))[0])

    handles = [m.register_forward_hook(hook) for m in net.modules()]
    try:
        with torch.no_grad():
            net(x[:1])
    finally:
        for h in handles:
            h.remove()
    return total


class ArchProbe:
    """What the meco pass reads of one architecture, as the scorer gives it: its seeded network and its minibatch."""

    def __init__(self, scorer: Scorer, arch: str):
        self.scorer, self.arch = scorer, arch
        self.x = scorer.inputs.for_arch(arch)

    def network(self) -> torch.nn.Module:
        return build_seeded(self.scorer.space, self.arch, self.scorer.num_classes, self.scorer.seed).train()


def archs_of(space, n: int, seed: int, resolution: int) -> list[str]:
    """``n`` distinct seeded architectures, each at ``resolution`` where the space makes it part of the architecture."""
    archs = space.sample(n, seed=seed, unique=True) if space.size is None or space.size >= n else space.sample(n, seed=seed)
    if not space.fixed_resolution:
        return archs
    return [dataclasses.replace(space.subnet(a), resolution=resolution).to_json() for a in archs]


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", default="nb201")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=128, help="the scorer's minibatch (MeCo reads its first input)")
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    space = get_space(args.space)
    scorer = Scorer(space, open_source(args.data), batch_size=args.batch_size, seed=args.seed, scores=("meco",))
    print(f"cpu={cpu_model()} threads={torch.get_num_threads()} space={space.name} n={args.n} seed={args.seed} data={scorer.source.spec}", flush=True)
    new, old, t_new, t_old = [], [], [], []
    for i, arch in enumerate(archs_of(space, args.n, args.seed, args.resolution)):
        probe = ArchProbe(scorer, arch)  # both ways build the network and read the same input
        value, seconds = timed(lambda: run_pass("meco", probe, frozenset({"meco"}))["meco"])
        exact, exact_seconds = timed(lambda: reference_meco(probe.network(), probe.x))
        new.append(value), old.append(exact), t_new.append(seconds), t_old.append(exact_seconds)
        print(f"  {i:>4} registered={value!r} ({seconds:.2f} s)  old={exact!r} ({exact_seconds:.2f} s)  diff={value - exact:.3e}", flush=True)
    report(new, old, t_new, t_old)


def pair_counts(new: list[float], old: list[float]) -> tuple[int, int]:
    """(pairs the registered values tie but the old ones order: ordered by float noise alone,
    pairs the registered values order one way and the old ones the other)."""
    noise_ordered = discordant = 0
    for i in range(len(new)):
        for j in range(i + 1, len(new)):
            a, b = new[i] - new[j], old[i] - old[j]
            noise_ordered += a == 0 and b != 0
            discordant += a * b < 0
    return noise_ordered, discordant


def report(new: list[float], old: list[float], t_new: list[float], t_old: list[float]) -> None:
    finite = [(a, b) for a, b in zip(new, old) if math.isfinite(a)]
    undefined = len(new) - len(finite)
    tau = float(stats.kendalltau([a for a, _ in finite], [b for _, b in finite]).statistic) if len(finite) > 1 else float("nan")
    worst_abs = max((abs(a - b) for a, b in finite), default=0.0)
    worst_rel = max((abs(a - b) / max(abs(b), 1e-300) for a, b in finite), default=0.0)
    noise_ordered, discordant = pair_counts([a for a, _ in finite], [b for _, b in finite])
    print(f"kendall_tau={tau:.6f} max_abs_diff={worst_abs:.3e} max_rel_diff={worst_rel:.3e} distinct_registered={len({a for a, _ in finite})} "
          f"undefined={undefined} (old values of those: {[b for a, b in zip(new, old) if not math.isfinite(a)]})")
    print(f"pairs: discordant={discordant} tied_exactly_but_ordered_by_old_float_noise={noise_ordered} of {len(finite) * (len(finite) - 1) // 2}")
    print(f"seconds_per_arch registered={statistics.mean(t_new):.3f} old={statistics.mean(t_old):.3f} "
          f"speedup={statistics.mean(t_old) / statistics.mean(t_new):.1f}")


if __name__ == "__main__":
    main()
