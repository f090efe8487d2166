"""The ``signal`` command: each strategy's current card as of the last session of the data."""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from engines.engine import history_needed, merged_params, resolve, signal_feeds_for
from feeds.cerebro import TRADED
from reports.cards import format_signal, signal_card, signal_dates

from .run import check_params_used, iso_date, load_feeds, resolve_run


def add_subcommand(subparsers, parents: dict) -> None:
    """Plug the ``signal`` command into the CLI."""
    parser = subparsers.add_parser("signal", parents=[parents["run"], parents["strategies"]],
                                   help="each strategy's current signal as of the last session of the data (default: rotation)")
    parser.add_argument("--as-of", metavar="DATE", help="an earlier day to report (default: the last session all feeds share; "
                                                        "--end means the same here)")
    parser.add_argument("--json", action="store_true", help="print JSON {strategy: card} instead of text (default: text)")
    parser.set_defaults(func=cmd_signal)


def cmd_signal(args: argparse.Namespace) -> int:

    settings, config = resolve_run(args)
    names = config["strategies"] or ["rotation"]
    check_params_used(args, config, names)
    as_of = args.as_of if args.as_of is not None else args.end  # --end names the as-of day too; a config's end does not
    if as_of is not None:
        as_of = iso_date(as_of, "--as-of" if args.as_of is not None else "--end")
    runs = [(n, config["params"].get(n, {})) for n in names]
    history = max(history_needed(resolve(n), merged_params(resolve(n), p)) for n, p in runs)
    start, end, note = signal_dates(settings.start, settings.source, config["run"].get("cache_dir"), as_of,
                                    config["run"].get("accept_bars", ()), history=history,
                                    symbols=TRADED + signal_feeds_for(runs))
    if note:
        print(f"note: {note}", file=sys.stderr)
    settings = replace(settings, start=start, end=end)
    feeds = load_feeds(settings, config, runs)
    cards = {name: signal_card(name, feeds, settings, config["params"].get(name)) for name in names}
    print(format_signal(cards, as_json=args.json))
    return 0


