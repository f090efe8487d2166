"""Performance statistics as pure functions of an equity curve (pandas Series of portfolio values by date).

The curve's first value is the starting value (the close before the first measured session); every later value
is the portfolio value at a session's close. Nothing here knows Backtrader.

Every function also takes a DataFrame whose columns are many runs on the same dates (the fast engine's
sweeps): it then returns one value per column (a numpy array) from the same definitions.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

TRADING_DAYS = 252
# A run whose equity curve spans fewer calendar days than this (starting value to last session) is shorter than a
# year: its annualised figures would be extrapolations (a one-day run would show 365 switches a year), so they are
# None ("n/a"). 360, not 365: a calendar-year run starts from the previous year's last session, which may be a
# few days before 1 January.
MIN_ANNUAL_DAYS = 360


def _figure(value):
    """A float for one run (scalar), a numpy float array for a DataFrame of runs (one value per column)."""
    return value.to_numpy(dtype=float) if isinstance(value, pd.Series) else float(value)


def _columns(frame) -> np.ndarray | None:
    """A DataFrame of runs as a (dates x runs) float array for numpy's column-wise reductions (pandas' own are
    several times slower on thousands of columns); None for a Series (one run)."""
    return frame.to_numpy(dtype=float) if isinstance(frame, pd.DataFrame) else None




def years_between(first: pd.Timestamp, last: pd.Timestamp) -> float:
    """Calendar years from ``first`` to ``last`` (days / 365.25)."""
    return (pd.Timestamp(last) - pd.Timestamp(first)).days / 365.25


def annualisable(first: pd.Timestamp, last: pd.Timestamp) -> bool:
    """True when ``first``..``last`` is at least a year (``MIN_ANNUAL_DAYS``), so figures per year can be given."""
    return (pd.Timestamp(last) - pd.Timestamp(first)).days >= MIN_ANNUAL_DAYS


def annual_years(first: pd.Timestamp, last: pd.Timestamp) -> float:
    """``years_between`` when ``first``..``last`` is ``annualisable``, else 0.0 (callers then give no rate per year)."""
    return years_between(first, last) if annualisable(first, last) else 0.0


def daily_returns(equity: pd.Series) -> pd.Series:
    """Session returns: value / previous value - 1 (one fewer than the values)."""
    values = _columns(equity)
    if values is not None:
        returns = values[1:] / values[:-1]
        returns -= 1.0  # in place: one array of this size instead of two
        return pd.DataFrame(returns, index=equity.index[1:], columns=equity.columns, copy=False)
    return equity.pct_change().iloc[1:]


def cagr(equity: pd.Series) -> float:
    """Compound annual growth rate [%] from the first to the last value over calendar years."""
    years = years_between(equity.index[0], equity.index[-1])
    if years <= 0:
        return _figure(equity.iloc[-1] * float("nan"))
    return _figure(100.0 * ((equity.iloc[-1] / equity.iloc[0]) ** (1.0 / years) - 1.0))


def daily_riskfree(annual_rate: float, periods: int = TRADING_DAYS) -> float:
    """An annual rate as the equivalent per-session rate: (1 + r) ** (1 / periods) - 1."""
    return (1.0 + annual_rate) ** (1.0 / periods) - 1.0


def sample_std(returns: pd.DataFrame) -> np.ndarray:
    """Sample std (ddof=1) of each run's session returns (a DataFrame, one column per run); NaN with fewer than two
    sessions. Computed once, it can be passed to ``volatility`` as ``sd``."""
    values = _columns(returns)
    return np.std(values, axis=0, ddof=1) if len(values) > 1 else np.full(values.shape[1], np.nan)


def volatility(returns: pd.Series, periods: int = TRADING_DAYS, *, sd: np.ndarray | None = None) -> float:
    """Annualised volatility [%]: sample std of session returns x sqrt(periods). For a DataFrame of runs, ``sd``
    may give ``sample_std(returns)`` when already computed."""
    values = _columns(returns)
    if values is not None:
        return 100.0 * (sample_std(returns) if sd is None else sd) * math.sqrt(periods)
    return _figure(100.0 * returns.std(ddof=1) * math.sqrt(periods)) if len(returns) > 1 else _figure(returns.sum() * float("nan"))


Riskfree = float | np.ndarray | pd.Series
"""A risk-free rate: an annual rate (float, e.g. 0.02), or the risk-free return of each session (an array or Series
as long as the returns it is subtracted from, e.g. ``close_returns`` of the cash sleeve's closes)."""


def close_returns(closes: pd.Series | np.ndarray) -> np.ndarray:
    """Session returns of a series of closes given on an equity curve's dates (starting value's date
    first): close / previous close - 1, one fewer than the closes. A missing close (NaN, e.g. no bar on the
    starting value's date) gives a 0 return for that session."""
    values = np.asarray(closes, dtype=float)
    out = values[1:] / values[:-1] - 1.0
    return np.where(np.isfinite(out), out, 0.0)


def _riskfree_per_session(riskfree, periods: int):
    """The per-session risk-free return: a scalar for an annual rate, a float array for per-session returns."""
    if np.ndim(riskfree) == 0:
        return daily_riskfree(float(riskfree), periods)
    return np.asarray(riskfree, dtype=float)


def excess_returns(returns: pd.Series, riskfree: Riskfree = 0.0, periods: int = TRADING_DAYS):
    """Session returns minus the risk-free return of the same session (see ``Riskfree``); for a DataFrame of runs, a
    (sessions x runs) numpy array, every run minus the same risk-free series."""
    rf = _riskfree_per_session(riskfree, periods)
    values = _columns(returns)
    if values is not None:
        if np.ndim(rf):
            return values - rf[:, None]
        return values - rf if rf else values
    return returns - rf


def sharpe(returns: pd.Series, riskfree: Riskfree = 0.0, periods: int = TRADING_DAYS) -> float:
    """mean(excess) / std(excess, ddof=1) x sqrt(periods), excess over the risk-free return of each session
    (``excess_returns``). NaN with fewer than two sessions or no variation."""
    excess = excess_returns(returns, riskfree, periods)
    if isinstance(excess, np.ndarray):
        sd = np.std(excess, axis=0, ddof=1) if len(excess) > 1 else np.zeros(excess.shape[1])
        return excess.mean(axis=0) / np.where(sd > 0, sd, np.nan) * math.sqrt(periods)
    sd = excess.std(ddof=1)
    return float(excess.mean() / sd * math.sqrt(periods)) if len(excess) > 1 and sd > 0 else float("nan")


def sortino(returns: pd.Series, riskfree: Riskfree = 0.0, periods: int = TRADING_DAYS) -> float:
    """mean(excess) x periods / (downside deviation x sqrt(periods)); downside deviation = sqrt(mean(min(excess, 0)^2)),
    excess as in ``sharpe``."""
    excess = excess_returns(returns, riskfree, periods)
    if isinstance(excess, np.ndarray):
        losses = np.minimum(excess, 0.0)
        losses *= losses  # squared in place
        downside = np.sqrt(np.mean(losses, axis=0)) if len(excess) else np.zeros(excess.shape[1])
        return excess.mean(axis=0) * periods / (np.where(downside > 0, downside, np.nan) * math.sqrt(periods))
    downside = math.sqrt(float(np.mean(np.minimum(excess.to_numpy(), 0.0) ** 2))) if len(excess) else 0.0
    return float(excess.mean() * periods / (downside * math.sqrt(periods))) if downside > 0 else float("nan")


def first_of_each(*tables: np.ndarray) -> np.ndarray:
    """Positions (ascending) of the first of each distinct row of ``tables`` side by side (each (rows x k)): runs
    whose rows are equal in every table (e.g. the same block moments: the same returns) are one. Rows are told apart
    by a 64-bit hash of their bytes (pandas), ~0.25 s for 1,000,000 rows of 32 numbers."""
    rows = np.ascontiguousarray(np.hstack([np.asarray(t, dtype=float) for t in tables]))
    if not len(rows):
        return np.zeros(0, dtype=np.int64)
    hashes = pd.util.hash_pandas_object(pd.DataFrame(rows, copy=False), index=False).to_numpy()
    return np.sort(np.unique(hashes, return_index=True)[1])


def block_edges(sessions: int, blocks: int) -> np.ndarray:
    """The first row of each of ``blocks`` consecutive blocks of ``sessions`` rows, as equal as whole rows allow
    (the first ``sessions % blocks`` blocks one row longer, as ``np.array_split``): ``np.add.reduceat`` offsets."""
    sizes = np.full(blocks, sessions // blocks)
    sizes[:sessions % blocks] += 1
    return np.concatenate([[0], np.cumsum(sizes)[:-1]])


def block_moments(excess: np.ndarray, blocks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per block of sessions (``block_edges``) and per run: the number of sessions, the sum and the sum of squares of
    the excess returns (``excess``: sessions x runs, or one run as a 1-D array). Shapes (blocks,), (blocks, runs),
    (blocks, runs). Enough for the mean, std and Sharpe of any union of blocks (CSCV) or of the whole run, without
    keeping the returns."""
    values = np.asarray(excess, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    if len(values) < blocks:
        raise ValueError(f"{len(values)} sessions cannot be cut into {blocks} blocks")
    edges = block_edges(len(values), blocks)
    counts = np.diff(np.append(edges, len(values)))
    return counts, np.add.reduceat(values, edges, axis=0), np.add.reduceat(values * values, edges, axis=0)


def drawdown(equity: pd.Series) -> pd.Series:
    """Drawdown [fraction, <= 0] of each value from the running peak."""
    values = _columns(equity)
    if values is not None:
        below = np.maximum.accumulate(values, axis=0)
        np.divide(values, below, out=below)
        below -= 1.0
        return pd.DataFrame(below, index=equity.index, columns=equity.columns, copy=False)
    return equity / equity.cummax() - 1.0


def max_drawdown(equity: pd.Series) -> tuple[float, pd.Timestamp | None]:
    """The deepest drawdown [%] (negative, 0 if none) and the date of its trough (for a DataFrame of runs: the
    depths as an array and None)."""
    dd = drawdown(equity)
    if isinstance(dd, pd.DataFrame):
        return np.minimum(100.0 * dd.to_numpy().min(axis=0), 0.0) if len(dd) else np.zeros(dd.shape[1]), None
    if len(dd) == 0 or dd.min() >= 0:
        return 0.0, None
    return 100.0 * float(dd.min()), dd.idxmin()


def calmar(cagr_pct: float, max_drawdown_pct: float) -> float:
    """CAGR [%] / |max drawdown [%]| (NaN without a drawdown)."""
    if np.ndim(max_drawdown_pct):
        return np.where(max_drawdown_pct < 0, cagr_pct / np.where(max_drawdown_pct < 0, np.abs(max_drawdown_pct), 1.0), np.nan)
    return cagr_pct / abs(max_drawdown_pct) if max_drawdown_pct < 0 else float("nan")


def monthly_returns(equity: pd.Series) -> pd.Series:
    """Calendar-month returns from month-end values; the first month from the starting value. Indexed by month end."""
    values = _columns(equity)
    if values is not None:
        months = equity.index[1:].to_period("M")
        last = np.flatnonzero(np.append(months[1:] != months[:-1], True))  # each month's last session
        month_end = values[1:][last]
        previous = np.vstack([values[:1], month_end[:-1]])
        index = months[last].to_timestamp(how="end").normalize()
        return pd.DataFrame(month_end / previous - 1.0, index=index, columns=equity.columns, copy=False)
    month_end = equity.iloc[1:].groupby(equity.index[1:].to_period("M")).last()
    previous = month_end.shift(1)
    previous.iloc[0] = equity.iloc[0]
    returns = month_end / previous - 1.0
    returns.index = returns.index.to_timestamp(how="end").normalize()
    return returns
