"""Figures of a command's results: the comparison (equity, drawdown, allocation), the SPY/IWM ratio chart, a
sweep's heatmap and the walk-forward chart. Headless (Agg); each saved atomically."""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import matplotlib.ticker
import pandas as pd

from engines.btplot import save_png
from engines.engine import COMPARISON_COLUMNS, RunResult
from feeds import CASH_FEED, FeedSet
from feeds.atomic import atomic_write
from research.sweep import heatmap_grid

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


def _colours(names) -> dict[str, str]:
    palette = matplotlib.colormaps["tab10"].colors
    return {name: palette[i % len(palette)] for i, name in enumerate(names)}


def comparison_figure(results: Sequence[RunResult], path: str | Path | None = None, *, allocation_of: str = "rotation", show: bool = False):
    """Equity curves (log scale; ``allocation_of`` and the benchmarks bold, the rest thin), one small drawdown
    panel per run, and the allocation over time of ``allocation_of`` with its legend outside the bands."""
    import matplotlib.pyplot as plt

    shown = [r for r in results if len(r.equity)]
    standout = standout_runs(shown, allocation_of)
    colours = _colours([r.name for r in shown])
    main = next((r for r in shown if r.name == allocation_of), None)
    cols = 2 if len(shown) > 1 else 1
    dd_rows = math.ceil(len(shown) / cols)
    rows = [3.2] + [1.1] * dd_rows + ([1.6] if main is not None else [])
    fig = plt.figure(figsize=(15, 1.2 + 1.55 * sum(rows)))
    grid = fig.add_gridspec(len(rows), cols, height_ratios=rows, hspace=0.55, wspace=0.12, left=0.06, right=0.83,
                            top=0.97, bottom=0.03)
    top = fig.add_subplot(grid[0, :])
    for r in sorted(shown, key=lambda r: r.name in standout):  # prominent lines drawn last, on top
        bold = r.name in standout
        top.plot(r.equity.index, r.equity.values, label=r.name, color=colours[r.name],
                 linewidth=2.0 if bold else 0.9, alpha=1.0 if bold else 0.45, zorder=3 if bold else 2)
    top.set_yscale("log")
    top.yaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
    top.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
    top.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    top.set_ylabel("Portfolio value (log)")
    # an equity curve starts with the starting value on the session before the first measured one
    start, end = shown[0].equity.index[min(1, len(shown[0].equity) - 1)], shown[0].equity.index[-1]
    top.set_title(f"Equity curves, {start.date()} .. {end.date()} (bold: {', '.join(sorted(standout)) or 'none'})", loc="left")
    handles, labels = top.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: [r.name for r in shown].index(labels[i]))
    top.legend([handles[i] for i in order], [labels[i] for i in order], loc="upper left", bbox_to_anchor=(1.01, 1),
               fontsize=9, frameon=False)
    top.grid(alpha=0.3)
    floor = min(100 * (r.equity / r.equity.cummax() - 1).min() for r in shown)
    first_dd = None
    for i, r in enumerate(shown):
        ax = fig.add_subplot(grid[1 + i // cols, i % cols], sharex=top, sharey=first_dd)
        first_dd = first_dd or ax
        dd = 100 * (r.equity / r.equity.cummax() - 1)
        ax.fill_between(dd.index, dd.values, 0, color=colours[r.name], alpha=0.85 if r.name in standout else 0.45, linewidth=0)
        ax.set_title(f"{r.name}: max drawdown {dd.min():.1f}% ({dd.idxmin().date()})", loc="left", fontsize=9)
        ax.set_ylim(floor * 1.08, 1)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
        if i % cols == 0:
            ax.set_ylabel("DD [%]", fontsize=8)
    if main is not None:
        ax = fig.add_subplot(grid[-1, :], sharex=top)
        alloc = allocation_frame(main.weights)
        longs = alloc.clip(lower=0)
        palette = _colours(["IWM", "SPY"] + [c for c in alloc.columns if c not in ("IWM", "SPY")])
        ax.stackplot(longs.index, *[longs[c].values for c in longs.columns], labels=list(longs.columns),
                     colors=[palette[c] for c in longs.columns], alpha=0.85, step="post")
        shorts = alloc.clip(upper=0)
        for c in shorts.columns[(shorts < -1e-9).any().to_numpy()]:
            ax.fill_between(shorts.index, shorts[c].values, 0, step="post", color=palette[c], alpha=0.5, label=f"{c} short")
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


def heatmap(table: pd.DataFrame, x: str, y: str, metric: str, path: str | Path, title: str = "", context: str = "") -> Path:
    """``heatmap_figure`` saved as PNG (atomically)."""
    import matplotlib.pyplot as plt

    fig = heatmap_figure(table, x, y, metric, title, context)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=130, format="png"))
    plt.close(fig)
    return Path(path)


def heatmap_figure(table: pd.DataFrame, x: str, y: str, metric: str, title: str = "", context: str = ""):
    """A heatmap of ``metric`` over parameters ``x`` and ``y`` (the best value over any other parameters), each
    cell printed to 2 decimals, the metric and the parameters in the title (after ``context``, e.g. the strategy
    and period)."""
    import matplotlib.pyplot as plt

    pivot = heatmap_grid(table, x, y, metric)
    values = pivot.to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(max(7.0, 2.8 + 0.85 * len(pivot.columns)), max(4.5, 2.0 + 0.55 * len(pivot.index))))
    image = ax.imshow(values, aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(pivot.columns)), pivot.columns)
    ax.set_yticks(range(len(pivot.index)), pivot.index)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    finite = values[~pd.isna(values)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0.0
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            value = values[i, j]
            text = "n/a" if math.isnan(value) else f"{value:.2f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=9,
                    color="black" if not math.isnan(value) and value > middle else "white")
    others = [c for c in table.columns if c not in (x, y) and c not in COMPARISON_COLUMNS]
    ax.set_title(title or (f"{context}: " if context else "") + f"{metric} by {x} and {y}"
                 + (f"\n(best over {', '.join(others)})" if others else ""))
    fig.colorbar(image, ax=ax, label=metric)
    fig.tight_layout()
    return fig


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
    for offset, column, label in ((-0.2, f"in-sample {metric}", "in-sample best"), (0.2, f"out-of-sample {metric}", "out of sample")):
        values = pd.to_numeric(table[column], errors="coerce")  # n/a (e.g. a window too short to annualise): no bar
        bottom.bar([i + offset for i in x], values.fillna(0.0), width=0.4, label=label)
        for i in (i for i, v in zip(x, values) if v != v):
            bottom.text(i + offset, 0, "n/a", ha="center", va="bottom", fontsize=8, color="grey")
    bottom.set_xticks(list(x), [p.split("..")[0][:4] for p in table["out-of-sample"]])
    bottom.set_xlabel("out-of-sample window (year it starts)")
    bottom.set_ylabel(metric)
    bottom.axhline(0, color="grey", linewidth=0.8)
    bottom.legend(fontsize=8)
    bottom.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


