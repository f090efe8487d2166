"""Backtrader's own plot of one finished run: its observers (fills as markers, portfolio value), the panel layout,
readable date ticks and titles. Headless (Agg). Made in the process that ran the Cerebro, which is why it lives
with the engine."""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import backtrader as bt
import matplotlib
import matplotlib.ticker
import pandas as pd

from feeds.atomic import atomic_write


def import_backtrader_plot() -> None:
    """Import ``backtrader.plot`` without letting it change the backend.

    Backtrader trap: importing it calls ``matplotlib.use("TkAgg")``, which succeeds quietly and then fails at the
    first figure on a machine without a screen. The backend in force before the import is restored.
    """
    before = matplotlib.get_backend()
    import backtrader.plot  # noqa: F401

    matplotlib.use(before, force=True)


def save_png(fig, path: Path, dpi: int = 110) -> Path:
    """``fig`` written as a PNG at ``path`` atomically (no half-written file)."""
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
        return save_png(backtrader_figure(cerebro, strategy=strategy, start=start, title=title, width=width), Path(path))
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


