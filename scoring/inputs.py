"""The minibatch a space's networks see: the data's own, or resized to each architecture's input resolution.

A space whose networks take any resolution (``fixed_resolution`` False: every benchmark space) sees the
data source's minibatch unchanged, so its scores stay bit-identical.  A space with a fixed resolution
(per architecture in ``ofa-mbv3``) gets the minibatch at that resolution: native when the data already
has it, else resized.

Resizing is ``torch.nn.functional.interpolate`` (bilinear, ``align_corners=False``, antialias on) of the
*normalised* float32 batch, on the CPU, before it moves to the device.  Bilinear weights sum to one, so
resizing commutes with the per-channel affine normalisation: resizing the normalised batch equals
normalising the resized image, up to float rounding, without rounding the resized image back to bytes;
and it works for every source alike (Gaussian noise has no byte form).  CPU interpolation makes the
inputs, and so the scores, the same on every device.  Resized batches are kept per (source, batch size,
seed, shape), so scoring many architectures at one resolution resizes once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import torch
import torch.nn.functional as F

from searchspace import ModelCost, SearchSpace

from .data import DataSource

#: resized CPU batches kept (least recently used dropped first); ofa-mbv3 has 25 resolutions
RESIZED_CACHE_SIZE = 8
#: and their bytes at most (the newest is always kept): 8 batches of 128 images at 224x224 would hold 616 MB for a whole search
RESIZED_CACHE_BYTES = 64 * 2**20

_resized: OrderedDict[tuple[Any, ...], torch.Tensor] = OrderedDict()
_lock = threading.Lock()


class InputMismatch(ValueError):
    """A space and a data source that cannot be paired; ``fields`` names the request fields involved."""

    fields = ("space", "data")


def check_pairing(space: SearchSpace, source: DataSource) -> None:
    """InputMismatch unless ``source``'s images can feed ``space``'s networks (same channel count; resolution is resized)."""
    wanted, have = space.input_shape[0], source.image_shape[0]
    if wanted != have:
        shape = "x".join(map(str, source.image_shape))
        raise InputMismatch(
            f"space {space.name!r} takes {wanted}-channel inputs, but data source {source.spec!r} holds {have}-channel "
            f"images ({shape}); channel counts are never converted: choose data with {wanted} channels"
        )


def input_shape_for(space: SearchSpace, source: DataSource, canonical: str) -> tuple[int, int, int]:
    """The input shape (C, H, W) ``canonical``'s network sees: its own resolution for a fixed-resolution space, else the data's."""
    if space.fixed_resolution:
        return space.input_shape_of(canonical)
    return source.image_shape


def cost_for(space: SearchSpace, source: DataSource, arch: Any, num_classes: int) -> ModelCost:
    """Parameters and FLOPs of ``arch``'s network at the input shape it is scored on with ``source``."""
    canonical = space.canonical(arch)
    return space.cost(canonical, num_classes, input_shape_for(space, source, canonical)[1:])


def resize(x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """``x`` (B, C, H, W) at ``hw`` by antialiased bilinear interpolation (``x`` itself when already that size)."""
    if tuple(x.shape[2:]) == tuple(hw):
        return x
    return F.interpolate(x, size=tuple(hw), mode="bilinear", align_corners=False, antialias=True)


def resized_minibatch(source: DataSource, batch_size: int, seed: int, hw: tuple[int, int]) -> torch.Tensor:
    """``source.minibatch(batch_size, seed)`` at ``hw`` on the CPU, computed once per (source, batch size, seed, shape) while
    it stays among the :data:`RESIZED_CACHE_SIZE` most recent that fit :data:`RESIZED_CACHE_BYTES`."""
    key = (source.identity, batch_size, seed, tuple(hw))
    with _lock:
        if key in _resized:
            _resized.move_to_end(key)
            return _resized[key]
    x = resize(source.minibatch(batch_size, seed), hw)
    with _lock:
        _resized[key] = x
        while len(_resized) > RESIZED_CACHE_SIZE or (len(_resized) > 1 and _resized_bytes() > RESIZED_CACHE_BYTES):
            _resized.popitem(last=False)
    return x


def _resized_bytes() -> int:
    return sum(t.numel() * t.element_size() for t in _resized.values())


class Minibatches:
    """One scorer's minibatch on its device, at each input shape its space asks for.

    ``native`` is the source's minibatch as drawn; :meth:`for_arch` gives an architecture's input.
    Pairing is checked on construction (InputMismatch for data the space cannot take).
    """

    def __init__(self, space: SearchSpace, source: DataSource, batch_size: int, seed: int, device: torch.device):
        check_pairing(space, source)
        self.space, self.source, self.batch_size, self.seed, self.device = space, source, batch_size, seed, device
        self.native = source.minibatch(batch_size, seed).to(device)
        self._last: tuple[tuple[int, int], torch.Tensor] | None = None  # the last resized batch, on the device

    def shape_of(self, canonical: str) -> tuple[int, int, int]:
        """The input shape of ``canonical``'s network."""
        return input_shape_for(self.space, self.source, canonical)

    def for_arch(self, canonical: str) -> torch.Tensor:
        """The minibatch ``canonical``'s network sees, on the device."""
        hw = self.shape_of(canonical)[1:]
        if tuple(hw) == tuple(self.native.shape[2:]):
            return self.native
        if self._last is None or self._last[0] != hw:
            self._last = (hw, resized_minibatch(self.source, self.batch_size, self.seed, hw).to(self.device))
        return self._last[1]
