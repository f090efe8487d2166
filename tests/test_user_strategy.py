"""A user's strategy is held to the same rules as the built-ins: history it reads but did not declare is an error,
and weights that cannot be bought, or are not numbers, are refused by name (never scaled down or dropped)."""
from __future__ import annotations

import math

import pytest

from feeds import prepare_feeds
from engines.engine import RunError, RunSettings, run_one
from strategies import Entry, PortfolioStrategy, TargetWeights
from strategies.base import MAX_NET, check_weights


@pytest.fixture(scope="module")
def half_year():
    return prepare_feeds("2019-01-01", "2019-06-28")  # the default 300 sessions of warm-up


class Sma(PortfolioStrategy):
    """SPY above its ``sessions``-close average, else SGOV; no history_needed declared."""

    params = (("sessions", 400),)

    def next_open(self) -> None:
        if self.is_rebalance_day():
            closes = self.closes("SPY", self.p.sessions)
            self.rebalance({"SPY": 1.0} if closes[-1] > closes.mean() else {"SGOV": 1.0})


class SmaNanOk(Sma):
    missing_history_ok = True


def test_undeclared_history_is_an_error_naming_the_strategy(half_year):
    with pytest.raises(RunError) as err:
        run_one(Entry("sma", Sma), half_year, RunSettings(), {"sessions": 400})
    text = str(err.value)
    assert "'sma'" in text and "2019-01-02" in text and "400 closes of SPY" in text and "only 300" in text
    assert "history_needed" in text
    # within the warm-up it runs; with NaN declared as expected it runs too (January in SGOV: NaN > mean is False)
    assert run_one(Entry("sma", Sma), half_year, RunSettings(), {"sessions": 300}).metrics["Rebalances"] == 6
    held = run_one(Entry("sma-nan", SmaNanOk), half_year, RunSettings(), {"sessions": 400}).weights
    assert held.iloc[0]["SGOV"] > 0.99


class Fixed(PortfolioStrategy):
    params = (("weights", {}),)

    def next_open(self) -> None:
        if self.is_rebalance_day():
            self.rebalance(self.p.weights)


@pytest.mark.parametrize("weights, expected", [
    ({"SPY": 1.5, "IWM": 1.5}, r"cannot be bought.*SPY 1\.5, IWM 1\.5.*3\.000.*limit 1"),
    ({"SPY": 0.7, "IWM": 0.4}, r"cannot be bought.*1\.100.*limit 1"),
    ({"SPY": float("nan")}, r"weight of SPY must be a finite number, not nan"),
    ({"SPY": 0.5, "IWM": "0.5"}, r"weight of IWM must be a finite number, not '0\.5'"),
    ({"IWM": None}, r"weight of IWM must be a finite number, not None"),
    ({"SPY": 2.0, "IWM": -2.0}, r"gross weight 4\.000.*limit 3"),
])
def test_weights_that_cannot_be_bought_are_refused_by_name(half_year, weights, expected):
    with pytest.raises(RunError, match=expected):
        run_one(Entry("fixed", Fixed), half_year, RunSettings(), {"weights": weights})


def test_a_long_short_pair_within_the_net_limit_is_bought_as_asked(half_year, raw_csv):
    """IWM +1, SPY -0.5, SGOV +0.5: net 1.0, gross 2.0. The first fill buys trunc(1 x value x 0.999 / open) IWM shares."""
    weights = {"IWM": 1.0, "SPY": -0.5, "SGOV": 0.5}
    assert check_weights(weights, ["IWM", "SPY", "SGOV"]) == weights and sum(weights.values()) == MAX_NET
    result = run_one(Entry("fixed", Fixed), half_year, RunSettings(), {"weights": weights})
    first = result.trades[result.trades["date"] == "2019-01-02"].set_index("symbol")
    iwm = raw_csv("IWM").loc["2019-01-02"]
    open_adj = iwm["Open"] * iwm["Adj Close"] / iwm["Close"]
    assert first.at["IWM", "size"] == math.trunc(100_000 * 0.999 / open_adj)
    assert first.at["SPY", "side"] == "sell"


class Leveraged(TargetWeights):
    def target_weights(self, known):
        return {"SPY": 1.5, "IWM": 1.5}


def test_target_weights_that_cannot_be_bought_are_refused_alike_on_both_engines(half_year):
    from engines.fast import simulate

    expected = (r"^strategy 'lev': ValueError at .*test_user_strategy\.py:\d+: Leveraged\.target_weights on 2019-01-02: "
                r"weights \{SPY: 1\.5, IWM: 1\.5\} cannot be bought")
    entry = Entry("lev", Leveraged)
    with pytest.raises(RunError, match=expected):
        run_one(entry, half_year, RunSettings())
    with pytest.raises(RunError, match=expected), pytest.MonkeyPatch.context() as patch:
        patch.setattr("engines.fast.resolve", lambda name: entry)
        simulate("lev", [{"cash_buffer": 0.001}], half_year, RunSettings())


class Stateful(TargetWeights):
    def target_weights(self, known):
        self.previous = known.last_close("SPY")  # state kept between decisions: differs on the fast engine
        return {"SPY": 1.0}


def test_a_rule_that_keeps_state_is_refused_alike_on_both_engines(half_year):
    from engines.fast import simulate

    expected = r"Stateful\.target_weights on 2019-01-02 set self\.previous: the rule must keep no state"
    entry = Entry("stateful", Stateful)
    with pytest.raises(RunError, match=expected):
        run_one(entry, half_year, RunSettings())
    with pytest.raises(RunError, match=expected), pytest.MonkeyPatch.context() as patch:
        patch.setattr("engines.fast.resolve", lambda name: entry)
        simulate("stateful", [{"cash_buffer": 0.001}], half_year, RunSettings())
