"""Sweep and walk-forward grids: every value checked by the strategy's own validation and the size limited, before any
data is loaded or any run starts; the first run is timed and the estimate printed."""
from __future__ import annotations

import pytest

import research.sweep as sweep
from cli.main import main
from cli.config import ConfigError
from strategies import get


def test_check_params_is_the_strategy_validation_without_backtrader():
    cls = get("rotation").cls
    cls.check_params({"lookback": 126})
    with pytest.raises(ValueError, match="parameter lookback must be a number, not 'abc'"):
        cls.check_params({"lookback": "abc"})
    with pytest.raises(ValueError, match="target < zone_low"):  # a cross-parameter rule of the ratio strategy
        get("ratio-rotation").cls.check_params({"target": 2.5})


def test_bad_value_deep_in_the_grid_refused_before_any_run(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(sweep, "run_measured", lambda *a, **k: pytest.fail("no run may start"))
    code = main(["sweep", "--grid", "lookback=21:231:21", "--grid", "vix_level=25,30,abc", "--output", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "grid combination 3 of 33 (lookback=21, vix_level=abc)" in err and "vix_level must be a number, not 'abc'" in err
    assert "Data " not in err  # refused before loading data


@pytest.mark.parametrize("command", ["sweep", "walkforward"])
def test_grid_above_the_limit_refused_with_the_way_on(command, capsys, tmp_path):
    code = main([command, "--grid", "lookback=1:5000:1", "--grid", "vix_level=10:1000:1", "--output", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "the grid has 4,955,000 combinations (5000 lookback x 991 vix_level)" in err
    assert "--max-combinations 4955000" in err


def test_limit_can_be_raised_or_lowered_explicitly():
    grid = {"lookback": [21, 42, 63]}
    assert len(sweep.check_grid("rotation", grid, max_combinations=3)) == 3
    with pytest.raises(ConfigError, match="3 combinations .* limit of 2"):
        sweep.check_grid("rotation", grid, max_combinations=2)


def test_estimate_from_the_first_run_is_printed(capsys, tmp_path):
    code = main(["sweep", "--start", "2019-01-01", "--end", "2019-12-31", "--grid", "lookback=21,63,126", "--jobs", "1",
                 "--output", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 0
    line = next(l for l in err.splitlines() if l.startswith("rotation on the backtrader engine: 3 runs; the first took "))
    assert "so the other 2 should take about" in line and "on 1 process(es)" in line


def test_estimate_line_arithmetic():
    assert sweep.estimate_line("x", 101, 0.5, 2) == "x: 101 runs; the first took 0.50 s, so the other 100 should take about 25 s on 2 process(es)"
    assert "about 8.3 min" in sweep.estimate_line("x", 1001, 1.0, 2)


@pytest.mark.parametrize("engine", ["backtrader", "fast"])
def test_grid_history_checked_before_the_first_run_on_either_engine(engine, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(sweep, "run_measured", lambda *a, **k: pytest.fail("no run may start"))
    code = main(["sweep", "--engine", engine, "--start", "2003-01-01", "--end", "2003-12-31", "--grid", "lookback=500,1000",
                 "--output", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "'rotation' needs 1001 sessions" in err and "lookback=1000" in err and "2000-05-26" in err


@pytest.mark.parametrize("name, grid", [
    ("rotation", {"lookback": [21, 42, 63, 84, 105], "vix_level": [25, 30, "abc", 35], "allocation": [0.5, 1.0]}),
    ("ratio-rotation", {"zone_low": [2.0, 2.1, 2.13], "target": [1.9, 1.95, 2.05, 2.5]}),  # a cross-parameter rule
])
def test_a_big_grid_checked_by_the_workers_names_the_same_first_bad_combination(name, grid, monkeypatch):
    with pytest.raises(ConfigError) as serial:
        sweep.check_grid(name, grid, jobs=1)
    monkeypatch.setattr(sweep, "CHECK_IN_PARALLEL", 3)  # the pool path, a slice per task
    with pytest.raises(ConfigError) as pooled:
        sweep.check_grid(name, grid, jobs=2)
    assert str(pooled.value) == str(serial.value) and str(serial.value).startswith("grid combination ")
    first = next(i for i, c in enumerate(sweep.combinations(grid), 1) if _refused(name, c))
    assert str(serial.value).startswith(f"grid combination {first} of {sweep.grid_size(grid)} (")


def _refused(name: str, combo: dict) -> bool:
    try:
        get(name).cls.check_params({**get(name).params, **combo})
    except ValueError:
        return True
    return False
