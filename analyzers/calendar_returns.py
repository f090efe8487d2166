"""Calendar returns: each month's and each year's return of an equity curve, as a quant's tear sheet shows them.

Pure functions of an equity curve (pandas Series of portfolio values by date, the first value the starting value,
as ``analyzers.stats`` reads it). A partial first or last period counts as a period, from the starting value or
to the last value.
"""
from __future__ import annotations

import pandas as pd

from . import stats

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def yearly_returns(equity: pd.Series) -> pd.Series:
    """Calendar-year returns [%] from year-end values (the first year from the starting value), indexed by year."""
    year_end = equity.iloc[1:].groupby(equity.index[1:].year).last()
    previous = year_end.shift(1)
    previous.iloc[0] = equity.iloc[0]
    return (100.0 * (year_end / previous - 1.0)).rename_axis("year")


def monthly_table(equity: pd.Series) -> pd.DataFrame:
    """Month returns [%] as a grid: one row per year, columns ``MONTHS`` (NaN for months outside the curve) and
    ``Year`` (that year's return, compounded from its months, i.e. ``yearly_returns``)."""
    months = stats.monthly_returns(equity)
    grid = pd.DataFrame(index=pd.Index(sorted(set(months.index.year)), name="year"), columns=list(MONTHS), dtype=float)
    for end, value in months.items():
        grid.loc[end.year, MONTHS[end.month - 1]] = 100.0 * value
    grid["Year"] = yearly_returns(equity)
    return grid


def versus_benchmark(equity: pd.Series, benchmark: pd.Series) -> pd.DataFrame:
    """Each calendar year's return [%] of ``equity`` and of ``benchmark`` (another curve on the same dates, e.g.
    buy and hold of the benchmark feed) and the difference.

    Columns: ``Return [%]``, ``Benchmark [%]``, ``Difference [pt]``; indexed by year.
    """
    mine, theirs = yearly_returns(equity), yearly_returns(benchmark.reindex(equity.index).ffill())
    return pd.DataFrame({"Return [%]": mine, "Benchmark [%]": theirs, "Difference [pt]": mine - theirs})
