"""The fast engine's benchmarks (run by `make bench` after run_all.py): .venv/bin/python benchmarks/fast_engine.py [--quick]

- the 10,000-combination rotation sweep 2010-2024 (lookback x vix_level x breaker_drawdown x allocation, VIX read
  daily and the breaker on in every combination) on 2 processes, data preparation included: best and spread of 3
  runs, each in a fresh process that also reports its peak memory (its own plus twice its largest worker);
- the fast engine's time per combination, and in the same run Backtrader's per-combination time for combinations
  of the same grid on the same 2 processes (both without the data preparation they share), and the vectorised
  pandas floor (one run): their ratios, in wall time and in CPU time;
- the 50-combination agreement check (random rotation, fixed-level and z-score combinations, both engines,
  2010-2024, with costs): the largest difference of each figure.
Results are printed and saved to benchmarks/results/fast_engine.json.
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from feeds import prepare_feeds  # noqa: E402
from feeds.atomic import atomic_write_text  # noqa: E402
from engines.engine import RunSettings, warmup_for  # noqa: E402
from engines.fast.agreement import BOUNDS, FIGURES, compare_engines, draw  # noqa: E402
from research.sweep import combinations, evaluate, run_sweep  # noqa: E402
from vectorised_rotation import vectorised_rotation  # noqa: E402

PERIOD = ("2010-01-01", "2024-12-31")
GRID = {
    "lookback": list(range(21, 271, 10)),  # 25
    "vix_level": [15.0, 18.0, 20.0, 22.0, 25.0, 28.0, 30.0, 35.0, 40.0, 50.0],  # 10
    "breaker_drawdown": [0.02, 0.03, 0.05, 0.07, 0.10, 0.12, 0.15, 0.20],  # 8
    "allocation": [0.25, 0.5, 0.75, 0.9, 1.0],  # 5
}
FIXED = {"vix_timing": "daily"}
COSTS = RunSettings(start=PERIOD[0], end=PERIOD[1], commission=0.0005, commission_per_share=0.005, slippage=0.0002)


def sweep_child(engine: str, step: int) -> None:
    """In a fresh process: prepare the data, sweep GRID (every ``step``-th combination when step > 1) on 2
    processes; print the seconds (with and without data preparation) and the peak memory as JSON."""
    started = time.perf_counter()
    cpu_started = _cpu_seconds()
    combos = combinations(GRID)[::step]
    feeds = prepare_feeds(*PERIOD, warmup_sessions=warmup_for([("rotation", {**FIXED, **c}) for c in combos]))
    prepared, cpu_prepared = time.perf_counter(), _cpu_seconds()
    settings = RunSettings(*PERIOD)
    if step == 1:  # the user's path: the sweep table of the whole grid
        table = run_sweep("rotation", GRID, feeds, settings, jobs=2, progress=False, base_params=FIXED, engine=engine)
    else:
        metrics, = evaluate("rotation", [{**FIXED, **c} for c in combos], feeds, settings, engine=engine, jobs=2, progress=False)
        table = pd.DataFrame(metrics)
    done, cpu_done = time.perf_counter(), _cpu_seconds()
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"combinations": len(table), "seconds": done - started, "sweep seconds": done - prepared,
                      "sweep cpu seconds": cpu_done - cpu_prepared, "cpu seconds": cpu_done - cpu_started,
                      "peak MiB": me + 2 * children, "best CAGR [%]": float(table["CAGR [%]"].max())}))


def _cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and its finished workers: less sensitive than wall time to
    other work on a shared machine."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def child(engine: str, step: int = 1) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", engine, "--step", str(step)], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one sweep run, 10 Backtrader combinations, 12 agreement combinations")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--step", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sweep_child(args.child, args.step)
        return 0
    results: dict = {}

    def record(key: str, value) -> None:
        results[key] = value
        print(f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value}", flush=True)

    total = len(combinations(GRID))
    runs = [child("fast") for _ in range(1 if args.quick else 3)]
    seconds = sorted(r["seconds"] for r in runs)
    best = min(runs, key=lambda r: r["seconds"])
    record(f"fast engine: {total:,}-combination rotation sweep 2010-2024, 2 processes, data prep included [s] (target <= 30)", seconds[0])
    record("  the same, spread over runs [s]", f"{seconds[0]:.1f}-{seconds[-1]:.1f} ({len(seconds)} runs)")
    record("  of which data preparation [s]", best["seconds"] - best["sweep seconds"])
    record("  peak memory, parent + 2 workers [MiB] (target <= 2048)", max(r["peak MiB"] for r in runs))
    fast_per = best["sweep seconds"] / total
    record("fast engine per combination, data preparation excluded [ms]", 1000 * fast_per)

    step = total // (10 if args.quick else 20)
    slow = child("backtrader", step)
    slow_per = slow["sweep seconds"] / slow["combinations"]
    record(f"Backtrader per combination, {slow['combinations']} combinations of the same grid, 2 processes, "
           "data preparation excluded [s]", slow_per)
    record("Backtrader / fast engine per combination, wall time (target >= 1000)", slow_per / fast_per)
    record("Backtrader / fast engine per combination, CPU time of all processes",
           (slow["sweep cpu seconds"] / slow["combinations"]) / (best["sweep cpu seconds"] / total))

    feeds = prepare_feeds(*PERIOD)
    floor = []
    for _ in range(5):
        started = time.perf_counter()
        vectorised_rotation(feeds)
        floor.append(time.perf_counter() - started)
    record("vectorised pandas floor, one rotation run [ms]", 1000 * min(floor))
    record("fast engine per combination / vectorised floor", fast_per / min(floor))

    count = 12 if args.quick else 50
    table = compare_engines(draw(random.Random(2024), count), feeds, COSTS, jobs=2)
    record(f"agreement, {count} random combinations (rotation, fixed levels, z-score; with costs): decisions identical",
           f"{int(table['decisions equal'].sum())}/{count}")
    record("  trades identical (dates, feeds, sides, shares)", f"{int(table['trades equal'].sum())}/{count}")
    record("  orders rejected by Backtrader", int(table["rejected orders"].sum()))
    for figure in FIGURES:
        bound = BOUNDS[figure]
        if bound is None:
            record("  largest monthly win rate difference [months] (bound < 1)", float(table["win rate diff [months]"].max()))
        else:
            record(f"  largest {figure} difference (bound {bound})", float(table[f"{figure} diff"].max()))

    out = ROOT / "benchmarks" / "results" / "fast_engine.json"
    atomic_write_text(out, json.dumps(results, indent=2) + "\n")
    print(f"\nsaved {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
