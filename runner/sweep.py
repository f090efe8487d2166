"""Parameter sweeps: one strategy over a grid of parameters, a results table and a heatmap.

    run_backtest.py sweep --strategy rotation --grid lookback=21:252:21 --grid vix_level=25,30,35,off \\
        --grid breaker_drawdown=off,0.05,0.10 --x lookback --y vix_level --metric "CAGR [%]"
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
from pathlib import Path

import pandas as pd

from feeds import FeedSet
from feeds.atomic import atomic_write, atomic_write_text

from .config import ConfigError, parse_value
from .engine import COMPARISON_COLUMNS, RunItem, RunSettings, merged_params, resolve, run_item
from .executors import EXECUTORS, Progress, run_tasks

DEFAULT_METRIC = "CAGR [%]"
DEFAULT_OUTPUT = "output/sweep"


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


def metrics_task(feeds: FeedSet, item: RunItem) -> dict:
    """Executor task: the comparison metrics of one combination (small, so memory stays flat)."""
    return run_item(feeds, item).metrics


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
) -> pd.DataFrame:
    """One row per combination: the parameters, then the comparison metrics."""
    entry = resolve(name)
    if not grid:
        raise ConfigError("sweep: empty grid; give at least one --grid KEY=VALUES")
    combos = combinations(grid)
    for combo in combos[:1]:
        merged_params(entry, {**(base_params or {}), **combo})  # unknown parameter names: clear error now
    items = [RunItem(entry.name, {**(base_params or {}), **combo}, settings) for combo in combos]
    bar = Progress(len(items), "combinations", enabled=progress)
    metrics = run_tasks(metrics_task, items, feeds, executor=executor, jobs=jobs, scheduler=scheduler, progress=bar)
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


def heatmap(table: pd.DataFrame, x: str, y: str, metric: str, path: str | Path, title: str = "") -> Path:
    """``heatmap_figure`` saved as PNG (atomically)."""
    import matplotlib.pyplot as plt

    fig = heatmap_figure(table, x, y, metric, title)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=130, format="png"))
    plt.close(fig)
    return Path(path)


def heatmap_figure(table: pd.DataFrame, x: str, y: str, metric: str, title: str = ""):
    """A heatmap of ``metric`` over parameters ``x`` and ``y`` (the best value over any other parameters), each
    cell printed to 2 decimals, the metric and the parameters in the title."""
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
    ax.set_title(title or f"{metric} by {x} and {y}" + (f"\n(best over {', '.join(others)})" if others else ""))
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
    add_executor_options(parser)
    parser.set_defaults(func=cmd_sweep)


def sweep_options(args, config: dict) -> dict:
    """Sweep options from [sweep] in the config, overridden by the command line."""
    section = dict(config.get("sweep", {}))
    known = {"strategy", "grid", "metric", "x", "y", "output", "executor", "scheduler"}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ConfigError(f"[sweep]: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    grid = grid_from_config(section.get("grid", {}))
    grid.update(parse_grid(getattr(args, "grid", [])))
    options = {k: section.get(k) for k in known - {"grid"}}
    for key in ("strategy", "metric", "x", "y", "output", "executor", "scheduler"):
        if getattr(args, key, None) is not None:
            options[key] = getattr(args, key)
    options["grid"] = grid
    options["strategy"] = options["strategy"] or "rotation"
    options["metric"] = options["metric"] or DEFAULT_METRIC
    options["executor"] = options["executor"] or "local"
    if options["metric"] not in COMPARISON_COLUMNS:
        raise ConfigError(f"--metric {options['metric']!r} is not one of: {', '.join(COMPARISON_COLUMNS)}")
    return options


def cmd_sweep(args) -> int:
    from .cli import load_feeds, resolve_run
    from .report import format_table

    settings, config = resolve_run(args)
    options = sweep_options(args, config)
    grid = options["grid"]
    keys = list(grid)
    x, y = options["x"] or keys[0] if keys else None, options["y"] or (keys[1] if len(keys) > 1 else None)
    base = config["params"].get(options["strategy"], {})
    feeds = load_feeds(settings, config, [(options["strategy"], {**base, **combo}) for combo in combinations(grid)])
    table = run_sweep(options["strategy"], grid, feeds, settings, executor=options["executor"],
                      jobs=config["run"].get("jobs"), scheduler=options["scheduler"], base_params=base)
    output = Path(options["output"] or DEFAULT_OUTPUT)
    meta = {"strategy": options["strategy"], "settings": settings.__dict__, "grid": grid, "data sources": feeds.sources}
    written = write_table(table, output, "sweep", meta, param_columns=keys)
    best = table.sort_values(options["metric"], ascending=False).head(10)
    print(f"\nSweep of {options['strategy']}: {len(table)} combinations, top 10 by {options['metric']}:")
    print(format_table(best, param_columns=keys, index=False))
    if x and y:
        written.append(heatmap(table, x, y, options["metric"], output / "heatmap.png"))
    from .html_report import sweep_report, write_report

    written.append(write_report(output, sweep_report(table, options["strategy"], options["metric"], x, y, settings, feeds)))
    print("\nWrote: " + ", ".join(str(p) for p in written))
    return 0
