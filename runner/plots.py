"""Figures: Backtrader's own plot per run, one comparison figure, and the SPY/IWM ratio chart. Headless (Agg)."""
from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from pathlib import Path

import backtrader as bt
import matplotlib
import matplotlib.ticker
import pandas as pd

from feeds import FeedSet
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


def backtrader_figure(cerebro, *, start=None, title: str = "", width: float = 16):
    """Backtrader's own plot of a finished Cerebro from ``start`` (e.g. after the warm-up), as a Figure.

    Backtrader draws the panels (value, each plotted feed with its fill markers, indicators with their level
    lines); then the panels are resized by kind (value and traded feeds tall; the cash sleeve and feeds never
    traded small), dates put on the x-axis, legends tidied and ``title`` added.
    """
    import_backtrader_plot()
    from backtrader import plot as btplot

    strategy = cerebro.runstrats[0][0]
    plotter = btplot.Plot(**PLOT_SCHEME)
    fig = plotter.plot(strategy, figid=0, numfigs=1, iplot=False, start=start)[0]
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
    bottom.set_xlim(-0.5, len(dates) - 0.5)
    return fig


def save_backtrader_plot(cerebro, path: str | Path, *, start=None, title: str = "", width: float = 16) -> Path:
    """``backtrader_figure`` saved as PNG (atomically)."""
    import matplotlib.pyplot as plt

    try:
        return _save(backtrader_figure(cerebro, start=start, title=title, width=width), Path(path))
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
    """One legend entry per line, titled with the panel's name: Backtrader's "name\\n" prefixes dropped,
    "IWM (1 Day) C:219.24" read as "IWM close 219.24"."""
    handles, labels = ax.get_legend_handles_labels()
    seen: dict[str, object] = {}
    for handle, label in zip(handles, labels):
        label = re.sub(r" \(\d+ \w+\) C:", " close ", label.split("\n")[-1])
        seen.setdefault(label, handle)
    if seen:
        ax.legend(list(seen.values()), list(seen), loc="upper left", fontsize=8, framealpha=0.85, ncol=len(seen),
                  title=title, title_fontsize=8, alignment="left")


def comparison_figure(results: Sequence[RunResult], path: str | Path | None = None, *, allocation_of: str = "rotation", show: bool = False):
    """Equity curves (log scale), drawdowns underneath, and the allocation over time of ``allocation_of``."""
    import matplotlib.pyplot as plt

    with_alloc = any(r.name == allocation_of for r in results)
    rows = 3 if with_alloc else 2
    fig, axes = plt.subplots(rows, 1, figsize=(13, 4 + 2.8 * rows), sharex=True,
                             gridspec_kw={"height_ratios": [3, 1.5, 1.5][:rows]})
    for r in results:
        if len(r.equity):
            axes[0].plot(r.equity.index, r.equity.values, label=r.name, linewidth=1.1)
            drawdown = r.equity / r.equity.cummax() - 1
            axes[1].plot(drawdown.index, 100 * drawdown.values, linewidth=0.9)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("Portfolio value (log)")
    axes[0].legend(loc="upper left", fontsize=8, ncol=2)
    axes[0].set_title("Equity curves")
    axes[1].set_ylabel("Drawdown [%]")
    if with_alloc:
        weights = next(r for r in results if r.name == allocation_of).weights
        weights = weights.loc[:, (weights.abs() > 1e-9).any()]
        if len(weights.columns):
            axes[2].stackplot(weights.index, *[100 * weights[c].clip(lower=0).values for c in weights.columns],
                              labels=list(weights.columns), alpha=0.8)
            axes[2].legend(loc="upper left", fontsize=8, ncol=len(weights.columns))
        axes[2].set_ylabel("Allocation [%]")
        axes[2].set_title(f"{allocation_of}: allocation over time")
        axes[2].set_ylim(0, 105)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _finish(fig, path, show)


def ratio_figure(feeds: FeedSet, path: str | Path | None = None, *, show: bool = False):
    """SPY/IWM ratio on raw closes with the newsletter's levels."""
    import matplotlib.pyplot as plt

    spy, iwm = feeds.bars["SPY"]["raw_close"], feeds.bars["IWM"]["raw_close"]
    ratio = (spy / iwm).loc[feeds.start:feeds.end]
    fig, ax = plt.subplots(figsize=(13, 5))
    ax.plot(ratio.index, ratio.values, color="black", linewidth=1, label="SPY / IWM (raw closes)")
    colours = ("tab:green", "tab:red", "tab:blue")
    for (label, level), colour in zip(NEWSLETTER_LEVELS.items(), colours):
        ax.axhline(level, color=colour, linestyle="--", linewidth=1, label=f"{label}")
    ax.axhspan(2.13, 2.35, color="tab:green", alpha=0.08)
    ax.set_title("SPY/IWM price ratio and the newsletter's levels")
    ax.legend(loc="upper left", fontsize=8)
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
