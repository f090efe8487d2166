"""Checks on one symbol's daily bars. Every error names the symbol, where the data came from, and the row/date."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import DataError

PRICE_COLUMNS = ("Open", "High", "Low", "Close", "Adj Close")
COLUMNS = PRICE_COLUMNS + ("Volume",)


def _row(frame: pd.DataFrame, pos: int) -> str:
    """Human row number in the file: header is line 1, so data row ``pos`` is line ``pos + 2``."""
    return f"row {pos + 2} ({frame.index[pos].date()})"


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
        index = pd.DatetimeIndex(pd.to_datetime(frame.index, format="ISO8601", errors="coerce"))
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
# Checked columns: Open (orders fill there), Close and Adj Close (signals and valuation). High and Low are not
# spike-checked: no order this project places fills at them, and Yahoo's intraday extremes hold real
# flash-crash prints (and odd ones, such as BIL's High of 106.20 on 2007-11-30 in the bundled data).
SPIKE_SIGMAS = 25.0
SPIKE_MIN_MOVE = 0.05
SPIKE_RESIDUAL = 0.2
SPIKE_REVERSAL_SESSIONS = 5
SPIKE_WINDOW = 126
ETF_MAX_DAILY_FACTOR = 1.6
INDEX_SYMBOLS = ("VIX",)
CHECKED_COLUMNS = ("Open", "Close", "Adj Close")


def is_index(symbol: str) -> bool:
    """True for an index series (a ``^`` ticker or VIX), which the ETF bound does not apply to."""
    return symbol.startswith("^") or symbol in INDEX_SYMBOLS


@dataclass(frozen=True)
class BarFlag:
    """One bar that breaks a rule: where, the values, and which rule."""

    symbol: str
    date: pd.Timestamp
    column: str
    detail: str
    rule: str

    def describe(self) -> str:
        return f"{self.symbol} {self.column} on {self.date.date()}: {self.detail}; rule: {self.rule}"


def robust_sigma(log_returns: pd.Series) -> pd.Series:
    """1.4826 x the rolling median absolute deviation of ``log_returns`` (centred window of SPIKE_WINDOW sessions);
    where the window is too short, the whole series'. A robust daily volatility that one bad tick cannot move."""
    centred = log_returns - log_returns.rolling(SPIKE_WINDOW, center=True, min_periods=20).median()
    mad = centred.abs().rolling(SPIKE_WINDOW, center=True, min_periods=20).median()
    overall = (log_returns - log_returns.median()).abs().median()
    return 1.4826 * mad.fillna(overall)


def bar_flags(frame: pd.DataFrame, symbol: str) -> list[BarFlag]:
    """Every bar of validated ``frame`` (``validate_bars`` layout) that breaks a rule above, in date order."""
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
    if not is_index(symbol):
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
                    f"an ETF moves less than x{ETF_MAX_DAILY_FACTOR:g} (or x1/{ETF_MAX_DAILY_FACTOR:g}) in one day; indexes such as VIX are exempt",
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


def check_bars(frame: pd.DataFrame, symbol: str, origin: str, *, accepted=frozenset(), checked_from=None,
               checked_through=None) -> list[str]:
    """DataError for the first flagged bar between ``checked_from`` and ``checked_through`` (default: all) that is
    not in ``accepted`` ({(symbol, date)}); returns one note per accepted flag, for the run's output.

    Flags are computed on the whole of ``frame`` (the volatility and the next days need it) but only bars in the
    range are judged: data outside the sessions a run uses never stops it."""
    notes, accepted_flags = [], {}
    for flag in bar_flags(frame, symbol):
        if (checked_from is not None and flag.date < pd.Timestamp(checked_from)) or (
            checked_through is not None and flag.date > pd.Timestamp(checked_through)
        ):
            continue
        if (symbol, flag.date) in accepted:
            accepted_flags.setdefault(flag.date, []).append(flag)
            continue
        raise DataError(
            f"{symbol} ({origin}): suspicious bar: {flag.describe()}. If the bar is right, accept it with "
            f"--accept-bar {symbol}:{flag.date.date()} (the run's output will list it)"
        )
    for day, flags in accepted_flags.items():
        more = f" (and {len(flags) - 1} more check(s) on that bar)" if len(flags) > 1 else ""
        notes.append(f"bar accepted deliberately (--accept-bar {symbol}:{day.date()}), data from {origin}: {flags[0].describe()}{more}")
    return notes


def largest_moves(frame: pd.DataFrame) -> tuple[float, str, float]:
    """(largest one-day move in robust sigmas over CHECKED_COLUMNS, its column, largest |log close-to-close|):
    the margins of the spike rule on real data."""
    best = (0.0, "")
    for column in CHECKED_COLUMNS:
        moves = np.log(frame[column]).diff()
        z = (moves.abs() / robust_sigma(moves)).replace(np.inf, np.nan).max()
        best = max(best, (float(z), column))
    return best[0], best[1], float(np.log(frame["Close"]).diff().abs().max())

