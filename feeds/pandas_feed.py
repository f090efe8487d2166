"""Backtrader feed whose OHLC is dividend-adjusted (total return) and which carries the raw close as an extra line."""
from __future__ import annotations

import backtrader as bt
import pandas as pd

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


def trade_from(datas) -> pd.Timestamp | None:
    """The first session that counts for a strategy's feeds (the latest ``trade_from`` of any feed), or None."""
    dates = [getattr(d.p, "trade_from", None) for d in datas]
    dates = [pd.Timestamp(d) for d in dates if d is not None]
    return max(dates) if dates else None


def is_cash(data) -> bool:
    """True when ``data`` is the cash sleeve (feed param ``cash``)."""
    return bool(getattr(data.p, "cash", False))
