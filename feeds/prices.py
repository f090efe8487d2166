"""The single entry point for prices: ``load_prices(symbols, start, end, source=...)``.

Sources:
- ``"bundled"`` (default): the real daily Yahoo bars shipped in ``feeds/data/`` (provenance: ``feeds/data/SOURCES.md``).
- ``"yahoo"``: yfinance 1.x with ``auto_adjust=False``, cached on disk per symbol (see ``feeds.yahoo``).
- ``"csv:DIR"``: a folder of ``SYMBOL.csv`` files in the bundled layout
  (``Date,Open,High,Low,Close,Adj Close,Volume``).

``Close`` is the raw (split-adjusted only) price and ``Adj Close`` the total-return price.
"""
from __future__ import annotations

from pathlib import Path

from .bars import BUNDLED_DIR, BUNDLED_SYMBOLS, PriceSet, normalise_symbols, check_range, read_csv_bars
from .errors import DataError
from .validate import check_bars, parse_accepted


def load_prices(symbols, start=None, end=None, source: str = "bundled", cache_dir: str | Path | None = None, *,
                accept_bars=(), checked_from=None, checked_through=None) -> PriceSet:
    """Load validated daily bars for ``symbols`` between ``start`` and ``end`` (inclusive) from ``source``.

    Every source goes through the bar checks (``feeds.validate.check_bars``) for the bars from ``checked_from``
    (default ``start``) to ``checked_through`` (default ``end``): a flagged bar is a DataError unless listed in ``accept_bars``
    (``"SYMBOL:YYYY-MM-DD"`` strings), and then it is listed in ``notes``.
    Raises DataError for an unknown symbol or source, bad data, or a range the data does not cover.
    """
    symbols = normalise_symbols(symbols)
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
