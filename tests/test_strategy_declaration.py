"""Strategy parameters and constraints are declared once, in ``search``: the CLI options, the request model and
``GET /v1/strategies`` are derived from that declaration, so a parameter added there shows up in all three."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
from pydantic import ValidationError
from helpers import fake_app

from app.cli.main import build_parser
from app.api.schemas import SearchRequest, search_request_model
from search import STRATEGIES, Constraints, Param, Strategy, declared_params, list_strategies
from search.options import given_params
from search.params import MAX_INT
from scoring import MeasuredCost

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's notice that its TestClient will move to httpx2
    from fastapi.testclient import TestClient

DECLARED = [pytest.param(strategy, param, id=f"{strategy}.{param.name}") for strategy in list_strategies() for param in declared_params(strategy)]
CONSTRAINTS = list(Constraints.model_fields)


def toy(ctx, rng, *, step_size):
    """A strategy that scores nothing: only its parameter matters here."""
    return False


TOY_PARAM = Param("step_size", 2, "how far a toy strategy steps", minimum=1, maximum=9)


@pytest.fixture
def toy_strategy(monkeypatch):
    """A fourth strategy whose one parameter is declared nowhere else."""
    monkeypatch.setitem(STRATEGIES, "toy", Strategy(toy, (TOY_PARAM,), "a toy strategy"))


def listing(tmp_path) -> dict:
    with TestClient(fake_app(tmp_path)) as http:
        response = http.get("/v1/strategies")
    assert response.status_code == 200, response.text
    return response.json()


def cli_value(option: str, text: str, name: str):
    """What ``naswot search OPTION TEXT`` parses into ``name``."""
    return getattr(build_parser().parse_args(["search", option, text]), name)


def search_help(capsys) -> str:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["search", "--help"])
    return " ".join(capsys.readouterr().out.split())


def bounds(model: type, name: str) -> tuple:
    """(ge, le) of a pydantic field."""
    metadata = model.model_fields[name].metadata
    return next(m.ge for m in metadata if hasattr(m, "ge")), next(m.le for m in metadata if hasattr(m, "le"))


@pytest.mark.parametrize(("strategy", "param"), DECLARED)
def test_each_declared_parameter_is_a_cli_option_of_its_type_with_its_help(capsys, strategy, param):
    value = cli_value(param.option, "7", param.name)
    assert value == 7 and type(value) is param.type, f"{param.option} should parse as {param.type.__name__}"
    assert " ".join(param.help.split()) in search_help(capsys), f"{param.option}'s help should be the declared one"


@pytest.mark.parametrize(("strategy", "param"), DECLARED)
def test_each_declared_parameter_is_a_request_field_with_its_bounds(strategy, param):
    assert bounds(SearchRequest, param.name) == (param.minimum, MAX_INT if param.maximum is None else param.maximum)
    with pytest.raises(ValidationError) as caught:
        SearchRequest(strategy=strategy, **{param.name: param.minimum - 1})
    assert caught.value.errors()[0]["loc"] == (param.name,), "the 422 should name the parameter"


@pytest.mark.parametrize(("strategy", "param"), DECLARED)
def test_each_declared_parameter_is_listed_with_type_default_bounds_and_help(tmp_path, strategy, param):
    (info,) = [s for s in listing(tmp_path)["strategies"] if s["name"] == strategy]
    assert param.describe() in info["parameters"], f"GET /v1/strategies should list {param.name} as declared"
    assert info["params"][param.name] == param.default, "params keeps name -> default"


def test_a_parameter_added_to_a_declaration_shows_up_in_the_cli_the_request_and_the_listing(toy_strategy, tmp_path):
    assert cli_value("--step-size", "5", "step_size") == 5
    model = search_request_model()
    assert bounds(model, "step_size") == (1, 9)
    assert model(strategy="toy", step_size=4).strategy_params() == {"step_size": 4}
    (info,) = [s for s in listing(tmp_path)["strategies"] if s["name"] == "toy"]
    assert info["parameters"] == [TOY_PARAM.describe()] and info["params"] == {"step_size": 2}


def test_a_strategy_whose_function_disagrees_with_its_declaration_is_refused():
    with pytest.raises(TypeError, match="step_size"):
        Strategy(toy, (Param("stride", 1, "not what toy takes"),), "mismatched")


def handing_on(ctx, rng, *, step_size, **rest):
    return False


def test_a_function_that_hands_parameters_on_takes_the_declared_ones_it_names():
    Strategy(handing_on, (TOY_PARAM, Param("stride", 1, "handed on")), "step_size by name, stride handed on")
    with pytest.raises(TypeError, match="step_size"):
        Strategy(handing_on, (Param("stride", 1, "handed on"),), "step_size taken but not declared")


def test_one_name_declared_two_ways_is_refused(monkeypatch):
    monkeypatch.setitem(STRATEGIES, "toy", Strategy(toy, (TOY_PARAM,), "a toy strategy"))
    other = Param("step_size", 3, "the same name, another default", minimum=1, maximum=9)
    monkeypatch.setitem(STRATEGIES, "toy2", Strategy(toy, (other,), "another toy"))
    with pytest.raises(TypeError, match="declared twice"):
        search_request_model()


@pytest.mark.parametrize("name", CONSTRAINTS)
def test_each_constraint_is_a_cli_option_a_listed_field_and_the_stored_type(tmp_path, name):
    assert cli_value("--" + name.replace("_", "-"), "123", name) == 123
    listed = {c["name"]: c for c in listing(tmp_path)["constraints"]}
    lowest = next(getattr(rule, "ge", getattr(rule, "gt", None)) for rule in Constraints.model_fields[name].metadata if hasattr(rule, "ge") or hasattr(rule, "gt"))
    assert listed[name]["minimum"] == lowest and listed[name]["help"] == Constraints.model_fields[name].description
    assert SearchRequest(constraints={name: 5}).constraints == Constraints(**{name: 5}), "the request holds search's own type"


@pytest.mark.parametrize("name", CONSTRAINTS)
def test_each_constraint_bounds_the_cost_it_names(name):
    attribute = name.removeprefix("max_")
    limit = Constraints(**{name: 10})
    costs = {"params": 1, "flops": 1, "latency_ms": 1.0}
    assert limit.admits(MeasuredCost(**{**costs, attribute: 10}))
    assert not limit.admits(MeasuredCost(**{**costs, attribute: 11})), f"{name} should bound cost.{attribute}"


@pytest.mark.parametrize("name", CONSTRAINTS)
def test_a_bad_constraint_is_refused_naming_it(name):
    with pytest.raises(ValidationError) as caught:
        SearchRequest(constraints={name: 0})
    assert caught.value.errors()[0]["loc"] == ("constraints", name)


def test_command_line_parameters_are_passed_only_to_the_strategies_that_take_them():
    args = build_parser().parse_args(["search", "--population-size", "6", "--init-size", "12", "--max-draws-per-eval", "3"])
    assert given_params(args, "evolution") == {"population_size": 6}
    assert given_params(args, "area") == {"population_size": 6, "init_size": 12}
    assert given_params(args) == {"population_size": 6, "init_size": 12, "max_draws_per_eval": 3}


SEARCH_DOC = Path(__file__).resolve().parent.parent / "docs" / "search.md"


def documented_params() -> dict[str, dict[str, str]]:
    """docs/search.md's strategy table: strategy -> {parameter: the default as written}; a cell saying "the parameters
    of `other`" includes other's row (AREA hands evolution's parameters on)."""
    rows = re.findall(r"^\| `(\w+)` \| (.*?) \|", SEARCH_DOC.read_text(encoding="utf-8").split("| strategy | parameters (default) |")[1], re.M)
    cells = dict(rows)
    own = {strategy: dict(re.findall(r"`(\w+)` \(([^)]*)\)", cell)) for strategy, cell in rows}
    return {s: {**{k: v for other in re.findall(r"the parameters of `(\w+)`", cells[s]) for k, v in own[other].items()}, **own[s]} for s in own}


def test_the_docs_table_lists_every_strategy():
    assert sorted(documented_params()) == list_strategies(), "docs/search.md's strategy table and the STRATEGIES registry differ"


@pytest.mark.parametrize("strategy", list_strategies())
def test_the_docs_table_gives_each_declared_parameter_and_its_default(strategy):
    documented = documented_params().get(strategy, {})
    declared = {p.name: p.default for p in STRATEGIES[strategy].params}
    assert sorted(documented) == sorted(declared), f"docs/search.md lists {sorted(documented)} for {strategy}, the declaration {sorted(declared)}"
    for name, default in declared.items():
        written = documented[name]
        if default is None:  # derived at run time: the doc says from what, never a number
            assert not re.fullmatch(r"[\d.]+", written), f"{strategy}.{name} is derived, the docs give {written}"
        else:
            assert written == str(default), f"docs/search.md gives {strategy}.{name} the default {written}, the declaration {default}"
