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
    # Independently: the cut run cannot see the next session's close, so at a month's first session it sees no
    # reason to hold SPY; the full run (which reads that close) holds SPY when the close is above the 200-session
    # average including it. The first month-end cut where that is so is the first one that differs.
    close = raw_csv("SPY")["Adj Close"]
    above = close > close.rolling(200).mean()
    sessions = feeds.sessions
    for cut in cut_dates(feeds, CUTS):
        after = sessions[sessions.get_loc(cut) + 1]
        if after.month != cut.month and above[after]:
            break
    else:
        pytest.fail("no month-end cut with SPY above its average")
    assert f"orders differ on {after.date()} when the data end at {cut.date()}: SPY" in out


def test_safe_version_passes_through_the_cli(clean_registry, tmp_path, capsys):
    path = tmp_path / "safe_idea.py"
    path.write_text(textwrap.dedent(LEAKY).replace('"leaky-sma"', '"safe-sma"').replace(
        "spy.close.get(ago=0, size=200)", 'self.closes("SPY", 200)').replace("spy.close[0]", 'self.last_close("SPY")'))
    code = main(["lookahead", "--module", str(path), "--strategies", "safe-sma", "--start", START, "--end", END,
                 "--cuts", "4", "--jobs", "1"])
    assert code == 0 and "safe-sma: PASS (4 cuts" in capsys.readouterr().out


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
    # Independently: the cut run sees no close after the cut, so it holds cash where the full run, seeing the next
    # close above the cut's, buys SPY; the first such cut is the first to differ.
    close = raw_csv("SPY")["Adj Close"]
    first = next(c for c in finding.cuts if close.shift(-1)[c] > close[c])
    assert finding.leak.startswith(f"orders differ on {first.date()} (placed after that session's close) when the data "
                                   f"end at {first.date()}: ")
