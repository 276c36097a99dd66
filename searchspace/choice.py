"""A space of independent choices (one value per key), built by a user's builder: what a space file describes.

An architecture is a JSON object with one value per key, given as a dict or its JSON text; its
canonical form is compact JSON with sorted keys. The space holds every combination (its size is
the product of the choice counts), samples them uniformly, and a mutation changes one key.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import Any

from torch import nn

from .base import SearchSpace, as_hw
from .cost import ModelCost, measure
from .errors import ArchitectureError, EncodingError
from .spacebuilder import code_digest
from .spacefile import SpaceSpec


def canonical_json(config: Mapping[str, Any]) -> str:
    """The canonical text of a configuration: compact JSON, keys sorted."""
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def _json(value: Any) -> str:
    """``value`` as an error message shows it: JSON (``true``, ``null``, ``"8"``), as the architecture was written."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values: 1 matches 1.0 but neither true nor "1"."""
    return type(a) is type(b) and a == b or (
        isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and not isinstance(b, bool) and a == b
    )


class ChoiceSpace(SearchSpace):
    """Every combination of the space file's choices, built by its builder ``function(config, num_classes)``."""

    #: the file declares its input (default 3x32x32): scoring data comes at that resolution, resized when needed
    fixed_resolution = True

    def __init__(self, spec: SpaceSpec, builder: Callable[[dict[str, Any], int], nn.Module]):
        self.spec = spec
        self.builder = builder
        self.name = spec.name
        self.description = spec.description or f"space file {spec.source.origin}"
        self.choices: dict[str, tuple[Any, ...]] = dict(spec.choices)
        self.input_shape = spec.input_shape
        self.max_params = spec.source.max_params
        self.encoding = "A JSON object with one value per key: " + "; ".join(f"{k}: one of {json.dumps(list(v))}" for k, v in spec.choices)
        self.example = canonical_json({k: v[0] for k, v in spec.choices})
        digest = hashlib.sha256(f"{spec.source.text}\n{spec.builder}#{code_digest(builder)}".encode()).hexdigest()
        self._identity = f"{spec.name}@{digest[:16]}"

    @property
    def identity(self) -> str:
        """Its name, and a digest of its file's text (``version`` included) and its builder's code: the score cache's key for it."""
        return self._identity

    @property
    def size(self) -> int:
        return math.prod(len(v) for v in self.choices.values())

    def config(self, arch: Any) -> dict[str, Any]:
        """The validated configuration of ``arch`` (a dict or its JSON text), each value as the file declares it."""
        if isinstance(arch, str):
            try:
                arch = json.loads(arch)
            except json.JSONDecodeError as exc:
                raise EncodingError(f"not valid JSON: {exc.msg}", token=arch, position=exc.pos) from None
        if not isinstance(arch, Mapping):
            raise EncodingError(f"a {self.name} architecture is a JSON object with the keys {', '.join(self.choices)}, got {_json(arch)}")
        unknown = sorted(set(arch) - set(self.choices), key=str)
        if unknown:
            raise EncodingError(f"unknown key {_json(unknown[0])}", hint=f"the keys are {', '.join(self.choices)}")
        return {key: self._value(key, arch) for key in self.choices}

    def _value(self, key: str, arch: Mapping[str, Any]) -> Any:
        if key not in arch:
            raise EncodingError(f"missing key {_json(key)}", hint=f"one of {_json(list(self.choices[key]))}")
        for allowed in self.choices[key]:
            if _same(arch[key], allowed):
                return allowed
        raise EncodingError(f"value outside the choices of key {_json(key)}: {_json(arch[key])}", hint=f"one of {_json(list(self.choices[key]))}")

    def canonical(self, arch: Any) -> str:
        return canonical_json(self.config(arch))

    def random(self, rng: random.Random) -> str:
        return canonical_json({key: rng.choice(values) for key, values in self.choices.items()})

    def mutate(self, arch: Any, rng: random.Random) -> str:
        """``arch`` with one key (among those with a choice) set to another of its values."""
        config = self.config(arch)
        keys = [k for k, v in self.choices.items() if len(v) > 1]
        if not keys:
            raise ValueError(f"space {self.name!r} holds one architecture: nothing to mutate")
        key = rng.choice(keys)
        config[key] = rng.choice([v for v in self.choices[key] if not _same(v, config[key])])
        return canonical_json(config)

    def neighbours(self, arch: Any) -> list[str]:
        """Every architecture differing from ``arch`` in one key."""
        config = self.config(arch)
        return [canonical_json({**config, k: v}) for k, values in self.choices.items() for v in values if not _same(v, config[k])]

    def enumerate(self) -> Iterator[str]:
        keys = list(self.choices)
        for values in itertools.product(*self.choices.values()):
            yield canonical_json(dict(zip(keys, values)))

    def decisions(self, arch: Any) -> list[tuple[str, object]]:
        return list(self.config(arch).items())

    def build(self, arch: Any, num_classes: int = 10) -> nn.Module:
        """The builder's network, after a dry run on the meta device (size limit, shapes): a failure names the builder."""
        canonical = self.canonical(arch)
        self.cost(canonical, num_classes)  # the dry run: a forward pass that fails on the meta device fails as the builder's error
        self.check_size(canonical, num_classes)
        return self._construct(canonical, num_classes)

    def _construct(self, canonical: str, num_classes: int) -> nn.Module:
        """The builder's network of ``canonical``; ArchitectureError naming the builder when it raises or gives no module."""
        try:
            net = self.builder(json.loads(canonical), num_classes)
        except Exception as exc:  # noqa: BLE001 - the builder is the operator's code: its failure fails this architecture
            raise ArchitectureError(f"builder {self.spec.builder} failed on {canonical}: {type(exc).__name__}: {exc}") from exc
        if not isinstance(net, nn.Module):
            raise ArchitectureError(f"builder {self.spec.builder} returned {type(net).__name__} for {canonical}, not a torch.nn.Module")
        return net

    def cost(self, arch: Any, num_classes: int = 10, input_size: int | tuple[int, int] | None = None) -> ModelCost:
        """Parameters and FLOPs from a pass on the meta device; a network that fails it fails as its builder's error."""
        hw = self.input_shape[1:] if input_size is None else as_hw(input_size)
        return _measured(self, self.canonical(arch), num_classes, hw)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "builder": self.spec.builder,
            "choices": {k: list(v) for k, v in self.choices.items()},
            "file": self.spec.source.origin,
            "identity": self.identity,
        }

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its file's text, so another process imports the builder itself (a builder is never pickled)."""
        from .spacefile import load_space_text

        return (load_space_text, (self.spec.source,))


@lru_cache(maxsize=65536)
def _measured(space: ChoiceSpace, canonical: str, num_classes: int, hw: tuple[int, int]) -> ModelCost:
    try:
        return measure(lambda: space._construct(canonical, num_classes), (space.input_shape[0], *hw))
    except ArchitectureError:
        raise
    except Exception as exc:  # noqa: BLE001 - the network's own forward pass failed
        raise ArchitectureError(
            f"the network builder {space.spec.builder} gave for {canonical} fails in the forward pass "
            f"on a {space.input_shape[0]}x{hw[0]}x{hw[1]} input: {type(exc).__name__}: {exc}"
        ) from exc
