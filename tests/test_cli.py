import json
from pathlib import Path

import pytest

from app.cli.main import build_parser, main

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_score_prints_one_json_object_per_arch(capsys):
    rc = main(["score", "--arch", BEST, "--arch", "[0,0,0,0,0,0]", "--data", "noise", "--batch-size", "16", "--device", "cpu"])
    assert rc == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["arch"] for r in lines] == [BEST, "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"]
    first, second = lines
    assert first["singular"] is False and isinstance(first["score"], float)
    assert first["params"] == 1_288_506 and first["flops"] > 0 and first["seconds"] > 0
    assert first["device"] == "cpu" and first["data"]["spec"] == "noise" and first["data"]["synthetic"] is True
    assert second["singular"] is True and second["score"] is None


def test_same_seed_gives_the_same_score(capsys):
    args = ["score", "--arch", BEST, "--data", "noise", "--batch-size", "8", "--seed", "3", "--device", "cpu"]
    main(args)
    main(args)
    a, b = (json.loads(line)["score"] for line in capsys.readouterr().out.splitlines())
    assert a == b


def test_naslib_encoding_from_the_command_line(capsys):
    assert main(["score", "--arch", '{"naslib": [2, 2, 0, 2, 2, 2]}', "--data", "noise", "--batch-size", "4", "--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out)["arch"] == BEST


def test_errors_exit_2_with_a_message(capsys):
    assert main(["score", "--arch", "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "--data", "noise"]) == 2
    assert "unknown op 'conv' at character 1" in capsys.readouterr().err
    assert main(["score", "--arch", BEST, "--data", "nowhere"]) == 2
    assert "unknown data source" in capsys.readouterr().err
    assert main(["score", "--arch", BEST, "--data", "noise", "--device", "tpu"]) == 2
    assert "device" in capsys.readouterr().err
    assert main(["score", "--arch", "[1,2", "--data", "noise"]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_costs_latency_ms_adds_the_measured_latency_and_its_device(capsys, one_torch_thread):
    assert main(["score", "--arch", "[1,1,1,1,1,1]", "--data", "noise", "--batch-size", "4", "--device", "cpu", "--costs", "latency_ms"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert isinstance(row["latency_ms"], float) and row["latency_ms"] > 0, row
    assert row["latency_device"].startswith("cpu: ") and "torch threads: 1" in row["latency_device"]


def test_an_unknown_cost_is_a_usage_error_naming_it(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["score", "--arch", BEST, "--data", "noise", "--costs", "latency_ms,watts"])
    assert exited.value.code == 2 and "unknown cost 'watts'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "variable, argv, option, expected",
    [
        ("NASWOT_URL", ["report", "abc"], "url", "http://elsewhere:9"),
        ("NASWOT_API_KEY", ["report", "abc"], "api_key", "k3y"),
        ("NASWOT_DATA_DIR", ["score", "--arch", "x"], "data_dir", Path("/data/sets")),
    ],
)
def test_command_defaults_come_from_the_settings_variables(monkeypatch, variable, argv, option, expected):
    monkeypatch.setenv(variable, str(expected))
    assert getattr(build_parser().parse_args(argv), option) == expected, f"--{option.replace('_', '-')} does not default to ${variable}"

