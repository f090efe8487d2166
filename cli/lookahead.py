"""The ``lookahead`` command: full run vs runs on cut data for each strategy; exit 1 on a leak."""
from __future__ import annotations

import argparse
import sys

from engines.compare import default_names
from engines.engine import resolve
from engines.params import ConfigError
from research.lookahead import DEFAULT_CUTS, check_all

from .run import check_params_used, load_feeds, resolve_run
from .sweep import add_executor_options


# -- command line -------------------------------------------------------------------------------------------------
def add_subcommand(subparsers, parents: dict) -> None:
    """Plug the ``lookahead`` command into the runner's CLI."""

    parser = subparsers.add_parser(
        "lookahead", parents=[parents["run"], parents["strategies"]],
        help="check that strategies read no future data: full run vs a run hiding each session's close and later bars "
             "until known, and runs on data cut at N dates; exit 1 on a leak")
    parser.add_argument("--cuts", type=int, default=DEFAULT_CUTS,
                        help=f"dates to cut the data at, half month ends, half ordinary days, spread over the period "
                             f"(default: {DEFAULT_CUTS}; they check indicators, which the streamed run cannot hide)")
    add_executor_options(parser)
    parser.set_defaults(func=cmd_lookahead)


def cmd_lookahead(args: argparse.Namespace) -> int:

    if args.cuts < 1:
        raise ConfigError(f"--cuts must be a whole number >= 1, not {args.cuts}")
    settings, config = resolve_run(args)
    names = config["strategies"] or default_names()
    for name in names:
        resolve(name)
    check_params_used(args, config, names)
    feeds = load_feeds(settings, config, runs=[(n, config["params"].get(n, {})) for n in names])
    findings = check_all([(n, config["params"].get(n)) for n in names], feeds, settings, cuts=args.cuts,
                         executor=args.executor or "local", jobs=config["run"].get("jobs"), scheduler=args.scheduler)
    for finding in findings:
        orders = f"{finding.streamed:,} order{'' if finding.streamed == 1 else 's'}"
        span = (f"every session streamed, {orders}; {len(finding.cuts)} cuts "
                f"{finding.cuts[0].date()} .. {finding.cuts[-1].date()}")
        if finding.leak:
            print(f"{finding.name}: LOOK-AHEAD: {finding.leak}")
            print("  the strategy read data it could not have had at that decision (a later bar; or in next_open that "
                  "session's close, high, low or volume, or broker.get_value([data]), marked at that close); read prices "
                  "with self.last_close(), self.closes(), self.trailing_return(), the value with "
                  "self.portfolio_value('open')")
        else:
            print(f"{finding.name}: PASS ({span}; {finding.compared:,} orders compared over the cuts)")
    sys.stdout.flush()
    return 1 if any(f.leak for f in findings) else 0


