"""Data source specs -> :class:`DataSource` objects.

Specs:
  ``cifar10`` / ``cifar100``          the python-format folder under the data directory (downloaded there when allowed)
  ``cifar10:PATH`` / ``cifar100:PATH`` a python-format folder, its ``.tar.gz``, or an ``.npz`` of that data set's images
  ``npz:PATH``                        any ``.npz`` of images; mean/std from the file or computed from its images
  ``noise`` / ``noise:CxHxW``         standard Gaussian inputs, reported as synthetic
  ``auto``                            ``cifar10`` when it is already on disk, else ``noise``
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from .base import DataSource, ImageArraySource, NoiseSource
from .download import ARCHIVES, fetch
from .formats import CIFAR_FOLDERS, read_cifar, read_npz

#: per-channel mean and std (in [0, 1] units) used by NAS-Bench-201 and the NASWOT authors
NORMALISATION: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "cifar10": (tuple(v / 255 for v in (125.3, 123.0, 113.9)), tuple(v / 255 for v in (63.0, 62.1, 66.7))),
    "cifar100": (tuple(v / 255 for v in (129.3, 124.1, 112.4)), tuple(v / 255 for v in (68.2, 65.4, 70.4))),
}
NUM_CLASSES = {"cifar10": 10, "cifar100": 100}


def default_data_dir() -> Path:
    """``~/.cache/naswot``: the data folder when none is given (the service and the CLI give ``$NASWOT_DATA_DIR``
    when it is set, read by ``app.settings``: the library reads no environment)."""
    return Path.home() / ".cache" / "naswot"


def _dataset_source(spec: str, dataset: str, path: Path) -> ImageArraySource:
    mean, std = NORMALISATION[dataset]
    if path.suffix == ".npz":
        arrays = read_npz(path)
        images, labels = arrays["images"], arrays.get("labels")
    else:
        images, labels = read_cifar(path, dataset)
    return ImageArraySource(spec, images, mean, std, NUM_CLASSES[dataset], labels)


def _npz_source(spec: str, path: Path) -> ImageArraySource:
    arrays = read_npz(path)
    images = arrays["images"]
    if "mean" in arrays and "std" in arrays:
        mean, std = arrays["mean"], arrays["std"]
    else:
        pixels = images.transpose(1, 0, 2, 3).reshape(images.shape[1], -1) / 255.0
        mean, std = pixels.mean(axis=1), pixels.std(axis=1)
    labels = arrays.get("labels")
    num_classes = int(labels.max()) + 1 if labels is not None and labels.size else 0
    return ImageArraySource(spec, images, mean.tolist(), np.maximum(std, 1e-6).tolist(), num_classes, labels)


def _parse_shape(text: str) -> tuple[int, int, int]:
    parts = text.lower().split("x")
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"noise shape must be CxHxW with positive integers, got {text!r}")
    return tuple(int(p) for p in parts)  # type: ignore[return-value]


def _cifar_folder(spec: str, kind: str, data_dir: Path, download: bool) -> Path:
    """The CIFAR python-format folder under ``data_dir``, fetched when allowed; FileNotFoundError saying how to provide it."""
    folder = data_dir / CIFAR_FOLDERS[kind]
    if folder.is_dir():
        return folder
    if not download:
        raise FileNotFoundError(
            f"data source {spec!r}: {folder} not found; put the python-format folder there, "
            f"give a path ({kind}:PATH), or allow downloading"
        )
    return fetch(ARCHIVES[kind], data_dir)


def _open(spec: str, data_dir: Path, download: bool) -> DataSource:
    kind, sep, arg = spec.partition(":")
    if kind == "noise":
        return NoiseSource(_parse_shape(arg)) if sep else NoiseSource()
    if kind in CIFAR_FOLDERS:
        folder = Path(arg).expanduser() if sep else _cifar_folder(spec, kind, data_dir, download)
        return _dataset_source(spec, kind, folder)
    if kind == "npz" and sep:
        return _npz_source(spec, Path(arg).expanduser())
    if kind == "auto" and not sep:
        cifar = data_dir / CIFAR_FOLDERS["cifar10"]
        return _dataset_source("cifar10", "cifar10", cifar) if cifar.is_dir() else NoiseSource()
    raise ValueError(
        f"unknown data source {spec!r}; expected cifar10, cifar100, cifar10:PATH, cifar100:PATH, npz:PATH, noise, noise:CxHxW or auto"
    )


_cache: dict[tuple[str, Path, bool], DataSource] = {}
_lock = threading.Lock()


def open_source(spec: str, data_dir: str | Path | None = None, *, download: bool = False) -> DataSource:
    """The data source named by ``spec`` (loaded once per process and reused)."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("data source spec must be a non-empty string")
    key = (spec.strip(), Path(data_dir) if data_dir is not None else default_data_dir(), download)
    with _lock:
        if key not in _cache:
            _cache[key] = _open(*key)
        return _cache[key]
