"""The safe price accessors of PortfolioStrategy: in next_open and in next, with an open or a close fill, they return
exactly the closes known at the decision, checked against the bundled CSVs read with plain pandas."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from feeds import build_cerebro, prepare_feeds
from strategies import PortfolioStrategy

N = 5


class Probe(PortfolioStrategy):
    """Records what the accessors return in each hook: (hook, session, last adjusted, last raw, closes, return)."""

    missing_history_ok = True  # it reads before the first bar on purpose (NaN expected)

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple] = []

    def _record(self, hook: str) -> None:
        spy = self.getdatabyname("SPY")
        self.seen.append((hook, pd.Timestamp(self.now()), self.last_close(spy), self.last_close("SPY", price="raw"),
                          self.closes("IWM", N), self.trailing_return(spy, N), self.trailing_return("IWM", N, price="raw")))

    def next_open(self) -> None:
        self._record("next_open")

    def next(self) -> None:
        self._record("next")


@pytest.fixture(scope="module")
def short_feeds():
    return prepare_feeds("2019-01-01", "2019-06-28", warmup_sessions=3)


def probe(feeds, close_fill: bool) -> list[tuple]:
    cerebro = build_cerebro(feeds=feeds)
    cerebro.broker.set_coc(close_fill)
    cerebro.addstrategy(Probe)
    return cerebro.run()[0].seen


@pytest.mark.parametrize("close_fill", [False, True])
def test_accessors_return_the_closes_known_at_the_decision(short_feeds, raw_csv, close_fill):
    sessions = short_feeds.sessions
    spy, iwm = raw_csv("SPY").loc[sessions[0]:], raw_csv("IWM").loc[sessions[0]:]  # the feeds' history
    seen = probe(short_feeds, close_fill)
    assert {hook for hook, *_ in seen} == {"next_open", "next"} and len(seen) == 2 * len(sessions) - 1
    for hook, day, last_adj, last_raw, iwm_closes, spy_ret, iwm_raw_ret in seen:
        # next_open fills at this session's open and a close fill at its close: the last known close is the
        # previous session's; in next with an open fill (at the next session) it is this session's close.
        i = sessions.get_loc(day) - (0 if hook == "next" and not close_fill else 1)
        if i < 0:  # a close fill on the very first bar: no close is known yet
            assert math.isnan(last_adj) and np.isnan(iwm_closes).all()
            continue
        known_through = sessions[i]
        spy_known, iwm_known = spy.loc[:known_through], iwm.loc[:known_through]
        assert last_adj == spy_known["Adj Close"].iloc[-1]
        assert last_raw == spy_known["Close"].iloc[-1]
        want = iwm_known["Adj Close"].tail(N).to_numpy()
        assert np.array_equal(iwm_closes, want) or (len(want) < N and np.isnan(iwm_closes[: N - len(want)]).all())
        if len(spy_known) > N:
            assert spy_ret == pytest.approx(spy_known["Adj Close"].iloc[-1] / spy_known["Adj Close"].iloc[-1 - N] - 1, rel=1e-12)
            assert iwm_raw_ret == pytest.approx(iwm_known["Close"].iloc[-1] / iwm_known["Close"].iloc[-1 - N] - 1, rel=1e-12)


def test_short_history_is_nan_padded(short_feeds):
    seen = probe(short_feeds, close_fill=False)
    hook, day, last_adj, _, iwm_closes, spy_ret, _ = seen[1]  # the first next_open: one close known (warm-up has 4)
    assert hook == "next_open" and day == short_feeds.sessions[1]
    assert np.isnan(iwm_closes[:-1]).all() and not math.isnan(iwm_closes[-1])
    assert math.isnan(spy_ret) and not math.isnan(last_adj)


def test_bad_arguments_are_clear_errors(short_feeds):
    class Bad(PortfolioStrategy):
        params = (("call", None),)

        def next(self) -> None:
            self.p.call(self)

    for call, message in [(lambda s: s.closes("SPY", 0), "n must be a whole number"),
                          (lambda s: s.last_close("QQQ"), "no feed named 'QQQ'"),
                          (lambda s: s.trailing_return("SPY", 3, price="clean"), "price must be 'adjusted' or 'raw'")]:
        cerebro = build_cerebro(feeds=short_feeds)
        cerebro.addstrategy(Bad, call=call)
        with pytest.raises((ValueError, KeyError), match=message):
            cerebro.run()
