"""The operator's space files (``NASWOT_SPACES``, ``--space-file``): loaded and registered before any work starts.

A file that cannot be used (bad content, a builder that does not import, a name another space has)
stops the service or the command with a :class:`~searchspace.SpaceFileError` naming the file, the
key and the reason. Builders come only from here, never from a request.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping, Sequence

from searchspace import ChoiceSpace, SpaceClash, SpaceFileError, broken_spaces, limit_params, load_all, load_space_file, register_instance

from app.settings import Settings, variables_of


def load_spaces(paths: Sequence[str], max_params: int | None = None) -> list[ChoiceSpace]:
    """Load each space file and register its space beside the installed ones; ``max_params`` bounds every space not built in."""
    limit_params(max_params)
    loaded = []
    for path in paths:
        space = load_space_file(path, max_params)
        origin = space.spec.source.origin
        try:
            loaded.append(register_instance(space, f"space file {origin}"))
        except SpaceClash as exc:
            raise SpaceFileError(origin, "name", str(exc)) from None
    return loaded


def load_installed() -> list[str]:
    """Load every registered space now, so a plugin that fails is known at start: one warning line each (the others work)."""
    load_all()
    lines = list(broken_spaces().values())
    for line in lines:
        logging.getLogger("naswot.service").warning("%s; the other spaces are served", line)
    return lines


def cli_space_files(argv: Sequence[str] | None) -> list[str]:
    """The ``--space-file`` paths of a command line, read before the full parser is built (it lists the spaces)."""
    early = argparse.ArgumentParser(add_help=False, allow_abbrev=False)  # else --space would read as --space-file
    early.add_argument("--space-file", action="append", default=[])
    known, _ = early.parse_known_args(argv)
    return known.space_file


def load_cli_spaces(argv: Sequence[str] | None, environ: Mapping[str, str] | None = None) -> list[ChoiceSpace]:
    """The space files of ``NASWOT_SPACES`` and the command line's ``--space-file``, with ``NASWOT_MAX_PARAMS``."""
    settings = Settings.from_env(variables_of(environ, "spaces", "max_params"))
    return load_spaces([*settings.spaces, *cli_space_files(argv)], settings.max_params)
