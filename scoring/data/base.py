"""Data sources: where a scoring minibatch comes from, and what it is called in results."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch


class DataSource(ABC):
    """A set of training images that yields deterministic, normalised minibatches."""

    #: the spec that names this source (e.g. ``"cifar10"``, ``"npz:/data/x.npz"``, ``"noise"``)
    spec: str
    #: True for generated inputs that are not real images
    synthetic: bool
    num_classes: int
    image_shape: tuple[int, int, int]

    @property
    @abstractmethod
    def identity(self) -> str:
        """A digest of everything that determines this source's batches (contents and normalisation)."""

    @abstractmethod
    def minibatch(self, batch_size: int, seed: int) -> torch.Tensor:
        """``batch_size`` normalised float32 inputs (B, C, H, W) on the CPU; same arguments, same tensor."""

    @abstractmethod
    def labels(self, batch_size: int, seed: int) -> torch.Tensor | None:
        """The class labels (int64, B) of ``minibatch(batch_size, seed)``'s inputs, or None when the source has none."""

    def describe(self) -> dict[str, Any]:
        """What results report as the data actually used."""
        return {
            "spec": self.spec,
            "synthetic": self.synthetic,
            "identity": self.identity,
            "num_classes": self.num_classes,
            "image_shape": list(self.image_shape),
        }


def _check_batch_size(batch_size: int, available: int | None = None) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise ValueError(f"batch_size must be an integer >= 2, got {batch_size!r}")
    if available is not None and batch_size > available:
        raise ValueError(f"batch_size {batch_size} exceeds the {available} training images of the data source")


class ImageArraySource(DataSource):
    """Real images held as a uint8 array (N, C, H, W), normalised per channel with ``mean``/``std`` (in [0, 1] units)."""

    synthetic = False

    def __init__(
        self,
        spec: str,
        images: np.ndarray,
        mean: Sequence[float],
        std: Sequence[float],
        num_classes: int,
        labels: np.ndarray | None = None,
    ):
        if images.ndim != 4 or images.dtype != np.uint8:
            raise ValueError(f"images must be a uint8 array (N, C, H, W), got {images.dtype} {images.shape}")
        channels = images.shape[1]
        if len(mean) != channels or len(std) != channels:
            raise ValueError(f"mean and std need {channels} values, one per channel")
        if min(std) <= 0:
            raise ValueError("std must be positive")
        self.spec = spec
        self.images = np.ascontiguousarray(images)
        if labels is not None and len(labels) != len(images):
            raise ValueError(f"{len(labels)} labels for {len(images)} images")
        self.label_array = None if labels is None else np.ascontiguousarray(labels, dtype=np.int64)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.num_classes = int(num_classes)
        self.image_shape = tuple(int(d) for d in images.shape[1:])  # type: ignore[assignment]
        self._identity: str | None = None

    @property
    def identity(self) -> str:
        if self._identity is None:
            h = hashlib.sha256()
            h.update(repr((self.images.shape, self.mean, self.std)).encode())
            h.update(memoryview(self.images).cast("B"))
            if self.label_array is not None:  # label-dependent scores (snip, grasp, zico, ...) depend on them
                h.update(memoryview(self.label_array).cast("B"))
            self._identity = "sha256:" + h.hexdigest()
        return self._identity

    def _index(self, batch_size: int, seed: int) -> np.ndarray:
        _check_batch_size(batch_size, len(self.images))
        return np.random.default_rng(seed).choice(len(self.images), size=batch_size, replace=False)

    def labels(self, batch_size: int, seed: int) -> torch.Tensor | None:
        if self.label_array is None:
            return None
        return torch.from_numpy(self.label_array[self._index(batch_size, seed)].copy())

    def minibatch(self, batch_size: int, seed: int) -> torch.Tensor:
        index = self._index(batch_size, seed)
        x = torch.from_numpy(self.images[index]).to(torch.float32).div_(255.0)
        mean = torch.tensor(self.mean, dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(1, -1, 1, 1)
        return x.sub_(mean).div_(std)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "images": len(self.images), "mean": list(self.mean), "std": list(self.std)}


class NoiseSource(DataSource):
    """Standard Gaussian inputs: a fallback that is always reported as synthetic."""

    synthetic = True

    def __init__(self, image_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10, spec: str | None = None):
        if len(image_shape) != 3 or min(image_shape) < 1:
            raise ValueError(f"image_shape must be (C, H, W) with positive sizes, got {image_shape}")
        self.image_shape = tuple(int(d) for d in image_shape)  # type: ignore[assignment]
        self.num_classes = num_classes
        self.spec = spec or ("noise" if self.image_shape == (3, 32, 32) else "noise:" + "x".join(map(str, self.image_shape)))

    @property
    def identity(self) -> str:
        return "gaussian:" + "x".join(map(str, self.image_shape))

    def minibatch(self, batch_size: int, seed: int) -> torch.Tensor:
        _check_batch_size(batch_size)
        generator = torch.Generator().manual_seed(seed)
        return torch.randn((batch_size, *self.image_shape), generator=generator)

    def labels(self, batch_size: int, seed: int) -> torch.Tensor:
        """Uniform random labels drawn from ``seed`` (the noise is labelled synthetic data)."""
        _check_batch_size(batch_size)
        generator = torch.Generator().manual_seed(seed + 1)
        return torch.randint(0, max(self.num_classes, 1), (batch_size,), generator=generator)
