"""Config file, --param parsing and command-line errors: every bad input gets a one-line error naming it."""
from __future__ import annotations

import pytest

from cli.main import main
from cli.config import ConfigError, load_config, to_toml
from engines.params import parse_param, parse_value


@pytest.mark.parametrize(
    "text, expected",
    [("126", 126), ("0.5", 0.5), ("None", None), ("off", None), ("true", True), ("False", False), ("close", "close")],
)
def test_parse_value_types(text, expected):
    assert parse_value(text) == expected and type(parse_value(text)) is type(expected)


def test_parse_param():
    assert parse_param("rotation.lookback=126") == ("rotation", "lookback", 126)
    assert parse_param("ratio-pair.short_cost=0.01") == ("ratio-pair", "short_cost", 0.01)
    for bad in ("rotation.lookback", "lookback=126", ".x=1", "rotation.=1"):
        with pytest.raises(ConfigError, match="STRATEGY.KEY=VALUE"):
            parse_param(bad)


def test_load_config_round_trip(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(
        '[run]\nstart = "2015-01-01"\ncash = 50000\nslippage = 0.0002\n\n'
        '[strategies]\nnames = ["buy-hold-spy", "mix-50-50"]\n\n[params.mix-50-50]\nrebalance = "never"\ncash_buffer = "off"\n'
    )
    config = load_config(path)
    assert config["run"] == {"start": "2015-01-01", "cash": 50000, "slippage": 0.0002}
    assert config["strategies"] == ["buy-hold-spy", "mix-50-50"]
    assert config["params"] == {"mix-50-50": {"rebalance": "never", "cash_buffer": None}}
    again = tmp_path / "again.toml"
    again.write_text(to_toml(config))
    assert load_config(again) == config


@pytest.mark.parametrize(
    "body, message",
    [
        ("[run]\nstrat = 1\n", r"unknown key \[run\] strat"),
        ("[runs]\n", "unknown section"),
        ('[run]\ncash = "lots"\n', r"\[run\] cash = 'lots' has the wrong type"),
        ("[strategies]\nname = []\n", r"unknown key \[strategies\] name"),
        ("[run\n", "not valid TOML"),
    ],
)
def test_bad_config_names_the_key_and_file(tmp_path, body, message):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--strategies", "nope"], "unknown strategy 'nope'"),
        (["--param", "buy-hold-spy.lookbak=5"], "strategy 'buy-hold-spy': unknown parameter(s) lookbak"),
        (["--param", "mix-50-50.rebalance=weekly", "--strategies", "mix-50-50", "--start", "2020-01-01", "--end", "2020-03-31", "--jobs", "1", "--no-plots"],
         "rebalance must be one of"),
        (["--cash", "-5"], "--cash must be > 0"),
        (["--commission", "-0.1"], "--commission must be >= 0"),
        (["--config", "does-not-exist.toml"], "config file does-not-exist.toml: not found"),
        (["--start", "1999-01-01", "--strategies", "buy-hold-spy"], "IWM (bundled:IWM.csv) starts on 2000-05-26"),
        (["--source", "ftp:x", "--strategies", "buy-hold-spy"], "unknown source 'ftp:x'"),
        (["--module", "no/such/file.py"], "no such file"),
    ],
)
def test_cli_errors_are_one_clear_line(argv, message, capsys, tmp_path):
    code = main([*argv, "--output", str(tmp_path)] if "--output" not in argv and argv[0].startswith("--") else argv)
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("error: ")
    assert message in err
    assert "Traceback" not in err


def test_help_lists_every_option_with_its_default(capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    out = capsys.readouterr().out
    for option in ("--start", "--end", "--cash", "--commission", "--commission-per-share", "--slippage", "--source",
                   "--param", "--config", "--strategies", "--module", "--output", "--no-plots", "--jobs"):
        assert option in out
    assert "default: 2010-01-01" in out and "default: 2024-12-31" in out and "default: output/latest" in out


def test_list_shows_registered_runs_and_user_module(capsys):
    assert main(["list", "--module", "examples/my_strategy.py"]) == 0
    out = capsys.readouterr().out
    for name in ("buy-hold-spy", "buy-hold-iwm", "mix-50-50", "spy-in-winter"):
        assert name in out
