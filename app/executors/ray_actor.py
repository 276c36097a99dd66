"""The scoring side of the Ray executor: what runs inside each actor, and what its results look like on the way back.

A :class:`ScoringActor` keeps :class:`scoring.Scorer` objects warm on its device in the same
:class:`~app.service.scorers.ScorerCache` a local device worker uses (with its recovery after an out-of-memory),
builds them with the same factories, and scores chunks with :func:`~app.service.scorers.score_each`: an error fails
only its item (:func:`chunk_outcomes`). Ensemble reference samples are read from (and written to) the
service's database when the actor's host reaches it.  A key whose only score is ``latency_ms`` gets a
:class:`scoring.LatencyMeter` on the actor's device instead: the actor times the networks, and each figure
carries the actor's own device identity.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from scoring import LATENCY, LatencyMeter, ScoredArch, describe_device, device_identity, kernels, open_source
from searchspace import ArchitectureError, SearchSpace, get_space
from searchspace.spacefile import SpaceSource, load_space_text

from app.service.scorers import (
    ScorerCache, ScorerFactory, ScorerLike, ScoreSpec, default_scorer_factory, is_out_of_memory, score_each, stored_scorer_factory,
)
from app.store import Store, open_shared

log = logging.getLogger("naswot.ray")

#: the error kind of an item whose actor died twice while holding it
ACTOR_DIED = "actor_died"
#: the error kind of an item withdrawn before an actor began it (its search was cancelled)
WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class ScorerKey:
    """What determines a score apart from the architecture, in a form that travels to another process."""

    space: str
    data: str  # the source's spec, opened by the actor
    identity: str  # the digest the actor's copy of the data must have
    batch_size: int
    seed: int
    precision: str = "exact"
    scores: tuple[str, ...] = ("naswot",)  # the scores each result carries (names as scoring.list_scores)
    space_file: SpaceSource | None = None  # a space file's text, which the actor loads (its builder imported there)
    max_params: int | None = None  # the space's limit here (NASWOT_MAX_PARAMS for a space not built in)

    def search_space(self) -> SearchSpace:
        """The space, as the actor rebuilds it: from its file's text, else the installed space of that name; with its limit."""
        space = load_space_text(self.space_file) if self.space_file is not None else get_space(self.space)
        space.max_params = self.max_params
        return space


@dataclass(frozen=True)
class ItemFailed:
    """One architecture that could not be scored; the others of its batch are unaffected."""

    arch: str
    kind: str  # "out_of_memory", "invalid" (the architecture's network cannot be built or run), "error" or ACTOR_DIED
    message: str


Outcome = ScoredArch | ItemFailed


class DataMismatch(RuntimeError):
    """The actor's copy of a data source differs from the caller's (another file on another host)."""


def failure(arch: str, exc: BaseException) -> ItemFailed:
    """How an actor reports the exception that failed ``arch``."""
    kind = "out_of_memory" if is_out_of_memory(exc) else "invalid" if isinstance(exc, ArchitectureError) else "error"
    return ItemFailed(arch, kind, f"{type(exc).__name__}: {exc}")


def chunk_outcomes(scorer: ScorerLike, archs: Sequence[str], recover: Callable[[BaseException], None]) -> list[Outcome]:
    """Every architecture's outcome in order: an exception fails only the item it happened on (see :func:`score_each`)."""
    return [failure(arch, o) if isinstance(o, BaseException) else o for arch, o in score_each(scorer, archs, recover)]


class ScoringActor:
    """Runs inside a Ray actor: builds and keeps scorers on its device and scores chunks with them."""

    def __init__(
        self, device: str, threads: int | None, scorer_cache: int, data_dir: str | None, download: bool, store: str | None = None,
        gram_kernel: str = "auto",
    ):
        if threads:
            torch.set_num_threads(threads)
        kernels.configure(gram_kernel)
        self.device = torch.device(device)
        self.data_dir = data_dir
        self.download = download
        self.store_location = store
        self._factory: ScorerFactory | None = None
        self.scorers: ScorerCache[ScorerKey] = ScorerCache(self.device, self._build, scorer_cache)

    def describe(self) -> dict[str, Any]:
        """Where this actor runs: host, process, device, torch threads."""
        import ray

        return {
            "node": ray.util.get_node_ip_address(),
            "pid": os.getpid(),
            "device": describe_device(self.device),
            "threads": torch.get_num_threads(),
            "gram_kernel": kernels.choice(self.device).to_json(),
            "latency_device": device_identity(self.device, torch.get_num_threads()),
        }

    def cpu_seconds(self) -> float:
        """CPU time this actor's process has used: against wall time, the share of a core it got."""
        return time.process_time()

    def score(self, key: ScorerKey, archs: list[str]) -> list[Outcome]:
        """Outcomes of ``archs`` in order; a scorer that cannot be built fails every item."""
        try:
            scorer = self.scorers.get(key)
        except Exception as exc:  # noqa: BLE001 - reported per item to the caller
            return [ItemFailed(a, "error", f"{type(exc).__name__}: {exc}") for a in archs]
        return chunk_outcomes(scorer, archs, self.scorers.recover)

    def _build(self, key: ScorerKey) -> ScorerLike:
        """A scorer for ``key``, built as a local device worker builds one, from the actor's own copy of the data."""
        source = open_source(key.data, self.data_dir, download=self.download)
        if source.identity != key.identity:
            raise DataMismatch(f"data source {key.data!r} here is {source.identity}, the caller's is {key.identity}")
        if key.scores == (LATENCY,):  # a latency measurement: the batch is the timed batch, threads the actor's own
            return LatencyMeter(key.search_space(), source, self.device, batch=key.batch_size)
        spec = ScoreSpec(key.search_space(), source, key.batch_size, key.seed, key.precision).joint(key.scores)
        return self._scorer_factory()(spec, self.device)

    def _scorer_factory(self) -> ScorerFactory:
        """Scorers that keep ensemble reference samples in the service's store (plain ones when this host cannot reach it)."""
        if self._factory is None:
            store: Store | None = open_shared(self.store_location) if self.store_location is not None else None
            self._factory = default_scorer_factory if store is None else stored_scorer_factory(store)
        return self._factory
