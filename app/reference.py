"""Ensemble reference samples kept in the store, so each is computed once per (space, data, batch size, seed).

An ensemble ranks each member score against the members' values on a seeded reference sample of
the space (:mod:`scoring.ensemble`); computing it takes minutes on a CPU. :class:`StoredReference`
is the ``reference_cache`` a :class:`scoring.Scorer` accepts, backed by the service's store: the
first scorer of a key computes and writes the sample, every later one (after a restart, on another
replica, in another Ray actor) reads it.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

from scoring import ensemble

from .store import ReferenceKey, Store


def reference_key(space: str, data: str, batch_size: int, seed: int, precision: str) -> ReferenceKey:
    """The key of a scorer's reference sample, at the sample size scorers are built with now."""
    return ReferenceKey(space, data, batch_size, seed, precision, ensemble.REFERENCE_SIZE)


class StoredReference(MutableMapping[str, list[float]]):
    """Member score -> its sorted values on the reference sample of ``key``, read from and written to ``store``."""

    def __init__(self, store: Store, key: ReferenceKey):
        self.store = store
        self.key = key

    def _members(self) -> dict[str, list[float]]:
        return self.store.get_references(self.key)

    def __getitem__(self, member: str) -> list[float]:
        return self._members()[member]

    def __setitem__(self, member: str, values: list[float]) -> None:
        self.store.put_reference(self.key, member, values)

    def __delitem__(self, member: str) -> None:
        if not self.store.delete_reference(self.key, member):
            raise KeyError(member)

    def __iter__(self) -> Iterator[str]:
        return iter(self._members())

    def __len__(self) -> int:
        return len(self._members())

    def scorer_options(self) -> dict[str, Any]:
        """The :class:`scoring.Scorer` arguments that make it use this sample: its size and this cache."""
        return {"reference_size": self.key.size, "reference_cache": self}
