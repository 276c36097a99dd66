"""The scoring side of the Ray executor: what runs inside each actor, and what its results look like on the way back.

A :class:`ScoringActor` keeps :class:`scoring.Scorer` objects warm on its device and scores chunks with
them; an error fails only its item (:func:`score_each`). Ensemble reference samples are read from (and
written to) the service's database when the actor's host reaches it.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from scoring import ArchScore, Scorer, describe_device, kernels, open_source
from searchspace import ArchitectureError, SearchSpace, get_space
from searchspace.spacefile import SpaceSource, load_space_text

from ..reference import StoredReference, reference_key
from ..store import Store, open_shared
from ..worker import is_out_of_memory

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

    def search_space(self) -> SearchSpace:
        """The space, as the actor rebuilds it: from its file's text, else the installed space of that name."""
        return load_space_text(self.space_file) if self.space_file is not None else get_space(self.space)


@dataclass(frozen=True)
class ItemFailed:
    """One architecture that could not be scored; the others of its batch are unaffected."""

    arch: str
    kind: str  # "out_of_memory", "invalid" (the architecture's network cannot be built or run), "error" or ACTOR_DIED
    message: str


Outcome = ArchScore | ItemFailed


class DataMismatch(RuntimeError):
    """The actor's copy of a data source differs from the caller's (another file on another host)."""


def score_each(scorer: Any, archs: Sequence[str], on_error: Callable[[BaseException], None]) -> list[Outcome]:
    """Every architecture's outcome in order: an exception fails only the item it happened on."""
    outcomes: list[Outcome] = []
    rest = list(archs)
    while rest:
        try:
            for result in scorer.score_many(list(rest)):
                outcomes.append(result)
                rest.pop(0)
        except Exception as exc:  # noqa: BLE001 - any failure is reported for its one item
            on_error(exc)
            kind = "out_of_memory" if is_out_of_memory(exc) else "invalid" if isinstance(exc, ArchitectureError) else "error"
            outcomes.append(ItemFailed(rest.pop(0), kind, f"{type(exc).__name__}: {exc}"))
    return outcomes


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
        self.scorer_cache = scorer_cache
        self.data_dir = data_dir
        self.download = download
        self.store_location = store
        self._store: Store | None = None
        self._store_opened = False
        self._scorers: OrderedDict[ScorerKey, Scorer] = OrderedDict()

    def describe(self) -> dict[str, Any]:
        """Where this actor runs: host, process, device, torch threads."""
        import ray

        return {
            "node": ray.util.get_node_ip_address(),
            "pid": os.getpid(),
            "device": describe_device(self.device),
            "threads": torch.get_num_threads(),
            "gram_kernel": kernels.choice(self.device).to_json(),
        }

    def cpu_seconds(self) -> float:
        """CPU time this actor's process has used: against wall time, the share of a core it got."""
        return time.process_time()

    def score(self, key: ScorerKey, archs: list[str]) -> list[Outcome]:
        """Outcomes of ``archs`` in order; a scorer that cannot be built fails every item."""
        try:
            scorer = self._scorer(key)
        except Exception as exc:  # noqa: BLE001 - reported per item to the caller
            return [ItemFailed(a, "error", f"{type(exc).__name__}: {exc}") for a in archs]
        return score_each(scorer, archs, self._recover)

    def _scorer(self, key: ScorerKey) -> Scorer:
        if key in self._scorers:
            self._scorers.move_to_end(key)
            return self._scorers[key]
        source = open_source(key.data, self.data_dir, download=self.download)
        if source.identity != key.identity:
            raise DataMismatch(f"data source {key.data!r} here is {source.identity}, the caller's is {key.identity}")
        space = key.search_space()
        scorer = Scorer(
            space, source, batch_size=key.batch_size, seed=key.seed, device=self.device, precision=key.precision, scores=key.scores,
            **self._reference_options(key, space.identity),
        )
        self._scorers[key] = scorer
        while len(self._scorers) > self.scorer_cache:
            self._scorers.popitem(last=False)
        return scorer

    def _reference_options(self, key: ScorerKey, space: str) -> dict[str, Any]:
        """Scorer arguments that keep ensemble reference samples in the service's store (none when this host cannot reach it)."""
        if not self._store_opened and self.store_location is not None:
            self._store = open_shared(self.store_location)
            self._store_opened = True
        if self._store is None:
            return {}
        reference = StoredReference(self._store, reference_key(space, key.identity, key.batch_size, key.seed, key.precision))
        return reference.scorer_options()

    def _recover(self, exc: BaseException) -> None:
        """After an out-of-memory: drop the scorers (their minibatches hold device memory)."""
        log.warning("scoring on %s failed: %s: %s", self.device, type(exc).__name__, exc)
        if is_out_of_memory(exc):
            self._scorers.clear()
            gc.collect()
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
