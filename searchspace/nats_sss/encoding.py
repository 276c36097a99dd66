"""NATS-Bench size-space encodings: the benchmark's channel string ``"c1:c2:c3:c4:c5"`` and 5-int sequences.

Each of the five channel counts is one of 8, 16, ..., 64.  The benchmark numbers its 32,768
configurations in the order of :func:`index_of` (the last count varies fastest), which is also
the order :meth:`NATSSizeSpace.enumerate` lists them in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import EncodingError

CHANNELS: tuple[int, ...] = (8, 16, 24, 32, 40, 48, 56, 64)
NUM_LAYERS = 5

Channels = tuple[int, int, int, int, int]

_HINT = f"expected one of {', '.join(map(str, CHANNELS))}"


def to_string(channels: Sequence[int]) -> str:
    """Canonical channel string of five channel counts."""
    return ":".join(str(c) for c in channels)


def parse_string(text: str) -> Channels:
    """Parse ``"c1:c2:c3:c4:c5"``; errors name the bad token and its character offset."""
    stripped = text.strip()
    offset = len(text) - len(text.lstrip())
    if not stripped:
        raise EncodingError("empty channel string", hint="write five channel counts as c1:c2:c3:c4:c5")
    tokens = stripped.split(":")
    if len(tokens) != NUM_LAYERS:
        raise EncodingError(
            f"expected {NUM_LAYERS} channel counts separated by ':', found {len(tokens)}", token=stripped, position=offset
        )
    values = []
    pos = offset
    for layer, token in enumerate(tokens, start=1):
        where = f"character {pos} (channel count {layer})"
        if not (token.isascii() and token.isdigit() and len(token) <= 6):
            raise EncodingError("channel count must be a positive integer", token=token, position=where, hint=_HINT)
        if int(token) not in CHANNELS:
            raise EncodingError("channel count not in the space", token=token, position=where, hint=_HINT)
        values.append(int(token))
        pos += len(token) + 1
    return tuple(values)  # type: ignore[return-value]


def parse_sequence(values: Sequence[Any]) -> Channels:
    """Validate a sequence of five channel counts."""
    if len(values) != NUM_LAYERS:
        raise EncodingError(f"expected {NUM_LAYERS} channel counts, found {len(values)}", token=list(values))
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int) or v not in CHANNELS:
            raise EncodingError("channel count not in the space", token=v, position=f"element {i}", hint=_HINT)
    return tuple(int(v) for v in values)  # type: ignore[return-value]


def parse(arch: Any) -> Channels:
    """Any accepted encoding (channel string or sequence of five ints) -> five channel counts."""
    if isinstance(arch, str):
        return parse_string(arch)
    if isinstance(arch, Sequence) and not isinstance(arch, (bytes, bytearray)):
        return parse_sequence(arch)
    raise EncodingError("expected a channel string 'c1:c2:c3:c4:c5' or a list of 5 integers", token=arch)


def index_of(channels: Sequence[int]) -> int:
    """The benchmark's architecture index (0..32767) of a configuration."""
    index = 0
    for c in channels:
        index = index * len(CHANNELS) + CHANNELS.index(c)
    return index


def from_index(index: int) -> Channels:
    """The configuration with the benchmark's architecture index ``index``."""
    if not 0 <= index < len(CHANNELS) ** NUM_LAYERS:
        raise EncodingError("architecture index out of range", token=index, hint=f"expected 0..{len(CHANNELS) ** NUM_LAYERS - 1}")
    digits = []
    for _ in range(NUM_LAYERS):
        index, d = divmod(index, len(CHANNELS))
        digits.append(CHANNELS[d])
    return tuple(reversed(digits))  # type: ignore[return-value]
