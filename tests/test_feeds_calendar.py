"""Alignment on the NYSE calendar, the VIX carry-forward rule, and the ready Cerebro (first bar, signal-only VIX)."""
from __future__ import annotations

import backtrader as bt
import pandas as pd
import pytest

from feeds import DataError, SignalOnlyFeedError, build_cerebro, nyse_sessions, prepare_feeds
from feeds.bars import BUNDLED_DIR, BUNDLED_SYMBOLS

START, END = "2023-01-03", "2023-12-29"


@pytest.fixture
def csv_dir(tmp_path):
    """A csv:DIR copy of the bundled files for 2022-06..2023-12 (small and fast); tests then damage it."""
    for sym in BUNDLED_SYMBOLS:
        lines = (BUNDLED_DIR / f"{sym}.csv").read_text().splitlines()
        keep = [lines[0]] + [ln for ln in lines[1:] if "2022-06-01" <= ln[:10] <= "2023-12-29"]
        (tmp_path / f"{sym}.csv").write_text("\n".join(keep) + "\n")
    return tmp_path


def drop_dates(folder, symbol, dates):
    path = folder / f"{symbol}.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(ln for ln in lines if ln[:10] not in dates) + "\n")


def prepare(folder):
    return prepare_feeds(START, END, source=f"csv:{folder}", warmup_sessions=50)


def test_sessions_are_the_nyse_calendar():
    sessions = nyse_sessions("2012-10-26", "2012-11-02")
    # Hurricane Sandy closed the NYSE on 2012-10-29 and 10-30
    assert [d.strftime("%m-%d") for d in sessions] == ["10-26", "10-31", "11-01", "11-02"]
    assert len(nyse_sessions("2024-01-01", "2024-12-31")) == 252


def test_csv_copy_aligns(csv_dir, raw_csv):
    fs = prepare(csv_dir)
    assert fs.start == pd.Timestamp(START) and fs.end == pd.Timestamp(END)
    assert fs.sessions.equals(pd.DatetimeIndex(raw_csv("SPY").loc[fs.sessions[0]:END].index).as_unit("ns"))
    assert (fs.sessions < fs.start).sum() == 50
    assert fs.sources["SPY"] == f"csv:{csv_dir / 'SPY.csv'}"


@pytest.mark.parametrize("symbol", ["IWM", "SPY", "SGOV"])
def test_traded_etf_missing_a_session_is_an_error(csv_dir, symbol):
    drop_dates(csv_dir, symbol, {"2023-03-15"})
    with pytest.raises(DataError, match=rf"{symbol} \(.*\): missing NYSE session 2023-03-15; a traded ETF must have a bar on every session"):
        prepare(csv_dir)


def test_row_on_a_non_session_is_an_error(csv_dir):
    path = csv_dir / "SPY.csv"
    lines = path.read_text().splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith("2023-07-05"))
    lines.insert(at, "2023-07-04" + lines[at][10:])  # Independence Day
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"SPY \(.*\): row on 2023-07-04, which is not an NYSE session"):
        prepare(csv_dir)


def test_vix_gap_of_three_sessions_is_carried_forward_with_a_warning(csv_dir, raw_csv):
    gap = {"2023-03-14", "2023-03-15", "2023-03-16"}
    drop_dates(csv_dir, "VIX", gap)
    with pytest.warns(UserWarning, match=r"VIX: 3 missing session\(s\) carried forward .*2023-03-14, 2023-03-15, 2023-03-16"):
        fs = prepare(csv_dir)
    vix = fs.bars["VIX"]
    before = raw_csv("VIX").at[pd.Timestamp("2023-03-13"), "Close"]
    for day in gap:
        assert vix.at[pd.Timestamp(day), "close"] == before
        assert vix.at[pd.Timestamp(day), "volume"] == 0
    assert vix.at[pd.Timestamp("2023-03-17"), "close"] == raw_csv("VIX").at[pd.Timestamp("2023-03-17"), "Close"]
    assert any("VIX: 3 missing session(s)" in n for n in fs.notes)


def test_vix_gap_longer_than_three_sessions_is_an_error(csv_dir):
    drop_dates(csv_dir, "VIX", {"2023-03-14", "2023-03-15", "2023-03-16", "2023-03-17"})
    with pytest.raises(DataError, match=r"VIX \(.*\): 4 sessions missing from 2023-03-14, more than the 3 that may be carried forward"):
        prepare(csv_dir)


def test_data_ending_before_the_run_is_an_error(csv_dir):
    with pytest.raises(DataError, match=r"requested end 2024-06-28 is after the last row 2023-12-29"):
        prepare_feeds(START, "2024-06-28", source=f"csv:{csv_dir}")


class Recorder(bt.Strategy):
    """Records when prenext/next run and the raw close line, and optionally tries to buy a feed."""

    params = (("buy", None),)

    def __init__(self):
        self.next_dates, self.prenext_calls, self.rows = [], 0, []

    def prenext(self):
        self.prenext_calls += 1

    def next(self):
        self.next_dates.append(self.datas[0].datetime.date(0))
        spy = self.getdatabyname("SPY")
        self.rows.append((spy.datetime.date(0), spy.close[0], spy.raw_close[0], spy.open[0]))
        if self.p.buy and len(self.next_dates) == 1:
            self.buy(data=self.getdatabyname(self.p.buy), size=1)


@pytest.fixture(scope="module")
def early_run():
    """A run starting three sessions after IWM's first bar: every feed still starts on the first bar."""
    cerebro = build_cerebro("2000-06-01", "2000-08-31")
    cerebro.addstrategy(Recorder)
    return cerebro, cerebro.run()[0]


def test_next_runs_on_the_very_first_bar(early_run):
    cerebro, strat = early_run
    fs = cerebro.feedset
    assert fs.sessions[0] == pd.Timestamp("2000-05-26")  # warm-up shortened to IWM's first bar
    assert strat.prenext_calls == 0
    assert strat.next_dates[0] == fs.sessions[0].date() and len(strat.next_dates) == len(fs.sessions)
    assert any("warm-up shortened" in n for n in fs.notes)
    assert any("idle cash earning 0%" in n for n in fs.notes)
    assert [d._name for d in strat.datas] == ["IWM", "SPY", "VIX", "SGOV"]
    assert [d.p.tradable for d in strat.datas] == [True, True, False, True]
    assert [d.p.cash for d in strat.datas] == [False, False, False, True]
    assert all(d.p.trade_from == pd.Timestamp("2000-06-01") for d in strat.datas)


def test_backtrader_lines_carry_adjusted_ohlc_and_raw_close(early_run, raw_csv):
    _, strat = early_run
    spy = raw_csv("SPY")
    for date, close, raw_close, open_ in strat.rows[:5]:
        row = spy.loc[pd.Timestamp(date)]
        assert close == pytest.approx(row["Adj Close"], rel=1e-12)
        assert raw_close == pytest.approx(row["Close"], rel=1e-12)
        assert open_ == pytest.approx(row["Open"] * row["Adj Close"] / row["Close"], rel=1e-12)


def test_orders_on_vix_raise_signal_only_error(feedset):
    cerebro = build_cerebro(feeds=feedset)
    cerebro.addstrategy(Recorder, buy="VIX")
    with pytest.raises(SignalOnlyFeedError, match="VIX is a signal-only feed"):
        cerebro.run()


def test_orders_on_traded_feeds_fill():
    small = prepare_feeds("2024-11-01", "2024-12-31", warmup_sessions=0)
    cerebro = build_cerebro(feeds=small)
    cerebro.addstrategy(Recorder, buy="IWM")
    strat = cerebro.run()[0]
    assert strat.getpositionbyname("IWM").size == 1


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"warmup_sessions": -1}, "warmup_sessions must be a whole number >= 0"),
        ({"warmup_sessions": True}, "warmup_sessions must be a whole number >= 0"),
        ({"vix_max_fill": 2.5}, "vix_max_fill must be a whole number >= 0"),
        ({"start": "2024-13-01"}, "start '2024-13-01' is not a date"),
        ({"end": "2099-01-02"}, "end 2099-01-02 is after the last session .* of the NYSE calendar"),
        ({"start": "2024-12-25", "end": "2024-12-25"}, "no NYSE session between 2024-12-25 and 2024-12-25"),
    ],
)
def test_prepare_feeds_rejects_bad_arguments(kwargs, pattern):
    args = {"start": "2024-01-02", "end": "2024-12-31", **kwargs}
    with pytest.raises(ValueError, match=pattern):
        prepare_feeds(**args)


@pytest.mark.parametrize("name, value", [("cash", 0), ("cash", True), ("commission", -0.01), ("slippage", float("nan"))])
def test_build_cerebro_rejects_bad_costs(feedset, name, value):
    with pytest.raises(ValueError, match=rf"{name} must be"):
        build_cerebro(feeds=feedset, **{name: value})


def test_bar_date_equals_backtrader_num2date_including_times_next_to_midnight():
    """The fast date of a Backtrader datetime number is num2date's date, also where num2date rounds up to the
    next day (within microseconds of midnight) and with a time zone."""
    import backtrader as bt
    import pytz

    from feeds.calendar import bar_date, bar_dates

    days = [bt.date2num(d.to_pydatetime()) for d in pd.date_range("1999-12-25", "2001-01-05", freq="D")]
    nums = [d + t for d in days for t in (0.0, 0.25, 0.9999, 0.99999999, 0.999999999999)]
    # near year 1 a float resolves microseconds, so num2date's rounding up to the next day really happens there
    early = [d + 0.99999999999 for d in range(10, 20)]
    assert all(bt.num2date(n).date() != bt.num2date(float(int(n))).date() for n in early)
    for n in nums + early:
        assert bar_date(n) == bt.num2date(n).date(), n
    new_york = pytz.timezone("America/New_York")
    for n in nums[::7]:
        assert bar_date(n, new_york) == bt.num2date(n, tz=new_york).date(), n
    for sample in (days, nums):
        expected = pd.DatetimeIndex([pd.Timestamp(bt.num2date(n).date()) for n in sample])
        got = bar_dates(sample)
        assert got.equals(expected) and got.dtype == expected.dtype


def test_same_month_before_bounds_the_month_exactly():
    """Every datetime number below the bound is in the month of the number it came from; the next day's midnight
    at the bound's day is in the next month."""
    import backtrader as bt

    from feeds.calendar import same_month_before

    for day in pd.date_range("2011-12-01", "2013-01-31", freq="D"):
        num = bt.date2num(day.to_pydatetime()) + 0.4
        bound = same_month_before(num)
        month = bt.num2date(num).date().month
        assert bt.num2date(bound - 1e-9).date().month == month and bt.num2date(bound - 0.5).date().month == month
        assert bt.num2date(float(round(bound))).date() == (day + pd.offsets.MonthBegin(1)).date()
    assert same_month_before(num, tz=object()) == float("-inf")


def test_datetime_numbers_equal_backtrader_date2num():
    import backtrader as bt
    import numpy as np

    from feeds.calendar import datetime_numbers

    for stamps in (pd.date_range("1995-01-01", "2030-12-31", freq="D"), pd.date_range("2020-01-01", periods=300, freq="37min"),
                   pd.date_range("2020-01-01", periods=30, freq="D").as_unit("s"),
                   pd.date_range("2020-01-01", periods=30, freq="D", tz="America/New_York")):
        expected = np.array([bt.date2num(ts.to_pydatetime()) for ts in stamps])
        np.testing.assert_array_equal(datetime_numbers(stamps), expected)
