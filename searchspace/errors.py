"""The one error type every space raises for a bad architecture encoding, and the check its readers share."""

from __future__ import annotations

from collections.abc import Sequence


class EncodingError(ValueError):
    """An architecture encoding that a space cannot accept.

    ``reason`` says what is wrong, ``token`` is the offending piece of the input (when
    there is one) and ``position`` locates it: a character offset for text encodings, an
    element index for sequences, or a dotted path for structured ones.  ``hint`` says
    what would have been accepted.
    """

    def __init__(self, reason: str, *, token: object = None, position: int | str | None = None, hint: str | None = None):
        self.reason = reason
        self.token = token
        self.position = position
        self.hint = hint
        message = reason
        if token is not None:
            message += f" {token!r}"
        if position is not None:
            message += f" at {position}"
        if hint:
            message += f"; {hint}"
        super().__init__(message)


def is_sequence(value: object) -> bool:
    """A list-like part of an encoding: a sequence that is not text (a string is a sequence too)."""
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


class ArchitectureError(ValueError):
    """One architecture whose network cannot be built or run (a space file's builder failed on it, or it is too large).

    Only that architecture fails: the service answers 422 naming its index and this message.
    """
