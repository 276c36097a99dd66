"""The one conversion between an undefined value and JSON's ``null``.

A score is ``-inf`` where it is undefined for a network (for NASWOT: K_H singular), and a
statistic is NaN where it is undefined (constant input); JSON has neither, and SQL stores
``NULL``.  API responses, the stores, the CLI's JSON and the reports all convert here.
"""

from __future__ import annotations

import math


def json_number(value: float) -> float | None:
    """``value`` as JSON carries it: null when undefined (``-inf``, NaN or any infinity), else unchanged."""
    return value if math.isfinite(value) else None


def from_json_number(value: float | None) -> float:
    """A score back from JSON or SQL: null is ``-inf`` (undefined, ranks below every finite score)."""
    return -math.inf if value is None else float(value)


class Undefined:
    """What a pass returns for a score that is undefined on a network, with the reason a user reads.

    ``run_pass`` turns it into ``-inf`` (the one undefined value, ranking last) and keeps the reason, so a
    response can say *why* (``"undefined": "no feature map or token sequence to read"``) instead of a
    silent 0 or numerical noise.
    """

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"Undefined({self.reason!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Undefined) and other.reason == self.reason

    def __hash__(self) -> int:
        return hash(("Undefined", self.reason))


class Noted:
    """What a pass returns for a value (a float or an :class:`Undefined`) with a note the user reads beside it
    (NASWOT and SWAP: which activations their codes came from); ``run_pass_noted`` keeps the note."""

    __slots__ = ("value", "note")

    def __init__(self, value: float | Undefined, note: str) -> None:
        self.value, self.note = value, note

    def __repr__(self) -> str:
        return f"Noted({self.value!r}, {self.note!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Noted) and (other.value, other.note) == (self.value, self.note)

    def __hash__(self) -> int:
        return hash(("Noted", self.value, self.note))


#: the reason given for a value that came out NaN or infinite without a pass saying why
NOT_FINITE = "the score is not a finite number on this network (NaN or infinite)"
