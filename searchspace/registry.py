"""Name -> search space, in the manner of timm's model registry, filled from the ``naswot.spaces`` entry points.

Installed packages contribute spaces through the entry-point group ``naswot.spaces``, as this
project registers its own (``pyproject.toml``). An entry point's object is a path to a space
file, a :class:`SearchSpace`, or a zero-argument factory returning one; it is loaded on the first
:func:`get_space` of its name, and each space is one shared instance. Space files loaded by the
operator (:func:`register_instance`) and the :func:`register_space` decorator add to the same
table; a name given twice is an error naming both sources. A space whose plugin fails to load is
:class:`SpaceUnavailable` (one line: the name, its source, the error), left out of
:func:`list_spaces` once tried; :func:`load_all` tries every space and gives the ones that work.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points

from .base import SearchSpace

#: the entry-point group installed packages register spaces under
GROUP = "naswot.spaces"
#: the distribution whose entry points are the built-in spaces (every other space is a plugin or a space file)
BUILT_IN_DISTRIBUTION = "naswot-service"

_FACTORIES: dict[str, Callable[[], SearchSpace]] = {}
_SOURCES: dict[str, str] = {}  # name -> where the space came from (named in clash errors)
_INSTANCES: dict[str, SearchSpace] = {}
_BUILT_IN: set[str] = set()  # names registered by BUILT_IN_DISTRIBUTION's entry points
_MAX_PARAMS: list[int | None] = [None]  # the limit every space not built in gets (limit_params)
_BROKEN: dict[str, tuple[str, str]] = {}  # name -> (which space, from where, the error's type), the error's message
_LOCK = threading.RLock()
_discovered = False


class SpaceClash(ValueError):
    """Two sources give a space of the same name."""


class SpaceUnavailable(KeyError):
    """A registered space whose plugin or factory fails to load; ``args[0]`` is one line saying which and why."""

    def __str__(self) -> str:
        return str(self.args[0])


def _add(name: str, factory: Callable[[], SearchSpace], source: str) -> None:
    """Register ``factory`` under ``name``; the same source again replaces it (a reload), another source is a :class:`SpaceClash`."""
    with _LOCK:
        if name in _FACTORIES and _SOURCES[name] != source:
            raise SpaceClash(f"search space {name!r} from {source} clashes with the one from {_SOURCES[name]}")
        _FACTORIES[name] = factory
        _SOURCES[name] = source
        _BROKEN.pop(name, None)
        _BUILT_IN.discard(name)


def discover_plugins() -> None:
    """Register every ``naswot.spaces`` entry point not registered yet (call again after installing a plugin)."""
    global _discovered
    with _LOCK:
        _discovered = True
        for ep in entry_points(group=GROUP):
            if _SOURCES.get(ep.name) != _describe(ep):
                _add(ep.name, lambda ep=ep: _from_entry_point(ep), _describe(ep))
                if ep.dist is not None and ep.dist.name.replace("_", "-").lower() == BUILT_IN_DISTRIBUTION:
                    _BUILT_IN.add(ep.name)


def _describe(ep: EntryPoint) -> str:
    dist = ep.dist.name if ep.dist is not None else "an unknown distribution"
    return f"entry point {ep.name} = {ep.value} ({dist})"


def _from_entry_point(ep: EntryPoint) -> SearchSpace:
    """The space an entry point gives: a space file path, a SearchSpace, or a factory of one; its name must match."""
    obj = ep.load()
    if isinstance(obj, (str, os.PathLike)):
        from .spacefile import load_space_file

        space = load_space_file(obj)
    elif isinstance(obj, SearchSpace):
        space = obj
    elif callable(obj):
        space = obj()
    else:
        raise TypeError(f"{_describe(ep)}: expected a space file path, a SearchSpace or a factory, got {type(obj).__name__}")
    if not isinstance(space, SearchSpace) or space.name != ep.name:
        raise TypeError(f"{_describe(ep)}: gave {space!r}, not a SearchSpace named {ep.name!r}")
    return space


def _ensure_discovered() -> None:
    if not _discovered:
        discover_plugins()


def register_space(name: str) -> Callable[[Callable[[], SearchSpace]], Callable[[], SearchSpace]]:
    """Decorator: register a zero-argument factory under ``name`` (a plugin's entry point is the preferred way)."""

    def wrap(factory: Callable[[], SearchSpace]) -> Callable[[], SearchSpace]:
        _ensure_discovered()
        _add(name, factory, f"register_space in {getattr(factory, '__module__', '?')}.{getattr(factory, '__qualname__', factory)}")
        return factory

    return wrap


def register_instance(space: SearchSpace, source: str) -> SearchSpace:
    """Register a ready space (a loaded space file) as coming from ``source``; the same source again replaces it."""
    _ensure_discovered()
    with _LOCK:
        _add(space.name, lambda: space, source)
        _INSTANCES[space.name] = _limited(space)
        return space


def unregister_space(name: str) -> None:
    """Forget ``name`` (tests and reloads); unknown names are ignored."""
    with _LOCK:
        for table in (_FACTORIES, _SOURCES, _INSTANCES, _BROKEN):
            table.pop(name, None)
        _BUILT_IN.discard(name)


def space_source(name: str) -> str:
    """Where the space ``name`` came from (an entry point, a space file, a decorator)."""
    _ensure_discovered()
    return _SOURCES[name]


def list_spaces() -> list[str]:
    """Names of the registered spaces, sorted; a space found broken (:func:`broken_spaces`) is left out."""
    _ensure_discovered()
    with _LOCK:
        return sorted(set(_FACTORIES) - set(_BROKEN))


def broken_spaces(messages: bool = True) -> dict[str, str]:
    """The spaces whose plugin failed to load so far: name -> one line saying which, from where and why
    (without ``messages``, only the error's type: what may be shown to anyone, as an error's text may hold paths)."""
    with _LOCK:
        return {name: f"{head}: {message}" if messages else head for name, (head, message) in _BROKEN.items()}


def load_all() -> list[SearchSpace]:
    """Every registered space that loads, by name; the others are recorded in :func:`broken_spaces`."""
    loaded = []
    for name in list_spaces():
        try:
            loaded.append(get_space(name))
        except SpaceUnavailable:
            continue
    return loaded


def get_space(name: str) -> SearchSpace:
    """The space registered as ``name`` (one shared instance); ``KeyError`` names the choices, :class:`SpaceUnavailable` a broken plugin."""
    _ensure_discovered()
    with _LOCK:
        if name in _BROKEN:
            raise SpaceUnavailable(": ".join(_BROKEN[name]))
        if name not in _FACTORIES:
            raise KeyError(f"unknown search space {name!r}; known: {', '.join(list_spaces())}")
        if name not in _INSTANCES:
            _INSTANCES[name] = _limited(_load(name))
        return _INSTANCES[name]


def limit_params(max_params: int | None) -> None:
    """Give every space that is not built in (plugins, space files) ``max_params`` as its :attr:`SearchSpace.max_params`."""
    with _LOCK:
        _MAX_PARAMS[0] = max_params
        for space in _INSTANCES.values():
            _limited(space)


def _limited(space: SearchSpace) -> SearchSpace:
    """``space`` with the limit of :func:`limit_params` unless it is built in."""
    if space.name not in _BUILT_IN and _MAX_PARAMS[0] is not None:
        space.max_params = _MAX_PARAMS[0]
    return space


def _load(name: str) -> SearchSpace:
    """The factory's space; a failure is recorded and raised as :class:`SpaceUnavailable` (never a traceback to a user)."""
    try:
        return _FACTORIES[name]()
    except Exception as exc:  # noqa: BLE001 - a plugin is someone else's code: any failure makes its space unavailable
        _BROKEN[name] = (f"search space {name!r} ({_SOURCES[name]}) cannot be loaded: {type(exc).__name__}", str(exc))
        raise SpaceUnavailable(": ".join(_BROKEN[name])) from exc
