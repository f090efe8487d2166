"""Price files and the validated bars they hold: the bundled folder, symbol names, CSV reading, range checks.

``feeds.prices.load_prices`` picks a source (bundled, csv:DIR, yahoo) and uses these.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .calendar import as_date, nyse_sessions
from .errors import DataError
from .validate import validate_bars

BUNDLED_DIR = Path(__file__).resolve().parent / "data"
BUNDLED_SYMBOLS = ("SPY", "IWM", "VIX", "BIL", "SGOV")
# A symbol names a file (<DIR>/<SYMBOL>.csv, the Yahoo cache): letters, digits and . ^ = - only, so it can
# never leave its folder. Covers tickers such as BRK-B, ^VIX, EURUSD=X.
_SYMBOL = re.compile(r"[A-Z0-9^][A-Z0-9.^=-]{0,19}")


@dataclass(frozen=True)
class PriceSet:
    """Validated daily bars per symbol, with where each symbol came from.

    ``frames[sym]``: DataFrame indexed by ``Date`` with Open, High, Low, Close, Adj Close, Volume.
    ``sources[sym]``: e.g. ``"bundled:SPY.csv"``, ``"yahoo (cache ~/.cache/.../SPY.csv, fetched 2025-01-02)"``, ``"csv:/path/SPY.csv"``.
    ``notes``: things the run's output must say (fallbacks, gaps filled, ...).
    """

    frames: dict[str, pd.DataFrame]
    sources: dict[str, str]
    notes: tuple[str, ...] = field(default=())

    def coverage(self) -> pd.DataFrame:
        """One row per symbol: source, first and last date, rows."""
        rows = [
            {"symbol": s, "source": self.sources[s], "first": f.index[0].date(), "last": f.index[-1].date(), "rows": len(f)}
            for s, f in self.frames.items()
        ]
        return pd.DataFrame(rows).set_index("symbol")


def check_symbol(symbol) -> str:
    """``symbol`` stripped and upper-cased; DataError naming it when it is not a plain ticker that is safe as a file name."""
    if not isinstance(symbol, str) or not symbol.strip():
        raise DataError(f"symbol {symbol!r} is not a non-empty string")
    clean = symbol.strip().upper()
    if not _SYMBOL.fullmatch(clean) or ".." in clean:
        raise DataError(
            f"symbol {symbol!r} is not a plain ticker (letters, digits and . ^ = - only, at most 20 characters, "
            "no '..'): as a file name it could escape the data or cache folder"
        )
    return clean


def normalise_symbols(symbols) -> list[str]:
    """``symbols`` (one or a list) as checked, upper-cased, de-duplicated tickers; DataError when there are none."""
    if isinstance(symbols, str):
        symbols = [symbols]
    try:
        symbols = list(symbols)
    except TypeError:
        raise DataError(f"symbols must be a symbol or a list of symbols, not {symbols!r}") from None
    out = []
    for s in symbols:
        s = check_symbol(s)
        if s not in out:
            out.append(s)
    if not out:
        raise DataError("no symbols requested")
    return out


def _refuse_other_separator(header: str, symbol: str, path: Path) -> None:
    """DataError when a header line without commas is separated by semicolons, tabs or '|' instead."""
    if "," in header:
        return
    used = next((name for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "'|'")) if sep in header), None)
    if used:
        raise DataError(f"{symbol} ({path}): not comma-separated: its header {header!r} uses {used}; "
                        "save it as CSV with commas (Date,Open,High,Low,Close,Adj Close,Volume)")


def read_csv_bars(path: Path, symbol: str) -> pd.DataFrame:
    """Read and validate one CSV in the bundled layout."""
    try:
        raw = pd.read_csv(path, dtype={"Date": str})
    except FileNotFoundError:
        raise DataError(f"{symbol}: file not found: {path}") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{symbol} ({path}): the file is empty") from None
    except pd.errors.ParserError as exc:
        with open(path, encoding="utf-8", errors="replace") as fh:
            _refuse_other_separator(fh.readline().strip(), symbol, path)
        raise DataError(f"{symbol} ({path}): malformed CSV: {exc}") from None
    except (UnicodeDecodeError, ValueError, OSError) as exc:
        raise DataError(f"{symbol} ({path}): cannot read as CSV: {exc}") from None
    if "Date" not in raw.columns and len(raw.columns) == 1:
        _refuse_other_separator(str(raw.columns[0]), symbol, path)
    if "Date" not in raw.columns:
        raise DataError(f"{symbol} ({path}): missing column Date; expected Date, Open, High, Low, Close, Adj Close, Volume")
    raw = raw.set_index("Date")
    return validate_bars(raw, symbol, str(path))


def check_range(frame: pd.DataFrame, symbol: str, origin: str, start, end) -> pd.DataFrame:
    """Slice ``frame`` to [start, end]; DataError if the data does not cover every NYSE session in that range."""
    start = as_date(start, "start") if start is not None else frame.index[0]
    end = as_date(end, "end") if end is not None else frame.index[-1]
    if start > end:
        raise DataError(f"requested start {start.date()} is after end {end.date()}")
    sessions = nyse_sessions(start, end)
    if len(sessions) == 0:
        raise DataError(f"no NYSE session between {start.date()} and {end.date()}")
    if frame.index[0] > sessions[0]:
        raise DataError(
            f"{symbol} ({origin}): requested start {start.date()} is before the first row {frame.index[0].date()}"
        )
    if frame.index[-1] < sessions[-1]:
        raise DataError(f"{symbol} ({origin}): requested end {end.date()} is after the last row {frame.index[-1].date()}")
    return frame.loc[start:end]
