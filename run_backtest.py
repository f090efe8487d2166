#!/usr/bin/env python3
"""Compare the IWM/SPY strategies on real data. `python run_backtest.py --help` lists every option."""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from feeds import DataError, prepare_feeds

    try:
        feeds = prepare_feeds()
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Data coverage, {feeds.start.date()} .. {feeds.end.date()}:")
    print(feeds.coverage().to_string())
    for note in feeds.notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
