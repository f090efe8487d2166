"""Round-trip trades: fills matched first in, first out into trades with an entry, an exit and a P&L.

Reads the fills list of ``analyzers.Fills`` (or its DataFrame, ``fills_frame``): date, symbol, side, size,
price, commission. Per symbol, a buy while flat or long opens a lot (a sell while flat or short opens a short
lot); an opposite fill closes the oldest open lots first, splitting a lot when it closes only part of it, and what
is left of the fill opens a lot the other way. Each closed piece is one round trip. Commissions are shared out
in proportion to shares, on entry and on exit. Lots still open at the end are round trips marked to ``last_prices``
(``Open`` true) and are left out of the trade statistics.
"""
from __future__ import annotations

import math
from collections import deque

import pandas as pd

TRIP_COLUMNS = ("Symbol", "Side", "Entry", "Exit", "Size", "Entry price", "Exit price", "P&L [$]", "Return [%]",
                "Duration [days]", "Open")


def round_trips(fills, last_prices: dict | None = None, last_date=None) -> pd.DataFrame:
    """One row per round trip (columns ``TRIP_COLUMNS``) in order of exit, then open lots in order of entry.

    - ``Side``: "long" or "short"; ``Size``: shares (positive).
    - ``Entry``/``Exit``: fill dates (``Exit`` is ``last_date`` for an open lot); prices are fill prices (an open
      lot's exit price is ``last_prices[symbol]``; without one the open lot is left out).
    - ``P&L [$]``: (exit - entry) x size (reversed for shorts) less the lot's share of both commissions.
    - ``Return [%]``: P&L / (entry price x size) in percent. ``Duration [days]``: calendar days entry to exit.
    """
    frame = pd.DataFrame(list(fills)) if not isinstance(fills, pd.DataFrame) else fills
    rows: list[dict] = []
    open_lots: dict[str, deque] = {}
    for fill in frame.itertuples(index=False):
        size = float(fill.size)
        if size <= 0:
            continue
        sign = 1.0 if fill.side == "buy" else -1.0
        fee_per_share = float(getattr(fill, "commission", 0.0) or 0.0) / size
        lots = open_lots.setdefault(fill.symbol, deque())
        left = size
        while left > 1e-12 and lots and lots[0]["sign"] != sign:
            lot = lots[0]
            closed = min(left, lot["size"])
            rows.append(_trip(fill.symbol, lot, closed, pd.Timestamp(fill.date), float(fill.price), fee_per_share))
            lot["size"] -= closed
            left -= closed
            if lot["size"] <= 1e-12:
                lots.popleft()
        if left > 1e-12:
            lots.append({"sign": sign, "size": left, "date": pd.Timestamp(fill.date), "price": float(fill.price),
                         "fee": fee_per_share})
    for symbol, lots in open_lots.items():
        price = (last_prices or {}).get(symbol)
        if price is None or last_date is None or not math.isfinite(float(price)):
            continue
        for lot in lots:
            rows.append({**_trip(symbol, lot, lot["size"], pd.Timestamp(last_date), float(price), 0.0), "Open": True})
    return pd.DataFrame(rows, columns=list(TRIP_COLUMNS))


def _trip(symbol: str, lot: dict, size: float, exit_date: pd.Timestamp, exit_price: float, exit_fee: float) -> dict:
    pnl = lot["sign"] * (exit_price - lot["price"]) * size - (lot["fee"] + exit_fee) * size
    cost = lot["price"] * size
    return {"Symbol": symbol, "Side": "long" if lot["sign"] > 0 else "short", "Entry": lot["date"], "Exit": exit_date,
            "Size": size, "Entry price": lot["price"], "Exit price": exit_price, "P&L [$]": pnl,
            "Return [%]": 100.0 * pnl / cost if cost else float("nan"),
            "Duration [days]": (exit_date - lot["date"]).days, "Open": False}


def trade_stats(trips: pd.DataFrame) -> dict:
    """Statistics of the closed round trips (``Open`` false) of ``round_trips``.

    Keys: ``Trades`` (closed round trips), ``Open trades``, ``Win rate [%]`` (P&L > 0), ``Profit factor``
    (gross profit / gross loss; NaN without losses), ``Expectancy [$]`` (mean P&L), ``Expectancy [%]`` (mean
    return), ``Average win [$]``, ``Average loss [$]`` (negative), ``Best trade [%]``, ``Worst trade [%]``,
    ``Average duration [days]``. Figures that need a trade are NaN without one.
    """
    closed = trips[~trips["Open"].astype(bool)] if len(trips) else trips
    pnl = closed["P&L [$]"].astype(float) if len(closed) else pd.Series(dtype=float)
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    nan = float("nan")
    gross_loss = float(-losses.sum())
    return {
        "Trades": int(len(closed)),
        "Open trades": int(len(trips) - len(closed)),
        "Win rate [%]": 100.0 * len(wins) / len(pnl) if len(pnl) else nan,
        "Profit factor": float(wins.sum()) / gross_loss if gross_loss > 0 else nan,
        "Expectancy [$]": float(pnl.mean()) if len(pnl) else nan,
        "Expectancy [%]": float(closed["Return [%]"].mean()) if len(pnl) else nan,
        "Average win [$]": float(wins.mean()) if len(wins) else nan,
        "Average loss [$]": float(losses.mean()) if len(losses) else nan,
        "Best trade [%]": float(closed["Return [%]"].max()) if len(pnl) else nan,
        "Worst trade [%]": float(closed["Return [%]"].min()) if len(pnl) else nan,
        "Average duration [days]": float(closed["Duration [days]"].mean()) if len(pnl) else nan,
    }
