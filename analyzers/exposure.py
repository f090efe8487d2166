"""Exposure: how much of the time, and how much of the portfolio, sat in non-cash positions; and turnover."""
from __future__ import annotations

from . import stats
from .base import MeasuredAnalyzer


class Exposure(MeasuredAnalyzer):
    """Time invested, average exposure and turnover over the measured period.

    Non-cash positions are those in feeds that are not the cash sleeve (``feeds.is_cash``). Turnover counts
    every fill in the measured period, cash-sleeve trades included.

    Params:
    - ``threshold`` (0.02): a session is "invested" when its gross non-cash weight is at least this.

    ``get_analysis()`` keys:
    - ``Exposure [%]``: share of measured sessions that were invested.
    - ``Average exposure [%]``: mean gross (|long| + |short|) non-cash weight.
    - ``Traded value``: sum of |size x price| of all fills.
    - ``Turnover [x/yr]``: traded value / 2 / mean portfolio value / measured years (one full round trip of the
      portfolio per year = 1); None on a run shorter than a year.
    """

    params = (("threshold", 0.02),)

    def start(self) -> None:
        super().start()
        self._traded = 0.0

    def notify_order(self, order) -> None:
        if order.status == order.Completed and self.measuring():
            self._traded += abs(order.executed.size * order.executed.price)

    def stop(self) -> None:
        weights = self.weights()
        equity = self.equity()
        if weights.empty:
            self.rets.update({"Exposure [%]": None, "Average exposure [%]": None, "Traded value": 0.0, "Turnover [x/yr]": None})
            return
        risk = weights[[c for c in weights.columns if c not in self.cash_names()]].abs().sum(axis=1)
        years = stats.annual_years(equity.index[0], equity.index[-1])
        mean_value = float(equity.iloc[1:].mean())
        self.rets.update(
            {
                "Exposure [%]": 100.0 * float((risk >= self.p.threshold).mean()),
                "Average exposure [%]": 100.0 * float(risk.mean()),
                "Traded value": self._traded,
                "Turnover [x/yr]": self._traded / 2.0 / mean_value / years if years and mean_value else None,
            }
        )
