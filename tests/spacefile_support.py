"""Writing space files in tests, and forgetting the spaces they registered afterwards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from searchspace import broken_spaces, list_spaces
from searchspace.registry import unregister_space

CHOICES = {"width": [8, 16], "depth": [1, 2, 3], "act": ["relu", "gelu"]}


def write_space(folder: Path, name: str = "tiny", builder: str | None = "space_builders:tiny", choices: Any = None, **extra: Any) -> Path:
    """A space file in ``folder`` (``builder=None`` leaves the key out) and its path."""
    content: dict[str, Any] = {"name": name, "choices": CHOICES if choices is None else choices, **extra}
    if builder is not None:
        content["builder"] = builder
    path = folder / f"{name}.json"
    path.write_text(json.dumps(content))
    return path


@pytest.fixture
def forget_spaces():
    """Unregister every space a test added (the registry is process-wide)."""
    before = set(list_spaces()) | set(broken_spaces())
    yield
    for name in (set(list_spaces()) | set(broken_spaces())) - before:
        unregister_space(name)
