"""The Fills analyzer (RunResult.trades) and the strategies' decisions (RunResult.decisions), checked against
independent computations from the bundled CSVs."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from analyzers import FILL_COLUMNS
from engines.engine import RunSettings, run_one


@pytest.fixture(scope="module")
def short_feeds():
    from feeds import prepare_feeds

    return prepare_feeds("2019-01-01", "2021-12-31")


def _signed(trades: pd.DataFrame, column: str) -> pd.Series:
    return trades[column].where(trades["side"] == "buy", -trades[column])


def test_buy_and_hold_has_one_fill_at_the_first_open(short_feeds, raw_csv):
    settings = RunSettings(start="2019-01-01", end="2021-12-31", commission=0.0005)
    result = run_one("buy-hold-spy", short_feeds, settings)
    spy = raw_csv("SPY").loc["2019-01-02":]
    open_adj = spy["Open"].iloc[0] * spy["Adj Close"].iloc[0] / spy["Close"].iloc[0]
    size = math.trunc(100_000 * (1 - 0.001) / open_adj)
    trades = result.trades
    assert list(trades.columns) == list(FILL_COLUMNS)
    assert len(trades) == 1
    fill = trades.iloc[0]
    assert fill["date"] == pd.Timestamp("2019-01-02") and fill["symbol"] == "SPY" and fill["side"] == "buy"
    assert fill["size"] == size
    assert fill["price"] == pytest.approx(open_adj, rel=1e-12)
    assert fill["value"] == pytest.approx(size * open_adj, rel=1e-12)
    assert fill["commission"] == pytest.approx(size * open_adj * 0.0005, rel=1e-9)
    assert fill["reason"] == "scheduled"
    assert result.decisions.empty  # a fixed-weight benchmark decides nothing


@pytest.mark.parametrize("name", ["rotation", "ratio-rotation", "ratio-z-pair"])
def test_fills_account_for_the_final_value(feedset, raw_csv, name):
    """Cash from the fills plus the positions they leave, marked at the last close, is the run's final value."""
    result = run_one(name, feedset)
    trades = result.trades
    assert (trades["size"] > 0).all() and set(trades["side"]) <= {"buy", "sell"}
    cash = 100_000 - _signed(trades, "value").sum() - trades["commission"].sum()
    positions = _signed(trades, "size").groupby(trades["symbol"]).sum()
    last = {"SPY": raw_csv("SPY")["Adj Close"], "IWM": raw_csv("IWM")["Adj Close"]}
    marked = 0.0
    for symbol, size in positions.items():
        price = last[symbol].loc[:"2024-12-31"].iloc[-1] if symbol in last else feedset.bars[symbol]["close"].iloc[-1]
        marked += size * price
    assert cash + marked == pytest.approx(result.metrics["Final value [$]"], rel=1e-9)


def test_rotation_fill_reasons_and_decisions(feedset, raw_csv):
    result = run_one("rotation", feedset)
    trades, decisions = result.trades, result.decisions
    assert set(trades["reason"]) == {"scheduled", "breaker"}
    assert sorted(set(trades.loc[trades["reason"] == "breaker", "date"])) == [pd.Timestamp("2010-05-21"), pd.Timestamp("2015-08-25")]
    assert len(decisions) == 180
    assert list(decisions.columns) == ["date", "iwm_return", "spy_return", "vix", "asset", "weights"]
    # every scheduled fill is on a decision date, and every decision date that changed holdings has fills
    assert set(trades.loc[trades["reason"] == "scheduled", "date"].dt.date) <= set(decisions["date"])
    iwm = raw_csv("IWM")["Adj Close"]
    first = pd.Timestamp(decisions["date"].iloc[0])
    before = iwm.loc[:first].iloc[:-1]
    assert decisions["iwm_return"].iloc[0] == pytest.approx(before.iloc[-1] / before.iloc[-64] - 1, rel=1e-9)


def test_ratio_decisions_read_the_previous_raw_close(feedset, raw_csv):
    result = run_one("ratio-rotation", feedset)
    decisions = result.decisions.set_index("date")
    spy, iwm = raw_csv("SPY")["Close"], raw_csv("IWM")["Close"]
    ratio = (spy / iwm).shift(1).loc["2010-01-04":"2024-12-31"]
    assert len(decisions) == len(ratio)
    assert decisions["ratio"].to_numpy() == pytest.approx(ratio.to_numpy(), rel=1e-12)
    events = decisions[decisions["event"] != ""]
    trades = result.trades
    fills_by_reason = trades[trades["reason"] != "scheduled"].groupby("date")["reason"].first()
    assert {pd.Timestamp(d): e for d, e in events["event"].items()} == fills_by_reason.to_dict()
    assert set(events["event"]) == {"entry", "stop", "target"}
