"""The full data check of the bundled 2000-2024 data: .venv/bin/python benchmarks/data_checks.py [--repeat N]

Times, in this process (imports done), reading and validating the five bundled CSVs and running every data rule on
them together (``feeds.data_checks.data_flags``: per-series rules and the cross-symbol ones), best and median of
N rounds (default 5); the target is <= 2 s. Also times ``prepare_feeds`` for 2010-2024 (what a run pays).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from feeds import prepare_feeds  # noqa: E402
from feeds.bars import BUNDLED_DIR, BUNDLED_SYMBOLS, read_csv_bars  # noqa: E402
from feeds.data_checks import data_flags, etf_symbols  # noqa: E402

TARGET_SECONDS = 2.0


def full_check() -> int:
    frames = {s: read_csv_bars(BUNDLED_DIR / f"{s}.csv", s) for s in BUNDLED_SYMBOLS}
    return len(data_flags(frames, etf_symbols(frames, ("VIX",))))


def timed(fn, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="rounds (default 5)")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    flags = full_check()
    check = timed(full_check, args.repeat)
    load = timed(lambda: prepare_feeds("2010-01-01", "2024-12-31"), args.repeat)
    rows = sum(len(read_csv_bars(BUNDLED_DIR / f"{s}.csv", s)) for s in BUNDLED_SYMBOLS)
    print(f"full data check of the bundled data ({len(BUNDLED_SYMBOLS)} files, {rows} rows): best {min(check):.3f} s, "
          f"median {statistics.median(check):.3f} s (target <= {TARGET_SECONDS:g} s); flags: {flags}")
    print(f"prepare_feeds 2010-2024 (loads and checks what a run reads): best {min(load):.3f} s, median {statistics.median(load):.3f} s")
    return 0 if min(check) <= TARGET_SECONDS and flags == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
