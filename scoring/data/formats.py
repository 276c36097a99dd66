"""Readers for the standard public image formats: CIFAR python-format folders (or their tarballs) and ``.npz`` arrays."""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np

#: folder names inside the official CIFAR python-format archives
CIFAR_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
_CIFAR_TRAIN_FILES = {"cifar10": [f"data_batch_{i}" for i in range(1, 6)], "cifar100": ["train"]}
_CIFAR_LABEL_KEYS = {"cifar10": b"labels", "cifar100": b"fine_labels"}
#: keys tried, in order, for the training images of an .npz file
NPZ_IMAGE_KEYS = ("train_x", "x_train", "images", "x")
NPZ_LABEL_KEYS = ("train_y", "y_train", "labels", "y")


def _unpickle(data: bytes, what: str) -> dict:
    try:
        obj = pickle.loads(data, encoding="bytes")
    except Exception as exc:  # pickle raises many types on corrupt input
        raise ValueError(f"{what} is not a CIFAR python-format batch: {exc}") from exc
    if not isinstance(obj, dict) or b"data" not in obj:
        raise ValueError(f"{what} is not a CIFAR python-format batch (no 'data' entry)")
    return obj


def _cifar_arrays(batches: list[tuple[str, bytes]], dataset: str) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for name, raw in batches:
        obj = _unpickle(raw, name)
        data = np.asarray(obj[b"data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise ValueError(f"{name}: expected rows of 3072 bytes, got shape {data.shape}")
        xs.append(data.reshape(-1, 3, 32, 32))
        ys.append(np.asarray(obj[_CIFAR_LABEL_KEYS[dataset]], dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys)


def read_cifar(path: Path, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """Training images (N, 3, 32, 32) uint8 and labels from a CIFAR-10/100 python-format folder or ``.tar.gz``."""
    if dataset not in CIFAR_FOLDERS:
        raise ValueError(f"unknown CIFAR dataset {dataset!r}")
    files = _CIFAR_TRAIN_FILES[dataset]
    if path.is_dir():
        missing = [f for f in files if not (path / f).is_file()]
        if missing:
            raise FileNotFoundError(f"{path} is not a {dataset} python-format folder: missing {', '.join(missing)}")
        return _cifar_arrays([(f, (path / f).read_bytes()) for f in files], dataset)
    if tarfile.is_tarfile(path):
        with tarfile.open(path) as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
            missing = [f for f in files if f not in members]
            if missing:
                raise FileNotFoundError(f"{path} does not hold a {dataset} python-format folder: missing {', '.join(missing)}")
            return _cifar_arrays([(f, tar.extractfile(members[f]).read()) for f in files], dataset)  # type: ignore[union-attr]
    raise FileNotFoundError(f"{path} is neither a {dataset} python-format folder nor its .tar.gz archive")


def _to_nchw(images: np.ndarray, what: str) -> np.ndarray:
    if images.ndim == 3:  # (N, H, W): one channel
        images = images[:, None]
    if images.ndim != 4:
        raise ValueError(f"{what}: expected images of shape (N, C, H, W) or (N, H, W, C), got {images.shape}")
    if images.shape[1] not in (1, 3, 4) and images.shape[3] in (1, 3, 4):
        images = images.transpose(0, 3, 1, 2)
    if images.dtype != np.uint8:
        if np.issubdtype(images.dtype, np.floating) and images.size and images.min() >= 0 and images.max() <= 1:
            images = np.rint(images * 255)
        images = np.clip(images, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(images)


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Training images as uint8 (N, C, H, W) under ``"images"``, plus ``"labels"``, ``"mean"``, ``"std"`` when present.

    Images are read from the first of ``train_x``, ``x_train``, ``images``, ``x``; channels-last
    arrays are transposed, float arrays in [0, 1] scaled to bytes.
    """
    if not path.is_file():
        raise FileNotFoundError(f"no such .npz file: {path}")
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise ValueError(f"{path} is not a readable .npz file: {exc}") from exc
    with archive:
        key = next((k for k in NPZ_IMAGE_KEYS if k in archive.files), None)
        if key is None:
            raise ValueError(f"{path} has no image array; expected one of {', '.join(NPZ_IMAGE_KEYS)} (found {', '.join(archive.files)})")
        out = {"images": _to_nchw(archive[key], f"{path}:{key}")}
        label_key = next((k for k in NPZ_LABEL_KEYS if k in archive.files), None)
        if label_key is not None:
            out["labels"] = np.asarray(archive[label_key]).reshape(-1)
        for k in ("mean", "std"):
            if k in archive.files:
                out[k] = np.asarray(archive[k], dtype=np.float64).reshape(-1)
    return out
