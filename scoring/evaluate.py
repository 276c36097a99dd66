"""Score architectures of a search space: seeded construction, one minibatch, named scores, cost figures.

This is the path the CLI, the service, the searches and the benchmarks share.  NASWOT alone takes
the fast path (reused networks, the next pass launched before the last score is read back); any
other set of scores runs each needed pass of :mod:`scoring.registry` once per architecture.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import torch
from torch import nn

from searchspace import ModelCost, SearchSpace
from searchspace.seeded import StackedNetworks, build_seeded

from . import measures, naswot  # noqa: F401  (measures registers the scores)
from .batched import BatchedNaswot
from .ensemble import REFERENCE_SIZE, combine, definition_name
from .data import DataSource
from .device import describe_device
from .inputs import Minibatches, cost_for
from .precision import check_precision
from .names import canonical_score, passes_for, resolve_names  # noqa: F401  (canonical_score: the package's export)
from .registry import PassValues, get_score_info, noted_values, run_pass_noted
from .record import ScoredArch
from .undefined import Noted, Undefined

__all__ = ["ScoredArch", "Scorer", "build_seeded", "canonical_score"]

log = logging.getLogger("naswot.scoring")

#: ``(networks done, networks in all)``: told when an ensemble's reference sample starts (0 done) and after each network
ReferenceProgress = Callable[[int, int], None]


class Scorer:
    """Scores architectures of one space on one fixed minibatch and device.

    The minibatch (and its labels) is drawn once from ``source`` with ``seed``; each network's
    weights are initialised from the same ``seed`` (on the CPU), so a (space, arch, source, batch
    size, seed, scores, precision) tuple always gives the same values.  ``scores`` names what to
    compute (:func:`scoring.list_scores`; ``ensemble`` or ``ensemble:a+b`` for rank ensembles); the
    first is each result's ``score``.  ``precision`` is ``exact`` unless an opt-in faster mode of
    :mod:`scoring.precision` is asked for (NASWOT only).  ``cells_per_pass`` K > 1 (spaces with a
    stacked pass, NASWOT only, opt-in) scores K cells per pass: same weights, but grouped
    convolutions may round differently, so its scores are labelled ``<mode>+batchedK``.
    """

    def __init__(
        self,
        space: SearchSpace,
        source: DataSource,
        *,
        batch_size: int = 128,
        seed: int = 0,
        device: torch.device | str = "cpu",
        precision: str = "exact",
        cells_per_pass: int = 1,
        scores: Sequence[str] | str = ("naswot",),
        reference_size: int = REFERENCE_SIZE,
        reference_cache: MutableMapping[str, list[float]] | None = None,
    ):
        self.space = space
        self.source = source
        self.batch_size = batch_size
        self.seed = seed
        self.device = torch.device(device)
        self.device_name = describe_device(self.device)
        self.mode = check_precision(precision, self.device)
        self.score_names, self.ensembles = resolve_names(scores)
        self.passes = passes_for(self.score_names, self.ensembles)
        _check_positive_int("cells_per_pass", cells_per_pass)
        _check_positive_int("reference_size", reference_size)
        if (cells_per_pass > 1 or self.mode != "exact") and not self.naswot_only:
            raise ValueError("precision modes and cells_per_pass apply to the naswot score alone")
        stacked = _stacked_networks(space, max(source.num_classes, 1), seed) if cells_per_pass > 1 else None
        self.reference_size = reference_size
        self.reference_cache = reference_cache
        self.cells_per_pass = cells_per_pass
        self.num_classes = max(source.num_classes, 1)
        self.inputs = Minibatches(space, source, batch_size, seed, self.device)
        self.x = self.inputs.native  # the data's own minibatch; each network's input is self.inputs.for_arch(arch)
        self.y = _labels_for(source, batch_size, seed, self.passes, self.device)
        self.networks = space.network_source(self.num_classes, seed, self.device, pruned=True)  # NASWOT reads codes only
        self.batched = BatchedNaswot(stacked) if stacked is not None else None
        self._reference: dict[str, list[float]] | None = None
        #: told the progress of the ensemble reference sample when this scorer has to score it (a CLI bar, a job's state)
        self.on_reference: ReferenceProgress | None = None

    @property
    def score_name(self) -> str:
        """The first requested score (each result's ``score``)."""
        return self.score_names[0]

    @property
    def naswot_only(self) -> bool:
        return self.score_names == ("naswot",)

    @property
    def precision(self) -> str:
        """The numeric mode, as cached: ``exact``, ``tf32``, ``bf16``, with ``+batchedK`` for K stacked cells per pass."""
        return self.mode if self.cells_per_pass == 1 else f"{self.mode}+batched{self.cells_per_pass}"

    def _launch(self, canonical: str) -> tuple[Noted | Undefined, float]:
        """Start scoring one architecture; its score stays on the device (no host synchronisation), noted with the
        activations read, or undefined (with the reason) when the network has none."""
        start = time.perf_counter()
        with self.networks.network(canonical) as net:
            try:
                k = naswot.kernel(net, self.inputs.for_arch(canonical), self.mode)
            except naswot.NoCodes as exc:
                return Undefined(str(exc)), start
            return Noted(naswot.log_abs_det(k), k.note), start

    def _finish(self, canonical: str, launched: Noted | Undefined, start: float) -> ScoredArch:
        if isinstance(launched, Noted):  # the one host synchronisation per architecture
            launched = Noted(naswot.undefined_if_singular(float(launched.value.item())), launched.note)
        return self._record(canonical, noted_values({"naswot": launched}), time.perf_counter() - start)

    def _record(self, canonical: str, noted: PassValues, seconds: float) -> ScoredArch:
        """The result of ``canonical``: its values by name (with their reasons and notes), its parameters and FLOPs,
        the time and this scorer's device."""
        return ScoredArch.of(
            canonical, noted.values, self._cost(canonical), seconds=seconds, device=self.device_name, reasons=noted.reasons, notes=noted.notes
        )

    def score_one(self, arch: Any) -> ScoredArch:
        canonical = self.space.canonical(arch)
        if not self.naswot_only:
            return self._score_named(canonical)
        if self.batched is not None:
            return next(self._batch([canonical]))
        return self._finish(canonical, *self._launch(canonical))

    def score_many(self, archs: Iterable[Any]) -> Iterator[ScoredArch]:
        """Scores in input order, yielded as each completes.

        The next architecture's network is built and its pass launched before the current score is
        read back, so on an asynchronous device (CUDA) construction overlaps the running pass.
        ``seconds`` is then the wall time from an architecture's start to its score being read.
        With ``cells_per_pass`` K > 1, architectures go K at a time through one stacked pass and
        ``seconds`` is each one's share of its pass.
        """
        if not self.naswot_only:
            yield from (self._score_named(self.space.canonical(arch)) for arch in archs)
            return
        if self.batched is not None:
            yield from self._score_stacked(archs)
            return
        pending: tuple[str, Noted | Undefined, float] | None = None
        for arch in archs:
            try:
                canonical = self.space.canonical(arch)
                launched = (canonical, *self._launch(canonical))
            except BaseException:
                if pending is not None:
                    yield self._finish(*pending)
                raise
            if pending is not None:
                yield self._finish(*pending)
            pending = launched
        if pending is not None:
            yield self._finish(*pending)

    def _score_stacked(self, archs: Iterable[Any]) -> Iterator[ScoredArch]:
        group: list[str] = []
        for arch in archs:
            try:
                group.append(self.space.canonical(arch))
            except BaseException:
                yield from self._batch(group)
                raise
            if len(group) == self.cells_per_pass:
                yield from self._batch(group)
                group = []
        yield from self._batch(group)

    def _batch(self, canonicals: list[str]) -> Iterator[ScoredArch]:
        if not canonicals:
            return
        assert self.batched is not None
        start = time.perf_counter()
        values, read = self.batched.scores_read(canonicals, self.x, self.mode)
        values = values.tolist()  # one host sync per pass
        seconds = (time.perf_counter() - start) / len(canonicals)
        for canonical, value, calls in zip(canonicals, values, read):
            noted = Noted(naswot.undefined_if_singular(value), naswot.codes_note(calls))
            yield self._record(canonical, noted_values({"naswot": noted}), seconds)

    def _score_named(self, canonical: str) -> ScoredArch:
        """Every requested score of one architecture: each needed pass once, then the ensembles."""
        start = time.perf_counter()
        cost = self._cost(canonical)
        noted = self._pass_values(canonical, cost.params, cost.flops)
        if self.ensembles:
            reference = self.reference()
            for spec in self.ensembles:
                noted.values[spec.name] = combine(spec, noted.values, reference)
                if undefined := [m for m in spec.members if noted.values[m] == -math.inf]:
                    noted.notes[spec.name] = f"ranked last where undefined: {', '.join(undefined)}"
        names = self.score_names
        ordered = PassValues({n: noted.values[n] for n in names}, _pick(noted.reasons, names), _pick(noted.notes, names))
        return self._record(canonical, ordered, time.perf_counter() - start)

    def _pass_values(self, canonical: str, params: int, flops: int, passes: Mapping[str, frozenset[str]] | None = None) -> PassValues:
        """The values of ``passes`` (default: every pass this scorer needs) for one architecture, with their reasons and notes."""
        probe = _ArchProbe(self, canonical, params, flops)
        out = PassValues({})
        for pass_name, wanted in (self.passes if passes is None else passes).items():
            got = run_pass_noted(pass_name, probe, wanted)
            out.values.update(got.values)
            out.reasons.update(got.reasons)
            out.notes.update(got.notes)
        return out

    def reference(self) -> dict[str, list[float]]:
        """Each ensemble member's sorted values on the seeded reference sample: computed once, then kept here
        and in ``reference_cache`` (member -> values, for this scorer's space, data, batch size and seed)."""
        if self._reference is None:
            members = sorted({m for spec in self.ensembles for m in spec.members})
            cache = self.reference_cache if self.reference_cache is not None else {}
            if not all(cache.get(m) for m in members):
                cache.update(self._score_reference(members))
            self._reference = {m: list(cache[m]) for m in members}
        return self._reference

    def _score_reference(self, members: list[str]) -> dict[str, list[float]]:
        """Score the reference sample (the space's first ``reference_size`` distinct cells drawn with the seed)
        with the members' passes alone; each member's values, sorted."""
        size = self.reference_size if self.space.size is None else min(self.reference_size, self.space.size)
        member_passes = passes_for(members, ())
        log.info("ensemble reference sample: scoring %d networks of %s with %s, once per space, data, batch size and seed (then kept)",
                 size, self.space.name, "+".join(members))
        rows: list[dict[str, float]] = []
        start = time.perf_counter()
        self._tell_reference(0, size)
        for arch in self.space.sample(size, self.seed, unique=True):
            cost = self._cost(arch)
            rows.append(self._pass_values(arch, cost.params, cost.flops, member_passes).values)
            if len(rows) == 1:
                first = time.perf_counter() - start
                log.info("ensemble reference sample: first network in %.1f s, about %.0f s for all %d", first, first * size, size)
            self._tell_reference(len(rows), size)
        log.info("ensemble reference sample: %d networks scored in %.0f s", size, time.perf_counter() - start)
        return {m: sorted(row[m] for row in rows) for m in members}

    def _tell_reference(self, done: int, size: int) -> None:
        if self.on_reference is not None:
            self.on_reference(done, size)

    def _cost(self, canonical: str) -> ModelCost:
        """Parameters and FLOPs of ``canonical``'s network at the input shape it is scored on."""
        return cost_for(self.space, self.source, canonical, self.num_classes)

    def __call__(self, archs: Iterable[Any]) -> list[ScoredArch]:
        return list(self.score_many(archs))

    def describe(self) -> dict[str, Any]:
        """The settings that determine every score this scorer returns."""
        return {
            "space": self.space.name,
            "score": self.score_name,
            "scores": [definition_name(name) for name in self.score_names],
            "precision": self.precision,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "device": self.device_name,
            "data": self.source.describe(),
        }


def value_settings(described: Mapping[str, Any]) -> dict[str, Any]:
    """The settings of :meth:`Scorer.describe` that decide its values: without the device, and the data by its
    digest rather than the path it was read from (a table made elsewhere compares equal)."""
    data = {k: v for k, v in described.get("data", {}).items() if k != "spec"}
    return {**{k: v for k, v in described.items() if k != "device"}, "data": data}


def _pick(named: Mapping[str, str], names: Sequence[str]) -> dict[str, str]:
    """The entries of ``names`` in a by-name mapping."""
    return {n: named[n] for n in names if n in named}


def _check_positive_int(name: str, value: Any) -> None:
    """ValueError naming ``name`` unless ``value`` is an integer >= 1 (a bool is not)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def _stacked_networks(space: SearchSpace, num_classes: int, seed: int) -> StackedNetworks:
    """The space's stacked-cells pass (cells_per_pass > 1); ValueError for a space without one."""
    stacked = space.stacked_networks(num_classes, seed)
    if stacked is None:
        raise ValueError(f"cells_per_pass > 1 (stacked cells) needs a space with stacked passes, such as nb201, not {space.name!r}")
    return stacked


class _ArchProbe:
    """What a pass of :mod:`scoring.registry` sees of one architecture (the ``Probe`` protocol)."""

    def __init__(self, scorer: Scorer, canonical: str, params: int, flops: int):
        self._scorer, self._canonical = scorer, canonical
        self.x, self.y, self.seed = scorer.inputs.for_arch(canonical), scorer.y, scorer.seed
        self.num_classes, self.params, self.flops = scorer.num_classes, params, flops
        self.precision = scorer.mode

    def network(self) -> nn.Module:
        s = self._scorer
        return build_seeded(s.space, self._canonical, s.num_classes, s.seed).to(s.device).train()

    def code_network(self) -> AbstractContextManager[nn.Module]:
        """The space's fastest exact network for scores that read only activation codes (use inside ``with``)."""
        return self._scorer.networks.network(self._canonical)

    def generator(self, salt: int) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed * 1_000_003 + salt)


def _labels_for(source: DataSource, batch_size: int, seed: int, passes: Mapping[str, frozenset[str]], device: torch.device) -> torch.Tensor | None:
    """The minibatch's labels on ``device`` when a wanted score needs them (ValueError when the source has none)."""
    needing = sorted(n for ns in passes.values() for n in ns if get_score_info(n).needs_labels)
    if not needing:
        return None
    y = source.labels(batch_size, seed)
    if y is None:
        raise ValueError(f"score {needing[0]!r} needs labelled data; data source {source.spec!r} has no labels")
    return y.to(device)
