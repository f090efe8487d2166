"""Backtrader feed whose OHLC is dividend-adjusted (total return) and which carries the raw close as an extra line."""
from __future__ import annotations

from array import array

import backtrader as bt
import numpy as np
import pandas as pd

from .calendar import datetime_numbers

ADJUSTED_COLUMNS = ("open", "high", "low", "close", "volume", "raw_close")


def adjusted_bars(bars: pd.DataFrame) -> pd.DataFrame:
    """Total-return OHLC from raw bars.

    Reads Open, High, Low, Close, Adj Close, Volume. Writes open/high/low/close scaled by ``Adj Close / Close``
    (so ``close == Adj Close`` and bar-to-bar returns are total returns), ``volume`` unchanged and
    ``raw_close`` = the raw ``Close``.
    """
    factor = bars["Adj Close"] / bars["Close"]
    return pd.DataFrame(
        {
            "open": bars["Open"] * factor,
            "high": bars["High"] * factor,
            "low": bars["Low"] * factor,
            "close": bars["Adj Close"],
            "volume": bars["Volume"],
            "raw_close": bars["Close"],
        },
        index=bars.index,
    )


class TotalReturnData(bt.feeds.PandasData):
    """A daily feed of adjusted bars (see ``adjusted_bars``).

    Lines: the usual OHLCV (dividend-adjusted) plus ``raw_close`` (the raw, split-only-adjusted close).
    Params beyond PandasData's:
    - ``tradable`` (True): False marks a signal-only feed (e.g. VIX); the guarded broker refuses its orders.
    - ``trade_from`` (None): first session that counts; bars before it are warm-up history for indicators.
      Strategies do not trade and analyzers do not measure before it.
    - ``cash`` (False): True marks the cash sleeve, so analyzers can tell cash from risk without knowing symbols.
    """

    lines = ("raw_close",)
    params = (
        ("datetime", None),
        ("open", "open"),
        ("high", "high"),
        ("low", "low"),
        ("close", "close"),
        ("volume", "volume"),
        ("openinterest", None),
        ("raw_close", "raw_close"),
        ("tradable", True),
        ("trade_from", None),
        ("cash", False),
    )

    # Speed: Backtrader's PandasData reads every value with ``DataFrame.iloc`` (about 70% of an empty backtest's
    # time). ``start`` takes each column once as a float array; ``preload`` copies them into the line buffers in
    # bulk, and ``_load`` (used when preload is off) reads the arrays. Values are identical.
    def start(self) -> None:
        super().start()
        frame = self.p.dataname
        self._arrays = []
        for alias in self.getlinealiases():
            if alias == "datetime" or self._colmapping.get(alias) is None:
                continue
            column = frame.iloc[:, self._colmapping[alias]]
            self._arrays.append((getattr(self.lines, alias), np.ascontiguousarray(column.to_numpy(dtype="float64"))))
        stamps = frame.index if self._colmapping["datetime"] is None else pd.DatetimeIndex(frame.iloc[:, self._colmapping["datetime"]])
        self._dtnums = datetime_numbers(pd.DatetimeIndex(stamps))
        self._line_buffers = list(self.lines)
        self._clock_line = self.lines.datetime

    def _bulk_possible(self) -> bool:
        return not (self._filters or self._ffilters or self._tzinput or self.p.fromdate or self.p.todate or self._barstack)

    def preload(self) -> None:
        if not self._bulk_possible():
            return super().preload()
        size = len(self._dtnums)
        for line, values in [(self.lines.datetime, self._dtnums), *self._arrays]:
            line.array.frombytes(values.tobytes())
            line.idx, line.lencount = line.idx + size, line.lencount + size
        for line in self.lines:
            if len(line.array) < size:  # lines with no column (openinterest): NaN, as Backtrader leaves them
                line.array.extend(array("d", [float("nan")]) * (size - len(line.array)))
                line.idx, line.lencount = size - 1, size
        self._idx = size - 1
        self._last()
        self.home()
        self._plain_bars = all(line.mode == line.UnBounded for line in self._line_buffers)
        for alias in self.getlinealiases():
            setattr(self, "tick_" + alias, None)
        self.tick_last = None

    # Speed: after a bulk preload the feed holds plain bars, one per session, with no filter, resampling or replay.
    # Backtrader's ``advance`` then still nullifies and refills a ``tick_<line>`` attribute per line on every bar
    # (about 40% of the loop's feed time); those copies only matter when a bar is updated tick by tick. The
    # broker reads ``tick_open``/``high``/``low``/``close`` and falls back to the bar's own value when they are
    # None, which is the value the copy would hold, so keeping them None and moving the line indexes is exact.
    _plain_bars = False

    def advance(self, size: int = 1, datamaster=None, ticks: bool = True) -> None:
        if not self._plain_bars or datamaster is not None:
            return super().advance(size, datamaster=datamaster, ticks=ticks)
        for line in self._line_buffers:  # LineBuffer.advance of an unbounded buffer, without the idx property calls
            line._idx += size
            line.lencount += size

    def advance_peek(self) -> float:
        """The next bar's datetime, or +inf after the last bar (as Backtrader's, without the proxy calls)."""
        if not self._plain_bars:
            return super().advance_peek()
        clock = self._clock_line
        if clock.lencount < len(clock.array) - clock.extension:
            return clock.array[clock.idx + 1]
        return float("inf")

    def _load(self) -> bool:
        self._idx += 1
        if self._idx >= len(self._dtnums):
            return False
        for line, values in self._arrays:
            line[0] = values[self._idx]
        self.lines.datetime[0] = self._dtnums[self._idx]
        return True


def trade_from(datas) -> pd.Timestamp | None:
    """The first session that counts for a strategy's feeds (the latest ``trade_from`` of any feed), or None."""
    dates = [getattr(d.p, "trade_from", None) for d in datas]
    dates = [pd.Timestamp(d) for d in dates if d is not None]
    return max(dates) if dates else None


def is_cash(data) -> bool:
    """True when ``data`` is the cash sleeve (feed param ``cash``)."""
    return bool(getattr(data.p, "cash", False))
