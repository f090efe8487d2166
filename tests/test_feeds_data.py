"""Bundled data, adjusted OHLC and the cash sleeve, checked against plain pandas reads of feeds/data/*.csv."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from feeds import adjusted_bars, load_prices, prepare_feeds
from feeds.cash import CASH_FEED

ROWS = {"SPY": 6289, "IWM": 6188, "VIX": 6289, "BIL": 4429, "SGOV": 1155}
FIRST = {"SPY": "2000-01-03", "IWM": "2000-05-26", "VIX": "2000-01-03", "BIL": "2007-05-30", "SGOV": "2020-06-01"}


@pytest.fixture(scope="module")
def bundled():
    return load_prices(list(ROWS))


def test_bundled_row_counts_and_spans(bundled, raw_csv):
    for sym, rows in ROWS.items():
        frame = bundled.frames[sym]
        assert len(frame) == rows == len(raw_csv(sym)), sym
        assert frame.index[0] == pd.Timestamp(FIRST[sym]) and frame.index[-1] == pd.Timestamp("2024-12-31"), sym
        assert bundled.sources[sym] == f"bundled:{sym}.csv"
    cov = bundled.coverage()
    assert cov.loc["BIL", "rows"] == 4429 and str(cov.loc["IWM", "first"]) == "2000-05-26"


@pytest.mark.parametrize(
    "symbol, date, column, value",
    [
        ("SPY", "2010-01-04", "Close", 113.33),
        ("SPY", "2024-12-31", "Close", 586.08),
        ("SPY", "2024-12-31", "Adj Close", 580.99),
        ("IWM", "2010-01-04", "Close", 63.98),
        ("IWM", "2020-03-16", "Close", 103.62),
        ("VIX", "2020-03-16", "Close", 82.69),
        ("VIX", "2010-01-04", "Close", 20.04),
    ],
)
def test_bundled_spot_values(bundled, symbol, date, column, value):
    assert bundled.frames[symbol].at[pd.Timestamp(date), column] == pytest.approx(value, abs=0.006)


def test_slicing_keeps_exact_range():
    frame = load_prices("SPY", "2010-01-01", "2010-12-31").frames["SPY"]
    assert len(frame) == 252 and frame.index[0] == pd.Timestamp("2010-01-04") and frame.index[-1] == pd.Timestamp("2010-12-31")


def test_adjusted_bars_scale_ohlc_by_adj_close_over_close(raw_csv):
    raw = raw_csv("IWM")
    adj = adjusted_bars(raw)
    factor = raw["Adj Close"] / raw["Close"]
    np.testing.assert_allclose(adj["close"], raw["Adj Close"])
    np.testing.assert_allclose(adj["open"], raw["Open"] * factor)
    np.testing.assert_allclose(adj["high"], raw["High"] * factor)
    np.testing.assert_allclose(adj["low"], raw["Low"] * factor)
    np.testing.assert_allclose(adj["raw_close"], raw["Close"])
    np.testing.assert_allclose(adj["volume"], raw["Volume"])
    # open/close ratio within a bar is the raw one; close-to-close returns are total returns
    np.testing.assert_allclose(adj["open"] / adj["close"], raw["Open"] / raw["Close"])
    np.testing.assert_allclose(adj["close"].pct_change().iloc[1:], raw["Adj Close"].pct_change().iloc[1:])
    # and it is not the raw price return (IWM pays dividends)
    assert (adj["close"].iloc[-1] / adj["close"].iloc[0]) > (raw["Close"].iloc[-1] / raw["Close"].iloc[0]) * 1.2


def test_feedset_bars_reproduce_adj_close_returns(feedset, raw_csv):
    for sym in ("SPY", "IWM"):
        raw = raw_csv(sym)
        bars = feedset.bars[sym]
        ref = raw.loc[bars.index]
        np.testing.assert_allclose(bars["close"], ref["Adj Close"])
        np.testing.assert_allclose(bars["raw_close"], ref["Close"])
        np.testing.assert_allclose(bars["open"] / bars["close"], ref["Open"] / ref["Close"])
    assert feedset.bars["SPY"].at[pd.Timestamp("2010-01-04"), "raw_close"] == pytest.approx(113.33)
    assert feedset.bars["VIX"].at[pd.Timestamp("2020-03-16"), "close"] == pytest.approx(82.69)


def test_feedset_layout(feedset):
    assert list(feedset.bars) == ["IWM", "SPY", "VIX", "SGOV"]
    assert feedset.start == pd.Timestamp("2010-01-04") and feedset.end == pd.Timestamp("2024-12-31")
    index = feedset.sessions
    for name, bars in feedset.bars.items():
        assert bars.index.equals(index), name
        assert list(bars.columns) == ["open", "high", "low", "close", "volume", "raw_close"]
        assert not bars.isna().any().any(), name
    # 300 warm-up sessions before the first measured one
    assert (index < feedset.start).sum() == 300
    cov = feedset.coverage()
    assert cov.loc["SPY", "sessions"] == 3774 and cov.loc["VIX", "role"] == "signal only"


def test_cash_splice_has_no_jump(feedset, raw_csv):
    sleeve = feedset.bars[CASH_FEED]["close"]
    bil, sgov = raw_csv("BIL")["Adj Close"], raw_csv("SGOV")["Adj Close"]
    splice, before, after = pd.Timestamp("2020-06-01"), pd.Timestamp("2020-05-29"), pd.Timestamp("2020-06-02")
    ret = sleeve.pct_change()
    # before the splice: BIL itself; splice day: BIL's return; next day and later: SGOV's returns
    np.testing.assert_allclose(sleeve.loc[:before], bil.loc[sleeve.index[0]:before])
    assert ret[splice] == pytest.approx(bil[splice] / bil[before] - 1, abs=1e-12)
    assert ret[after] == pytest.approx(sgov[after] / sgov[splice] - 1, abs=1e-12)
    later = sleeve.loc[after:].pct_change().iloc[1:]
    np.testing.assert_allclose(later, sgov.loc[after:"2024-12-31"].pct_change().iloc[1:], atol=1e-12)
    # no jump anywhere: a T-bill fund never moves 0.5% in a day (its ex-dividend drops are ~0.4%)
    assert ret.abs().max() < 0.005
    # without the splice, the raw Adj Close levels of the two funds differ: joining them naively would jump
    assert abs(sgov[splice] / bil[splice] - 1) > 0.01
    # the splice day is BIL's bar, the next one SGOV's (raw_close tells which fund a row comes from)
    raw = feedset.bars[CASH_FEED]["raw_close"]
    assert raw[splice] == raw_csv("BIL").at[splice, "Close"] and raw[after] == raw_csv("SGOV").at[after, "Close"]
    assert any("joined without a jump" in n for n in feedset.notes)
    assert "BIL from bundled:BIL.csv" in feedset.sources[CASH_FEED] and "SGOV from bundled:SGOV.csv" in feedset.sources[CASH_FEED]


def test_idle_cash_before_bil_is_flat_and_noted(raw_csv):
    fs = prepare_feeds("2007-01-03", "2007-12-31", warmup_sessions=20)
    sleeve = fs.bars[CASH_FEED]
    bil = raw_csv("BIL")["Adj Close"]
    first_bil = pd.Timestamp("2007-05-30")
    idle = sleeve.loc[sleeve.index < first_bil]
    assert len(idle) > 100
    assert (idle["close"] == bil[first_bil]).all() and (idle["open"] == bil[first_bil]).all()
    assert (idle["volume"] == 0).all()
    np.testing.assert_allclose(sleeve.loc[first_bil:, "close"], bil.loc[first_bil:"2007-12-31"])
    note = [n for n in fs.notes if "idle cash earning 0%" in n]
    assert len(note) == 1 and "before 2007-05-30" in note[0] and f"from {sleeve.index[0].date()} to 2007-05-29" in note[0]


def test_run_ending_before_sgov_uses_bil_only(raw_csv):
    fs = prepare_feeds("2015-01-02", "2015-12-31", warmup_sessions=5)
    np.testing.assert_allclose(fs.bars[CASH_FEED]["close"], raw_csv("BIL")["Adj Close"].loc[fs.sessions])
    assert fs.sources[CASH_FEED] == "BIL from bundled:BIL.csv"


def test_run_after_sgov_start_uses_sgov_only(raw_csv):
    fs = prepare_feeds("2022-01-03", "2022-12-30", warmup_sessions=5)
    np.testing.assert_allclose(fs.bars[CASH_FEED]["close"], raw_csv("SGOV")["Adj Close"].loc[fs.sessions])
    assert fs.sources[CASH_FEED] == "SGOV from bundled:SGOV.csv"
