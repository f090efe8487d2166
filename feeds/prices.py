"""The single entry point for prices: ``load_prices(symbols, start, end, source=...)``.

Sources:
- ``"bundled"`` (default): the real daily Yahoo bars shipped in ``feeds/data/`` (provenance: ``feeds/data/SOURCES.md``).
- ``"yahoo"``: yfinance 1.x with ``auto_adjust=False``, cached on disk per symbol (see ``feeds.yahoo``).
- ``"csv:DIR"``: a folder of ``SYMBOL.csv`` files in the bundled layout
  (``Date,Open,High,Low,Close,Adj Close,Volume``).

``Close`` is the raw (split-adjusted only) price and ``Adj Close`` the total-return price.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .calendar import as_date, nyse_sessions
from .errors import DataError
from .validate import check_bars, parse_accepted, validate_bars

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


def _normalise_symbols(symbols) -> list[str]:
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


def load_prices(symbols, start=None, end=None, source: str = "bundled", cache_dir: str | Path | None = None, *,
                accept_bars=(), checked_from=None, checked_through=None) -> PriceSet:
    """Load validated daily bars for ``symbols`` between ``start`` and ``end`` (inclusive) from ``source``.

    Every source goes through the bar checks (``feeds.validate.check_bars``) for the bars from ``checked_from``
    (default ``start``) to ``checked_through`` (default ``end``): a flagged bar is a DataError unless listed in ``accept_bars``
    (``"SYMBOL:YYYY-MM-DD"`` strings), and then it is listed in ``notes``.
    Raises DataError for an unknown symbol or source, bad data, or a range the data does not cover.
    """
    symbols = _normalise_symbols(symbols)
    accepted = parse_accepted(accept_bars)
    checked_from = start if checked_from is None else checked_from
    checked_through = end if checked_through is None else checked_through
    if not isinstance(source, str):
        raise DataError(f"source must be 'bundled', 'yahoo' or 'csv:DIR', not {source!r}")
    if source == "yahoo":
        from .yahoo import load_yahoo  # imported lazily: yfinance is slow to import

        prices = load_yahoo(symbols, start, end, cache_dir=cache_dir)
        notes = list(prices.notes)
        for sym, frame in prices.frames.items():
            notes += check_bars(frame, sym, prices.sources[sym], accepted=accepted, checked_from=checked_from, checked_through=checked_through)
        return PriceSet(prices.frames, prices.sources, tuple(notes))
    if source == "bundled":
        folder, tag = BUNDLED_DIR, "bundled"
        unknown = [s for s in symbols if s not in BUNDLED_SYMBOLS]
        if unknown:
            raise DataError(f"unknown symbol(s) {', '.join(unknown)} for source 'bundled'; it has {', '.join(BUNDLED_SYMBOLS)}")
    elif source.startswith("csv:"):
        folder, tag = Path(source[4:]).expanduser(), "csv"
        if not folder.is_dir():
            raise DataError(f"source {source!r}: folder {folder} does not exist")
    else:
        raise DataError(f"unknown source {source!r}: use 'bundled', 'yahoo' or 'csv:DIR'")

    frames, sources, notes = {}, {}, []
    for sym in symbols:
        path = folder / f"{sym}.csv"
        if tag == "csv" and not path.is_file():
            have = sorted(p.stem for p in folder.glob("*.csv"))
            raise DataError(f"unknown symbol {sym} for source {source!r}: no file {path} (found: {', '.join(have) or 'none'})")
        frame = read_csv_bars(path, sym)
        origin = f"bundled:{path.name}" if tag == "bundled" else f"csv:{path}"
        frames[sym] = check_range(frame, sym, str(path), start, end)
        notes += check_bars(frame, sym, str(path), accepted=accepted, checked_from=checked_from, checked_through=checked_through)
        sources[sym] = origin
    return PriceSet(frames, sources, tuple(notes))
