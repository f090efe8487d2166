"""The Yahoo source (feeds.yahoo), with ``yfinance.download`` replaced by a fake: no test touches the network.

The fake returns frames shaped exactly like yfinance 1.x ``download(..., auto_adjust=False, group_by="column",
multi_level_index=True)``: MultiIndex columns (Price, Ticker) sorted by Price, a DatetimeIndex named "Date",
float columns, ``end`` exclusive, built from the bundled CSV rows. Offline it returns the empty frame
yfinance 1.x really returns (columns only, no rows).
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yfinance

import feeds.yahoo as yahoo
from feeds import DataError, load_prices
from feeds.bars import BUNDLED_DIR

TODAY = pd.Timestamp("2025-01-02")  # so the last completed session is 2024-12-31, the bundled data's last row


def bundled(symbol: str) -> pd.DataFrame:
    return pd.read_csv(BUNDLED_DIR / f"{symbol}.csv", index_col="Date", parse_dates=True)


class FakeDownload:
    """Stands in for ``yfinance.download``; records every call. ``offline`` -> the empty frame."""

    def __init__(self, offline: bool = False, adj_scale: float = 1.0, raw_scale: float = 1.0, missing=()):
        self.calls: list[dict] = []
        self.offline = offline
        self.adj_scale = adj_scale  # a later download's Adj Close basis (new dividends) ...
        self.raw_scale = raw_scale  # ... and raw price basis (a split)
        self.missing = set(missing)  # tickers Yahoo does not know

    def __call__(self, tickers, start=None, end=None, **kwargs):
        self.calls.append({"tickers": list(tickers), "start": start, "end": end, **kwargs})
        assert kwargs["auto_adjust"] is False and kwargs["multi_level_index"] is True and kwargs["group_by"] == "column"
        columns = pd.MultiIndex.from_product(
            [["Adj Close", "Close", "High", "Low", "Open", "Volume"], [t.upper() for t in tickers]], names=["Price", "Ticker"]
        )
        if self.offline:
            return pd.DataFrame(columns=columns, index=pd.DatetimeIndex([], dtype="datetime64[s]"))
        parts = {}
        for ticker in tickers:
            if ticker in self.missing:
                parts[ticker] = pd.DataFrame(columns=["Open", "High", "Low", "Close", "Adj Close", "Volume"], dtype=float)
                continue
            rows = bundled(ticker.lstrip("^")).loc[pd.Timestamp(start):pd.Timestamp(end) - pd.Timedelta(days=1)].astype(float)
            for col in ("Open", "High", "Low", "Close"):
                rows[col] = rows[col] * self.raw_scale
            rows["Volume"] = rows["Volume"] / self.raw_scale
            rows["Adj Close"] = rows["Adj Close"] * self.adj_scale
            parts[ticker] = rows
        index = pd.DatetimeIndex(sorted(set().union(*(p.index for p in parts.values()))), name="Date")
        frame = pd.concat({t: p.reindex(index) for t, p in parts.items()}, axis=1, names=["Ticker", "Price"])
        frame.columns = frame.columns.swaplevel(0, 1)
        frame = frame.sort_index(level=0, axis=1)
        frame.index.name = "Date"
        return frame


class UnexpectedDownload(BaseException):
    """Raised by a download nobody expected; a BaseException so that the adapter cannot swallow it."""


def _refuse(*args, **kwargs):
    raise UnexpectedDownload(f"unexpected call yfinance.download{args}{kwargs}")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Every test starts with a download that fails loudly, and a fixed 'today'."""
    monkeypatch.setattr(yfinance, "download", _refuse)
    monkeypatch.setattr(yahoo, "_today", lambda: TODAY)


@pytest.fixture
def fake(monkeypatch):
    def install(**kwargs) -> FakeDownload:
        fake = FakeDownload(**kwargs)
        monkeypatch.setattr(yfinance, "download", fake)
        return fake

    return install


def test_fake_has_yfinance_shape(fake):
    frame = fake()(["SPY", "^VIX"], start="2024-12-20", end="2025-01-01", auto_adjust=False, multi_level_index=True, group_by="column")
    assert isinstance(frame.columns, pd.MultiIndex) and frame.columns.names == ["Price", "Ticker"]
    assert list(frame.columns.get_level_values(0).unique()) == ["Adj Close", "Close", "High", "Low", "Open", "Volume"]
    assert frame.index.name == "Date" and len(frame) == 7 and frame.index[-1] == pd.Timestamp("2024-12-31")
    assert (frame.dtypes == "float64").all()


def test_download_and_values(fake, tmp_path):
    f = fake()
    prices = load_prices(["SPY", "VIX"], "2010-01-01", "2024-12-31", source="yahoo", cache_dir=tmp_path)
    assert len(f.calls) == 1
    call = f.calls[0]
    assert sorted(call["tickers"]) == ["SPY", "^VIX"]  # our VIX is Yahoo's ^VIX
    assert call["start"] == "2010-01-01" and call["end"] == "2025-01-01"  # Yahoo's end is exclusive
    assert call["auto_adjust"] is False and call["progress"] is False
    assert prices.frames["SPY"].at[pd.Timestamp("2010-01-04"), "Close"] == pytest.approx(113.33)
    assert prices.frames["VIX"].at[pd.Timestamp("2020-03-16"), "Close"] == pytest.approx(82.69)
    ref = bundled("SPY").loc["2010-01-01":"2024-12-31"]
    assert len(prices.frames["SPY"]) == len(ref) == 3774
    np.testing.assert_allclose(prices.frames["SPY"]["Adj Close"].to_numpy(), ref["Adj Close"].to_numpy())
    assert prices.sources["SPY"] == f"yahoo (cache {tmp_path / 'SPY.csv'}, fetched 2025-01-02)"
    # the cache is in the bundled layout, and round-trips exactly
    cached = pd.read_csv(tmp_path / "SPY.csv", index_col="Date", parse_dates=True)
    assert list(cached.columns) == ["Open", "High", "Low", "Close", "Adj Close", "Volume"]
    pd.testing.assert_frame_equal(cached, ref.astype(float), check_index_type=False, check_freq=False)
    meta = json.loads((tmp_path / "VIX.json").read_text())
    assert meta["ticker"] == "^VIX" and meta["requested_from"] == "2010-01-01" and meta["requested_through"] == "2024-12-31"
    assert not list(tmp_path.glob("*.tmp"))  # atomic writes leave no temp files


def test_cache_round_trip_asks_only_for_missing_dates(fake, tmp_path, monkeypatch):
    fake()
    load_prices("SPY", "2015-01-01", "2019-12-31", source="yahoo", cache_dir=tmp_path)
    # covered entirely by the cache: no call at all (the autouse fake would raise)
    monkeypatch.setattr(yfinance, "download", _refuse)
    again = load_prices("SPY", "2016-03-01", "2018-06-29", source="yahoo", cache_dir=tmp_path)
    assert again.frames["SPY"].index[0] == pd.Timestamp("2016-03-01")
    # wider request: only the missing ends are asked for, each overlapping the cache by one row
    f = fake()
    wide = load_prices("SPY", "2012-01-01", "2024-12-31", source="yahoo", cache_dir=tmp_path)
    asked = sorted((c["start"], c["end"]) for c in f.calls)
    assert asked == [("2012-01-01", "2015-01-03"), ("2019-12-31", "2025-01-01")]
    ref = bundled("SPY").loc["2012-01-01":"2024-12-31"]
    np.testing.assert_allclose(wide.frames["SPY"]["Close"].to_numpy(), ref["Close"].to_numpy())
    assert wide.frames["SPY"].index.equals(pd.DatetimeIndex(ref.index).as_unit("ns"))


def test_later_download_on_a_new_adjustment_basis_is_joined_without_a_jump(fake, tmp_path):
    fake()
    load_prices("IWM", "2020-01-01", "2022-12-30", source="yahoo", cache_dir=tmp_path)
    fake(adj_scale=1.05, raw_scale=0.5)  # new dividends since, and a 2:1 split
    prices = load_prices("IWM", "2020-01-01", "2024-12-31", source="yahoo", cache_dir=tmp_path)
    got = prices.frames["IWM"]
    ref = bundled("IWM").loc["2020-01-01":"2024-12-31"]
    # the whole series is on the newest basis: returns equal the reference, levels equal the new download's
    np.testing.assert_allclose(got["Adj Close"].pct_change().iloc[1:], ref["Adj Close"].pct_change().iloc[1:], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got["Adj Close"].to_numpy(), ref["Adj Close"].to_numpy() * 1.05, rtol=1e-9)
    np.testing.assert_allclose(got["Close"].to_numpy(), ref["Close"].to_numpy() * 0.5, rtol=1e-9)
    assert any("split" in n and "IWM" in n for n in prices.notes)


def test_offline_without_cache_says_what_failed_and_what_to_use(fake, tmp_path):
    f = fake(offline=True)
    with pytest.raises(DataError) as err:
        load_prices(["SPY", "IWM"], "2010-01-01", "2024-12-31", source="yahoo", cache_dir=tmp_path)
    msg = str(err.value)
    assert "could not fetch SPY, IWM from Yahoo Finance" in msg
    assert "the bundled data covers 2000-01-03..2024-12-31: use --source bundled" in msg
    assert "the bundled data covers 2000-05-26..2024-12-31" in msg
    assert len(f.calls) == 1
    assert not list(tmp_path.glob("*.csv"))  # nothing cached from an empty answer


def test_offline_continues_from_a_covering_cache_with_a_note(fake, tmp_path):
    fake()
    load_prices("SPY", "2015-01-01", "2019-12-31", source="yahoo", cache_dir=tmp_path)
    fake(offline=True)
    # open-ended request (end=None would want up to 2024-12-31): the cache covers what it asks from
    prices = load_prices("SPY", "2016-01-01", None, source="yahoo", cache_dir=tmp_path)
    assert prices.frames["SPY"].index[-1] == pd.Timestamp("2019-12-31")
    assert any("could not fetch from Yahoo" in n and "2015-01-02..2019-12-31" in n for n in prices.notes)
    assert prices.sources["SPY"].startswith("yahoo (cache ")


def test_offline_with_a_cache_too_short_names_its_span(fake, tmp_path):
    fake()
    load_prices("SPY", "2015-01-01", "2019-12-31", source="yahoo", cache_dir=tmp_path)
    fake(offline=True)
    with pytest.raises(DataError) as err:
        load_prices("SPY", "2015-01-01", "2024-12-31", source="yahoo", cache_dir=tmp_path)
    msg = str(err.value)
    assert "cached data for SPY covers 2015-01-02..2019-12-31" in msg
    assert "use --source bundled" in msg


def test_partial_failure_names_only_the_missing_ticker(fake, tmp_path):
    fake(missing={"^VIX"})
    with pytest.raises(DataError) as err:
        load_prices(["SPY", "VIX"], "2024-01-01", "2024-12-31", source="yahoo", cache_dir=tmp_path)
    assert "could not fetch VIX from Yahoo" in str(err.value) and "^VIX" in str(err.value)
    assert (tmp_path / "SPY.csv").exists() and not (tmp_path / "VIX.csv").exists()


@pytest.mark.parametrize("damage", ["garbage", "nan", "unsorted"])
def test_corrupted_cache_is_reported_and_never_used(fake, tmp_path, damage):
    fake()
    load_prices("SPY", "2024-01-01", "2024-12-31", source="yahoo", cache_dir=tmp_path)
    path = tmp_path / "SPY.csv"
    lines = path.read_text().splitlines()
    if damage == "garbage":
        path.write_bytes(b"\x00\xff\xfe not a csv \x00")
    elif damage == "nan":
        lines[10] = lines[10].split(",")[0] + ",,,,,,"
        path.write_text("\n".join(lines) + "\n")
    else:
        lines[5], lines[6] = lines[6], lines[5]
        path.write_text("\n".join(lines) + "\n")
    # offline: the corrupted file is named and not used
    fake(offline=True)
    with pytest.raises(DataError) as err:
        load_prices("SPY", "2024-01-01", "2024-12-31", source="yahoo", cache_dir=tmp_path)
    assert f"corrupted cache file {path}" in str(err.value)
    # online: re-fetched in full, reported in the notes, the file replaced by good data
    f = fake()
    prices = load_prices("SPY", "2024-01-01", "2024-12-31", source="yahoo", cache_dir=tmp_path)
    assert [(c["start"], c["end"]) for c in f.calls] == [("2024-01-01", "2025-01-01")]
    assert any(f"corrupted cache file {path}" in n for n in prices.notes)
    assert len(prices.frames["SPY"]) == 252
    assert len(pd.read_csv(path)) == 252


@pytest.mark.parametrize("ticker", ["../SPY", "a/b", "..", "SP Y", "C:\\x", ".hidden", "SPY;rm"])
def test_ticker_that_could_escape_the_cache_is_rejected(fake, tmp_path, ticker):
    with pytest.raises(DataError, match="could escape"):
        load_prices(ticker, "2024-01-01", "2024-12-31", source="yahoo", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_cache_folder_from_environment(fake, tmp_path, monkeypatch):
    monkeypatch.setenv(yahoo.CACHE_ENV, str(tmp_path / "envcache"))
    fake()
    prices = load_prices("SGOV", "2024-06-03", "2024-12-31", source="yahoo")
    assert (tmp_path / "envcache" / "SGOV.csv").exists()
    assert str(tmp_path / "envcache") in prices.sources["SGOV"]


def test_start_none_asks_for_all_history_then_is_served_from_cache(fake, tmp_path, monkeypatch):
    f = fake()
    prices = load_prices("IWM", None, "2024-12-31", source="yahoo", cache_dir=tmp_path)
    assert f.calls[0]["start"] == "1995-01-01"
    assert prices.frames["IWM"].index[0] == pd.Timestamp("2000-05-26") and len(prices.frames["IWM"]) == 6188
    monkeypatch.setattr(yfinance, "download", _refuse)  # IWM has no data before 2000-05-26: not asked again
    assert len(load_prices("IWM", None, "2024-12-31", source="yahoo", cache_dir=tmp_path).frames["IWM"]) == 6188


def test_requested_start_before_the_data_is_an_error(fake, tmp_path):
    fake()
    with pytest.raises(DataError, match=r"IWM .*requested start 2000-01-03 is before the first row 2000-05-26"):
        load_prices("IWM", "2000-01-03", "2001-12-31", source="yahoo", cache_dir=tmp_path)


def test_end_after_the_last_completed_session_is_an_error(fake, tmp_path):
    f = fake()
    with pytest.raises(DataError, match=r"SPY .*requested end 2025-06-30 is after the last row 2024-12-31"):
        load_prices("SPY", "2024-01-01", "2025-06-30", source="yahoo", cache_dir=tmp_path)
    assert f.calls[0]["end"] == "2025-01-01"  # never asks for today's unfinished bar
    with pytest.raises(DataError, match=r"requested start 2025-01-02 is after the last completed NYSE session 2024-12-31"):
        load_prices("SPY", "2025-01-02", None, source="yahoo", cache_dir=tmp_path)
    with pytest.raises(DataError, match=r"requested start 2024-06-03 is after end 2024-05-31"):
        load_prices("SPY", "2024-06-03", "2024-05-31", source="yahoo", cache_dir=tmp_path)
    assert len(f.calls) == 1


def test_prepare_feeds_from_yahoo_records_the_source_of_every_feed(fake, tmp_path):
    from feeds import prepare_feeds

    fake()
    fs = prepare_feeds("2020-01-02", "2024-12-31", source="yahoo", cache_dir=tmp_path, warmup_sessions=10)
    assert set(fs.sources) == {"IWM", "SPY", "VIX", "SGOV"}
    assert all("yahoo (cache" in s for s in fs.sources.values())
    assert "BIL from yahoo" in fs.sources["SGOV"] and "SGOV from yahoo" in fs.sources["SGOV"]
    ref = bundled("SPY")["Adj Close"].loc["2020-01-02":"2024-12-31"]
    np.testing.assert_allclose(fs.bars["SPY"]["close"].loc["2020-01-02":].to_numpy(), ref.to_numpy())


def test_yfinance_not_imported_by_feeds():
    import subprocess
    import sys

    code = "import sys, feeds; feeds.load_prices('SPY'); print('yfinance' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
