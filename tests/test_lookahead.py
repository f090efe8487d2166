"""The look-ahead detector: every built-in strategy passes; a strategy that reads the same day's close in
next_open, written in a file the project has never seen, fails naming the first date (found independently with
pandas from the CSVs); the cut data hold exactly what is known at the next session's open."""
from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from feeds import prepare_feeds
from cli.main import main
from engines.compare import default_names
from engines.engine import RunSettings, run_one, warmup_for
from research.lookahead import CLOSE, OPEN, check, compare_cut, cut_dates, cut_feeds

ROOT = Path(__file__).resolve().parent.parent
START, END, CUTS = "2019-01-01", "2021-12-31", 6  # the ratio strategies trade from 2020 on
SETTINGS = RunSettings(start=START, end=END)

LEAKY = '''
from strategies import PortfolioStrategy, register


@register("leaky-sma")
class LeakySma(PortfolioStrategy):
    """SPY above its 200-session average, else cash; reads data.close[0] in next_open: that day's close."""

    def next_open(self):
        if self.is_rebalance_day():
            spy = self.getdatabyname("SPY")
            average = sum(spy.close.get(ago=0, size=200)) / 200
            self.rebalance({"SPY": 1.0} if spy.close[0] > average else {"SGOV": 1.0})
'''


@pytest.fixture(scope="module")
def feeds():
    return prepare_feeds(START, END, warmup_sessions=warmup_for([(n, {}) for n in default_names()]))


@pytest.mark.parametrize("name, params", [(n, {}) for n in default_names()] + [("rotation", {"fill": "close", "vix_timing": "daily"})])
def test_every_builtin_strategy_passes(feeds, name, params):
    finding = check(name, feeds, SETTINGS, params, cuts=CUTS, jobs=2, progress=False)
    assert finding.leak is None
    assert len(finding.cuts) == CUTS and finding.compared > 0


def test_cut_dates_are_month_ends_and_ordinary_days(feeds):
    dates = pd.DatetimeIndex(cut_dates(feeds, 24))
    sessions = feeds.sessions
    after = sessions[sessions.get_indexer(dates) + 1]
    before = sessions[sessions.get_indexer(dates) - 1]
    month_end = dates.month != after.month
    ordinary = ~month_end & (dates.month == before.month)
    assert len(dates) == 24 and month_end.sum() == 12 and ordinary.sum() == 12
    assert dates[0] >= feeds.start and dates[-1] < feeds.end and (dates[-1] - dates[0]).days > 2.5 * 365


def test_cut_data_hold_what_is_known_at_the_next_open(feeds, raw_csv):
    cut = pd.Timestamp("2020-03-13")
    data = cut_feeds(feeds, cut)
    spy, csv = data.bars["SPY"], raw_csv("SPY")
    assert data.end == pd.Timestamp("2020-03-16") and spy.index[-1] == data.end
    pd.testing.assert_frame_equal(spy.iloc[:-1], feeds.bars["SPY"].loc[:cut])
    last = spy.iloc[-1]
    opening = csv.at[data.end, "Open"] * csv.at[data.end, "Adj Close"] / csv.at[data.end, "Close"]
    assert last["open"] == pytest.approx(opening, rel=1e-12) and last["high"] == last["low"] == last["open"]
    assert math.isnan(last["close"]) and math.isnan(last["raw_close"]) and math.isnan(last["volume"])


def test_compare_cut_names_the_first_difference():
    day, cut = pd.Timestamp("2019-03-01"), pd.Timestamp("2019-02-28")
    full = [(cut, CLOSE, "IWM", 5.0), (day, OPEN, "SPY", 812.0), (day, CLOSE, "SPY", -3.0)]
    assert compare_cut(full, {"orders": full[:2]}, cut, day) is None  # orders after the next open are excluded
    assert compare_cut(full, {"orders": full[:1]}, cut, day) == (
        "orders differ on 2019-03-01 when the data end at 2019-02-28: SPY 812 shares in the full run, 0 in the cut run")
    failed = compare_cut(full, {"error": "cannot convert float NaN to integer", "session": day}, cut, day)
    assert failed == "the run failed on 2019-03-01 when the data end at 2019-02-28: cannot convert float NaN to integer"


def test_leaky_strategy_in_a_new_file_fails_naming_the_first_date(clean_registry, tmp_path, capsys, raw_csv, feeds):
    path = tmp_path / "my_leaky_idea.py"
    path.write_text(textwrap.dedent(LEAKY))
    code = main(["lookahead", "--module", str(path), "--strategies", "leaky-sma", "--start", START, "--end", END,
                 "--cuts", str(CUTS), "--jobs", "2"])
    out = capsys.readouterr().out
    assert code == 1 and "leaky-sma: LOOK-AHEAD: orders differ on" in out
    # Independently: the streamed run hides each session's close in next_open, so at a month's first session it sees
    # no reason to hold SPY; the full run (which reads that close) holds SPY when the close is above the 200-session
    # average including it. The first decision where that is so is the first that differs.
    close = raw_csv("SPY")["Adj Close"]
    above = close > close.rolling(200).mean()
    measured = close.loc[START:END]
    firsts = measured.groupby(measured.index.to_period("M")).head(1).index
    first = next(d for d in firsts if above[d])
    assert f"orders differ on {first.date()} in the streamed run (each session's close and later bars hidden" in out


def test_safe_version_passes_through_the_cli(clean_registry, tmp_path, capsys):
    path = tmp_path / "safe_idea.py"
    path.write_text(textwrap.dedent(LEAKY).replace('"leaky-sma"', '"safe-sma"').replace(
        "spy.close.get(ago=0, size=200)", 'self.closes("SPY", 200)').replace("spy.close[0]", 'self.last_close("SPY")'))
    code = main(["lookahead", "--module", str(path), "--strategies", "safe-sma", "--start", START, "--end", END,
                 "--cuts", "4", "--jobs", "1"])
    assert code == 0 and "safe-sma: PASS (every session streamed, " in capsys.readouterr().out


def test_trend_filter_example_passes_and_decides_like_pandas(clean_registry, feeds, raw_csv):
    from strategies import load_user_module

    load_user_module(str(ROOT / "examples" / "trend_filter.py"))
    assert check("trend-filter", feeds, SETTINGS, cuts=CUTS, jobs=2, progress=False).leak is None
    decisions = run_one("trend-filter", feeds, SETTINGS).decisions.set_index("date")
    # Independently: at each month's first session, yesterday's close against the mean of the 200 closes to it.
    close = raw_csv("SPY")["Adj Close"]
    average = close.rolling(200).mean().shift(1)
    firsts = close.loc[START:END].groupby(close.loc[START:END].index.to_period("M")).head(1).index
    assert [d for d in decisions.index] == list(firsts.date)
    assert decisions["above"].tolist() == (close.shift(1) > average)[firsts].tolist()
    assert decisions["average"].to_numpy() == pytest.approx(average[firsts].to_numpy(), rel=1e-12)


def test_a_read_of_the_next_bar_in_next_is_caught(clean_registry, feeds, raw_csv):
    from strategies import PortfolioStrategy, register

    @register("peek-tomorrow")
    class PeekTomorrow(PortfolioStrategy):
        """In next (orders fill at the next open): SPY when tomorrow's close is above today's, read as close[1]."""

        def next(self):
            if not self.warming_up():
                spy = self.getdatabyname("SPY")
                tomorrow = spy.close[1] if len(spy) < spy.buflen() else spy.close[0]
                self.rebalance({"SPY": 1.0} if tomorrow > spy.close[0] else {"SGOV": 1.0}, at="close")

    finding = check("peek-tomorrow", feeds, SETTINGS, cuts=4, jobs=1, progress=False)
    # Independently: the streamed run hides the next bar in next, so it holds cash where the full run, seeing the next
    # close above this one, buys SPY; the first measured session where that is so is the first to differ.
    close = raw_csv("SPY")["Adj Close"]
    first = next(d for d in close.loc[START:END].index if close.shift(-1)[d] > close[d])
    assert finding.leak.startswith(f"orders differ on {first.date()} (placed after that session's close) in the "
                                   "streamed run")


LEAKS = '''
import math

import backtrader as bt
from strategies import PortfolioStrategy, register


@register("leak-one-year")
class LeakOneYear(PortfolioStrategy):
    """Honest trend filter, except in 2020 where it reads that session's close in next_open."""

    def next_open(self):
        if self.is_rebalance_day():
            closes = self.closes("SPY", 200)
            last = self.getdatabyname("SPY").close[0] if self.now().year == 2020 else closes[-1]
            self.rebalance({"SPY": 1.0} if last > closes.mean() else {"SGOV": 1.0})


@register("leak-broker-value")
class LeakBrokerValue(PortfolioStrategy):
    """Sizes its SPY buy on broker.get_value([spy]) in next_open: Backtrader marks it at that session's close."""

    def next_open(self):
        if self.is_rebalance_day():
            spy = self.getdatabyname("SPY")
            target = math.floor((self.broker.getcash() + self.broker.get_value([spy])) * 0.9 / spy.open[0])
            if target != self.getposition(spy).size:
                self.order_target_size(data=spy, target=target)


@register("leak-indicator")
class LeakIndicator(PortfolioStrategy):
    """SPY when its 5-session average rose, read as sma[1] in next_open: the average through that session's close."""

    def __init__(self):
        super().__init__()
        self.sma = bt.ind.SMA(self.getdatabyname("SPY").close, period=5)

    def next_open(self):
        if self.is_rebalance_day():
            self.rebalance({"SPY": 1.0} if self.sma[1] > self.sma[0] else {"SGOV": 1.0})


@register("leak-limit-low")
class LeakLimitLow(PortfolioStrategy):
    """Buys 10 SPY on each month's first session with a limit at that session's low."""

    def next_open(self):
        if self.is_rebalance_day():
            spy = self.getdatabyname("SPY")
            self.buy(data=spy, size=10, price=spy.low[0], exectype=bt.Order.Limit, valid=spy.datetime.date(0))
'''


def test_the_default_check_catches_leaks_a_few_cuts_miss(clean_registry, tmp_path, feeds, raw_csv):
    """A leak in one year only, the broker value read in next_open, a limit at the session's low and an indicator's
    value after that session's close: each flagged with its first date, whatever the cuts (2 here, mid-period)."""
    from strategies import load_user_module

    (tmp_path / "leaks.py").write_text(LEAKS)
    load_user_module(str(tmp_path / "leaks.py"))
    one_year, value, limit, indicator = (check(n, feeds, SETTINGS, cuts=2, jobs=2, progress=False).leak for n in (
        "leak-one-year", "leak-broker-value", "leak-limit-low", "leak-indicator"))
    close = raw_csv("SPY")["Adj Close"]
    in_2020 = close.loc["2020"]
    firsts = in_2020.groupby(in_2020.index.to_period("M")).head(1).index
    honest = [close.loc[:d].iloc[-201:-1] for d in firsts]  # the 200 closes before each decision
    # the streamed run sees NaN for that close (never above the average): it differs where the full run holds SPY
    first = next(d for d, c in zip(firsts, honest) if close[d] > c.mean())
    assert one_year.startswith(f"orders differ on {first.date()} in the streamed run")
    assert value.startswith("the streamed run (each session's close and later bars hidden until known) failed on "
                            "2019-01-02: strategy 'leak-broker-value': ValueError at ") and "leaks.py:" in value
    # the indicator's value after this session's close is hidden (NaN): the streamed run holds SGOV where the full
    # run holds SPY, first at the first decision whose close is above the close 5 sessions before it
    measured = close.loc[START:END]
    decisions = measured.groupby(measured.index.to_period("M")).head(1).index
    rose = next(d for d in decisions if close[d] > close.shift(5)[d])
    assert indicator.startswith(f"orders differ on {rose.date()} in the streamed run")
    spy = raw_csv("SPY").loc["2019-01-02"]
    low, opening = (spy[k] * spy["Adj Close"] / spy["Close"] for k in ("Low", "Open"))
    assert limit == (f"orders differ on 2019-01-02 in the streamed run (each session's close and later bars hidden "
                     f"until known): SPY 10 shares limit at {low:,.4f} in the full run, 10 shares limit at "
                     f"{opening:,.4f} in the streamed run")


def test_cuts_are_spread_for_any_number(feeds):
    sessions = feeds.sessions
    measured = sessions[(sessions >= feeds.start) & (sessions < feeds.end)]
    middle = measured[len(measured) // 2]
    for n in (1, 2):
        dates = cut_dates(feeds, n)
        assert len(dates) == n and all(abs((d - middle).days) < 300 for d in dates), dates
