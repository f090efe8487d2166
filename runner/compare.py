"""Run many registered strategies on the same prepared feeds, on all cores, with progress lines."""
from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from feeds import FeedSet
from strategies import registered

from .engine import RunResult, RunSettings, run_one

_WORKER_FEEDS: FeedSet | None = None


def _init_worker(feeds: FeedSet) -> None:
    global _WORKER_FEEDS
    _WORKER_FEEDS = feeds


def _run_in_worker(name: str, settings: RunSettings, params: dict, plot_path: str | None) -> RunResult:
    return run_one(name, _WORKER_FEEDS, settings, params, plot_path=plot_path)


def default_names() -> list[str]:
    """Every registered run: strategies first, then benchmarks, each group in registration order."""
    entries = registered()
    return [n for n, e in entries.items() if not e.benchmark] + [n for n, e in entries.items() if e.benchmark]


def compare(
    names: Sequence[str],
    feeds: FeedSet,
    settings: RunSettings,
    params: dict[str, dict] | None = None,
    *,
    jobs: int | None = None,
    plot_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[RunResult]:
    """Run ``names`` on ``feeds`` (loaded once) with shared ``settings``; results in the order of ``names``.

    ``params`` maps a run name to parameter overrides. ``jobs`` processes (default: all cores; 1 = in this
    process). ``plot_dir`` saves Backtrader's own plot of each run as ``<name>.png``.
    """
    params = params or {}
    progress = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    jobs = jobs or os.cpu_count() or 1
    plot_of = {n: str(plot_dir / f"{n}.png") if plot_dir else None for n in names}
    results: dict[str, RunResult] = {}
    started = time.perf_counter()

    def done(name: str, result: RunResult) -> None:
        results[name] = result
        progress(f"[{len(results)}/{len(names)}] {name} done, {time.perf_counter() - started:.1f} s elapsed")

    if jobs == 1 or len(names) == 1:
        for name in names:
            done(name, run_one(name, feeds, settings, params.get(name), plot_path=plot_of[name]))
    else:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(min(jobs, len(names)), mp_context=context, initializer=_init_worker, initargs=(feeds,)) as pool:
            futures = {pool.submit(_run_in_worker, n, settings, params.get(n, {}), plot_of[n]): n for n in names}
            for future in _as_completed(futures):
                done(futures[future], future.result())
    return [results[n] for n in names]


def _as_completed(futures):
    from concurrent.futures import as_completed

    return as_completed(futures)
