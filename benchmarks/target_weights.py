"""A user's target-weight strategy on both engines: .venv/bin/python benchmarks/target_weights.py

The README's trend filter (examples/trend_filter.py) over 2010-2024, in this process: the fast engine on
``--fast`` combinations of ``sessions`` (one array pass; the rule is called per combination at each monthly
decision), Backtrader on ``--backtrader`` of them (one run each); the time per combination on each and their ratio,
best of ``--repeat`` rounds. The lookahead streamed run of the same strategy against its plain run is timed too.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engines.engine import RunItem, RunSettings, run_one  # noqa: E402
from engines.fast import full_params, simulate  # noqa: E402
from feeds import prepare_feeds  # noqa: E402
from research.lookahead import STREAM, CutItem, orders_task  # noqa: E402
from strategies import load_user_module  # noqa: E402


def best_of(repeat: int, work) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fast", type=int, default=500, help="combinations on the fast engine (default: 500)")
    parser.add_argument("--backtrader", type=int, default=4, help="combinations on Backtrader (default: 4)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds, the best is kept (default: 3)")
    args = parser.parse_args()
    load_user_module(str(ROOT / "examples" / "trend_filter.py"))
    settings = RunSettings()
    feeds = prepare_feeds(settings.start, settings.end, warmup_sessions=300)
    combos = [{"sessions": 2 + (k % 299)} for k in range(args.fast)]
    full = full_params("trend-filter", combos)
    fast = best_of(args.repeat, lambda: simulate("trend-filter", full, feeds, settings)) / len(combos)
    slow = best_of(args.repeat, lambda: [run_one("trend-filter", feeds, settings, c) for c in combos[:args.backtrader]])
    slow /= args.backtrader
    item = RunItem("trend-filter", {}, settings)
    plain = best_of(args.repeat, lambda: orders_task(feeds, CutItem(item)))
    streamed = best_of(args.repeat, lambda: orders_task(feeds, CutItem(item, STREAM)))
    print("| measure | value |\n|---|---|")
    print(f"| fast engine per combination ({len(combos)} in one pass) | {1000 * fast:.2f} ms |")
    print(f"| Backtrader per combination ({args.backtrader} runs) | {1000 * slow:.0f} ms |")
    print(f"| Backtrader / fast engine | {slow / fast:,.0f}x |")
    print(f"| lookahead: plain run / streamed run | {plain:.3f} s / {streamed:.3f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
