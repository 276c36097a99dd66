"""A space file's builder is its own: two folders' ``model:build`` stay apart, and the cache identity covers the code it runs."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import pytest
from spacefile_support import forget_spaces, write_space  # noqa: F401  (fixture)

from app.cli.main import main
from app.main import create_app
from app.service.spacefiles import load_spaces
from app.settings import Settings
from searchspace import SpaceFileError, get_space, load_space_file
from searchspace.spacefile import load_space_text

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

#: two families, each a ``model.py`` with ``build``; their parameter counts at width 16 tell them apart
FAMILIES = {
    "famA": ("nn.Conv2d(3, w, 1)", 3 * 16 + 16 + 16 * 10 + 10),  # a 1x1 conv and the head: 234
    "famB": ("nn.Conv2d(3, w, 3), nn.ReLU(), nn.Conv2d(w, w, 3)", 27 * 16 + 16 + 9 * 16 * 16 + 16 + 16 * 10 + 10),  # 2,938
}
MODEL = """from torch import nn

def build(config, num_classes):
    w = config["width"]
    return nn.Sequential({layers}, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(w, num_classes))
"""
ARCH = {"width": 16}


def family(root: Path, name: str, model: str = "model", layers: str | None = None) -> Path:
    """A folder ``root/name`` holding ``{model}.py`` and a space file ``name`` whose builder is ``{model}:build``."""
    folder = root / name
    folder.mkdir(exist_ok=True)
    (folder / f"{model}.py").write_text(MODEL.format(layers=layers or FAMILIES[name][0]))
    return write_space(folder, name=name, builder=f"{model}:build", choices={"width": [8, 16]})


@pytest.fixture
def two_families(tmp_path, forget_spaces) -> list[Path]:
    return [family(tmp_path, name) for name in FAMILIES]


def test_two_folders_each_with_model_build_get_their_own_networks(two_families):
    spaces = load_spaces(two_families)
    got = {space.name: space.cost(ARCH).params for space in spaces}
    assert got == {name: params for name, (_, params) in FAMILIES.items()}, f"a family got another's network: {got}"


def test_the_cli_scores_each_family_with_its_own_network(two_families, capsys):
    files = [arg for path in two_families for arg in ("--space-file", str(path))]
    for name, (_, params) in FAMILIES.items():
        assert main(["score", *files, "--space", name, "--data", "noise", "--batch-size", "4", "--arch", json.dumps(ARCH)]) == 0
        row = json.loads(capsys.readouterr().out)
        assert row["params"] == params, f"{name} was scored with {row['params']:,} parameters, not its own {params:,}"


def test_http_scores_each_family_with_its_own_network(two_families, tmp_path):
    settings = Settings(db=tmp_path / "db.sqlite", data="noise", data_dir=tmp_path, spaces=[str(p) for p in two_families])
    with TestClient(create_app(settings)) as http:
        for name, (_, params) in FAMILIES.items():
            answer = http.post("/v1/score", json={"space": name, "archs": [ARCH], "data": "noise", "batch_size": 4})
            assert answer.status_code == 200, answer.text
            assert answer.json()["results"][0]["params"] == params, f"{name} answered with another family's network"


def test_a_sibling_module_another_folder_already_gave_is_refused_at_load(tmp_path, forget_spaces):
    paths = []
    for name, (layers, _) in FAMILIES.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / "layers_of_family.py").write_text(f"from torch import nn\n\ndef body(w):\n    return [{layers}]\n")
        (folder / "model.py").write_text(MODEL.format(layers="*layers_of_family.body(w)").replace("from torch", "import layers_of_family\nfrom torch"))
        paths.append(write_space(folder, name=name, builder="model:build", choices={"width": [8, 16]}))
    load_spaces(paths[:1])
    with pytest.raises(SpaceFileError, match=r"builder: module 'layers_of_family' beside this file is already loaded from .*famA") as caught:
        load_spaces(paths[1:])
    assert caught.value.origin == str(paths[1])


def forget_modules(folder: Path) -> None:
    """What a restart forgets: the loaded space texts, the modules imported from ``folder`` and its place on ``sys.path``."""
    load_space_text.cache_clear()
    while str(folder) in sys.path:
        sys.path.remove(str(folder))
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(folder)):
            del sys.modules[name]


def helper_family(folder: Path, layers: str) -> Path:
    """``hbuild.py`` builds from ``helperlayers.py``; the space file names only ``hbuild:build``."""
    folder.mkdir(exist_ok=True)
    (folder / "helperlayers.py").write_text(f"from torch import nn\n\ndef body(w):\n    return [{layers}]\n")
    (folder / "hbuild.py").write_text(MODEL.format(layers="*helperlayers.body(w)").replace("from torch", "import helperlayers\nfrom torch"))
    return write_space(folder, name="helped", builder="hbuild:build", choices={"width": [8, 16]})


def test_editing_a_module_the_builder_imports_changes_the_identity(tmp_path):
    path = helper_family(tmp_path / "helped", FAMILIES["famA"][0])
    before = load_space_file(path).identity
    forget_modules(path.parent)
    helper_family(tmp_path / "helped", FAMILIES["famB"][0])
    assert load_space_file(path).identity != before, "a changed helper module kept the space's cache identity"
    forget_modules(path.parent)


def test_a_changed_helper_is_scored_afresh_after_a_restart(tmp_path, forget_spaces):
    path = helper_family(tmp_path / "helped", FAMILIES["famA"][0])
    settings = Settings(db=tmp_path / "db.sqlite", data="noise", data_dir=tmp_path, spaces=[str(path)])
    body = {"space": "helped", "archs": [ARCH], "data": "noise", "batch_size": 4}
    answers = []
    for layers in (FAMILIES["famA"][0], FAMILIES["famB"][0]):
        forget_modules(path.parent)
        helper_family(path.parent, layers)
        with TestClient(create_app(settings)) as http:
            answers.append(http.post("/v1/score", json=body).json()["results"][0])
    assert answers[1]["cached"] is False, "the edited network came from the cache"
    assert [a["params"] for a in answers] == [FAMILIES["famA"][1], FAMILIES["famB"][1]]
    forget_modules(path.parent)


def test_a_declared_version_is_part_of_the_identity(tmp_path):
    first = load_space_file(write_space(tmp_path, name="versioned", version="1"))
    second = load_space_file(write_space(tmp_path / ".." / tmp_path.name, name="versioned", version="2"))
    assert first.identity != second.identity, "bumping version kept the cache identity"


@pytest.mark.parametrize("version", [2, "", "x" * 65, None])
def test_a_version_is_short_text(tmp_path, version):
    with pytest.raises(SpaceFileError, match="version: "):
        load_space_file(write_space(tmp_path, name="versioned", version=version))


def test_a_builder_installed_by_name_is_still_imported_by_name(tmp_path):
    import space_builders

    space = load_space_file(write_space(tmp_path, name="byname", builder="space_builders:tiny"))
    assert space.builder is space_builders.tiny and get_space("nb201").identity == "nb201"


def test_a_builder_may_import_its_siblings_relatively(tmp_path, forget_spaces):
    paths = []
    for name, (layers, _) in FAMILIES.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / "blocks.py").write_text(f"from torch import nn\n\ndef body(w):\n    return [{layers}]\n")
        (folder / "model.py").write_text(MODEL.format(layers="*blocks.body(w)").replace("from torch", "from . import blocks\nfrom torch"))
        paths.append(write_space(folder, name=name, builder="model:build", choices={"width": [8, 16]}))
    got = {space.name: space.cost(ARCH).params for space in load_spaces(paths)}
    assert got == {name: params for name, (_, params) in FAMILIES.items()}, f"relative siblings mixed up: {got}"
