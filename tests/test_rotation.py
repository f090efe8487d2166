"""The IWM/SPY rotation: pure signal maths, the decisions against an independent pandas computation, timing,
no look-ahead, orders that never fail for cash, the breaker, and parameter validation."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from feeds import prepare_feeds
from engines.engine import RunError, RunSettings, build_run, execute
from strategies.rotation import RelativeStrengthRotation
from signals import rotation as sig


def run(feeds, **params):
    entry, _, cerebro = build_run("rotation", feeds, RunSettings(start=str(feeds.start.date()), end=str(feeds.end.date())), params)
    return execute(entry, cerebro)


@pytest.fixture(scope="module")
def full(feedset):
    return run(feedset)


# -- pure functions ---------------------------------------------------------------------------------------------
def test_trailing_return_matches_hand_computation():
    prices = pd.Series([100.0, 110.0, 121.0, 60.5])
    out = sig.trailing_return(prices, 2)
    assert math.isnan(out.iloc[1]) and out.iloc[2] == pytest.approx(0.21) and out.iloc[3] == pytest.approx(-0.45)
    with pytest.raises(ValueError, match="lookback"):
        sig.trailing_return(prices, 0)


@pytest.mark.parametrize(
    "iwm, spy, cash_rule, expected",
    [(0.05, 0.02, True, "IWM"), (0.02, 0.05, True, "SPY"), (0.03, 0.03, True, "SPY"), (-0.01, -0.02, True, "cash"),
     (-0.01, -0.02, False, "IWM"), (-0.01, 0.0, True, "SPY"), (float("nan"), 0.1, True, "cash")],
)
def test_choose_asset(iwm, spy, cash_rule, expected):
    assert sig.choose_asset(iwm, spy, cash_rule) == expected


def test_relative_strength_guards_small_spy_returns():
    assert sig.relative_strength(0.06, 0.03) == pytest.approx(2.0)
    assert math.isnan(sig.relative_strength(0.06, 1e-9))


def test_overlay_maths():
    assert sig.risk_scale(True, False) == 0.5 and sig.risk_scale(True, True) == 0.25 and sig.risk_scale(False, False) == 1.0
    assert sig.target_weights("IWM", 0.5, 1.0) == {"IWM": 0.5, "SGOV": 0.5}
    assert sig.target_weights("SPY", 1.0, 0.4) == {"SPY": 0.4, "SGOV": pytest.approx(0.6)}
    assert sig.target_weights("cash") == {"SGOV": 1.0}
    assert sig.decide(0.1, 0.05, 31.0) == ("IWM", {"IWM": 0.5, "SGOV": 0.5})
    assert sig.decide(0.1, 0.05, 31.0, vix_level=None) == ("IWM", {"IWM": 1.0})
    assert sig.breaker_tripped(100.0, 89.9, 0.10) and not sig.breaker_tripped(100.0, 90.0, 0.10)
    assert not sig.breaker_tripped(100.0, 50.0, None)


# -- decisions vs an independent computation ---------------------------------------------------------------------
def independent_decisions(raw_csv, start="2010-01", end="2024-12", lookback=63, vix_level=30.0):
    """Month-by-month decisions from the CSVs with plain pandas (no project code)."""
    iwm, spy = raw_csv("IWM")["Adj Close"], raw_csv("SPY")["Adj Close"]
    vix = raw_csv("VIX")["Close"]
    dates = spy.index
    rows = []
    for month in pd.period_range(start, end, freq="M"):
        first = dates[(dates.to_period("M") == month)][0]
        prev = dates.get_loc(first) - 1
        r_iwm = iwm.loc[dates[prev]] / iwm.loc[dates[prev - lookback]] - 1
        r_spy = spy.loc[dates[prev]] / spy.loc[dates[prev - lookback]] - 1
        if r_iwm < 0 and r_spy < 0:
            asset = "cash"
        else:
            asset = "IWM" if r_iwm > r_spy else "SPY"
        half = vix.loc[dates[prev]] > vix_level
        rows.append({"date": first.date(), "asset": asset, "scale": 0.5 if half and asset != "cash" else 1.0,
                     "iwm_return": r_iwm, "spy_return": r_spy})
    return pd.DataFrame(rows)


def test_180_decisions_equal_independent_pandas(full, raw_csv):
    expected = independent_decisions(raw_csv)
    got = pd.DataFrame(full.decisions)
    assert len(got) == 180 == len(expected)
    assert list(got["date"]) == list(expected["date"])
    assert list(got["asset"]) == list(expected["asset"])
    scale = [1.0 if d["asset"] == "cash" else d["weights"][d["asset"]] for d in full.decisions]
    assert scale == list(expected["scale"])
    np.testing.assert_allclose(got["iwm_return"], expected["iwm_return"], rtol=1e-9)
    np.testing.assert_allclose(got["spy_return"], expected["spy_return"], rtol=1e-9)
    assert sum(1 for entry in full.rebalance_log if entry[1] == "scheduled") == 180


def test_no_look_ahead_truncated_data_gives_same_decisions(full):
    cut = pd.Timestamp("2016-06-15")
    short = run(prepare_feeds("2010-01-01", str(cut.date())))
    before = [d for d in full.decisions if pd.Timestamp(d["date"]) <= cut]
    assert len(before) == 78
    assert short.decisions == before
    assert [e for e in short.rebalance_log] == [e for e in full.rebalance_log if e[0] <= cut]


# -- orders and exposure -----------------------------------------------------------------------------------------
class _RecordFills(RelativeStrengthRotation):
    """Records the weights right after the open fills on each scheduled rebalance day (marked at the open)."""

    def __init__(self):
        super().__init__()
        self.after_fill = []

    def next(self):
        if self.rebalance_log and self.rebalance_log[-1][0] == self.now() and self.rebalance_log[-1][1] == "scheduled":
            self.after_fill.append((self.rebalance_log[-1][2], self.current_weights(at="open")))
        super().next()


def test_zero_rejections_and_targets_reached_2005_2024():
    import feeds

    cerebro = feeds.build_cerebro("2005-01-01", "2024-12-31")
    cerebro.addstrategy(_RecordFills)
    strategy = cerebro.run()[0]
    assert strategy.rejected_orders == []
    assert len(strategy.after_fill) == 240
    for target, actual in strategy.after_fill:
        for name in {*target, *actual}:
            assert abs(target.get(name, 0.0) - actual.get(name, 0.0)) <= 0.01, (target, actual)


def test_fill_close_fills_at_closes_with_the_same_decisions(full, feedset):
    closing = run(feedset, fill="close")
    assert [d["asset"] for d in closing.decisions] == [d["asset"] for d in full.decisions]
    first = feedset.bars["SPY"].loc["2010-01-04"]
    assert closing.rejected_orders == []
    # first decision is SPY: the fill price is that session's (adjusted) close, not its open
    assert closing.decisions[0]["asset"] == "SPY"
    assert closing.broker.getvalue() != full.broker.getvalue()
    assert first["close"] != first["open"]


def test_breaker_trips_exactly_where_the_equity_curve_says(full):
    equity = full.analyzers.getbyname("equity").get_analysis()["equity"]
    assets = {pd.Timestamp(d["date"]): d["asset"] for d in full.decisions}
    expected = []
    month_start = None
    tripped = False
    sessions = list(equity.index[1:])
    for i, day in enumerate(sessions):
        if day in assets:
            month_start, tripped, asset = equity.iloc[i], False, assets[day]  # value at the close before the rebalance
        if month_start is None or tripped or asset == "cash":
            continue
        if equity.loc[day] / month_start - 1 < -0.10 and i + 1 < len(sessions) and sessions[i + 1] not in assets:
            expected.append(sessions[i + 1])
            tripped = True
    got = [pd.Timestamp(e[0]) for e in full.rebalance_log if e[1] == "breaker"]
    assert got == expected
    assert [str(d.date()) for d in got] == ["2010-05-21", "2015-08-25"]  # the flash crashes of 2010 and 2015
    weights = full.analyzers.getbyname("equity").get_analysis()["weights"]
    for day in got:  # half of the risk position moved to the cash sleeve at that open
        before = weights.index[weights.index.get_loc(day) - 1]
        risk_before = weights.loc[before, ["IWM", "SPY"]].sum()
        risk_after = weights.loc[day, ["IWM", "SPY"]].sum()
        assert risk_after == pytest.approx(risk_before / 2, abs=0.03)


def test_breaker_off_never_trips(feedset):
    off = run(feedset, breaker_drawdown=None)
    assert not [e for e in off.rebalance_log if e[1] == "breaker"]


@pytest.mark.parametrize(
    "param, value, message",
    [("lookback", 0, "lookback must be >= 1"), ("lookback", 2.5, "lookback must be a whole number"),
     ("vix_level", -1, "vix_level must be >= 0"), ("vix_scale", 1.5, "vix_scale must be <= 1"),
     ("vix_timing", "weekly", "vix_timing must be one of"), ("breaker_drawdown", 0, "breaker_drawdown must be > 0"),
     ("breaker_scale", -0.1, "breaker_scale must be >= 0"), ("cash_rule", "yes", "cash_rule must be one of"),
     ("allocation", 0, "allocation must be > 0"), ("allocation", 1.2, "allocation must be <= 1"),
     ("fill", "noon", "fill must be one of"), ("lookbak", 63, "unknown parameter(s) lookbak")],
)
def test_bad_parameters_get_clear_errors(feedset, param, value, message):
    with pytest.raises(RunError, match="rotation") as info:
        run(feedset, **{param: value})
    assert message in str(info.value)


def test_indicator_once_equals_bar_by_bar(full, feedset):
    entry, _, cerebro = build_run("rotation", feedset, RunSettings())
    by_bar = cerebro.run(runonce=False)[0]
    vectorised = np.array(full.spread.lines.spread.array)
    stepped = np.array(by_bar.spread.lines.spread.array)
    np.testing.assert_array_equal(vectorised[-len(stepped):], stepped)
    assert by_bar.broker.getvalue() == full.broker.getvalue()
    assert by_bar.decisions == full.decisions
