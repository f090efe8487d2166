"""The NYSE session calendar, from exchange-calendars (XNYS), used to align every feed."""
from __future__ import annotations

import warnings
from functools import lru_cache

import exchange_calendars as xcals
import pandas as pd

from .errors import DataError

CALENDAR_NAME = "XNYS"
_CAL_START = "1995-01-01"
# a year past today, and never before 2027-12-31
_CAL_END = max(pd.Timestamp("2027-12-31"), pd.Timestamp.now().normalize() + pd.DateOffset(years=1)).strftime("%Y-%m-%d")


@lru_cache(maxsize=1)
def _calendar() -> xcals.ExchangeCalendar:
    with warnings.catch_warnings():  # exchange-calendars' own use of a pandas API deprecated in pandas 3.1
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        return xcals.get_calendar(CALENDAR_NAME, start=_CAL_START, end=_CAL_END)


def as_date(value, name: str = "date") -> pd.Timestamp:
    """``value`` as a naive midnight Timestamp; DataError naming ``name`` when it is not a date."""
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise DataError(f"{name} {value!r} is not a date (use YYYY-MM-DD)") from None
    if stamp is pd.NaT:
        raise DataError(f"{name} {value!r} is not a date (use YYYY-MM-DD)")
    if stamp.tz is not None:
        stamp = stamp.tz_localize(None)
    return stamp.normalize()


def nyse_sessions(start: str | pd.Timestamp, end: str | pd.Timestamp) -> pd.DatetimeIndex:
    """NYSE sessions from ``start`` to ``end`` inclusive, as naive midnight timestamps.

    Dates before the calendar's first session (1995-01-03) are ignored; an ``end`` after its last session is a
    DataError (the calendar does not know future holidays that far).
    """
    start, end = as_date(start, "start"), as_date(end, "end")
    if start > end:
        raise DataError(f"start {start.date()} is after end {end.date()}")
    cal = _calendar()
    first, last = cal.first_session.tz_localize(None), cal.last_session.tz_localize(None)
    if end > last:
        raise DataError(
            f"end {end.date()} is after the last session {last.date()} of the NYSE calendar "
            f"(exchange-calendars {CALENDAR_NAME}, {first.date()}..{last.date()})"
        )
    if end < first:
        return pd.DatetimeIndex([], dtype="datetime64[ns]")
    sessions = cal.sessions_in_range(max(start, first), end)
    return pd.DatetimeIndex(sessions.tz_localize(None) if sessions.tz else sessions).as_unit("ns")


def next_session(after: str | pd.Timestamp) -> pd.Timestamp:
    """The first NYSE session strictly after the date ``after``."""
    after = pd.Timestamp(after).normalize()
    return pd.Timestamp(_calendar().date_to_session(after + pd.Timedelta(days=1), direction="next"))


def first_session_of_next_month(after: str | pd.Timestamp) -> pd.Timestamp:
    """The first NYSE session of the month after the one containing ``after``."""
    month_start = (pd.Timestamp(after).normalize() + pd.offsets.MonthBegin(1))
    return pd.Timestamp(_calendar().date_to_session(month_start, direction="next"))
