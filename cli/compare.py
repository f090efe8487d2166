"""The ``compare`` command (the default): every strategy and benchmark on the same feeds, the comparison and
claims tables, the output folder with tables, plots and ``report.html``."""
from __future__ import annotations

import argparse
import sys
import time

from analyzers.stats import MIN_ANNUAL_DAYS, annualisable
from engines.compare import compare, default_names
from engines.engine import resolve
from feeds.atomic import atomic_write_text
from reports.html_report import compare_report, write_report
from reports.plots import comparison_figure, ratio_figure
from research.intervals import (
    FIGURES,
    benchmark_run,
    comparison_intervals,
    interval_columns,
    intervals_note,
    sharpe_beats,
)
from reports.tables import (
    claims_caveat,
    claims_display,
    claims_table,
    comparison_table,
    format_cell,
    format_table,
    write_outputs,
    write_run_tables,
)

from .config import to_toml
from .output import RunFolder
from .run import DEFAULT_OUTPUT, check_params_used, load_feeds, output_folder, print_written, resolve_run


def add_subcommand(subparsers, parents: dict) -> None:
    """Plug the ``compare`` command into the CLI."""
    parser = subparsers.add_parser("compare", parents=[parents["run"], parents["strategies"]],
                                   help="run every strategy and benchmark, print and write the comparison (default)")
    parser.add_argument("--output", help=f"output folder (default: {DEFAULT_OUTPUT})")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots (default: plots on)")
    parser.add_argument("--show", action="store_true", help="also show the comparison figures on screen (default: off)")
    parser.set_defaults(func=cmd_compare)


def interval_display(intervals):
    """Each figure as measured beside its interval "low .. high", one column pair per figure."""
    import pandas as pd

    shown = pd.DataFrame(index=intervals.index)
    for figure in FIGURES:
        low, high = interval_columns(figure)
        shown[figure] = intervals[figure]
        shown[f"{figure} 95%"] = [
            "n/a" if pd.isna(a) or pd.isna(b) else f"{format_cell(figure, a)} .. {format_cell(figure, b)}"
            for a, b in zip(intervals[low], intervals[high])]
    return shown


def cmd_compare(args: argparse.Namespace) -> int:

    settings, config = resolve_run(args)
    names = config["strategies"] or default_names()
    for name in names:
        resolve(name)
    config["strategies"] = names
    plots = config["run"].get("plots", True)
    check_params_used(args, config, names)
    with RunFolder(output_folder(config["run"].get("output"), "--output", DEFAULT_OUTPUT), args.argv, config) as run:
        output = run.path
        feeds = load_feeds(settings, config, [(n, config["params"].get(n, {})) for n in names])
        measured = int((feeds.sessions >= feeds.start).sum())
        if plots and measured < 2:  # a chart of one session has no time axis (Backtrader's plot cannot draw it)
            print(f"note: no plots: the period has {measured} session ({feeds.start.date()}); plots need at least 2", file=sys.stderr)
            plots = False
        started = time.perf_counter()
        results = compare(names, feeds, settings, config["params"], jobs=config["run"].get("jobs"),
                          plot_dir=output / "plots" if plots else None)
        print(f"\nComparison, {feeds.start.date()} .. {feeds.end.date()} ({time.perf_counter() - started:.1f} s):")
        print(format_table(comparison_table(results)))
        if any(len(r.equity) > 1 and not annualisable(r.equity.index[0], r.equity.index[-1]) for r in results):
            print(f"note: the period is shorter than a year (under {MIN_ANNUAL_DAYS} days), so annualised figures are n/a (the final value shows the result)")
        intervals = comparison_intervals(results, feeds, settings)
        print(f"\nHow sure are these figures ({intervals_note()}):")
        print(format_table(interval_display(intervals)))
        main = next((r for r in results if r.name == "rotation"), None) or next(
            (r for r in results if not resolve(r.name).benchmark), None)
        bench = benchmark_run(results, settings)
        beats = sharpe_beats(main, bench, feeds, settings) if main is not None and bench is not None and main is not bench else None
        if beats is not None:
            print(f"Probability that {main.name}'s Sharpe beats {bench.name}'s: {beats:.2f} (share of the same resamples)")
        claims = None
        rotation = next((r for r in results if r.name == "rotation"), None)
        if rotation is not None:
            own = intervals.loc[rotation.name] if rotation.name in intervals.index else None
            claims = claims_table(rotation, settings, None if own is None else {
                f: (own[interval_columns(f)[0]], own[interval_columns(f)[1]]) for f in FIGURES})
            print("\nRotation: published claims vs measured")
            print(format_table(claims_display(claims)))
            caveat = claims_caveat(settings)
            if caveat:
                print(caveat)
        for r in results:  # what a run says about itself (rejected orders, nothing bought), not the data notes
            for note in r.notes:
                if note not in feeds.notes:
                    print(f"warning: {note}")
        write_outputs(output, results, settings, feeds, to_toml(config), claims)
        atomic_write_text(output / "intervals.csv", intervals.to_csv())
        write_run_tables(output, results, drop=feeds.signal_only)
        if plots:
            comparison_figure(results, output / "comparison.png", show=args.show)
            ratio_figure(feeds, output / "spy_iwm_ratio.png", results=results, show=args.show)
        write_report(output, compare_report(results, settings, feeds, claims, claims_caveat(settings),
                                            intervals=(interval_display(intervals), intervals_note(), beats and (main.name, bench.name, beats))))
        run.commit(feeds.sources, feeds.accepted_bars)
    print_written(run)
    return 0


