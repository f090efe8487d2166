"""Checks on one symbol's daily bars. Every error names the symbol, where the data came from, and the row/date."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import DataError

PRICE_COLUMNS = ("Open", "High", "Low", "Close", "Adj Close")
COLUMNS = PRICE_COLUMNS + ("Volume",)


def _row(frame: pd.DataFrame, pos: int) -> str:
    """Human row number in the file: header is line 1, so data row ``pos`` is line ``pos + 2``."""
    return f"row {pos + 2} ({frame.index[pos].date()})"


_UTC_OFFSET = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$")


def _parse_dates(texts: pd.Index, where: str) -> pd.DatetimeIndex:
    """The Date column as a DatetimeIndex (NaT where not a date). Dates with UTC offsets keep their own wall-clock
    date, as a column with one offset does: a file whose offsets change (EST -05:00 / EDT -04:00, written from a
    New York time index) reads the same dates, not an error from pandas that names no file."""
    try:
        return pd.DatetimeIndex(pd.to_datetime(texts, format="ISO8601", errors="coerce"))
    except ValueError:  # mixed time zones
        wall = pd.Index([_UTC_OFFSET.sub("", str(t).strip()) for t in texts])
        try:
            return pd.DatetimeIndex(pd.to_datetime(wall, format="ISO8601", errors="coerce"))
        except ValueError as exc:
            raise DataError(f"{where}: column Date cannot be read as dates: {exc}") from None


def validate_bars(frame: pd.DataFrame, symbol: str, origin: str) -> pd.DataFrame:
    """Return ``frame`` as clean float bars indexed by a sorted, unique DatetimeIndex named ``Date``.

    Reads: columns ``Date`` (index), Open, High, Low, Close, Adj Close, Volume.
    Raises DataError naming ``symbol`` and ``origin`` (a file path or "yahoo") for: missing columns,
    unparseable dates, duplicated or unsorted dates, NaN, non-positive prices, negative volume,
    High < Low, Close outside [Low, High].
    """
    where = f"{symbol} ({origin})"
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{where}: missing column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}")
    if frame.empty:
        raise DataError(f"{where}: no rows")
    if isinstance(frame.index, pd.DatetimeIndex):
        index = frame.index
    else:
        index = _parse_dates(frame.index, where)
    if index.isna().any():
        pos = int(index.isna().nonzero()[0][0])
        raise DataError(f"{where}: column Date at row {pos + 2} is not a date (YYYY-MM-DD): {frame.index[pos]!r}")
    if index.tz is not None:
        index = index.tz_localize(None)
    out = frame.loc[:, list(COLUMNS)].copy()
    out.index = index.normalize().as_unit("ns")
    out.index.name = "Date"
    for col in COLUMNS:
        values = pd.to_numeric(out[col], errors="coerce")
        bad = values.isna() & out[col].notna()
        if bad.any():
            pos = int(bad.to_numpy().nonzero()[0][0])
            raise DataError(f"{where}: column {col} is not a number at {_row(out, pos)}: {out[col].iloc[pos]!r}")
        out[col] = values.astype("float64")

    dup = out.index.duplicated()
    if dup.any():
        pos = int(dup.nonzero()[0][0])
        raise DataError(f"{where}: duplicated date at {_row(out, pos)}")
    backwards = out.index[1:] < out.index[:-1]
    if backwards.any():
        pos = int(backwards.nonzero()[0][0]) + 1
        raise DataError(f"{where}: dates not sorted ascending at {_row(out, pos)}, after {out.index[pos - 1].date()}")
    for col in COLUMNS:
        nan = out[col].isna().to_numpy()
        if nan.any():
            pos = int(nan.nonzero()[0][0])
            raise DataError(f"{where}: NaN in column {col} at {_row(out, pos)}")
    for col in PRICE_COLUMNS:
        bad = (out[col] <= 0).to_numpy()
        if bad.any():
            pos = int(bad.nonzero()[0][0])
            raise DataError(f"{where}: non-positive {col} {out[col].iloc[pos]} at {_row(out, pos)}")
    bad = (out["Volume"] < 0).to_numpy()
    if bad.any():
        pos = int(bad.nonzero()[0][0])
        raise DataError(f"{where}: negative Volume at {_row(out, pos)}")
    bad = (out["High"] < out["Low"]).to_numpy()
    if bad.any():
        pos = int(bad.nonzero()[0][0])
        raise DataError(f"{where}: High {out['High'].iloc[pos]} < Low {out['Low'].iloc[pos]} at {_row(out, pos)}")
    tol = 1e-6 * out["Close"]
    bad = ((out["Close"] > out["High"] + tol) | (out["Close"] < out["Low"] - tol)).to_numpy()
    if bad.any():
        pos = int(bad.nonzero()[0][0])
        raise DataError(f"{where}: Close {out['Close'].iloc[pos]} outside [Low, High] at {_row(out, pos)}")
    return out


# -- bar checks: a bad tick is caught before any figure is computed from it ----------------------------------
# Rules (documented in the README, "What is checked"); each flag names symbol, column, date, values and rule.
# 1. Spike that reverses: a one-day log move of at least SPIKE_SIGMAS times the series' own robust daily
#    volatility (1.4826 x the median absolute deviation of its log returns over SPIKE_WINDOW sessions centred on
#    the day), and at least SPIKE_MIN_MOVE, after which the price comes back within SPIKE_RESIDUAL of the move
#    within SPIKE_REVERSAL_SESSIONS sessions. Real data stays far below: in the bundled 2000-2024 data the
#    largest one-day move of any kind, reversing or not, is 9.7 sigma for SPY, 9.5 for IWM and 11.6 for VIX
#    (``python -m feeds.check_data`` prints them); the cash ETFs reach 40 sigma on moves of at most 0.4%, hence
#    SPIKE_MIN_MOVE. A x100 tick is several hundred sigma.
# 2. ETF bound: an ETF's close (raw or adjusted), or its open against the previous close, more than
#    ETF_MAX_DAILY_FACTOR times or less than 1 / ETF_MAX_DAILY_FACTOR of the previous close. The worst days of
#    SPY and IWM were -10% to -14%; an unadjusted 2:1 split is x0.5. Indexes (``^`` tickers, VIX) are exempt:
#    VIX rose 115% on 2018-02-05.
# 3. Open within [Low, High], as Close is in ``validate_bars``.
# 4. Adjustment: the factor Adj Close / Close changes from one session to the next only by a dividend, which
#    raises it by dividend / previous close: at most ADJUSTMENT_MAX_RISE (log), and never lowers it by more than
#    ADJUSTMENT_MAX_FALL (the rounding of a 4-6 decimal Adj Close). In the bundled 2000-2024 data the largest rise
#    is 0.86% (IWM 2012-12-19, a year-end payout) and no fall exceeds 0.0001%. A larger change means the raw and
#    adjusted prices disagree on that day: an unadjusted split (raw /1.5 with Adj Close right: x1.5) or a bad
#    adjustment (Adj Close alone +30%). Every other day raw and adjusted returns then agree to within that bound.
# 5. Level of a volatility index (LEVEL_RANGES: VIX, quoted in annualised percentage points): Open, Close and Adj
#    Close within [5, 150]. VIX's whole history (1990-2024) lies in 8.56..89.53 (intraday; closes 9.14..82.69);
#    a file in another unit (decimals: 0.15 for 15) or scaled x10 / x100 is outside on most of its bars and would
#    otherwise move every VIX decision silently. One flag per span of consecutive bars outside.
# Checked columns: Open (orders fill there), Close and Adj Close (signals and valuation). High and Low are not
# spike-checked: no order this project places fills at them, and Yahoo's intraday extremes hold real
# flash-crash prints (and odd ones, such as BIL's High of 106.20 on 2007-11-30 in the bundled data).
SPIKE_SIGMAS = 25.0
SPIKE_MIN_MOVE = 0.05
SPIKE_RESIDUAL = 0.2
SPIKE_REVERSAL_SESSIONS = 5
SPIKE_WINDOW = 126
ETF_MAX_DAILY_FACTOR = 1.6
ADJUSTMENT_MAX_RISE = 0.05
ADJUSTMENT_MAX_FALL = 0.001
CHECKED_COLUMNS = ("Open", "Close", "Adj Close")
LEVEL_RANGES = {"VIX": (5.0, 150.0)}  # symbol -> the range its levels lie in (rule 5)


def traded_volume(frame: pd.DataFrame) -> bool:
    """True when some bar of ``frame`` has a volume: an index (VIX from Yahoo or Cboe) has none. Used to tell a
    series' role only where no run says it (``python -m feeds.check_data`` on files a run does not read)."""
    return bool((frame["Volume"] > 0).any())


@dataclass(frozen=True)
class BarFlag:
    """One bar that breaks a rule: where, the values, and which rule. ``through``: the last session of a flagged
    span (a copied or shifted file), None for one bar."""

    symbol: str
    date: pd.Timestamp
    column: str
    detail: str
    rule: str
    through: pd.Timestamp | None = None

    def touches(self, first=None, last=None) -> bool:
        """True when the flagged bar (or span) lies at least partly between ``first`` and ``last`` (None: open)."""
        end = self.through if self.through is not None else self.date
        return (first is None or end >= pd.Timestamp(first)) and (last is None or self.date <= pd.Timestamp(last))

    def describe(self) -> str:
        return f"{self.symbol} {self.column} on {self.date.date()}: {self.detail}; rule: {self.rule}"


def robust_sigma(log_returns: pd.Series) -> pd.Series:
    """1.4826 x the rolling median absolute deviation of ``log_returns`` (centred window of SPIKE_WINDOW sessions);
    where the window is too short, the whole series'. A robust daily volatility that one bad tick cannot move."""
    centred = log_returns - log_returns.rolling(SPIKE_WINDOW, center=True, min_periods=20).median()
    mad = centred.abs().rolling(SPIKE_WINDOW, center=True, min_periods=20).median()
    overall = (log_returns - log_returns.median()).abs().median()
    return 1.4826 * mad.fillna(overall)


def level_flags(frame: pd.DataFrame, symbol: str, low: float, high: float) -> list[BarFlag]:
    """Rule 5: one flag per checked column and span of consecutive bars whose value lies outside [low, high]."""
    flags = []
    dates = frame.index
    for column in CHECKED_COLUMNS:
        values = frame[column].to_numpy()
        outside = (values < low) | (values > high)
        edges = np.diff(np.r_[0, outside.astype(np.int8), 0])
        for first, end in zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]):
            span = values[first:end]
            more = (f" and {end - first - 1:,} more session(s) through {dates[end - 1].date()} ({span.min():g} .. "
                    f"{span.max():g})") if end - first > 1 else ""
            flags.append(BarFlag(
                symbol, dates[first], column, f"{values[first]:g}{more}, outside [{low:g}, {high:g}]",
                f"{symbol} is a volatility index quoted in percentage points, whose whole history lies within "
                f"[{low:g}, {high:g}] (a file in decimals or scaled x10 is not)",
                dates[end - 1] if end - first > 1 else None))
    return flags


def bar_flags(frame: pd.DataFrame, symbol: str, etf: bool = True) -> list[BarFlag]:
    """Every bar of validated ``frame`` (``validate_bars`` layout) that breaks a rule above, in date order.

    ``etf``: the series is a fund a run trades or holds as cash, so the ETF bound (rule 2) applies; False for a
    signal feed such as VIX (an index: its role in the run, not its file name, exempts it). Rule 5 applies to the
    symbols of ``LEVEL_RANGES`` (what the series is, whatever its role or file)."""
    flags: list[BarFlag] = []
    returns_from_spike: set[pd.Timestamp] = set()  # the way back from a flagged spike is the same event
    dates = frame.index
    tol = 1e-6 * frame["Close"]
    outside = ((frame["Open"] > frame["High"] + tol) | (frame["Open"] < frame["Low"] - tol)).to_numpy()
    for pos in outside.nonzero()[0]:
        row = frame.iloc[pos]
        flags.append(BarFlag(symbol, dates[pos], "Open", f"{row['Open']:g} outside [Low {row['Low']:g}, High {row['High']:g}]",
                             "the open lies within the day's low and high"))
    for column in CHECKED_COLUMNS:
        logs = np.log(frame[column].to_numpy())
        moves = np.diff(logs, prepend=np.nan)
        sigma = robust_sigma(pd.Series(moves, index=dates)).to_numpy()
        big = np.abs(moves) >= np.maximum(SPIKE_SIGMAS * sigma, SPIKE_MIN_MOVE)
        for pos in np.nonzero(big)[0]:
            ahead = logs[pos + 1: pos + 1 + SPIKE_REVERSAL_SESSIONS] - logs[pos - 1]
            back = np.nonzero(np.abs(ahead) <= SPIKE_RESIDUAL * abs(moves[pos]))[0]
            if not len(back):
                continue
            later = pos + 1 + int(back[0])
            returns_from_spike.update(dates[pos + 1: later + 1])
            values = frame[column]
            flags.append(BarFlag(
                symbol, dates[pos], column,
                f"{values.iloc[pos]:g} after {values.iloc[pos - 1]:g} on {dates[pos - 1].date()} (x{values.iloc[pos] / values.iloc[pos - 1]:.4g}, "
                f"{abs(moves[pos]) / sigma[pos]:.0f} times its robust daily volatility), back to {values.iloc[later]:g} on {dates[later].date()}",
                f"a one-day move of >= {SPIKE_SIGMAS:g} sigma (and >= {SPIKE_MIN_MOVE:.0%}) that reverses within {SPIKE_REVERSAL_SESSIONS} sessions",
            ))
    factor = np.log(frame["Adj Close"].to_numpy() / frame["Close"].to_numpy())
    change = np.diff(factor, prepend=factor[0])
    for pos in np.nonzero((change > ADJUSTMENT_MAX_RISE) | (change < -ADJUSTMENT_MAX_FALL))[0]:
        before, after = np.exp(factor[pos - 1]), np.exp(factor[pos])
        raw = frame["Close"].iloc[pos] / frame["Close"].iloc[pos - 1]
        adjusted = frame["Adj Close"].iloc[pos] / frame["Adj Close"].iloc[pos - 1]
        flags.append(BarFlag(
            symbol, dates[pos], "Adj Close",
            f"Adj Close / Close went from {before:.6g} on {dates[pos - 1].date()} to {after:.6g} (x{after / before:.4g}): "
            f"the raw close moved x{raw:.4g} and the adjusted close x{adjusted:.4g}; an unadjusted split or a bad adjustment",
            f"raw and adjusted prices move together except for a dividend (the adjustment factor rises by at most "
            f"{ADJUSTMENT_MAX_RISE:.0%} and never falls by more than {ADJUSTMENT_MAX_FALL:.1%} in a day)",
        ))
    if symbol in LEVEL_RANGES:
        flags += level_flags(frame, symbol, *LEVEL_RANGES[symbol])
    if etf:
        bound = math.log(ETF_MAX_DAILY_FACTOR)
        close = frame["Close"].to_numpy()
        pairs = (("Close", close, close), ("Adj Close", frame["Adj Close"].to_numpy(), frame["Adj Close"].to_numpy()),
                 ("Open", frame["Open"].to_numpy(), close))
        for column, today, previous in pairs:
            jump = np.abs(np.log(today[1:] / previous[:-1])) > bound
            for pos in np.nonzero(jump)[0] + 1:
                if dates[pos] in returns_from_spike:
                    continue
                against = "previous close" if column == "Open" else "previous value"
                flags.append(BarFlag(
                    symbol, dates[pos], column,
                    f"{today[pos]:g} against the {against} {previous[pos - 1]:g} on {dates[pos - 1].date()} (x{today[pos] / previous[pos - 1]:.4g})",
                    f"an ETF moves less than x{ETF_MAX_DAILY_FACTOR:g} (or x1/{ETF_MAX_DAILY_FACTOR:g}) in one day; signal feeds such as VIX are exempt",
                ))
    flags.sort(key=lambda f: f.date)
    return flags


def parse_accepted(specs) -> frozenset[tuple[str, pd.Timestamp]]:
    """``["IWM:2019-05-31", ...]`` (``--accept-bar``; (symbol, date) pairs pass through) as {(symbol, date)};
    DataError naming a malformed entry."""
    accepted = set()
    for spec in specs or ():
        if isinstance(spec, tuple) and len(spec) == 2:
            accepted.add((str(spec[0]).upper(), pd.Timestamp(spec[1]).normalize()))
            continue
        symbol, _, day = str(spec).partition(":")
        when = pd.to_datetime(day.strip(), format="ISO8601", errors="coerce") if day.strip() else pd.NaT
        if not symbol.strip() or pd.isna(when):
            raise DataError(f"--accept-bar {spec!r}: expected SYMBOL:YYYY-MM-DD, e.g. IWM:2019-05-31")
        accepted.add((symbol.strip().upper(), pd.Timestamp(when).normalize()))
    return frozenset(accepted)


def largest_moves(frame: pd.DataFrame) -> tuple[float, str, float, float]:
    """(largest one-day move in robust sigmas over CHECKED_COLUMNS, its column, largest |log close-to-close|,
    largest one-day log change of Adj Close / Close): the margins of rules 1, 2 and 4 on real data."""
    best = (0.0, "")
    for column in CHECKED_COLUMNS:
        moves = np.log(frame[column]).diff()
        z = (moves.abs() / robust_sigma(moves)).replace(np.inf, np.nan).max()
        best = max(best, (float(z), column))
    factor = np.log(frame["Adj Close"] / frame["Close"]).diff()
    return best[0], best[1], float(np.log(frame["Close"]).diff().abs().max()), float(factor.max()) if len(frame) > 1 else 0.0

