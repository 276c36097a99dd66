"""Dependencies point one way: scores know no concrete search space, and spaces know no scores."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONCRETE_SPACES = ("searchspace.nb201", "searchspace.nats_sss", "searchspace.nb101", "searchspace.darts")


def imported_modules(source: str, package: str) -> set[str]:
    """Every module (or name in a module) that ``source`` imports, relative imports resolved against ``package``."""
    parts = package.split(".")
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(parts[: len(parts) - node.level + 1]) if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def imports_of(path: Path) -> set[str]:
    return imported_modules(path.read_text(), ".".join(path.relative_to(ROOT).parts[:-1]))


def within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


@pytest.mark.parametrize("path", sorted((ROOT / "scoring").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_scoring_imports_no_concrete_space(path):
    bad = sorted(m for m in imports_of(path) if within(m, CONCRETE_SPACES))
    assert not bad, f"{path.relative_to(ROOT)} imports concrete spaces: {bad}"


@pytest.mark.parametrize("path", sorted((ROOT / "searchspace").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_searchspace_imports_no_scoring(path):
    bad = sorted(m for m in imports_of(path) if within(m, ("scoring",)))
    assert not bad, f"{path.relative_to(ROOT)} imports scoring: {bad}"


@pytest.mark.parametrize(
    "source, package, expected",
    [
        ("from ..nb201 import pool", "searchspace.darts", "searchspace.nb201.pool"),
        ("from . import naswot", "scoring", "scoring.naswot"),
        ("from .batched import BatchedNaswot", "scoring", "scoring.batched"),
        ("import searchspace.darts.network", "scoring", "searchspace.darts.network"),
        ("from searchspace import nb101", "scoring", "searchspace.nb101"),
    ],
)
def test_the_import_check_resolves_every_import_form(source, package, expected):
    assert expected in imported_modules(source, package), f"{source!r} in {package} should import {expected}"
