"""The luck check's cost on a fast-engine sweep: .venv/bin/python benchmarks/overfitting_guard.py [--rounds N]

The 10,000-combination rotation sweep of benchmarks/fast_engine.py (2010-2024, 2 processes, data prepared once) is
timed in interleaved rounds, each in this process after a warm-up:

- plain: ``research.sweep.run_sweep`` (the table only);
- guarded: ``research.guard.guarded_sweep`` (the same table plus each trial's block moments) and ``guard`` (deflated
  Sharpe, PBO by CSCV, SPA of the 20 best against buy and hold SPY, the sentence).

It prints each round and the ratio guarded / plain of the best round of each (wall time; the target is <= 1.25) and of
the median round, the same for CPU seconds (this process and its workers: steadier on a shared machine), and saves
them to benchmarks/results/overfitting_guard.json. BLAS runs on one thread, as in every command
(``run_backtest.one_blas_thread``).
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from run_backtest import one_blas_thread  # noqa: E402

one_blas_thread()  # as every command does, before numpy is imported

from fast_engine import FIXED, GRID, PERIOD  # noqa: E402

from engines.engine import RunSettings, warmup_for  # noqa: E402
from feeds import prepare_feeds  # noqa: E402
from feeds.atomic import atomic_write_text  # noqa: E402
from research.guard import guard, guarded_sweep  # noqa: E402
from research.sweep import combinations, run_sweep  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of plain and guarded (default: 3)")
    args = parser.parse_args()

    combos = combinations(GRID)
    feeds = prepare_feeds(*PERIOD, warmup_sessions=warmup_for([("rotation", {**FIXED, **c}) for c in combos]))
    settings = RunSettings(*PERIOD)

    def plain() -> tuple[float, float]:
        started, cpu = time.perf_counter(), cpu_seconds()
        run_sweep("rotation", GRID, feeds, settings, jobs=2, progress=False, base_params=FIXED, engine="fast")
        return time.perf_counter() - started, cpu_seconds() - cpu

    def guarded() -> tuple[float, float, float, dict]:
        started, cpu = time.perf_counter(), cpu_seconds()
        swept = guarded_sweep("rotation", GRID, feeds, settings, jobs=2, progress=False, base_params=FIXED, engine="fast")
        middle = time.perf_counter()
        out = guard("rotation", swept.collected, swept.grid, swept.base, feeds, settings)
        return time.perf_counter() - started, time.perf_counter() - middle, cpu_seconds() - cpu, out

    plain()  # warm-up: the first pool and page faults
    plains, guardeds, guards, plain_cpu, guarded_cpu = [], [], [], [], []
    luck = {}
    for round_ in range(args.rounds):
        wall, cpu = plain()
        plains.append(wall)
        plain_cpu.append(cpu)
        total, only_guard, cpu, luck = guarded()
        guardeds.append(total)
        guards.append(only_guard)
        guarded_cpu.append(cpu)
        print(f"round {round_ + 1}: plain {plains[-1]:.2f} s ({plain_cpu[-1]:.2f} s CPU), guarded {total:.2f} s "
              f"({cpu:.2f} s CPU; the guard alone {only_guard:.2f} s)", flush=True)
    results = {
        "combinations": len(combos),
        "plain sweep [s]": plains,
        "guarded sweep [s]": guardeds,
        "guard alone [s]": guards,
        "guarded / plain, best rounds (target <= 1.25)": min(guardeds) / min(plains),
        "guarded / plain, median rounds": statistics.median(guardeds) / statistics.median(plains),
        "plain sweep CPU [s]": plain_cpu,
        "guarded sweep CPU [s]": guarded_cpu,
        "guarded / plain CPU, best rounds": min(guarded_cpu) / min(plain_cpu),
        "sentence": luck.get("sentence"),
    }
    for key in ("guarded / plain, best rounds (target <= 1.25)", "guarded / plain, median rounds",
                "guarded / plain CPU, best rounds", "sentence"):
        value = results[key]
        print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")
    atomic_write_text(ROOT / "benchmarks" / "results" / "overfitting_guard.json", json.dumps(results, indent=2) + "\n")
    return 0


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and its finished workers."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


if __name__ == "__main__":
    sys.exit(main())
