"""Parameter sweeps: one strategy over a grid of parameters, a results table and a heatmap.

    run_backtest.py sweep --strategy rotation --grid lookback=21:252:21 --grid vix_level=25,30,35,off \\
        --grid breaker_drawdown=off,0.05,0.10 --x lookback --y vix_level --metric "CAGR [%]"
"""
from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engines.engine import (
    COMPARISON_COLUMNS,
    RunError,
    RunItem,
    RunSettings,
    check_history_of_all,
    check_params,
    resolve,
    riskfree_returns,
    run_item,
)
from engines.executors import Progress, iter_tasks, run_tasks, workers_for
from engines.grid import Chunk, Grid, GridSlice
from engines.params import ConfigError, format_param, parse_value
from feeds import FeedSet

DEFAULT_METRIC = "CAGR [%]"
RANKED_METRICS = ("CAGR [%]", "Sharpe", "Sortino", "Max drawdown [%]", "Calmar", "Monthly win rate [%]", "Final value [$]")
# the comparison columns a sweep may rank by: higher is better for each (a drawdown is negative); volatility,
# turnover, switches, rebalances and exposure are not better higher, nor lower by themselves


ENGINES = ("backtrader", "fast")


VERIFY_COLUMNS = ("CAGR [%]", "Max drawdown [%]", "Sharpe", "Monthly win rate [%]", "Final value [$]")


# A grid above this many combinations is refused unless --max-combinations raises the limit: at the README
# benchmark's 40 s per 100 rotation runs (2010-2024, 2 processes), 10,000 combinations are over an hour.
MAX_COMBINATIONS = 10_000  # Backtrader: one run per combination (about half a second each per core)


MAX_FAST_COMBINATIONS = 1_000_000  # fast engine: chunks of at most 5,000 (fast.CHUNK), a quarter of a millisecond per combination per core


def default_limit(engine: str = "backtrader") -> int:
    """The largest grid an engine takes without --max-combinations: the fast engine takes far bigger ones."""
    return MAX_FAST_COMBINATIONS if engine == "fast" else MAX_COMBINATIONS


def parse_values(text: str, key: str = "") -> list:
    """Grid values: "21:252:21" (inclusive range), "25,30,35,off" (list; off/None = no value) or one value."""
    text = text.strip()
    if ":" in text and "," not in text:
        parts = text.split(":")
        try:
            lo, hi, step = (float(p) for p in parts) if len(parts) == 3 else (None, None, None)
        except ValueError:
            lo = None
        if lo is None or step <= 0 or hi < lo:
            raise ConfigError(f"grid {key}={text}: a range is START:STOP:STEP with STEP > 0 and STOP >= START")
        count = int(math.floor((hi - lo) / step + 1e-9)) + 1
        if count > MAX_COMBINATIONS:
            raise ConfigError(f"grid {key}={text}: {count:,} values, more than a grid may hold ({MAX_COMBINATIONS:,}); use a larger STEP")
        values = [lo + i * step for i in range(count)]
        return [int(v) if all(float(p).is_integer() for p in parts) else round(v, 12) for v in values]
    values = [parse_value(v) for v in text.split(",") if v.strip()]
    if not values:
        raise ConfigError(f"grid {key}: no values")
    return values


def parse_grid(specs: list[str]) -> dict[str, list]:
    """``["lookback=21:252:21", "vix_level=25,30,off"]`` -> {"lookback": [21, 42, ...], "vix_level": [25, 30, None]}."""
    grid: dict[str, list] = {}
    for spec in specs:
        if "=" not in spec:
            raise ConfigError(f"--grid {spec!r}: expected KEY=VALUES, e.g. lookback=21:252:21 or vix_level=25,30,off")
        key, values = spec.split("=", 1)
        key = key.strip().split(".")[-1]  # "rotation.lookback" is accepted too
        if not key:
            raise ConfigError(f"--grid {spec!r}: no parameter name before '='; expected KEY=VALUES, e.g. lookback=21:252:21")
        if key in grid:
            raise ConfigError(f"--grid {key} is given twice")
        grid[key] = parse_values(values, key)
    return grid


def grid_from_config(table: dict) -> dict[str, list]:
    """The [sweep.grid] table: lists, or strings in the --grid syntax."""
    grid = {}
    for key, values in table.items():
        if isinstance(values, str):
            grid[key] = parse_values(values, key)
        elif isinstance(values, list) and values:
            grid[key] = [None if isinstance(v, str) and v.lower() in ("none", "off") else v for v in values]
        else:
            raise ConfigError(f"[sweep.grid] {key} must be a non-empty list or a range string like '21:252:21'")
    return grid


def combinations(grid: dict[str, list]) -> list[dict]:
    """Every combination of the grid, in a stable order (``Grid``'s order: the last key varies fastest)."""
    return Grid.of(grid).combos()


def grid_size(grid: dict[str, list]) -> int:
    """The number of combinations, without making them."""
    return math.prod(len(v) for v in grid.values())


CHECK_IN_PARALLEL = 50_000  # grids above this many combinations are checked by the workers, a slice each


def check_grid(name: str, grid: dict[str, list] | Grid, base_params: dict | None = None, *,
               max_combinations: int = MAX_COMBINATIONS, runs_per_combination: int = 1, jobs: int | None = None) -> Grid:
    """The grid (``engines.grid.Grid``), every combination checked by the strategy's own parameter validation
    before any run, one at a time (none is kept). Above ``CHECK_IN_PARALLEL`` combinations the local pool (``jobs``
    processes, default all cores) checks a slice each: a million rotation combinations take about 15 s of CPU.

    ConfigError when the grid has more than ``max_combinations`` combinations (saying how to go on), or naming
    the first combination (in grid order), parameter and value the strategy refuses."""
    entry = resolve(name)
    grid = Grid.of(grid)
    size = grid.size
    if size > max_combinations:
        shape = " x ".join(f"{len(v)} {k}" for k, v in zip(grid.keys, grid.values))
        raise ConfigError(
            f"the grid has {size:,} combinations ({shape}){f', {size * runs_per_combination:,} runs' if runs_per_combination > 1 else ''}, "
            f"more than the limit of {max_combinations:,}: use fewer values per key (a larger STEP), or pass "
            f"--max-combinations {size} to run it anyway"
        )
    base = tuple(dict(base_params or {}).items())
    workers = workers_for("local", jobs)
    if size > CHECK_IN_PARALLEL and workers > 1:
        step = -(-size // (4 * workers))
        parts = [_GridCheck(entry.name, GridSlice(grid, lo, min(lo + step, size), base)) for lo in range(0, size, step)]
        failures = [f for f in run_tasks(_check_part, parts, None, jobs=workers) if f is not None]
    else:
        failures = [_check_part(None, _GridCheck(entry.name, GridSlice(grid, 0, size, base)))]
    failure = min((f for f in failures if f is not None), default=None)
    if failure is not None:
        index, message = failure
        shown = ", ".join(f"{k}={v}" for k, v in grid.combo(index).items())
        raise ConfigError(f"grid combination {index + 1:,} of {size:,} ({shown}): {message}")
    return grid


@dataclass(frozen=True)
class _GridCheck:
    """A task of ``check_grid``: the combinations of one slice of the grid, checked for strategy ``name``."""

    name: str
    part: GridSlice

    @property
    def label(self) -> str:
        return f"checking combinations {self.part.lo + 1:,}..{self.part.hi:,} of {self.name}"


def _check_part(feeds, task: _GridCheck) -> tuple[int, str] | None:
    """(grid index, the strategy's message) of the first combination of the slice the strategy refuses, else None."""
    entry = resolve(task.name)
    for index, params in enumerate(task.part, task.part.lo):
        try:
            check_params(entry, params)
        except RunError as exc:
            return index, str(exc)
    return None


def history_cases(name: str, grid: dict[str, list] | Grid, base_params: dict | None = None) -> Iterator[dict]:
    """Parameter sets whose history needs (``history_needed``) are those of the whole grid: when the strategy names
    the parameters that set its history (``history_params``, declared with or below its ``history_needed``), only
    the combinations of those keys (e.g. 250 lookbacks of a million-combination grid); otherwise every combination."""
    entry = resolve(name)
    grid = Grid.of(grid)
    base = dict(base_params or {})
    declared = _declared_history_params(entry.cls)
    if declared is None:
        yield from GridSlice(grid, 0, grid.size, tuple(base.items()))
        return
    keys = [k for k in grid.keys if k in declared]
    for combo in Grid.of({k: grid.values[grid.keys.index(k)] for k in keys}).iter():
        yield {**base, **combo}


def _declared_history_params(cls) -> tuple[str, ...] | None:
    """The ``history_params`` that go with the ``history_needed`` a class uses, or None when that method's class
    (or a subclass of it) does not declare them."""
    for klass in cls.__mro__:
        if "history_params" in vars(klass):
            return tuple(klass.history_params)
        if "history_needed" in vars(klass):
            return None
    return ()  # no history_needed at all: nothing is needed


def estimate_line(name: str, count: int, seconds: float, workers: int) -> str:
    """What the first run took and how long the rest should take."""
    rest = seconds * (count - 1) / max(1, min(workers, count - 1))
    shown = f"{rest / 60:.1f} min" if rest >= 120 else f"{rest:.0f} s" if rest >= 10 else f"{rest:.1f} s"
    return (f"{name}: {count:,} runs; the first took {seconds:.2f} s, so the other {count - 1:,} should take about "
            f"{shown} on {workers} process(es)")


def run_measured(task, items: Iterable, count: int, feeds, *, label: str, progress: bool, executor: str, jobs,
                 scheduler, unit: str) -> Iterator[tuple[int, object]]:
    """``(position, result)`` for each of the ``count`` ``items`` (a list or a lazy iterable): the first run here and
    timed, the estimate for the rest printed, the rest on ``iter_tasks`` (in the order they finish)."""
    items = iter(items)
    started = time.perf_counter()
    yield 0, task(feeds, next(items))
    took = time.perf_counter() - started
    if count == 1:
        return
    if progress:
        print(estimate_line(label, count, took, workers_for(executor, jobs)), file=sys.stderr, flush=True)
    bar = Progress(count - 1, unit, enabled=progress)
    with closing(iter_tasks(task, items, feeds, executor=executor, jobs=jobs, scheduler=scheduler, progress=bar)) as done:
        for position, result in done:
            yield position + 1, result


def metrics_task(feeds: FeedSet, item: RunItem) -> dict:
    """Executor task: the comparison metrics of one combination (small, so memory stays flat)."""
    return run_item(feeds, item).metrics


@dataclass(frozen=True)
class MomentsItem:
    """A Backtrader run of a sweep whose task also returns its excess returns' block moments (``blocks``)."""

    item: RunItem
    blocks: int

    @property
    def label(self) -> str:
        return self.item.label


def moments_task(feeds: FeedSet, moments_item: MomentsItem) -> tuple[dict, dict]:
    """Executor task: a Backtrader run's metrics and, as one-row chunk extras, the block sums and sums of squares of
    its daily returns in excess of ``engines.engine.riskfree_returns`` and those excess returns (float32)."""
    from analyzers import stats

    item = moments_item.item
    result = run_item(feeds, item)
    excess = stats.daily_returns(result.equity).to_numpy() - riskfree_returns(feeds, result.equity.index, item.settings)
    _, sums, squares = stats.block_moments(excess, moments_item.blocks)
    return result.metrics, {"block sums": sums.T, "block squares": squares.T, "excess returns": excess[None, :].astype(np.float32)}


def sweep_chunks(name: str, grid: Grid, feeds: FeedSet, settings: RunSettings, *, base_params: dict | None = None,
                 engine: str = "backtrader", executor: str = "local", jobs: int | None = None,
                 scheduler: str | None = None, progress: bool = True, chunk: int | None = None,
                 window: tuple[str | None, str | None] = (None, None), blocks: int = 0,
                 best: tuple[str, int] | None = None) -> Iterator[Chunk]:
    """The comparison columns of every combination of ``grid`` (checked by ``check_grid``; on top of the fixed
    ``base_params``) as ``Chunk``s in the order they finish, on the measured ``window`` of the feeds.

    "fast": tasks of at most ``chunk`` combinations (default ``engines.fast.CHUNK``) that each carry their slice of
    the grid; "backtrader": one run per combination, the first here and timed. Work is handed out in bounded
    batches, so closing this generator (or any exception) stops every worker at once. ``blocks`` > 0: each chunk's
    ``extras`` also hold its runs' "block sums" and "block squares" (runs x blocks) of their excess returns, and on
    Backtrader the "excess returns" themselves (float32), for ``research.guard``. ``best`` = (column, n): each fast
    chunk also sends the excess returns of its n best runs by that column ("best rows", "best excess returns")."""
    base = dict(base_params or {})
    start, end = window
    if engine == "fast":
        from engines import fast

        if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1):
            raise ConfigError(f"--chunk must be a whole number >= 1, not {chunk!r}")
        parts = 1 if executor == "local" and jobs == 1 else workers_for(executor, jobs)
        tasks = fast.grid_chunks(name, grid, base, settings, size=chunk or fast.CHUNK, parts=parts, start=start, end=end,
                                 blocks=blocks, best=best)
        bar = Progress(grid.size, "combinations", enabled=progress)
        with closing(iter_tasks(fast.grid_chunk_task, tasks, feeds, executor=executor, jobs=jobs, scheduler=scheduler,
                                progress=bar, size=lambda task: len(task.combos))) as done:
            for _, result in done:
                yield result
        return
    if engine != "backtrader":
        raise ConfigError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    items = (RunItem(name, params, settings, start, end) for params in GridSlice(grid, 0, grid.size, tuple(base.items())))
    if blocks:
        items = (MomentsItem(item, blocks) for item in items)
    with closing(run_measured(moments_task if blocks else metrics_task, items, grid.size, feeds,
                              label=f"{name} on the backtrader engine", progress=progress, executor=executor, jobs=jobs,
                              scheduler=scheduler, unit="combinations")) as done:
        for position, result in done:
            metrics, extras = result if blocks else (result, {})
            found = Chunk.of_rows(position, [metrics], COMPARISON_COLUMNS)
            found.extras.update(extras)
            yield found


def evaluate(name: str, combos: list[dict], feeds: FeedSet, settings: RunSettings, *, engine: str = "backtrader",
             executor: str = "local", jobs: int | None = None, scheduler: str | None = None, progress: bool = True,
             windows: list[tuple[str | None, str | None]] = ((None, None),), chunk: int | None = None) -> list[list[dict]]:
    """The comparison metrics of each of ``combos`` (full parameter sets) on ``engine``, for each measured window
    ``(start, end)`` of the feeds ((None, None): all of it): one list per window, in ``combos`` order. The fast
    engine's chunks (at most ``chunk`` combinations each) run on the same executors as Backtrader runs, all
    windows in one batch."""
    if engine == "fast":
        from engines import fast

        parts = 1 if executor == "local" and jobs == 1 else workers_for(executor, jobs)
        # the callers (run_walkforward, verify) pass combinations check_grid has validated
        tasks = [fast.chunks(name, combos, settings, size=chunk or fast.CHUNK, parts=parts, start=a, end=b, validate=False)
                 for a, b in windows]
        flat = [t for per_window in tasks for t in per_window]
        bar = Progress(len(combos) * len(windows), "combinations", enabled=progress)
        done: list = [None] * len(flat)
        with closing(iter_tasks(fast.chunk_task, flat, feeds, executor=executor, jobs=jobs, scheduler=scheduler,
                                progress=bar, size=lambda task: len(task.combos))) as results:
            for position, metrics in results:
                done[position] = metrics
        parts_done = iter(done)
        return [[m for _ in per_window for m in next(parts_done)] for per_window in tasks]
    if engine != "backtrader":
        raise ConfigError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    items = [RunItem(name, combo, settings, a, b) for a, b in windows for combo in combos]
    done = [None] * len(items)
    with closing(run_measured(metrics_task, items, len(items), feeds, label=f"{name} on the backtrader engine",
                              progress=progress, executor=executor, jobs=jobs, scheduler=scheduler,
                              unit="combinations" if len(windows) == 1 else "runs")) as results:
        for position, metrics in results:
            done[position] = metrics
    return [done[i * len(combos):(i + 1) * len(combos)] for i in range(len(windows))]


def verify(name: str, table: pd.DataFrame, grid: dict[str, list] | Grid, count: int, metric: str, feeds: FeedSet,
           settings: RunSettings, *, base_params: dict | None = None, executor: str = "local", jobs: int | None = None,
           scheduler: str | None = None) -> pd.DataFrame:
    """The ``count`` best rows of a fast-engine sweep of ``grid`` by ``metric`` re-run on Backtrader: whether the
    decisions and the trades (date, symbol, side, shares) are identical, and for each figure the fast value, the
    Backtrader value and their difference, side by side. ``table``: rows of the sweep that hold the best ones
    (``run_sweep``'s whole table, or ``research.results.top_rows``), each combination known by its ``combination``
    column, else by its position in the table."""
    from engines import fast
    from engines.fast.agreement import decisions_of, trades_of

    grid = Grid.of(grid)
    table = table if "combination" in table.columns else table.reset_index(drop=True).rename_axis("combination").reset_index()
    best = table.sort_values([metric, "combination"], ascending=[False, True], na_position="last").head(count)
    chosen = [grid.combo(int(i)) for i in best["combination"]]
    params = [{**(base_params or {}), **combo} for combo in chosen]
    runs = run_tasks(run_item, [RunItem(name, p, settings) for p in params], feeds, executor=executor, jobs=jobs,
                     scheduler=scheduler)
    recorded = fast.simulate(name, fast.full_params(name, params), feeds, settings, record=True)
    rows = []
    for k, (combo, (_, row), run) in enumerate(zip(chosen, best.iterrows(), runs)):
        out = dict(combo)
        out["decisions equal"] = decisions_of(name, recorded.decisions[k]) == decisions_of(name, run.decisions)
        out["trades equal"] = trades_of(recorded.fills[k]) == trades_of(run.trades)
        for column in VERIFY_COLUMNS:
            fast_value, bt_value = _plain(row[column]), run.metrics[column]
            out[f"{column} fast"] = fast_value
            out[f"{column} backtrader"] = bt_value
            out[f"{column} diff"] = None if fast_value is None or bt_value is None else fast_value - bt_value
        rows.append(out)
    return pd.DataFrame(rows)


def verify_text(checked: pd.DataFrame, grid_keys: list[str]) -> str:
    """The verification table as text: one row per combination, each figure as "fast | backtrader | diff"."""
    lines = []
    for _, row in checked.iterrows():
        params = ", ".join(f"{k}={_cell(row[k])}" for k in grid_keys)
        same = {what: ("identical" if row[f"{what} equal"] else "DIFFERENT") for what in ("decisions", "trades")}
        lines.append(f"{params}: decisions {same['decisions']}, trades {same['trades']}")
        for column in VERIFY_COLUMNS:
            fast_value, bt_value, diff = row[f"{column} fast"], row[f"{column} backtrader"], row[f"{column} diff"]
            digits = 0 if column.startswith("Final value") else 4
            gap = "n/a" if diff is None or diff != diff else f"{diff:+.1e}"
            lines.append(f"    {column:<22} {_num(fast_value, digits):>14} | {_num(bt_value, digits):>14} | {gap:>9}")
    return "\n".join(lines)


def _cell(value) -> str:
    value = _plain(value)
    return "off" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _num(value, digits: int) -> str:
    return "n/a" if value is None or value != value else f"{value:,.{digits}f}"


def _plain(value):
    """A table cell back as a parameter value (None for off, Python numbers for numpy ones)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def run_sweep(
    name: str,
    grid: dict[str, list] | Grid,
    feeds: FeedSet,
    settings: RunSettings,
    *,
    executor: str = "local",
    jobs: int | None = None,
    scheduler: str | None = None,
    base_params: dict | None = None,
    progress: bool = True,
    engine: str = "backtrader",
    max_combinations: int | None = None,
    chunk: int | None = None,
) -> pd.DataFrame:
    """One row per combination, in grid order: the parameters, then the comparison metrics, all in memory (the
    command streams them into a file instead: ``sweep_chunks`` and ``research.results.ResultsWriter``). ``engine``
    "fast" runs the combinations in chunks on the fast engine (``engines.fast``), "backtrader" one Backtrader run
    each (the first timed, with the estimate for the rest printed). Every combination is checked first
    (``check_grid``), and the history the grid needs (``history_cases``)."""
    entry = resolve(name)
    if not Grid.of(grid).keys:
        raise ConfigError("sweep: empty grid; give at least one --grid KEY=VALUES")
    grid = check_grid(entry.name, grid, base_params, max_combinations=max_combinations or default_limit(engine))
    check_history_of_all(entry, list(history_cases(entry.name, grid, base_params)), feeds)
    chunks = sorted(sweep_chunks(entry.name, grid, feeds, settings, base_params=base_params, engine=engine,
                                 executor=executor, jobs=jobs, scheduler=scheduler, progress=progress, chunk=chunk),
                    key=lambda c: c.first)
    figures = pd.DataFrame({c: np.concatenate([chunk.columns[c] for chunk in chunks]) for c in COMPARISON_COLUMNS})
    params = pd.DataFrame(grid.combos(), columns=list(grid.keys))
    return pd.concat([params, figures], axis=1)
