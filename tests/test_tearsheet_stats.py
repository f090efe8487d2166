"""The tear sheet's figures (analyzers.calendar_returns, rolling, drawdowns, roundtrips, relative, distribution)
against independent computations with plain pandas/numpy on the bundled CSVs."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analyzers.calendar_returns import MONTHS, monthly_table, versus_benchmark, yearly_returns
from analyzers.distribution import distribution_figures
from analyzers.drawdowns import drawdown_periods, worst_drawdowns
from analyzers.relative import relative_figures
from analyzers.rolling import rolling_figures
from analyzers.roundtrips import round_trips, trade_stats


@pytest.fixture(scope="module")
def curves(raw_csv):
    """Buy and hold of IWM and SPY on total-return closes, 100,000 on 2009-12-31 then each close, 2010-2024."""
    out = {}
    for symbol in ("IWM", "SPY"):
        adj = raw_csv(symbol)["Adj Close"].loc["2009-12-31":"2024-12-31"]
        out[symbol] = 100_000 * adj / adj.iloc[0]
    return out


def test_monthly_and_yearly_returns(curves):
    equity = curves["IWM"]
    grid = monthly_table(equity)
    by_hand = equity.resample("ME").last()  # 2009-12 is the starting value
    monthly = (by_hand.pct_change().dropna() * 100)
    for end, value in monthly.items():
        assert grid.loc[end.year, MONTHS[end.month - 1]] == pytest.approx(value, abs=1e-9)
    yearly = equity.resample("YE").last().pct_change().dropna() * 100
    assert list(grid.index) == list(range(2010, 2025))
    assert np.allclose(grid["Year"].to_numpy(), yearly.to_numpy(), atol=1e-9)
    assert grid.loc[2020, "Mar"] == pytest.approx(-21.6, abs=0.5)  # the COVID month, a sanity anchor
    table = versus_benchmark(equity, curves["SPY"])
    spy_yearly = curves["SPY"].resample("YE").last().pct_change().dropna() * 100
    assert np.allclose(table["Benchmark [%]"].to_numpy(), spy_yearly.to_numpy(), atol=1e-9)
    assert np.allclose(table["Difference [pt]"], yearly.to_numpy() - spy_yearly.to_numpy(), atol=1e-9)
    # a partial first year runs from the starting value
    part = equity.loc["2015-06-30":"2016-12-31"]
    assert yearly_returns(part).loc[2015] == pytest.approx(100 * (equity.loc["2015-12-31"] / equity.loc["2015-06-30"] - 1))


def test_rolling_sharpe_and_volatility(curves):
    equity = curves["SPY"]
    figures = rolling_figures(equity)
    returns = equity.pct_change().dropna()
    for label, sessions in (("6 months", 126), ("12 months", 252)):
        roll = returns.rolling(sessions)
        sharpe = roll.mean() / roll.std() * np.sqrt(252)
        vol = roll.std() * np.sqrt(252) * 100
        assert figures[f"Sharpe {label}"].isna().sum() == sessions - 1
        assert np.allclose(figures[f"Sharpe {label}"].dropna(), sharpe.dropna(), rtol=1e-7)
        assert np.allclose(figures[f"Volatility [%] {label}"].dropna(), vol.dropna(), rtol=1e-7)


def test_worst_drawdowns_match_a_brute_force_search(curves):
    equity = curves["IWM"]
    table = drawdown_periods(equity)
    values = equity.to_numpy()
    # independently: the deepest trough overall, its peak (the running maximum before it) and the first value back
    trough = int(np.argmin(values / np.maximum.accumulate(values)))
    peak = int(np.argmax(values[:trough + 1]))
    back = next((i for i in range(trough, len(values)) if values[i] >= values[peak]), None)
    first = table.iloc[0]
    assert first["Trough"] == equity.index[trough] and first["Start"] == equity.index[peak]
    assert first["Recovery"] == (equity.index[back] if back is not None else pd.NaT)
    assert first["Depth [%]"] == pytest.approx(100 * (values[trough] / values[peak] - 1))
    assert first["Length [sessions]"] == back - peak
    # periods do not overlap, every depth is negative, sorted deepest first
    assert (table["Depth [%]"] < 0).all() and table["Depth [%]"].is_monotonic_increasing
    spans = table.sort_values("Start")
    assert (spans["Start"].iloc[1:].to_numpy() >= spans["Recovery"].iloc[:-1].to_numpy()).all()
    # the still-open drawdown at the end has no recovery
    tail = pd.Series([100.0, 110, 99, 105], index=pd.date_range("2024-01-01", periods=4))
    open_dd = drawdown_periods(tail).iloc[0]
    assert pd.isna(open_dd["Recovery"]) and open_dd["Depth [%]"] == pytest.approx(-10.0) and open_dd["Length [sessions]"] == 2
    assert list(worst_drawdowns(equity, 3).index) == [1, 2, 3]


def _per_share_trips(fills: pd.DataFrame) -> pd.DataFrame:
    """Independently: every share its own lot in a FIFO queue (whole-share sizes), P&L per share summed per trip key."""
    rows = []
    for symbol, group in fills.groupby("symbol", sort=False):
        queue: list[tuple] = []
        for f in group.itertuples():
            sign = 1 if f.side == "buy" else -1
            fee = f.commission / f.size
            for _ in range(int(f.size)):
                if queue and queue[0][0] != sign:
                    s, date, price, entry_fee = queue.pop(0)
                    rows.append((symbol, date, f.date, s * (f.price - price) - entry_fee - fee))
                else:
                    queue.append((sign, f.date, f.price, fee))
    return pd.DataFrame(rows, columns=["symbol", "entry", "exit", "pnl"])


def test_round_trips_fifo_and_trade_statistics():
    rng = np.random.default_rng(7)
    dates = pd.bdate_range("2020-01-01", periods=60)
    fills = []
    for symbol in ("SPY", "IWM"):
        position = 0
        for date in dates[rng.choice(60, 25, replace=False)].sort_values():
            size = int(rng.integers(1, 40))
            side = "buy" if rng.random() < (0.5 if position else 0.7) else "sell"
            position += size if side == "buy" else -size
            fills.append({"date": date, "symbol": symbol, "side": side, "size": float(size),
                          "price": float(rng.uniform(90, 110)), "commission": float(rng.uniform(0, 2))})
    frame = pd.DataFrame(fills).sort_values("date", kind="stable")
    trips = round_trips(frame)
    expected = _per_share_trips(frame)
    closed = trips[~trips["Open"]]
    assert closed["Size"].sum() == pytest.approx(len(expected))
    got = closed.groupby(["Symbol", "Entry", "Exit"])["P&L [$]"].sum().sort_index()
    want = expected.groupby(["symbol", "entry", "exit"])["pnl"].sum().sort_index()
    assert np.allclose(got.to_numpy(), want.to_numpy()) and list(got.index) == list(want.index)
    stats = trade_stats(trips)
    pnl = closed["P&L [$]"]
    assert stats["Trades"] == len(closed)
    assert stats["Win rate [%]"] == pytest.approx(100 * (pnl > 0).mean())
    assert stats["Profit factor"] == pytest.approx(pnl[pnl > 0].sum() / -pnl[pnl < 0].sum())
    assert stats["Expectancy [$]"] == pytest.approx(pnl.mean())
    assert stats["Average loss [$]"] == pytest.approx(pnl[pnl < 0].mean()) and stats["Average loss [$]"] < 0
    # a hand example: buy 10 @100, sell 4 @110, sell 6 @90; open short lot marked at the end
    hand = pd.DataFrame([
        {"date": pd.Timestamp("2021-01-04"), "symbol": "X", "side": "buy", "size": 10.0, "price": 100.0, "commission": 1.0},
        {"date": pd.Timestamp("2021-01-11"), "symbol": "X", "side": "sell", "size": 4.0, "price": 110.0, "commission": 0.4},
        {"date": pd.Timestamp("2021-02-01"), "symbol": "X", "side": "sell", "size": 8.0, "price": 90.0, "commission": 0.8},
    ])
    trips = round_trips(hand, last_prices={"X": 80.0}, last_date=pd.Timestamp("2021-03-01"))
    assert list(trips["P&L [$]"].round(6)) == [40 - 0.4 - 0.4, -60 - 0.6 - 0.6, 20.0 - 0.2]
    assert list(trips["Side"]) == ["long", "long", "short"] and list(trips["Open"]) == [False, False, True]
    assert list(trips["Duration [days]"]) == [7, 28, 28]
    assert trips["Return [%]"].iloc[0] == pytest.approx(100 * 39.2 / 400)


def test_relative_and_distribution_figures(curves):
    equity, bench = curves["IWM"], curves["SPY"]
    got = relative_figures(equity, bench)
    r, b = equity.pct_change().dropna(), bench.pct_change().dropna()
    slope, intercept = np.polyfit(b.to_numpy(), r.to_numpy(), 1)  # least squares, independently
    assert got["Beta"] == pytest.approx(slope, rel=1e-9)
    assert got["Alpha [%]"] == pytest.approx(100 * intercept * 252, rel=1e-7)
    assert got["Correlation"] == pytest.approx(r.corr(b), rel=1e-12)
    active = r - b
    assert got["Information ratio"] == pytest.approx(active.mean() / active.std() * np.sqrt(252), rel=1e-9)
    figures = distribution_figures(equity)
    assert figures["Skew"] == pytest.approx(r.skew(), rel=1e-9)
    assert figures["Kurtosis"] == pytest.approx(r.kurt(), rel=1e-9)
    ordered = np.sort(r.to_numpy())
    position = 0.05 * (len(ordered) - 1)
    low = int(np.floor(position))
    var = ordered[low] + (position - low) * (ordered[low + 1] - ordered[low])
    assert figures["VaR 95% [%]"] == pytest.approx(100 * var, rel=1e-12)
    assert figures["CVaR 95% [%]"] == pytest.approx(100 * ordered[ordered <= var].mean(), rel=1e-12)
    assert figures["Worst day"] == r.idxmin() and figures["Worst day [%]"] == pytest.approx(100 * r.min())
    monthly = equity.resample("ME").last().pct_change().dropna()
    assert figures["Best month [%]"] == pytest.approx(100 * monthly.max())
    assert figures["Best month"] == monthly.idxmax().strftime("%Y-%m")
