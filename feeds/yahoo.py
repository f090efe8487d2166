"""Prices from Yahoo Finance (yfinance 1.x), cached on disk per symbol.

``load_yahoo(symbols, start, end, cache_dir=None)`` is what ``load_prices(..., source="yahoo")`` calls.

- Downloads use ``auto_adjust=False`` so both the raw ``Close`` and the total-return ``Adj Close`` are kept.
- Each symbol is cached as ``<cache>/<SYMBOL>.csv`` in the bundled layout
  (``Date,Open,High,Low,Close,Adj Close,Volume``) plus ``<SYMBOL>.json`` (which dates were asked for, when
  they were fetched). Both are written atomically (temp file + ``os.replace``). The cache folder is
  ``cache_dir``, else ``$SMALLCAP_ROTATION_CACHE``, else ``$XDG_CACHE_HOME/smallcap-rotation/yahoo``
  (``~/.cache/smallcap-rotation/yahoo``).
- A later call reads the cache and asks Yahoo only for the dates missing before its first or after its last
  row. Each such request overlaps the cache by one row: Yahoo restates all earlier adjusted prices after
  every dividend (and raw prices after a split), so the overlap row is used to put old and new rows on one
  basis (a constant factor, so returns are unchanged) instead of appending rows with a jump.
- Offline, yfinance 1.x returns an empty frame instead of raising. That is detected per symbol: when the
  cache covers the request the run continues from it with a note; otherwise DataError says which symbols
  could not be fetched and what the run could continue from (cached or bundled data). Sources are never
  mixed silently: ``PriceSet.sources`` says, per symbol, which cache file and fetch date the bars came from.
- A cache file that cannot be read or fails validation is reported (note or error naming the file) and never
  used: the symbol is fetched again and the file replaced.
- Only the latest completed NYSE session is fetched (today's bar may still change), so an open-ended
  request (``end=None``) ends on the last session before today.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .atomic import atomic_write_text
from .calendar import as_date, nyse_sessions
from .errors import DataError
from .bars import BUNDLED_DIR, BUNDLED_SYMBOLS, PriceSet, check_range, check_symbol, read_csv_bars
from .validate import COLUMNS, validate_bars

CACHE_ENV = "SMALLCAP_ROTATION_CACHE"
HISTORY_START = pd.Timestamp("1995-01-01")  # what ``start=None`` asks Yahoo for: as far back as the NYSE calendar goes
TICKERS = {"VIX": "^VIX"}  # our symbol -> Yahoo ticker, where they differ
_SPLIT_TOLERANCE = 1e-4  # relative change of a raw close on the overlap row that counts as a split/restatement


def default_cache_dir() -> Path:
    """``$SMALLCAP_ROTATION_CACHE``, else ``$XDG_CACHE_HOME/smallcap-rotation/yahoo`` (``~/.cache/...``)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    return base / "smallcap-rotation" / "yahoo"


def yahoo_ticker(symbol: str) -> str:
    """The Yahoo ticker for one of our symbols (``VIX`` -> ``^VIX``)."""
    return TICKERS.get(symbol, symbol)


def _today() -> pd.Timestamp:
    """Today's date in New York (naive). Tests replace it."""
    return pd.Timestamp.now(tz="America/New_York").normalize().tz_localize(None)


def last_complete_session(today: pd.Timestamp | None = None) -> pd.Timestamp:
    """The last NYSE session strictly before ``today``: the newest daily bar that can no longer change."""
    today = _today() if today is None else pd.Timestamp(today)
    sessions = nyse_sessions(today - pd.Timedelta(days=14), today - pd.Timedelta(days=1))
    return sessions[-1]


# -- the on-disk cache ---------------------------------------------------------------------------------------
@dataclass
class CacheEntry:
    """One symbol's cache: bars (None when absent or unusable), metadata and what was wrong with it."""

    csv: Path
    meta_path: Path
    bars: pd.DataFrame | None = None
    requested_from: pd.Timestamp | None = None  # Yahoo was asked from here: no data exists between it and row 1
    requested_through: pd.Timestamp | None = None  # ... and up to here
    fetched: str = "unknown date"
    problems: list[str] = field(default_factory=list)

    def span(self) -> str:
        return f"{self.bars.index[0].date()}..{self.bars.index[-1].date()}" if self.bars is not None else "nothing"


def cache_paths(folder: Path, symbol: str) -> tuple[Path, Path]:
    """``<folder>/<SYMBOL>.csv`` and ``.json``; DataError when ``symbol`` would leave the folder."""
    check_symbol(symbol)
    csv, meta = folder / f"{symbol}.csv", folder / f"{symbol}.json"
    root = folder.resolve()
    for path in (csv, meta):
        if path.resolve().parent != root:
            raise DataError(f"ticker {symbol!r} would escape the cache folder {folder}")
    return csv, meta


def read_cache(folder: Path, symbol: str) -> CacheEntry:
    """Read a symbol's cache. A file that cannot be read or fails validation is reported, never used."""
    csv, meta_path = cache_paths(folder, symbol)
    entry = CacheEntry(csv, meta_path)
    if not csv.exists():
        return entry
    try:
        entry.bars = read_csv_bars(csv, symbol)
    except DataError as exc:
        entry.problems.append(f"corrupted cache file {csv} not used: {exc}")
        return entry
    meta = {}
    if meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if not isinstance(meta, dict):
                raise ValueError("not a JSON object")
            entry.requested_from = pd.Timestamp(meta["requested_from"])
            entry.requested_through = pd.Timestamp(meta["requested_through"])
            entry.fetched = str(meta.get("fetched", entry.fetched))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            entry.problems.append(f"cache metadata {meta_path} unreadable ({exc}); using the dates in {csv.name}")
            meta = {}
    first, last = entry.bars.index[0], entry.bars.index[-1]
    entry.requested_from = min(entry.requested_from, first) if entry.requested_from is not None else first
    entry.requested_through = max(entry.requested_through, last) if entry.requested_through is not None else last
    return entry


def write_cache(entry: CacheEntry, symbol: str) -> None:
    """Write the entry's bars (bundled CSV layout) and metadata atomically."""
    entry.csv.parent.mkdir(parents=True, exist_ok=True)
    bars = entry.bars.copy()
    bars.index = bars.index.strftime("%Y-%m-%d")
    bars.index.name = "Date"
    atomic_write_text(entry.csv, bars.loc[:, list(COLUMNS)].to_csv())
    meta = {
        "symbol": symbol,
        "ticker": yahoo_ticker(symbol),
        "requested_from": str(entry.requested_from.date()),
        "requested_through": str(entry.requested_through.date()),
        "fetched": entry.fetched,
    }
    atomic_write_text(entry.meta_path, json.dumps(meta, indent=1) + "\n")


# -- talking to yfinance -------------------------------------------------------------------------------------
class _Captured(logging.Handler):
    """Collects yfinance's log records so that they never reach the terminal."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(" ".join(record.getMessage().split()))
        except Exception:  # a malformed record must not break a download
            pass


def _yfinance_said(lines: list[str], ticker: str) -> str:
    """What yfinance logged about ``ticker`` (e.g. "possibly delisted; no price data found"), or ""."""
    for line in lines:
        for form in (f"${ticker}: ", f"'{ticker}'"):
            if form in line:
                return line.split("]: ", 1)[-1].replace(f"${ticker}: ", "")
    return ""


def _download(tickers: list[str], start: pd.Timestamp, end: pd.Timestamp) -> tuple[pd.DataFrame | None, str, list[str]]:
    """yfinance.download for ``start``..``end`` inclusive (Yahoo's ``end`` is exclusive).

    Returns (frame, error, yfinance's log lines). Those lines (such as ``$^VIX: possibly delisted``) are kept
    out of the terminal; the caller reports them in one line per failed ticker."""
    import yfinance  # imported lazily: it is slow to import and only this source needs it

    logger, captured = logging.getLogger("yfinance"), _Captured()
    propagate = logger.propagate
    logger.addHandler(captured)
    logger.propagate = False
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()) as printed:
            warnings.simplefilter("ignore")
            frame = yfinance.download(
                tickers,
                start=start.strftime("%Y-%m-%d"),
                end=(end + pd.Timedelta(days=1)).strftime("%Y-%m-%d"),
                auto_adjust=False,
                actions=False,
                progress=False,
                group_by="column",
                multi_level_index=True,
                threads=False,
            )
    except Exception as exc:  # yfinance may raise on odd failures; treated like the empty offline frame
        return None, f"yfinance.download raised {type(exc).__name__}: {exc}", captured.lines
    finally:
        logger.removeHandler(captured)
        logger.propagate = propagate
    return frame, "", captured.lines + [" ".join(line.split()) for line in printed.getvalue().splitlines() if line.strip()]


def _ticker_frame(frame: pd.DataFrame | None, ticker: str) -> pd.DataFrame | None:
    """One ticker's bars from a yfinance 1.x frame with (Price, Ticker) columns; None when it has no rows."""
    if frame is None or frame.empty or not isinstance(frame.columns, pd.MultiIndex):
        return None
    level = "Ticker" if "Ticker" in frame.columns.names else frame.columns.nlevels - 1
    if ticker not in frame.columns.get_level_values(level):
        return None
    bars = frame.xs(ticker, axis=1, level=level)
    bars = bars.loc[:, [c for c in COLUMNS if c in bars.columns]]
    prices = [c for c in ("Open", "High", "Low", "Close", "Adj Close") if c in bars.columns]
    bars = bars.loc[bars[prices].notna().any(axis=1)] if prices else bars.iloc[0:0]
    if bars.empty:
        return None
    bars = bars.copy()
    bars.index.name = "Date"
    return bars


def _rebase(rows: pd.DataFrame, on: pd.Timestamp, reference: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """Scale ``rows`` so that its bar on ``on`` matches ``reference``'s. Returns (scaled rows, raw price factor).

    Adj Close is scaled by the Adj Close ratio (new dividends), OHLC by the Close ratio and Volume inversely
    when that ratio shows a split or restatement. Constant factors: returns inside ``rows`` are unchanged.
    """
    out = rows.copy()
    out["Adj Close"] = out["Adj Close"] * (reference.at[on, "Adj Close"] / rows.at[on, "Adj Close"])
    raw = reference.at[on, "Close"] / rows.at[on, "Close"]
    if abs(raw - 1.0) > _SPLIT_TOLERANCE:
        for col in ("Open", "High", "Low", "Close"):
            out[col] = out[col] * raw
        out["Volume"] = out["Volume"] / raw
    else:
        raw = 1.0
    return out, raw


# -- the entry point -----------------------------------------------------------------------------------------
@dataclass
class _Plan:
    symbol: str
    entry: CacheEntry
    windows: list[tuple[pd.Timestamp, pd.Timestamp]]  # inclusive date ranges to ask Yahoo for
    full: bool  # True: no usable cache, the windows replace it


def _plan(symbol: str, entry: CacheEntry, want_from: pd.Timestamp, want_through: pd.Timestamp) -> _Plan:
    if entry.bars is None:
        return _Plan(symbol, entry, [(want_from, want_through)], True)
    windows = []
    first, last = entry.bars.index[0], entry.bars.index[-1]
    if want_from < entry.requested_from:
        windows.append((want_from, first))
    after = max(last, entry.requested_through) + pd.Timedelta(days=1)
    if after <= want_through and len(nyse_sessions(after, want_through)):
        windows.append((last, want_through))
    return _Plan(symbol, entry, windows, False)


def _bundled_span(symbol: str) -> str:
    if symbol not in BUNDLED_SYMBOLS:
        return ""
    dates = pd.read_csv(BUNDLED_DIR / f"{symbol}.csv", usecols=["Date"])["Date"]
    return f"the bundled data covers {dates.iloc[0]}..{dates.iloc[-1]}"


def load_yahoo(symbols, start=None, end=None, cache_dir: str | Path | None = None) -> PriceSet:
    """Validated bars for ``symbols`` from Yahoo Finance between ``start`` and ``end`` (inclusive), via the cache.

    ``start=None`` means from 1995 (where the NYSE calendar starts), ``end=None`` the last completed session. Raises DataError
    naming the symbols that could not be fetched and what the run could continue from.
    """
    if isinstance(symbols, str):
        symbols = [symbols]
    symbols = [check_symbol(s) for s in symbols]
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    newest = last_complete_session()
    want_from = as_date(start, "start") if start is not None else HISTORY_START
    want_through = min(as_date(end, "end"), newest) if end is not None else newest
    if end is not None and start is not None and want_from > as_date(end, "end"):
        raise DataError(f"requested start {want_from.date()} is after end {as_date(end, 'end').date()}")
    if want_from > want_through:
        raise DataError(
            f"requested start {want_from.date()} is after the last completed NYSE session {want_through.date()}: "
            "there is no finished daily bar to fetch yet"
        )

    plans = {s: _plan(s, read_cache(folder, s), want_from, want_through) for s in symbols}
    notes: list[str] = [p for plan in plans.values() for p in plan.entry.problems]
    failures: dict[str, str] = {}
    fetched_today = str(_today().date())

    # one download per distinct window, all tickers that need it together
    pending = {s: list(p.windows) for s, p in plans.items() if p.windows}
    new_rows: dict[str, list[tuple[tuple, pd.DataFrame]]] = {s: [] for s in pending}
    by_window: dict[tuple, list[str]] = {}
    for sym, windows in pending.items():
        for window in windows:
            by_window.setdefault(window, []).append(sym)
    for window, syms in by_window.items():
        frame, error, said = _download([yahoo_ticker(s) for s in syms], *window)
        for sym in syms:
            bars = _ticker_frame(frame, yahoo_ticker(sym))
            if bars is None:
                reason = _yfinance_said(said, yahoo_ticker(sym))
                failures.setdefault(
                    sym, error or f"Yahoo returned no rows for {yahoo_ticker(sym)} (offline, an unknown ticker, or no data in that range)"
                    + (f"; yfinance said: {reason}" if reason else "")
                )
                continue
            try:
                new_rows[sym].append((window, validate_bars(bars, sym, f"Yahoo download of {yahoo_ticker(sym)}")))
            except DataError as exc:
                failures.setdefault(sym, str(exc))

    frames, sources = {}, {}
    for sym, plan in plans.items():
        entry = plan.entry
        if sym in failures or not plan.windows:
            if entry.bars is None:
                continue  # reported below
            if sym in failures:
                try:
                    check_range(entry.bars, sym, str(entry.csv), start, end)
                except DataError as exc:
                    failures[sym] += f"; cached data for {sym} covers {entry.span()} ({entry.csv}): {exc}"
                    continue
                notes.append(
                    f"{sym}: could not fetch from Yahoo ({failures.pop(sym)}); continuing from cached data "
                    f"{entry.span()} in {entry.csv}, fetched {entry.fetched}"
                )
        else:
            merged, merge_notes = _merge(sym, entry, plan, new_rows[sym])
            if merged is None:
                failures[sym] = "; ".join(merge_notes)
                continue
            notes += merge_notes
            entry.bars = merged
            entry.requested_from = min([w[0] for w, _ in new_rows[sym]] + ([entry.requested_from] if not plan.full else []))
            entry.requested_through = max([w[1] for w, _ in new_rows[sym]] + ([entry.requested_through] if not plan.full else []))
            entry.fetched = fetched_today
            try:
                write_cache(entry, sym)
            except OSError as exc:
                notes.append(f"{sym}: could not write the cache {entry.csv} ({exc}); the data is used but not kept")
        frames[sym] = check_range(entry.bars, sym, str(entry.csv), start, end)
        sources[sym] = f"yahoo (cache {entry.csv}, fetched {entry.fetched})"

    if failures:
        lines = []
        for sym in symbols:
            if sym not in failures:
                continue
            entry = plans[sym].entry
            options = []
            if entry.bars is not None and "cached data" not in failures[sym]:
                options.append(f"cached data for {sym} covers {entry.span()} ({entry.csv})")
            elif entry.bars is None:
                options.append("no usable cache" + (f" ({'; '.join(entry.problems)})" if entry.problems else f" in {folder}"))
            if _bundled_span(sym):
                options.append(_bundled_span(sym) + ": use --source bundled")
            lines.append(f"- {sym}: {failures[sym]}" + ("; " + "; ".join(options) if options else ""))
        raise DataError(
            f"could not fetch {', '.join(s for s in symbols if s in failures)} from Yahoo Finance "
            f"for {want_from.date()}..{want_through.date()}:\n" + "\n".join(lines)
        )
    return PriceSet(frames, sources, tuple(notes))


def _merge(sym: str, entry: CacheEntry, plan: _Plan, fetched: list[tuple[tuple, pd.DataFrame]]):
    """Cached bars joined with newly fetched ones on one adjustment basis. Returns (bars or None, notes)."""
    notes = []
    if plan.full:
        bars = pd.concat([rows for _, rows in fetched])
        bars = bars[~bars.index.duplicated(keep="last")].sort_index()
        return bars, notes
    bars = entry.bars
    for window, rows in sorted(fetched, key=lambda item: item[0][0]):
        if window[1] == bars.index[0] and window[0] < bars.index[0]:  # earlier rows, overlapping the first cached one
            on = bars.index[0]
            if on not in rows.index:
                return None, [f"{sym}: the Yahoo rows before the cache do not include its first row {on.date()}, so cannot be joined"]
            earlier, factor = _rebase(rows, on, bars)
            bars = pd.concat([earlier.loc[earlier.index < on], bars])
        else:  # later rows, overlapping the last cached one: Yahoo's newest basis wins
            on = bars.index[-1]
            if on not in rows.index:
                return None, [f"{sym}: the Yahoo rows after the cache do not include its last row {on.date()}, so cannot be joined"]
            older, factor = _rebase(bars, on, rows)
            bars = pd.concat([older.loc[older.index < on], rows.loc[rows.index >= on]])
        if factor != 1.0:
            notes.append(f"{sym}: Yahoo's raw prices changed by x{factor:.6g} on {on.date()} (split?); cached rows rescaled")
    return validate_bars(bars, sym, str(entry.csv)), notes
