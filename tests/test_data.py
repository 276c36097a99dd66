import hashlib
import http.server
import io
import pickle
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from scoring.data import (
    ARCHIVES,
    ChecksumError,
    ImageArraySource,
    NoiseSource,
    RemoteArchive,
    fetch,
    open_source,
    read_cifar,
    read_npz,
)
from scoring.data.sources import NORMALISATION


def _cifar10_batches(n_per_batch: int = 6, seed: int = 0) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)
    files = {}
    for i in range(1, 6):
        data = rng.integers(0, 256, size=(n_per_batch, 3072), dtype=np.uint8)
        files[f"data_batch_{i}"] = pickle.dumps({b"data": data, b"labels": list(rng.integers(0, 10, n_per_batch))})
    files["test_batch"] = files["data_batch_1"]
    return files


def _write_folder(root: Path, files: dict[str, bytes]) -> Path:
    root.mkdir(parents=True)
    for name, raw in files.items():
        (root / name).write_bytes(raw)
    return root


def _tarball(folder_name: str, files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, raw in files.items():
            info = tarfile.TarInfo(f"{folder_name}/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return buf.getvalue()


def test_cifar_folder_and_tarball_read_the_same_images(tmp_path):
    files = _cifar10_batches()
    folder = _write_folder(tmp_path / "cifar-10-batches-py", files)
    x, y = read_cifar(folder, "cifar10")
    assert x.shape == (30, 3, 32, 32) and x.dtype == np.uint8 and y.shape == (30,)
    first = pickle.loads(files["data_batch_1"])[b"data"][0]
    np.testing.assert_array_equal(x[0].reshape(-1), first)
    tgz = tmp_path / "cifar-10-python.tar.gz"
    tgz.write_bytes(_tarball("cifar-10-batches-py", files))
    x2, y2 = read_cifar(tgz, "cifar10")
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)


def test_cifar100_folder(tmp_path):
    data = np.arange(4 * 3072, dtype=np.uint64).astype(np.uint8).reshape(4, 3072)
    folder = _write_folder(tmp_path / "c100", {"train": pickle.dumps({b"data": data, b"fine_labels": [1, 2, 3, 99]})})
    source = open_source(f"cifar100:{folder}")
    assert source.num_classes == 100 and source.describe()["mean"] == list(NORMALISATION["cifar100"][0])
    assert source.minibatch(4, 0).shape == (4, 3, 32, 32)


def test_bad_cifar_inputs_are_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing data_batch_1"):
        read_cifar(tmp_path, "cifar10")
    (tmp_path / "junk").write_bytes(b"not a tarball")
    with pytest.raises(FileNotFoundError, match="neither"):
        read_cifar(tmp_path / "junk", "cifar10")
    bad = _write_folder(tmp_path / "bad", {f"data_batch_{i}": b"garbage" for i in range(1, 6)})
    with pytest.raises(ValueError, match="not a CIFAR python-format batch"):
        read_cifar(bad, "cifar10")


def test_npz_accepts_channels_first_and_last(tmp_path):
    rng = np.random.default_rng(0)
    nchw = rng.integers(0, 256, size=(10, 3, 8, 8), dtype=np.uint8)
    np.savez(tmp_path / "a.npz", train_x=nchw, train_y=np.arange(10) % 4)
    np.savez(tmp_path / "b.npz", x_train=nchw.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(read_npz(tmp_path / "a.npz")["images"], nchw)
    np.testing.assert_array_equal(read_npz(tmp_path / "b.npz")["images"], nchw)
    source = open_source(f"npz:{tmp_path / 'a.npz'}")
    assert source.num_classes == 4 and source.image_shape == (3, 8, 8)
    # statistics computed from the file's own images
    x = source.minibatch(10, 0)
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    np.savez(tmp_path / "c.npz", labels=np.arange(3))
    with pytest.raises(ValueError, match="no image array"):
        read_npz(tmp_path / "c.npz")
    with pytest.raises(FileNotFoundError):
        read_npz(tmp_path / "missing.npz")


def test_minibatch_is_deterministic_normalised_and_drawn_without_repeats():
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(50, 3, 4, 4), dtype=np.uint8)
    images[:, 0] = np.arange(50)[:, None, None]  # channel 0 identifies the image
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    source = ImageArraySource("test", images, mean, std, num_classes=10)
    a, b, c = source.minibatch(20, 1), source.minibatch(20, 1), source.minibatch(20, 2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    ids = torch.round((a[:, 0, 0, 0] * std[0] + mean[0]) * 255).long()
    assert len(set(ids.tolist())) == 20
    first = int(ids[0])
    expected = (torch.from_numpy(images[first]).float() / 255 - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    assert torch.allclose(a[0], expected, atol=1e-6)
    with pytest.raises(ValueError, match="exceeds the 50"):
        source.minibatch(51, 0)
    with pytest.raises(ValueError, match="batch_size"):
        source.minibatch(1, 0)


def test_identity_depends_on_contents_and_normalisation():
    images = np.zeros((4, 3, 2, 2), dtype=np.uint8)
    a = ImageArraySource("a", images, (0.5,) * 3, (0.2,) * 3, 10)
    b = ImageArraySource("b", images.copy(), (0.5,) * 3, (0.2,) * 3, 10)
    c = ImageArraySource("a", images, (0.4,) * 3, (0.2,) * 3, 10)
    images2 = images.copy()
    images2[0, 0, 0, 0] = 1
    d = ImageArraySource("a", images2, (0.5,) * 3, (0.2,) * 3, 10)
    assert a.identity == b.identity
    assert len({a.identity, c.identity, d.identity}) == 3


def test_noise_is_labelled_synthetic_and_seeded():
    noise = open_source("noise")
    assert noise.synthetic and noise.describe()["synthetic"] is True
    assert torch.equal(noise.minibatch(8, 3), noise.minibatch(8, 3))
    assert not torch.equal(noise.minibatch(8, 3), noise.minibatch(8, 4))
    assert open_source("noise:1x16x16").minibatch(2, 0).shape == (2, 1, 16, 16)
    assert isinstance(open_source("noise"), NoiseSource)


@pytest.mark.parametrize("spec, error", [("bogus", "unknown data source"), ("noise:3x0x2", "CxHxW"), ("npz", "unknown data source"), ("", "non-empty")])
def test_bad_specs_are_rejected(spec, error):
    with pytest.raises(ValueError, match=error):
        open_source(spec)


def test_missing_dataset_without_download_explains_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="allow downloading"):
        open_source("cifar10", tmp_path)
    assert open_source("auto", tmp_path).synthetic


def test_real_cifar10_sample_loads(cifar10_sample):
    source = open_source(f"cifar10:{cifar10_sample}")
    assert not source.synthetic and source.describe()["images"] == 3805
    x = source.minibatch(128, 0)
    assert x.shape == (128, 3, 32, 32) and abs(float(x.mean())) < 0.3


class _Served:
    """A loopback HTTP server for one file."""

    def __init__(self, payload: bytes):
        payload_ref = payload

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload_ref)))
                self.end_headers()
                self.wfile.write(payload_ref)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cifar-10-python.tar.gz"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def served_cifar10():
    payload = _tarball("cifar-10-batches-py", _cifar10_batches())
    served = _Served(payload)
    yield served.url, hashlib.md5(payload).hexdigest()
    served.close()


def test_download_verifies_checksum_and_unpacks_into_cache(tmp_path, served_cifar10):
    url, md5 = served_cifar10
    folder = fetch(RemoteArchive(url, md5, "cifar-10-batches-py"), tmp_path)
    assert folder == tmp_path / "cifar-10-batches-py" and (folder / "data_batch_5").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["cifar-10-batches-py"]  # no temporary leftovers


def test_download_with_wrong_checksum_leaves_nothing(tmp_path, served_cifar10):
    url, _ = served_cifar10
    with pytest.raises(ChecksumError, match="does not match"):
        fetch(RemoteArchive(url, "0" * 32, "cifar-10-batches-py"), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_open_source_downloads_when_allowed(tmp_path, served_cifar10, monkeypatch):
    url, md5 = served_cifar10
    monkeypatch.setitem(ARCHIVES, "cifar10", RemoteArchive(url, md5, "cifar-10-batches-py"))
    source = open_source("cifar10", tmp_path / "cache", download=True)
    assert source.describe()["images"] == 30 and not source.synthetic
