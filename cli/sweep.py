"""The ``sweep`` command: options, the run, what it prints and writes."""
from __future__ import annotations

import argparse
import json
import math
import re
import time
from contextlib import closing

from engines.engine import COMPARISON_COLUMNS, check_history_of_all, resolve
from engines.executors import EXECUTORS
from engines.params import ConfigError, format_param
from feeds.atomic import atomic_write_text
from reports import sweep_plots
from reports.html_report import sweep_report, write_report
from reports.tables import ROTATION_CLAIMS, format_table
from research import overfitting
from research.guard import DEFAULT_TOP, MAX_TOP, GuardCollector, check_blocks, effective_blocks, guard, guard_text, measured_sessions
from research.results import ResultsWriter, summarize, write_csv
from research.sweep import (
    DEFAULT_METRIC,
    ENGINES,
    MAX_COMBINATIONS,
    MAX_FAST_COMBINATIONS,
    RANKED_METRICS,
    check_grid,
    default_limit,
    grid_from_config,
    history_cases,
    parse_grid,
    sweep_chunks,
    verify,
    verify_text,
)

from .output import RunFolder
from .run import check_params_used, load_feeds, origin, output_folder, print_written, resolve_run

DEFAULT_OUTPUT = "output/sweep"
RESULTS_FILE = "sweep.parquet"
# sweep.csv is written too up to this many combinations (about 23 MB); above it the Parquet file alone holds every row
CSV_MAX_ROWS = 100_000


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


def ranked_metric(name: str, label: str = "--metric") -> str:
    """``metric_column``, refused (ConfigError naming ``label``) unless higher is better for it
    (``research.sweep.RANKED_METRICS``): a sweep ranks its best first by the highest value."""
    column = metric_column(name, label)
    if column not in RANKED_METRICS:
        raise ConfigError(f"{label} {name!r}: a sweep ranks the highest value first, and a higher {column} is not a "
                          f"better result; rank by one of {', '.join(RANKED_METRICS)}")
    return column


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
    group.add_argument("--chunk", type=int, metavar="N",
                       help="with --engine fast: combinations per task at most (default: 5,000; smaller uses less "
                            "memory per worker)")


def one_strategy(args, options: dict, command: str) -> str:
    """The one strategy a sweep or walk-forward runs: --strategy, or --strategies when it names exactly one (the
    option the other commands take); ConfigError when --strategies names several, or another than --strategy."""
    named = [n.strip() for n in (getattr(args, "strategies", None) or "").split(",") if n.strip()]
    if not named:
        return options["strategy"] or "rotation"
    if len(named) > 1:
        raise ConfigError(f"{command} runs one strategy, but --strategies names {len(named)} ({', '.join(named)}); "
                          f"give one (--strategy NAME), or run the command once per strategy")
    chosen = getattr(args, "strategy", None)
    if chosen and chosen != named[0]:
        raise ConfigError(f"{command}: --strategy {chosen} and --strategies {named[0]} name different strategies; give one")
    resolve(named[0])  # an unknown name: the registry's error, naming the known ones
    return named[0]


def add_subcommand(subparsers, parents: dict) -> None:
    """Plug the ``sweep`` command into the runner's CLI."""
    parser = subparsers.add_parser("sweep", parents=[parents["run"], parents["strategies"]],
                                   help="run one strategy over a parameter grid; table and heatmap")
    parser.add_argument("--strategy", help="registered strategy to sweep (default: rotation, or [sweep] strategy)")
    parser.add_argument("--grid", action="append", default=[], metavar="KEY=VALUES",
                        help="parameter values, repeatable: KEY=START:STOP:STEP or KEY=V1,V2,off")
    parser.add_argument("--metric", help=f"what ranks the combinations (highest first) and colours the heatmap: one of "
                                         f"{escape_help(', '.join(RANKED_METRICS))}; the unit and case may be left "
                                         f"out, e.g. sharpe, cagr (default: {escape_help(DEFAULT_METRIC)})")
    parser.add_argument("--x", help="heatmap x parameter (default: the first grid key)")
    parser.add_argument("--y", help="heatmap y parameter (default: the second grid key)")
    parser.add_argument("--output", help=f"output folder (default: {DEFAULT_OUTPUT})")
    parser.add_argument("--verify", type=int, metavar="K",
                        help="with --engine fast: re-run the K best combinations on Backtrader and print both (default: 0)")
    group = parser.add_argument_group("luck check (deflated Sharpe, PBO, SPA: see README 'How much of a best is luck')")
    group.add_argument("--pbo-blocks", type=int, metavar="S",
                       help=f"CSCV blocks for the probability of backtest overfitting, even (default: {overfitting.DEFAULT_BLOCKS})")
    group.add_argument("--spa-top", type=int, metavar="K",
                       help=f"SPA candidates: the K best trials by the metric, 1 to {MAX_TOP:,} (default: {DEFAULT_TOP})")
    group.add_argument("--target", metavar="CAGR,MAXDD",
                       help="does any combination reach a CAGR [%%] at least CAGR with a max drawdown [%%] no worse than "
                            "MAXDD, e.g. 15.2,-16.8; 'card' = the rotation card's published 15.2%% and -16.8%%")
    add_limit_option(parser)
    add_executor_options(parser)
    parser.set_defaults(func=cmd_sweep, default_output=DEFAULT_OUTPUT)


def parse_target(text: str | None) -> dict | None:
    """--target "CAGR,MAXDD" or "card" as {"CAGR [%]": ..., "Max drawdown [%]": ...} (None when not given)."""
    if text is None:
        return None
    if str(text).strip().lower() == "card":
        return {column: float(value) for _, value, column in ROTATION_CLAIMS if column in ("CAGR [%]", "Max drawdown [%]")}
    try:
        cagr, drawdown = (float(v) for v in str(text).split(","))
    except ValueError:
        raise ConfigError(f"--target {text!r}: expected CAGR,MAXDD in percent, e.g. 15.2,-16.8, or 'card'") from None
    if not (math.isfinite(cagr) and math.isfinite(drawdown)):
        raise ConfigError(f"--target {text!r}: CAGR and max drawdown must be finite numbers, e.g. 15.2,-16.8")
    if drawdown > 0:
        raise ConfigError(f"--target {text!r}: the max drawdown is negative or 0, e.g. -16.8")
    return {"CAGR [%]": cagr, "Max drawdown [%]": drawdown}


def sweep_options(args, config: dict, section_name: str = "sweep") -> dict:
    """Sweep options from [sweep] (or ``section_name``) in the config, overridden by the command line."""
    section = dict(config.get("sweep", {}))
    known = {"strategy", "grid", "metric", "x", "y", "output", "executor", "scheduler", "engine", "verify", "max_combinations",
             "chunk", "pbo_blocks", "spa_top", "target"}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ConfigError(f"config file {getattr(args, 'config', None)}: [{section_name}] unknown key(s) {', '.join(unknown)}; "
                          f"known: {', '.join(sorted(known))}")
    grid = grid_from_config(section.get("grid", {}))
    grid.update(parse_grid(getattr(args, "grid", [])))
    options = {k: section.get(k) for k in known - {"grid", "max_combinations"}}
    for key in ("strategy", "metric", "x", "y", "output", "executor", "scheduler", "engine", "verify", "chunk", "pbo_blocks",
                "spa_top", "target"):
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
    options["strategy"] = one_strategy(args, options, getattr(args, "command", None) or "sweep")
    chunk = options["chunk"]
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1):
        raise ConfigError(f"--chunk must be a whole number >= 1, not {chunk!r}")
    options["metric"] = options["metric"] or DEFAULT_METRIC
    options["executor"] = options["executor"] or "local"
    options["output"] = output_folder(options["output"], origin(args, "output", section_name), getattr(args, "default_output", DEFAULT_OUTPUT))
    options["metric"] = ranked_metric(options["metric"], origin(args, "metric", section_name))
    options["pbo_blocks"] = check_blocks(overfitting.DEFAULT_BLOCKS if options["pbo_blocks"] is None else options["pbo_blocks"])
    top = DEFAULT_TOP if options["spa_top"] is None else options["spa_top"]
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= MAX_TOP:
        raise ConfigError(f"--spa-top must be a whole number from 1 to {MAX_TOP:,} (each candidate's daily returns "
                          f"travel with every engine task and are kept), not {top!r}")
    options["spa_top"] = top
    options["target"] = parse_target(options["target"])
    return options


def cmd_sweep(args) -> int:
    clock = time.perf_counter()
    timing: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timing[f"{name} seconds"] = round(now - clock, 3)
        clock = now

    settings, config = resolve_run(args)
    options = sweep_options(args, config)
    grid = options["grid"]
    keys = list(grid)
    if not grid:
        raise ConfigError("sweep: empty grid; give at least one --grid KEY=VALUES")
    x, y = options["x"] or keys[0], options["y"] or (keys[1] if len(keys) > 1 else None)
    for axis, key in (("--x", x), ("--y", y)):
        if key is not None and key not in grid:
            raise ConfigError(f"{axis} {key}: not a grid parameter; the grid has {', '.join(keys)}")
    if x is not None and x == y:
        named = "--x and --y are" if options["x"] else "--y and the heatmap's x (the first grid key) are"
        raise ConfigError(f"{named} both {x}: the heatmap needs two different grid parameters")
    name, metric = options["strategy"], options["metric"]
    base = config["params"].get(name, {})
    grid = check_grid(name, grid, base, max_combinations=options["max_combinations"],  # before loading data
                      jobs=config["run"].get("jobs"))
    check_params_used(args, config, [name])
    lap("grid check")
    with RunFolder(options["output"], args.argv, config) as run:
        output = run.path
        cases = list(history_cases(name, grid, base))
        feeds = load_feeds(settings, config, [(name, params) for params in cases])
        check_history_of_all(resolve(name), cases, feeds)
        lap("data")
        engine, jobs = options["engine"], config["run"].get("jobs")
        sessions = measured_sessions(feeds)
        blocks = effective_blocks(options["pbo_blocks"], sessions)  # fewer on a short period, 0: too short to check
        collected = GuardCollector(grid.size, blocks, sessions, metric, options["spa_top"]) if blocks else None
        with ResultsWriter(output / RESULTS_FILE, grid) as writer, closing(sweep_chunks(
                name, grid, feeds, settings, base_params=base, engine=engine, executor=options["executor"], jobs=jobs,
                scheduler=options["scheduler"], chunk=options["chunk"], blocks=blocks,
                best=(metric, options["spa_top"]) if blocks else None)) as chunks:
            for chunk in chunks:
                writer.add(collected.add(chunk) if collected else chunk)
        lap("engine")
        engine_seconds = timing["engine seconds"]
        luck = guard(name, collected, grid, base, feeds, settings, top=options["spa_top"],
                     target=options["target"]) if collected else None
        if luck and blocks < options["pbo_blocks"]:
            short = f"{sessions} sessions: {blocks} CSCV blocks instead of {options['pbo_blocks']} (2 sessions a block at least)"
            luck["PBO note"] = "; ".join(filter(None, [luck.get("PBO note"), short]))
        del collected
        lap("luck check")
        summary = summarize(output / RESULTS_FILE, grid, metric, x, y)
        lap("summaries")
        files = [RESULTS_FILE]
        if grid.size <= CSV_MAX_ROWS:
            write_csv(output / RESULTS_FILE, output / "sweep.csv", keys, format_param)
            files.append("sweep.csv")
            lap("csv")
        top = summary.top.drop(columns=["combination"])
        meta = {"strategy": name, "engine": engine, "settings": settings.__dict__, "grid": grid.as_dict(),
                "combinations": grid.size, "results": files, "timing": timing,
                "data sources": feeds.sources, "data notes": list(feeds.notes), "luck check": luck}
        checked = None
        if options["verify"]:
            checked = verify(name, summary.top, grid, options["verify"], metric, feeds, settings,
                             base_params=base, executor=options["executor"], jobs=jobs, scheduler=options["scheduler"])
            meta["verified on backtrader"] = json.loads(checked.to_json(orient="records"))
            lap("verify")
        meta[f"best {len(top)} by {metric}"] = json.loads(top.to_json(orient="records"))
        print(f"\nSweep of {name} on the {engine} engine: {grid.size:,} combinations in {engine_seconds:.1f} s, "
              f"top 10 by {metric}:")
        print(format_table(top.head(10), param_columns=keys, index=False))
        if luck:
            print(f"\n{guard_text(luck)}\n  (luck check {timing['luck check seconds']:.1f} s)")
        else:
            print(f"\nLuck check: n/a ({sessions} session(s) measured: too few)")
        if checked is not None:
            print(f"\nThe {len(checked)} best re-run on the Backtrader engine (fast | backtrader | difference):")
            print(verify_text(checked, keys))
        context = f"{name}, {feeds.start.date()} .. {feeds.end.date()}"
        if summary.cells is not None:
            sweep_plots.save(sweep_plots.heatmap_figure(
                summary.cells, grid.values[grid.keys.index(x)], grid.values[grid.keys.index(y)], x, y, metric,
                aggregated=summary.aggregated, context=context), output / "heatmap.png")
        sweep_plots.save(sweep_plots.stability_figure(summary.spreads, metric, context=context, combinations=grid.size),
                         output / "stability.png")
        lap("pictures")
        write_report(output, sweep_report(summary, name, settings, feeds, engine=engine, verified=checked, files=files,
                                                guard=luck))
        lap("report")
        # the time of each step of this command (the Python start and imports before it are not included)
        atomic_write_text(output / "sweep.json", json.dumps(meta, indent=2, default=str) + "\n")
        run.commit(feeds.sources, feeds.accepted_bars)
    print_written(run)
    return 0
