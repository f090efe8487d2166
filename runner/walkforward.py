"""Walk-forward: choose parameters in-sample, run them on the next out-of-sample window, stitch the results.

    run_backtest.py walkforward --strategy rotation --grid lookback=21:252:21 --in-sample 5 --out-of-sample 1

Reports each window's in-sample best next to what those parameters then did out of sample, and the stitched
out-of-sample equity curve, so overfitting shows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from analyzers import stats
from feeds import FeedSet
from feeds.atomic import atomic_write, atomic_write_text

from .config import ConfigError
from .engine import RunItem, RunResult, RunSettings, check_history_of_all, resolve, run_item
from .executors import Progress, run_tasks
from .report import format_param
from .sweep import (
    DEFAULT_METRIC, add_executor_options, add_limit_option, check_grid, default_limit, escape_help, evaluate, sweep_options,
    write_table,
)

DEFAULT_OUTPUT = "output/walkforward"


@dataclass(frozen=True)
class Window:
    """One step: in-sample ``is_start..is_end`` chooses, out-of-sample ``oos_start..oos_end`` tests."""

    is_start: pd.Timestamp
    is_end: pd.Timestamp
    oos_start: pd.Timestamp
    oos_end: pd.Timestamp


def make_windows(start, end, in_sample_years: int, out_of_sample_years: int, anchored: bool = False) -> list[Window]:
    """Calendar-year windows: rolling (fixed-length in-sample) or anchored (in-sample always from ``start``).

    The first out-of-sample window starts ``in_sample_years`` after ``start``; the last is cut at ``end``.
    """
    for name, value in (("in-sample years", in_sample_years), ("out-of-sample years", out_of_sample_years)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a whole number >= 1, not {value!r}")
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    windows = []
    oos_start = start + pd.DateOffset(years=in_sample_years)
    while oos_start <= end:
        oos_end = min(oos_start + pd.DateOffset(years=out_of_sample_years) - pd.Timedelta(days=1), end)
        is_start = start if anchored else oos_start - pd.DateOffset(years=in_sample_years)
        windows.append(Window(is_start, oos_start - pd.Timedelta(days=1), oos_start, oos_end))
        oos_start = oos_start + pd.DateOffset(years=out_of_sample_years)
    if not windows:
        raise ConfigError(f"walk-forward: {start.date()}..{end.date()} is shorter than the {in_sample_years}-year in-sample window plus one out-of-sample day")
    return windows


def oos_task(feeds: FeedSet, item: RunItem) -> RunResult:
    """Executor task: one out-of-sample run, whole (metrics, equity, trades, decisions, weights)."""
    return run_item(feeds, item)


def stitch(curves: list[pd.Series], start_value: float) -> pd.Series:
    """Chain equity curves into one starting at ``start_value``. Each curve starts with its own starting value (the
    close before its first session), which is dropped after the first curve so no date appears twice."""
    pieces, level = [], start_value
    for i, curve in enumerate(curves):
        scaled = curve / curve.iloc[0] * level
        pieces.append(scaled if i == 0 else scaled.iloc[1:])
        level = scaled.iloc[-1]
    return pd.concat(pieces)


def run_walkforward(*args, **kwargs) -> tuple[pd.DataFrame, pd.Series]:
    """Per-window table and stitched out-of-sample equity (``walkforward_runs`` without the runs themselves)."""
    table, stitched, _ = walkforward_runs(*args, **kwargs)
    return table, stitched


def walkforward_runs(
    name: str,
    grid: dict[str, list],
    feeds: FeedSet,
    settings: RunSettings,
    *,
    in_sample_years: int = 5,
    out_of_sample_years: int = 1,
    anchored: bool = False,
    metric: str = DEFAULT_METRIC,
    executor: str = "local",
    jobs: int | None = None,
    scheduler: str | None = None,
    base_params: dict | None = None,
    progress: bool = True,
    engine: str = "backtrader",
    max_combinations: int | None = None,
) -> tuple[pd.DataFrame, pd.Series, list[RunResult]]:
    """Per-window table (periods, chosen params, in-sample and out-of-sample metric), the stitched OOS equity and
    the out-of-sample runs (named "STRATEGY OOS_START..OOS_END").

    ``base_params`` are fixed parameters (from --param and the config) applied to every run, the grid on top.
    ``engine`` searches the in-sample windows ("fast": the fast engine); every out-of-sample run is Backtrader's."""
    entry = resolve(name)
    base = dict(base_params or {})
    windows = make_windows(settings.start, settings.end, in_sample_years, out_of_sample_years, anchored)
    combos = check_grid(entry.name, grid, base, max_combinations=max_combinations or default_limit(engine),
                        runs_per_combination=len(windows))
    param_sets = [{**base, **combo} for combo in combos]
    check_history_of_all(entry, param_sets, feeds)  # the first window starts with the feeds
    periods = [(str(w.is_start.date()), str(w.is_end.date())) for w in windows]
    in_sample = evaluate(entry.name, param_sets, feeds, settings, engine=engine,
                         executor=executor, jobs=jobs, scheduler=scheduler, progress=progress, windows=periods)
    bar = Progress(len(windows), "out-of-sample runs (backtrader)", enabled=progress)
    chosen = []
    for i, _ in enumerate(windows):
        scores = [m[metric] for m in in_sample[i]]
        valid = [(s, j) for j, s in enumerate(scores) if s is not None and not math.isnan(s)]
        if not valid:
            raise ConfigError(f"walk-forward window {i + 1}: no combination has a value for {metric}")
        best_score, best = max(valid)
        chosen.append((combos[best], best_score))
    oos_items = [
        RunItem(entry.name, {**base, **params}, settings, str(w.oos_start.date()), str(w.oos_end.date()))
        for w, (params, _) in zip(windows, chosen)
    ]
    out = run_tasks(oos_task, oos_items, feeds, executor=executor, jobs=jobs, scheduler=scheduler, progress=bar)
    out = [replace(r, name=f"{entry.name} {w.oos_start.date()}..{w.oos_end.date()}") for r, w in zip(out, windows)]
    rows = []
    for w, (params, score), metrics in zip(windows, chosen, (r.metrics for r in out)):
        rows.append({
            "in-sample": f"{w.is_start.date()}..{w.is_end.date()}",
            "out-of-sample": f"{w.oos_start.date()}..{w.oos_end.date()}",
            **params,
            "chosen params": ", ".join(f"{k}={format_param(v)}" for k, v in params.items()) or "(defaults)",
            f"in-sample {metric}": score,
            f"out-of-sample {metric}": metrics[metric],
        })
    stitched = stitch([r.equity for r in out], settings.cash)
    return pd.DataFrame(rows), stitched, out


def write_stitched(stitched: pd.Series, benchmark: pd.Series, path: str | Path) -> Path:
    """walkforward_equity.csv: date, the stitched out-of-sample value [$] and the buy-and-hold benchmark [$]."""
    frame = pd.DataFrame({"stitched out-of-sample value [$]": stitched, f"{benchmark.name} [$]": benchmark})
    frame.index = frame.index.strftime("%Y-%m-%d")
    return atomic_write_text(path, frame.rename_axis("date").to_csv())


def summary(table: pd.DataFrame, stitched: pd.Series, metric: str) -> dict:
    """In-sample best (mean over windows) next to the stitched out-of-sample result."""
    annual = stats.annualisable(stitched.index[0], stitched.index[-1])
    cagr = stats.cagr(stitched) if annual else float("nan")  # n/a when the stitched period is shorter than a year
    drawdown, _ = stats.max_drawdown(stitched)
    return {
        f"mean in-sample best {metric}": float(table[f"in-sample {metric}"].mean()),
        f"mean out-of-sample {metric}": float(table[f"out-of-sample {metric}"].mean()),
        "stitched out-of-sample CAGR [%]": float(cagr),
        "stitched out-of-sample max drawdown [%]": float(drawdown),
        "stitched out-of-sample final value [$]": float(stitched.iloc[-1]),
    }


def buy_and_hold(feeds: FeedSet, symbol: str, index: pd.DatetimeIndex, start_value: float) -> pd.Series:
    """``symbol``'s total-return close over ``index`` (sessions missing in the feed carried forward), scaled to
    start at ``start_value``: the buy-and-hold line the stitched equity is read against."""
    if symbol not in feeds.bars:
        raise ConfigError(f"benchmark {symbol!r} is not a feed; feeds are {', '.join(feeds.bars)}")
    close = feeds.bars[symbol]["close"].reindex(index, method="ffill")
    return (close / close.iloc[0] * start_value).rename(f"buy and hold {symbol} (total return)")


def plot_walkforward(stitched: pd.Series, table: pd.DataFrame, metric: str, path: str | Path,
                     benchmark: pd.Series | None = None) -> Path:
    """``walkforward_figure`` saved as PNG (atomically)."""
    import matplotlib.pyplot as plt

    fig = walkforward_figure(stitched, table, metric, benchmark)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return Path(path)


def walkforward_figure(stitched: pd.Series, table: pd.DataFrame, metric: str, benchmark: pd.Series | None = None):
    """Stitched out-of-sample equity (log, readable ticks) against a buy-and-hold line, the out-of-sample windows
    shaded and the first in-sample window marked; below, each window's in-sample best next to its out-of-sample
    figure."""
    import matplotlib.pyplot as plt
    import matplotlib.ticker as ticker

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(14, 8.5), gridspec_kw={"height_ratios": [2.2, 1]})
    top.plot(stitched.index, stitched.values, color="black", linewidth=1.4, label="stitched out of sample")
    if benchmark is not None:
        top.plot(benchmark.index, benchmark.values, color="tab:grey", linewidth=1.0, label=str(benchmark.name))
    for i, (is_period, oos_period) in enumerate(zip(table["in-sample"], table["out-of-sample"])):
        first, last = (pd.Timestamp(d) for d in oos_period.split(".."))
        top.axvspan(first, last, color="tab:blue" if i % 2 == 0 else "tab:orange", alpha=0.07, linewidth=0)
        top.text(first, 1.0, f"OOS {first.year}" if first.year == last.year else f"OOS {first.year}-{last.year}",
                 transform=top.get_xaxis_transform(), fontsize=7, va="bottom", ha="left")
    is_first, is_last = (pd.Timestamp(d) for d in table["in-sample"].iloc[0].split(".."))
    top.set_xlim(min(is_first, stitched.index[0]), stitched.index[-1])
    top.axvspan(is_first, is_last, color="tab:grey", alpha=0.12, linewidth=0, label="first in-sample window")
    top.set_yscale("log")
    top.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)))
    top.yaxis.set_major_formatter(ticker.StrMethodFormatter("{x:,.0f}"))
    top.yaxis.set_minor_formatter(ticker.NullFormatter())
    top.set_ylabel("Portfolio value (log)")
    top.set_title("Walk-forward: stitched out-of-sample equity (shaded bands: out-of-sample windows)", loc="left", pad=14)
    top.legend(loc="upper left", fontsize=9)
    top.grid(alpha=0.3)
    x = range(len(table))
    bottom.bar([i - 0.2 for i in x], table[f"in-sample {metric}"], width=0.4, label="in-sample best")
    bottom.bar([i + 0.2 for i in x], table[f"out-of-sample {metric}"], width=0.4, label="out of sample")
    bottom.set_xticks(list(x), [p.split("..")[0][:4] for p in table["out-of-sample"]])
    bottom.set_xlabel("out-of-sample window (year it starts)")
    bottom.set_ylabel(metric)
    bottom.axhline(0, color="grey", linewidth=0.8)
    bottom.legend(fontsize=8)
    bottom.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def add_subcommand(subparsers, parents: dict) -> None:
    """Plug the ``walkforward`` command into the runner's CLI."""
    parser = subparsers.add_parser("walkforward", parents=[parents["run"], parents["strategies"]],
                                   help="choose params in-sample, test them out of sample, stitch the results")
    parser.add_argument("--strategy", help="registered strategy (default: rotation)")
    parser.add_argument("--grid", action="append", default=[], metavar="KEY=VALUES", help="as for sweep")
    parser.add_argument("--metric", help=f"metric that picks the in-sample best (default: {escape_help(DEFAULT_METRIC)}; higher is better)")
    parser.add_argument("--in-sample", type=int, help="in-sample years (default: 5)")
    parser.add_argument("--out-of-sample", type=int, help="out-of-sample years (default: 1)")
    parser.add_argument("--anchored", action="store_true", help="in-sample always from the start (default: rolling)")
    parser.add_argument("--output", help=f"output folder (default: {DEFAULT_OUTPUT})")
    add_limit_option(parser)
    add_executor_options(parser)
    parser.set_defaults(func=cmd_walkforward, x=None, y=None)


def cmd_walkforward(args) -> int:
    from .cli import load_feeds, print_written, resolve_run
    from .html_report import walkforward_report, write_report
    from .output import RunFolder
    from .report import format_table, write_run_tables

    settings, config = resolve_run(args)
    section = dict(config.get("walkforward", {}))
    known = {"in_sample", "out_of_sample", "anchored"}
    unknown = sorted(set(section) - known - {"strategy", "grid", "metric", "output", "executor", "scheduler", "engine",
                                             "max_combinations"})
    if unknown:
        raise ConfigError(f"[walkforward]: unknown key(s) {', '.join(unknown)}")
    options = sweep_options(args, {"sweep": {k: v for k, v in section.items() if k not in known}})
    in_sample = args.in_sample if args.in_sample is not None else section.get("in_sample", 5)
    out_sample = args.out_of_sample if args.out_of_sample is not None else section.get("out_of_sample", 1)
    anchored = args.anchored or bool(section.get("anchored", False))
    base = config["params"].get(options["strategy"], {})
    windows = make_windows(settings.start, settings.end, in_sample, out_sample, anchored)
    combos = check_grid(options["strategy"], options["grid"], base, max_combinations=options["max_combinations"],
                        runs_per_combination=len(windows))  # before loading data
    with RunFolder(options["output"] or DEFAULT_OUTPUT, args.argv, config) as run:
        output = run.path
        feeds = load_feeds(settings, config, [(options["strategy"], {**base, **combo}) for combo in combos])
        table, stitched, runs = walkforward_runs(
            options["strategy"], options["grid"], feeds, settings, in_sample_years=in_sample, out_of_sample_years=out_sample,
            anchored=anchored, metric=options["metric"], executor=options["executor"], jobs=config["run"].get("jobs"),
            scheduler=options["scheduler"], base_params=base, engine=options["engine"],
            max_combinations=options["max_combinations"],
        )
        facts = summary(table, stitched, options["metric"])
        print(f"\nWalk-forward of {options['strategy']} ({'anchored' if anchored else 'rolling'}, {in_sample}y in / {out_sample}y out; "
              f"in-sample search on the {options['engine']} engine, out-of-sample runs on backtrader):")
        print(format_table(table, param_columns=list(options["grid"]), index=False))
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
        plot_walkforward(stitched, table, options["metric"], output / "walkforward.png", benchmark)
        write_report(output, walkforward_report(table, stitched, benchmark, facts, options["strategy"],
                                                options["metric"], settings, feeds, engine=options["engine"]))
        run.commit(feeds.sources)
    print_written(run)
    return 0
