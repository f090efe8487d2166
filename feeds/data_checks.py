"""Every data rule on the symbols one load reads together, judged over the sessions a run uses.

``data_flags`` lists every flagged bar (per-series rules of ``feeds.validate.bar_flags``, cross-symbol rules of
``feeds.cross_checks.cross_flags``); ``check_prices`` stops a load at the first flag that is not accepted.
Roles, not file names, decide which rules apply: the ETF rules (the one-day bound, the cross-asset residual)
judge the funds a run trades or holds as cash; a signal feed such as VIX is judged by the rules every series
follows.
"""
from __future__ import annotations

import pandas as pd

from .cross_checks import cross_flags
from .errors import DataError
from .validate import BarFlag, bar_flags, traded_volume

ACCEPTED_NOTE = "bar accepted deliberately"  # how a note on an accepted bar begins (``FeedSet.accepted_bars`` finds them)


def etf_symbols(frames: dict[str, pd.DataFrame], signal_only=None) -> set[str]:
    """The symbols judged as ETFs: all but ``signal_only`` (the run's signal feeds). ``signal_only=None`` (no run
    says): every series with a traded volume; an index such as VIX has none."""
    if signal_only is None:
        return {s for s, frame in frames.items() if traded_volume(frame)}
    return set(frames) - set(signal_only)


def data_flags(frames: dict[str, pd.DataFrame], etfs) -> list[BarFlag]:
    """Every flagged bar of validated ``frames`` ({symbol: bars}) in date order; ``etfs`` from ``etf_symbols``."""
    flags = [flag for sym, frame in frames.items() for flag in bar_flags(frame, sym, etf=sym in etfs)]
    flags += cross_flags(frames, etfs)
    flags.sort(key=lambda f: (f.date, f.symbol))
    return flags


def check_prices(frames: dict[str, pd.DataFrame], origins: dict[str, str], *, signal_only=None, accepted=frozenset(),
                 checked_from=None, checked_through=None) -> list[str]:
    """DataError for the first flagged bar between ``checked_from`` and ``checked_through`` (default: all) that is not
    in ``accepted`` ({(symbol, date)}); returns one note per accepted bar, for the run's output.

    Flags are computed on the whole of each frame (the models need the history) but only bars in the range are
    judged: data outside the sessions a run uses never stops it. ``origins``: where each symbol came from."""
    notes, accepted_flags = [], {}
    for flag in data_flags(frames, etf_symbols(frames, signal_only)):
        if not flag.touches(checked_from, checked_through):
            continue
        if (flag.symbol, flag.date) in accepted:
            accepted_flags.setdefault((flag.symbol, flag.date), []).append(flag)
            continue
        raise DataError(
            f"{flag.symbol} ({origins[flag.symbol]}): suspicious bar: {flag.describe()}. If the bar is right, accept it with "
            f"--accept-bar {flag.symbol}:{flag.date.date()} (the run's output will list it)"
        )
    for (symbol, day), flags in accepted_flags.items():
        more = f" (and {len(flags) - 1} more check(s) on that bar)" if len(flags) > 1 else ""
        notes.append(f"{ACCEPTED_NOTE} (--accept-bar {symbol}:{day.date()}), data from {origins[symbol]}: {flags[0].describe()}{more}")
    return notes
