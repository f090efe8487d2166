"""Performance: return, risk and risk-adjusted figures of the measured equity curve."""
from __future__ import annotations

from . import stats
from .base import MeasuredAnalyzer


ANNUALISED = ("CAGR [%]", "Volatility [%]", "Sharpe", "Sortino", "Calmar")


class Performance(MeasuredAnalyzer):
    """Return and risk over the measured period (warm-up excluded), from the daily equity curve.

    Backtrader's own Returns/SharpeRatio/TimeReturn would also count warm-up bars, so the figures come from
    ``analyzers.stats`` on this analyzer's curve. Definitions are in ``analyzers.stats``.

    Params:
    - ``riskfree`` (0.0): annual risk-free rate for Sharpe and Sortino (per session: (1 + r) ** (1/252) - 1).
    - ``periods_per_year`` (252): sessions per year for annualising.

    ``get_analysis()`` keys:
    - ``Start``/``End``: first and last measured session. ``Years``: calendar years from the starting value's
      date to ``End``.
    - ``Start value``, ``Final value``: portfolio value before the first and after the last session.
    - ``Total return [%]``, ``CAGR [%]``, ``Volatility [%]`` (annualised), ``Sharpe``, ``Sortino``.
    - ``Max drawdown [%]`` (negative, e.g. -16.8), ``Max drawdown date`` (its trough), ``Calmar`` (CAGR / |max DD|).
    On a run shorter than a year (``stats.annualisable``) the annualised figures (CAGR, Volatility, Sharpe,
    Sortino, Calmar) are None: ``Total return [%]`` is the honest figure there.
    """

    params = (("riskfree", 0.0), ("periods_per_year", stats.TRADING_DAYS))

    def stop(self) -> None:
        equity = self.equity()
        if len(equity) < 2:
            self.rets.update({"Start": None, "End": None, "Years": 0.0, "Final value": self.strategy.broker.getvalue()})
            return
        returns = stats.daily_returns(equity)
        cagr = stats.cagr(equity)
        max_dd, max_dd_date = stats.max_drawdown(equity)
        periods = self.p.periods_per_year
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
                "Sharpe": stats.sharpe(returns, self.p.riskfree, periods),
                "Sortino": stats.sortino(returns, self.p.riskfree, periods),
                "Max drawdown [%]": max_dd,
                "Max drawdown date": max_dd_date,
                "Calmar": stats.calmar(cagr, max_dd),
            }
        )
        if not stats.annualisable(equity.index[0], equity.index[-1]):
            self.rets.update({key: None for key in ANNUALISED})
