"""The NYSE session calendar, from exchange-calendars (XNYS), used to align every feed."""
from __future__ import annotations

import datetime
import warnings
from functools import lru_cache

import backtrader as bt
import exchange_calendars as xcals
import numpy as np
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


# Backtrader stores a bar's time as float days (``bt.date2num``); ``bt.num2date`` turns one back into a datetime
# in about 3 us. Strategies and analyzers ask for the date of every bar, so these give the same dates faster.
_EPOCH_ORDINAL = 719163  # datetime.date(1970, 1, 1).toordinal()
_LAST_SAFE_FRACTION = 0.9999  # num2date rounds up only within ~10 us of midnight (fraction > 0.99998)


def bar_date(num: float, tz=None) -> datetime.date:
    """The calendar date of a Backtrader datetime number: exactly ``bt.num2date(num, tz).date()``."""
    day = int(num)
    if tz is None and num - day < _LAST_SAFE_FRACTION:
        return datetime.date.fromordinal(day)
    return bt.num2date(num, tz=tz).date()


def same_month_before(num: float, tz=None) -> float:
    """A datetime number such that every bar from ``num`` up to (not including) it has a ``bar_date`` in the same
    calendar month as ``num``'s: the start of the next month, less the rounding margin. -inf with a time zone."""
    if tz is not None:
        return float("-inf")
    day = bar_date(num)
    first_of_next = datetime.date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return first_of_next.toordinal() - (1.0 - _LAST_SAFE_FRACTION)


def bar_dates(nums, tz=None) -> pd.DatetimeIndex:
    """The dates of many Backtrader datetime numbers, as ``pd.DatetimeIndex([pd.Timestamp(bar_date(n, tz)) ...])``."""
    nums = np.asarray(nums, dtype="float64")
    days = np.floor(nums)
    if tz is None and bool(np.all(nums - days < _LAST_SAFE_FRACTION)):
        return pd.DatetimeIndex((days.astype("int64") - _EPOCH_ORDINAL).astype("datetime64[D]").astype("datetime64[s]"))
    return pd.DatetimeIndex([pd.Timestamp(bar_date(n, tz)) for n in nums])


def datetime_numbers(stamps: pd.DatetimeIndex) -> np.ndarray:
    """``bt.date2num`` of every timestamp, as PandasData computes it bar by bar. Naive midnight timestamps (daily
    bars) are whole day ordinals, computed at once; any other timestamp goes through ``bt.date2num``."""
    if stamps.tz is None and len(stamps) and bool((stamps == stamps.normalize()).all()):
        days = stamps.to_numpy().astype("datetime64[D]").astype("int64")
        return (days + _EPOCH_ORDINAL).astype("float64")
    return np.array([bt.date2num(ts.to_pydatetime()) for ts in stamps], dtype="float64")
