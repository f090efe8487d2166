"""What every command shares: the common options, settings resolved from defaults, ``--config`` and options (last
wins), user modules, the prepared feeds and the list of files written."""
from __future__ import annotations

import argparse
import importlib.util
import os
import re
import sys
from dataclasses import asdict, fields
from datetime import date
from pathlib import Path

from engines.engine import RISKFREE_CHOICES, RunSettings, check_params, resolve, signal_feeds_for, warmup_for
from engines.errors import located, traceback_text
from engines.params import ConfigError, parse_param
from feeds import FEED_NAMES, FeedSet, prepare_feeds
from feeds.cerebro import SIGNAL_ONLY, TRADED, check_costs
from feeds.validate import parse_accepted
from reports.cards import CASH_SYMBOLS

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
    group.add_argument("--risk-free", dest="riskfree", choices=RISKFREE_CHOICES,
                       help="what Sharpe and Sortino are in excess of: cash = the cash sleeve's own daily return "
                            "(T-bills: BIL, SGOV from 2020-06; 0 before BIL's first bar), zero = a 0%% rate as other tools "
                            "use (default: cash)")
    group.add_argument("--jobs", type=int, help="processes to use (default: all cores; 1 = no pool)")
    group.add_argument("--debug", action="store_true",
                       help="on an error, print the full traceback too (default: one line naming the strategy and its file:line)")
    strategies = argparse.ArgumentParser(add_help=False)
    group = strategies.add_argument_group("strategies")
    group.add_argument("--strategies", help="comma-separated registered names (default: all; see the 'list' command); "
                            "sweep and walkforward take one")
    group.add_argument("--param", action="append", default=[], metavar="NAME.KEY=VALUE",
                       help="strategy parameter, repeatable, e.g. --param rotation.lookback=126 (None/off for no value)")
    group.add_argument("--module", action="append", default=[], metavar="FILE.py|MODULE",
                       help="import a module of your own strategies first (repeatable)")
    return {"run": run, "strategies": strategies}


ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def origin(args: argparse.Namespace, key: str, section: str = "run") -> str:
    """Where a setting came from, for errors: ``--key`` when given on the command line, else the config file's
    ``[section] key``."""
    if getattr(args, key, None) is None and getattr(args, "config", None):
        return f"config file {args.config}: [{section}] {key}"
    return f"--{key.replace('_', '-')}"


def iso_date(value, label: str) -> str:
    """``value`` when it is a real date written YYYY-MM-DD; ConfigError naming ``label`` otherwise (02/03/2019 reads
    as February 3 or March 2 depending on the reader: only the ISO form is taken)."""
    text = str(value).strip()
    try:
        if ISO_DATE.fullmatch(text):
            date.fromisoformat(text)
            return text
    except ValueError:
        raise ConfigError(f"{label} {value!r} is not a date on the calendar (YYYY-MM-DD)") from None
    raise ConfigError(f"{label} {value!r}: dates are written YYYY-MM-DD, e.g. 2019-02-03")


def output_folder(value, label: str, default: str) -> str:
    """The output folder to write: ``default`` when not given (None); ConfigError for an empty name (it must never
    read as "not given" and replace the default folder)."""
    if value is None:
        return default
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{label} {value!r}: the output folder name is empty; give a folder name (default: {default})")
    return value


def resolve_run(args: argparse.Namespace) -> tuple[RunSettings, dict]:
    """Settings and the resolved config (load_config layout) from defaults, --config and options."""
    if getattr(args, "config", None) is not None and not args.config.strip():
        raise ConfigError("--config '': the file name is empty")
    config = load_config(args.config) if getattr(args, "config", None) else {"run": {}, "strategies": [], "params": {}, "sweep": {}, "walkforward": {}}
    run = dict(config["run"])
    for key in ("start", "end", "cash", "commission", "commission_per_share", "slippage", "source", "cache_dir", "benchmark", "riskfree", "jobs", "output"):
        value = getattr(args, key, None)
        if value is not None:
            run[key] = value
    for key in ("start", "end"):
        if key in run:
            run[key] = iso_date(run[key], origin(args, key))
    if "output" in run:
        output_folder(run["output"], origin(args, "output"), getattr(args, "default_output", DEFAULT_OUTPUT))
    if getattr(args, "accept_bar", None):
        run["accept_bars"] = [*run.get("accept_bars", []), *args.accept_bar]
    if getattr(args, "no_plots", False):
        run["plots"] = False
    names = {f.name for f in fields(RunSettings)}
    settings = RunSettings(**{k: v for k, v in run.items() if k in names})
    try:
        check_costs(cash=settings.cash, commission=settings.commission, commission_per_share=settings.commission_per_share,
                    slippage=settings.slippage, label=lambda key: origin(args, key))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if settings.benchmark not in FEED_NAMES:
        raise ConfigError(f"{origin(args, 'benchmark')} {settings.benchmark}: not a feed; the feeds are {', '.join(FEED_NAMES)}")
    if run.get("jobs") is not None and run["jobs"] < 1:
        raise ConfigError(f"{origin(args, 'jobs')} must be >= 1, not {run['jobs']}")
    modules = [load_module(spec, f"config file {args.config}: [run] modules: {spec}", relative_to=Path(args.config).parent)
               for spec in run.get("modules", [])]
    modules += [load_module(spec) for spec in getattr(args, "module", [])]
    if modules:
        run["modules"] = list(dict.fromkeys(modules))  # config.toml records them: the run repeats from its folder
    if settings.riskfree not in RISKFREE_CHOICES:
        raise ConfigError(f"[run] riskfree / --risk-free must be one of {', '.join(RISKFREE_CHOICES)}, not {settings.riskfree!r}")
    config["run"] = {**asdict(settings), **{k: v for k, v in run.items() if k not in names}}
    if getattr(args, "strategies", None) is not None:
        config["strategies"] = [n.strip() for n in args.strategies.split(",") if n.strip()]
        if not config["strategies"]:
            raise ConfigError(f"--strategies {args.strategies!r}: no strategy named; give names from the 'list' command")
    for text in getattr(args, "param", []):
        strategy, key, value = parse_param(text)
        config["params"].setdefault(strategy, {})[key] = value
    for name, overrides in config["params"].items():
        check_params(resolve(name), overrides)  # unknown strategy, parameter or bad value: clear error now, not mid-run
    return settings, config


def check_params_used(args: argparse.Namespace, config: dict, names) -> None:
    """ConfigError for a ``--param`` of a strategy this command does not run (it would be ignored without a word);
    a note for such a ``[params.NAME]`` table of the config file (a shared file may hold tables for other runs)."""
    given = {}
    for text in getattr(args, "param", []):
        given.setdefault(text.split(".", 1)[0], text)
    for name in config["params"]:
        if name in names:
            continue
        if name in given:
            raise ConfigError(f"--param {given[name]}: strategy {name} is not run by this command (it runs "
                              f"{', '.join(names)}); add it to --strategies or drop the --param")
        print(f"note: config file {args.config}: [params.{name}] is not used: {name} is not run by this command", file=sys.stderr)


def load_module(spec: str, label: str | None = None, relative_to: Path | None = None) -> str:
    """Import a user's strategy module (a .py file or a module name); returns how config.toml records it (a file's
    absolute path, a module's name). ConfigError naming ``label`` (default ``--module SPEC``) and the name as given."""
    from strategies import load_user_module

    label = label or f"--module {spec}"
    if not spec.strip():
        raise ConfigError(f"{label.rstrip()} {spec!r}: the module name is empty; give a .py file of strategies or an "
                          "importable module name")
    path = Path(spec).expanduser()
    if relative_to is not None and not path.is_absolute():
        path = relative_to / path
    if spec.endswith(".py") or os.sep in spec or path.exists():
        if path.is_dir():
            raise ConfigError(f"{label}: is a folder; give a .py file of strategies or an importable module name")
        if not path.exists():
            raise ConfigError(f"{label}: no such file ({path})")
        if not path.is_file() or path.suffix != ".py":
            raise ConfigError(f"{label}: not a .py file; give a .py file of strategies or an importable module name")
        _load(str(path), label, str(path))
        return str(path.resolve())
    try:
        _load(spec, label, None)
    except ModuleNotFoundError as exc:
        missing = f"no module named {exc.name}" if exc.name == spec else f"cannot import {spec}: no module named {exc.name}"
        raise ConfigError(f"{label}: {missing}") from None
    return spec


def _load(spec: str, label: str, file: str | None) -> None:
    """``load_user_module(spec)``; an error of the module's own code (a SyntaxError, SystemExit, ...) as one
    ConfigError naming its file:line, the traceback kept for --debug. A module name not found is left to the caller."""
    from strategies import load_user_module

    try:
        load_user_module(spec)
    except (FileNotFoundError, ValueError):  # already one line naming the file (or a name clash)
        raise
    except ModuleNotFoundError:
        if file is None:
            raise
        _module_error(spec, label, file)
    except (Exception, SystemExit):  # noqa: BLE001 - the module's own error, named with its line
        _module_error(spec, label, file)


def _module_error(spec: str, label: str, file: str | None) -> None:
    exc = sys.exc_info()[1]
    if file is None:
        try:
            file = getattr(importlib.util.find_spec(spec), "origin", None)
        except (ImportError, ValueError):
            file = None
    files = {os.path.realpath(file)} if file else set()
    raise ConfigError(f"{label}: {located(exc, files)}", traceback_text(exc)) from exc


def check_accepted_symbols(specs) -> None:
    """ConfigError for an ``--accept-bar`` (or config ``accept_bars``) naming a symbol no command reads: it would
    accept nothing, without a word."""
    read = (*TRADED, *SIGNAL_ONLY, *CASH_SYMBOLS)
    parse_accepted(specs)  # a malformed entry: its own error first
    for spec in specs:
        symbol = str(spec).partition(":")[0].strip().upper()
        if symbol not in read:
            raise ConfigError(f"--accept-bar {spec}: no symbol {symbol} in the data a run reads ({', '.join(read)})")


def load_feeds(settings: RunSettings, config: dict, runs=()) -> FeedSet:
    """Prepare the feeds once for the whole command, printing data coverage and notes to stderr.

    ``runs``: the (strategy name, params) pairs the command will run; the warm-up loaded is the most history
    any of them needs (``engine.warmup_for``); a signal feed (VIX) is loaded only when one of them reads it
    (``engine.signal_feeds_for``)."""
    check_accepted_symbols(config["run"].get("accept_bars", ()))
    runs = list(runs)
    feeds = prepare_feeds(settings.start, settings.end, source=settings.source, cache_dir=config["run"].get("cache_dir"),
                          warmup_sessions=warmup_for(runs), accept_bars=config["run"].get("accept_bars", ()),
                          **({"signal_feeds": signal_feeds_for(runs)} if runs else {}))
    print(f"Data {feeds.start.date()} .. {feeds.end.date()}:", file=sys.stderr)
    print(feeds.coverage().to_string(), file=sys.stderr)
    for note in feeds.notes:
        print(f"note: {note}", file=sys.stderr)
    for symbol, day in sorted(parse_accepted(config["run"].get("accept_bars", ()))):
        if not any(f"--accept-bar {symbol}:{day.date()}" in note for note in feeds.notes):
            print(f"note: --accept-bar {symbol}:{day.date()} accepts nothing: the data checks flag no {symbol} bar on "
                  "that day among the sessions this run reads", file=sys.stderr)
    return feeds


def print_written(run: RunFolder) -> None:
    """The files a command wrote, under their final folder."""
    print(f"\nWrote {len(run.files)} files to {run.target}/:")
    for path in run.files:
        print(f"  {path}")


