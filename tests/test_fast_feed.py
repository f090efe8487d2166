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
