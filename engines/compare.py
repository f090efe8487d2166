"""Run many registered strategies on the same prepared feeds, on all cores, with progress lines."""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from feeds import FeedSet
from strategies import registered

from .engine import RunItem, RunResult, RunSettings
from .executors import run_tasks
from .shared_pass import passes, run_pass


def default_names() -> list[str]:
    """Every registered run: strategies first, then benchmarks, each group in registration order."""
    entries = registered()
    return [n for n, e in entries.items() if not e.benchmark] + [n for n, e in entries.items() if e.benchmark]


class _Lines:
    """Progress as one line per finished run (the comparison has few, slow-ish items)."""

    def __init__(self, names: Sequence[str], write: Callable[[str], None]) -> None:
        self.names, self.write, self.done, self.started = names, write, 0, time.perf_counter()

    def update(self, n: int = 1) -> None:
        self.done += n
        self.write(f"[{self.done}/{len(self.names)}] runs done, {time.perf_counter() - self.started:.1f} s elapsed")


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
    process), each making its share of the runs in one shared pass over the data (``engines.shared_pass``: same
    results as single runs). ``plot_dir`` saves Backtrader's own plot of each run as ``<name>.png``.
    """
    params = params or {}
    write = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    items = [
        RunItem(n, params.get(n, {}), settings, plot_path=str(Path(plot_dir) / f"{n}.png") if plot_dir else None) for n in names
    ]
    # one shared pass over the data per process (engines.shared_pass: each strategy keeps its own broker), this
    # process running one of them too (one process fewer to start, fewer results to ship)
    work = passes(items, jobs if isinstance(jobs, int) and jobs >= 1 else os.cpu_count() or 1)
    done = run_tasks(run_pass, work, feeds, jobs=jobs, progress=_Lines(names, write), caller_works=True,
                     size=lambda item: len(item.items))
    by_item = {id(item): result for task, results in zip(work, done) for item, result in zip(task.items, results)}
    return [by_item[id(item)] for item in items]
