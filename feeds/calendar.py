"""The NYSE session calendar, from exchange-calendars (XNYS), used to align every feed."""
from __future__ import annotations

from functools import lru_cache

import exchange_calendars as xcals
import pandas as pd

CALENDAR_NAME = "XNYS"
_CAL_START = "1995-01-01"
_CAL_END = "2027-12-31"


@lru_cache(maxsize=1)
def _calendar() -> xcals.ExchangeCalendar:
    return xcals.get_calendar(CALENDAR_NAME, start=_CAL_START, end=_CAL_END)


def nyse_sessions(start: str | pd.Timestamp, end: str | pd.Timestamp) -> pd.DatetimeIndex:
    """NYSE sessions from ``start`` to ``end`` inclusive, as naive midnight timestamps."""
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    if start > end:
        raise ValueError(f"start {start.date()} is after end {end.date()}")
    sessions = _calendar().sessions_in_range(max(start, pd.Timestamp(_CAL_START)), end)
    return pd.DatetimeIndex(sessions.tz_localize(None) if sessions.tz else sessions).as_unit("ns")


def next_session(after: str | pd.Timestamp) -> pd.Timestamp:
    """The first NYSE session strictly after the date ``after``."""
    after = pd.Timestamp(after).normalize()
    return pd.Timestamp(_calendar().date_to_session(after + pd.Timedelta(days=1), direction="next"))


def first_session_of_next_month(after: str | pd.Timestamp) -> pd.Timestamp:
    """The first NYSE session of the month after the one containing ``after``."""
    month_start = (pd.Timestamp(after).normalize() + pd.offsets.MonthBegin(1))
    return pd.Timestamp(_calendar().date_to_session(month_start, direction="next"))
