"""Shared fixtures: the optional real data beside the repository, and small helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


def shared_file(name: str) -> Path:
    """A file of the shared data folder ($NASWOT_SHARED_DATA, else ../shared/data), or skip the test."""
    folder = Path(os.environ.get("NASWOT_SHARED_DATA", ROOT.parent / "shared" / "data"))
    path = folder / name
    if not path.is_file():
        pytest.skip(f"{path} not present (set NASWOT_SHARED_DATA to the folder holding {name})")
    return path


@pytest.fixture
def cifar10_sample() -> Path:
    return shared_file("cifar10-sample.npz")


@pytest.fixture
def nb201_accuracy() -> Path:
    return shared_file("nb201-accuracy.csv")


@pytest.fixture
def location(tmp_path) -> str:
    """A fresh SQLite database (``from store_backends import location`` runs a test module on every back end instead)."""
    return str(tmp_path / "db.sqlite")


@pytest.fixture
def busy_timeout() -> float:
    """Seconds a store write waits for a lock another connection holds (a module may override it)."""
    return 2.0


@pytest.fixture
def store(location, busy_timeout):
    """The store on ``location``, closed after the test."""
    from app.store import open_store

    opened = open_store(location, busy_timeout=busy_timeout)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread: small passes gain nothing from more, and lose a lot on a busy shared CPU."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


@pytest.fixture(autouse=True)
def _no_service_settings_from_the_shell(monkeypatch):
    """``Settings(...)`` reads ``NASWOT_*``: a variable exported where the tests run (an API key, a device) must not reach them."""
    from app.settings import PREFIX, Settings

    for name in Settings.model_fields:
        monkeypatch.delenv(PREFIX + name.upper(), raising=False)


@pytest.fixture(autouse=True)
def _process_gram_kernel_mode():
    """Every test starts and ends with the process's kernel mode unchanged (services and the CLI set it)."""
    from scoring import kernels

    saved = kernels.SELECTOR.mode
    yield
    kernels.configure(saved)


@pytest.fixture
def gram_kernel():
    """``gram_kernel(mode)``: this process's code-product kernel mode for the rest of the test (then restored)."""
    from scoring import kernels

    return kernels.configure


@pytest.fixture
def revise(monkeypatch):
    """``revise(name)``: the registered score ``name`` as if its definition had been revised once more (undone after the test)."""
    from dataclasses import replace

    from scoring import registry

    def bump(name: str) -> None:
        info = registry.get_score_info(name)
        monkeypatch.setitem(registry._SCORES, name, replace(info, revision=info.revision + 1))

    return bump
