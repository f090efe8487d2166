"""Figures: Backtrader's own plot per run, one comparison figure, and the SPY/IWM ratio chart. Headless (Agg)."""
from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Sequence
from pathlib import Path

import backtrader as bt
import matplotlib
import matplotlib.ticker
import pandas as pd

from feeds import CASH_FEED, FeedSet
from feeds.atomic import atomic_write

from .engine import RunResult

NEWSLETTER_LEVELS = {"zone low 2.13": 2.13, "zone high / stop 2.35": 2.35, "target 1.95": 1.95}


def import_backtrader_plot() -> None:
    """Import ``backtrader.plot`` without letting it change the backend.

    Backtrader trap: importing it calls ``matplotlib.use("TkAgg")``, which succeeds quietly and then fails at the
    first figure on a machine without a screen. The backend in force before the import is restored.
    """
    before = matplotlib.get_backend()
    import backtrader.plot  # noqa: F401

    matplotlib.use(before, force=True)


def _save(fig, path: Path, dpi: int = 110) -> Path:
    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png"))


class TradeMarkers(bt.observers.BuySell):
    """Backtrader's BuySell observer with a plain legend: a "buy" marker under the bar of each buy fill and a
    "sell / short" marker over the bar of each sell fill (short sales included), added once per feed."""

    plotinfo = dict(plotname="fills")
    plotlines = dict(buy=dict(_name="buy", markersize=7.0, color="#00a000"),
                     sell=dict(_name="sell / short", markersize=7.0, color="#d00000"))
    params = (("barplot", True),)

    def _plotlabel(self) -> list:
        return []


class PortfolioValue(bt.observers.Value):
    """Backtrader's Value observer, labelled for a reader."""

    plotinfo = dict(plotname="Portfolio value")
    plotlines = dict(value=dict(color="#1f3a93", linewidth=1.2, _name="value"))

    def _plotlabel(self) -> list:
        return []


def add_plot_observers(cerebro) -> None:
    """The observers Backtrader's plot shows: the portfolio value on top and fill markers on every feed."""
    cerebro.addobserver(PortfolioValue)
    cerebro.addobservermulti(TradeMarkers)


# Backtrader's PlotScheme settings: plain lines, no volume, legible text. The panels are laid out afterwards.
PLOT_SCHEME = dict(style="line", volume=False, rowsmajor=1, rowsminor=1, subtxtsize=8, linevalues=True,
                   valuetags=False, tickrotation=0, grid=True)
# Height of each kind of panel, in inches.
PANEL_INCHES = {"value": 2.6, "traded": 2.4, "small": 1.0, "indicator": 1.5}
BOTTOM_INCHES, GAP_INCHES = 0.45, 0.12


def backtrader_title(name: str, params: dict, start, end, width_chars: int = 150) -> str:
    """"name: k=v, ... | first .. last session", wrapped to ``width_chars``."""
    shown = ", ".join(f"{k}={v}" for k, v in params.items() if not k.startswith("_"))
    period = f"{pd.Timestamp(start).date()} .. {pd.Timestamp(end).date()}"
    return textwrap.fill(f"{name}  |  {period}  |  {shown or 'default parameters'}", width_chars)


def date_ticks(dates: pd.DatetimeIndex, max_ticks: int = 14) -> tuple[list[int], list[str]]:
    """Tick positions (bar indices) at the first session of each month/quarter/year (the finest step giving at
    most ``max_ticks`` ticks), with labels "YYYY" for yearly steps and "YYYY-MM" for shorter ones."""
    dates = pd.DatetimeIndex(dates)
    months = dates.year * 12 + dates.month - 1
    for step in (1, 3, 6, 12, 24, 60, 120):
        bucket = months // step
        positions = [i for i in range(1, len(dates)) if bucket[i] != bucket[i - 1]]
        if len(positions) <= max_ticks:
            fmt = "%Y" if step >= 12 else "%Y-%m"
            return positions, [dates[i].strftime(fmt) for i in positions]
    return [0], [dates[0].strftime("%Y")]


def backtrader_figure(cerebro, *, strategy=None, start=None, title: str = "", width: float = 16):
    """Backtrader's own plot of a finished Cerebro's ``strategy`` (default: its first) from ``start`` (e.g. after the
    warm-up), as a Figure.

    Backtrader draws the panels (value, each plotted feed with its fill markers, indicators with their level
    lines); then the panels are resized by kind (value and traded feeds tall; the cash sleeve and feeds never
    traded small), dates put on the x-axis, legends tidied and ``title`` added.
    """
    import_backtrader_plot()
    from backtrader import plot as btplot

    strategy = strategy if strategy is not None else cerebro.runstrats[0][0]
    plotter = btplot.Plot(**PLOT_SCHEME)
    import matplotlib.pyplot as plt

    # Backtrader draws into pyplot figure number ``figid``, reusing it if open: take a free number
    figid = max(plt.get_fignums(), default=0) + 1
    fig = plotter.plot(strategy, figid=figid, numfigs=1, iplot=False, start=start)[0]
    panels = [(obj, ax, _panel_kind(obj, strategy)) for obj, ax in plotter.pinf.daxis.items()]
    _layout(fig, panels, width, title)
    dates = pd.DatetimeIndex([bt.num2date(x) for x in plotter.pinf.xreal])
    positions, labels = date_ticks(dates)
    bottom = panels[-1][1]
    for obj, ax, kind in panels:
        ax.set_xticks(positions)
        ax.tick_params(axis="x", labelbottom=ax is bottom)
        is_data = isinstance(obj, bt.AbstractDataBase)
        _tidy_legend(ax, None if is_data else obj.plotinfo.plotname)
        if is_data:  # Backtrader fixes the price range before the fill markers are drawn: let them in
            ax.relim()
            ax.set_ymargin(0.12)
            ax.autoscale(enable=True, axis="y", tight=False)
        if kind == "value":
            ax.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
        if kind == "small":
            ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(3))
    bottom.set_xticklabels(labels)
    pad = max(1.0, 0.008 * len(dates))  # a marker on the first or last bar stays whole
    bottom.set_xlim(-pad, len(dates) - 1 + pad)
    return fig


def save_backtrader_plot(cerebro, path: str | Path, *, strategy=None, start=None, title: str = "", width: float = 16) -> Path:
    """``backtrader_figure`` saved as PNG (atomically)."""
    import matplotlib.pyplot as plt

    try:
        return _save(backtrader_figure(cerebro, strategy=strategy, start=start, title=title, width=width), Path(path))
    finally:
        plt.close("all")


def _panel_kind(obj, strategy) -> str:
    if isinstance(obj, bt.Observer):
        return "value"
    if isinstance(obj, bt.AbstractDataBase):
        traded = any(
            o.data is obj and any(x == x for line in (o.lines.buy, o.lines.sell) for x in line.array)
            for o in strategy.getobservers() if isinstance(o, bt.observers.BuySell)
        )
        return "small" if getattr(obj.p, "cash", False) or not traded else "traded"
    return "indicator"


def _layout(fig, panels, width: float, title: str) -> None:
    """Stack the panels top to bottom with heights by kind; twin axes follow their panel."""
    heights = [PANEL_INCHES[kind] for _, _, kind in panels]
    title_inches = 0.2 + 0.22 * (title.count("\n") + 1) if title else 0.15
    total = title_inches + BOTTOM_INCHES + sum(heights) + GAP_INCHES * (len(panels) - 1)
    fig.set_size_inches(width, total)
    twins = {ax: [a for a in fig.axes if a is not ax and a.get_position().bounds == ax.get_position().bounds]
             for _, ax, _ in panels}
    top = total - title_inches
    for (_, ax, _), height in zip(panels, heights):
        bounds = (0.04, (top - height) / total, 0.90, height / total)
        for a in (ax, *twins[ax]):
            a.set_position(bounds)
        top -= height + GAP_INCHES
    if title:
        fig.suptitle(title, x=0.04, y=1 - 0.12 / total, ha="left", va="top", fontsize=11)


def _tidy_legend(ax, title: str | None) -> None:
    """One legend entry per line that has data, titled with the panel's name: Backtrader's "name\\n" prefixes
    dropped, "IWM (1 Day) C:219.24" read as "IWM close 219.24"."""
    handles, labels = ax.get_legend_handles_labels()
    seen: dict[str, object] = {}
    for handle, label in zip(handles, labels):
        if hasattr(handle, "get_ydata") and not pd.Series(handle.get_ydata(), dtype=float).notna().any():
            continue  # e.g. "sell" markers on a feed that was only bought
        label = re.sub(r" \(\d+ \w+\) C:", " close ", label.split("\n")[-1])
        seen.setdefault(label, handle)
    if seen:
        ax.legend(list(seen.values()), list(seen), loc="best", fontsize=8, framealpha=0.85, ncol=len(seen),
                  title=title, title_fontsize=8, alignment="left")


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


def signal_events(results: Sequence[RunResult]) -> list[tuple[str, str, pd.DatetimeIndex, str]]:
    """Entry and exit dates of the runs that trade on signals, from ``RunResult.trades``: a run whose fills have
    the reason "entry" contributes ("entry (names)", "entry", dates) and one item per other non-scheduled reason
    (target, exit, stop...). Runs with identical events share one item; the last element names the runs."""
    grouped: dict[tuple, list[str]] = {}
    for r in results:
        trades = getattr(r, "trades", None)
        if trades is None or not len(trades) or "entry" not in set(trades["reason"]):
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
        _save(fig, Path(path))
    if show:
        plt.show()
    if path is not None:
        plt.close(fig)
    return fig
