"""Figures of a command's results: the comparison (equity, drawdown, allocation), the SPY/IWM ratio chart and the
walk-forward chart (a sweep's pictures: ``reports.sweep_plots``). Headless (Agg); each saved atomically."""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import matplotlib.ticker
import pandas as pd

from engines.btplot import save_png
from engines.money import money_label, money_ticks
from engines.engine import RunResult
from feeds import CASH_FEED, FeedSet
from feeds.atomic import atomic_write

from .palette import holding_colour, run_colours

NEWSLETTER_LEVELS = {"zone low 2.13": 2.13, "zone high / stop 2.35": 2.35, "target 1.95": 1.95}




def standout_runs(results: Sequence[RunResult], main: str = "rotation") -> set[str]:
    """Runs drawn prominently: ``main`` and the registered benchmarks; the rest recede."""
    from strategies import registered

    entries = registered()
    return {r.name for r in results if r.name == main or (r.name in entries and entries[r.name].benchmark)}


def allocation_frame(weights: pd.DataFrame, cash_feed: str = CASH_FEED) -> pd.DataFrame:
    """Weights in percent for an allocation chart: feeds ever held, uninvested broker cash folded into the cash
    sleeve (labelled "<sleeve> + cash") so that the cash state has a visible area, shorts kept negative."""
    frame = weights.loc[:, (weights.abs() > 1e-9).any()].copy()
    if "cash" in frame.columns and cash_feed in frame.columns:
        frame[cash_feed] = frame[cash_feed] + frame.pop("cash")
        frame = frame.rename(columns={cash_feed: f"{cash_feed} + cash"})
    return 100 * frame


def charted_on(results: Sequence[RunResult], chart: str = "SPY/IWM") -> list[RunResult]:
    """The runs whose strategy declares ``signal_chart == chart`` (``PortfolioStrategy.signal_chart``): their
    entries and exits belong on that chart; a run of an unknown name is on none."""
    from strategies import registered

    entries = registered()
    return [r for r in results if r.name in entries and getattr(entries[r.name].cls, "signal_chart", None) == chart]


def signal_events(results: Sequence[RunResult]) -> list[tuple[str, str, pd.DatetimeIndex, str]]:
    """Entry and exit dates of the runs whose strategy trades on the SPY/IWM ratio (``charted_on``), from
    ``RunResult.trades``: a run contributes ("entry (names)", "entry", dates) and one item per other non-scheduled
    reason (target, exit, stop...). Runs with identical events share one item; the last element names the runs.
    Other strategies' fills are left out, whatever their reasons (a user's "entry" is not a ratio entry)."""
    grouped: dict[tuple, list[str]] = {}
    for r in charted_on(results):
        trades = getattr(r, "trades", None)
        if trades is None or not len(trades):
            continue
        signals = trades[trades["reason"] != "scheduled"]
        for reason, rows in signals.groupby("reason", sort=False):
            dates = tuple(sorted(pd.DatetimeIndex(rows["date"]).unique()))
            grouped.setdefault((reason, dates), []).append(r.name)
    return [(f"{reason} ({', '.join(names)})", "entry" if reason == "entry" else "exit", pd.DatetimeIndex(dates),
             ", ".join(names)) for (reason, dates), names in grouped.items()]


EVENT_COLOURS = (("tab:green", "tab:red"), ("tab:cyan", "tab:orange"), ("tab:olive", "tab:purple"), ("tab:blue", "tab:brown"))


EXIT_MARKERS = ("v", "X", "s", "D", "P")


def event_styles(events) -> list[tuple[str, str]]:
    """(matplotlib marker, colour) per ``signal_events`` item: entries "^", exits "v", "X", ... by reason; each
    group of runs its own entry/exit colour pair."""
    groups = list(dict.fromkeys(runs for *_, runs in events))
    styles = []
    for number, (_, kind, _, runs) in enumerate(events):
        entry_colour, exit_colour = EVENT_COLOURS[groups.index(runs) % len(EVENT_COLOURS)]
        exits_before = sum(1 for e in events[:number] if e[3] == runs and e[1] != "entry")
        styles.append(("^", entry_colour) if kind == "entry" else (EXIT_MARKERS[exits_before % len(EXIT_MARKERS)], exit_colour))
    return styles


def spy_iwm_ratio(feeds: FeedSet) -> pd.Series:
    """SPY / IWM on raw closes over the measured period."""
    spy, iwm = feeds.bars["SPY"]["raw_close"], feeds.bars["IWM"]["raw_close"]
    return (spy / iwm).loc[feeds.start:feeds.end].rename("SPY / IWM")


def money_axis(ax, low: float, high: float) -> None:
    """A log y-axis from ``low`` to ``high`` with money ticks ($80k, $100k, $200k; ``engines.money``), no minor labels."""
    ax.set_yscale("log")
    ticks = money_ticks(low, high)
    ax.yaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: money_label(value)))
    ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())


def comparison_figure(results: Sequence[RunResult], path: str | Path | None = None, *, allocation_of: str = "rotation", show: bool = False):
    """Equity curves (log scale, money ticks), one small drawdown panel per run, and, when ``allocation_of`` ran,
    its allocation over time with the legend outside the bands. Every run is drawn alike in its own colour
    (``palette.run_colour``, as in report.html); panels are laid out in inches, so no band is left empty."""
    import matplotlib.pyplot as plt

    shown = [r for r in results if len(r.equity)]
    colours = run_colours([r.name for r in shown])
    main = next((r for r in shown if r.name == allocation_of), None)
    cols = 2 if len(shown) > 1 else 1
    dd_rows = math.ceil(len(shown) / cols)
    # (height, gap above) in inches, top to bottom; the gap holds the panel's title and the tick labels above it
    panels = [(4.2, 0.45)] + [(1.25, 0.75)] * dd_rows + ([(1.8, 0.8)] if main is not None else [])
    bottom_margin = 0.45
    height = sum(h + g for h, g in panels) + bottom_margin
    fig = plt.figure(figsize=(15, height))
    left, width = 0.065, 0.77
    boxes, top_edge = [], height
    for h, g in panels:
        top_edge -= g + h
        boxes.append((top_edge / height, h / height))
    top = fig.add_axes((left, boxes[0][0], width, boxes[0][1]))
    for r in shown:
        top.plot(r.equity.index, r.equity.values, label=r.name, color=colours[r.name], linewidth=1.5)
    money_axis(top, min(float(r.equity.min()) for r in shown), max(float(r.equity.max()) for r in shown))
    top.set_ylabel("Portfolio value (log)")
    # an equity curve starts with the starting value on the session before the first measured one
    start, end = shown[0].equity.index[min(1, len(shown[0].equity) - 1)], shown[0].equity.index[-1]
    top.set_title(f"Equity curves, {start.date()} .. {end.date()}", loc="left")
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=9, frameon=False)
    top.grid(alpha=0.3)
    floor = min(100 * (r.equity / r.equity.cummax() - 1).min() for r in shown)
    first_dd = None
    gap = 0.045
    panel_width = (width - gap * (cols - 1)) / cols
    for i, r in enumerate(shown):
        y, h = boxes[1 + i // cols]
        ax = fig.add_axes((left + (i % cols) * (panel_width + gap), y, panel_width, h), sharex=top, sharey=first_dd)
        first_dd = first_dd or ax
        dd = 100 * (r.equity / r.equity.cummax() - 1)
        ax.fill_between(dd.index, dd.values, 0, color=colours[r.name], alpha=0.7, linewidth=0)
        ax.set_title(f"{r.name}: max drawdown {dd.min():.1f}% ({dd.idxmin().date()})", loc="left", fontsize=9)
        ax.set_ylim(min(floor * 1.08, -1.0), 1)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
        if i % cols == 0:
            ax.set_ylabel("DD [%]", fontsize=8)
    if main is not None:
        y, h = boxes[-1]
        ax = fig.add_axes((left, y, width, h), sharex=top)
        alloc = allocation_frame(main.weights)
        longs = alloc.clip(lower=0)
        ax.stackplot(longs.index, *[longs[c].values for c in longs.columns], labels=list(longs.columns),
                     colors=[holding_colour(c) for c in longs.columns], alpha=0.85, step="post")
        shorts = alloc.clip(upper=0)
        for c in shorts.columns[(shorts < -1e-9).any().to_numpy()]:
            ax.fill_between(shorts.index, shorts[c].values, 0, step="post", color=holding_colour(c), alpha=0.5, label=f"{c} short")
        ax.set_ylim(min(-5.0, float(shorts.sum(axis=1).min()) * 1.05), 105)
        ax.set_ylabel("Weight [%]")
        ax.set_title(f"{allocation_of}: allocation over time", loc="left")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=9, frameon=False)
        ax.grid(alpha=0.3)
    return _finish(fig, path, show)


def ratio_figure(feeds: FeedSet, path: str | Path | None = None, *, results: Sequence[RunResult] = (), show: bool = False):
    """SPY/IWM ratio on raw closes with the newsletter's levels and, from ``results``' trades, the ratio strategies'
    entries (green) and exits (red)."""
    import matplotlib.pyplot as plt

    ratio = spy_iwm_ratio(feeds)
    fig, ax = plt.subplots(figsize=(15, 6))
    ax.plot(ratio.index, ratio.values, color="black", linewidth=1, label="SPY / IWM (raw closes)")
    colours = ("tab:green", "tab:red", "tab:blue")
    for (label, level), colour in zip(NEWSLETTER_LEVELS.items(), colours):
        ax.axhline(level, color=colour, linestyle="--", linewidth=1, label=f"{label}")
    ax.axhspan(NEWSLETTER_LEVELS["zone low 2.13"], NEWSLETTER_LEVELS["zone high / stop 2.35"], color="tab:green", alpha=0.08)
    events = signal_events(results)
    for (label, _, dates, _), (marker, colour) in zip(events, event_styles(events)):
        points = ratio.reindex(dates).dropna()
        ax.scatter(points.index, points.values, marker=marker, s=70, zorder=4, edgecolors="black", linewidths=0.5,
                   color=colour, label=f"{label}: {len(points)}")
    ax.set_title(f"SPY/IWM price ratio, the newsletter's levels and the ratio strategies' trades, "
                 f"{feeds.start.date()} .. {feeds.end.date()}", loc="left")
    ax.set_ylabel("SPY / IWM (raw closes)")
    ax.set_xlabel("date")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=9, frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _finish(fig, path, show)


def _finish(fig, path, show: bool):
    import matplotlib.pyplot as plt

    if path is not None:
        save_png(fig, Path(path))
    if show:
        plt.show()
    if path is not None:
        plt.close(fig)
    return fig


def plot_walkforward(stitched: pd.Series, table: pd.DataFrame, metric: str, path: str | Path,
                     benchmark: pd.Series | None = None, *, strategy: str | None = None, grid: dict | None = None) -> Path:
    """``walkforward_figure`` saved as PNG (atomically)."""
    import matplotlib.pyplot as plt

    fig = walkforward_figure(stitched, table, metric, benchmark, strategy=strategy, grid=grid)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return Path(path)


def grid_text(grid: dict | None) -> str:
    """A grid as the command line writes it: "lookback=21,63 x vix_level=30,off"."""
    from engines.params import format_param

    return " x ".join(f"{k}={','.join(format_param(v) for v in values)}" for k, values in (grid or {}).items()) or "no grid"


def walkforward_figure(stitched: pd.Series, table: pd.DataFrame, metric: str, benchmark: pd.Series | None = None, *,
                       strategy: str | None = None, grid: dict | None = None):
    """Stitched out-of-sample equity (log, money ticks) against a buy-and-hold line, the out-of-sample windows
    shaded and the first in-sample window marked; below, each window's in-sample best next to its out-of-sample
    figure, labelled with the parameters chosen in that window. The title names the strategy, the grid and the
    metric that chose."""
    import textwrap

    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(14, 9), gridspec_kw={"height_ratios": [2.2, 1.2]})
    fig.suptitle(textwrap.fill(f"Walk-forward of {strategy or 'the strategy'}: grid {grid_text(grid)}; each window's "
                               f"parameters chosen by the best in-sample {metric}", 120), x=0.01, ha="left", fontsize=11)
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
    curves = [stitched] + ([benchmark] if benchmark is not None else [])
    money_axis(top, min(float(c.min()) for c in curves), max(float(c.max()) for c in curves))
    top.set_ylabel("Portfolio value (log)")
    top.set_title("Walk-forward: stitched out-of-sample equity (shaded bands: out-of-sample windows)", loc="left", pad=14)
    top.legend(loc="upper left", fontsize=9)
    top.grid(alpha=0.3)
    x = range(len(table))
    for offset, column, label in ((-0.2, f"in-sample {metric}", "in-sample best"), (0.2, f"out-of-sample {metric}", "out of sample")):
        values = pd.to_numeric(table[column], errors="coerce")  # n/a (e.g. a window too short to annualise): no bar
        bottom.bar([i + offset for i in x], values.fillna(0.0), width=0.4, label=label)
        for i in (i for i, v in zip(x, values) if v != v):
            bottom.text(i + offset, 0, "n/a", ha="center", va="bottom", fontsize=8, color="grey")
    chosen = table["chosen params"] if "chosen params" in table.columns else [""] * len(table)
    bottom.set_xticks(list(x), [f"{p.split('..')[0][:4]}\n" + "\n".join(str(c).split(", ")) for p, c in
                                zip(table["out-of-sample"], chosen)], fontsize=8 if len(table) <= 8 else 7)
    bottom.set_xlabel("out-of-sample window (year it starts) and the parameters chosen in-sample for it")
    bottom.set_ylabel(metric)
    bottom.axhline(0, color="grey", linewidth=0.8)
    bottom.legend(fontsize=8)
    bottom.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


