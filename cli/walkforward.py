"""The ``walkforward`` command: options, the run, what it prints and writes."""
from __future__ import annotations

from engines.params import ConfigError
from reports.html_report import walkforward_report, write_report
from reports.plots import plot_walkforward
from reports.tables import format_table, write_run_tables, write_stitched, write_table
from research.sweep import DEFAULT_METRIC, check_grid, history_cases
from research.walkforward import WINDOW_FIGURES, buy_and_hold, make_windows, summary, walkforward_runs

from .output import RunFolder
from .run import check_params_used, load_feeds, print_written, resolve_run
from .sweep import add_executor_options, add_limit_option, escape_help, sweep_options

DEFAULT_OUTPUT = "output/walkforward"


def add_subcommand(subparsers, parents: dict) -> None:
    """Plug the ``walkforward`` command into the runner's CLI."""
    parser = subparsers.add_parser("walkforward", parents=[parents["run"], parents["strategies"]],
                                   help="choose params in-sample, test them out of sample, stitch the results")
    parser.add_argument("--strategy", help="registered strategy (default: rotation)")
    parser.add_argument("--grid", action="append", default=[], metavar="KEY=VALUES", help="as for sweep")
    parser.add_argument("--metric", help=f"metric that picks the in-sample best, as for sweep (default: {escape_help(DEFAULT_METRIC)}; higher is better)")
    parser.add_argument("--in-sample", type=int, help="in-sample years (default: 5)")
    parser.add_argument("--out-of-sample", type=int, help="out-of-sample years (default: 1)")
    parser.add_argument("--anchored", action="store_true", help="in-sample always from the start (default: rolling)")
    parser.add_argument("--output", help=f"output folder (default: {DEFAULT_OUTPUT})")
    add_limit_option(parser)
    add_executor_options(parser)
    parser.set_defaults(func=cmd_walkforward, x=None, y=None, default_output=DEFAULT_OUTPUT)


def cmd_walkforward(args) -> int:

    settings, config = resolve_run(args)
    section = dict(config.get("walkforward", {}))
    known = {"in_sample", "out_of_sample", "anchored"}
    unknown = sorted(set(section) - known - {"strategy", "grid", "metric", "output", "executor", "scheduler", "engine",
                                             "max_combinations", "chunk"})
    if unknown:
        raise ConfigError(f"config file {args.config}: [walkforward] unknown key(s) {', '.join(unknown)}")
    options = sweep_options(args, {"sweep": {k: v for k, v in section.items() if k not in known}}, "walkforward")
    in_sample = args.in_sample if args.in_sample is not None else section.get("in_sample", 5)
    out_sample = args.out_of_sample if args.out_of_sample is not None else section.get("out_of_sample", 1)
    anchored = args.anchored or bool(section.get("anchored", False))
    base = config["params"].get(options["strategy"], {})
    windows = make_windows(settings.start, settings.end, in_sample, out_sample, anchored)
    grid = check_grid(options["strategy"], options["grid"], base, max_combinations=options["max_combinations"],
                      runs_per_combination=len(windows))  # before loading data
    check_params_used(args, config, [options["strategy"]])
    with RunFolder(options["output"], args.argv, config) as run:
        output = run.path
        feeds = load_feeds(settings, config, [(options["strategy"], p) for p in history_cases(options["strategy"], grid, base)])
        table, stitched, runs = walkforward_runs(
            options["strategy"], options["grid"], feeds, settings, in_sample_years=in_sample, out_of_sample_years=out_sample,
            anchored=anchored, metric=options["metric"], executor=options["executor"], jobs=config["run"].get("jobs"),
            scheduler=options["scheduler"], base_params=base, engine=options["engine"],
            max_combinations=options["max_combinations"], chunk=options["chunk"],
        )
        facts = summary(table, stitched, options["metric"])
        print(f"\nWalk-forward of {options['strategy']} ({'anchored' if anchored else 'rolling'}, {in_sample}y in / {out_sample}y out; "
              f"in-sample search on the {options['engine']} engine, out-of-sample runs on backtrader):")
        extra = [f"{side} {f}" for f in WINDOW_FIGURES if f != options["metric"] for side in ("in-sample", "out-of-sample")]
        print(format_table(table.drop(columns=extra, errors="ignore"), param_columns=list(options["grid"]), index=False))
        for key, value in facts.items():
            print(f"  {key}: {'n/a' if value != value else f'{value:,.2f}'}")
        write_table(table, output, "walkforward", {"strategy": options["strategy"], "in-sample engine": options["engine"],
                                                   "out-of-sample engine": "backtrader", "settings": settings.__dict__,
                                                   "grid": options["grid"], "summary": facts,
                                                   "data sources": feeds.sources, "data notes": list(feeds.notes)},
                    param_columns=list(options["grid"]))
        benchmark = buy_and_hold(feeds, settings.benchmark, stitched.index, settings.cash)
        write_stitched(stitched, benchmark, output / "walkforward_equity.csv")
        write_run_tables(output, runs, drop=feeds.signal_only)
        plot_walkforward(stitched, table, options["metric"], output / "walkforward.png", benchmark,
                         strategy=options["strategy"], grid=options["grid"])
        write_report(output, walkforward_report(table, stitched, benchmark, facts, options["strategy"],
                                                options["metric"], settings, feeds, engine=options["engine"]))
        run.commit(feeds.sources, feeds.accepted_bars)
    print_written(run)
    return 0


