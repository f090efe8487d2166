"""The command line as a user meets it: every --help, fixed parameters in sweeps and walk-forwards, number formats."""
from __future__ import annotations

import argparse

import pandas as pd
import pytest

from cli.main import build_parser, main
from reports.tables import format_cell, format_param, format_table, markdown


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_subcommand_has_a_working_help(capsys):
    commands = _subcommands()
    assert {"compare", "signal", "list", "sweep", "walkforward"} <= set(commands)
    for name in [None, *commands]:
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"] if name else ["--help"])
        assert exit_info.value.code == 0, name
        out = capsys.readouterr().out
        assert out.startswith("usage:") and (name is None or name in out.splitlines()[0]), name


def test_walkforward_applies_fixed_params_under_the_grid(tmp_path, capsys):
    base = ["walkforward", "--start", "2016-01-01", "--end", "2019-12-31", "--in-sample", "2", "--grid", "lookback=21,63",
            "--jobs", "1"]
    assert main([*base, "--output", str(tmp_path / "a")]) == 0
    assert main([*base, "--param", "rotation.vix_level=off", "--param", "rotation.breaker_drawdown=0.02",
                 "--output", str(tmp_path / "b")]) == 0
    plain = pd.read_csv(tmp_path / "a" / "walkforward.csv")
    fixed = pd.read_csv(tmp_path / "b" / "walkforward.csv")
    assert list(plain["out-of-sample"]) == list(fixed["out-of-sample"])
    # a 2% breaker trips in these years: the in-sample figures change (the grid still chooses the lookback)
    assert (plain["in-sample CAGR [%]"] - fixed["in-sample CAGR [%]"]).abs().max() > 0.1
    assert set(fixed["lookback"]) <= {21, 63}


def test_walkforward_fixed_param_equals_single_run(tmp_path):
    from feeds import prepare_feeds
    from engines.engine import RunSettings, run_one
    from research.walkforward import run_walkforward

    feeds = prepare_feeds("2016-01-01", "2018-12-31")
    settings = RunSettings(start="2016-01-01", end="2018-12-31")
    table, _ = run_walkforward("rotation", {"lookback": [63]}, feeds, settings, in_sample_years=2, jobs=1, progress=False,
                               base_params={"breaker_drawdown": 0.02})
    single = run_one("rotation", feeds.window("2018-01-01", "2018-12-31"), settings, {"lookback": 63, "breaker_drawdown": 0.02})
    default = run_one("rotation", feeds.window("2018-01-01", "2018-12-31"), settings, {"lookback": 63})
    assert table["out-of-sample CAGR [%]"].iloc[0] == pytest.approx(single.metrics["CAGR [%]"], rel=1e-12)
    assert abs(single.metrics["CAGR [%]"] - default.metrics["CAGR [%]"]) > 0.1


def test_sweep_applies_fixed_params(tmp_path):
    base = ["sweep", "--start", "2018-01-01", "--end", "2019-12-31", "--grid", "lookback=21,63", "--jobs", "1"]
    assert main([*base, "--output", str(tmp_path / "a")]) == 0
    assert main([*base, "--param", "rotation.breaker_drawdown=0.02", "--output", str(tmp_path / "b")]) == 0
    plain, fixed = (pd.read_csv(tmp_path / k / "sweep.csv") for k in "ab")
    assert (plain["CAGR [%]"] - fixed["CAGR [%]"]).abs().max() > 0.1


def test_one_format_per_column():
    table = pd.DataFrame({"Exposure [%]": [100.0, 14.97], "Rebalances": [180.0, 1.0], "Final value [$]": [312757.2, 1234567.0],
                          "Turnover [x/yr]": [4.17, None]}, index=pd.Index(["a", "b"], name="Run"))
    text = format_table(table)
    assert "100.00" in text and "14.97" in text and "180 " in text and "312,757" in text and "1,234,567" in text
    md = markdown(table)
    assert "| a | 100.00 | 180 | 312,757 | 4.17 |" in md and "| b | 14.97 | 1 | 1,234,567 | n/a |" in md
    assert format_cell("out-of-sample Final value [$]", 1234.4) == "1,234"
    assert [format_param(v) for v in (None, 25.0, 0.1, 63, True)] == ["off", "25", "0.1", "63", "true"]


def test_sweep_prints_and_writes_off(tmp_path, capsys):
    assert main(["sweep", "--start", "2018-01-01", "--end", "2018-12-31", "--grid", "vix_level=25,off", "--jobs", "1",
                 "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "off" in out and "NaN" not in out and "nan" not in out
    assert sorted(pd.read_csv(tmp_path / "sweep.csv", dtype=str)["vix_level"]) == ["25", "off"]
