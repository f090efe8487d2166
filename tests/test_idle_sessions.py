"""Skipping sessions where nothing can happen (the rotation's ``skip_idle_sessions``) changes nothing: the same
equity to the cent, the same rebalances with their reasons and the same decisions as checking every close."""
from __future__ import annotations

import pandas as pd
import pytest

from engines.engine import RunSettings, build_run, execute
from strategies.registry import Entry
from strategies.rotation import RelativeStrengthRotation


class _Counting(RelativeStrengthRotation):
    """The rotation, counting the closes it examines."""

    def __init__(self) -> None:
        super().__init__()
        self.closes_examined = 0

    def _watch_close(self) -> None:
        self.closes_examined += 1
        super()._watch_close()


class _EverySession(_Counting):
    skip_idle_sessions = False


def _run(cls, feeds, params):
    settings = RunSettings(start=str(feeds.start.date()), end=str(feeds.end.date()))
    entry, _, cerebro = build_run(Entry("rotation", cls), feeds, settings, params)
    return execute(entry, cerebro)


@pytest.mark.parametrize(
    "params, reasons",
    [
        ({}, {"breaker"}),
        ({"breaker_drawdown": 0.04, "breaker_scale": 0.0, "cash_rule": False}, {"breaker"}),
        ({"vix_timing": "daily", "vix_level": 20.0, "fill": "close"}, {"breaker", "vix"}),
        ({"vix_timing": "daily", "breaker_drawdown": None, "allocation": 0.6}, {"vix"}),
    ],
)
def test_skipping_idle_sessions_gives_the_same_run(feedset, params, reasons):
    skipping, every = _run(_Counting, feedset, params), _run(_EverySession, feedset, params)
    curves = [s.analyzers.getbyname("equity").get_analysis()["equity"] for s in (skipping, every)]
    pd.testing.assert_series_equal(curves[0], curves[1], check_exact=True)
    assert skipping.rebalance_log == every.rebalance_log
    assert skipping.decisions == every.decisions
    assert len(skipping.decisions) == 180 and not skipping.rejected_orders
    # the overlays really acted, so a skip at the wrong time would have shown
    assert reasons <= {reason for _, reason, _ in skipping.rebalance_log}
    # and the skip really happened: fewer closes examined than sessions
    assert skipping.closes_examined < every.closes_examined
