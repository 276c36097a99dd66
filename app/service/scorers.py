"""Scorers as a device worker keeps them: what determines a score, how a scorer is built, and how it fails.

:class:`ScorerCache` holds the warm scorers of one device (each keeps its minibatch there), least recently
used dropped first, and is the one recovery path after a failure: an out-of-memory drops them all and
frees the device's cached memory. :func:`score_each` scores a list so that an error fails only the item
it happened on. The local device workers and the Ray actors both use these two.
"""

from __future__ import annotations

import ctypes
import gc
import itertools
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Generic, Protocol, TypeVar

import torch

from scoring import ScoredArch, DataSource, Scorer, describe_device
from searchspace import SearchSpace

from app.service.reference import StoredReference, reference_key
from app.store import CacheKey, ReferenceKey, Store

log = logging.getLogger("naswot.worker")


class ScorerLike(Protocol):
    def score_many(self, archs: Iterable[str]) -> Iterator[ScoredArch]: ...


@dataclass(frozen=True, eq=False)
class ScoreSpec:
    """What determines a score apart from the architecture (and the device that computes it)."""

    space: SearchSpace
    source: DataSource
    batch_size: int
    seed: int
    precision: str = "exact"
    #: the canonical name of the score (see scoring.list_scores; ensembles as ``ensemble`` or ``ensemble:a+b``)
    score: str = "naswot"
    #: further scores a scorer built from this spec computes in the same passes (a joint batch; never cached under ``score``)
    also: tuple[str, ...] = ()

    @property
    def scores(self) -> tuple[str, ...]:
        """Every score a scorer for this spec computes, ``score`` first."""
        return (self.score, *self.also)

    @property
    def settings_key(self) -> tuple[str, str, str, int, int, str]:
        """What a scorer shares apart from its score names: tasks alike in this may be scored jointly."""
        return (self.space.identity, self.source.spec, self.source.identity, self.batch_size, self.seed, self.precision)

    @property
    def scorer_key(self) -> tuple[Any, ...]:
        return (*self.settings_key, self.scores)

    def joint(self, scores: Sequence[str]) -> ScoreSpec:
        """The same settings with ``scores`` (first as ``score``, the rest ``also``), for one scorer of several scores."""
        return replace(self, score=scores[0], also=tuple(scores[1:]))

    @cached_property
    def cache_key(self) -> CacheKey:
        """Where ``score``'s values are cached (built once per spec: the dispatcher reads it for every architecture)."""
        return CacheKey.for_score(self.space.identity, self.source.identity, self.batch_size, self.seed, self.score, self.precision)

    @property
    def reference_key(self) -> ReferenceKey:
        """Where the ensemble reference sample of this spec's scorers is stored."""
        return reference_key(self.space.identity, self.source.identity, self.batch_size, self.seed, self.precision)

    @property
    def num_classes(self) -> int:
        return max(self.source.num_classes, 1)


#: (spec, device) -> a scorer for that spec on that device; the default is :class:`scoring.Scorer`
ScorerFactory = Callable[[ScoreSpec, torch.device], ScorerLike]


def default_scorer_factory(spec: ScoreSpec, device: torch.device, **options: Any) -> ScorerLike:
    """A :class:`scoring.Scorer` for ``spec`` on ``device`` (``options``: further Scorer arguments)."""
    return Scorer(
        spec.space, spec.source, batch_size=spec.batch_size, seed=spec.seed, device=device, precision=spec.precision, scores=spec.scores,
        **options,
    )


def stored_scorer_factory(store: Store) -> ScorerFactory:
    """Scorers that read each ensemble reference sample from ``store`` (computing and storing it only when absent)."""

    def factory(spec: ScoreSpec, device: torch.device) -> ScorerLike:
        reference = StoredReference(store, spec.reference_key)
        return default_scorer_factory(spec, device, **reference.scorer_options())

    return factory


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA (or CPU allocator) out-of-memory, however torch reported it."""
    return isinstance(exc, torch.cuda.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
    )


K = TypeVar("K")


class ScorerCache(Generic[K]):
    """The warm scorers of one device, at most ``size``, built by ``build(spec)`` and found by ``key(spec)``."""

    def __init__(self, device: torch.device, build: Callable[[K], ScorerLike], size: int, key: Callable[[K], Hashable] = lambda spec: spec):
        self.device = device
        self.name = describe_device(device)
        self.size = size
        self._build = build
        self._key = key
        self._scorers: OrderedDict[Hashable, ScorerLike] = OrderedDict()

    def __len__(self) -> int:
        return len(self._scorers)

    def get(self, spec: K) -> ScorerLike:
        """The scorer of ``spec``, built on a miss (the least recently used one dropped past ``size``); a build that
        fails is recovered from (see :meth:`recover`) and raised."""
        key = self._key(spec)
        if key in self._scorers:
            self._scorers.move_to_end(key)
            return self._scorers[key]
        try:
            scorer = self._build(spec)
        except Exception as exc:
            self.recover(exc)
            raise
        self._scorers[key] = scorer
        while len(self._scorers) > self.size:
            self._scorers.popitem(last=False)
        return scorer

    def recover(self, exc: BaseException) -> None:
        """After a failure: on an out-of-memory, drop the scorers (their minibatches hold device memory) and release
        the device's cached memory, so the next request has it."""
        log.warning("scoring on %s failed: %s: %s", self.name, type(exc).__name__, exc)
        if is_out_of_memory(exc):
            self._scorers.clear()
            gc.collect()
            if self.device.type == "cuda":
                torch.cuda.empty_cache()


class HeapTrim:
    """Gives the C heap's free pages back to the system (glibc ``malloc_trim``), at most every ``every`` seconds.

    Scoring frees each network's activations, of a different size for every architecture and resolution; glibc
    keeps the freed pages resident, so a long CPU search's memory climbed (issue 31: 0.4 to 1.9 GB over an ofa-mbv3
    search) with no object alive. Trimming once a second costs milliseconds; elsewhere than glibc it does nothing.
    """

    def __init__(self, every: float = 1.0):
        self.every = every
        self._last = 0.0
        try:
            self._trim: Callable[[int], int] | None = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            self._trim = None

    def __call__(self) -> None:
        now = time.monotonic()
        if self._trim is not None and now - self._last >= self.every:
            self._last = now
            self._trim(0)


#: the process's trimmer: every worker, actor and CLI search scores through :func:`score_each`
trim_heap = HeapTrim()


def score_each(
    scorer: ScorerLike, archs: Iterable[str], recover: Callable[[BaseException], None]
) -> Iterator[tuple[str, ScoredArch | BaseException]]:
    """Each architecture with its score or the exception that failed it, in input order, as each lands.

    ``archs`` is read lazily, as the scorer asks for the next one, so a feed that stops early (a worker that yields
    the device to another request) ends the batch after the items it gave, with nothing computed in vain.
    An exception fails only the item it happened on (``recover`` is told of it first); the items after it are
    then scored one at a time, so a second bad architecture fails alone too. Freed memory goes back to the system
    as they land (:data:`trim_heap`).
    """
    for arch, outcome in _score_each(scorer, archs, recover):
        trim_heap()
        yield arch, outcome


def _score_each(
    scorer: ScorerLike, archs: Iterable[str], recover: Callable[[BaseException], None]
) -> Iterator[tuple[str, ScoredArch | BaseException]]:
    feed = iter(archs)
    handed: deque[str] = deque()  # given to the scorer, not yet scored

    def handing() -> Iterator[str]:
        for arch in feed:
            handed.append(arch)
            yield arch

    try:
        for result in scorer.score_many(handing()):
            yield handed.popleft(), result
        return
    except Exception as exc:  # noqa: BLE001 - any failure is reported for its one item
        recover(exc)
        if handed:
            yield handed.popleft(), exc
    for arch in itertools.chain(list(handed), feed):
        yield arch, _score_one(scorer, arch, recover)


def _score_one(scorer: ScorerLike, arch: str, recover: Callable[[BaseException], None]) -> ScoredArch | BaseException:
    try:
        return next(iter(scorer.score_many([arch])))
    except Exception as exc:  # noqa: BLE001 - reported for this item
        recover(exc)
        return exc
