"""``python -m feeds.check_data [SOURCE] [--signal NAME ...]``: every data rule on every file of a source, in one pass.

SOURCE is ``bundled`` (default) or ``csv:DIR`` (every ``DIR/*.csv``). Prints each file's role and margins (its
largest one-day move in robust sigmas, its largest close-to-close move, its largest adjustment-factor change), each
co-moving pair's day nearest to a cross-asset flag, then every flag (and every file that cannot be read), each
naming symbol, column, date, values and rule. Exit code 1 when anything is flagged.

Roles: the run's (VIX is the signal feed; IWM, SPY, BIL and SGOV are traded or held as cash); ``--signal NAME``
marks another file as a signal feed; any other file is judged as an ETF when it has a traded volume, as an index
(a signal series, such as a Cboe VIX file under another name) when its Volume is 0 throughout.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from .bars import BUNDLED_DIR, read_csv_bars
from .cerebro import FEED_NAMES, SIGNAL_ONLY
from .cross_checks import DIVERGENCE_MOVE, RESIDUAL_MIN_MOVE, RESIDUAL_SIGMAS, closest_to_flag, partners
from .data_checks import data_flags
from .errors import DataError
from .validate import ADJUSTMENT_MAX_RISE, ETF_MAX_DAILY_FACTOR, LEVEL_RANGES, SPIKE_SIGMAS, largest_moves, traded_volume

RUN_ETFS = tuple(name for name in FEED_NAMES if name not in SIGNAL_ONLY) + ("BIL",)


def roles(frames: dict, signal: tuple[str, ...] = ()) -> dict[str, tuple[str, str]]:
    """{symbol: (role, why)}: "ETF" or "signal", from the run's roles, ``signal`` and the data."""
    out = {}
    for sym, frame in frames.items():
        if sym in SIGNAL_ONLY or sym in signal:
            out[sym] = ("signal", "the run's signal feed" if sym in SIGNAL_ONLY else "--signal")
        elif sym in RUN_ETFS:
            out[sym] = ("ETF", "traded or held as cash by the run")
        elif traded_volume(frame):
            out[sym] = ("ETF", "has a traded volume")
        else:
            out[sym] = ("signal", "no traded volume: an index")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m feeds.check_data", description=__doc__.split("\n\n")[0])
    parser.add_argument("source", nargs="?", default="bundled", help="bundled (default) or csv:DIR")
    parser.add_argument("--signal", action="append", default=[], metavar="NAME", help="judge NAME.csv as a signal feed (repeatable)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    folder = BUNDLED_DIR if args.source == "bundled" else Path(args.source.removeprefix("csv:")).expanduser()
    if not folder.is_dir():
        print(f"error: {folder} is not a folder", file=sys.stderr)
        return 2
    frames, unreadable = {}, []
    for path in sorted(folder.glob("*.csv")):
        try:
            frames[path.stem] = read_csv_bars(path, path.stem)
        except DataError as exc:
            unreadable.append(str(exc))
    role = roles(frames, tuple(s.upper() for s in args.signal) + tuple(args.signal))
    etfs = {s for s, (r, _) in role.items() if r == "ETF"}
    print(f"rules: spike >= {SPIKE_SIGMAS:g} sigma that reverses; ETF day beyond x{ETF_MAX_DAILY_FACTOR:g}; open within [low, high]; "
          f"adjustment factor rises <= {ADJUSTMENT_MAX_RISE:.0%} a day; cross-asset residual >= {RESIDUAL_SIGMAS:g} sigma "
          f"and >= {RESIDUAL_MIN_MOVE:.0%}, or >= {DIVERGENCE_MOVE:g} (log) whatever the volatility; VIX within "
          f"{LEVEL_RANGES['VIX'][0]:g}..{LEVEL_RANGES['VIX'][1]:g}; no copied or shifted files")
    for sym, frame in frames.items():
        z, column, close, factor = largest_moves(frame)
        print(f"{sym:6s} {role[sym][0]:6s} ({role[sym][1]}): largest one-day move {z:5.1f} sigma ({column}); largest "
              f"close-to-close x{math.exp(close):.3f} (or x1/{math.exp(close):.3f}); largest adjustment step {math.expm1(factor):+.2%}")
    for a, b in partners(frames, etfs):
        near = closest_to_flag(frames, a, b)
        if near is not None:
            print(f"{a}/{b} co-move: nearest to a cross-asset flag {near[3]} {near[4]} on {near[5].date()}: {near[1]:.1f} sigma, "
                  f"residual {near[2]:.1%} ({near[0]:.0%} of the way to a flag)")
    flags = data_flags(frames, etfs)
    print(f"flagged: {len(flags)} bar(s)" + (f", {len(unreadable)} file(s) unreadable" if unreadable else ""))
    for line in unreadable:
        print(f"    error: {line}")
    for flag in flags:
        print(f"    {flag.describe()}")
    return 1 if flags or unreadable else 0


if __name__ == "__main__":
    sys.exit(main())
