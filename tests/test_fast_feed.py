"""The bulk-loading TotalReturnData gives exactly Backtrader's PandasData values, preloaded or streamed."""
from __future__ import annotations

import backtrader as bt
import numpy as np

from feeds import build_cerebro


def _lines(strategy):
    return {d._name: {n: np.array(getattr(d.lines, n).array) for n in ("datetime", "open", "high", "low", "close", "volume")}
            for d in strategy.datas}


def test_bulk_preload_equals_plain_pandasdata_and_streaming(feedset):
    plain = bt.Cerebro(stdstats=False)
    for name, bars in feedset.bars.items():
        plain.adddata(bt.feeds.PandasData(dataname=bars), name=name)
    plain.addstrategy(bt.Strategy)
    reference = _lines(plain.run()[0])
    for kwargs in ({}, {"preload": False, "runonce": False}):
        cerebro = build_cerebro(feeds=feedset)
        cerebro.addstrategy(bt.Strategy)
        strategy = cerebro.run(**kwargs)[0]
        got = _lines(strategy)
        for name in reference:
            for line, values in reference[name].items():
                np.testing.assert_array_equal(got[name][line][-len(values):], values, err_msg=f"{name}.{line} {kwargs}")
        raw = np.array(strategy.getdatabyname("SPY").lines.raw_close.array)
        np.testing.assert_array_equal(raw[-len(feedset.bars["SPY"]):], feedset.bars["SPY"]["raw_close"].to_numpy())


class _PandasDataWithRawClose(bt.feeds.PandasData):
    """Backtrader's own PandasData, with the extra ``raw_close`` line, as the reference for every line."""

    lines = ("raw_close",)
    params = (("raw_close", "raw_close"), ("openinterest", None))


class _Probe(bt.Strategy):
    """Records what a strategy sees on every bar (each line of each feed, lengths, broker value) and trades a little,
    so that fills (which read the feed's tick prices) are compared too."""

    LINES = ("datetime", "open", "high", "low", "close", "volume", "openinterest", "raw_close")

    def __init__(self) -> None:
        self.seen: list[tuple] = []
        self.fills: list[tuple] = []

    def _snapshot(self, hook: str) -> None:
        for data in self.datas:
            values = tuple(getattr(data.lines, name)[0] for name in self.LINES)
            self.seen.append((hook, data._name, len(data), *values))
        self.seen.append((hook, "broker", self.broker.getvalue(), self.broker.getcash()))

    def next_open(self) -> None:
        self._snapshot("open")
        bar = len(self.datas[0])
        if bar % 7 == 0:
            self.buy(data=self.datas[bar % 2], size=10)
        if bar % 11 == 0:
            self.close(data=self.datas[bar % 2])

    def next(self) -> None:
        self._snapshot("close")

    def notify_order(self, order) -> None:
        if order.status == order.Completed:
            self.fills.append((order.data._name, bt.num2date(order.executed.dt), order.executed.size, order.executed.price))


def _probe_run(feedset, fast: bool, **run_kwargs):
    cerebro = build_cerebro(feeds=feedset) if fast else bt.Cerebro(stdstats=False, cheat_on_open=True)
    if not fast:
        cerebro.broker.setcash(100_000.0)
        for name, bars in feedset.bars.items():
            cerebro.adddata(_PandasDataWithRawClose(dataname=bars), name=name)
    cerebro.addstrategy(_Probe)
    return cerebro.run(**run_kwargs)[0]


def test_every_line_on_every_bar_and_every_fill_equal_plain_pandasdata(feedset):
    """The fast feed (bulk preload, no per-bar tick copies) shows a strategy exactly what PandasData shows, in
    both hooks of every bar, and the broker fills the same orders at the same prices."""
    window = feedset.window("2019-06-01", "2020-12-31")
    reference = _probe_run(window, fast=False)
    assert len(reference.fills) > 50
    for kwargs in ({}, {"preload": False, "runonce": False}):
        got = _probe_run(window, fast=True, **kwargs)
        assert len(got.seen) == len(reference.seen), kwargs
        np.testing.assert_equal(got.seen, reference.seen, err_msg=str(kwargs))
        assert got.fills == reference.fills, kwargs


def test_fast_path_is_taken_and_tick_copies_stay_empty(feedset):
    """The skip is really in use on the bundled runs (else the test above would prove nothing about it)."""
    cerebro = build_cerebro(feeds=feedset.window("2024-01-01", "2024-12-31"))
    cerebro.addstrategy(_Probe)
    strategy = cerebro.run()[0]
    for data in strategy.datas:
        assert data._plain_bars, data._name
        assert data.tick_open is None and data.tick_close is None and data.tick_last is None, data._name
