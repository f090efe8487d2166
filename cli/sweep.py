"""The ``sweep`` command: options, the run, what it prints and writes."""
from __future__ import annotations

import argparse
import json
import re
import time

from engines.engine import COMPARISON_COLUMNS
from engines.executors import EXECUTORS
from engines.params import ConfigError
from reports.html_report import sweep_report, write_report
from reports.plots import heatmap
from reports.tables import format_table, write_table
from research.sweep import (
    DEFAULT_METRIC,
    ENGINES,
    MAX_COMBINATIONS,
    MAX_FAST_COMBINATIONS,
    check_grid,
    default_limit,
    grid_from_config,
    parse_grid,
    run_sweep,
    verify,
    verify_text,
)

from .output import RunFolder
from .run import check_params_used, load_feeds, origin, output_folder, print_written, resolve_run

DEFAULT_OUTPUT = "output/sweep"


def add_limit_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-combinations", type=int, metavar="N",
                        help=f"refuse a grid of more than N combinations (default: {MAX_COMBINATIONS:,}; "
                             f"{MAX_FAST_COMBINATIONS:,} with --engine fast)")


def max_combinations(args, section: dict, engine: str = "backtrader", section_name: str = "sweep") -> int:
    """--max-combinations, else the config section's max_combinations, else the engine's ``default_limit``;
    ConfigError if < 1, naming the option or the config file's key."""
    value = getattr(args, "max_combinations", None)
    value = section.get("max_combinations", default_limit(engine)) if value is None else value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{origin(args, 'max_combinations', section_name)} must be a whole number >= 1, not {value!r}")
    return value


def metric_column(name: str, label: str = "--metric", columns=COMPARISON_COLUMNS) -> str:
    """The comparison column ``name`` means: the column itself, or its name without the unit in any case
    ("sharpe" -> "Sharpe", "cagr" -> "CAGR [%]", "max_drawdown" -> "Max drawdown [%]"), or the one column it starts.
    ConfigError naming ``label`` for an unknown or ambiguous name ("s": Sharpe, Sortino, Switches per year)."""
    def plain(text: str) -> str:
        return re.sub(r"[\s_-]+", " ", re.sub(r"\[.*?\]", "", str(text))).strip().lower()

    if name in columns:
        return name
    wanted = plain(name)
    for found in ([c for c in columns if plain(c) == wanted], [c for c in columns if wanted and plain(c).startswith(wanted)]):
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise ConfigError(f"{label} {name!r} is ambiguous: it could be {', '.join(found)}")
    raise ConfigError(f"{label} {name!r} is not one of: {', '.join(columns)} (the unit and case may be left out: sharpe, cagr)")


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
    parser.add_argument("--metric", help=f"metric of the heatmap, a comparison column; the unit and case may be left out, "
                                         f"e.g. sharpe, cagr (default: {escape_help(DEFAULT_METRIC)})")
    parser.add_argument("--x", help="heatmap x parameter (default: the first grid key)")
    parser.add_argument("--y", help="heatmap y parameter (default: the second grid key)")
    parser.add_argument("--output", help=f"output folder (default: {DEFAULT_OUTPUT})")
    parser.add_argument("--verify", type=int, metavar="K",
                        help="with --engine fast: re-run the K best combinations on Backtrader and print both (default: 0)")
    add_limit_option(parser)
    add_executor_options(parser)
    parser.set_defaults(func=cmd_sweep, default_output=DEFAULT_OUTPUT)


def sweep_options(args, config: dict, section_name: str = "sweep") -> dict:
    """Sweep options from [sweep] (or ``section_name``) in the config, overridden by the command line."""
    section = dict(config.get("sweep", {}))
    known = {"strategy", "grid", "metric", "x", "y", "output", "executor", "scheduler", "engine", "verify", "max_combinations"}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ConfigError(f"config file {getattr(args, 'config', None)}: [{section_name}] unknown key(s) {', '.join(unknown)}; "
                          f"known: {', '.join(sorted(known))}")
    grid = grid_from_config(section.get("grid", {}))
    grid.update(parse_grid(getattr(args, "grid", [])))
    options = {k: section.get(k) for k in known - {"grid", "max_combinations"}}
    for key in ("strategy", "metric", "x", "y", "output", "executor", "scheduler", "engine", "verify"):
        if getattr(args, key, None) is not None:
            options[key] = getattr(args, key)
    options["engine"] = options["engine"] or "backtrader"
    if options["engine"] not in ENGINES:
        raise ConfigError(f"{origin(args, 'engine', section_name)} must be one of {', '.join(ENGINES)}, not {options['engine']!r}")
    options["max_combinations"] = max_combinations(args, section, options["engine"], section_name)
    verify_count = options["verify"] or 0
    if isinstance(verify_count, bool) or not isinstance(verify_count, int) or verify_count < 0:
        raise ConfigError(f"{origin(args, 'verify', section_name)} must be a whole number >= 0, not {verify_count!r}")
    if verify_count and options["engine"] != "fast":
        raise ConfigError("--verify K re-runs a fast-engine sweep's best combinations on Backtrader: add --engine fast")
    options["verify"] = verify_count
    options["grid"] = grid
    options["strategy"] = options["strategy"] or "rotation"
    options["metric"] = options["metric"] or DEFAULT_METRIC
    options["executor"] = options["executor"] or "local"
    options["output"] = output_folder(options["output"], origin(args, "output", section_name), getattr(args, "default_output", DEFAULT_OUTPUT))
    options["metric"] = metric_column(options["metric"], origin(args, "metric", section_name))
    return options


def cmd_sweep(args) -> int:

    settings, config = resolve_run(args)
    options = sweep_options(args, config)
    grid = options["grid"]
    keys = list(grid)
    x, y = options["x"] or keys[0] if keys else None, options["y"] or (keys[1] if len(keys) > 1 else None)
    base = config["params"].get(options["strategy"], {})
    if not grid:
        raise ConfigError("sweep: empty grid; give at least one --grid KEY=VALUES")
    for axis, key in (("--x", x), ("--y", y)):
        if key is not None and key not in grid:
            raise ConfigError(f"{axis} {key}: not a grid parameter; the grid has {', '.join(keys)}")
    if x is not None and x == y:
        named = "--x and --y are" if options["x"] else "--y and the heatmap's x (the first grid key) are"
        raise ConfigError(f"{named} both {x}: the heatmap needs two different grid parameters")
    combos = check_grid(options["strategy"], grid, base, max_combinations=options["max_combinations"])  # before loading data
    check_params_used(args, config, [options["strategy"]])
    with RunFolder(options["output"], args.argv, config) as run:
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

        write_report(output, sweep_report(table, options["strategy"], options["metric"], x, y, settings, feeds,
                                          engine=engine, verified=checked))
        run.commit(feeds.sources, feeds.accepted_bars)
    print_written(run)
    return 0


