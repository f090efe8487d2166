"""Rolling Sharpe and volatility: how the risk-adjusted return moved over time (6 and 12 months by default)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import stats

# 6 and 12 months of sessions
WINDOWS = {"6 months": 126, "12 months": 252}


def _rolling_moments(returns: pd.Series, sessions: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample std (ddof=1) of each trailing window of ``sessions`` returns (NaN before the first full one)."""
    values = returns.to_numpy(dtype=float)
    n = len(values)
    mean, std = np.full(n, np.nan), np.full(n, np.nan)
    if sessions < 2 or n < sessions:
        return mean, std
    shift = values.mean() if n else 0.0  # centred sums keep the variance exact for small returns
    centred = values - shift
    total = np.concatenate([[0.0], np.cumsum(centred)])
    squares = np.concatenate([[0.0], np.cumsum(centred * centred)])
    window_sum = total[sessions:] - total[:-sessions]
    window_squares = squares[sessions:] - squares[:-sessions]
    variance = (window_squares - window_sum * window_sum / sessions) / (sessions - 1)
    mean[sessions - 1:] = window_sum / sessions + shift
    std[sessions - 1:] = np.sqrt(np.maximum(variance, 0.0))
    return mean, std


def rolling_sharpe(returns: pd.Series, sessions: int = 126, periods: int = stats.TRADING_DAYS) -> pd.Series:
    """Sharpe of each trailing window of ``sessions`` session returns: mean / std (ddof=1) x sqrt(periods), the
    same definition as ``stats.sharpe`` with no risk-free rate. NaN before the first full window and where the
    window's std is 0."""
    mean, std = _rolling_moments(returns, sessions)
    with np.errstate(invalid="ignore", divide="ignore"):
        sharpe = np.where(std > 0, mean / std * math.sqrt(periods), np.nan)
    return pd.Series(sharpe, index=returns.index, name=f"Sharpe ({sessions} sessions)")


def rolling_volatility(returns: pd.Series, sessions: int = 126, periods: int = stats.TRADING_DAYS) -> pd.Series:
    """Annualised volatility [%] of each trailing window of ``sessions`` session returns (``stats.volatility``'s
    definition); NaN before the first full window."""
    _, std = _rolling_moments(returns, sessions)
    return pd.Series(100.0 * std * math.sqrt(periods), index=returns.index, name=f"Volatility [%] ({sessions} sessions)")


def rolling_figures(equity: pd.Series, windows: dict[str, int] | None = None) -> pd.DataFrame:
    """Rolling Sharpe and volatility of ``equity``'s session returns for each window.

    Columns: ``Sharpe <label>`` and ``Volatility [%] <label>`` per ``windows`` item (label -> sessions; default
    ``WINDOWS``: 6 and 12 months), indexed by session.
    """
    returns = stats.daily_returns(equity)
    columns = {}
    for label, sessions in (windows or WINDOWS).items():
        columns[f"Sharpe {label}"] = rolling_sharpe(returns, sessions).to_numpy()
        columns[f"Volatility [%] {label}"] = rolling_volatility(returns, sessions).to_numpy()
    return pd.DataFrame(columns, index=returns.index)
