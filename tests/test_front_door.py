"""The front door (issue 23): every bad input of the hostile trial gets exit code 2 and one ``error:`` line naming
the option, file, key or date, or runs right (with a note where it could mislead); never a traceback. The CLI's
``main`` runs in-process on short periods with one strategy and no plots; two cases need a real process."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from cli.main import main
from cli.output import RunFolder
from feeds.bars import BUNDLED_DIR, BUNDLED_SYMBOLS

ROOT = Path(__file__).resolve().parents[1]
JUNE = ["--start", "2019-06-03", "--end", "2019-06-28"]
ONE = ["--strategies", "rotation", "--no-plots", "--jobs", "1"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict:
    """Folders and files the cases name: {name} placeholders in their argv."""
    base = tmp_path_factory.mktemp("front")

    def data_folder(name: str) -> Path:
        folder = base / name
        folder.mkdir()
        for symbol in BUNDLED_SYMBOLS:
            if symbol != "IWM":
                shutil.copy(BUNDLED_DIR / f"{symbol}.csv", folder)
        return folder

    (data_folder("dir_iwm") / "IWM.csv").mkdir()
    os.mkfifo(data_folder("fifo_iwm") / "IWM.csv")
    zones = pd.read_csv(BUNDLED_DIR / "IWM.csv", dtype={"Date": str})
    zones["Date"] = [f"{d} 00:00:00{'-05:00' if i % 2 else '-04:00'}" for i, d in enumerate(zones["Date"])]
    zones.to_csv(data_folder("zones") / "IWM.csv", index=False)
    (base / "a_folder").mkdir()
    (base / "notes.txt").write_text("not python\n")
    (base / "costly.toml").write_text("[run]\ncommission = 2\n")
    (base / "no_jobs.toml").write_text("[run]\njobs = 0\n")
    (base / "bom.toml").write_bytes(b'\xef\xbb\xbf[run]\nstart = "2019-06-03"\nend = "2019-06-28"\n')
    (base / "slashes.toml").write_text('[run]\nstart = "2019/06/03"\n')
    (base / "sweep_limit.toml").write_text("[sweep]\nmax_combinations = 0\n")
    (base / "other_params.toml").write_text("[params.ratio-pair]\npair_size = 0.3\n")
    return {"base": str(base)}


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    """``main(argv)`` in-process: (exit code, stdout, stderr); argparse's own exit counts as its code."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


# (case, argv with {base} placeholders, exit code, fragment that must be in the output)
CASES = [
    ("param inf", ["--param", "rotation.lookback=inf", *JUNE, *ONE], 2, "parameter lookback must be a finite number, not inf"),
    ("grid inf", ["sweep", "--grid", "lookback=21,inf", *JUNE], 2, "(lookback=inf): strategy 'rotation'"),
    ("walk-forward all n/a", ["walkforward", "--start", "2016-01-01", "--end", "2017-01-03", "--in-sample", "1",
                              "--grid", "lookback=21,63", "--jobs", "1"], 0, "mean out-of-sample CAGR [%]: n/a"),
    ("one day with plots", ["--start", "2019-06-03", "--end", "2019-06-03", "--strategies", "rotation"], 0,
     "note: no plots: the period has 1 session (2019-06-03)"),
    ("lookback 1e2", ["--param", "rotation.lookback=1e2", *JUNE, *ONE], 2, "lookback must be a whole number, not 100.0 (write 100)"),
    ("lookback 63.0", ["--param", "rotation.lookback=63.0", *JUNE, *ONE], 2, "lookback must be a whole number, not 63.0"),
    ("lookback 63.0, fast engine", ["sweep", "--engine", "fast", "--grid", "lookback=21,63.0", *JUNE], 2, "not 63.0 (write 63)"),
    ("lookback 1e20", ["--param", "rotation.lookback=99999999999999999999", *JUNE, *ONE], 2,
     "(lookback=99999999999999999999), more than any daily data holds"),
    ("--x = --y", ["sweep", "--grid", "lookback=21,63", "--grid", "vix_level=25,30", "--x", "lookback", "--y", "lookback", *JUNE],
     2, "--x and --y are both lookback"),
    ("--x not in the grid", ["sweep", "--grid", "lookback=21,63", "--x", "vix", *JUNE], 2, "--x vix: not a grid parameter"),
    ("mixed time zones", ["--source", "csv:{base}/zones", *JUNE, *ONE], 0, "Comparison, 2019-06-03 .. 2019-06-28"),
    ("IWM.csv a folder", ["--source", "csv:{base}/dir_iwm", *JUNE, *ONE], 2, "dir_iwm/IWM.csv is a folder"),
    ("IWM.csv a FIFO", ["--source", "csv:{base}/fifo_iwm", *JUNE, *ONE], 2, "fifo_iwm/IWM.csv is not a regular file"),
    ("--module a folder", ["--module", "{base}/a_folder", *JUNE, *ONE], 2, "--module {base}/a_folder: is a folder"),
    ("--module not .py", ["--module", "{base}/notes.txt", *JUNE, *ONE], 2, "--module {base}/notes.txt: not a .py file"),
    ("--module missing", ["--module", "nothere.txt", *JUNE, *ONE], 2, "--module nothere.txt: cannot import nothere.txt"),
    ("config commission", ["--config", "{base}/costly.toml", *JUNE, *ONE], 2, "config file {base}/costly.toml: [run] commission 2 is above"),
    ("config jobs", ["--config", "{base}/no_jobs.toml", *JUNE, "--strategies", "rotation"], 2,
     "config file {base}/no_jobs.toml: [run] jobs must be >= 1"),
    ("config sweep key", ["sweep", "--grid", "lookback=21,63", "--config", "{base}/sweep_limit.toml", *JUNE], 2,
     "config file {base}/sweep_limit.toml: [sweep] max_combinations must be a whole number >= 1, not 0"),
    ("option still named", ["--commission", "2", *JUNE, *ONE], 2, "--commission 2 is above"),
    ("config with a BOM", ["--config", "{base}/bom.toml", *ONE], 0, "Comparison, 2019-06-03 .. 2019-06-28"),
    ("--as-of too early", ["signal", "--as-of", "2000-06-01"], 2, "--as-of 2000-06-01 is too early"),
    ("--grid =1,2", ["sweep", "--grid", "=1,2", *JUNE], 2, "--grid '=1,2': no parameter name before '='"),
    ("--output ''", [*JUNE, *ONE, "--output", ""], 2, "--output '': the output folder name is empty"),
    ("sweep --output ''", ["sweep", "--grid", "lookback=21,63", *JUNE, "--output", ""], 2, "the output folder name is empty"),
    ("date 02/03/2019", ["--start", "02/03/2019", "--end", "2019-06-28", *ONE], 2, "--start '02/03/2019': dates are written YYYY-MM-DD"),
    ("date 13/02/2019", ["--start", "13/02/2019", "--end", "2019-06-28", *ONE], 2, "--start '13/02/2019': dates are written YYYY-MM-DD"),
    ("date 2019-02-30", ["--start", "2019-02-30", "--end", "2019-06-28", *ONE], 2, "'2019-02-30' is not a date on the calendar"),
    ("config date", ["--config", "{base}/slashes.toml", "--end", "2019-06-28", *ONE], 2,
     "config file {base}/slashes.toml: [run] start '2019/06/03': dates are written YYYY-MM-DD"),
    ("--as-of 02/03/2019", ["signal", "--as-of", "02/03/2019"], 2, "--as-of '02/03/2019': dates are written YYYY-MM-DD"),
    ("--cash 10", ["--cash", "10", *JUNE, *ONE], 0, "warning: rotation: 1 target weight(s) came to zero whole shares"),
    ("list --param", ["list", "--param", "rotation.lookback=5"], 2, "unrecognized arguments: --param"),
    ("--param not run", ["--param", "ratio-pair.pair_size=0.3", *JUNE, *ONE], 2,
     "--param ratio-pair.pair_size=0.3: strategy ratio-pair is not run by this command"),
    ("config params not run", ["--config", "{base}/other_params.toml", *JUNE, *ONE], 0,
     "note: config file {base}/other_params.toml: [params.ratio-pair] is not used: ratio-pair is not run by this command"),
    ("sweep --param not run", ["sweep", "--grid", "lookback=21,63", "--param", "ratio-pair.pair_size=0.3", *JUNE], 2,
     "strategy ratio-pair is not run by this command"),
    ("--config ''", ["--config", "", *JUNE, *ONE], 2, "--config '': the file name is empty"),
    ("--module ''", ["--module", "", *JUNE, *ONE], 2, "--module '': the module name is empty"),
    ("--as-of ''", ["signal", "--as-of", ""], 2, "--as-of '': dates are written YYYY-MM-DD"),
    ("--strategies ''", ["--strategies", " , ", *JUNE, "--no-plots"], 2, "--strategies ' , ': no strategy named"),
    ("--accept-bar of a clean bar", ["--accept-bar", "IWM:2019-06-10", *JUNE, *ONE], 0,
     "note: --accept-bar IWM:2019-06-10 accepts nothing"),
    ("--benchmark unknown", ["--benchmark", "XYZ", *JUNE, *ONE], 2, "--benchmark XYZ: not a feed"),
    ("--metric ambiguous", ["sweep", "--grid", "lookback=21,63", "--metric", "s", *JUNE], 2,
     "--metric 's' is ambiguous: it could be Sharpe, Sortino, Switches per year"),
    ("--metric unknown", ["sweep", "--grid", "lookback=21,63", "--metric", "alpha", *JUNE], 2, "--metric 'alpha' is not one of"),
    ("--metric not better higher", ["sweep", "--grid", "lookback=21,63", "--metric", "volatility", *JUNE], 2,
     "a higher Volatility [%] is not a better result"),
    ("--metric on walkforward", ["walkforward", "--grid", "lookback=21,63", "--metric", "turnover", *JUNE], 2,
     "a higher Turnover [x/yr] is not a better result"),
    ("--accept-bar unknown symbol", ["--accept-bar", "XYZ:2019-06-10", *JUNE, *ONE], 2,
     "--accept-bar XYZ:2019-06-10: no symbol XYZ in the data"),
]


@pytest.mark.parametrize("case, argv, code, fragment", CASES, ids=[c[0] for c in CASES])
def test_front_door(case, argv, code, fragment, inputs, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # default output folders land here
    argv = [a.format(**inputs) for a in argv]
    if "--output" not in argv and argv[0] != "signal" and argv[0] != "list":
        argv += ["--output", str(tmp_path / "out")]
    got, out, err = run(argv, capsys)
    assert got == code, f"{case}: exit {got}\n{err[-1500:]}"
    assert fragment.format(**inputs) in out + err, f"{case}: {fragment!r} not in\n{out[-800:]}\n{err[-1500:]}"
    errors = [line for line in err.splitlines() if line.startswith("error:") or ": error:" in line]
    assert len(errors) == (1 if code == 2 else 0), err
    if code == 2:
        assert not (tmp_path / "out").exists() and not (tmp_path / "output").exists()  # refused before writing


def test_dates_quoted_are_the_users_or_the_datas(capsys):
    """--as-of 2000-06-01 used to read "start 1999-06-01 is before the data": a date nobody gave."""
    _, _, err = run(["signal", "--as-of", "2000-06-01"], capsys)
    assert "1999" not in err and "2000-05-26" in err and "2000-08-28" in err  # the data's first day, the earliest as-of


def test_sweep_x_equal_y_is_refused_before_the_data_is_read(tmp_path, capsys):
    code, _, err = run(["sweep", "--grid", "lookback=21,63", "--x", "lookback", "--y", "lookback", *JUNE,
                        "--output", str(tmp_path / "o")], capsys)
    assert code == 2 and "Data 2019" not in err


def test_empty_output_leaves_the_default_folder_alone(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run([*JUNE, *ONE], capsys)[0] == 0
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "output" / "latest").rglob("*")}
    assert run([*JUNE, "--strategies", "buy-hold-spy", "--no-plots", "--output", ""], capsys)[0] == 2
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "output" / "latest").rglob("*")} == before


def test_a_run_folder_inside_another_is_refused_both_ways(tmp_path, capsys):
    outer, inner = tmp_path / "X", tmp_path / "X" / "sub"
    assert run([*JUNE, *ONE, "--output", str(inner)], capsys)[0] == 0
    code, _, err = run([*JUNE, *ONE, "--output", str(outer)], capsys)
    assert code == 2 and f"another run's output folder {inner}" in err and (inner / "run.json").exists()
    shutil.rmtree(outer)
    assert run([*JUNE, *ONE, "--output", str(outer)], capsys)[0] == 0
    code, _, err = run([*JUNE, *ONE, "--output", str(inner)], capsys)
    assert code == 2 and f"is inside {outer}, another run's output folder" in err
    (outer / "mine.txt").write_text("kept")  # a file its run.json does not list: a new run would delete it
    code, _, err = run([*JUNE, *ONE, "--output", str(outer)], capsys)
    assert code == 2 and "mine.txt (a file its run.json does not list)" in err and (outer / "mine.txt").exists()


def test_a_second_run_into_a_folder_being_written_is_refused(tmp_path, capsys):
    target = tmp_path / "busy"
    with RunFolder(target, ["first run"], {}):  # the first run holds the folder (its lock) while it computes
        code, out, err = run([*JUNE, *ONE, "--output", str(target)], capsys)
    assert code == 2 and f"output folder {target} is being written by another run right now (process {os.getpid()})" in err
    assert "Wrote" not in out and not target.exists()
    assert run([*JUNE, *ONE, "--output", str(target)], capsys)[0] == 0  # free again; no lock file left beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]


def test_a_module_run_repeats_from_its_own_folder(tmp_path, monkeypatch, capsys, clean_registry):
    shutil.copy(ROOT / "examples" / "my_strategy.py", tmp_path / "mine.py")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "first"
    assert run(["--module", "mine.py", *JUNE, "--strategies", "spy-in-winter", "--no-plots", "--output", str(out)], capsys)[0] == 0
    assert f'modules = ["{tmp_path / "mine.py"}"]' in (out / "config.toml").read_text()
    monkeypatch.chdir(out)
    code, _, err = run(["--config", "config.toml", "--output", str(tmp_path / "again")], capsys)
    assert code == 0, err
    assert (tmp_path / "again" / "comparison.csv").read_text() == (out / "comparison.csv").read_text()


def test_outside_the_venv_says_how_to_run(tmp_path):
    """``python run_backtest.py`` with a Python that lacks the packages (here: site-packages off with -S)."""
    done = subprocess.run([sys.executable, "-S", str(ROOT / "run_backtest.py"), "--help"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ") and ".venv/bin/python run_backtest.py" in done.stderr and "make run" in done.stderr


@pytest.mark.parametrize("given, column", [("sharpe", "Sharpe"), ("CAGR", "CAGR [%]"), ("max_drawdown", "Max drawdown [%]")])
def test_metric_names_without_units_in_any_case(given, column, tmp_path, capsys):
    code, out, err = run(["sweep", "--grid", "lookback=21,63", "--metric", given, *JUNE, "--jobs", "1",
                          "--output", str(tmp_path / "o")], capsys)
    assert code == 0, err
    assert f"top 10 by {column}:" in out


def test_list_shows_parameters_defaults_and_ranges(capsys, clean_registry):
    code, out, _ = run(["list", "--module", str(ROOT / "examples" / "trend_filter.py")], capsys)
    assert code == 0
    blocks = {b.split(" (")[0]: b for b in out.split("\n") if b and not b.startswith(" ")}
    lines = out.splitlines()

    def param(entry: str, key: str) -> list[str]:
        start = lines.index(next(l for l in lines if l.startswith(f"{entry} (")))
        row = next(l for l in lines[start + 1:] if l.split()[0] == key)
        return row.split(None, 2)

    assert list(blocks)[0] == "rotation" and "benchmark" in blocks["mix-50-50"]
    assert param("rotation", "lookback") == ["lookback", "63", "whole number >= 1"]
    assert param("rotation", "vix_level") == ["vix_level", "30", "number >= 0, or off"]
    assert param("rotation", "fill") == ["fill", "open", "open | close"]
    assert param("ratio-pair", "mode") == ["mode", "pair", "rotation | pair"]  # the entry's preset
    assert param("ratio-z-rotation", "stop_z") == ["stop_z", "off", "number > entry_z, or off"]
    assert param("trend-filter", "sessions") == ["sessions", "200", "whole number >= 2"]  # a user's strategy, its own checks
