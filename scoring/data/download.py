"""Optional download of the public CIFAR archives into a cache folder, verified by checksum."""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RemoteArchive:
    """A published ``.tar.gz`` with its MD5 (as its publisher lists it) and the folder it unpacks to."""

    url: str
    md5: str
    folder: str


#: The datasets' public home (University of Toronto) and the checksums published with them.
ARCHIVES: dict[str, RemoteArchive] = {
    "cifar10": RemoteArchive(
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a", "cifar-10-batches-py"
    ),
    "cifar100": RemoteArchive(
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85", "cifar-100-python"
    ),
}


class ChecksumError(RuntimeError):
    """A downloaded file does not match its published checksum."""


def _file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _safe_extract(tar: tarfile.TarFile, dest: Path) -> None:
    root = dest.resolve()
    for member in tar.getmembers():
        target = (dest / member.name).resolve()
        if not (member.isfile() or member.isdir()) or root not in (target, *target.parents):
            raise ValueError(f"refusing to extract unsafe archive member {member.name!r}")
    tar.extractall(dest)


def fetch(archive: RemoteArchive, cache_dir: Path, *, timeout: float = 60.0) -> Path:
    """Download and unpack ``archive`` into ``cache_dir`` unless already there; return the unpacked folder.

    The download goes to a temporary file, is checked against the MD5, and the folder appears
    atomically, so an interrupted or corrupt download never leaves a half-written data set.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    final = cache_dir / archive.folder
    if final.is_dir():
        return final
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".download-") as tmp:
        tmp_path = Path(tmp)
        tarball = tmp_path / "archive.tar.gz"
        with urllib.request.urlopen(archive.url, timeout=timeout) as response, tarball.open("wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
        actual = _file_md5(tarball)
        if actual != archive.md5:
            raise ChecksumError(f"{archive.url}: MD5 {actual} does not match the published {archive.md5}")
        unpacked = tmp_path / "unpacked"
        with tarfile.open(tarball) as tar:
            _safe_extract(tar, unpacked)
        source = unpacked / archive.folder
        if not source.is_dir():
            raise ValueError(f"{archive.url} does not contain the folder {archive.folder!r}")
        try:
            os.replace(source, final)
        except OSError:
            if not final.is_dir():  # another process may have won the race
                raise
    return final
