"""Issue 18: each corruption of a copy of the bundled data is a named error (symbol, date, rule) before any figure is
printed; the bundled data, crash days included, pass with no flag.

Every case is built from the bundled CSVs in a tmp folder and read through ``csv:DIR`` by the command line's
``main`` in-process (one real subprocess at the end); the flag maths is cross-checked with plain numpy.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yfinance

import feeds.yahoo as yahoo
from feeds import DataError, load_prices
from feeds.bars import BUNDLED_DIR, BUNDLED_SYMBOLS, read_csv_bars
from feeds.check_data import main as check_data
from feeds.cross_checks import RESIDUAL_SIGMAS
from feeds.data_checks import data_flags
from cli.main import main

ROOT = Path(__file__).resolve().parents[1]
PRICES = ["Open", "High", "Low", "Close", "Adj Close"]
YEAR_2019 = ["--start", "2019-01-01", "--end", "2019-12-31"]
CROSS, ADJUST, COPY, SHIFT = "co-moving partner does not explain", "adjustment factor", "never copies", "shifted by one session"


@pytest.fixture(scope="module")
def bundled_text():
    """The bundled CSVs as frames indexed by their Date strings (read once)."""
    return {s: pd.read_csv(BUNDLED_DIR / f"{s}.csv", dtype={"Date": str}).set_index("Date") for s in BUNDLED_SYMBOLS}


def write_copy(folder: Path, frames: dict, edit=None) -> str:
    """A csv:DIR copy of ``frames``; ``edit(frames)`` changes the copies (in place, or by replacing entries)."""
    frames = {s: f.copy() for s, f in frames.items()}
    if edit is not None:
        edit(frames)
    folder.mkdir(parents=True, exist_ok=True)
    for symbol, frame in frames.items():
        frame.to_csv(folder / f"{symbol}.csv")
    return f"csv:{folder}"


def times(symbol: str, day: str, factor: float, columns=("High", "Close", "Adj Close"), sessions: int = 1):
    """``columns`` of ``symbol`` x ``factor`` on ``sessions`` sessions from ``day``."""
    def edit(frames):
        frame = frames[symbol]
        pos = frame.index.get_loc(day)
        frame.iloc[pos:pos + sessions, [frame.columns.get_loc(c) for c in columns]] *= factor
    return edit


def from_day(symbol: str, day: str, factor: float, columns):
    def edit(frames):
        frames[symbol].loc[frames[symbol].index >= day, list(columns)] *= factor
    return edit


def bad_open(factor: float):
    """IWM's open x ``factor`` on 2019-03-01 (the rotation's buy day), its High or Low stretched to hold it."""
    def edit(frames):
        row = frames["IWM"].loc["2019-03-01"]
        row["Open"] *= factor
        row["High"], row["Low"] = max(row["High"], row["Open"]), min(row["Low"], row["Open"])
        frames["IWM"].loc["2019-03-01"] = row
    return edit


def last_bar(frames):
    """IWM's 2019-12-31 High, Close and Adj Close x1.5, every file cut there."""
    for symbol in list(frames):
        frames[symbol] = frames[symbol].loc[frames[symbol].index <= "2019-12-31"]
    times("IWM", "2019-12-31", 1.5)(frames)


def copy_of_spy(frames):
    frames["IWM"] = frames["SPY"].copy()


def shifted(frames):
    """IWM's rows each dated one session later (the last row dropped)."""
    frame = frames["IWM"]
    frames["IWM"] = pd.DataFrame(frame.iloc[:-1].to_numpy(), index=frame.index[1:], columns=frame.columns).rename_axis("Date")


# (name, edit, period, symbol, date, rule words)
CASES = [
    ("bad last bar", last_bar, YEAR_2019, "IWM", "2019-12-31", CROSS),
    ("all IWM prices /1.5 from 2019-06-03", from_day("IWM", "2019-06-03", 1 / 1.5, PRICES), YEAR_2019, "IWM", "2019-06-03", CROSS),
    ("raw OHLC only /1.5 from 2022-06-01", from_day("IWM", "2022-06-01", 1 / 1.5, PRICES[:4]),
     ["--start", "2021-01-01", "--end", "2024-12-31"], "IWM", "2022-06-01", ADJUST),
    ("IWM close +20% that reverts", times("IWM", "2019-05-31", 1.2), YEAR_2019, "IWM", "2019-05-31", CROSS),
    ("SPY close +20% that reverts", times("SPY", "2019-05-31", 1.2), YEAR_2019, "SPY", "2019-05-31", CROSS),
    ("IWM Adj Close alone +30%", times("IWM", "2019-05-31", 1.3, ["Adj Close"]), YEAR_2019, "IWM", "2019-05-31", ADJUST),
    ("IWM +40% held 6 sessions", times("IWM", "2019-05-31", 1.4, PRICES, sessions=6), YEAR_2019, "IWM", "2019-05-31", CROSS),
    ("IWM open x1.2", bad_open(1.2), YEAR_2019, "IWM", "2019-03-01", "open gap"),
    ("IWM open x0.85", bad_open(0.85), YEAR_2019, "IWM", "2019-03-01", "open gap"),
    ("IWM.csv a copy of SPY.csv", copy_of_spy, YEAR_2019, "IWM", "SPY", COPY),
    ("IWM shifted by one session", shifted, YEAR_2019, "IWM", "SPY", SHIFT),
]


@pytest.mark.parametrize("name, edit, period, symbol, date, rule", CASES, ids=[c[0] for c in CASES])
def test_corruption_is_a_named_error_before_any_figure(name, edit, period, symbol, date, rule, bundled_text, tmp_path, capsys):
    source = write_copy(tmp_path / "data", bundled_text, edit)
    code = main(["compare", "--source", source, *period, "--strategies", "rotation,buy-hold-iwm,ratio-rotation",
                 "--no-plots", "--output", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 2, f"{name}: exit {code}\n{out}\n{err}"
    assert "Traceback" not in out + err and "Comparison" not in out and "CAGR" not in out
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    assert errors[0].startswith(f"error: {symbol} (") and date in errors[0] and rule in errors[0] and "rule:" in errors[0], errors[0]
    assert not (tmp_path / "out").exists()


def test_signal_refuses_a_bad_last_bar(bundled_text, tmp_path, capsys):
    source = write_copy(tmp_path / "data", bundled_text, last_bar)
    assert main(["signal", "--source", source]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    assert "error: IWM (" in err and ("IWM Close on 2019-12-31" in err or "IWM Adj Close on 2019-12-31" in err)


def test_accepting_the_flagged_bar_runs_and_lists_it(bundled_text, tmp_path, capsys):
    source = write_copy(tmp_path / "data", bundled_text, times("IWM", "2019-05-31", 1.2))
    out_dir = tmp_path / "out"
    code = main(["compare", "--source", source, *YEAR_2019, "--strategies", "buy-hold-iwm", "--no-plots",
                 "--accept-bar", "IWM:2019-05-31", "--output", str(out_dir)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "note: bar accepted deliberately (--accept-bar IWM:2019-05-31)" in err and "undone on 2019-06-03" in err
    assert any("--accept-bar IWM:2019-05-31" in n for n in json.loads((out_dir / "comparison.json").read_text())["data notes"])
    accepted = json.loads((out_dir / "run.json").read_text())["accepted bars"]
    assert len(accepted) == 1 and "--accept-bar IWM:2019-05-31" in accepted[0] and "IWM Adj Close on 2019-05-31" in accepted[0]


def test_ratio_runs_need_no_vix_and_rotation_names_it(bundled_text, tmp_path, capsys):
    source = write_copy(tmp_path / "data", {s: f for s, f in bundled_text.items() if s != "VIX"})
    code = main(["compare", "--source", source, *YEAR_2019, "--strategies", "ratio-rotation,buy-hold-iwm", "--no-plots",
                 "--output", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "note: VIX: not loaded (no strategy of this command reads it)" in err and "ratio-rotation" in out
    assert main(["compare", "--source", source, *YEAR_2019, "--strategies", "rotation", "--output", str(tmp_path / "o2")]) == 2
    assert "error: unknown symbol VIX" in capsys.readouterr().err


def test_signal_names_the_file_that_ends_first(bundled_text, tmp_path, capsys):
    def cut_vix(frames):
        frames["VIX"] = frames["VIX"].loc[frames["VIX"].index <= "2024-11-29"]
    source = write_copy(tmp_path / "data", bundled_text, cut_vix)
    assert main(["signal", "--source", source]) == 0
    out, err = capsys.readouterr()
    assert "note: as of 2024-11-29, the last session every file has: VIX (csv:" in err and "IWM 2024-12-31" in err
    assert "as of                               2024-11-29" in out


def test_missing_bil_says_why_it_is_needed_and_which_start_avoids_it(bundled_text, tmp_path):
    from feeds import nyse_sessions, prepare_feeds

    source = write_copy(tmp_path / "data", {s: f for s, f in bundled_text.items() if s != "BIL"})
    avoid = nyse_sessions("2020-06-01", "2022-12-31")[300]  # SGOV's first bar + the default 300 sessions of warm-up
    with pytest.raises(DataError, match=r"cash sleeve: BIL is the cash proxy before SGOV exists .* the warm-up \(300 sessions"
                                        rf".* A start on or after {avoid.date()} needs no BIL: unknown symbol BIL"):
        prepare_feeds("2021-01-01", "2021-12-31", source=source)
    with pytest.raises(DataError, match=r"the period starts before SGOV's first bar 2020-06-01"):
        prepare_feeds("2019-01-01", "2019-12-31", source=source)
    assert prepare_feeds(str(avoid.date()), "2022-12-31", source=source).start == avoid


def test_same_corruption_through_the_yahoo_cache(bundled_text, tmp_path, monkeypatch):
    monkeypatch.setattr(yahoo, "_today", lambda: pd.Timestamp("2025-01-02"))
    monkeypatch.setattr(yfinance, "download", lambda *a, **k: pytest.fail("no download expected: the cache covers the request"))
    cache = tmp_path / "cache"
    write_copy(cache, {s: bundled_text[s] for s in ("IWM", "SPY", "VIX")}, times("IWM", "2019-05-31", 1.2))
    for symbol in ("IWM", "SPY", "VIX"):
        (cache / f"{symbol}.json").write_text(json.dumps({"requested_from": "1995-01-01", "requested_through": "2024-12-31", "fetched": "2025-01-02"}))
    with pytest.raises(DataError, match=r"IWM \(yahoo \(cache .*IWM.csv.*suspicious bar: IWM (Adj )?Close on 2019-05-31.*co-moving partner"):
        load_prices(["IWM", "SPY", "VIX"], None, "2019-12-31", source="yahoo", cache_dir=cache, checked_from="2019-01-01")


def test_bundled_data_pass_and_crash_days_are_real_moves_of_both(raw_csv, capsys):
    """No flag on 2000-2024 (every rule, all five files together); the crash days are there, both ETFs moved."""
    frames = {s: read_csv_bars(BUNDLED_DIR / f"{s}.csv", s) for s in BUNDLED_SYMBOLS}
    assert data_flags(frames, {"IWM", "SPY", "BIL", "SGOV"}) == []
    assert check_data(["bundled"]) == 0
    assert "flagged: 0 bar(s)" in capsys.readouterr().out
    spy, iwm = raw_csv("SPY")["Adj Close"].pct_change(), raw_csv("IWM")["Adj Close"].pct_change()
    for day in ("2008-10-13", "2011-08-08", "2020-03-16", "2020-03-24"):
        assert abs(spy[day]) > 0.06 and abs(iwm[day]) > 0.06 and np.sign(spy[day]) == np.sign(iwm[day])


def ols_residual_sigmas(y: pd.Series, x: pd.Series, day: str, window: int = 250) -> float:
    """Independent of feeds.cross_checks: plain least squares of ``y`` on ``x`` over the ``window`` sessions before
    ``day``, and the day's residual over 1.4826 x the median absolute residual of that window."""
    pos = y.index.get_loc(pd.Timestamp(day))
    ys, xs = y.iloc[pos - window:pos].to_numpy(), x.iloc[pos - window:pos].to_numpy()
    beta = float(xs @ ys / (xs @ xs))
    scale = 1.4826 * np.median(np.abs(ys - beta * xs))
    return float((y.iloc[pos] - beta * x.iloc[pos]) / scale)


def test_residual_sizes_independently(raw_csv):
    """The +20% print is tens of robust sigmas off the model on SPY; the crash days are a few at most."""
    iwm, spy = (np.log(raw_csv(s)["Adj Close"]).diff() for s in ("IWM", "SPY"))
    iwm, spy = iwm.loc[spy.index.intersection(iwm.index)].iloc[1:], spy.loc[spy.index.intersection(iwm.index)].iloc[1:]
    bad = iwm.copy()
    bad["2019-05-31"] += np.log(1.2)
    assert ols_residual_sigmas(bad, spy, "2019-05-31") > 2 * RESIDUAL_SIGMAS
    for day in ("2011-08-08", "2020-03-16", "2020-03-24"):
        assert abs(ols_residual_sigmas(iwm, spy, day)) < RESIDUAL_SIGMAS / 2


def test_data_check_lists_every_flag_in_one_pass(bundled_text, tmp_path, capsys):
    """Two corruptions in two files and an unreadable file: all listed, exit code 1."""
    def edit(frames):
        times("IWM", "2019-05-31", 1.2)(frames)
        from_day("SPY", "2022-06-01", 1 / 1.5, PRICES[:4])(frames)
    folder = tmp_path / "data"
    write_copy(folder, bundled_text, edit)
    (folder / "broken.csv").write_text("Date;Open\n2019-01-02;1\n")
    assert check_data([f"csv:{folder}"]) == 1
    out = capsys.readouterr().out
    assert "IWM Close on 2019-05-31" in out and "SPY Adj Close on 2022-06-01" in out and "SPY Close on 2022-06-01" in out
    assert "flagged: " in out and "broken" in out and "not comma-separated" in out


def test_vix_under_another_name_is_judged_by_its_role(bundled_text, tmp_path, capsys):
    """A VIX file named VIX_cboe.csv (no volume, as Cboe's) is a signal series: VIX's +115% day (2018-02-05, beyond
    the ETF bound x1.6) is not flagged. The same file with a volume is judged as an ETF unless --signal says."""
    def rename(frames):
        frames["VIX_cboe"] = frames.pop("VIX")
    folder = tmp_path / "data"
    write_copy(folder, bundled_text, rename)
    assert check_data([f"csv:{folder}"]) == 0
    assert "VIX_cboe signal (no traded volume: an index)" in capsys.readouterr().out
    traded = pd.read_csv(folder / "VIX_cboe.csv").assign(Volume=1000)
    traded.to_csv(folder / "VIX_cboe.csv", index=False)
    assert check_data([f"csv:{folder}"]) == 1
    assert "VIX_cboe Close on 2018-02-05" in capsys.readouterr().out
    assert check_data([f"csv:{folder}", "--signal", "VIX_cboe"]) == 0


def test_real_subprocess_names_the_bad_bar(bundled_text, tmp_path):
    source = write_copy(tmp_path / "data", bundled_text, times("IWM", "2019-05-31", 1.2))
    done = subprocess.run([sys.executable, str(ROOT / "run_backtest.py"), "compare", "--source", source, *YEAR_2019,
                           "--output", str(tmp_path / "out")], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr and done.stdout == ""
    assert "error: IWM (" in done.stderr and "2019-05-31" in done.stderr


def test_any_co_moving_etf_is_judged_against_its_partner(raw_csv):
    """Not IWM/SPY only: a third ETF built from SPY with its own noise (a tracker from another vendor) is paired with
    its closest partner, and a +20% print on it is named on it, not on its partner."""
    frames = {s: read_csv_bars(BUNDLED_DIR / f"{s}.csv", s) for s in ("SPY", "IWM")}
    noise = np.exp(np.cumsum(np.random.default_rng(7).normal(0, 0.004, len(frames["SPY"]))))
    other = frames["SPY"].mul(noise, axis=0).assign(Volume=frames["SPY"]["Volume"])
    other["High"], other["Low"] = other[["Open", "High", "Close"]].max(axis=1), other[["Open", "Low", "Close"]].min(axis=1)
    frames["TRK"] = other
    assert data_flags(frames, {"SPY", "IWM", "TRK"}) == []
    other.loc["2015-03-02", ["High", "Close", "Adj Close"]] *= 1.2
    flagged = {(f.symbol, str(f.date.date())) for f in data_flags(frames, {"SPY", "IWM", "TRK"})}
    assert flagged == {("TRK", "2015-03-02")}


def test_a_print_in_a_volatile_market_is_dated_on_its_own_day():
    """IWM +20% on 2008-10-20 (SPY +4.8% that day): against October 2008's wide residuals the print alone is under the
    bound, its way back the next day is not; the flag is dated on the print, 2008-10-20, and says so."""
    frames = {s: read_csv_bars(BUNDLED_DIR / f"{s}.csv", s) for s in ("SPY", "IWM")}
    frames["IWM"].loc["2008-10-20", ["High", "Close", "Adj Close"]] *= 1.2
    flags = data_flags(frames, {"SPY", "IWM"})
    assert {(f.symbol, str(f.date.date())) for f in flags} == {("IWM", "2008-10-20")}
    assert all("undone on 2008-10-21" in f.detail and "flagged by its way back" in f.detail for f in flags)


def held_from_close(frames, symbol: str, day: str, factor: float) -> None:
    """``symbol``'s close x ``factor`` on ``day`` and every price after it (a level error that starts at a close and
    holds: no open gap shows it, and it never reverts)."""
    frame = frames[symbol]
    pos = frame.index.get_loc(pd.Timestamp(day))
    frame.iloc[pos, [frame.columns.get_loc(c) for c in ("Close", "Adj Close")]] *= factor
    frame.iloc[pos, frame.columns.get_loc("High")] = max(frame.iloc[pos]["High"], frame.iloc[pos]["Close"])
    frame.iloc[pos, frame.columns.get_loc("Low")] = min(frame.iloc[pos]["Low"], frame.iloc[pos]["Close"])
    frame.iloc[pos + 1:, [frame.columns.get_loc(c) for c in PRICES]] *= factor


@pytest.mark.parametrize("symbol, day, factor", [
    ("IWM", "2008-10-15", 1.2), ("IWM", "2008-10-22", 0.83), ("IWM", "2020-03-12", 1.2), ("IWM", "2011-08-08", 1.2),
    ("SPY", "2008-10-09", 1.2), ("SPY", "2020-03-12", 1.2), ("SPY", "2020-03-18", 0.83)])
def test_a_held_print_in_a_volatile_market_is_named_on_its_symbol(raw_csv, symbol, day, factor):
    """+-20% from a close on that holds, on crisis days: the robust bound is wide there and no way back follows,
    so the divergence bound catches it; when the print cancels a real crash (IWM x1.2 on 2020-03-12: -11% shown as
    +7%, SPY -10%), VIX (up that day) names the symbol whose move goes against it."""
    spy, iwm = raw_csv("SPY")["Adj Close"].pct_change(), raw_csv("IWM")["Adj Close"].pct_change()
    partner = iwm if symbol == "SPY" else spy
    real = (spy if symbol == "SPY" else iwm)[day]
    shown = np.log1p(real) + np.log(factor)
    assert abs(shown - np.log1p(partner[day])) > 0.10  # independently: the shown move parts from the partner's
    assert (np.log1p(iwm) - np.log1p(spy)).abs().max() < 0.10  # as the real data never do (2000-2024)
    frames = {s: read_csv_bars(BUNDLED_DIR / f"{s}.csv", s) for s in ("SPY", "IWM", "BIL", "VIX")}
    held_from_close(frames, symbol, day, factor)
    flags = [f for f in data_flags(frames, {"SPY", "IWM", "BIL"}) if abs((f.date - pd.Timestamp(day)).days) < 10]
    assert {(f.symbol, str(f.date.date())) for f in flags} == {(symbol, day)}


def test_without_a_referee_the_divergence_names_both_files():
    frames = {s: read_csv_bars(BUNDLED_DIR / f"{s}.csv", s) for s in ("SPY", "IWM")}  # a ratio run: no VIX
    held_from_close(frames, "IWM", "2008-10-22", 0.83)
    flags = data_flags(frames, {"SPY", "IWM"})
    assert {(f.symbol, str(f.date.date())) for f in flags} == {("IWM", "2008-10-22")}
    assert all("IWM's or SPY's file is wrong" in f.detail and "do not part by 0.15" in f.rule for f in flags)
