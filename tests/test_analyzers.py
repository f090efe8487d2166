"""Analyzers against figures computed independently from an equity curve built with plain pandas."""
from __future__ import annotations

import math

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

import analyzers
from analyzers import stats
from engines.engine import RunSettings, build_run, execute
from strategies import PortfolioStrategy


@pytest.fixture(scope="module")
def spy_run(feedset):
    entry, _, cerebro = build_run("buy-hold-spy", feedset, RunSettings(benchmark="IWM"))
    return execute(entry, cerebro)


@pytest.fixture(scope="module")
def independent_spy(raw_csv):
    """Buy-and-hold SPY from 100,000 on 2010-01-04's adjusted open, whole shares after a 0.1% cash buffer."""
    spy = raw_csv("SPY").loc["2009-12-31":"2024-12-31"]
    factor = spy["Adj Close"] / spy["Close"]
    open_adj = spy.loc["2010-01-04", "Open"] * factor.loc["2010-01-04"]
    shares = math.trunc(100_000 * (1 - 0.001) / open_adj)
    cash = 100_000 - shares * open_adj
    equity = cash + shares * spy["Adj Close"].loc["2010-01-04":]
    start = pd.Series([100_000.0], index=[pd.Timestamp("2009-12-31")])
    return pd.concat([start, equity])


def test_equity_curve_equals_independent(spy_run, independent_spy):
    got = spy_run.analyzers.getbyname("equity").get_analysis()["equity"]
    assert list(got.index) == list(independent_spy.index)
    np.testing.assert_allclose(got.to_numpy(), independent_spy.to_numpy(), rtol=1e-9)


@pytest.fixture(scope="module")
def independent_cash(raw_csv):
    """The cash sleeve's session returns 2010-01-04..2024-12-31 from the raw CSVs: BIL's adjusted close up to and
    including SGOV's first day 2020-06-01, SGOV's after it."""
    bil = raw_csv("BIL")["Adj Close"].loc["2009-12-31":"2020-06-01"].pct_change().dropna()
    sgov = raw_csv("SGOV")["Adj Close"].loc["2020-06-01":"2024-12-31"].pct_change().dropna()
    return pd.concat([bil, sgov])


def test_performance_equals_independent(spy_run, independent_spy, independent_cash):
    eq = independent_spy
    days = eq.pct_change().dropna()
    assert list(independent_cash.index) == list(days.index)
    excess = days - independent_cash
    years = (eq.index[-1] - eq.index[0]).days / 365.25
    cagr = 100 * ((eq.iloc[-1] / eq.iloc[0]) ** (1 / years) - 1)
    vol = 100 * days.std() * np.sqrt(252)
    sharpe = excess.mean() / excess.std() * np.sqrt(252)
    downside = np.sqrt(np.mean(np.minimum(excess, 0) ** 2))
    sortino = excess.mean() * 252 / (downside * np.sqrt(252))
    peak = eq.cummax()
    maxdd = 100 * (eq / peak - 1).min()
    got = spy_run.analyzers.getbyname("performance").get_analysis()
    assert got["Years"] == pytest.approx(15.0, abs=0.01)
    for key, value in [("CAGR [%]", cagr), ("Volatility [%]", vol), ("Sharpe", sharpe), ("Sortino", sortino),
                       ("Max drawdown [%]", maxdd), ("Calmar", cagr / abs(maxdd)), ("Final value", eq.iloc[-1])]:
        assert got[key] == pytest.approx(value, rel=1e-9), key
    assert got["Max drawdown date"] == pd.Timestamp("2020-03-23")
    assert got["CAGR [%]"] == pytest.approx(13.70, abs=0.01)
    assert got["Risk-free"] == "cash sleeve's own daily return (SGOV)"
    # over a zero rate the Sharpe is higher by mean(cash) / std(excess) x sqrt(252): T-bills paid ~1% a year
    assert sharpe < days.mean() / days.std() * np.sqrt(252) - 0.03


def test_performance_zero_riskfree_option(feedset, independent_spy):
    entry, _, cerebro = build_run("buy-hold-spy", feedset, RunSettings(benchmark="IWM"))
    for analyzer in cerebro.analyzers:  # (class, args, kwargs) as added by add_standard_analyzers
        if analyzer[0] is analyzers.Performance:
            analyzer[2]["riskfree"] = 0.0
    got = execute(entry, cerebro).analyzers.getbyname("performance").get_analysis()
    days = independent_spy.pct_change().dropna()
    assert got["Risk-free"] == "zero"
    assert got["Sharpe"] == pytest.approx(days.mean() / days.std() * np.sqrt(252), rel=1e-9)


def test_sharpe_with_riskfree_rate():
    returns = pd.Series([0.01, -0.005, 0.002, 0.004])
    rf = (1.02) ** (1 / 252) - 1
    excess = returns - rf
    assert stats.sharpe(returns, 0.02) == pytest.approx(excess.mean() / excess.std() * np.sqrt(252))


def test_monthly_win_rate_and_benchmark_equal_independent(spy_run, independent_spy, raw_csv):
    eq = independent_spy
    month_end = eq.iloc[1:].resample("ME").last()
    monthly = month_end / pd.concat([pd.Series([eq.iloc[0]]), month_end.iloc[:-1]]).to_numpy() - 1
    iwm = raw_csv("IWM")["Adj Close"].loc["2009-12-31":"2024-12-31"]
    iwm_month_end = iwm.iloc[1:].resample("ME").last()
    iwm_monthly = iwm_month_end / pd.concat([pd.Series([iwm.iloc[0]]), iwm_month_end.iloc[:-1]]).to_numpy() - 1
    got = spy_run.analyzers.getbyname("winrate").get_analysis()
    assert got["Months"] == 180
    assert got["Winning months"] == int((monthly > 0).sum())
    assert got["Monthly win rate [%]"] == pytest.approx(100 * (monthly > 0).mean())
    assert got["Benchmark"] == "IWM"
    assert got["Months beating benchmark"] == int((monthly.to_numpy() > iwm_monthly.to_numpy()).sum())
    y2022 = monthly[monthly.index.year == 2022]
    assert got["by_year"][2022]["Months"] == 12
    assert got["by_year"][2022]["Winning months"] == int((y2022 > 0).sum())
    np.testing.assert_allclose(got["returns"].to_numpy(), monthly.to_numpy(), rtol=1e-9)


class Toy(PortfolioStrategy):
    """IWM from the first session, SPY from 2015-03-02, 50% SPY + cash sleeve from 2018-06-01, cash sleeve from 2020-01-02."""

    plan = {"2015-03-02": {"SPY": 1.0}, "2018-06-01": {"SPY": 0.5, "SGOV": 0.5}, "2020-01-02": {"SGOV": 1.0}}

    def next_open(self):
        if self.warming_up():
            return
        today = str(self.now().date())
        if self.first_measured_session():
            self.rebalance({"IWM": 1.0}, reason="scheduled")
        elif today in self.plan:
            self.rebalance(self.plan[today], reason="scheduled" if today != "2018-06-01" else "breaker")


@pytest.fixture(scope="module")
def toy_run(feedset):
    import feeds

    cerebro = feeds.build_cerebro(feeds=feedset)
    cerebro.addstrategy(Toy)
    analyzers.add_standard_analyzers(cerebro, benchmark="SPY")
    return cerebro.run()[0]


def test_switches_and_rebalances_of_a_known_path(toy_run):
    got = toy_run.analyzers.getbyname("switches").get_analysis()
    assert [(str(s["date"].date()), s["from"], s["to"]) for s in got["switches"]] == [
        ("2010-01-04", "cash", "IWM"), ("2015-03-02", "IWM", "SPY"), ("2018-06-01", "SPY", "SPY 50% + cash"),
        ("2020-01-02", "SPY 50% + cash", "cash")]
    assert got["Switches"] == 4 and got["Switches per year"] == pytest.approx(4 / 15.0, rel=1e-3)
    assert got["per_year"][2015] == 1 and got["per_year"][2016] == 0
    assert got["Rebalances"] == 3 and got["Unscheduled rebalances"] == 1


def test_exposure_and_turnover_of_a_known_path(toy_run, feedset):
    got = toy_run.analyzers.getbyname("exposure").get_analysis()
    equity = toy_run.analyzers.getbyname("equity").get_analysis()
    sessions = equity["weights"].index
    invested = (sessions < pd.Timestamp("2020-01-02")).mean()
    assert got["Exposure [%]"] == pytest.approx(100 * invested)
    risk = equity["weights"][["IWM", "SPY"]].abs().sum(axis=1)
    assert got["Average exposure [%]"] == pytest.approx(100 * risk.mean())
    traded = sum(abs(o.executed.size * o.executed.price) for o in toy_run._orders if o.status == o.Completed)
    assert got["Traded value"] == pytest.approx(traded)
    years = (sessions[-1] - equity["equity"].index[0]).days / 365.25
    assert got["Turnover [x/yr]"] == pytest.approx(traded / 2 / equity["equity"].iloc[1:].mean() / years)


def test_analyzers_are_generic_plain_feeds_any_names(raw_csv):
    """Plain PandasData feeds with other names, no warm-up params: everything measured from the first bar."""
    frame = raw_csv("SPY").loc["2019-01-01":"2019-12-31"].rename(columns=str.lower)
    frame["close"] = frame["adj close"]

    class Hold(bt.Strategy):
        def next(self):
            if not self.position:
                self.buy(size=10)

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame[["open", "high", "low", "close", "volume"]]), name="LARGE")
    cerebro.addstrategy(Hold)
    analyzers.add_standard_analyzers(cerebro, benchmark="LARGE")
    cerebro.addanalyzer(bt.analyzers.DrawDown, _name="bt_drawdown")
    strategy = cerebro.run()[0]
    perf = strategy.analyzers.getbyname("performance").get_analysis()
    assert perf["Start value"] == 10_000 and perf["Start"] == pd.Timestamp("2019-01-02")
    assert perf["Max drawdown [%]"] == pytest.approx(-strategy.analyzers.getbyname("bt_drawdown").get_analysis().max.drawdown, rel=1e-9)
    assert strategy.analyzers.getbyname("winrate").get_analysis()["Months"] == 12
    switches = strategy.analyzers.getbyname("switches").get_analysis()
    assert switches["Rebalances"] == 1  # no rebalance_log: sessions with fills
    fill_day = switches["switches"][0]["date"]  # bought at the second bar's open; weight judged at its close
    weight = 10 * frame.loc[fill_day, "close"] / strategy.analyzers.getbyname("equity").get_analysis()["equity"].loc[fill_day]
    assert fill_day == pd.Timestamp("2019-01-03")
    assert switches["switches"][0]["to"] == f"LARGE {round(weight / 0.05) * 5:.0f}% + cash"
