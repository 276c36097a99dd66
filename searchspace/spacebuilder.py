"""A space file's builder: imported as its own module, and the digest of the code it runs (its cache identity).

A builder module that lies beside its space file is loaded by file location under a package name of
that folder's own (``naswot_spacefile_<digest>.model``), so two folders that each hold a ``model.py``
never share one; the folder also joins the end of ``sys.path`` for the modules the builder imports by
name, and a sibling module of that name already loaded from another place is refused at load. Any
other module is imported by name, as installed.

The code digest covers every ``.py`` file the builder can import beside itself: the space file's
folder (and the packages in it) for a module found there, the top-level package for an installed
one, else the module's own file. Code imported from elsewhere is covered by the file's ``version``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import itertools
import os
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path

#: the prefix of the package names that hold the builder modules found beside their space files
PACKAGE_PREFIX = "naswot_spacefile_"
#: at most this many ``.py`` files are read for a digest (a space file in a huge folder still loads)
MAX_FILES = 2000


class BuilderError(Exception):
    """The builder cannot be used; the message says why (the caller names the file and the key)."""


def import_builder(name: str, origin: str) -> Callable[..., object]:
    """The function ``module:function`` names, imported now (beside ``origin`` first); :class:`BuilderError` when it cannot be."""
    module_name, _, attr = name.partition(":")
    folder = Path(origin).resolve().parent
    try:
        module = _import(module_name, folder)
    except BuilderError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to import is the file's problem, reported with it
        raise BuilderError(f"cannot import module {module_name!r}: {type(exc).__name__}: {exc}") from None
    function: object = module
    for part in attr.split("."):
        function = getattr(function, part, None)
    if function is None or not callable(function):
        raise BuilderError(f"module {module_name!r} has no callable {attr!r}")
    return function


def _import(module_name: str, folder: Path) -> types.ModuleType:
    """``module_name`` from ``folder`` under the folder's own package when it lies there, else as installed."""
    if not _siblings(folder).get(module_name.split(".")[0]):
        return importlib.import_module(module_name)
    if str(folder) not in sys.path:
        sys.path.append(str(folder))  # for the modules the builder imports by name
    importlib.invalidate_caches()
    module = importlib.import_module(f"{_folder_package(folder)}.{module_name}")
    _refuse_shadowed_siblings(folder)
    return module


def _siblings(folder: Path) -> dict[str, Path]:
    """The importable top-level modules of ``folder``: name -> its file (``x.py``) or package folder (``x/``)."""
    found = {}
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return {}
    for entry in entries:
        if entry.name.startswith("__"):
            continue
        if entry.suffix == ".py" and entry.is_file() and entry.stem.isidentifier():
            found[entry.stem] = entry
        elif entry.name.isidentifier() and (entry / "__init__.py").is_file():
            found[entry.name] = entry
    return found


def _folder_package(folder: Path) -> str:
    """The name of a package (made once) whose path is ``folder``: its modules load by location under it."""
    name = PACKAGE_PREFIX + hashlib.sha256(str(folder).encode()).hexdigest()[:16]
    if name not in sys.modules:
        package = types.ModuleType(name, f"the builder modules beside the space files of {folder}")
        package.__path__ = [str(folder)]
        package.__package__ = name
        package.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
        package.__spec__.submodule_search_locations = package.__path__
        sys.modules[name] = package
    return name


def _refuse_shadowed_siblings(folder: Path) -> None:
    """:class:`BuilderError` when a module of ``folder`` is loaded by name from another place (the builder would get that one)."""
    for name, path in _siblings(folder).items():
        loaded = sys.modules.get(name)
        where = getattr(loaded, "__file__", None)
        if loaded is not None and where and not Path(where).resolve().is_relative_to(folder.resolve()):
            raise BuilderError(
                f"module {name!r} beside this file is already loaded from {where}, so the builder would run that one: "
                f"give one of them another name, or import it relatively (from . import {name})"
            )


def code_digest(function: Callable[..., object]) -> str:
    """A digest of the ``.py`` files the builder's module can import beside itself (see the module docstring)."""
    digest = hashlib.sha256()
    root, files = _code_files(sys.modules.get(getattr(function, "__module__", "") or ""))
    for path in files:
        try:
            digest.update(f"{path.relative_to(root)}\0".encode() + path.read_bytes())
        except OSError:
            continue
    return digest.hexdigest()


def _code_files(module: types.ModuleType | None) -> tuple[Path, list[Path]]:
    """The folder and the files :func:`code_digest` reads: a folder's or a package's ``.py`` files, or the module's own."""
    where = getattr(module, "__file__", None)
    if module is None or not where:
        return Path("/"), []
    top = sys.modules[module.__name__.split(".")[0]]
    if top.__name__.startswith(PACKAGE_PREFIX):
        root = Path(top.__path__[0])
        files = itertools.chain(root.glob("*.py"), *(_py_files(d) for d in _siblings(root).values() if d.is_dir()))
    elif getattr(top, "__path__", None):
        root = Path(top.__file__ or where).parent
        files = _py_files(root)
    else:
        return Path(where).parent, [Path(where)]
    return root, sorted(itertools.islice(files, MAX_FILES))


def _py_files(folder: Path) -> Iterator[Path]:
    """The ``.py`` files under ``folder``, caches and hidden folders left out."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        yield from (Path(root) / f for f in sorted(files) if f.endswith(".py"))
