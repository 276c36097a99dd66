"""One torch version for the image and the tests: declared once, as the Dockerfile's ``ARG TORCH_VERSION``."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


def declared() -> str:
    """The Dockerfile's ``ARG TORCH_VERSION`` default."""
    found = re.findall(r"^ARG TORCH_VERSION=(\S+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert len(found) == 1, f"the Dockerfile should declare TORCH_VERSION once with its default, found {found}"
    return found[0]


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_the_makefile_installs_the_version_the_dockerfile_declares():
    shown = subprocess.run(["make", "-s", "torch-version"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    planned = subprocess.run(["make", "-n", "-B", "setup"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert shown == declared(), f"make torch-version says {shown}, the Dockerfile {declared()}"
    assert f"torch=={declared()}" in planned, "make setup installs that torch"


def test_the_gpu_base_image_and_the_cpu_wheel_follow_the_declared_version():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG GPU_BASE=pytorch/pytorch:\$\{TORCH_VERSION\}-", text, re.MULTILINE), "the GPU base image is named by TORCH_VERSION"
    assert '"torch==${TORCH_VERSION}"' in text, "the CPU variant installs torch==TORCH_VERSION"


def test_the_readme_names_the_declared_version():
    assert f"torch=={declared()}" in (ROOT / "README.md").read_text()


def test_the_tests_run_on_the_declared_version():
    assert torch.__version__.split("+")[0] == declared(), f"tests run on torch {torch.__version__}; the image and make setup use {declared()}"
