"""The distribution of returns: tail risk (VaR, CVaR), shape (skew, kurtosis) and the best and worst day and month."""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.stats as sps

from . import stats


def skew(values: np.ndarray) -> float:
    """Sample skewness, adjusted Fisher-Pearson (G1: what pandas' ``skew`` and Excel's SKEW give); NaN below 3 values
    or when every value is the same."""
    x = np.asarray(values, dtype=float)
    return float(sps.skew(x, bias=False)) if len(x) >= 3 and np.ptp(x) > 0 else float("nan")


def excess_kurtosis(values: np.ndarray) -> float:
    """Sample excess kurtosis, bias-adjusted (G2: pandas' ``kurt``, Excel's KURT; 0 for a normal); NaN below 4 values
    or when every value is the same."""
    x = np.asarray(values, dtype=float)
    return float(sps.kurtosis(x, fisher=True, bias=False)) if len(x) >= 4 and np.ptp(x) > 0 else float("nan")


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
