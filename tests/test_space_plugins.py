"""Spaces from the ``naswot.spaces`` entry points: the built-in ones, and a plugin distribution listed and scored."""

from __future__ import annotations

import importlib
import json
import warnings

import pytest
from spacefile_support import forget_spaces  # noqa: F401  (fixture)

from app.main import create_app
from app.settings import Settings
from searchspace import SpaceClash, get_space, list_spaces, register_space
from searchspace.registry import discover_plugins, space_source

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PLUGIN_MODULE = '''
from pathlib import Path
from searchspace import load_space_file

SPACE_FILE = str(Path(__file__).with_name("plugfile.json"))

def make():
    return load_space_file(Path(__file__).with_name("plugfactory.json"))
'''


@pytest.mark.parametrize("name", ["nb201", "nats-sss", "nb101", "darts"])
def test_the_built_in_spaces_are_entry_points(name):
    assert space_source(name).startswith(f"entry point {name} = searchspace."), space_source(name)
    assert get_space(name) is get_space(name), "one shared instance"


@pytest.fixture
def plugin(tmp_path, monkeypatch, forget_spaces):
    """A throw-away distribution on sys.path whose entry points give a space file and a factory."""
    dist = tmp_path / "naswot_plugdemo-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: naswot-plugdemo\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[naswot.spaces]\nplugfile = plugdemo:SPACE_FILE\nplugfactory = plugdemo:make\n")
    (tmp_path / "plugdemo.py").write_text(PLUGIN_MODULE)
    for name in ("plugfile", "plugfactory"):
        (tmp_path / f"{name}.json").write_text(json.dumps({"name": name, "builder": "space_builders:tiny", "choices": {"width": [8, 16]}}))
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    discover_plugins()


def test_a_plugin_space_is_listed_and_scored(plugin, tmp_path):
    assert {"plugfile", "plugfactory"} <= set(list_spaces())
    assert "(naswot-plugdemo)" in space_source("plugfile")
    with TestClient(create_app(Settings(db=tmp_path / "db.sqlite", data="noise", data_dir=tmp_path))) as http:
        listed = {s["name"] for s in http.get("/v1/spaces").json()["spaces"]}
        answer = http.post("/v1/score", json={"space": "plugfile", "archs": [{"width": 16}], "data": "noise", "batch_size": 8})
        factory = http.post("/v1/score", json={"space": "plugfactory", "archs": ['{"width": 8}'], "data": "noise", "batch_size": 8})
    assert {"plugfile", "plugfactory"} <= listed
    assert answer.status_code == 200, answer.text
    [result] = answer.json()["results"]
    assert result["arch"] == '{"width":16}' and isinstance(result["score"], float) and result["params"] > 0
    assert factory.status_code == 200 and factory.json()["results"][0]["arch"] == '{"width":8}', factory.text


def test_a_name_registered_twice_names_both_sources(forget_spaces):
    with pytest.raises(SpaceClash, match=r"'nb201' from register_space in .* clashes with the one from entry point nb201 = searchspace\.nb201"):
        register_space("nb201")(lambda: get_space("nb201"))


@pytest.fixture
def broken_plugin(tmp_path, monkeypatch, forget_spaces):
    """A distribution whose entry point names an object its module lacks, beside a working one."""
    dist = tmp_path / "naswot_brokendemo-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: naswot-brokendemo\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[naswot.spaces]\nbrokenspace = brokendemo:MISSING\nfinespace = brokendemo:FINE\n")
    (tmp_path / "brokendemo.py").write_text('from pathlib import Path\nFINE = str(Path(__file__).with_name("finespace.json"))\n')
    (tmp_path / "finespace.json").write_text(json.dumps({"name": "finespace", "builder": "space_builders:tiny", "choices": {"width": [8, 16]}}))
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    discover_plugins()


BROKEN_LINE = "search space 'brokenspace' (entry point brokenspace = brokendemo:MISSING (naswot-brokendemo)) cannot be loaded: AttributeError"


def test_naswot_spaces_names_a_broken_plugin_in_one_line_and_lists_the_others(broken_plugin, capsys):
    from app.cli.main import main

    assert main(["spaces"]) == 0, "one broken plugin stopped the listing"
    out, err = capsys.readouterr()
    listed = {json.loads(line)["name"] for line in out.splitlines() if line.startswith("{")}
    assert {"finespace", "nb201"} <= listed and "brokenspace" not in listed, listed
    assert "Traceback" not in err and [line for line in err.splitlines() if "brokenspace" in line] == [f"naswot: warning: {BROKEN_LINE}: module 'brokendemo' has no attribute 'MISSING'"], err


def test_choosing_a_broken_plugin_on_the_command_line_exits_2_naming_it(broken_plugin, capsys):
    from app.cli.main import main

    assert main(["sample", "--space", "brokenspace", "--n", "1"]) == 2
    assert BROKEN_LINE in capsys.readouterr().err


def test_the_server_lists_and_scores_the_others_and_readyz_names_the_broken_plugin(broken_plugin, tmp_path):
    with TestClient(create_app(Settings(db=tmp_path / "db.sqlite", data="noise", data_dir=tmp_path))) as http:
        listed = http.get("/v1/spaces")
        ready = http.get("/readyz").json()
        fine = http.post("/v1/score", json={"space": "finespace", "archs": [{"width": 8}], "data": "noise", "batch_size": 8})
        broken = http.post("/v1/score", json={"space": "brokenspace", "archs": [{"width": 8}], "data": "noise", "batch_size": 8})
        one = http.get("/v1/spaces/brokenspace")
    assert listed.status_code == 200 and {"finespace", "nb201"} <= {s["name"] for s in listed.json()["spaces"]}, listed.text
    assert "brokenspace" not in {s["name"] for s in listed.json()["spaces"]}
    assert any(line.startswith(BROKEN_LINE) for line in ready["spaces_unavailable"]), ready
    assert fine.status_code == 200, fine.text
    assert broken.status_code == 422 and broken.json()["detail"][0]["loc"] == ["body", "space"], broken.text
    assert "cannot be loaded" in broken.json()["detail"][0]["msg"], broken.text
    assert one.status_code == 404 and "cannot be loaded" in one.text, one.text


@pytest.mark.parametrize("space", ["plugfile", "plugfactory"])
def test_the_parameter_limit_applies_to_a_plugin_space_and_not_to_a_built_in_one(plugin, tmp_path, space):
    settings = Settings(db=tmp_path / "db.sqlite", data="noise", data_dir=tmp_path, max_params=500)  # width 8: 330 parameters, 16: 650
    with TestClient(create_app(settings)) as http:
        answer = http.post("/v1/score", json={"space": space, "archs": [{"width": 8}, {"width": 16}], "data": "noise", "batch_size": 8})
        small = http.post("/v1/score", json={"space": space, "archs": [{"width": 8}], "data": "noise", "batch_size": 8})
        builtin = http.post("/v1/score", json={"space": "nb201", "archs": [get_space("nb201").example], "data": "noise", "batch_size": 8})
    assert answer.status_code == 200, answer.text
    small_result, big = answer.json()["results"]
    assert big["score"] is None and "650 parameters, more than the limit of 500 (NASWOT_MAX_PARAMS)" in (big["error"] or ""), f"a {space} network over NASWOT_MAX_PARAMS was scored: {big}"
    assert small.status_code == 200 and small.json()["results"][0]["params"] == 330, small.text
    assert builtin.status_code == 200 and builtin.json()["results"][0]["params"] > 500, "the limit reached a built-in space"


def test_the_parameter_limit_applies_to_a_plugin_space_on_the_command_line(plugin, capsys, monkeypatch):
    from app.cli.main import main

    monkeypatch.setenv("NASWOT_MAX_PARAMS", "500")
    assert main(["score", "--space", "plugfile", "--data", "noise", "--batch-size", "8", "--arch", '{"width": 16}']) == 2
    assert "more than the limit of 500 (NASWOT_MAX_PARAMS)" in capsys.readouterr().err
