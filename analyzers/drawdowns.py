"""Drawdown periods: each fall from a peak, its trough, and when (if ever) the peak was regained."""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import stats

DRAWDOWN_COLUMNS = ("Start", "Trough", "Recovery", "Depth [%]", "Length [sessions]", "Recovery [sessions]", "Days")


def drawdown_periods(equity: pd.Series) -> pd.DataFrame:
    """Every drawdown of ``equity``, deepest first.

    A drawdown starts at a peak (the last value at the running maximum before the curve falls below it) and ends
    at the first later value at or above that peak (its recovery); one still open at the end has no recovery.

    Columns (``DRAWDOWN_COLUMNS``):
    - ``Start``: the peak's date; ``Trough``: the date of the lowest value; ``Recovery``: the date the peak was
      regained (NaT while still under water).
    - ``Depth [%]``: trough / peak - 1 in percent (negative).
    - ``Length [sessions]``: sessions from the peak to the recovery (to the last session while open);
      ``Recovery [sessions]``: from the trough to the recovery (NaN while open).
    - ``Days``: calendar days from the peak to the recovery (to the last date while open).
    """
    values = equity.to_numpy(dtype=float)
    dates = equity.index
    depth = stats.drawdown(equity).to_numpy()
    rows = []
    i, n = 0, len(values)
    while i < n:
        if depth[i] < 0:
            peak = i - 1
            j = i
            while j < n and depth[j] < 0:
                j += 1
            trough = peak + 1 + int(np.argmin(depth[peak + 1:j]))
            recovered = j < n
            end = j if recovered else n - 1
            rows.append({
                "Start": dates[peak], "Trough": dates[trough], "Recovery": dates[j] if recovered else pd.NaT,
                "Depth [%]": 100.0 * (values[trough] / values[peak] - 1.0),
                "Length [sessions]": end - peak, "Recovery [sessions]": (j - trough) if recovered else np.nan,
                "Days": (dates[end] - dates[peak]).days,
            })
            i = j
        else:
            i += 1
    table = pd.DataFrame(rows, columns=list(DRAWDOWN_COLUMNS))
    return table.sort_values("Depth [%]", kind="stable").reset_index(drop=True)


def worst_drawdowns(equity: pd.Series, count: int = 5) -> pd.DataFrame:
    """The ``count`` deepest ``drawdown_periods``, numbered from 1."""
    table = drawdown_periods(equity).head(count)
    table.index = pd.RangeIndex(1, len(table) + 1, name="rank")
    return table


def underwater(equity: pd.Series) -> pd.Series:
    """Drawdown [%] of every value from the running peak (0 at a new high): the underwater curve."""
    return (100.0 * stats.drawdown(equity)).rename("Drawdown [%]")
