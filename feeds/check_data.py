"""``python -m feeds.check_data [SOURCE]``: the bar checks on every symbol of a source (default: the bundled data),
with each series' margins: its largest one-day move in robust sigmas and its largest close-to-close move.

SOURCE is ``bundled`` or ``csv:DIR`` (every ``DIR/*.csv``). Exit code 1 when a bar is flagged.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

from .bars import BUNDLED_DIR, read_csv_bars
from .validate import ETF_MAX_DAILY_FACTOR, SPIKE_SIGMAS, bar_flags, largest_moves


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    source = argv[0] if argv else "bundled"
    folder = BUNDLED_DIR if source == "bundled" else Path(source.removeprefix("csv:"))
    flagged = 0
    print(f"rules: spike >= {SPIKE_SIGMAS:g} sigma that reverses; ETF day beyond x{ETF_MAX_DAILY_FACTOR:g}; open within [low, high]")
    for path in sorted(folder.glob("*.csv")):
        bars = read_csv_bars(path, path.stem)
        z, column, close = largest_moves(bars)
        flags = bar_flags(bars, path.stem)
        flagged += len(flags)
        print(f"{path.stem:6s} largest one-day move {z:5.1f} sigma ({column}); largest close-to-close x{math.exp(close):.3f} "
              f"(or x1/{math.exp(close):.3f}); flagged bars: {len(flags)}")
        for flag in flags:
            print(f"    {flag.describe()}")
    return 1 if flagged else 0


if __name__ == "__main__":
    sys.exit(main())
