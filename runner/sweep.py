"""Parameter sweeps: one strategy over a grid of parameters, a results table and a heatmap.

    run_backtest.py sweep --strategy rotation --grid lookback=21:252:21 --grid vix_level=25,30,35,off \\
        --grid breaker_drawdown=off,0.05,0.10 --x lookback --y vix_level --metric "CAGR [%]"
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
import time
from pathlib import Path

import pandas as pd

from feeds import FeedSet
from feeds.atomic import atomic_write, atomic_write_text

from .config import ConfigError, parse_value
from .engine import COMPARISON_COLUMNS, RunError, RunItem, RunSettings, check_history_of_all, check_params, resolve, run_item
from .executors import EXECUTORS, Progress, run_tasks

DEFAULT_METRIC = "CAGR [%]"
ENGINES = ("backtrader", "fast")
VERIFY_COLUMNS = ("CAGR [%]", "Max drawdown [%]", "Sharpe", "Monthly win rate [%]", "Final value [$]")
DEFAULT_OUTPUT = "output/sweep"
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
    """Every combination of the grid, in a stable order."""
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def grid_size(grid: dict[str, list]) -> int:
    """The number of combinations, without making them."""
    return math.prod(len(v) for v in grid.values())


def check_grid(name: str, grid: dict[str, list], base_params: dict | None = None, *,
               max_combinations: int = MAX_COMBINATIONS, runs_per_combination: int = 1) -> list[dict]:
    """The grid's combinations, each checked by the strategy's own parameter validation, before any run.

    ConfigError when the grid has more than ``max_combinations`` combinations (saying how to go on), or naming
    the first combination, parameter and value the strategy refuses."""
    entry = resolve(name)
    size = grid_size(grid)
    if size > max_combinations:
        shape = " x ".join(f"{len(v)} {k}" for k, v in grid.items())
        raise ConfigError(
            f"the grid has {size:,} combinations ({shape}){f', {size * runs_per_combination:,} runs' if runs_per_combination > 1 else ''}, "
            f"more than the limit of {max_combinations:,}: use fewer values per key (a larger STEP), or pass "
            f"--max-combinations {size} to run it anyway"
        )
    combos = combinations(grid)
    for i, combo in enumerate(combos, 1):
        try:
            check_params(entry, {**(base_params or {}), **combo})
        except RunError as exc:
            shown = ", ".join(f"{k}={v}" for k, v in combo.items())
            raise ConfigError(f"grid combination {i:,} of {size:,} ({shown}): {exc}") from None
    return combos


def add_limit_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-combinations", type=int, metavar="N",
                        help=f"refuse a grid of more than N combinations (default: {MAX_COMBINATIONS:,}; "
                             f"{MAX_FAST_COMBINATIONS:,} with --engine fast)")


def max_combinations(args, section: dict, engine: str = "backtrader") -> int:
    """--max-combinations, else the config section's max_combinations, else the engine's ``default_limit``;
    ConfigError if < 1."""
    value = getattr(args, "max_combinations", None)
    value = section.get("max_combinations", default_limit(engine)) if value is None else value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"--max-combinations must be a whole number >= 1, not {value!r}")
    return value


def estimate_line(name: str, count: int, seconds: float, workers: int) -> str:
    """What the first run took and how long the rest should take."""
    rest = seconds * (count - 1) / max(1, min(workers, count - 1))
    shown = f"{rest / 60:.1f} min" if rest >= 120 else f"{rest:.0f} s" if rest >= 10 else f"{rest:.1f} s"
    return (f"{name}: {count:,} runs; the first took {seconds:.2f} s, so the other {count - 1:,} should take about "
            f"{shown} on {workers} process(es)")


def run_measured(task, items: list, feeds, *, label: str, progress: bool, executor: str, jobs, scheduler, unit: str) -> list:
    """Run ``items[0]`` here and time it, print the estimate for the rest, then run the rest with ``run_tasks``."""
    started = time.perf_counter()
    first = task(feeds, items[0])
    took = time.perf_counter() - started
    if len(items) == 1:
        return [first]
    workers = jobs or (os.cpu_count() or 1) if executor == "local" else (jobs or 1)
    if progress:
        print(estimate_line(label, len(items), took, workers), file=sys.stderr, flush=True)
    bar = Progress(len(items) - 1, unit, enabled=progress)
    return [first, *run_tasks(task, items[1:], feeds, executor=executor, jobs=jobs, scheduler=scheduler, progress=bar)]


def metrics_task(feeds: FeedSet, item: RunItem) -> dict:
    """Executor task: the comparison metrics of one combination (small, so memory stays flat)."""
    return run_item(feeds, item).metrics


def evaluate(name: str, combos: list[dict], feeds: FeedSet, settings: RunSettings, *, engine: str = "backtrader",
             executor: str = "local", jobs: int | None = None, scheduler: str | None = None, progress: bool = True,
             windows: list[tuple[str | None, str | None]] = ((None, None),)) -> list[list[dict]]:
    """The comparison metrics of each of ``combos`` (full parameter sets) on ``engine``, for each measured window
    ``(start, end)`` of the feeds ((None, None): all of it): one list per window, in ``combos`` order. The fast
    engine's chunks run on the same executors as Backtrader runs, all windows in one batch."""
    if engine == "fast":
        from . import fast

        parts = 1 if executor == "local" and jobs == 1 else (jobs or os.cpu_count() or 1)
        # the callers (run_sweep, run_walkforward, verify) pass combinations check_grid has validated
        tasks = [fast.chunks(name, combos, settings, parts=parts, start=a, end=b, validate=False) for a, b in windows]
        flat = [t for per_window in tasks for t in per_window]
        bar = Progress(len(combos) * len(windows), "combinations", enabled=progress)
        done = iter(run_tasks(fast.chunk_task, flat, feeds, executor=executor, jobs=jobs, scheduler=scheduler,
                              progress=_ChunkProgress(bar, [len(t.combos) for t in flat])))
        return [[m for _ in per_window for m in next(done)] for per_window in tasks]
    if engine != "backtrader":
        raise ConfigError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    items = [RunItem(name, combo, settings, a, b) for a, b in windows for combo in combos]
    done = run_measured(metrics_task, items, feeds, label=f"{name} on the backtrader engine", progress=progress,
                        executor=executor, jobs=jobs, scheduler=scheduler, unit="combinations" if len(windows) == 1 else "runs")
    return [done[i * len(combos):(i + 1) * len(combos)] for i in range(len(windows))]


class _ChunkProgress:
    """Adapts a per-combination Progress to tasks that each finish a chunk (in completion order)."""

    def __init__(self, bar: Progress, sizes: list[int]) -> None:
        self.bar, self.mean = bar, sum(sizes) / max(len(sizes), 1)
        self.left = len(sizes)

    def update(self, n: int = 1) -> None:
        self.left -= n
        self.bar.update(self.bar.total - self.bar.done if self.left <= 0 else round(self.mean * n))


def verify(name: str, table: pd.DataFrame, grid: dict[str, list], count: int, metric: str, feeds: FeedSet,
           settings: RunSettings, *, base_params: dict | None = None, executor: str = "local", jobs: int | None = None,
           scheduler: str | None = None) -> pd.DataFrame:
    """The ``count`` best rows of a fast-engine sweep (``run_sweep``'s table of ``grid``) by ``metric`` re-run on
    Backtrader: for each figure the fast value, the Backtrader value and their difference, side by side."""
    best = table.reset_index(drop=True).sort_values(metric, ascending=False, na_position="last").head(count)
    combos = combinations(grid)
    chosen = [combos[i] for i in best.index]
    checked, = evaluate(name, [{**(base_params or {}), **combo} for combo in chosen], feeds, settings,
                        engine="backtrader", executor=executor, jobs=jobs, scheduler=scheduler, progress=False)
    rows = []
    for combo, (_, row), bt_metrics in zip(chosen, best.iterrows(), checked):
        out = dict(combo)
        for column in VERIFY_COLUMNS:
            fast_value, bt_value = row[column], bt_metrics[column]
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
        lines.append(params)
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
    grid: dict[str, list],
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
) -> pd.DataFrame:
    """One row per combination: the parameters, then the comparison metrics. ``engine`` "fast" runs the
    combinations in chunks on the fast engine (``runner.fast``), "backtrader" one Backtrader run each (the first
    timed, with the estimate for the rest printed). Every combination is checked first (``check_grid``)."""
    entry = resolve(name)
    if not grid:
        raise ConfigError("sweep: empty grid; give at least one --grid KEY=VALUES")
    combos = check_grid(entry.name, grid, base_params, max_combinations=max_combinations or default_limit(engine))
    param_sets = [{**(base_params or {}), **combo} for combo in combos]
    check_history_of_all(entry, param_sets, feeds)
    metrics, = evaluate(entry.name, param_sets, feeds, settings,
                        engine=engine, executor=executor, jobs=jobs, scheduler=scheduler, progress=progress)
    rows = [{**combo, **m} for combo, m in zip(combos, metrics)]
    return pd.DataFrame(rows, columns=[*grid, *COMPARISON_COLUMNS])


def heatmap_grid(table: pd.DataFrame, x: str, y: str, metric: str) -> pd.DataFrame:
    """``metric`` pivoted to ``y`` rows by ``x`` columns (labels as the command line writes them, None as "off";
    grid order kept), the best value over any other parameters."""
    from .report import format_param

    for column in (x, y, metric):
        if column not in table.columns:
            raise ConfigError(f"heatmap: no column {column!r}; columns are {', '.join(map(str, table.columns))}")
    labelled = table.assign(**{x: table[x].astype(object).map(format_param), y: table[y].astype(object).map(format_param)})
    return labelled.pivot_table(index=y, columns=x, values=metric, aggfunc="max", sort=False)


def heatmap(table: pd.DataFrame, x: str, y: str, metric: str, path: str | Path, title: str = "", context: str = "") -> Path:
    """``heatmap_figure`` saved as PNG (atomically)."""
    import matplotlib.pyplot as plt

    fig = heatmap_figure(table, x, y, metric, title, context)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=130, format="png"))
    plt.close(fig)
    return Path(path)


def heatmap_figure(table: pd.DataFrame, x: str, y: str, metric: str, title: str = "", context: str = ""):
    """A heatmap of ``metric`` over parameters ``x`` and ``y`` (the best value over any other parameters), each
    cell printed to 2 decimals, the metric and the parameters in the title (after ``context``, e.g. the strategy
    and period)."""
    import matplotlib.pyplot as plt

    pivot = heatmap_grid(table, x, y, metric)
    values = pivot.to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(max(7.0, 2.8 + 0.85 * len(pivot.columns)), max(4.5, 2.0 + 0.55 * len(pivot.index))))
    image = ax.imshow(values, aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(pivot.columns)), pivot.columns)
    ax.set_yticks(range(len(pivot.index)), pivot.index)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    finite = values[~pd.isna(values)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0.0
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            value = values[i, j]
            text = "n/a" if math.isnan(value) else f"{value:.2f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=9,
                    color="black" if not math.isnan(value) and value > middle else "white")
    others = [c for c in table.columns if c not in (x, y) and c not in COMPARISON_COLUMNS]
    ax.set_title(title or (f"{context}: " if context else "") + f"{metric} by {x} and {y}"
                 + (f"\n(best over {', '.join(others)})" if others else ""))
    fig.colorbar(image, ax=ax, label=metric)
    fig.tight_layout()
    return fig


def write_table(table: pd.DataFrame, folder: Path, stem: str, meta: dict, param_columns=()) -> list[Path]:
    """CSV and JSON (with the settings) of a results table, atomically. In the CSV, ``param_columns`` are written
    as the command line writes them (None as "off"); the JSON keeps null."""
    from .report import format_param

    document = {**meta, "rows": json.loads(table.to_json(orient="records"))}
    shown = table.assign(**{c: table[c].map(format_param) for c in param_columns})
    return [
        atomic_write_text(folder / f"{stem}.csv", shown.to_csv(index=False)),
        atomic_write_text(folder / f"{stem}.json", json.dumps(document, indent=2, default=str) + "\n"),
    ]


def escape_help(text: str) -> str:
    """``text`` safe inside an argparse help string (argparse %-formats help: "CAGR [%]" would crash --help)."""
    return text.replace("%", "%%")


def add_executor_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("execution")
    group.add_argument("--executor", choices=EXECUTORS, help="local process pool or a Dask cluster (default: local)")
    group.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler address, e.g. tcp://127.0.0.1:8786 (with --executor dask)")
    group.add_argument("--engine", choices=ENGINES,
                       help="backtrader: one event-driven run per combination; fast: the built-in strategies' "
                            "combinations in chunks over numpy arrays, proven equal in tests (default: backtrader)")


def add_subcommand(subparsers, parents: dict) -> None:
    """Plug the ``sweep`` command into the runner's CLI."""
    parser = subparsers.add_parser("sweep", parents=[parents["run"], parents["strategies"]],
                                   help="run one strategy over a parameter grid; table and heatmap")
    parser.add_argument("--strategy", help="registered strategy to sweep (default: rotation, or [sweep] strategy)")
    parser.add_argument("--grid", action="append", default=[], metavar="KEY=VALUES",
                        help="parameter values, repeatable: KEY=START:STOP:STEP or KEY=V1,V2,off")
    parser.add_argument("--metric", help=f"metric of the heatmap (default: {escape_help(DEFAULT_METRIC)})")
    parser.add_argument("--x", help="heatmap x parameter (default: the first grid key)")
    parser.add_argument("--y", help="heatmap y parameter (default: the second grid key)")
    parser.add_argument("--output", help=f"output folder (default: {DEFAULT_OUTPUT})")
    parser.add_argument("--verify", type=int, metavar="K",
                        help="with --engine fast: re-run the K best combinations on Backtrader and print both (default: 0)")
    add_limit_option(parser)
    add_executor_options(parser)
    parser.set_defaults(func=cmd_sweep)


def sweep_options(args, config: dict) -> dict:
    """Sweep options from [sweep] in the config, overridden by the command line."""
    section = dict(config.get("sweep", {}))
    known = {"strategy", "grid", "metric", "x", "y", "output", "executor", "scheduler", "engine", "verify", "max_combinations"}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ConfigError(f"[sweep]: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    grid = grid_from_config(section.get("grid", {}))
    grid.update(parse_grid(getattr(args, "grid", [])))
    options = {k: section.get(k) for k in known - {"grid", "max_combinations"}}
    for key in ("strategy", "metric", "x", "y", "output", "executor", "scheduler", "engine", "verify"):
        if getattr(args, key, None) is not None:
            options[key] = getattr(args, key)
    options["engine"] = options["engine"] or "backtrader"
    if options["engine"] not in ENGINES:
        raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, not {options['engine']!r}")
    options["max_combinations"] = max_combinations(args, section, options["engine"])
    verify_count = options["verify"] or 0
    if isinstance(verify_count, bool) or not isinstance(verify_count, int) or verify_count < 0:
        raise ConfigError(f"--verify must be a whole number >= 0, not {verify_count!r}")
    if verify_count and options["engine"] != "fast":
        raise ConfigError("--verify K re-runs a fast-engine sweep's best combinations on Backtrader: add --engine fast")
    options["verify"] = verify_count
    options["grid"] = grid
    options["strategy"] = options["strategy"] or "rotation"
    options["metric"] = options["metric"] or DEFAULT_METRIC
    options["executor"] = options["executor"] or "local"
    if options["metric"] not in COMPARISON_COLUMNS:
        raise ConfigError(f"--metric {options['metric']!r} is not one of: {', '.join(COMPARISON_COLUMNS)}")
    return options


def cmd_sweep(args) -> int:
    from .cli import load_feeds, print_written, resolve_run
    from .output import RunFolder
    from .report import format_table

    settings, config = resolve_run(args)
    options = sweep_options(args, config)
    grid = options["grid"]
    keys = list(grid)
    x, y = options["x"] or keys[0] if keys else None, options["y"] or (keys[1] if len(keys) > 1 else None)
    base = config["params"].get(options["strategy"], {})
    if not grid:
        raise ConfigError("sweep: empty grid; give at least one --grid KEY=VALUES")
    combos = check_grid(options["strategy"], grid, base, max_combinations=options["max_combinations"])  # before loading data
    with RunFolder(options["output"] or DEFAULT_OUTPUT, args.argv, config) as run:
        output = run.path
        feeds = load_feeds(settings, config, [(options["strategy"], {**base, **combo}) for combo in combos])
        engine, jobs = options["engine"], config["run"].get("jobs")
        started = time.perf_counter()
        table = run_sweep(options["strategy"], grid, feeds, settings, executor=options["executor"],
                          jobs=jobs, scheduler=options["scheduler"], base_params=base, engine=engine,
                          max_combinations=options["max_combinations"])
        elapsed = time.perf_counter() - started
        meta = {"strategy": options["strategy"], "engine": engine, "settings": settings.__dict__, "grid": grid,
                "data sources": feeds.sources, "data notes": list(feeds.notes)}
        checked = None
        if options["verify"]:
            checked = verify(options["strategy"], table, grid, options["verify"], options["metric"], feeds, settings,
                             base_params=base, executor=options["executor"], jobs=jobs, scheduler=options["scheduler"])
            meta["verified on backtrader"] = json.loads(checked.to_json(orient="records"))
        write_table(table, output, "sweep", meta, param_columns=keys)
        best = table.sort_values(options["metric"], ascending=False).head(10)
        print(f"\nSweep of {options['strategy']} on the {engine} engine: {len(table)} combinations in {elapsed:.1f} s, "
              f"top 10 by {options['metric']}:")
        print(format_table(best, param_columns=keys, index=False))
        if checked is not None:
            print(f"\nThe {len(checked)} best re-run on the Backtrader engine (fast | backtrader | difference):")
            print(verify_text(checked, keys))
        if x and y:
            heatmap(table, x, y, options["metric"], output / "heatmap.png",
                    context=f"{options['strategy']}, {feeds.start.date()} .. {feeds.end.date()}")
        from .html_report import sweep_report, write_report

        write_report(output, sweep_report(table, options["strategy"], options["metric"], x, y, settings, feeds,
                                          engine=engine, verified=checked))
        run.commit(feeds.sources)
    print_written(run)
    return 0
