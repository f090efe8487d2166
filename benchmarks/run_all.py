"""Benchmarks on the bundled data: `make bench` (or .venv/bin/python benchmarks/run_all.py [--quick] [--engine-only]).

Each target is a ratio of two timings taken in the same run, so machine noise mostly cancels; the two
Backtrader-engine ratios are timed in interleaved rounds (best of each). Results are printed as a Markdown table
and saved to benchmarks/results/latest.json.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import backtrader as bt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from feeds import prepare_feeds  # noqa: E402
from feeds.atomic import atomic_write_text  # noqa: E402
from engines.compare import compare, default_names  # noqa: E402
from engines.engine import RunSettings, run_one  # noqa: E402
from research.sweep import run_sweep  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from vectorised_rotation import vectorised_rotation  # noqa: E402


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def timed_rounds(fns: dict, repeat: int) -> dict[str, list[float]]:
    """Seconds of each function in ``repeat`` rounds (each function once per round, in order), so that a slow or
    fast spell of the machine falls on all of them alike instead of on whichever was being timed then."""
    times: dict[str, list[float]] = {key: [] for key in fns}
    for _ in range(repeat):
        for key, fn in fns.items():
            started = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - started)
    return times


def cpu_seconds(fn) -> float:
    """CPU time of ``fn()`` in this process and in the child processes it waited for."""
    before = os.times()
    fn()
    after = os.times()
    return sum(getattr(after, k) - getattr(before, k) for k in ("user", "system", "children_user", "children_system"))


def empty_strategy_plain_pandasdata(feeds) -> None:
    cerebro = bt.Cerebro(stdstats=False)
    for name, bars in feeds.bars.items():
        cerebro.adddata(bt.feeds.PandasData(dataname=bars), name=name)
    cerebro.addstrategy(bt.Strategy)
    cerebro.run()


def sweep_grid(n: int) -> dict:
    """A rotation grid of exactly n combinations (n/5 lookbacks x 5 VIX levels)."""
    vix = [20.0, 25.0, 30.0, 35.0, None]
    lookbacks = list(range(10, 10 + n // len(vix)))
    grid = {"lookback": lookbacks, "vix_level": vix}
    assert len(lookbacks) * len(vix) == n, n
    return grid


def memory_child(n: int, start: str, end: str) -> None:
    """Run an n-combination sweep on 2 processes and print the peak RSS (MiB) of this process and its workers."""
    feeds = prepare_feeds(start, end)
    run_sweep("rotation", sweep_grid(n), feeds, RunSettings(start=start, end=end), jobs=2, progress=False)
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    # ru_maxrss of children is the largest single worker: count it once per worker (2), a conservative total
    print(json.dumps({"parent MiB": me, "largest worker MiB": children, "peak MiB": me + 2 * children}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and a 2-year sweep period")
    parser.add_argument("--engine-only", action="store_true",
                        help="only the Backtrader-engine ratios (rotation / empty run, comparison / single runs)")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--period", nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, *args.period)
        return 0
    repeat = 1 if args.quick else 3
    engine_repeat = 1 if args.quick else 5  # the Backtrader-engine ratios: best of 5
    feeds = prepare_feeds()
    settings = RunSettings()
    bars = len(feeds.sessions)
    results: dict = {"cores": os.cpu_count(), "sessions incl. warm-up": bars}

    def record(key: str, value) -> None:
        results[key] = value
        print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}", flush=True)

    engine = timed_rounds({"empty": lambda: empty_strategy_plain_pandasdata(feeds),
                           "rotation": lambda: run_one("rotation", feeds, settings)}, engine_repeat)
    t_empty, t_rotation = min(engine["empty"]), min(engine["rotation"])
    record("empty strategy, 4 plain PandasData feeds [s]", t_empty)
    record("rotation 2010-2024 with all analyzers [s]", t_rotation)
    record("rotation bars per second", bars / t_rotation)
    record("rotation / empty PandasData (target <= 0.5)", t_rotation / t_empty)

    names = default_names()
    runs = {n: (lambda n=n: run_one(n, feeds, settings)) for n in names}
    runs["comparison"] = lambda: compare(names, feeds, settings, progress=lambda line: None)
    rounds = timed_rounds(runs, engine_repeat)
    t_compare = min(rounds.pop("comparison"))
    # Two readings of "the sum of its single runs", both best of the same rounds: the best round of all single runs
    # one after the other (one measured quantity, like the comparison), and the sum of each run's own best round
    # (the lowest possible sum: each of the 8 terms takes its luckiest round, which the comparison, one quantity,
    # cannot; on a noisy machine this reading is biased against the comparison)
    t_singles_round = min(map(sum, zip(*rounds.values())))
    t_singles = sum(map(min, rounds.values()))
    record(f"default comparison, {len(names)} runs [s]", t_compare)
    record("sum of single runs, best round [s]", t_singles_round)
    record("sum of single runs, each run's best round [s]", t_singles)
    record("comparison / sum of singles, best round (target <= 0.5)", t_compare / t_singles_round)
    record("comparison / sum of singles, each run's best (target <= 0.5)", t_compare / t_singles)
    # the same in CPU time (all processes): how much work the comparison adds, whatever the machine's load
    cpu_singles = cpu_seconds(lambda: [run_one(n, feeds, settings) for n in names])
    cpu_compare = cpu_seconds(lambda: compare(names, feeds, settings, progress=lambda line: None))
    record("comparison CPU, all processes / single runs' CPU", cpu_compare / cpu_singles)
    if args.engine_only:
        return report(results, ROOT / "benchmarks" / "results" / "engine.json")

    period = ("2019-01-01", "2020-12-31") if args.quick else ("2010-01-01", "2024-12-31")
    sweep_feeds = prepare_feeds(*period)
    sweep_settings = RunSettings(start=period[0], end=period[1])
    timings = {}
    for jobs in (1, 2):
        started = time.perf_counter()
        run_sweep("rotation", sweep_grid(100), sweep_feeds, sweep_settings, jobs=jobs, progress=False)
        timings[jobs] = time.perf_counter() - started
    record(f"100-combination sweep {period[0]}..{period[1]}, 1 process [s]", timings[1])
    record(f"100-combination sweep {period[0]}..{period[1]}, 2 processes [s]", timings[2])
    record("sweep speed-up on 2 cores (target >= 1.7)", timings[1] / timings[2])

    memory_period = ("2019-01-01", "2020-12-31")
    peaks = {}
    for n in (25, 100, 400):
        out = subprocess.run([sys.executable, __file__, "--memory-child", str(n), "--period", *memory_period],
                             capture_output=True, text=True, check=True).stdout
        peaks[n] = json.loads(out.strip().splitlines()[-1])
        record(f"sweep peak memory, {n} combinations [MiB]", peaks[n]["peak MiB"])
    record("peak memory 400 / 25 combinations (target <= 1.2)", peaks[400]["peak MiB"] / peaks[25]["peak MiB"])

    t_vector = best_of(lambda: vectorised_rotation(feeds), 5)
    record("vectorised pandas rotation [s]", t_vector)
    record("rotation engine / vectorised pandas", t_rotation / t_vector)

    return report(results, ROOT / "benchmarks" / "results" / "latest.json")


def report(results: dict, out: Path) -> int:
    """Print ``results`` as a Markdown table and save them as JSON to ``out``."""
    lines = ["| measure | value |", "|---|---|"] + [
        f"| {k} | {v:.3f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in results.items()
    ]
    print("\n".join(lines))
    atomic_write_text(out, json.dumps(results, indent=2) + "\n")
    print(f"\nsaved {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
