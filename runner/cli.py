"""The command line: ``run_backtest.py [compare|signal|list|sweep|walkforward] [options]``.

Settings come from built-in defaults, then a TOML ``--config`` file, then command-line options (last wins).
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import tomllib
from dataclasses import asdict, fields, replace
from pathlib import Path

from feeds import DataError, FeedSet, prepare_feeds
from analyzers.stats import MIN_ANNUAL_DAYS, annualisable
from feeds.cerebro import check_costs

from .config import ConfigError, load_config, parse_param, to_toml
from .engine import RunError, RunSettings, check_params, resolve, warmup_for
from .executors import TaskError
from .output import OutputError, RunFolder

PLUGINS = ("runner.sweep", "runner.walkforward", "runner.lookahead")
DEFAULT_OUTPUT = "output/latest"
_DEFAULTS = RunSettings()


def common_parents() -> dict[str, argparse.ArgumentParser]:
    """Parent parsers shared by every subcommand: "run" (period, money, costs, data) and "strategies"."""
    run = argparse.ArgumentParser(add_help=False)
    group = run.add_argument_group("period, money, costs and data")
    group.add_argument("--config", metavar="FILE.toml", help="TOML file with the same settings (options given here override it)")
    group.add_argument("--start", help=f"first day of the period (default: {_DEFAULTS.start})")
    group.add_argument("--end", help=f"last day of the period (default: {_DEFAULTS.end})")
    group.add_argument("--cash", type=float, help=f"starting cash (default: {_DEFAULTS.cash:,.0f})")
    group.add_argument("--commission", type=float, help="commission as a fraction of traded value, e.g. 0.0005 = 5 bp (default: 0)")
    group.add_argument("--commission-per-share", type=float, help="commission per share traded, e.g. 0.005 (default: 0)")
    group.add_argument("--slippage", type=float, help="slippage as a fraction of price, e.g. 0.0002 (default: 0)")
    group.add_argument("--source", help="price source: bundled | yahoo | csv:DIR (default: bundled, the embedded real data)")
    group.add_argument("--cache-dir", help="folder of the yahoo cache (default: ~/.cache/smallcap-rotation/yahoo)")
    group.add_argument("--accept-bar", action="append", default=[], metavar="SYMBOL:DATE",
                       help="accept a bar the data checks flag, e.g. IWM:2019-05-31 (repeatable; listed in the output's notes)")
    group.add_argument("--benchmark", help=f"feed the monthly win rate is compared with (default: {_DEFAULTS.benchmark})")
    group.add_argument("--jobs", type=int, help="processes to use (default: all cores; 1 = no pool)")
    strategies = argparse.ArgumentParser(add_help=False)
    group = strategies.add_argument_group("strategies")
    group.add_argument("--strategies", help="comma-separated registered names (default: all; see the 'list' command)")
    group.add_argument("--param", action="append", default=[], metavar="NAME.KEY=VALUE",
                       help="strategy parameter, repeatable, e.g. --param rotation.lookback=126 (None/off for no value)")
    group.add_argument("--module", action="append", default=[], metavar="FILE.py|MODULE",
                       help="import a module of your own strategies first (repeatable)")
    return {"run": run, "strategies": strategies}


def build_parser() -> argparse.ArgumentParser:
    parents = common_parents()
    parser = argparse.ArgumentParser(
        prog="run_backtest.py",
        description="Compare the IWM/SPY strategies on real daily data. With no command, runs 'compare'.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    compare = sub.add_parser("compare", parents=[parents["run"], parents["strategies"]],
                             help="run every strategy and benchmark, print and write the comparison (default)")
    compare.add_argument("--output", help=f"output folder (default: {DEFAULT_OUTPUT})")
    compare.add_argument("--no-plots", action="store_true", help="skip the PNG plots (default: plots on)")
    compare.add_argument("--show", action="store_true", help="also show the comparison figures on screen (default: off)")
    compare.set_defaults(func=cmd_compare)
    signal = sub.add_parser("signal", parents=[parents["run"], parents["strategies"]],
                            help="each strategy's current signal as of the last session of the data (default: rotation)")
    signal.add_argument("--as-of", metavar="DATE", help="an earlier day to report (default: the last session all feeds share; "
                                                        "--end means the same here)")
    signal.add_argument("--json", action="store_true", help="print JSON {strategy: card} instead of text (default: text)")
    signal.set_defaults(func=cmd_signal)
    listing = sub.add_parser("list", parents=[parents["strategies"]], help="list the registered strategies and benchmarks")
    listing.set_defaults(func=cmd_list)
    for name in PLUGINS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.add_subcommand(sub, parents)
    return parser


def resolve_run(args: argparse.Namespace) -> tuple[RunSettings, dict]:
    """Settings and the resolved config (load_config layout) from defaults, --config and options."""
    config = load_config(args.config) if getattr(args, "config", None) else {"run": {}, "strategies": [], "params": {}, "sweep": {}, "walkforward": {}}
    run = dict(config["run"])
    for key in ("start", "end", "cash", "commission", "commission_per_share", "slippage", "source", "cache_dir", "benchmark", "jobs", "output"):
        value = getattr(args, key, None)
        if value is not None:
            run[key] = value
    if getattr(args, "accept_bar", None):
        run["accept_bars"] = [*run.get("accept_bars", []), *args.accept_bar]
    if getattr(args, "no_plots", False):
        run["plots"] = False
    names = {f.name for f in fields(RunSettings)}
    settings = RunSettings(**{k: v for k, v in run.items() if k in names})
    try:
        check_costs(cash=settings.cash, commission=settings.commission, commission_per_share=settings.commission_per_share,
                    slippage=settings.slippage, option_names=True)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if run.get("jobs") is not None and run["jobs"] < 1:
        raise ConfigError(f"--jobs must be >= 1, not {run['jobs']}")
    config["run"] = {**asdict(settings), **{k: v for k, v in run.items() if k not in names}}
    for module in getattr(args, "module", []):
        load_module(module)
    if getattr(args, "strategies", None):
        config["strategies"] = [n.strip() for n in args.strategies.split(",") if n.strip()]
    for text in getattr(args, "param", []):
        strategy, key, value = parse_param(text)
        config["params"].setdefault(strategy, {})[key] = value
    for name, overrides in config["params"].items():
        check_params(resolve(name), overrides)  # unknown strategy, parameter or bad value: clear error now, not mid-run
    return settings, config


def load_module(spec: str) -> None:
    from strategies import load_user_module

    try:
        load_user_module(spec)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"--module {spec}: no module named {exc.name}") from None


def load_feeds(settings: RunSettings, config: dict, runs=()) -> FeedSet:
    """Prepare the feeds once for the whole command, printing data coverage and notes to stderr.

    ``runs``: the (strategy name, params) pairs the command will run; the warm-up loaded is the most history
    any of them needs (``engine.warmup_for``)."""
    feeds = prepare_feeds(settings.start, settings.end, source=settings.source, cache_dir=config["run"].get("cache_dir"),
                          warmup_sessions=warmup_for(runs), accept_bars=config["run"].get("accept_bars", ()))
    print(f"Data {feeds.start.date()} .. {feeds.end.date()}:", file=sys.stderr)
    print(feeds.coverage().to_string(), file=sys.stderr)
    for note in feeds.notes:
        print(f"note: {note}", file=sys.stderr)
    return feeds


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import compare, default_names
    from .html_report import compare_report, write_report
    from .plots import comparison_figure, ratio_figure
    from .report import claims_caveat, claims_display, claims_table, comparison_table, format_table, write_outputs, write_run_tables

    settings, config = resolve_run(args)
    names = config["strategies"] or default_names()
    for name in names:
        resolve(name)
    config["strategies"] = names
    plots = config["run"].get("plots", True)
    with RunFolder(config["run"].get("output") or DEFAULT_OUTPUT, args.argv, config) as run:
        output = run.path
        feeds = load_feeds(settings, config, [(n, config["params"].get(n, {})) for n in names])
        started = time.perf_counter()
        results = compare(names, feeds, settings, config["params"], jobs=config["run"].get("jobs"),
                          plot_dir=output / "plots" if plots else None)
        print(f"\nComparison, {feeds.start.date()} .. {feeds.end.date()} ({time.perf_counter() - started:.1f} s):")
        print(format_table(comparison_table(results)))
        if any(len(r.equity) > 1 and not annualisable(r.equity.index[0], r.equity.index[-1]) for r in results):
            print(f"note: the period is shorter than a year (under {MIN_ANNUAL_DAYS} days), so annualised figures are n/a (the final value shows the result)")
        claims = None
        rotation = next((r for r in results if r.name == "rotation"), None)
        if rotation is not None:
            claims = claims_table(rotation, settings)
            print("\nRotation: published claims vs measured")
            print(format_table(claims_display(claims)))
            caveat = claims_caveat(settings)
            if caveat:
                print(caveat)
        for r in results:
            if r.rejected_orders:
                print(f"warning: {r.name}: {r.rejected_orders} order(s) rejected by the broker")
        write_outputs(output, results, settings, feeds, to_toml(config), claims)
        write_run_tables(output, results, drop=feeds.signal_only)
        if plots:
            comparison_figure(results, output / "comparison.png", show=args.show)
            ratio_figure(feeds, output / "spy_iwm_ratio.png", results=results, show=args.show)
        write_report(output, compare_report(results, settings, feeds, claims, claims_caveat(settings)))
        run.commit(feeds.sources)
    print_written(run)
    return 0


def print_written(run: RunFolder) -> None:
    """The files a command wrote, under their final folder."""
    print(f"\nWrote {len(run.files)} files to {run.target}/:")
    for path in run.files:
        print(f"  {path}")


def cmd_signal(args: argparse.Namespace) -> int:
    from .signal import format_signal, signal_card, signal_dates

    settings, config = resolve_run(args)
    names = config["strategies"] or ["rotation"]
    as_of = args.as_of or args.end  # --end names the as-of day too; config files' period end does not
    start, end = signal_dates(settings.start, settings.source, config["run"].get("cache_dir"), as_of,
                              config["run"].get("accept_bars", ()))
    settings = replace(settings, start=start, end=end)
    feeds = load_feeds(settings, config, [(n, config["params"].get(n, {})) for n in names])
    cards = {name: signal_card(name, feeds, settings, config["params"].get(name)) for name in names}
    print(format_signal(cards, as_json=args.json))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from strategies import registered

    for module in args.module:
        load_module(module)
    for name, entry in registered().items():
        kind = "benchmark" if entry.benchmark else "strategy"
        print(f"{name:22s} {kind:10s} {entry.cls.__name__}{'(' + ', '.join(f'{k}={v!r}' for k, v in entry.params.items()) + ')' if entry.params else ''}  {entry.description}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)
    if not argv or (argv[0] not in commands and argv[0] not in ("-h", "--help")):
        argv = ["compare", *argv]
    args = parser.parse_args(argv)
    args.argv = ["run_backtest.py", *argv]  # the command line, for run.json
    try:
        return args.func(args)
    except (DataError, RunError, ConfigError, TaskError, OutputError, ValueError, KeyError, FileNotFoundError,
            tomllib.TOMLDecodeError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (e.g. piped into head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
