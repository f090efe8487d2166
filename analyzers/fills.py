"""Fills: every completed order, with the reason the strategy gave for it."""
from __future__ import annotations

import pandas as pd

from feeds.calendar import bar_date

from .lean import LeanAnalyzer

FILL_COLUMNS = ("date", "symbol", "side", "size", "price", "value", "commission", "reason")
DEFAULT_REASON = "signal"


class Fills(LeanAnalyzer):
    """One record per completed order (each fill), in the order the broker reported them.

    The reason is read from the strategy's ``rebalance_log`` (``(datetime, reason, weights)`` entries, the
    ``PortfolioStrategy`` protocol): the last entry of the session the order was created on, else of the session
    it filled on, else "signal" (a strategy that keeps no log, or trades outside ``rebalance()``).

    ``get_analysis()`` keys:
    - ``fills``: list of dicts with ``date`` (fill session, ``pd.Timestamp``), ``symbol`` (feed name), ``side``
      ("buy" | "sell"), ``size`` (shares, positive), ``price`` (fill price, in the feed's price units),
      ``value`` (size x price, positive), ``commission`` and ``reason``.
    - ``Fills``: the number of fills.
    """

    def start(self) -> None:
        self._fills: list[dict] = []

    def notify_order(self, order) -> None:
        if order.status != order.Completed:
            return
        size = abs(float(order.executed.size))
        price = float(order.executed.price)
        filled = pd.Timestamp(bar_date(order.executed.dt))
        created = pd.Timestamp(bar_date(order.created.dt))
        self._fills.append(
            {
                "date": filled,
                "symbol": order.data._name,
                "side": "buy" if order.isbuy() else "sell",
                "size": size,
                "price": price,
                "value": size * price,
                "commission": float(order.executed.comm),
                "reason": self._reason(created, filled),
            }
        )

    def _reason(self, created: pd.Timestamp, filled: pd.Timestamp) -> str:
        reasons: dict[pd.Timestamp, str] = {}
        for entry in reversed(getattr(self.strategy, "rebalance_log", ())):
            day = pd.Timestamp(entry[0].date())
            if day < created and day < filled:
                break
            reasons.setdefault(day, str(entry[1]))
        return reasons.get(created) or reasons.get(filled) or DEFAULT_REASON

    def stop(self) -> None:
        self.rets["fills"] = list(self._fills)
        self.rets["Fills"] = len(self._fills)


def fills_frame(fills: list[dict]) -> pd.DataFrame:
    """The ``fills`` list as a DataFrame with the columns ``FILL_COLUMNS`` (empty but typed when there are none)."""
    return pd.DataFrame(list(fills), columns=list(FILL_COLUMNS))
