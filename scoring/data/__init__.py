"""Minibatches of real images (CIFAR-10/100 folders, ``.npz``) or labelled Gaussian noise."""

from .base import DataSource, ImageArraySource, NoiseSource
from .download import ARCHIVES, ChecksumError, RemoteArchive, fetch
from .formats import read_cifar, read_npz
from .sources import NORMALISATION, default_data_dir, open_source

__all__ = [
    "ARCHIVES",
    "ChecksumError",
    "DataSource",
    "ImageArraySource",
    "NORMALISATION",
    "NoiseSource",
    "RemoteArchive",
    "default_data_dir",
    "fetch",
    "open_source",
    "read_cifar",
    "read_npz",
]
