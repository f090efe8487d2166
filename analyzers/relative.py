"""Relative to a benchmark: alpha, beta, information ratio and correlation of session returns."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import stats


def relative_figures(equity: pd.Series, benchmark: pd.Series, periods: int = stats.TRADING_DAYS) -> dict:
    """``equity``'s session returns against ``benchmark``'s (another curve, e.g. the benchmark feed's total-return
    close), on the sessions both have.

    Keys:
    - ``Beta``: cov(r, b) / var(b) (sample, ddof=1); ``Alpha [%]``: (mean(r) - beta x mean(b)) x periods, the
      annualised intercept of the regression of r on b (no risk-free rate).
    - ``Correlation``: Pearson correlation of r and b.
    - ``Tracking error [%]``: std(r - b, ddof=1) x sqrt(periods); ``Information ratio``: mean(r - b) / std(r - b)
      x sqrt(periods).
    All NaN with fewer than 3 common sessions or a flat benchmark.
    """
    both = pd.concat([stats.daily_returns(equity), stats.daily_returns(benchmark)], axis=1, join="inner").dropna()
    nan = float("nan")
    result = {"Alpha [%]": nan, "Beta": nan, "Correlation": nan, "Information ratio": nan, "Tracking error [%]": nan}
    if len(both) < 3:
        return result
    r, b = both.iloc[:, 0].to_numpy(float), both.iloc[:, 1].to_numpy(float)
    var_b = float(np.var(b, ddof=1))
    if var_b > 0:
        beta = float(np.cov(r, b, ddof=1)[0, 1]) / var_b
        result["Beta"] = beta
        result["Alpha [%]"] = 100.0 * (r.mean() - beta * b.mean()) * periods
        sd_r = float(np.std(r, ddof=1))
        result["Correlation"] = float(np.corrcoef(r, b)[0, 1]) if sd_r > 0 else nan
    active = r - b
    sd = float(np.std(active, ddof=1))
    result["Tracking error [%]"] = 100.0 * sd * math.sqrt(periods)
    result["Information ratio"] = float(active.mean()) / sd * math.sqrt(periods) if sd > 0 else nan
    return result
