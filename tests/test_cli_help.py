"""``naswot --help`` and each command's help: every option explained once, the same names for the same things."""

from __future__ import annotations

import argparse
import re

import pytest

from app.cli.main import build_parser, main


def commands() -> dict[str, argparse.ArgumentParser]:
    """Each subcommand's parser by name."""
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(subparsers.choices)


def shown_options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The options a person sees in ``--help`` (not -h itself, not the hidden aliases)."""
    return [a for a in parser._actions if a.option_strings and a.help not in (argparse.SUPPRESS, "show this help message and exit")]


@pytest.mark.parametrize("command", sorted(commands()))
def test_every_shown_option_has_help(command):
    silent = [a.option_strings[0] for a in shown_options(commands()[command]) if not a.help]
    assert not silent, f"naswot {command}: options without help: {silent}"


@pytest.mark.parametrize("command", sorted(commands()))
def test_no_help_text_repeats_its_leading_label(command):
    doubled = [a.help for a in shown_options(commands()[command]) if re.match(r"^([\w, ]+): \1:", a.help)]
    assert not doubled, f"naswot {command}: help says its label twice: {doubled}"


def test_every_command_names_its_scores_with_score():
    lacking = [name for name, parser in commands().items() if any("--scores" in a.option_strings for a in shown_options(parser))]
    assert not lacking, f"--score is the option's name everywhere; shown as --scores in {lacking}"


@pytest.mark.parametrize("option", ["--score", "--scores"])
def test_table_takes_score_and_its_older_name_scores(option, capsys, tmp_path):
    out = tmp_path / "t.csv"
    args = ["table", "--space", "nb201", "--n", "2", "--data", "noise:3x8x8", "--batch-size", "4", "--device", "cpu", "--out", str(out)]
    assert main([*args, option, "naswot,synflow"]) == 0, capsys.readouterr().err
    assert out.read_text().splitlines()[0].endswith("naswot,synflow"), "one column per score named"
