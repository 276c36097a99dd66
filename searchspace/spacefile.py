"""Space files: a user's own search space as JSON (or YAML), validated and turned into a :class:`ChoiceSpace`.

    {
      "name": "mycnn",
      "description": "plain conv stacks",
      "builder": "mypkg.models:build",
      "choices": {"depth": [1, 2, 3], "width": [8, 16, 24], "kernel": [3, 5]},
      "input": {"channels": 3, "resolution": 32}
    }

``builder`` names a ``module:function``, called as ``function(config, num_classes)`` and returning
an ``nn.Module``; it is imported when the file is loaded, so a bad one stops the load. A module
beside the space file is loaded from there as that folder's own (:mod:`searchspace.spacebuilder`),
any other is imported as installed. An optional ``version`` (short text) is part of the space's
cache identity: bump it when code the builder imports from elsewhere changes. Every error is a
:class:`SpaceFileError` naming the file, the key and the reason.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .spacebuilder import BuilderError, import_builder

#: the keys a space file may have; those without a default are required
KEYS = ("name", "description", "builder", "choices", "input", "version")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DEFAULT_INPUT = {"channels": 3, "resolution": 32}


class SpaceFileError(ValueError):
    """A space file that cannot be used: names the file, the key and the reason."""

    def __init__(self, origin: str, key: str, reason: str):
        self.origin, self.key, self.reason = origin, key, reason
        super().__init__(f"space file {origin}: {key}: {reason}")


@dataclass(frozen=True)
class SpaceSource:
    """A space file as it travels to another process (a Ray actor): where it was read and its text; never a builder."""

    origin: str
    text: str
    max_params: int | None = None


@dataclass(frozen=True)
class SpaceSpec:
    """A validated space file."""

    name: str
    description: str
    builder: str  # "module:function"
    choices: tuple[tuple[str, tuple[Any, ...]], ...]  # (key, its values), keys sorted
    input_shape: tuple[int, int, int]
    source: SpaceSource
    version: str = ""


def load_space_file(path: str | os.PathLike, max_params: int | None = None) -> Any:
    """The :class:`~searchspace.choice.ChoiceSpace` a file describes (JSON, or YAML by its suffix)."""
    origin = str(Path(path).resolve())
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise SpaceFileError(origin, "(file)", f"cannot be read: {exc.strerror or exc}") from None
    return load_space_text(SpaceSource(origin, text, max_params))


@lru_cache(maxsize=64)
def load_space_text(source: SpaceSource) -> Any:
    """The space of a file's text (one shared instance per source: what a Ray actor rebuilds from)."""
    from .choice import ChoiceSpace

    spec = parse_spec(source)
    try:
        builder = import_builder(spec.builder, source.origin)
    except BuilderError as exc:
        raise SpaceFileError(source.origin, "builder", str(exc)) from None
    return ChoiceSpace(spec, builder)


def parse_spec(source: SpaceSource) -> SpaceSpec:
    """Validate a space file's text; :class:`SpaceFileError` on the first problem."""
    raw = _decode(source)
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise SpaceFileError(source.origin, unknown[0], f"unknown key; a space file has {', '.join(KEYS)}")
    return SpaceSpec(
        name=_name(source.origin, raw.get("name")),
        description=_text(source.origin, "description", raw.get("description", "")),
        builder=_builder_name(source.origin, raw.get("builder")),
        choices=_choices(source.origin, raw.get("choices")),
        input_shape=_input(source.origin, raw.get("input", DEFAULT_INPUT)),
        source=source,
        version=_version(source.origin, raw),
    )


def _decode(source: SpaceSource) -> dict[str, Any]:
    """The file's top-level object: YAML for a .yaml/.yml file (PyYAML needed), else JSON."""
    if source.origin.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise SpaceFileError(source.origin, "(file)", "YAML space files need PyYAML (pip install pyyaml); or write it as JSON") from None
        try:
            raw = yaml.safe_load(source.text)
        except yaml.YAMLError as exc:
            raise SpaceFileError(source.origin, "(file)", f"not valid YAML: {exc}") from None
    else:
        try:
            raw = json.loads(source.text)
        except json.JSONDecodeError as exc:
            raise SpaceFileError(source.origin, "(file)", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(raw, dict):
        raise SpaceFileError(source.origin, "(file)", f"must hold one object with the keys {', '.join(KEYS)}")
    return raw


def _name(origin: str, value: Any) -> str:
    if value is None:
        raise SpaceFileError(origin, "name", "missing: every space needs a name")
    if not isinstance(value, str) or not NAME.match(value):
        raise SpaceFileError(origin, "name", f"{value!r} is not a plain name (letters, digits, '_', '.', '-'; at most 64)")
    return value


def _text(origin: str, key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise SpaceFileError(origin, key, f"must be text, got {type(value).__name__}")
    return value


def _builder_name(origin: str, value: Any) -> str:
    if value is None:
        raise SpaceFileError(origin, "builder", "missing: name the function that builds a network, as module:function")
    module, sep, function = value.partition(":") if isinstance(value, str) else ("", "", "")
    if not (sep and module and function):
        raise SpaceFileError(origin, "builder", f"{value!r} is not module:function")
    return value


def _version(origin: str, raw: Mapping[str, Any]) -> str:
    """The optional ``version``: 1 to 64 characters of text, part of the cache identity."""
    if "version" not in raw:
        return ""
    value = raw["version"]
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        raise SpaceFileError(origin, "version", f"must be text of 1 to 64 characters (bump it when the builder's code changes), got {json.dumps(value)[:80]}")
    return value


def _is_scalar(value: Any) -> bool:
    """A JSON scalar: text, a finite number, true/false or null."""
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, (str, int, bool))


def _choices(origin: str, value: Any) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    if not isinstance(value, Mapping) or not value:
        raise SpaceFileError(origin, "choices", "must be a non-empty object of key: [values]")
    out = []
    for key in sorted(value):
        values = value[key]
        where = f"choices.{key}"
        if not isinstance(values, list) or not values:
            raise SpaceFileError(origin, where, "empty choices: list at least one value")
        for i, v in enumerate(values):
            if not _is_scalar(v):
                raise SpaceFileError(origin, f"{where}[{i}]", f"{json.dumps(v)} is not a JSON scalar (text, number, true/false, null)")
        _refuse_repeats(origin, where, values)
        out.append((key, tuple(values)))
    return tuple(out)


def _refuse_repeats(origin: str, where: str, values: list[Any]) -> None:
    """:class:`SpaceFileError` on a value listed twice, as an architecture reads them: ``16.0`` is ``16``, ``true`` is not ``1``."""
    seen: dict[tuple[str, Any], Any] = {}
    for value in values:
        kind = "bool" if isinstance(value, bool) else "number" if isinstance(value, (int, float)) else type(value).__name__
        if (kind, value) in seen:
            first = seen[(kind, value)]
            raise SpaceFileError(origin, where, f"a value is listed twice in {json.dumps(values)}: {json.dumps(value)} is the same value as {json.dumps(first)}")
        seen[(kind, value)] = value


def _input(origin: str, value: Any) -> tuple[int, int, int]:
    """(channels, resolution, resolution) of the networks' input; both positive integers."""
    if not isinstance(value, Mapping) or set(value) - {"channels", "resolution"}:
        raise SpaceFileError(origin, "input", 'must be {"channels": C, "resolution": R}')
    shape = {**DEFAULT_INPUT, **value}
    for key in ("channels", "resolution"):
        v = shape[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise SpaceFileError(origin, f"input.{key}", f"must be a positive integer, got {v!r}")
    return (shape["channels"], shape["resolution"], shape["resolution"])
