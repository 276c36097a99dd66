"""Architectures given on the command line: ``--arch`` texts and ``--file`` lines, decoded and made canonical.

Every input is checked before any work, and a bad one is named with where it came from (``--arch 2``,
``FILE line 7``), so a long scoring run never fails half-way on a typo.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from searchspace import EncodingError, get_space


def decode_arch(text: str) -> object:
    """A command-line encoding: JSON when it starts with ``[`` or ``{`` (index lists, mappings), else the text itself."""
    if text.lstrip().startswith(("[", "{")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise EncodingError(f"not valid JSON: {exc.msg}", token=text, position=exc.pos) from exc
    return text


def read_arch_lines(stream: TextIO, name: str) -> list[tuple[str, str]]:
    """(where, encoding) for each non-blank, non-comment line of a file of encodings."""
    return [(f"{name} line {n}", line.strip()) for n, line in enumerate(stream, 1) if line.strip() and not line.lstrip().startswith("#")]


def arch_inputs(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(where, encoding) of every architecture given with ``--arch`` and in ``--file`` (``-``: stdin)."""
    given = [(f"--arch {i}", text) for i, text in enumerate(args.arch or [], 1)]
    if args.file == "-":
        given += read_arch_lines(sys.stdin, "stdin")
    elif args.file:
        with Path(args.file).open() as f:
            given += read_arch_lines(f, args.file)
    if not given:
        raise ValueError("no architecture given: use --arch ENCODING or --file FILE (- for stdin)")
    return given


def canonical_archs(space_name: str, given: list[tuple[str, str]]) -> list[str]:
    """Canonical encodings, every input checked before any work; the first bad one is named with where it came from."""
    space = get_space(space_name)
    archs = []
    for where, text in given:
        try:
            archs.append(space.canonical(decode_arch(text)))
        except EncodingError as exc:
            raise EncodingError(f"{where}: {exc}") from exc
    return archs
