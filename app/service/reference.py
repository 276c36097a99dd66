"""Ensemble reference samples kept in the store, so each is computed once per (space, data, batch size, seed).

An ensemble ranks each member score against the members' values on a seeded reference sample of
the space (:mod:`scoring.ensemble`); computing it takes minutes on a CPU. :class:`StoredReference`
is the ``reference_cache`` a :class:`scoring.Scorer` accepts, backed by the service's store: the
first scorer of a key computes and writes the sample, every later one (after a restart, on another
replica, in another Ray actor) reads it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, MutableMapping
from typing import Any

from scoring import definition_name, ensemble

from app.store import ReferenceKey, Store, StoreError

log = logging.getLogger("naswot.reference")


def reference_key(space: str, data: str, batch_size: int, seed: int, precision: str) -> ReferenceKey:
    """The key of a scorer's reference sample, at the sample size scorers are built with now."""
    return ReferenceKey(space, data, batch_size, seed, precision, ensemble.REFERENCE_SIZE)


class StoredReference(MutableMapping[str, list[float]]):
    """Member score -> its sorted values on the reference sample of ``key``, read from and written to ``store``.

    Members are stored under their definition names (:func:`scoring.definition_name`), so a sample scored
    under an earlier definition of a member is not used. What this mapping wrote it also keeps itself, so a
    sample computed while the database refused the write (locked, unreachable) still serves its scorer; the
    next scorer of the key then computes it again.
    """

    def __init__(self, store: Store, key: ReferenceKey):
        self.store = store
        self.key = key
        self._written: dict[str, list[float]] = {}

    def _members(self) -> dict[str, list[float]]:
        stored = self.store.get_references(self.key)
        current = {member: stored[name] for name in stored if (member := _current_member(name)) is not None}
        return {**current, **self._written}

    def __getitem__(self, member: str) -> list[float]:
        if member in self._written:
            return self._written[member]
        return self.store.get_references(self.key)[definition_name(member)]

    def __setitem__(self, member: str, values: list[float]) -> None:
        self._written[member] = list(values)
        try:
            self.store.put_reference(self.key, definition_name(member), values)
        except StoreError as exc:
            log.warning("could not store the %s reference sample of %s: %s", member, self.key, exc)

    def __delitem__(self, member: str) -> None:
        kept = self._written.pop(member, None) is not None
        if not self.store.delete_reference(self.key, definition_name(member)) and not kept:
            raise KeyError(member)

    def __iter__(self) -> Iterator[str]:
        return iter(self._members())

    def __len__(self) -> int:
        return len(self._members())

    def scorer_options(self) -> dict[str, Any]:
        """The :class:`scoring.Scorer` arguments that make it use this sample: its size and this cache."""
        return {"reference_size": self.key.size, "reference_cache": self}


def _current_member(stored_name: str) -> str | None:
    """The score a stored member name holds values of, None when they are of an earlier definition (or no score)."""
    name = stored_name.partition("@")[0]
    try:
        return name if definition_name(name) == stored_name else None
    except (KeyError, ValueError):
        return None
