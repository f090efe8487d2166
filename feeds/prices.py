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
from .data_checks import check_prices
from .validate import parse_accepted


def load_prices(symbols, start=None, end=None, source: str = "bundled", cache_dir: str | Path | None = None, *,
                accept_bars=(), checked_from=None, checked_through=None, signal_only=None) -> PriceSet:
    """Load validated daily bars for ``symbols`` between ``start`` and ``end`` (inclusive) from ``source``.

    Every source goes through the data checks (``feeds.data_checks.check_prices``: each series, and the symbols
    loaded together against each other) for the bars from ``checked_from`` (default ``start``) to ``checked_through``
    (default ``end``): a flagged bar is a DataError unless listed in ``accept_bars`` (``"SYMBOL:YYYY-MM-DD"``
    strings), and then it is listed in ``notes``. ``signal_only``: the symbols the run reads only as signals (VIX),
    exempt from the ETF rules; None: told apart by their data (``feeds.data_checks.etf_symbols``).
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
        notes = list(prices.notes) + check_prices(prices.frames, prices.sources, signal_only=signal_only, accepted=accepted,
                                                  checked_from=checked_from, checked_through=checked_through)
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

    frames, sources, whole, paths = {}, {}, {}, {}
    for sym in symbols:
        path = folder / f"{sym}.csv"
        if tag == "csv" and path.exists() and not path.is_file():
            kind = "a folder" if path.is_dir() else "not a regular file (a pipe, device or socket)"
            raise DataError(f"{sym} ({source!r}): {path} is {kind}; it must be a CSV file of daily bars")
        if tag == "csv" and not path.is_file():
            have = sorted(p.stem for p in folder.glob("*.csv") if p.is_file())
            raise DataError(f"unknown symbol {sym} for source {source!r}: no file {path} (found: {', '.join(have) or 'none'})")
        whole[sym], paths[sym] = read_csv_bars(path, sym), str(path)
        sources[sym] = f"bundled:{path.name}" if tag == "bundled" else f"csv:{path}"
    for sym in sorted(whole, key=lambda s: whole[s].index[-1]):  # the file that ends first is the one named
        frames[sym] = check_range(whole[sym], sym, paths[sym], start, end)
    frames = {sym: frames[sym] for sym in symbols}
    notes = check_prices(whole, paths, signal_only=signal_only, accepted=accepted, checked_from=checked_from,
                         checked_through=checked_through)
    return PriceSet(frames, sources, tuple(notes))
