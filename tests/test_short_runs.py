"""Runs shorter than a year: annualised figures are None (printed n/a), never an extrapolation such as 365 switches a year."""
from __future__ import annotations

import pandas as pd
import pytest

from analyzers import stats
from feeds import prepare_feeds
from engines.engine import RunSettings, run_one
from reports.tables import comparison_table, format_table

ANNUALISED = ("CAGR [%]", "Volatility [%]", "Sharpe", "Sortino", "Calmar", "Switches per year", "Turnover [x/yr]")


@pytest.fixture(scope="module")
def one_day():
    return prepare_feeds("2019-06-03", "2019-06-03")


def test_one_day_run_has_no_annualised_figure(one_day, raw_csv):
    result = run_one("buy-hold-spy", one_day, RunSettings(start="2019-06-03", end="2019-06-03"))
    assert all(result.metrics[key] is None for key in ANNUALISED)
    perf = result.analyses["performance"]
    # the honest figure is still there: total return from the starting cash to the close, checked with pandas
    spy = raw_csv("SPY")
    factor = spy["Adj Close"] / spy["Close"]
    shares = int(100_000 * (1 - 0.001) // (spy.at[pd.Timestamp("2019-06-03"), "Open"] * factor[pd.Timestamp("2019-06-03")]))
    open_adj = spy.at[pd.Timestamp("2019-06-03"), "Open"] * factor[pd.Timestamp("2019-06-03")]
    expected = 100_000 + shares * (spy.at[pd.Timestamp("2019-06-03"), "Adj Close"] - open_adj)
    assert perf["Final value"] == pytest.approx(expected, rel=1e-9)
    assert perf["Total return [%]"] == pytest.approx(100 * (expected / 100_000 - 1), rel=1e-9)
    assert result.analyses["switches"]["Switches"] == 1
    text = format_table(comparison_table([result]))
    assert text.count("n/a") == len(ANNUALISED) and "365" not in text


def test_a_calendar_year_is_annualised():
    feeds = prepare_feeds("2018-01-01", "2018-12-31")  # 2018 had 251 sessions
    result = run_one("buy-hold-spy", feeds, RunSettings(start="2018-01-01", end="2018-12-31"))
    assert all(result.metrics[key] is not None for key in ANNUALISED)
    assert stats.annualisable(pd.Timestamp("2017-12-29"), pd.Timestamp("2018-12-31"))
    assert not stats.annualisable(pd.Timestamp("2019-01-02"), pd.Timestamp("2019-12-20"))
