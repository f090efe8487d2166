"""The distribution of returns: tail risk (VaR, CVaR), shape (skew, kurtosis) and the best and worst day and month."""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import stats


def skew(values: np.ndarray) -> float:
    """Sample skewness, adjusted Fisher-Pearson (G1: what pandas' ``skew`` and Excel's SKEW give); NaN below 3 values."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n < 3:
        return float("nan")
    d = x - x.mean()
    m2, m3 = np.mean(d ** 2), np.mean(d ** 3)
    if m2 <= 0:
        return float("nan")
    return float(m3 / m2 ** 1.5 * np.sqrt(n * (n - 1)) / (n - 2))


def excess_kurtosis(values: np.ndarray) -> float:
    """Sample excess kurtosis, bias-adjusted (G2: pandas' ``kurt``, Excel's KURT; 0 for a normal); NaN below 4 values."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n < 4:
        return float("nan")
    d = x - x.mean()
    m2, m4 = np.mean(d ** 2), np.mean(d ** 4)
    if m2 <= 0:
        return float("nan")
    g2 = m4 / m2 ** 2 - 3.0
    return float((n - 1) / ((n - 2) * (n - 3)) * ((n + 1) * g2 + 6.0))


def distribution_figures(equity: pd.Series, level: float = 0.95) -> dict:
    """Tail and shape of ``equity``'s session returns, and its extreme sessions and months.

    Keys:
    - ``VaR 95% [%]``: historical value at risk, the (1 - level) quantile of session returns (linear
      interpolation), in percent (negative = a loss); ``CVaR 95% [%]``: the mean of the session returns at or below
      it (expected shortfall). The label carries ``level``.
    - ``Skew``, ``Kurtosis`` (excess, 0 for a normal): of session returns (``skew``, ``excess_kurtosis``).
    - ``Best day [%]``, ``Worst day [%]`` and ``Best day``, ``Worst day`` (their dates).
    - ``Best month [%]``, ``Worst month [%]`` and ``Best month``, ``Worst month`` ("YYYY-MM"), from
      ``stats.monthly_returns``.
    """
    returns = stats.daily_returns(equity).dropna()
    months = stats.monthly_returns(equity).dropna() if len(equity) > 1 else pd.Series(dtype=float)
    pct = f"{100 * level:g}%"
    nan = float("nan")
    result: dict = {f"VaR {pct} [%]": nan, f"CVaR {pct} [%]": nan, "Skew": nan, "Kurtosis": nan,
                    "Best day [%]": nan, "Best day": None, "Worst day [%]": nan, "Worst day": None,
                    "Best month [%]": nan, "Best month": None, "Worst month [%]": nan, "Worst month": None}
    if len(returns):
        x = returns.to_numpy(float)
        var = float(np.quantile(x, 1.0 - level))
        result[f"VaR {pct} [%]"] = 100.0 * var
        result[f"CVaR {pct} [%]"] = 100.0 * float(x[x <= var].mean())
        result["Skew"], result["Kurtosis"] = skew(x), excess_kurtosis(x)
        result.update({"Best day [%]": 100.0 * returns.max(), "Best day": returns.idxmax(),
                       "Worst day [%]": 100.0 * returns.min(), "Worst day": returns.idxmin()})
    if len(months):
        result.update({"Best month [%]": 100.0 * months.max(), "Best month": months.idxmax().strftime("%Y-%m"),
                       "Worst month [%]": 100.0 * months.min(), "Worst month": months.idxmin().strftime("%Y-%m")})
    return result
