"""Bar checks (feeds.validate.bar_flags / check_bars) on every source, and per-feed requirements of the cash sleeve."""
from __future__ import annotations

import json
import numpy as np
import pandas as pd
import pytest
import yfinance

import feeds.yahoo as yahoo
from feeds import DataError, load_prices, prepare_feeds
from feeds.bars import BUNDLED_DIR, BUNDLED_SYMBOLS, read_csv_bars
from feeds.validate import ETF_MAX_DAILY_FACTOR, SPIKE_SIGMAS, bar_flags

PRICES = ["Open", "High", "Low", "Close", "Adj Close"]


def bundled_bars(symbol: str) -> pd.DataFrame:
    return read_csv_bars(BUNDLED_DIR / f"{symbol}.csv", symbol)


def csv_folder(tmp_path, edit=None, drop=()):
    """A csv:DIR copy of the bundled data; ``edit(symbol, frame)`` may change a frame in place or return a new one;
    ``drop`` leaves files out."""
    for symbol in BUNDLED_SYMBOLS:
        if symbol in drop:
            continue
        frame = pd.read_csv(BUNDLED_DIR / f"{symbol}.csv", dtype={"Date": str}).set_index("Date")
        if edit is not None:
            edited = edit(symbol, frame)
            frame = frame if edited is None else edited
        frame.to_csv(tmp_path / f"{symbol}.csv")
    return f"csv:{tmp_path}"


def times_100(day: str, symbol: str = "IWM"):
    def edit(sym, frame):
        if sym == symbol:
            frame.loc[day, PRICES] *= 100
    return edit


@pytest.mark.parametrize("symbol", BUNDLED_SYMBOLS)
def test_bundled_data_pass(symbol):
    assert bar_flags(bundled_bars(symbol), symbol, etf=symbol != "VIX") == []


def test_real_crash_days_are_in_the_data_and_not_flagged(raw_csv):
    """2020-03-16 and October 2008 hold the largest real moves: independent pandas shows them, the checks let them be."""
    spy, iwm, vix = raw_csv("SPY")["Adj Close"], raw_csv("IWM")["Adj Close"], raw_csv("VIX")["Close"]
    assert spy.pct_change()["2020-03-16"] < -0.10 and iwm.pct_change()["2020-03-16"] < -0.13
    assert spy.pct_change()["2008-10-13"] > 0.14 and spy.pct_change()["2008-10-01":"2008-10-31"].abs().max() > 0.10
    assert vix.pct_change()["2018-02-05"] > 1.0  # VIX +115% in a day: an index, and its own history is volatile
    for symbol in ("SPY", "IWM", "VIX"):
        flagged = {f.date for f in bar_flags(bundled_bars(symbol), symbol, etf=symbol != "VIX")}
        assert not flagged & {pd.Timestamp("2020-03-16"), *pd.date_range("2008-10-01", "2008-10-31")}


def test_bad_tick_in_csv_is_a_named_error(tmp_path):
    source = csv_folder(tmp_path, times_100("2019-05-31"))
    with pytest.raises(DataError) as err:
        prepare_feeds("2019-01-01", "2019-12-31", source=source)
    message = str(err.value)
    assert message.startswith(f"IWM ({tmp_path / 'IWM.csv'}): suspicious bar: IWM ")
    assert "on 2019-05-31" in message and "after 148.75 on 2019-05-30" in message and "rule:" in message
    assert "--accept-bar IWM:2019-05-31" in message


def test_accepted_bar_is_listed_in_the_notes(tmp_path):
    source = csv_folder(tmp_path, times_100("2019-05-31"))
    feeds = prepare_feeds("2019-01-01", "2019-12-31", source=source, accept_bars=["iwm:2019-05-31"])
    accepted = [n for n in feeds.notes if n.startswith("bar accepted deliberately (--accept-bar IWM:2019-05-31)")]
    assert len(accepted) == 1 and "14619" in accepted[0]
    assert feeds.bars["IWM"].loc["2019-05-31", "raw_close"] == pytest.approx(bundled_bars("IWM").at[pd.Timestamp("2019-05-31"), "Close"] * 100)


def test_bad_tick_outside_the_sessions_used_does_not_stop_a_run(tmp_path):
    source = csv_folder(tmp_path, times_100("2005-06-01"))
    feeds = prepare_feeds("2019-01-01", "2019-12-31", source=source)
    assert feeds.start == pd.Timestamp("2019-01-02")
    with pytest.raises(DataError, match="IWM Open on 2005-06-01"):
        prepare_feeds("2006-01-01", "2006-12-31", source=source)  # its warm-up holds the bad bar


def test_bad_tick_in_the_yahoo_cache_is_a_named_error(tmp_path, monkeypatch):
    monkeypatch.setattr(yahoo, "_today", lambda: pd.Timestamp("2025-01-02"))
    monkeypatch.setattr(yfinance, "download", lambda *a, **k: pytest.fail("no download expected: the cache covers the request"))
    bars = bundled_bars("IWM")
    bars.loc["2019-05-31", PRICES] *= 100
    out = bars.copy()
    out.index = out.index.strftime("%Y-%m-%d")
    out.index.name = "Date"
    out.to_csv(tmp_path / "IWM.csv")
    (tmp_path / "IWM.json").write_text(json.dumps({"requested_from": "2000-05-26", "requested_through": "2024-12-31", "fetched": "2025-01-02"}))
    with pytest.raises(DataError, match=r"IWM \(yahoo \(cache .*IWM.csv.*suspicious bar: IWM Open on 2019-05-31"):
        load_prices("IWM", "2019-01-01", "2019-12-31", source="yahoo", cache_dir=tmp_path)


def test_etf_bound_on_the_last_bar_and_signal_feeds_exempt():
    """No next day to reverse: an ETF's close x2 breaks the bound; the same on VIX (the signal feed) is not flagged."""
    iwm = bundled_bars("IWM").loc[:"2019-05-31"].copy()
    iwm.iloc[-1, :5] *= 2
    flags = bar_flags(iwm, "IWM")
    assert {f.column for f in flags} == {"Open", "Close", "Adj Close"} and {f.date for f in flags} == {pd.Timestamp("2019-05-31")}
    assert f"x{ETF_MAX_DAILY_FACTOR:g}" in flags[0].rule
    vix = bundled_bars("VIX").loc[:"2019-05-31"].copy()
    vix.iloc[-1, :5] *= 2
    assert bar_flags(vix, "VIX", etf=False) == []


def test_spike_on_vix_judged_against_its_own_volatility():
    vix = bundled_bars("VIX").copy()
    vix.loc["2019-05-31", PRICES] *= 10
    flags = [f for f in bar_flags(vix, "VIX", etf=False) if "sigma" in f.rule]
    assert [(f.column, str(f.date.date())) for f in flags] == [("Open", "2019-05-31"), ("Close", "2019-05-31"), ("Adj Close", "2019-05-31")]
    # independent: the move in robust-sigma units is far above the threshold
    logs = np.log(vix["Close"]).diff()
    window = logs.loc["2018-11-01":"2019-11-30"]
    sigma = 1.4826 * (window - window.median()).abs().median()
    assert np.log(10) / sigma > SPIKE_SIGMAS


@pytest.mark.parametrize("factor", [0.01, 10.0, 100.0])
def test_vix_in_another_unit_is_a_named_error(tmp_path, raw_csv, factor):
    """VIX in decimals (0.15 for 15) or scaled x10 / x100 holds all along, so no spike rule sees it; its level does.
    The real series never leaves 5..150 (independently: the raw CSV's extremes)."""
    vix = raw_csv("VIX")
    assert 5 < vix[["Open", "Close", "Adj Close"]].min().min() and vix[["Open", "Close", "Adj Close"]].max().max() < 150

    def scaled(symbol, frame):
        if symbol == "VIX":
            frame.loc[:, PRICES] *= factor

    with pytest.raises(DataError) as err:
        prepare_feeds("2019-01-01", "2019-12-31", source=csv_folder(tmp_path, scaled))
    message = str(err.value)
    assert message.startswith(f"VIX ({tmp_path / 'VIX.csv'}): suspicious bar: VIX ")
    assert "outside [5, 150]" in message and "volatility index" in message and "--accept-bar VIX:" in message
    if factor != 10.0:  # x10 leaves the calm days (VIX < 15) inside: shorter spans
        assert "more session(s) through 2024-12-31" in message


def test_vix_level_flags_one_span_per_column_and_pass_real_extremes():
    vix = bundled_bars("VIX").copy()
    assert bar_flags(vix.loc["2008-10-01":"2008-12-31"], "VIX", etf=False) == []  # the 2008 highs (80.86 close)
    vix.loc["2019-05-01":"2019-05-10", PRICES] /= 100  # ten sessions in decimals, then right again
    flags = [f for f in bar_flags(vix, "VIX", etf=False) if "volatility index" in f.rule]
    assert [(f.column, str(f.date.date()), str(f.through.date())) for f in flags] == [
        (c, "2019-05-01", "2019-05-10") for c in ("Open", "Close", "Adj Close")]
    assert "and 7 more session(s)" in flags[0].detail  # 8 sessions: May 1-3 and 6-10
    assert bar_flags(bundled_bars("SPY").assign(**{c: 2.0 for c in PRICES}), "SPY") == []  # ETFs have no level range


def test_open_outside_the_day_range_is_flagged():
    spy = bundled_bars("SPY").copy()
    spy.loc["2019-05-31", "Open"] = spy.loc["2019-05-31", "High"] * 1.03
    flags = bar_flags(spy, "SPY")
    assert [(f.column, str(f.date.date())) for f in flags] == [("Open", "2019-05-31")] and "outside [Low" in flags[0].detail


def test_csv_for_2019_needs_no_sgov(tmp_path):
    """SGOV starts 2020-06-01: a 2019 run reads BIL only, with no SGOV.csv in the folder."""
    source = csv_folder(tmp_path, drop=("SGOV",))
    feeds = prepare_feeds("2019-01-01", "2019-12-31", source=source)
    assert "SGOV from" not in feeds.sources["SGOV"] and "BIL from" in feeds.sources["SGOV"]
    with pytest.raises(DataError, match=r"cash sleeve: SGOV is needed for the sessions from 2020-06-01 to 2021-12-31: unknown symbol SGOV"):
        prepare_feeds("2021-01-01", "2021-12-31", source=source)


def test_csv_after_sgov_start_needs_no_bil(tmp_path):
    source = csv_folder(tmp_path, drop=("BIL",))
    feeds = prepare_feeds("2022-01-01", "2022-12-31", source=source)
    assert feeds.sources["SGOV"].startswith("SGOV from") and "BIL" not in feeds.sources["SGOV"]


def test_bil_must_reach_sgov_first_bar(tmp_path):
    def cut(sym, frame):
        if sym == "BIL":
            return frame.loc[frame.index <= "2019-12-31"]
    source = csv_folder(tmp_path, cut)
    assert prepare_feeds("2019-01-01", "2019-12-31", source=source).end == pd.Timestamp("2019-12-31")
    with pytest.raises(DataError, match=r"cash sleeve: BIL .* is needed for the sessions from .* to 2020-06-01 .*last row is 2019-12-31"):
        prepare_feeds("2020-01-01", "2020-12-31", source=source)


def test_check_data_command_reports_flags(tmp_path, capsys):
    from feeds.check_data import main as check_data

    assert check_data(["bundled"]) == 0
    out = capsys.readouterr().out
    assert "IWM    ETF" in out and "largest one-day move" in out and "flagged: 0 bar(s)" in out
    csv_folder(tmp_path, times_100("2019-05-31"))
    assert check_data([f"csv:{tmp_path}"]) == 1
    assert "IWM Open on 2019-05-31" in capsys.readouterr().out
