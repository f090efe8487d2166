"""Sweeps and walk-forward: grid parsing, identical results serial / process pool / Dask, window arithmetic."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from feeds import prepare_feeds
from cli.main import main
from cli.config import ConfigError
from engines.engine import RunSettings, run_one
from research.sweep import combinations, parse_grid, run_sweep
from research.walkforward import make_windows, run_walkforward, stitch

SETTINGS = RunSettings(start="2018-01-01", end="2019-12-31")
GRID = {"lookback": [21, 63], "vix_level": [25.0, None]}


@pytest.fixture(scope="module")
def short_feeds():
    return prepare_feeds(SETTINGS.start, SETTINGS.end)


def test_parse_grid_ranges_lists_and_off():
    grid = parse_grid(["rotation.lookback=21:252:21", "vix_level=25,30,35,off", "breaker_drawdown=None,0.05,0.1"])
    assert grid["lookback"] == list(range(21, 253, 21)) and len(grid["lookback"]) == 12
    assert grid["vix_level"] == [25, 30, 35, None] and grid["breaker_drawdown"] == [None, 0.05, 0.1]
    assert len(combinations(grid)) == 144
    assert parse_grid(["x=0.1:0.3:0.1"])["x"] == [0.1, 0.2, 0.3]


@pytest.mark.parametrize("spec, message", [("lookback", "KEY=VALUES"), ("lookback=10:5:1", "STOP >= START"),
                                           ("lookback=1:5:0", "STEP > 0"), ("lookback=", "no values")])
def test_bad_grid(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_grid([spec])


def test_sweep_rows_equal_single_runs_serial_and_pool(short_feeds):
    serial = run_sweep("rotation", GRID, short_feeds, SETTINGS, jobs=1, progress=False)
    pooled = run_sweep("rotation", GRID, short_feeds, SETTINGS, jobs=2, progress=False)
    pd.testing.assert_frame_equal(serial, pooled)
    assert len(serial) == 4 and list(serial.columns[:2]) == ["lookback", "vix_level"]
    single = run_one("rotation", short_feeds, SETTINGS, {"lookback": 21, "vix_level": None}).metrics
    row = serial[(serial.lookback == 21) & serial.vix_level.isna()].iloc[0]
    assert row["Final value [$]"] == pytest.approx(single["Final value [$]"], rel=1e-12)


def test_unknown_sweep_parameter_is_a_clear_error(short_feeds):
    with pytest.raises(ValueError, match="unknown parameter"):
        run_sweep("rotation", {"lookbak": [1]}, short_feeds, SETTINGS, jobs=1, progress=False)


def test_dask_local_cluster_gives_identical_results(short_feeds, dask_scheduler):
    on_dask = run_sweep("rotation", GRID, short_feeds, SETTINGS, executor="dask", scheduler=dask_scheduler, progress=False)
    local = run_sweep("rotation", GRID, short_feeds, SETTINGS, jobs=1, progress=False)
    pd.testing.assert_frame_equal(on_dask, local)


def test_dask_without_scheduler_is_a_clear_error(short_feeds):
    with pytest.raises(ValueError, match="--scheduler"):
        run_sweep("rotation", GRID, short_feeds, SETTINGS, executor="dask", progress=False)


def test_sweep_command_writes_table_and_heatmap(tmp_path, capsys):
    code = main(["sweep", "--start", "2018-01-01", "--end", "2019-12-31", "--grid", "lookback=21,63",
                 "--grid", "vix_level=25,off", "--output", str(tmp_path), "--jobs", "1"])
    assert code == 0
    table = pd.read_csv(tmp_path / "sweep.csv")
    assert len(table) == 4 and (tmp_path / "heatmap.png").stat().st_size > 5_000
    assert "top 10 by CAGR [%]" in capsys.readouterr().out


def test_walkforward_windows():
    rolling = make_windows("2010-01-01", "2024-12-31", 5, 1)
    assert len(rolling) == 10
    assert (rolling[0].is_start, rolling[0].oos_start, rolling[-1].oos_end) == (
        pd.Timestamp("2010-01-01"), pd.Timestamp("2015-01-01"), pd.Timestamp("2024-12-31"))
    anchored = make_windows("2010-01-01", "2024-12-31", 5, 2, anchored=True)
    assert [w.is_start.year for w in anchored] == [2010] * 5 and anchored[-1].oos_start == pd.Timestamp("2023-01-01")
    with pytest.raises(ConfigError, match="shorter than"):
        make_windows("2010-01-01", "2012-12-31", 5, 1)


def test_stitch_chains_returns():
    a = pd.Series([110.0, 121.0], index=pd.to_datetime(["2020-01-02", "2020-01-03"]))
    b = pd.Series([90.0, 100.0], index=pd.to_datetime(["2020-01-06", "2020-01-07"]))
    start_a = pd.Series([100.0], index=pd.to_datetime(["2020-01-01"]))
    start_b = pd.Series([100.0], index=pd.to_datetime(["2020-01-03"]))
    out = stitch([pd.concat([start_a, a]), pd.concat([start_b, b])], 100.0)
    assert list(out) == pytest.approx([100.0, 110.0, 121.0, 108.9, 121.0]) and out.index.is_unique


def test_walkforward_oos_equals_single_runs_with_chosen_params():
    feeds = prepare_feeds("2016-01-01", "2019-12-31")
    settings = RunSettings(start="2016-01-01", end="2019-12-31")
    table, stitched = run_walkforward("rotation", {"lookback": [21, 126]}, feeds, settings, in_sample_years=2,
                                      out_of_sample_years=1, jobs=1, progress=False)
    assert list(table["out-of-sample"]) == ["2018-01-01..2018-12-31", "2019-01-01..2019-12-31"]
    for _, row in table.iterrows():
        lookback = int(row["lookback"])
        start, end = row["in-sample"].split("..")
        in_sample = {lb: run_one("rotation", feeds.window(start, end), settings, {"lookback": lb}).metrics for lb in (21, 126)}
        assert lookback == max(in_sample, key=lambda lb: in_sample[lb]["CAGR [%]"])
        assert row["in-sample CAGR [%]"] == pytest.approx(in_sample[lookback]["CAGR [%]"])
        assert row["in-sample Sharpe"] == pytest.approx(in_sample[lookback]["Sharpe"])  # the chosen one's other figures
        oos_start, oos_end = row["out-of-sample"].split("..")
        oos = run_one("rotation", feeds.window(oos_start, oos_end), settings, {"lookback": lookback}).metrics
        assert row["out-of-sample Max drawdown [%]"] == pytest.approx(oos["Max drawdown [%]"])
    assert stitched.index[0] == pd.Timestamp("2017-12-29") and stitched.index[-1] == pd.Timestamp("2019-12-31")
    assert stitched.index.is_unique and stitched.iloc[0] == settings.cash


def test_sweep_and_walkforward_from_a_config_file(tmp_path, capsys):
    config = tmp_path / "sweep.toml"
    config.write_text(
        '[run]\nstart = "2016-01-01"\nend = "2019-12-31"\njobs = 1\n\n'
        '[sweep]\nstrategy = "rotation"\nmetric = "Sharpe"\n[sweep.grid]\nlookback = "21:63:42"\nvix_level = [30, "off"]\n\n'
        '[walkforward]\nin_sample = 2\nout_of_sample = 1\ngrid = { lookback = [21, 63] }\n'
    )
    assert main(["sweep", "--config", str(config), "--output", str(tmp_path / "s")]) == 0
    table = pd.read_csv(tmp_path / "s" / "sweep.csv")
    assert sorted(table["lookback"].unique()) == [21, 63] and len(table) == 4
    assert main(["walkforward", "--config", str(config), "--output", str(tmp_path / "w")]) == 0
    walk = pd.read_csv(tmp_path / "w" / "walkforward.csv")
    assert list(walk["out-of-sample"]) == ["2018-01-01..2018-12-31", "2019-01-01..2019-12-31"]
    bad = tmp_path / "bad.toml"
    bad.write_text("[sweep]\nstrategy = \"rotation\"\ngird = {}\n")
    assert main(["sweep", "--config", str(bad)]) == 2
    assert "unknown key(s) gird" in capsys.readouterr().err


def test_strategies_option_names_the_one_strategy_or_is_refused(tmp_path, capsys):
    period = ["--start", "2019-01-01", "--end", "2019-12-31", "--jobs", "1"]
    assert main(["sweep", "--strategies", "ratio-rotation", "--engine", "fast", "--grid", "zone_low=2.0,2.1",
                 "--output", str(tmp_path / "one"), *period]) == 0
    assert json.loads((tmp_path / "one" / "sweep.json").read_text())["strategy"] == "ratio-rotation"
    capsys.readouterr()
    for command in ("sweep", "walkforward"):
        assert main([command, "--strategies", "rotation,ratio-rotation", "--grid", "lookback=21,63",
                     "--output", str(tmp_path / command), *period]) == 2
        err = capsys.readouterr().err
        assert f"error: {command} runs one strategy, but --strategies names 2 (rotation, ratio-rotation)" in err
    assert main(["sweep", "--strategies", "dual-mom", "--grid", "lookback=21,63", "--output", str(tmp_path / "x"), *period]) == 2
    assert "dual-mom" in capsys.readouterr().err
    assert main(["sweep", "--strategy", "rotation", "--strategies", "ratio-rotation", "--grid", "lookback=21,63",
                 "--output", str(tmp_path / "y"), *period]) == 2
    assert "name different strategies" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_fast_sweep_file_on_dask_equals_the_local_pool_and_the_table(tmp_path, dask_scheduler, short_feeds):
    grid = ["--grid", "lookback=21:126:21", "--grid", "vix_level=25,off", "--grid", "allocation=0.5,1"]
    period = ["--start", SETTINGS.start, "--end", SETTINGS.end, "--engine", "fast", "--chunk", "7"]
    assert main(["sweep", *grid, *period, "--jobs", "2", "--output", str(tmp_path / "local")]) == 0
    assert main(["sweep", *grid, *period, "--executor", "dask", "--scheduler", dask_scheduler,
                 "--output", str(tmp_path / "dask")]) == 0
    local, on_dask = (pd.read_parquet(tmp_path / k / "sweep.parquet") for k in ("local", "dask"))
    pd.testing.assert_frame_equal(local, on_dask)
    assert list(local["combination"]) == list(range(24))
    table = run_sweep("rotation", {"lookback": [21, 42, 63, 84, 105, 126], "vix_level": [25, None], "allocation": [0.5, 1]},
                      short_feeds, SETTINGS, engine="fast", jobs=1, progress=False)
    pd.testing.assert_frame_equal(local.drop(columns="combination"), table, check_dtype=False)
