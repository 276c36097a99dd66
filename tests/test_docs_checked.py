"""The docs cannot drift from the code: their checked examples are run, their option lists compared with the parser.

- A fenced block opened with ```` ```console checked ```` is a session: each ``$ naswot ...`` command (with ``\\``
  continuations) is run in this process from the repository root, and its output (stdout, then stderr) must equal
  the lines that follow it, where ``...`` in a line stands for any text (timings, long data descriptions).
- An HTTP answer block follows an HTML comment ``<!-- checked: METHOD PATH BODY -->``: that request is sent to the
  app (with the service tests' stand-in scorer) and its JSON answer must equal the block.
- ``docs/cli.md`` names each command's options: every option named in a command's row exists for that command,
  and every option a command shows in ``--help`` is named in that file.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from spacefile_support import forget_spaces  # noqa: F401 (a fixture: the space files a command loads are forgotten after it)
from test_service_searches import FakeScorers

from app.cli.main import main
from app.main import create_app
from app.settings import Settings
from test_cli_help import commands, shown_options

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_SESSION = re.compile(r"^```console checked\n(.*?)^```", re.S | re.M)
_ANSWER = re.compile(r"^<!-- checked: (\w+) (\S+) (.*?) -->\n```json\n(.*?)^```", re.S | re.M)


def sessions() -> list[tuple[str, str, list[str]]]:
    """(where, command, expected output lines) of every command in a checked console block."""
    found = []
    for page in PAGES:
        for block in _SESSION.finditer(page.read_text()):
            where = f"{page.relative_to(ROOT)}:{page.read_text()[: block.start()].count(chr(10)) + 1}"
            for command, output in re.findall(r"^\$ (.*?(?:\\\n.*?)*)\n(.*?)(?=^\$ |\Z)", block.group(1), re.S | re.M):
                found.append((where, command.replace("\\\n", " "), [line for line in output.splitlines() if line.strip()]))
    return found


def answers() -> list[tuple[str, str, str, str, str]]:
    """(where, method, path, request body, documented answer) of every checked HTTP answer."""
    return [(f"{page.relative_to(ROOT)}:{page.read_text()[: m.start()].count(chr(10)) + 1}", *m.groups())
            for page in PAGES for m in _ANSWER.finditer(page.read_text())]


def matches(expected: str, actual: str) -> bool:
    """Whether ``actual`` is ``expected`` with each ``...`` standing for any text."""
    pattern = ".*?".join(re.escape(part) for part in expected.strip().split("..."))
    return re.fullmatch(pattern, actual.strip()) is not None


@pytest.mark.parametrize(("where", "command", "expected"), sessions(), ids=lambda v: v if isinstance(v, str) and ":" in v else "")
def test_each_checked_command_prints_what_its_doc_shows(where, command, expected, capsys, monkeypatch, forget_spaces):
    monkeypatch.chdir(ROOT)
    words = shlex.split(command)
    assert words[0] == "naswot", f"{where}: only naswot commands are run, not {words[0]!r}"
    main(words[1:])
    printed = capsys.readouterr()
    actual = [line for line in (printed.out + printed.err).splitlines() if line.strip()]
    assert len(actual) == len(expected), f"{where}: `{command}` printed {len(actual)} lines, the doc shows {len(expected)}:\n" + "\n".join(actual)
    for n, (want, got) in enumerate(zip(expected, actual), 1):
        assert matches(want, got), f"{where}: `{command}` line {n} is\n{got}\nthe doc shows\n{want}"


@pytest.mark.parametrize(("where", "method", "path", "body", "documented"), answers(), ids=lambda v: v if isinstance(v, str) and ":" in v else "")
def test_each_checked_http_answer_is_what_the_app_answers(where, method, path, body, documented, tmp_path):
    app = create_app(Settings(db=tmp_path / "db.sqlite", data="noise", data_dir=tmp_path), scorer_factory=FakeScorers())
    with TestClient(app) as http:
        answer = http.request(method, path, json=json.loads(body))
    assert answer.json() == json.loads(documented), f"{where}: {method} {path} answers\n{answer.text}"


def test_there_are_checked_examples():
    assert len(sessions()) >= 3 and answers(), "the docs keep their checked examples (a renamed marker would silently check nothing)"


CLI = ROOT / "docs" / "cli.md"


def documented_rows() -> dict[str, set[str]]:
    """Each command of docs/cli.md's table and the options its row names."""
    rows = {}
    for line in CLI.read_text().splitlines():
        if m := re.match(r"^\| `naswot (\w+)([^|]*?(?:\\\|[^|]*?)*)` \|", line):
            rows[m.group(1)] = set(re.findall(r"--[a-z][a-z0-9-]*", m.group(2)))
    return rows


@pytest.mark.parametrize("command", sorted(commands()))
def test_the_options_docs_cli_names_for_a_command_are_its_own(command):
    rows = documented_rows()
    if command in ("spaces", "scores"):
        pytest.skip("documented together, without options")
    assert command in rows, f"docs/cli.md has no row for naswot {command}"
    own = {s for a in commands()[command]._actions for s in a.option_strings}
    assert rows[command] <= own, f"docs/cli.md names options naswot {command} does not take: {sorted(rows[command] - own)}"


@pytest.mark.parametrize("command", sorted(commands()))
def test_every_option_a_command_shows_is_named_in_docs_cli(command):
    text = CLI.read_text()
    missing = [a.option_strings[-1] for a in shown_options(commands()[command]) if not any(s in text for s in a.option_strings)]
    assert not missing, f"docs/cli.md never names these options of naswot {command}: {missing}"
