"""Performance: return, risk and risk-adjusted figures of the measured equity curve."""
from __future__ import annotations

import numpy as np
import pandas as pd

from feeds import is_cash
from feeds.calendar import bar_dates

from . import stats
from .base import MeasuredAnalyzer


ANNUALISED = ("CAGR [%]", "Volatility [%]", "Sharpe", "Sortino", "Calmar")
CASH_RATE = "cash"  # ``riskfree`` naming the cash sleeve's own session returns


def riskfree_label(riskfree) -> str:
    """How a ``riskfree`` setting is shown beside the figures."""
    if riskfree == CASH_RATE:
        return "cash sleeve's own daily return"
    return "zero" if not riskfree else f"{100.0 * float(riskfree):g}% a year"


class Performance(MeasuredAnalyzer):
    """Return and risk over the measured period (warm-up excluded), from the daily equity curve.

    Backtrader's own Returns/SharpeRatio/TimeReturn would also count warm-up bars, so the figures come from
    ``analyzers.stats`` on this analyzer's curve. Definitions are in ``analyzers.stats``.

    Params:
    - ``riskfree`` ("cash"): the risk-free return Sharpe and Sortino are in excess of. "cash": each session's
      return of the feed marked as the cash sleeve (``feeds.is_cash``; 0 for a session without its close, and 0
      throughout, said in ``Risk-free``, when no feed is cash); a float: an annual rate (per session:
      (1 + r) ** (1/252) - 1), 0.0 for a zero rate.
    - ``periods_per_year`` (252): sessions per year for annualising.

    ``get_analysis()`` keys:
    - ``Start``/``End``: first and last measured session. ``Years``: calendar years from the starting value's
      date to ``End``.
    - ``Start value``, ``Final value``: portfolio value before the first and after the last session.
    - ``Total return [%]``, ``CAGR [%]``, ``Volatility [%]`` (annualised), ``Sharpe``, ``Sortino``.
    - ``Risk-free``: what Sharpe and Sortino are in excess of (``riskfree_label``).
    - ``Max drawdown [%]`` (negative, e.g. -16.8), ``Max drawdown date`` (its trough), ``Calmar`` (CAGR / |max DD|).
    On a run shorter than a year (``stats.annualisable``) the annualised figures (CAGR, Volatility, Sharpe,
    Sortino, Calmar) are None: ``Total return [%]`` is the honest figure there.
    """

    params = (("riskfree", CASH_RATE), ("periods_per_year", stats.TRADING_DAYS))

    def riskfree(self, dates: pd.DatetimeIndex) -> tuple[stats.Riskfree, str]:
        """The risk-free returns of the sessions after the first of ``dates`` (the equity curve's) and their label."""
        if self.p.riskfree != CASH_RATE:
            return float(self.p.riskfree or 0.0), riskfree_label(self.p.riskfree)
        cash = [d for d in self.strategy.datas if is_cash(d)]
        if not cash:
            return 0.0, "zero (no cash feed)"
        data = cash[0]
        closes = pd.Series(np.asarray(data.lines.close.array, dtype=float),
                           index=bar_dates(data.lines.datetime.array, getattr(data.lines.datetime, "_tz", None)))
        closes = closes[~closes.index.duplicated(keep="last")]
        return stats.close_returns(closes.reindex(dates)), f"{riskfree_label(CASH_RATE)} ({data._name})"

    def stop(self) -> None:
        equity = self.equity()
        if len(equity) < 2:
            self.rets.update({"Start": None, "End": None, "Years": 0.0, "Final value": self.strategy.broker.getvalue()})
            return
        returns = stats.daily_returns(equity)
        cagr = stats.cagr(equity)
        max_dd, max_dd_date = stats.max_drawdown(equity)
        periods = self.p.periods_per_year
        riskfree, label = self.riskfree(equity.index)
        self.rets.update(
            {
                "Start": self.dates[0],
                "End": self.dates[-1],
                "Years": stats.years_between(equity.index[0], equity.index[-1]),
                "Start value": float(equity.iloc[0]),
                "Final value": float(equity.iloc[-1]),
                "Total return [%]": 100.0 * (equity.iloc[-1] / equity.iloc[0] - 1.0),
                "CAGR [%]": cagr,
                "Volatility [%]": stats.volatility(returns, periods),
                "Sharpe": stats.sharpe(returns, riskfree, periods),
                "Sortino": stats.sortino(returns, riskfree, periods),
                "Risk-free": label,
                "Max drawdown [%]": max_dd,
                "Max drawdown date": max_dd_date,
                "Calmar": stats.calmar(cagr, max_dd),
            }
        )
        if not stats.annualisable(equity.index[0], equity.index[-1]):
            self.rets.update({key: None for key in ANNUALISED})
