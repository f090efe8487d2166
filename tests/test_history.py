"""History each strategy needs (``history_needed``): the runner loads it as warm-up, or refuses naming the cause."""
from __future__ import annotations

import pandas as pd
import pytest

from feeds import prepare_feeds
from engines.engine import RunError, RunSettings, run_one, warmup_for
from strategies import get


def test_declared_history_from_params():
    assert get("rotation").cls.history_needed({"lookback": 400}) == 401
    assert get("rotation").cls.history_needed({}) == 64  # default lookback 63
    assert get("ratio-z-rotation").cls.history_needed({"lookback": 120}) == 120
    assert get("ratio-rotation").cls.history_needed({}) == 1
    assert get("buy-hold-spy").cls.history_needed({}) == 0
    assert warmup_for([("rotation", {"lookback": 400}), ("buy-hold-spy", {})]) == 401
    assert warmup_for([("rotation", {})]) == 300  # never below the default margin


def test_long_lookback_makes_every_monthly_decision(raw_csv):
    """lookback=400 in 2019: 12 scheduled rebalances, and the January decision uses 400-session returns."""
    feeds = prepare_feeds("2019-01-01", "2019-12-31", warmup_sessions=warmup_for([("rotation", {"lookback": 400})]))
    result = run_one("rotation", feeds, RunSettings(start="2019-01-01", end="2019-12-31"), {"lookback": 400})
    assert result.metrics["Rebalances"] == 12
    # independent: IWM's total return over the 400 sessions ending 2018-12-31
    adj = raw_csv("IWM")["Adj Close"].loc[:"2018-12-31"]
    expected = adj.iloc[-1] / adj.iloc[-401] - 1
    first = result.analyses["switches"]["switches"][0]
    assert first["date"] == pd.Timestamp("2019-01-02")
    from engines.engine import build_run, execute

    entry, params, cerebro = build_run("rotation", feeds, RunSettings(), {"lookback": 400})
    strategy = execute(entry, cerebro)
    assert len(strategy.decisions) == 12
    assert strategy.decisions[0]["iwm_return"] == pytest.approx(expected, rel=1e-9)


def test_too_little_warmup_is_an_error_not_skipped_decisions():
    """Feeds with the 300-session default cannot run lookback=400: a named error, never 7 rebalances out of 12."""
    feeds = prepare_feeds("2019-01-01", "2019-12-31")
    with pytest.raises(RunError, match=r"'rotation' needs 401 sessions .*lookback=400.*2017-10-"):
        run_one("rotation", feeds, RunSettings(), {"lookback": 400})


def test_data_cannot_supply_the_history():
    """IWM starts 2000-05-26: 1000 sessions before 2003 do not exist. The error names strategy, parameter, first date."""
    runs = [("rotation", {"lookback": 1000})]
    feeds = prepare_feeds("2003-01-01", "2003-12-31", warmup_sessions=warmup_for(runs))
    with pytest.raises(RunError) as err:
        run_one("rotation", feeds, RunSettings(), {"lookback": 1000})
    message = str(err.value)
    assert "'rotation'" in message and "lookback=1000" in message and "2000-05-26" in message
    # the earliest start that works: 1001 sessions after IWM's first bar
    sessions = pd.read_csv("feeds/data/IWM.csv", usecols=["Date"])["Date"]
    assert f"earliest start with enough history is {sessions.iloc[1001]}" in message
