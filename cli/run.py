"""What every command shares: the common options, settings resolved from defaults, ``--config`` and options (last
wins), user modules, the prepared feeds and the list of files written."""
from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, fields

from engines.engine import RunSettings, check_params, resolve, warmup_for
from engines.params import ConfigError, parse_param
from feeds import FeedSet, prepare_feeds
from feeds.cerebro import check_costs

from .config import load_config
from .output import RunFolder

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


def print_written(run: RunFolder) -> None:
    """The files a command wrote, under their final folder."""
    print(f"\nWrote {len(run.files)} files to {run.target}/:")
    for path in run.files:
        print(f"  {path}")


