"""The command line: ``run_backtest.py [compare|signal|list|sweep|walkforward|lookahead] [options]``.

Settings come from built-in defaults, then a TOML ``--config`` file, then command-line options (last wins).
Each command's code is in the module of its name (``cli.compare``, ``cli.sweep``, ...); this module builds the
parser and turns every expected failure into one ``error:`` line and exit code 2. SIGINT (Ctrl-C) and SIGTERM
stop any command at once with one ``stopped`` line (exit code 130 / 143, no traceback): the workers are killed
(``engines.executors``) and the output folder is left as it was (``cli.output.RunFolder``).
"""
from __future__ import annotations

import argparse
import os
import signal as signals
import sys
import threading
import tomllib

from engines.engine import RunError
from engines.errors import traceback_text
from engines.executors import Stopped, TaskError, end_open_bar
from engines.params import ConfigError, format_param
from feeds import DataError
from strategies import registered

from . import compare, lookahead, signal, sweep, walkforward
from .output import OutputError
from .run import common_parents, load_module


def build_parser() -> argparse.ArgumentParser:
    parents = common_parents()
    parser = argparse.ArgumentParser(
        prog="run_backtest.py",
        description="Compare the IWM/SPY strategies on real daily data. With no command, runs 'compare'.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    compare.add_subcommand(sub, parents)
    signal.add_subcommand(sub, parents)
    listing = sub.add_parser("list", help="list the registered strategies and benchmarks with their parameters")
    listing.add_argument("--module", action="append", default=[], metavar="FILE.py|MODULE",
                         help="import a module of your own strategies first (repeatable)")
    listing.add_argument("--debug", action="store_true", help="on an error, print the full traceback too")
    listing.set_defaults(func=cmd_list)
    for command in (sweep, walkforward, lookahead):
        command.add_subcommand(sub, parents)
    return parser


def cmd_list(args: argparse.Namespace) -> int:
    """Each registered run: name, kind, class and description, then every parameter with its default (the entry's
    preset, else the class's) and what the strategy's own checks allow."""
    for module in args.module:
        load_module(module)
    for name, entry in sorted(registered().items(), key=lambda item: item[1].benchmark):  # strategies first
        kind = "benchmark" if entry.benchmark else "strategy"
        print(f"{name} ({kind}, {entry.cls.__name__}): {entry.description}")
        defaults = {**dict(entry.cls.params._getitems()), **entry.params}
        ranges = entry.cls.param_ranges(entry.params) if hasattr(entry.cls, "param_ranges") else {}
        for key, value in defaults.items():
            if not key.startswith("_"):
                print(f"    {key:18s} {format_param(value) if not isinstance(value, dict) else value!s:28s} {ranges.get(key, '')}".rstrip())
    print("\nSet a parameter with --param NAME.KEY=VALUE (off = no value); sweep it with --grid KEY=VALUES.")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)
    if not argv or (argv[0] not in commands and argv[0] not in ("-h", "--help")):
        argv = ["compare", *argv]
    args = parser.parse_args(argv)
    args.argv = ["run_backtest.py", *argv]  # the command line, for run.json
    previous = _stop_on_signals()
    try:
        return args.func(args)
    except KeyboardInterrupt as exc:
        number = getattr(exc, "signum", signals.SIGINT)
        shown = "SIGINT (Ctrl-C)" if number == signals.SIGINT else signals.Signals(number).name
        end_open_bar()
        print(f"stopped by {shown}: the {args.command} did not finish, its workers are stopped and its output folder "
              "was not replaced", file=sys.stderr)
        return 128 + number
    except (DataError, RunError, ConfigError, TaskError, OutputError, ValueError, KeyError, FileNotFoundError,
            tomllib.TOMLDecodeError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        end_open_bar()
        if getattr(args, "debug", False):  # the traceback taken where it happened (in a worker, too), else this one's
            print(getattr(exc, "details", None) or traceback_text(exc), file=sys.stderr, end="")
        print(f"error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (e.g. piped into head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        for number, handler in previous.items():
            signals.signal(number, handler)


def _stop_on_signals() -> dict:
    """SIGINT and SIGTERM raise ``Stopped`` in the main thread (the first one; later ones are ignored while the
    command cleans up). Returns the handlers they replace (none off the main thread, where Python cannot set them)."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def stop(number, frame) -> None:
        for each in (signals.SIGINT, signals.SIGTERM):
            signals.signal(each, signals.SIG_IGN)
        raise Stopped(number)

    previous = {number: signals.getsignal(number) for number in (signals.SIGINT, signals.SIGTERM)}
    for number in previous:
        signals.signal(number, stop)
    return previous
