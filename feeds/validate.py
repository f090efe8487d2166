"""Checks on one symbol's daily bars. Every error names the symbol, where the data came from, and the row/date."""
from __future__ import annotations

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
