"""yfinance's own log lines never reach the terminal; the error has one line per failed ticker, with yfinance's reason."""
from __future__ import annotations

import logging

import pandas as pd
import pytest
import yfinance

import feeds.yahoo as yahoo
from feeds import DataError, load_prices


def offline_download(tickers, start=None, end=None, **kwargs):
    """yfinance 1.x offline: logs through the 'yfinance' logger as multi.py does, returns the empty frame."""
    log = logging.getLogger("yfinance")
    for ticker in tickers:
        log.error(f"${ticker}: possibly delisted; no price data found  (1d {start} -> {end})")
    log.error("\n%.f Failed download%s:" % (len(tickers), "s" if len(tickers) > 1 else ""))
    log.error(f"{list(tickers)}: possibly delisted; no price data found  (1d {start} -> {end})")
    columns = pd.MultiIndex.from_product([["Adj Close", "Close", "High", "Low", "Open", "Volume"], list(tickers)], names=["Price", "Ticker"])
    return pd.DataFrame(columns=columns, index=pd.DatetimeIndex([], dtype="datetime64[s]", name="Date"))


def test_offline_yahoo_prints_no_yfinance_lines(monkeypatch, tmp_path, capfd):
    monkeypatch.setattr(yfinance, "download", offline_download)
    monkeypatch.setattr(yahoo, "_today", lambda: pd.Timestamp("2025-01-02"))
    with pytest.raises(DataError) as err:
        load_prices(["SPY", "VIX"], "2024-01-02", "2024-12-31", source="yahoo", cache_dir=tmp_path)
    out, stderr = capfd.readouterr()
    assert "possibly delisted" not in stderr + out and "Failed download" not in stderr + out
    lines = str(err.value).splitlines()
    assert lines[0].startswith("could not fetch SPY, VIX from Yahoo Finance")
    failed = [line for line in lines if line.startswith("- ")]
    assert [line.split(":")[0] for line in failed] == ["- SPY", "- VIX"]
    assert "^VIX" in failed[1] and "yfinance said: possibly delisted; no price data found" in failed[1]
    # the logger is left as it was
    assert logging.getLogger("yfinance").propagate is True and not any(
        isinstance(h, yahoo._Captured) for h in logging.getLogger("yfinance").handlers)
