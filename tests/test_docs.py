"""The documentation: the README stays short, every relative link resolves, the settings table matches the model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from app.settings_doc import BEGIN, END, documented_table, replace_table, settings_table

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
MAX_README_LINES = 260
REGENERATE = ".venv/bin/python -m app.settings_doc --write docs/settings.md"
#: docs written on sibling branches of issue 20's round, linked here already; each entry must go once the file exists
ARRIVING: frozenset[str] = frozenset()

_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```.*?^```", re.S | re.M)
_CODE = re.compile(r"`[^`\n]*`")


def links(path: Path) -> list[str]:
    """The link targets of a markdown file, outside code blocks and code spans."""
    text = _CODE.sub("", _FENCE.sub("", path.read_text(encoding="utf-8")))
    return _LINK.findall(text)


def relative_links(path: Path) -> list[str]:
    """The targets that point into the repository (not a URL, not a mail address)."""
    return [t for t in links(path) if not re.match(r"^[a-z][a-z0-9+.-]*:", t)]


def anchors(path: Path) -> set[str]:
    """GitHub's anchors for the headings of ``path``: lower case, punctuation dropped, spaces as hyphens."""
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", text, re.M)
    return {re.sub(r"[^\w\- ]", "", h.replace("`", "").lower()).replace(" ", "-") for h in headings}


def target_of(source: Path, link: str) -> tuple[Path, str]:
    """The file a relative link points at and its anchor ('' when none)."""
    path, _, anchor = link.partition("#")
    return (source if not path else (source.parent / path).resolve()), anchor


def test_readme_is_short() -> None:
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines; keep it at most {MAX_README_LINES} and move detail into docs/"


@pytest.mark.parametrize("doc", [README, *DOCS], ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path) -> None:
    broken = []
    for link in relative_links(doc):
        target, anchor = target_of(doc, link)
        name = target.relative_to(ROOT).as_posix() if target.is_relative_to(ROOT) else str(target)
        if not target.exists() and name not in ARRIVING:
            broken.append(f"{link} (no file {name})")
        elif anchor and target.suffix == ".md" and target.exists() and anchor not in anchors(target):
            broken.append(f"{link} (no heading #{anchor} in {name})")
    assert not broken, f"{doc.relative_to(ROOT)}: broken links: {', '.join(broken)}"


@pytest.mark.parametrize("name", sorted(ARRIVING))
def test_arriving_docs_are_not_yet_here(name: str) -> None:
    assert not (ROOT / name).exists(), f"{name} exists now: remove it from ARRIVING in tests/test_docs.py so its links are checked"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_each_doc_says_what_it_covers(doc: Path) -> None:
    lines = doc.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# ") and len(lines) > 2 and lines[1] == "" and lines[2].strip(), (
        f"{doc.name}: start with a '# Title' line, a blank line, then one line saying what the document covers"
    )


def test_readme_links_every_doc() -> None:
    linked = {target_of(README, link)[0] for link in relative_links(README)}
    unlinked = [doc.name for doc in DOCS if doc.resolve() not in linked]
    assert not unlinked, f"README.md links no entry for docs/{', docs/'.join(unlinked)}"


def test_settings_table_in_docs_matches_the_model() -> None:
    documented = documented_table((ROOT / "docs" / "settings.md").read_text(encoding="utf-8"))
    assert documented == settings_table(), f"docs/settings.md's settings table differs from app.settings.Settings; regenerate it: {REGENERATE}"


class _Example(BaseModel):
    plain: str = Field("a|b", description="a pipe | in a cell")
    unset: int | None = Field(None, ge=1, description="no default")
    flag: bool = Field(True, description="a switch")
    ratio: float = Field(2.0, gt=0, le=10, description="bounded")
    names: dict[str, str] = Field(default_factory=dict, description="a mapping")


@pytest.mark.parametrize(
    ("field", "row"),
    [
        ("plain", r"| `NASWOT_PLAIN` | `a\|b` |  | a pipe \| in a cell |"),
        ("unset", "| `NASWOT_UNSET` | (none) | >= 1 | no default |"),
        ("flag", "| `NASWOT_FLAG` | `1` | `1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off` | a switch |"),
        ("ratio", "| `NASWOT_RATIO` | `2` | > 0, <= 10 | bounded |"),
        ("names", "| `NASWOT_NAMES` | (none) |  | a mapping |"),
    ],
)
def test_settings_table_renders_each_field(field: str, row: str) -> None:
    rows = settings_table(_Example).splitlines()
    assert row in rows, f"row of {field!r}: expected {row!r} in {rows}"


def test_settings_table_has_one_row_per_field_in_order() -> None:
    rows = settings_table(_Example).splitlines()[2:]
    variables = [row.split("`")[1] for row in rows]
    assert variables == [f"NASWOT_{name.upper()}" for name in _Example.model_fields], variables


def test_replace_table_keeps_the_text_around_the_markers() -> None:
    text = f"before\n{BEGIN}\nold table\n{END}\nafter\n"
    assert replace_table(text, "new\n") == f"before\n{BEGIN}\nnew\n{END}\nafter\n"


def test_missing_markers_are_named() -> None:
    with pytest.raises(ValueError, match="markers are missing"):
        documented_table("no table here")
