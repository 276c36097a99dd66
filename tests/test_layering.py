"""The rules of docs/extending.md, checked on every module: dependencies point inward, and modules and functions stay small.

``app`` -> ``search`` -> ``scoring``, ``searchspace``; ``scoring/`` imports no concrete space and
``searchspace/`` nothing of ``scoring/``; nothing imports ``app`` or ``bench``. Imports inside functions
count as much as those at the top of a module.
"""

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: the packages of the project (tests are no package: they may import anything)
PACKAGES = ("app", "search", "scoring", "searchspace", "bench")
#: what each package may import of the others (itself always)
MAY_IMPORT = {
    "app": ("search", "scoring", "searchspace"),
    "search": ("scoring", "searchspace"),
    "scoring": ("searchspace",),
    "searchspace": (),
    "bench": ("app", "search", "scoring", "searchspace"),
}
#: a concrete space is a subpackage of searchspace/ with its own space.py (searchspace/layers/ only holds blocks)
CONCRETE_SPACES = tuple(f"searchspace.{p.parent.name}" for p in sorted((ROOT / "searchspace").glob("*/space.py")))
MAX_MODULE_LINES = 350
MAX_FUNCTION_LINES = 50


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


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(path: Path) -> str:
    """The package relative imports in ``path`` resolve against (a package's ``__init__`` is its own)."""
    return module_name(path) if path.name == "__init__.py" else ".".join(path.relative_to(ROOT).parts[:-1])


def imports_of(path: Path) -> set[str]:
    return imported_modules(path.read_text(), package_of(path))


def within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def sources(*packages: str) -> list[Path]:
    return sorted(path for package in packages for path in (ROOT / package).rglob("*.py"))


def named(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", sources(*PACKAGES), ids=named)
def test_dependencies_point_inward(path):
    own = path.relative_to(ROOT).parts[0]
    forbidden = tuple(p for p in PACKAGES if p != own and p not in MAY_IMPORT[own])
    bad = sorted(m for m in imports_of(path) if within(m, forbidden))
    assert not bad, f"{named(path)} ({own}/ may import {', '.join(MAY_IMPORT[own]) or 'none of the others'}) imports {bad}"


@pytest.mark.parametrize("path", sources("scoring"), ids=named)
def test_scoring_imports_no_concrete_space(path):
    bad = sorted(m for m in imports_of(path) if within(m, CONCRETE_SPACES))
    assert not bad, f"{named(path)} imports concrete spaces: {bad}"


def test_every_built_in_space_counts_as_concrete():
    assert {"searchspace.nb201", "searchspace.darts", "searchspace.ofa"} <= set(CONCRETE_SPACES), f"found only {CONCRETE_SPACES}"
    assert "searchspace.layers" not in CONCRETE_SPACES, "the shared blocks are no concrete space"


@pytest.mark.parametrize("path", sources(*PACKAGES), ids=named)
def test_modules_stay_short(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{named(path)} has {lines} lines (at most {MAX_MODULE_LINES}): split it by job"


def long_functions(source: str, limit: int) -> list[str]:
    """``name (n lines)`` for every function or method of ``source`` longer than ``limit`` lines (decorators excluded)."""
    functions = (n for n in ast.walk(ast.parse(source)) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))
    return [f"{f.name} ({f.end_lineno - f.lineno + 1} lines)" for f in functions if f.end_lineno - f.lineno + 1 > limit]


@pytest.mark.parametrize("path", sources(*PACKAGES), ids=named)
def test_functions_stay_short(path):
    bad = long_functions(path.read_text(), MAX_FUNCTION_LINES)
    assert not bad, f"{named(path)}: functions over {MAX_FUNCTION_LINES} lines: {bad}"


@pytest.mark.parametrize(
    "source, package, expected",
    [
        ("from ..nb201 import pool", "searchspace.darts", "searchspace.nb201.pool"),
        ("from . import naswot", "scoring", "scoring.naswot"),
        ("from .batched import BatchedNaswot", "scoring", "scoring.batched"),
        ("import searchspace.darts.network", "scoring", "searchspace.darts.network"),
        ("from searchspace import nb101", "scoring", "searchspace.nb101"),
        ("def f():\n    import app.cli.main", "search", "app.cli.main"),
    ],
)
def test_the_import_check_resolves_every_import_form(source, package, expected):
    assert expected in imported_modules(source, package), f"{source!r} in {package} should import {expected}"


def test_the_length_check_counts_a_function_from_its_def_to_its_last_line():
    body = "".join(f"    x{i} = {i}\n" for i in range(3))
    assert long_functions(f"@decorated\ndef f():\n{body}", 3) == ["f (4 lines)"], "a 4-line function over a limit of 3"
    assert long_functions(f"def f():\n{body}", 4) == [], "a 4-line function within a limit of 4"


def environment_reads(source: str) -> list[str]:
    """The ``NASWOT_*`` names ``source`` reads from the environment directly (``os.environ[...]``, ``.get``, ``getenv``)."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Subscript) and "environ" in ast.unparse(node.value):
            key = node.slice
        elif isinstance(node, ast.Call) and node.args and ast.unparse(node.func).endswith(("environ.get", "getenv", "environ.setdefault")):
            key = node.args[0]
        else:
            continue
        if isinstance(key, ast.Constant) and str(key.value).startswith("NASWOT_"):
            names.append(key.value)
    return names


@pytest.mark.parametrize("path", [p for p in sources(*PACKAGES) if p != ROOT / "app" / "settings.py"], ids=named)
def test_settings_are_read_through_their_model(path):
    bad = environment_reads(path.read_text())
    assert not bad, f"{named(path)} reads {bad} from the environment: declare it in a settings model (app/settings.py) instead"


@pytest.mark.parametrize("source", ['os.environ.get("NASWOT_URL", "x")', 'os.environ["NASWOT_URL"]', 'getenv("NASWOT_URL")'])
def test_the_environment_check_sees_every_form(source):
    assert environment_reads(source) == ["NASWOT_URL"], f"{source} not seen"


def app_imports() -> dict[str, set[str]]:
    """Each module of app/ -> the modules of app/ it imports (a name imported from a module counts as that module)."""
    paths = {module_name(p): p for p in sources("app")}

    def owner(name: str) -> str | None:
        while name and name not in paths:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for module, path in paths.items():
        graph[module] = {o for o in map(owner, imports_of(path)) if o and o != module}
    return graph


def room(module: str) -> str:
    """The room of an app module: its subpackage (``app.service``) or its own name (``app.settings``)."""
    return ".".join(module.split(".")[:2])


def cycle_in(graph: dict[str, set[str]]) -> list[str] | None:
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        return exc.args[1]
    return None


def test_no_import_cycle_between_modules_of_app():
    cycle = cycle_in(app_imports())
    assert cycle is None, f"modules import each other: {' -> '.join(cycle)}"


def test_no_import_cycle_between_rooms_of_app():
    rooms: dict[str, set[str]] = {}
    for module, imported in app_imports().items():
        rooms.setdefault(room(module), set()).update(room(m) for m in imported if room(m) != room(module))
    cycle = cycle_in(rooms)
    assert cycle is None, f"rooms of app/ import each other (a registry, as app.service.executors, breaks such a cycle): {' -> '.join(cycle)}"


@pytest.mark.parametrize("path", sources("app/store"), ids=named)
def test_the_store_imports_nothing_of_the_service(path):
    bad = sorted(m for m in imports_of(path) if within(m, ("app.service",)))
    assert not bad, f"{named(path)} imports {bad}: what the store and the service share belongs below both (app/records.py)"


def test_the_cycle_check_finds_a_cycle():
    assert cycle_in({"a": {"b"}, "b": {"c"}, "c": {"a"}}) is not None and cycle_in({"a": {"b"}, "b": set()}) is None
